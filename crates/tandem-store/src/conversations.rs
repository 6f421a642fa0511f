//! Conversations between a contact and the business on one channel, and their messages. A message's
//! provider id is unique per channel, so a webhook delivered twice stores one message.

use serde::Serialize;
use tandem_core::{
    ChannelId, ContactId, ConversationId, ConversationStatus, MessageDirection, MessageId, MessageStatus, TeamId, Timestamp, UserId,
    WorkspaceId,
};

use crate::{error::corrupt, events::EventKind, sql::run, Page, Paged, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Conversation {
    pub id: ConversationId,
    pub channel_id: ChannelId,
    pub contact_id: ContactId,
    pub status: ConversationStatus,
    pub assignee_user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub last_message_at: Option<Timestamp>,
    /// The customer's latest message: conversation windows count from it.
    pub last_inbound_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// When it was last marked resolved; `null` while it is not.
    pub resolved_at: Option<Timestamp>,
    /// A snoozed conversation opens again at this instant (the inbox sweep wakes it), or when
    /// the customer writes; `null` when not snoozed, or snoozed until the customer writes.
    pub snoozed_until: Option<Timestamp>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub channel_id: ChannelId,
    pub direction: MessageDirection,
    pub body: String,
    pub status: MessageStatus,
    pub provider_message_id: Option<String>,
    pub error: Option<String>,
    /// The message as sent or received (media, location, template...), when more than text.
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
    /// Outbound: `agent`, or the id of the user who wrote it.
    pub author: Option<String>,
    /// When the delivery status last changed.
    pub status_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

pub struct NewMessage {
    pub direction: MessageDirection,
    pub body: String,
    pub status: MessageStatus,
    pub provider_message_id: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub struct ConversationQuery {
    pub status: Option<ConversationStatus>,
    pub channel_id: Option<ChannelId>,
    pub contact_id: Option<ContactId>,
    pub assignee_user_id: Option<UserId>,
    /// Only what this viewer may see (Staff: their teams' and their own).
    pub visibility: tandem_inbox::ticket::Visibility,
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: String,
    channel_id: String,
    contact_id: String,
    status: String,
    assignee_user_id: Option<String>,
    team_id: Option<String>,
    last_message_at: Option<i64>,
    last_inbound_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    resolved_at: Option<i64>,
    snoozed_until: Option<i64>,
}

impl TryFrom<Row> for Conversation {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("conversation id"))?,
            channel_id: r.channel_id.parse().map_err(corrupt("channel id"))?,
            contact_id: r.contact_id.parse().map_err(corrupt("contact id"))?,
            status: r.status.parse().map_err(corrupt("status"))?,
            assignee_user_id: r.assignee_user_id.map(|s| s.parse()).transpose().map_err(corrupt("user id"))?,
            team_id: r.team_id.map(|s| s.parse()).transpose().map_err(corrupt("team id"))?,
            last_message_at: r.last_message_at.map(Timestamp::from_millis),
            last_inbound_at: r.last_inbound_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            resolved_at: r.resolved_at.map(Timestamp::from_millis),
            snoozed_until: r.snoozed_until.map(Timestamp::from_millis),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct MessageRow {
    id: String,
    conversation_id: String,
    channel_id: String,
    direction: String,
    body: String,
    status: String,
    provider_message_id: Option<String>,
    error: Option<String>,
    content: Option<String>,
    author: Option<String>,
    status_at: Option<i64>,
    created_at: i64,
}

impl TryFrom<MessageRow> for Message {
    type Error = StoreError;
    fn try_from(r: MessageRow) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("message id"))?,
            conversation_id: r.conversation_id.parse().map_err(corrupt("conversation id"))?,
            channel_id: r.channel_id.parse().map_err(corrupt("channel id"))?,
            direction: r.direction.parse().map_err(corrupt("direction"))?,
            body: r.body,
            status: r.status.parse().map_err(corrupt("status"))?,
            provider_message_id: r.provider_message_id,
            error: r.error,
            content: r.content.map(|c| serde_json::from_str(&c)).transpose().map_err(corrupt("message content"))?,
            author: r.author,
            status_at: r.status_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

const COLUMNS: &str = "id, channel_id, contact_id, status, assignee_user_id, team_id, last_message_at, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, conversation_id, channel_id, direction, body, status, provider_message_id, error, created_at";
/// Conversation columns read back (the insert names [`COLUMNS`] only).
pub(crate) const SELECT_COLUMNS: &str =
    "id, channel_id, contact_id, status, assignee_user_id, team_id, last_message_at, last_inbound_at, created_at, updated_at, resolved_at, \
     snoozed_until";
/// Message columns read back.
pub(crate) const MESSAGE_SELECT: &str =
    "id, conversation_id, channel_id, direction, body, status, provider_message_id, error, content, author, status_at, created_at";
pub const MAX_MESSAGE_CHARS: usize = 10_000;
/// The customer wrote: a conversation snoozed or pending (waiting on them) is open again.
pub(crate) const WAKE_ON_INBOUND: &str =
    ", status = CASE WHEN status IN ('snoozed', 'pending') THEN 'open' ELSE status END, snoozed_until = NULL";
/// The longest snooze.
pub const MAX_SNOOZE_MS: i64 = 365 * 86_400_000;

impl Store {
    pub async fn create_conversation(&self, ws: WorkspaceId, channel: ChannelId, contact: ContactId) -> Result<Conversation> {
        self.get_channel(ws, channel).await?;
        self.get_contact(ws, contact).await?;
        let id = ConversationId::new();
        let now = Timestamp::now().millis();
        let mut sql = self.sql(&format!("INSERT INTO conversations ({COLUMNS}, workspace_id) VALUES ("));
        sql.bind(id.to_string())
            .push(", ")
            .bind(channel.to_string())
            .push(", ")
            .bind(contact.to_string())
            .push(", ")
            .bind(ConversationStatus::Open.as_str());
        sql.push(", NULL, NULL, NULL, ").bind(now).push(", ").bind(now).push(", ").bind(ws.to_string()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        self.publish(ws, EventKind::ConversationUpdated, id, None).await;
        self.get_conversation(ws, id).await
    }

    pub async fn get_conversation(&self, ws: WorkspaceId, id: ConversationId) -> Result<Conversation> {
        let mut sql = self.sql(&format!("SELECT {SELECT_COLUMNS} FROM conversations WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("conversation"))?.try_into()
    }

    pub async fn list_conversations(&self, ws: WorkspaceId, q: &ConversationQuery, page: Page) -> Result<Paged<Conversation>> {
        let mut sql = self.sql(&format!("SELECT {SELECT_COLUMNS} FROM conversations WHERE workspace_id = "));
        sql.bind(ws.to_string());
        if let Some(s) = q.status {
            sql.push(" AND status = ").bind(s.as_str());
        }
        if let Some(c) = q.channel_id {
            sql.push(" AND channel_id = ").bind(c.to_string());
        }
        if let Some(c) = q.contact_id {
            sql.push(" AND contact_id = ").bind(c.to_string());
        }
        if let Some(u) = q.assignee_user_id {
            sql.push(" AND assignee_user_id = ").bind(u.to_string());
        }
        crate::tickets::push_visibility(&mut sql, &q.visibility, &["assignee_user_id"], "team_id");
        sql.push(" ORDER BY COALESCE(last_message_at, created_at) DESC, id DESC LIMIT ")
            .bind(page.limit + 1)
            .push(" OFFSET ")
            .bind(page.offset);
        let rows = run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows))
    }

    /// Changes status and assignment; `None` leaves a field as it is.
    pub async fn update_conversation(
        &self,
        ws: WorkspaceId,
        id: ConversationId,
        status: Option<ConversationStatus>,
        assignee: Option<Option<UserId>>,
        team: Option<Option<TeamId>>,
    ) -> Result<Conversation> {
        let current = self.get_conversation(ws, id).await?;
        if let Some(Some(u)) = assignee {
            self.get_user(ws, u).await?;
        }
        if let Some(Some(t)) = team {
            self.get_team(ws, t).await?;
        }
        let now = Timestamp::now().millis();
        let status = status.unwrap_or(current.status);
        let mut sql = self.sql("UPDATE conversations SET status = ");
        sql.bind(status.as_str());
        match (current.status == ConversationStatus::Resolved, status == ConversationStatus::Resolved) {
            (false, true) => sql.push(", resolved_at = ").bind(now),
            (true, false) => sql.push(", resolved_at = NULL"),
            _ => &mut sql,
        };
        if status != ConversationStatus::Snoozed {
            sql.push(", snoozed_until = NULL");
        }
        sql.push(", assignee_user_id = ").bind(assignee.unwrap_or(current.assignee_user_id).map(|u| u.to_string()));
        sql.push(", team_id = ").bind(team.unwrap_or(current.team_id).map(|t| t.to_string()));
        sql.push(", updated_at = ").bind(now).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        self.publish(ws, EventKind::ConversationUpdated, id, None).await;
        self.get_conversation(ws, id).await
    }

    /// Snoozes a conversation until `until` (None: until the customer writes). The inbox sweep
    /// wakes it; the workspace's sweep is scheduled if it was not.
    pub async fn snooze_conversation(&self, ws: WorkspaceId, id: ConversationId, until: Option<Timestamp>) -> Result<Conversation> {
        let current = self.get_conversation(ws, id).await?;
        let now = Timestamp::now();
        if until.is_some_and(|u| u <= now || u.millis() - now.millis() > MAX_SNOOZE_MS) {
            return Err(StoreError::invalid(
                "snoozed_until",
                "invalid_snooze",
                "a conversation snoozes until a moment in the next 365 days",
            ));
        }
        let mut sql = self.sql("UPDATE conversations SET status = ");
        sql.bind(ConversationStatus::Snoozed.as_str()).push(", snoozed_until = ").bind(until.map(Timestamp::millis));
        if current.status == ConversationStatus::Resolved {
            sql.push(", resolved_at = NULL");
        }
        sql.push(", updated_at = ").bind(now.millis()).push(" WHERE workspace_id = ").bind(ws.to_string());
        sql.push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        if until.is_some() {
            self.schedule_inbox_sweep(ws, crate::inbox::SWEEP_INTERVAL_MS).await?;
        }
        self.publish(ws, EventKind::ConversationUpdated, id, None).await;
        self.get_conversation(ws, id).await
    }

    /// Opens the workspace's snoozed conversations whose time has come; answers their ids.
    pub async fn wake_snoozed(&self, ws: WorkspaceId, now: Timestamp) -> Result<Vec<ConversationId>> {
        let mut sql = self.sql("SELECT id FROM conversations WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND status = 'snoozed' AND snoozed_until <= ").bind(now.millis());
        let due = run!(sql, as (String,), fetch_all(&self.pool))?;
        let mut woken = vec![];
        for (id,) in due {
            let mut sql = self.sql("UPDATE conversations SET status = 'open', snoozed_until = NULL, updated_at = ");
            sql.bind(now.millis()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.clone());
            // Changed meanwhile (answered, snoozed again): leave it.
            sql.push(" AND status = 'snoozed' AND snoozed_until <= ").bind(now.millis());
            if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 1 {
                let id: ConversationId = id.parse().map_err(corrupt("conversation id"))?;
                self.publish(ws, EventKind::ConversationUpdated, id, None).await;
                woken.push(id);
            }
        }
        Ok(woken)
    }

    /// Stores a message. With a provider message id already stored on this channel, returns the
    /// stored message and `false`: nothing new is written.
    pub async fn add_message(&self, ws: WorkspaceId, conversation: ConversationId, new: NewMessage) -> Result<(Message, bool)> {
        if new.body.chars().count() > MAX_MESSAGE_CHARS {
            return Err(StoreError::invalid("body", "too_long", format!("a message holds at most {MAX_MESSAGE_CHARS} characters")));
        }
        let conv = self.get_conversation(ws, conversation).await?;
        let id = MessageId::new();
        let now = Timestamp::now();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self.sql(&format!("INSERT INTO messages ({MESSAGE_COLUMNS}, workspace_id) VALUES ("));
        sql.bind(id.to_string()).push(", ").bind(conversation.to_string()).push(", ").bind(conv.channel_id.to_string()).push(", ");
        sql.bind(new.direction.as_str())
            .push(", ")
            .bind(new.body)
            .push(", ")
            .bind(new.status.as_str())
            .push(", ")
            .bind(new.provider_message_id.clone());
        sql.push(", NULL, ").bind(now.millis()).push(", ").bind(ws.to_string()).push(") ON CONFLICT DO NOTHING");
        let inserted = run!(sql, execute(&mut *tx))?.rows_affected() == 1;
        if inserted {
            let mut sql = self.sql("UPDATE conversations SET last_message_at = ");
            sql.bind(now.millis()).push(", updated_at = ").bind(now.millis());
            if new.direction == MessageDirection::Inbound {
                sql.push(WAKE_ON_INBOUND);
            }
            sql.push(" WHERE id = ").bind(conversation.to_string());
            run!(sql, execute(&mut *tx))?;
            if new.direction == MessageDirection::Outbound {
                let mut sql = self.sql("UPDATE contacts SET last_contacted_at = ");
                sql.bind(now.millis())
                    .push(" WHERE workspace_id = ")
                    .bind(ws.to_string())
                    .push(" AND id = ")
                    .bind(conv.contact_id.to_string());
                run!(sql, execute(&mut *tx))?;
            }
        }
        tx.commit().await?;
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string());
        match (inserted, new.provider_message_id) {
            (false, Some(pid)) => {
                sql.push(" AND channel_id = ").bind(conv.channel_id.to_string()).push(" AND provider_message_id = ").bind(pid)
            }
            _ => sql.push(" AND id = ").bind(id.to_string()),
        };
        let msg: Message = run!(sql, as MessageRow, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("message"))?.try_into()?;
        if inserted {
            self.publish(ws, EventKind::MessageCreated, conversation, Some(msg.id)).await;
        }
        Ok((msg, inserted))
    }

    /// Messages of a conversation, oldest first.
    pub async fn list_messages(&self, ws: WorkspaceId, conversation: ConversationId, page: Page) -> Result<Paged<Message>> {
        self.get_conversation(ws, conversation).await?;
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string());
        sql.push(" ORDER BY created_at, id LIMIT ").bind(page.limit + 1).push(" OFFSET ").bind(page.offset);
        let rows = run!(sql, as MessageRow, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows))
    }
}
