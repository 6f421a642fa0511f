//! Channels at work: turns stored webhook events into contacts, conversations and messages (and
//! the agent's turn), and sends outbound messages through their provider within the channel's
//! window. Both run as jobs, so a crash only delays them.

use serde_json::{json, Value};
use std::time::Duration;
use tandem_channels::{
    window::{Author, WindowRefusal},
    ChannelSender, ChannelSettings, Content, DeliveryStatus, Endpoints, InboundEvent, InboundKind, OutboundContent, OutboundMessage,
    SendOutcome, WindowState,
};
use tandem_core::{config::ChannelsConfig, ChannelKind, ConversationId, MessageId, MessageStatus, PhoneNumber, Timestamp, WorkspaceId};
use tandem_store::{
    conversations::Conversation,
    messaging::{NewOutbound, StoredInboundEvent, MEDIA_JOB},
    Store, StoreError,
};

use crate::agents::TURN_JOB;

/// The outbox's sender and the channel settings of this deployment.
pub struct Messaging {
    pub sender: ChannelSender,
    pub config: ChannelsConfig,
}

impl Messaging {
    pub fn new(config: &ChannelsConfig) -> Self {
        let endpoints = Endpoints {
            graph: config.graph_url.clone(),
            telegram: config.telegram_url.clone(),
            line: config.line_url.clone(),
            line_data: config.line_data_url.clone(),
            viber: config.viber_url.clone(),
            wechat: config.wechat_url.clone(),
            twilio: config.twilio_url.clone(),
        };
        Self { sender: ChannelSender::new(endpoints, Duration::from_millis(config.send_timeout_ms)), config: config.clone() }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MessagingFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Will be as bad on the next attempt.
    #[error("{0}")]
    Permanent(String),
    /// May pass later (the provider was rate limiting or down).
    #[error("{0}")]
    Transient(String),
}

impl MessagingFailure {
    pub fn retryable(&self) -> bool {
        match self {
            Self::Store(e) => !matches!(e, StoreError::Invalid(_) | StoreError::NotFound(_)),
            Self::Permanent(_) => false,
            Self::Transient(_) => true,
        }
    }
}

/// Where a conversation's window stands now.
pub fn window_of(settings: &ChannelSettings, conversation: &Conversation) -> WindowState {
    settings.window().state(conversation.last_inbound_at, Timestamp::now())
}

/// Processes one stored webhook event (job `channel.inbound`). Running it twice changes nothing:
/// the message's provider id and the contact's address are unique.
pub async fn process_inbound(store: &Store, ws: WorkspaceId, event_id: &str) -> Result<Value, MessagingFailure> {
    let stored = store.inbound_event(ws, event_id).await?;
    if stored.processed_at.is_some() {
        return Ok(json!({"skipped": "already processed"}));
    }
    let event: InboundEvent = serde_json::from_value(stored.event.clone())
        .map_err(|e| MessagingFailure::Permanent(format!("the stored event cannot be read: {e}")))?;
    let result = apply(store, &stored, event).await?;
    store.mark_inbound_processed(ws, &stored.id).await?;
    Ok(result)
}

async fn apply(store: &Store, stored: &StoredInboundEvent, event: InboundEvent) -> Result<Value, MessagingFailure> {
    let (ws, channel) = (stored.workspace_id, stored.channel_id);
    let written_at = event.occurred_at.unwrap_or_else(Timestamp::now);
    match event.kind {
        InboundKind::Message { sender, provider_message_id, content } => {
            let phone = sender.phone.as_deref().and_then(|p| PhoneNumber::from_e164(p).ok());
            let contact = store.contact_for_address(ws, channel, &sender.id, sender.name.as_deref(), phone).await?;
            let conversation = store.current_conversation(ws, channel, contact).await?;
            let rich = (!matches!(content, Content::Text { .. })).then(|| serde_json::to_value(&content).unwrap_or(Value::Null));
            let mut then = Vec::new();
            if matches!(content, Content::Media { .. }) {
                then.push((MEDIA_JOB, json!({ "message_id": null })));
            }
            if store.channel_agent(ws, channel).await?.is_some() {
                then.push((TURN_JOB, json!({ "conversation_id": conversation.id.to_string() })));
            }
            let (message, new) = store
                .record_inbound_message(ws, &conversation, written_at, &provider_message_id, &content.display_text(), rich.as_ref(), &then)
                .await?;
            // A reply to a satisfaction survey is recorded on its ticket.
            let csat = store.take_csat_answer(ws, conversation.id, message.id, &message.body).await?.and_then(|s| s.score);
            // Otherwise a keyword rule may open a ticket (a redelivery opens none: `new` is false).
            let ticket = match (new, csat) {
                (true, None) => store.open_ticket_by_rules(ws, conversation.id, message.id, &message.body).await?.map(|t| t.id),
                _ => None,
            };
            Ok(
                json!({"message_id": message.id, "conversation_id": conversation.id, "contact_id": contact, "new": new, "csat": csat, "ticket": ticket}),
            )
        }
        InboundKind::Status { provider_message_id, status, failure, .. } => {
            let status = match status {
                DeliveryStatus::Sent => MessageStatus::Sent,
                DeliveryStatus::Delivered => MessageStatus::Delivered,
                DeliveryStatus::Read => MessageStatus::Read,
                DeliveryStatus::Failed => MessageStatus::Failed,
            };
            let error = failure.map(|f| format!("{}: {}", f.code, f.title));
            let applied = store.apply_receipt(ws, channel, &provider_message_id, status, error.as_deref()).await?;
            Ok(json!({"receipt": status.as_str(), "applied": applied}))
        }
        InboundKind::TemplateStatus { name, language, status, reason } => {
            let updated = store.set_template_status(ws, channel, &name, language.as_deref(), &status, reason.as_deref()).await?;
            Ok(json!({"template": name, "status": status, "updated": updated}))
        }
        InboundKind::Other { event_type, .. } => Ok(json!({"ignored": event_type})),
    }
}

/// Why a message may not be queued now (the API answers 422 with it).
pub fn refusal_code(r: &WindowRefusal) -> &'static str {
    match r {
        WindowRefusal::TemplateRequired => "template_required",
        WindowRefusal::Closed => "window_closed",
        WindowRefusal::HumanAgentOnly(_) => "human_agent_only",
    }
}

/// Checks the window for a new outbound message before it is queued.
pub async fn admit(store: &Store, ws: WorkspaceId, conversation: ConversationId, author: Author, template: bool) -> Result<(), AdmitError> {
    let conv = store.get_conversation(ws, conversation).await?;
    let channel = store.get_channel(ws, conv.channel_id).await?;
    let settings = ChannelSettings::parse(channel.kind, &channel.config).map_err(|e| AdmitError::Settings(e.to_string()))?;
    window_of(&settings, &conv).admit(author, template).map(|_| ()).map_err(AdmitError::Window)
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Window(WindowRefusal),
    #[error("the channel's settings are unusable: {0}")]
    Settings(String),
}

/// Queues the agent's reply on a conversation (called by the agent's turn).
pub async fn queue_agent_reply(
    store: &Store,
    ws: WorkspaceId,
    conversation: ConversationId,
    body: &str,
    max_attempts: i64,
) -> Result<(), StoreError> {
    store.queue_outbound(ws, conversation, NewOutbound { body, content: None, author: "agent", max_attempts }).await?;
    Ok(())
}

/// Sends one queued outbound message (job `channel.send`). `last_attempt`: a retryable failure
/// now is final, and the message is marked failed with the reason (the dead letter).
pub async fn send(
    messaging: &Messaging,
    store: &Store,
    ws: WorkspaceId,
    id: MessageId,
    last_attempt: bool,
) -> Result<Value, MessagingFailure> {
    let pending = store.pending_send(ws, id).await?;
    if pending.message.status != MessageStatus::Queued {
        return Ok(json!({"skipped": format!("the message is already {}", pending.message.status.as_str())}));
    }
    let fail = |reason: String| async move {
        store.mark_message_failed(ws, id, &reason).await?;
        Ok::<Value, MessagingFailure>(json!({"failed": reason}))
    };
    let channel = store.get_channel(ws, pending.conversation.channel_id).await?;
    let settings = match ChannelSettings::parse(channel.kind, &channel.config) {
        Ok(s) => s,
        Err(e) => return fail(format!("invalid_channel_settings: {e}")).await,
    };
    if channel.kind == ChannelKind::Widget {
        // The visitor's page reads its conversation from Tandem directly.
        store.mark_message_sent(ws, id, None).await?;
        return Ok(json!({"sent": "widget"}));
    }
    let Some(recipient) = pending.recipient.clone() else {
        return fail("no_address: the contact has no address on this channel".into()).await;
    };
    let content: OutboundContent = match &pending.message.content {
        Some(c) => match serde_json::from_value(c.clone()) {
            Ok(c) => c,
            Err(e) => return fail(format!("invalid_content: {e}")).await,
        },
        None => OutboundContent::Text { body: pending.message.body.clone() },
    };
    let author = if pending.message.author.as_deref() == Some("agent") { Author::Agent } else { Author::Human };
    let tag = match window_of(&settings, &pending.conversation).admit(author, matches!(content, OutboundContent::Template { .. })) {
        Ok(tag) => tag,
        Err(refusal) => return fail(format!("{}: {refusal}", refusal_code(&refusal))).await,
    };
    if pending.send_started && !settings.idempotent_sends() {
        // A previous attempt reached the provider and never learnt whether it was taken (a
        // timeout, or a crash mid-call): sending again could deliver it twice.
        return fail(
            "unknown_outcome: a previous attempt got no answer from the provider; not sent again to avoid a duplicate, check with the customer"
                .into(),
        )
        .await;
    }
    store.mark_send_started(ws, id).await?;
    let msg = OutboundMessage { recipient, content, tag, idempotency_key: id.to_string() };
    match messaging.sender.send(&channel.id.to_string(), &settings, &msg).await {
        SendOutcome::Sent { provider_message_id } => {
            store.mark_message_sent(ws, id, provider_message_id.as_deref()).await?;
            Ok(json!({"sent": provider_message_id}))
        }
        SendOutcome::Failed { code, message, retryable } => {
            let reason = format!("{code}: {message}");
            if code == "timeout" && !settings.idempotent_sends() {
                return fail(format!("unknown_outcome: {message}; not sent again to avoid a duplicate")).await;
            }
            if !retryable {
                return fail(reason).await;
            }
            store.clear_send_started(ws, id, &reason).await?;
            if last_attempt {
                return fail(format!("gave up after {} attempts: {reason}", pending.attempts + 1)).await;
            }
            Err(MessagingFailure::Transient(reason))
        }
    }
}

/// Downloads a customer's media into Tandem's storage (job `channel.media`) and records where it
/// is kept in the message's content (`stored: {upload_id, mime_type, bytes}`).
pub async fn fetch_media(messaging: &Messaging, store: &Store, ws: WorkspaceId, id: MessageId) -> Result<Value, MessagingFailure> {
    let message = store.get_message(ws, id).await?;
    let Some(mut content) = message.content.clone() else { return Ok(json!({"skipped": "no media"})) };
    if content.get("stored").is_some() {
        return Ok(json!({"skipped": "already stored"}));
    }
    let Ok(Content::Media { reference, filename, kind, .. }) = serde_json::from_value::<Content>(content.clone()) else {
        return Ok(json!({"skipped": "no media"}));
    };
    let channel = store.get_channel(ws, message.channel_id).await?;
    let settings = ChannelSettings::parse(channel.kind, &channel.config).map_err(|e| MessagingFailure::Permanent(e.to_string()))?;
    let got = match messaging.sender.download(&settings, &reference, messaging.config.max_media_bytes).await {
        Ok(got) => got,
        Err(tandem_channels::media::MediaError::Transient(why)) => return Err(MessagingFailure::Transient(why)),
        Err(e) => {
            // Kept as a reference only; the inbox shows the media as unavailable with the reason.
            content["stored_error"] = Value::String(e.to_string());
            store.set_message_content(ws, id, &content).await?;
            return Ok(json!({"unavailable": e.to_string()}));
        }
    };
    let name = filename.unwrap_or_else(|| format!("{}-{}", kind.as_str(), message.id));
    let size = got.bytes.len();
    let upload = store.save_upload(ws, &name, got.bytes).await?;
    content["stored"] = json!({"upload_id": upload, "mime_type": got.mime_type, "bytes": size});
    store.set_message_content(ws, id, &content).await?;
    Ok(json!({"stored": upload, "bytes": size}))
}
