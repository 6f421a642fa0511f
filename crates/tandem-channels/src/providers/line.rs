//! LINE Messaging API. Webhooks carry `X-Line-Signature`: base64 of HMAC-SHA256 over the raw
//! body, keyed with the channel secret. Replies use the push API (the reply token expires within
//! a minute, too soon for an agent), made idempotent with `X-Line-Retry-Key`.

use std::fmt;

use serde::Deserialize;
use serde_json::json;
use tandem_core::Timestamp;

use crate::{
    error::ChannelError,
    inbound::{Content, InboundEvent, InboundKind, MediaKind, Sender},
    outbound::{HttpMethod, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    signature,
    webhook::WebhookRequest,
};

const SIGNATURE_HEADER: &str = "x-line-signature";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Basic settings > Channel secret: the webhook signature key.
    pub channel_secret: String,
    /// Messaging API > Channel access token (long-lived).
    pub channel_access_token: String,
}

/// Credentials stay out of logs.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("line::Settings").field("channel_secret", &"<redacted>").field("channel_access_token", &"<redacted>").finish()
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("channel_secret", &self.channel_secret)?;
        required("channel_access_token", &self.channel_access_token)?;
        Ok(())
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let sent = req.header(SIGNATURE_HEADER).ok_or_else(|| ChannelError::BadSignature("missing X-Line-Signature header".into()))?;
        let expected = signature::base64(&signature::hmac_sha256(self.channel_secret.as_bytes(), req.body));
        if signature::same(sent.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(ChannelError::BadSignature("X-Line-Signature does not match the body signed with the channel secret".into()))
        }
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        let body: Body = serde_json::from_slice(req.body).map_err(|e| ChannelError::Malformed(format!("LINE webhook: {e}")))?;
        // The console's "Verify" button sends `"events": []`: nothing to store.
        Ok(body.events.into_iter().map(Event::into_event).collect())
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let messages = match &msg.content {
            OutboundContent::Text { body } => vec![json!({ "type": "text", "text": body })],
            OutboundContent::Media { kind: MediaKind::Image, url, caption, .. } => {
                // An image message has no caption: the caption follows as a text in the same push.
                let mut m = vec![json!({ "type": "image", "originalContentUrl": url, "previewImageUrl": url })];
                if let Some(caption) = caption.as_deref().filter(|c| !c.trim().is_empty()) {
                    m.push(json!({ "type": "text", "text": caption }));
                }
                m
            }
            // A video needs a separate JPEG preview, audio its duration, and LINE has no file
            // message: from a bare URL these go as a link, which LINE previews.
            OutboundContent::Media { url, caption, filename, .. } => {
                let text = match caption.as_deref().or(filename.as_deref()).filter(|c| !c.trim().is_empty()) {
                    Some(label) => format!("{label}\n{url}"),
                    None => url.clone(),
                };
                vec![json!({ "type": "text", "text": text })]
            }
            OutboundContent::Template { .. } => {
                return Err(ChannelError::Unsupported("templates are WhatsApp only; LINE sends free-form messages".into()))
            }
        };
        let body = json!({ "to": msg.recipient, "messages": messages });
        Ok(OutboundRequest {
            method: HttpMethod::Post,
            url: format!("{}/v2/bot/message/push", endpoints.line.trim_end_matches('/')),
            headers: vec![
                ("Authorization".into(), format!("Bearer {}", self.channel_access_token)),
                ("Content-Type".into(), "application/json".into()),
                ("X-Line-Retry-Key".into(), msg.idempotency_key.clone()),
            ],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        })
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        let reply: Reply = serde_json::from_slice(body).unwrap_or_default();
        let first_id = reply.sent_messages.first().map(|m| m.id.clone());
        match status {
            200..=299 => SendOutcome::Sent { provider_message_id: first_id },
            // The retry key was already accepted: the earlier attempt went out.
            409 => SendOutcome::Sent { provider_message_id: first_id },
            _ => {
                let mut message = reply.message.unwrap_or_else(|| format!("LINE answered HTTP {status}"));
                let details: Vec<String> = reply
                    .details
                    .iter()
                    .map(|d| format!("{}: {}", d.property.as_deref().unwrap_or("-"), d.message.as_deref().unwrap_or("")))
                    .collect();
                if !details.is_empty() {
                    message = format!("{message} ({})", details.join("; "));
                }
                // 429 is a rate limit, except the monthly message quota: retrying cannot help.
                let retryable = status >= 500 || (status == 429 && !message.to_ascii_lowercase().contains("monthly limit"));
                SendOutcome::Failed { code: status.to_string(), message, retryable }
            }
        }
    }
}

/// A push answer, or LINE's error body (`message`, `details`; on 409 also `sentMessages`).
#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    #[serde(default)]
    sent_messages: Vec<SentMessage>,
    message: Option<String>,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Default, Deserialize)]
struct SentMessage {
    id: String,
}

#[derive(Default, Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    property: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    events: Vec<Event>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    timestamp: Option<i64>,
    source: Option<Source>,
    webhook_event_id: Option<String>,
    message: Option<Message>,
    postback: Option<Postback>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Source {
    user_id: Option<String>,
    group_id: Option<String>,
    room_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    file_name: Option<String>,
    title: Option<String>,
    address: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct Postback {
    data: String,
}

impl Event {
    fn into_event(self) -> InboundEvent {
        let occurred_at = self.timestamp.map(Timestamp::from_millis);
        // The user writes; in a group without their consent only the group is known, and a
        // push to the group id reaches it.
        let sender = self
            .source
            .as_ref()
            .and_then(|s| s.user_id.clone().or_else(|| s.group_id.clone()).or_else(|| s.room_id.clone()))
            .map(|id| Sender { id, name: None, phone: None });
        let fallback_id =
            format!("{}:{}:{}", self.kind, sender.as_ref().map(|s| s.id.as_str()).unwrap_or("-"), self.timestamp.unwrap_or_default());
        let event_id = self.webhook_event_id.clone().unwrap_or(fallback_id);
        match (self.kind.as_str(), self.message, self.postback, sender) {
            ("message", Some(m), _, Some(sender)) => InboundEvent {
                provider_event_id: m.id.clone(),
                kind: InboundKind::Message { sender, provider_message_id: m.id.clone(), content: m.content() },
                occurred_at,
            },
            ("postback", _, Some(p), Some(sender)) => InboundEvent {
                provider_event_id: event_id.clone(),
                kind: InboundKind::Message {
                    sender,
                    provider_message_id: event_id,
                    content: Content::Button { text: p.data.clone(), payload: Some(p.data) },
                },
                occurred_at,
            },
            (_, _, _, sender) => {
                InboundEvent { provider_event_id: event_id, kind: InboundKind::Other { event_type: self.kind, sender }, occurred_at }
            }
        }
    }
}

impl Message {
    fn content(self) -> Content {
        // Media bytes are fetched later by message id from the content endpoint.
        let media = |kind: MediaKind, filename: Option<String>| Content::Media {
            kind,
            reference: self.id.clone(),
            mime_type: None,
            caption: None,
            filename,
        };
        match self.kind.as_str() {
            "text" => Content::Text { body: self.text.clone().unwrap_or_default() },
            "image" => media(MediaKind::Image, None),
            "video" => media(MediaKind::Video, None),
            "audio" => media(MediaKind::Audio, None),
            "file" => media(MediaKind::Document, self.file_name.clone()),
            "location" => match (self.latitude, self.longitude) {
                (Some(latitude), Some(longitude)) => Content::Location { latitude, longitude, name: self.title, address: self.address },
                _ => Content::Unsupported { description: "location".into() },
            },
            // A sticker is a package and sticker id with no content to download.
            other => Content::Unsupported { description: other.to_string() },
        }
    }
}
