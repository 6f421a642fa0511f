//! Real conversations on real channels: inbound webhook events stored before the provider gets
//! its 200 (deduplicated by the provider's id), contacts known by their address on each channel,
//! outbound messages queued together with the job that sends them, delivery receipts, and the
//! WhatsApp template registry.
//!
//! Every write that must happen together with a job (an event and its processing job, a customer
//! message and the agent turn it calls for, an outbound message and its send job) is one
//! transaction: a crash leaves both or neither.

use serde::Serialize;
use serde_json::Value;
use tandem_core::{
    ChannelId, ChannelKind, ContactId, ConversationId, ConversationStatus, MessageId, MessageStatus, Timestamp, WorkspaceId,
};

use crate::events::EventKind;
use crate::{
    contacts::ContactDraft,
    conversations::{Conversation, Message, MessageRow, Row, MESSAGE_SELECT, SELECT_COLUMNS},
    error::corrupt,
    sql::run,
    Result, Store, StoreError,
};

/// Job kind that processes one stored inbound event; payload `{event_id}`.
pub const INBOUND_JOB: &str = "channel.inbound";
/// Job kind that downloads a customer's media into Tandem's storage; payload `{message_id}`.
pub const MEDIA_JOB: &str = "channel.media";
/// Job kind that sends one outbound message; payload `{message_id}`.
pub const SEND_JOB: &str = "channel.send";

/// One webhook's events for [`Store::store_inbound_batch`].
#[derive(Debug, Clone)]
pub struct InboundBatch {
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub events: Vec<NewInboundEvent>,
}

/// An event as the webhook handler hands it over: its dedup key, kind and JSON.
#[derive(Debug, Clone)]
pub struct NewInboundEvent {
    pub provider_event_id: String,
    pub kind: String,
    pub event: Value,
}

#[derive(Debug, Clone)]
pub struct StoredInboundEvent {
    pub id: String,
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub kind: String,
    pub event: Value,
    pub processed_at: Option<Timestamp>,
}

/// A channel as a webhook finds it: by id alone, since providers carry no workspace.
#[derive(Debug, Clone)]
pub struct WebhookChannel {
    pub workspace_id: WorkspaceId,
    pub channel_id: ChannelId,
    pub kind: ChannelKind,
    pub config: serde_json::Map<String, Value>,
}

/// An outbound message with what sending it needs.
#[derive(Debug, Clone)]
pub struct PendingSend {
    pub message: Message,
    pub conversation: Conversation,
    /// The customer's address on the channel, if the contact has one there.
    pub recipient: Option<String>,
    pub attempts: i64,
    /// A previous attempt called the provider and did not learn the outcome.
    pub send_started: bool,
}

/// An outbound message to queue.
pub struct NewOutbound<'a> {
    pub body: &'a str,
    pub content: Option<&'a Value>,
    /// `agent` or a user id.
    pub author: &'a str,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Template {
    pub id: String,
    pub channel_id: ChannelId,
    pub name: String,
    pub language: String,
    /// `marketing`, `utility` or `authentication`.
    pub category: String,
    /// The body with `{{1}}`, `{{2}}`... placeholders.
    pub body: String,
    pub variables: i64,
    /// `pending`, `approved`, `rejected`, `paused`, `disabled`... as the provider reports it.
    pub status: String,
    pub reason: Option<String>,
    pub updated_at: Timestamp,
}

pub struct NewTemplate<'a> {
    pub name: &'a str,
    pub language: &'a str,
    pub category: &'a str,
    pub body: &'a str,
}

/// Placeholders `{{n}}` in a template body: the highest n.
pub fn template_variables(body: &str) -> i64 {
    let mut max = 0;
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        rest = &rest[start + 2..];
        if let Some(end) = rest.find("}}") {
            if let Ok(n) = rest[..end].trim().parse::<i64>() {
                max = max.max(n);
            }
            rest = &rest[end + 2..];
        }
    }
    max
}

/// How far along delivery a status is; receipts only move a message forward.
fn rank(status: MessageStatus) -> i64 {
    match status {
        MessageStatus::Received | MessageStatus::Queued => 0,
        MessageStatus::Sent => 1,
        MessageStatus::Delivered => 2,
        MessageStatus::Read => 3,
        MessageStatus::Failed => 4,
    }
}

impl Store {
    /// The channel a webhook names, from any workspace.
    pub async fn webhook_channel(&self, channel: ChannelId) -> Result<WebhookChannel> {
        let mut sql = self.sql("SELECT workspace_id, kind, config FROM channels WHERE id = ");
        sql.bind(channel.to_string());
        let (ws, kind, config) =
            run!(sql, as (String, String, String), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("channel"))?;
        Ok(WebhookChannel {
            workspace_id: ws.parse().map_err(corrupt("workspace id"))?,
            channel_id: channel,
            kind: kind.parse().map_err(corrupt("channel kind"))?,
            config: serde_json::from_str(&config).map_err(corrupt("channel config"))?,
        })
    }

    /// Stores a webhook's events, each with the job that processes it, in one transaction.
    /// Events already stored (a redelivery) are skipped. Returns how many were new.
    pub async fn store_inbound_events(&self, ws: WorkspaceId, channel: ChannelId, events: &[NewInboundEvent]) -> Result<usize> {
        let batch = [InboundBatch { workspace_id: ws, channel_id: channel, events: events.to_vec() }];
        Ok(self.store_inbound_batch(&batch).await?.first().copied().unwrap_or(0))
    }

    /// Stores several webhooks' events in one transaction (one commit for many concurrent
    /// webhooks: what lets SQLite acknowledge thousands a second). Returns, per webhook, how
    /// many of its events were new.
    pub async fn store_inbound_batch(&self, batch: &[InboundBatch]) -> Result<Vec<usize>> {
        let now = Timestamp::now().millis();
        // The providers are waiting for this commit: it goes before the worker's writes.
        let turn = self.urgent_writes().await?;
        let mut tx = turn.begin().await?;
        let mut counts = Vec::with_capacity(batch.len());
        for item in batch {
            let (ws, channel) = (item.workspace_id, item.channel_id);
            let mut new = 0;
            for e in &item.events {
                let id = uuid::Uuid::now_v7().to_string();
                let mut sql = self
                    .sql("INSERT INTO inbound_events (id, workspace_id, channel_id, provider_event_id, kind, event, received_at) VALUES (");
                sql.bind(id.clone()).push(", ").bind(ws.to_string()).push(", ").bind(channel.to_string()).push(", ");
                sql.bind(e.provider_event_id.clone()).push(", ").bind(e.kind.clone()).push(", ").bind(e.event.to_string());
                sql.push(", ").bind(now).push(") ON CONFLICT DO NOTHING");
                if run!(sql, execute(&mut *tx))?.rows_affected() == 1 {
                    self.insert_job(&mut *tx, ws, INBOUND_JOB, &serde_json::json!({ "event_id": id }), 5).await?;
                    new += 1;
                }
            }
            counts.push(new);
        }
        tx.commit().await?;
        Ok(counts)
    }

    pub async fn inbound_event(&self, ws: WorkspaceId, id: &str) -> Result<StoredInboundEvent> {
        let mut sql = self.sql("SELECT id, channel_id, kind, event, processed_at FROM inbound_events WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        let (id, channel, kind, event, processed) =
            run!(sql, as (String, String, String, String, Option<i64>), fetch_optional(&self.pool))?
                .ok_or(StoreError::NotFound("inbound event"))?;
        Ok(StoredInboundEvent {
            id,
            workspace_id: ws,
            channel_id: channel.parse().map_err(corrupt("channel id"))?,
            kind,
            event: serde_json::from_str(&event).map_err(corrupt("inbound event"))?,
            processed_at: processed.map(Timestamp::from_millis),
        })
    }

    pub async fn mark_inbound_processed(&self, ws: WorkspaceId, id: &str) -> Result<()> {
        let mut sql = self.sql("UPDATE inbound_events SET processed_at = ");
        sql.bind(Timestamp::now().millis()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Counts inbound events of a channel (tests and the crash drill check "stored exactly once").
    pub async fn count_inbound_events(&self, ws: WorkspaceId, channel: ChannelId) -> Result<i64> {
        let mut sql = self.sql("SELECT COUNT(*) FROM inbound_events WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        Ok(run!(sql, as (i64,), fetch_one(&self.pool))?.0)
    }

    /// The contact behind an address on a channel; the first message from a new address creates
    /// the contact (or finds the one with the same phone number) and remembers the address.
    pub async fn contact_for_address(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        external_id: &str,
        name: Option<&str>,
        phone: Option<tandem_core::PhoneNumber>,
    ) -> Result<ContactId> {
        if let Some(found) = self.contact_at_address(ws, channel, external_id).await? {
            return Ok(found);
        }
        let existing = match &phone {
            Some(p) => {
                let mut sql = self.sql("SELECT id FROM contacts WHERE workspace_id = ");
                sql.bind(ws.to_string()).push(" AND phone = ").bind(p.as_str().to_string());
                run!(sql, as (String,), fetch_optional(&self.pool))?.map(|(id,)| id.parse()).transpose().map_err(corrupt("contact id"))?
            }
            None => None,
        };
        let contact = match existing {
            Some(id) => id,
            None => {
                let (first, last) = split_name(name);
                let draft = ContactDraft { first_name: first, last_name: last, phone, ..ContactDraft::default() };
                match self.create_contact(ws, draft).await {
                    Ok(c) => c.id,
                    // Created meanwhile by a concurrent job for the same phone number.
                    Err(StoreError::Conflict { .. }) => {
                        if let Some(found) = self.contact_at_address(ws, channel, external_id).await? {
                            return Ok(found);
                        }
                        return Err(StoreError::Conflict {
                            code: "contact_conflict",
                            message: "the contact was created concurrently".into(),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let mut sql =
            self.sql("INSERT INTO contact_channels (workspace_id, channel_id, external_id, contact_id, display_name, created_at) VALUES (");
        sql.bind(ws.to_string()).push(", ").bind(channel.to_string()).push(", ").bind(external_id.to_string()).push(", ");
        sql.bind(contact.to_string()).push(", ").bind(name.map(str::to_string)).push(", ").bind(Timestamp::now().millis());
        sql.push(") ON CONFLICT DO NOTHING");
        run!(sql, execute(&*self.writes().await?))?;
        // Whoever inserted first wins; both callers then agree.
        self.contact_at_address(ws, channel, external_id).await?.ok_or(StoreError::NotFound("contact"))
    }

    async fn contact_at_address(&self, ws: WorkspaceId, channel: ChannelId, external_id: &str) -> Result<Option<ContactId>> {
        let mut sql = self.sql("SELECT contact_id FROM contact_channels WHERE workspace_id = ");
        sql.bind(ws.to_string())
            .push(" AND channel_id = ")
            .bind(channel.to_string())
            .push(" AND external_id = ")
            .bind(external_id.to_string());
        run!(sql, as (String,), fetch_optional(&self.pool))?.map(|(id,)| id.parse()).transpose().map_err(corrupt("contact id"))
    }

    /// The contact's address on a channel (where replies go).
    pub async fn address_of(&self, ws: WorkspaceId, channel: ChannelId, contact: ContactId) -> Result<Option<String>> {
        let mut sql = self.sql("SELECT external_id FROM contact_channels WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        sql.push(" ORDER BY created_at LIMIT 1");
        Ok(run!(sql, as (String,), fetch_optional(&self.pool))?.map(|(id,)| id))
    }

    /// The contact's conversation on the channel that is not resolved, or a new one.
    pub async fn current_conversation(&self, ws: WorkspaceId, channel: ChannelId, contact: ContactId) -> Result<Conversation> {
        let mut sql = self.sql(&format!("SELECT {SELECT_COLUMNS} FROM conversations WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        sql.push(" AND status <> ").bind(ConversationStatus::Resolved.as_str()).push(" ORDER BY created_at DESC LIMIT 1");
        match run!(sql, as Row, fetch_optional(&self.pool))? {
            Some(row) => row.try_into(),
            None => self.create_conversation(ws, channel, contact).await,
        }
    }

    /// Stores a customer's message; when it is new, also the job that follows it (the agent's
    /// turn), in the same transaction. A message already stored (same provider id) changes
    /// nothing and returns `false`. `written_at`: when the customer wrote it (the provider's
    /// timestamp): the conversation window counts from it, so a webhook redelivered hours later
    /// does not reopen the window.
    #[allow(clippy::too_many_arguments)]
    pub async fn record_inbound_message(
        &self,
        ws: WorkspaceId,
        conversation: &Conversation,
        written_at: Timestamp,
        provider_message_id: &str,
        body: &str,
        content: Option<&Value>,
        then: &[(&str, Value)],
    ) -> Result<(Message, bool)> {
        let body: String = body.chars().take(crate::conversations::MAX_MESSAGE_CHARS).collect();
        let id = MessageId::new();
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self.sql(
            "INSERT INTO messages (id, conversation_id, channel_id, direction, body, status, provider_message_id, content, created_at, workspace_id) VALUES (",
        );
        sql.bind(id.to_string()).push(", ").bind(conversation.id.to_string()).push(", ").bind(conversation.channel_id.to_string());
        sql.push(", 'inbound', ")
            .bind(body)
            .push(", ")
            .bind(MessageStatus::Received.as_str())
            .push(", ")
            .bind(provider_message_id.to_string());
        sql.push(", ")
            .bind(content.map(Value::to_string))
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(ws.to_string())
            .push(") ON CONFLICT DO NOTHING");
        let inserted = run!(sql, execute(&mut *tx))?.rows_affected() == 1;
        if inserted {
            let mut sql = self.sql("UPDATE conversations SET last_message_at = ");
            let at = written_at.millis().min(now);
            sql.bind(now).push(", last_inbound_at = CASE WHEN last_inbound_at IS NULL OR last_inbound_at < ").bind(at);
            sql.push(" THEN ").bind(at).push(" ELSE last_inbound_at END, updated_at = ").bind(now);
            sql.push(crate::conversations::WAKE_ON_INBOUND);
            sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(conversation.id.to_string());
            run!(sql, execute(&mut *tx))?;
            for (kind, payload) in then {
                let payload = match payload {
                    // `{message_id}` placeholders name the message just stored.
                    Value::Object(o) if o.get("message_id") == Some(&Value::Null) => {
                        let mut o = o.clone();
                        o.insert("message_id".into(), Value::String(id.to_string()));
                        Value::Object(o)
                    }
                    other => other.clone(),
                };
                self.insert_job(&mut *tx, ws, kind, &payload, 3).await?;
            }
        }
        tx.commit().await?;
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(conversation.channel_id.to_string());
        sql.push(" AND provider_message_id = ").bind(provider_message_id.to_string());
        let msg: Message = run!(sql, as MessageRow, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("message"))?.try_into()?;
        if inserted {
            self.publish(ws, EventKind::MessageCreated, conversation.id, Some(msg.id)).await;
        }
        Ok((msg, inserted))
    }

    /// Queues an outbound message together with the job that sends it.
    pub async fn queue_outbound(&self, ws: WorkspaceId, conversation: ConversationId, new: NewOutbound<'_>) -> Result<Message> {
        if new.body.chars().count() > crate::conversations::MAX_MESSAGE_CHARS {
            return Err(StoreError::invalid(
                "body",
                "too_long",
                format!("a message holds at most {} characters", crate::conversations::MAX_MESSAGE_CHARS),
            ));
        }
        let conv = self.get_conversation(ws, conversation).await?;
        let id = MessageId::new();
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self
            .sql("INSERT INTO messages (id, conversation_id, channel_id, direction, body, status, content, author, created_at, workspace_id) VALUES (");
        sql.bind(id.to_string()).push(", ").bind(conversation.to_string()).push(", ").bind(conv.channel_id.to_string());
        sql.push(", 'outbound', ").bind(new.body.to_string()).push(", ").bind(MessageStatus::Queued.as_str()).push(", ");
        sql.bind(new.content.map(Value::to_string)).push(", ").bind(new.author.to_string()).push(", ").bind(now);
        sql.push(", ").bind(ws.to_string()).push(")");
        run!(sql, execute(&mut *tx))?;
        let mut sql = self.sql("UPDATE conversations SET last_message_at = ");
        sql.bind(now).push(", updated_at = ").bind(now).push(" WHERE id = ").bind(conversation.to_string());
        run!(sql, execute(&mut *tx))?;
        let mut sql = self.sql("UPDATE contacts SET last_contacted_at = ");
        sql.bind(now).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(conv.contact_id.to_string());
        run!(sql, execute(&mut *tx))?;
        self.insert_job(&mut *tx, ws, SEND_JOB, &serde_json::json!({ "message_id": id.to_string() }), new.max_attempts).await?;
        tx.commit().await?;
        drop(turn);
        self.publish(ws, EventKind::MessageCreated, conversation, Some(id)).await;
        self.get_message(ws, id).await
    }

    pub async fn get_message(&self, ws: WorkspaceId, id: MessageId) -> Result<Message> {
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as MessageRow, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("message"))?.try_into()
    }

    /// An outbound message and what sending it needs.
    pub async fn pending_send(&self, ws: WorkspaceId, id: MessageId) -> Result<PendingSend> {
        let message = self.get_message(ws, id).await?;
        let conversation = self.get_conversation(ws, message.conversation_id).await?;
        let recipient = self.address_of(ws, conversation.channel_id, conversation.contact_id).await?;
        let mut sql = self.sql("SELECT attempts, send_started_at FROM messages WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        let (attempts, started) = run!(sql, as (i64, Option<i64>), fetch_one(&self.pool))?;
        Ok(PendingSend { message, conversation, recipient, attempts, send_started: started.is_some() })
    }

    /// Replaces a message's content (the media job adds where the file is kept).
    pub async fn set_message_content(&self, ws: WorkspaceId, id: MessageId, content: &Value) -> Result<()> {
        let mut sql = self.sql("UPDATE messages SET content = ");
        sql.bind(content.to_string()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Records, before the provider is called, that this attempt may reach it.
    pub async fn mark_send_started(&self, ws: WorkspaceId, id: MessageId) -> Result<()> {
        let mut sql = self.sql("UPDATE messages SET attempts = attempts + 1, send_started_at = ");
        sql.bind(Timestamp::now().millis()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// The provider surely did not take the message (it refused it, or could not be reached): a
    /// retry may send it again.
    pub async fn clear_send_started(&self, ws: WorkspaceId, id: MessageId, error: &str) -> Result<()> {
        let mut sql = self.sql("UPDATE messages SET send_started_at = NULL, error = ");
        sql.bind(error.to_string()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    pub async fn mark_message_sent(&self, ws: WorkspaceId, id: MessageId, provider_message_id: Option<&str>) -> Result<()> {
        let mut sql = self.sql("UPDATE messages SET status = ");
        sql.bind(MessageStatus::Sent.as_str()).push(", error = NULL, provider_message_id = ").bind(provider_message_id.map(str::to_string));
        sql.push(", status_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string()).push(" AND status = 'queued'");
        sql.push(" RETURNING conversation_id");
        self.publish_status(ws, id, run!(sql, as (String,), fetch_optional(&*self.writes().await?))?).await
    }

    /// Tells live views that message `id` of the conversation an update returned changed status.
    async fn publish_status(&self, ws: WorkspaceId, id: MessageId, updated: Option<(String,)>) -> Result<()> {
        if let Some((conversation,)) = updated {
            let conversation = conversation.parse().map_err(corrupt("conversation id"))?;
            self.publish(ws, EventKind::MessageStatus, conversation, Some(id)).await;
        }
        Ok(())
    }

    pub async fn mark_message_failed(&self, ws: WorkspaceId, id: MessageId, error: &str) -> Result<()> {
        let mut sql = self.sql("UPDATE messages SET status = ");
        sql.bind(MessageStatus::Failed.as_str()).push(", error = ").bind(error.to_string());
        sql.push(", status_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string()).push(" RETURNING conversation_id");
        self.publish_status(ws, id, run!(sql, as (String,), fetch_optional(&*self.writes().await?))?).await
    }

    /// Applies a delivery receipt to the message the provider id names; a receipt never moves a
    /// message back (a late `delivered` after `read` changes nothing). Returns whether it applied.
    pub async fn apply_receipt(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        provider_message_id: &str,
        status: MessageStatus,
        error: Option<&str>,
    ) -> Result<bool> {
        let earlier: Vec<&str> = [MessageStatus::Queued, MessageStatus::Sent, MessageStatus::Delivered, MessageStatus::Read]
            .into_iter()
            .filter(|s| rank(*s) < rank(status))
            .map(MessageStatus::as_str)
            .collect();
        if earlier.is_empty() {
            return Ok(false);
        }
        let mut sql = self.sql("UPDATE messages SET status = ");
        sql.bind(status.as_str()).push(", status_at = ").bind(Timestamp::now().millis());
        if let Some(e) = error {
            sql.push(", error = ").bind(e.to_string());
        }
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        sql.push(" AND provider_message_id = ").bind(provider_message_id.to_string()).push(" AND direction = 'outbound' AND status IN (");
        for (i, s) in earlier.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(s.to_string());
        }
        sql.push(") RETURNING id, conversation_id");
        let updated = run!(sql, as (String, String), fetch_all(&*self.writes().await?))?;
        for (id, conversation) in &updated {
            let id = id.parse().map_err(corrupt("message id"))?;
            self.publish_status(ws, id, Some((conversation.clone(),))).await?;
        }
        Ok(!updated.is_empty())
    }

    /// Registers (or updates) a WhatsApp template; its status starts `pending` until the provider
    /// reports otherwise.
    pub async fn upsert_template(&self, ws: WorkspaceId, channel: ChannelId, new: NewTemplate<'_>) -> Result<Template> {
        self.get_channel(ws, channel).await?;
        let name = new.name.trim();
        if name.is_empty() || name.len() > 512 || !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            return Err(StoreError::invalid(
                "name",
                "invalid_template_name",
                "a template name is lower-case letters, digits and underscores",
            ));
        }
        if !["marketing", "utility", "authentication"].contains(&new.category) {
            return Err(StoreError::invalid("category", "invalid_category", "category is marketing, utility or authentication"));
        }
        if new.body.trim().is_empty() || new.body.chars().count() > 1024 {
            return Err(StoreError::invalid("body", "invalid_template_body", "a template body holds 1 to 1,024 characters"));
        }
        if new.language.trim().is_empty() || new.language.len() > 16 {
            return Err(StoreError::invalid("language", "invalid_language", "language is a code such as en_US or fr"));
        }
        let now = Timestamp::now().millis();
        let mut sql = self.sql(
            "INSERT INTO channel_templates (id, workspace_id, channel_id, name, language, category, body, variables, status, created_at, updated_at) VALUES (",
        );
        sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(channel.to_string()).push(", ");
        sql.bind(name.to_string()).push(", ").bind(new.language.to_string()).push(", ").bind(new.category.to_string()).push(", ");
        sql.bind(new.body.to_string()).push(", ").bind(template_variables(new.body)).push(", 'pending', ").bind(now).push(", ").bind(now);
        sql.push(") ON CONFLICT (channel_id, name, language) DO UPDATE SET category = excluded.category, body = excluded.body, variables = excluded.variables, status = 'pending', reason = NULL, updated_at = excluded.updated_at");
        run!(sql, execute(&*self.writes().await?))?;
        self.get_template(ws, channel, name, new.language).await?.ok_or(StoreError::NotFound("template"))
    }

    pub async fn list_templates(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Vec<Template>> {
        self.query_templates(ws, channel, None).await
    }

    pub async fn get_template(&self, ws: WorkspaceId, channel: ChannelId, name: &str, language: &str) -> Result<Option<Template>> {
        Ok(self.query_templates(ws, channel, Some((name, language))).await?.pop())
    }

    async fn query_templates(&self, ws: WorkspaceId, channel: ChannelId, one: Option<(&str, &str)>) -> Result<Vec<Template>> {
        let mut sql =
            self.sql("SELECT id, channel_id, name, language, category, body, variables, status, reason, updated_at FROM channel_templates WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        if let Some((name, language)) = one {
            sql.push(" AND name = ").bind(name.to_string()).push(" AND language = ").bind(language.to_string());
        }
        sql.push(" ORDER BY name, language");
        type TemplateRow = (String, String, String, String, String, String, i64, String, Option<String>, i64);
        run!(sql, as TemplateRow, fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, ch, name, language, category, body, variables, status, reason, at)| {
                Ok(Template {
                    id,
                    channel_id: ch.parse().map_err(corrupt("channel id"))?,
                    name,
                    language,
                    category,
                    body,
                    variables,
                    status,
                    reason,
                    updated_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    /// A template status webhook. `language` absent: every language of that name.
    pub async fn set_template_status(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        name: &str,
        language: Option<&str>,
        status: &str,
        reason: Option<&str>,
    ) -> Result<u64> {
        let mut sql = self.sql("UPDATE channel_templates SET status = ");
        sql.bind(status.to_ascii_lowercase()).push(", reason = ").bind(reason.map(str::to_string));
        sql.push(", updated_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        sql.push(" AND name = ").bind(name.to_string());
        if let Some(l) = language {
            sql.push(" AND language = ").bind(l.to_string());
        }
        Ok(run!(sql, execute(&*self.writes().await?))?.rows_affected())
    }
}

fn split_name(name: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else { return (None, None) };
    let name: String = name.chars().take(200).collect();
    match name.split_once(' ') {
        Some((first, last)) => (Some(first.to_string()), Some(last.trim().to_string())),
        None => (Some(name), None),
    }
}

impl Store {
    /// Stored inbound events not processed yet (the worker's backlog; benchmarks wait on it).
    pub async fn inbound_backlog(&self, ws: WorkspaceId) -> Result<i64> {
        let mut sql = self.sql("SELECT COUNT(*) FROM inbound_events WHERE processed_at IS NULL AND workspace_id = ");
        sql.bind(ws.to_string());
        Ok(run!(sql, as (i64,), fetch_one(&self.pool))?.0)
    }
}
