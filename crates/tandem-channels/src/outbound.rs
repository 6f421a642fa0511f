//! What we send, and what the provider answered.

use serde::{Deserialize, Serialize};

use crate::inbound::MediaKind;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    /// The provider's address of the customer ([`crate::Sender::id`]).
    pub recipient: String,
    pub content: OutboundContent,
    /// Messenger: `HUMAN_AGENT` for a person's reply between 24 h and 7 days.
    pub tag: Option<MessageTag>,
    /// Our message id: providers that accept an idempotency key get it (LINE `X-Line-Retry-Key`
    /// wants a UUID, so this is one).
    pub idempotency_key: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutboundContent {
    Text {
        body: String,
    },
    /// A public URL the provider fetches.
    Media {
        kind: MediaKind,
        url: String,
        caption: Option<String>,
        filename: Option<String>,
    },
    /// WhatsApp only: an approved template with its body variables in order.
    Template {
        name: String,
        language: String,
        variables: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageTag {
    #[serde(rename = "HUMAN_AGENT")]
    HumanAgent,
}

/// The exact HTTP request a provider documents for a send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: HttpMethod,
    pub url: String,
    /// Authorization and content type included.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
}

/// How a send attempt ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SendOutcome {
    Sent {
        provider_message_id: Option<String>,
    },
    /// `retryable`: a rate limit, a 5xx, a timeout; not a bad recipient or an expired window.
    Failed {
        code: String,
        message: String,
        retryable: bool,
    },
}
