//! What a webhook tells us, provider-neutral.

use serde::{Deserialize, Serialize};
use tandem_core::Timestamp;

/// One event from a webhook body (a body may hold several: Meta batches entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// Deduplication key, unique per channel: the provider's message id for messages, the message
    /// id with the new status for receipts (`wamid.X:read`), a stable hash of the body for events
    /// that carry no id.
    pub provider_event_id: String,
    pub kind: InboundKind,
    /// When the provider says it happened.
    pub occurred_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InboundKind {
    /// A customer wrote: `provider_message_id` is the message's id at the provider.
    Message { sender: Sender, provider_message_id: String, content: Content },
    /// What became of a message we sent.
    Status { provider_message_id: String, status: DeliveryStatus, failure: Option<ProviderFailure>, recipient: Option<String> },
    /// WhatsApp: a template's approval status changed.
    TemplateStatus { name: String, language: Option<String>, status: String, reason: Option<String> },
    /// The customer followed, subscribed, opened a conversation... or anything we do not handle:
    /// stored, never a failure.
    Other { event_type: String, sender: Option<Sender> },
}

/// Who wrote, as the provider identifies them on this channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// The address replies go to: WhatsApp wa_id, Messenger PSID, Instagram IGSID, Telegram chat
    /// id, LINE userId, Viber user id, WeChat OpenID, SMS phone number.
    pub id: String,
    pub name: Option<String>,
    /// E.164 phone number when the provider gives one (WhatsApp, SMS).
    pub phone: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Content {
    Text {
        body: String,
    },
    /// Kept as a reference (the provider's media id or URL); the server downloads it to storage.
    Media {
        kind: MediaKind,
        reference: String,
        mime_type: Option<String>,
        caption: Option<String>,
        filename: Option<String>,
    },
    Location {
        latitude: f64,
        longitude: f64,
        name: Option<String>,
        address: Option<String>,
    },
    Contacts {
        contacts: Vec<SharedContact>,
    },
    /// A tapped button, quick reply or postback: what it showed and what it carries.
    Button {
        text: String,
        payload: Option<String>,
    },
    /// A reaction or anything else the provider names but we do not render.
    Unsupported {
        description: String,
    },
}

impl Content {
    /// The text a person (or the agent) reads in the inbox.
    pub fn display_text(&self) -> String {
        match self {
            Content::Text { body } => body.clone(),
            Content::Media { kind, caption, filename, .. } => match (caption, filename) {
                (Some(c), _) => format!("[{}] {c}", kind.as_str()),
                (None, Some(f)) => format!("[{}] {f}", kind.as_str()),
                (None, None) => format!("[{}]", kind.as_str()),
            },
            Content::Location { latitude, longitude, name, address } => {
                let label = [name.as_deref(), address.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(", ");
                if label.is_empty() {
                    format!("[location] {latitude}, {longitude}")
                } else {
                    format!("[location] {label} ({latitude}, {longitude})")
                }
            }
            Content::Contacts { contacts } => {
                let names: Vec<String> = contacts
                    .iter()
                    .map(|c| if c.phones.is_empty() { c.name.clone() } else { format!("{} {}", c.name, c.phones.join(", ")) })
                    .collect();
                format!("[contact] {}", names.join("; "))
            }
            Content::Button { text, .. } => text.clone(),
            Content::Unsupported { description } => format!("[{description}]"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
    Audio,
    Document,
    Sticker,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            MediaKind::Document => "document",
            MediaKind::Sticker => "sticker",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedContact {
    pub name: String,
    pub phones: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Failed,
}

/// A provider's reason for a failure, with its own code (WhatsApp 131047: outside the 24 h
/// window; 131056: pair rate limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderFailure {
    pub code: String,
    pub title: String,
}
