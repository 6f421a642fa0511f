//! Viber REST bot API. Callbacks carry `X-Viber-Content-Signature`: hex HMAC-SHA256 over the raw
//! body, keyed with the bot's auth token. Sends go to `send_message` with `X-Viber-Auth-Token`;
//! Viber answers HTTP 200 even for errors, with the result in the body's `status`.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Map, Value};
use tandem_core::Timestamp;

use crate::{
    error::ChannelError,
    inbound::{Content, DeliveryStatus, InboundEvent, InboundKind, MediaKind, ProviderFailure, Sender, SharedContact},
    outbound::{HttpMethod, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    signature,
    webhook::WebhookRequest,
};

const SIGNATURE_HEADER: &str = "x-viber-content-signature";
/// Viber truncates longer sender names.
const MAX_SENDER_NAME: usize = 28;
/// Rate control breach: the only status worth retrying.
const TOO_MANY_REQUESTS: i64 = 12;

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The bot's app key ("authentication token"): API credential and signature key.
    pub auth_token: String,
    /// Shown as the sender of every message (at most 28 characters).
    pub sender_name: String,
    /// URL of the sender's avatar.
    #[serde(default)]
    pub sender_avatar: Option<String>,
}

/// The token stays out of logs.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("viber::Settings")
            .field("auth_token", &"<redacted>")
            .field("sender_name", &self.sender_name)
            .field("sender_avatar", &self.sender_avatar)
            .finish()
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("auth_token", &self.auth_token)?;
        let name = required("sender_name", &self.sender_name)?;
        if name.chars().count() > MAX_SENDER_NAME {
            return Err(ChannelError::InvalidSettings(format!("`sender_name` must be at most {MAX_SENDER_NAME} characters")));
        }
        Ok(())
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let sent =
            req.header(SIGNATURE_HEADER).ok_or_else(|| ChannelError::BadSignature("missing X-Viber-Content-Signature header".into()))?;
        if signature::same_hex(sent, &signature::hmac_sha256(self.auth_token.as_bytes(), req.body)) {
            Ok(())
        } else {
            Err(ChannelError::BadSignature("X-Viber-Content-Signature does not match the body signed with the auth token".into()))
        }
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        let callback: Callback = serde_json::from_slice(req.body).map_err(|e| ChannelError::Malformed(format!("Viber callback: {e}")))?;
        callback.into_event().map(|e| vec![e])
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let mut sender = Map::new();
        sender.insert("name".into(), Value::from(self.sender_name.clone()));
        if let Some(avatar) = self.sender_avatar.as_deref().filter(|a| !a.trim().is_empty()) {
            sender.insert("avatar".into(), Value::from(avatar));
        }
        let mut body = json!({ "receiver": msg.recipient, "min_api_version": 1, "sender": sender });
        let content = match &msg.content {
            OutboundContent::Text { body } => json!({ "type": "text", "text": body }),
            // `text` is the picture's description and may be empty, but must be there.
            OutboundContent::Media { kind: MediaKind::Image, url, caption, .. } => {
                json!({ "type": "picture", "text": caption.clone().unwrap_or_default(), "media": url })
            }
            // Video and file messages require the size in bytes (and a file name), which a URL
            // does not tell: these go as a link in a text, which Viber makes clickable.
            OutboundContent::Media { url, caption, filename, .. } => {
                let text = match caption.as_deref().or(filename.as_deref()).filter(|c| !c.trim().is_empty()) {
                    Some(label) => format!("{label}\n{url}"),
                    None => url.clone(),
                };
                json!({ "type": "text", "text": text })
            }
            OutboundContent::Template { .. } => {
                return Err(ChannelError::Unsupported("templates are WhatsApp only; Viber sends free-form messages".into()))
            }
        };
        if let (Value::Object(b), Value::Object(c)) = (&mut body, content) {
            b.extend(c);
        }
        Ok(OutboundRequest {
            method: HttpMethod::Post,
            url: format!("{}/send_message", endpoints.viber.trim_end_matches('/')),
            headers: vec![("X-Viber-Auth-Token".into(), self.auth_token.clone()), ("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        })
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        if status >= 500 || status == 429 {
            return SendOutcome::Failed { code: status.to_string(), message: format!("Viber answered HTTP {status}"), retryable: true };
        }
        let Ok(reply) = serde_json::from_slice::<Reply>(body) else {
            return SendOutcome::Failed {
                code: status.to_string(),
                message: format!("Viber answered HTTP {status} without a status"),
                retryable: false,
            };
        };
        if reply.status == 0 && (200..300).contains(&status) {
            return SendOutcome::Sent { provider_message_id: reply.message_token.as_ref().and_then(token_string) };
        }
        SendOutcome::Failed {
            code: reply.status.to_string(),
            message: reply.status_message.unwrap_or_else(|| format!("Viber status {}", reply.status)),
            // Not subscribed (6), not registered (5), blocked/suspended account (7-9), bad token
            // (2): the same request fails again.
            retryable: reply.status == TOO_MANY_REQUESTS,
        }
    }
}

#[derive(Deserialize)]
struct Reply {
    status: i64,
    status_message: Option<String>,
    message_token: Option<Value>,
}

/// Viber's tokens are 64-bit numbers; kept as strings.
fn token_string(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

#[derive(Deserialize)]
struct Callback {
    event: String,
    timestamp: Option<i64>,
    message_token: Option<Value>,
    /// `message`: who wrote.
    sender: Option<User>,
    /// `subscribed`, `conversation_started`: who.
    user: Option<User>,
    /// Receipts and `unsubscribed`: whose.
    user_id: Option<String>,
    message: Option<Message>,
    /// `failed`: why.
    desc: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    media: Option<String>,
    file_name: Option<String>,
    sticker_id: Option<Value>,
    location: Option<Location>,
    contact: Option<Contact>,
}

#[derive(Deserialize)]
struct Location {
    lat: f64,
    lon: f64,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    name: Option<String>,
    phone_number: Option<String>,
}

impl From<User> for Sender {
    fn from(u: User) -> Self {
        Sender { id: u.id, name: u.name.filter(|n| !n.is_empty()), phone: None }
    }
}

impl Callback {
    fn into_event(self) -> Result<InboundEvent, ChannelError> {
        let occurred_at = self.timestamp.map(Timestamp::from_millis);
        let token = self.message_token.as_ref().and_then(token_string);
        let who = self.sender.as_ref().or(self.user.as_ref()).map(|u| u.id.clone()).or_else(|| self.user_id.clone());
        // Receipts and events share the message's token: the event name keeps them apart.
        let event_id = match &token {
            Some(t) => format!("{t}:{}", self.event),
            None => format!("{}:{}:{}", self.event, who.as_deref().unwrap_or("-"), self.timestamp.unwrap_or_default()),
        };
        let status = |status: DeliveryStatus, failure: Option<ProviderFailure>| -> Result<InboundKind, ChannelError> {
            let provider_message_id =
                token.clone().ok_or_else(|| ChannelError::Malformed(format!("Viber `{}` without message_token", self.event)))?;
            Ok(InboundKind::Status { provider_message_id, status, failure, recipient: self.user_id.clone() })
        };
        let kind = match self.event.as_str() {
            "message" => {
                let sender = self.sender.ok_or_else(|| ChannelError::Malformed("Viber message without sender".into()))?;
                let message = self.message.ok_or_else(|| ChannelError::Malformed("Viber message callback without message".into()))?;
                let provider_message_id =
                    token.clone().ok_or_else(|| ChannelError::Malformed("Viber message without message_token".into()))?;
                return Ok(InboundEvent {
                    provider_event_id: provider_message_id.clone(),
                    kind: InboundKind::Message { sender: sender.into(), provider_message_id, content: message.content() },
                    occurred_at,
                });
            }
            "delivered" => status(DeliveryStatus::Delivered, None)?,
            "seen" => status(DeliveryStatus::Read, None)?,
            "failed" => {
                let title = self.desc.clone().unwrap_or_else(|| "delivery failed".into());
                status(DeliveryStatus::Failed, Some(ProviderFailure { code: "failed".into(), title }))?
            }
            _ => {
                let sender = self
                    .sender
                    .or(self.user)
                    .map(Sender::from)
                    .or_else(|| self.user_id.clone().map(|id| Sender { id, name: None, phone: None }));
                InboundKind::Other { event_type: self.event.clone(), sender }
            }
        };
        Ok(InboundEvent { provider_event_id: event_id, kind, occurred_at })
    }
}

impl Message {
    fn content(self) -> Content {
        let caption = self.text.filter(|t| !t.is_empty());
        let media = |kind: MediaKind, reference: Option<String>, caption: Option<String>, filename: Option<String>| match reference {
            Some(reference) => Content::Media { kind, reference, mime_type: None, caption, filename },
            None => Content::Unsupported { description: kind.as_str().into() },
        };
        match self.kind.as_str() {
            "text" => Content::Text { body: caption.unwrap_or_default() },
            // Media URLs are Viber's and expire: the server downloads them promptly.
            "picture" => media(MediaKind::Image, self.media, caption, self.file_name),
            "video" => media(MediaKind::Video, self.media, caption, self.file_name),
            "file" => media(MediaKind::Document, self.media, caption, self.file_name),
            "sticker" => media(MediaKind::Sticker, self.media.or_else(|| self.sticker_id.as_ref().and_then(token_string)), None, None),
            "location" => match self.location {
                Some(l) => Content::Location { latitude: l.lat, longitude: l.lon, name: None, address: l.address },
                None => Content::Unsupported { description: "location".into() },
            },
            "contact" => match self.contact {
                Some(c) => {
                    let phones: Vec<String> = c.phone_number.into_iter().collect();
                    let name = c.name.filter(|n| !n.is_empty()).or_else(|| phones.first().cloned()).unwrap_or_default();
                    Content::Contacts { contacts: vec![SharedContact { name, phones }] }
                }
                None => Content::Unsupported { description: "contact".into() },
            },
            // A shared link: the URL is in `media`.
            "url" => match self.media {
                Some(url) => Content::Text { body: url },
                None => Content::Unsupported { description: "url".into() },
            },
            other => Content::Unsupported { description: other.to_string() },
        }
    }
}
