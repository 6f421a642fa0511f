//! What the contact panel shows beside the thread: the contact's history across conversations
//! and tickets (activity), the files exchanged with them (shared media) and the lists they are
//! in. Conversations and tickets are filtered by what the viewer may see.

use serde::Serialize;
use serde_json::Value;
use tandem_core::{ContactId, ConversationId, MessageId, Timestamp, WorkspaceId};
use tandem_inbox::{ticket::Visibility, TicketId};

use crate::{
    error::corrupt,
    lists::{list_of_row, ContactList, ListRow},
    sql::run,
    tickets::push_visibility,
    Result, Store,
};

/// How many entries a panel section shows (newest first).
pub const PANEL_LIMIT: i64 = 100;

/// One entry of a contact's history.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Activity {
    /// `conversation.started`, `conversation.resolved`, `ticket.created`, `ticket.resolved`,
    /// `note.added` or `csat.answered`.
    pub kind: String,
    pub at: Timestamp,
    /// What happened, in a line.
    pub text: String,
    pub conversation_id: Option<ConversationId>,
    pub ticket_id: Option<TicketId>,
}

/// A file the contact sent or was sent.
#[derive(Debug, Clone, Serialize)]
pub struct SharedMedia {
    pub message_id: MessageId,
    pub conversation_id: ConversationId,
    /// `inbound` or `outbound`.
    pub direction: String,
    /// `image`, `video`, `audio`, `document` or `sticker`.
    pub kind: String,
    pub filename: Option<String>,
    pub caption: Option<String>,
    /// The customer's file is in Tandem's storage (served by the message's media endpoint).
    pub stored: bool,
    /// An outbound file's link, as the provider fetched it.
    pub link: Option<String>,
    pub created_at: Timestamp,
}

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Store {
    /// The contact's history, newest first, at most [`PANEL_LIMIT`] entries.
    pub async fn contact_activity(&self, ws: WorkspaceId, contact: ContactId, visibility: &Visibility) -> Result<Vec<Activity>> {
        self.get_contact(ws, contact).await?;
        let mut out = vec![];

        let mut sql = self.sql(
            "SELECT c.id, ch.name, ch.kind, c.created_at, c.resolved_at FROM conversations c JOIN channels ch ON ch.id = c.channel_id \
             WHERE c.workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND c.contact_id = ").bind(contact.to_string());
        push_visibility(&mut sql, visibility, &["c.assignee_user_id"], "c.team_id");
        sql.push(" ORDER BY c.created_at DESC LIMIT ").bind(PANEL_LIMIT);
        for (id, name, kind, created, resolved) in run!(sql, as (String, String, String, i64, Option<i64>), fetch_all(&self.pool))? {
            let id: ConversationId = id.parse().map_err(corrupt("conversation id"))?;
            let on = format!("{name} ({kind})");
            out.push(Activity {
                kind: "conversation.started".into(),
                at: Timestamp::from_millis(created),
                text: format!("Conversation started on {on}"),
                conversation_id: Some(id),
                ticket_id: None,
            });
            if let Some(at) = resolved {
                out.push(Activity {
                    kind: "conversation.resolved".into(),
                    at: Timestamp::from_millis(at),
                    text: format!("Conversation on {on} resolved"),
                    conversation_id: Some(id),
                    ticket_id: None,
                });
            }
        }

        let mut sql = self.sql("SELECT id, subject, conversation_id, created_at, resolved_at FROM tickets WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        push_visibility(&mut sql, visibility, &["created_by_user_id", "assignee_user_id"], "team_id");
        sql.push(" ORDER BY created_at DESC LIMIT ").bind(PANEL_LIMIT);
        type TicketRow = (String, String, Option<String>, i64, Option<i64>);
        for (id, subject, conversation, created, resolved) in run!(sql, as TicketRow, fetch_all(&self.pool))? {
            let ticket_id = Some(id.parse().map_err(corrupt("ticket id"))?);
            let conversation_id = conversation.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?;
            let subject = clip(&subject, 120);
            out.push(Activity {
                kind: "ticket.created".into(),
                at: Timestamp::from_millis(created),
                text: format!("Ticket opened: {subject}"),
                conversation_id,
                ticket_id,
            });
            if let Some(at) = resolved {
                out.push(Activity {
                    kind: "ticket.resolved".into(),
                    at: Timestamp::from_millis(at),
                    text: format!("Ticket resolved: {subject}"),
                    conversation_id,
                    ticket_id,
                });
            }
        }

        let mut sql = self.sql(
            "SELECT s.ticket_id, s.conversation_id, s.score, s.answer, s.answered_at FROM csat_surveys s JOIN tickets t ON t.id = s.ticket_id \
             WHERE t.workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND t.contact_id = ").bind(contact.to_string()).push(" AND s.status = 'answered'");
        push_visibility(&mut sql, visibility, &["t.created_by_user_id", "t.assignee_user_id"], "t.team_id");
        sql.push(" ORDER BY s.answered_at DESC LIMIT ").bind(PANEL_LIMIT);
        type CsatRow = (String, String, Option<i64>, Option<String>, Option<i64>);
        for (ticket, conversation, score, answer, at) in run!(sql, as CsatRow, fetch_all(&self.pool))? {
            let said = match (score, answer) {
                (_, Some(a)) if !a.trim().is_empty() => clip(&a, 80),
                (Some(s), _) => s.to_string(),
                _ => "answered".into(),
            };
            out.push(Activity {
                kind: "csat.answered".into(),
                at: Timestamp::from_millis(at.unwrap_or_default()),
                text: format!("Satisfaction survey answered: {said}"),
                conversation_id: Some(conversation.parse().map_err(corrupt("conversation id"))?),
                ticket_id: Some(ticket.parse().map_err(corrupt("ticket id"))?),
            });
        }

        let mut sql = self.sql("SELECT body, conversation_id, created_at FROM notes WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        sql.push(" ORDER BY created_at DESC LIMIT ").bind(PANEL_LIMIT);
        for (body, conversation, at) in run!(sql, as (String, Option<String>, i64), fetch_all(&self.pool))? {
            out.push(Activity {
                kind: "note.added".into(),
                at: Timestamp::from_millis(at),
                text: format!("Note: {}", clip(&body, 120)),
                conversation_id: conversation.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?,
                ticket_id: None,
            });
        }

        out.sort_by(|a, b| b.at.cmp(&a.at).then_with(|| b.kind.cmp(&a.kind)));
        out.truncate(PANEL_LIMIT as usize);
        Ok(out)
    }

    /// Media messages of the contact's conversations, newest first, at most [`PANEL_LIMIT`].
    pub async fn contact_media(&self, ws: WorkspaceId, contact: ContactId, visibility: &Visibility) -> Result<Vec<SharedMedia>> {
        self.get_contact(ws, contact).await?;
        let mut sql = self.sql(
            "SELECT m.id, m.conversation_id, m.direction, m.content, m.created_at FROM messages m \
             JOIN conversations c ON c.id = m.conversation_id WHERE c.workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND c.contact_id = ").bind(contact.to_string());
        sql.push(" AND m.content LIKE '%\"type\":\"media\"%'");
        push_visibility(&mut sql, visibility, &["c.assignee_user_id"], "c.team_id");
        sql.push(" ORDER BY m.created_at DESC, m.id DESC LIMIT ").bind(PANEL_LIMIT);
        run!(sql, as (String, String, String, Option<String>, i64), fetch_all(&self.pool))?
            .into_iter()
            .filter_map(|(id, conversation, direction, content, at)| {
                let content: Value = serde_json::from_str(content.as_deref()?).ok()?;
                (content["type"] == "media").then_some((id, conversation, direction, content, at))
            })
            .map(|(id, conversation, direction, content, at)| {
                let text = |k: &str| content[k].as_str().map(str::to_string);
                Ok(SharedMedia {
                    message_id: id.parse().map_err(corrupt("message id"))?,
                    conversation_id: conversation.parse().map_err(corrupt("conversation id"))?,
                    direction,
                    kind: text("kind").unwrap_or_else(|| "document".into()),
                    filename: text("filename"),
                    caption: text("caption"),
                    stored: content.get("stored").is_some(),
                    link: text("url"),
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    /// The static lists the contact is in.
    pub async fn contact_lists(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<ContactList>> {
        self.get_contact(ws, contact).await?;
        let mut sql = self.sql(
            "SELECT l.id, l.name, (SELECT COUNT(*) FROM list_members n WHERE n.list_id = l.id), l.created_at FROM lists l \
             JOIN list_members m ON m.list_id = l.id WHERE l.workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND m.contact_id = ").bind(contact.to_string()).push(" ORDER BY l.name");
        run!(sql, as ListRow, fetch_all(&self.pool))?.into_iter().map(list_of_row).collect()
    }
}
