//! What the three Meta providers (WhatsApp, Messenger, Instagram) share: the GET handshake that
//! proves we own the callback URL, the `X-Hub-Signature-256` body signature, the Graph API error
//! shape and how it is retried, and (Messenger and Instagram only) the `entry[].messaging[]`
//! webhook and the Send API body, which the two platforms have in common.

use serde::{de::Error as _, Deserialize, Deserializer, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use tandem_core::Timestamp;

use crate::{
    error::ChannelError,
    inbound::{Content, DeliveryStatus, InboundEvent, InboundKind, MediaKind, Sender},
    outbound::{HttpMethod, MessageTag, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    signature,
    webhook::WebhookRequest,
};

/// Meta signs every POST body with the app secret: `sha256=<hex HMAC-SHA256>`.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// The subscription handshake: Meta sends `hub.mode=subscribe`, the verify token we gave it and a
/// challenge we must echo back as the body.
pub fn handshake(verify_token: &str, req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
    if req.query_param("hub.mode") != Some("subscribe") {
        return Err(ChannelError::BadSignature("`hub.mode` is not `subscribe`".into()));
    }
    let sent = req.query_param("hub.verify_token").ok_or_else(|| ChannelError::BadSignature("missing `hub.verify_token`".into()))?;
    if !signature::same(sent.as_bytes(), verify_token.as_bytes()) {
        return Err(ChannelError::BadSignature("`hub.verify_token` does not match the channel's verify token".into()));
    }
    req.query_param("hub.challenge")
        .map(str::to_string)
        .ok_or_else(|| ChannelError::Malformed("the handshake has no `hub.challenge` to answer".into()))
}

/// Checks `X-Hub-Signature-256` against the raw body, in constant time.
pub fn verify(app_secret: &str, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
    let header = req.header(SIGNATURE_HEADER).ok_or_else(|| ChannelError::BadSignature("missing X-Hub-Signature-256 header".into()))?;
    let sent = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or_else(|| ChannelError::BadSignature("X-Hub-Signature-256 is not `sha256=<hex>`".into()))?;
    if signature::same_hex(sent, &signature::hmac_sha256(app_secret.as_bytes(), req.body)) {
        Ok(())
    } else {
        Err(ChannelError::BadSignature("X-Hub-Signature-256 does not match the body".into()))
    }
}

/// Parses a JSON body; anything that is not the documented shape is `Malformed`.
pub(crate) fn json<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, ChannelError> {
    serde_json::from_slice(body).map_err(|e| ChannelError::Malformed(e.to_string()))
}

/// Meta's Unix times: WhatsApp sends seconds (as strings), Messenger milliseconds.
pub(crate) fn from_seconds(s: i64) -> Timestamp {
    Timestamp::from_millis(s.saturating_mul(1000))
}

/// A dedup key for an event that carries no id of its own: the same payload, redelivered, gives
/// the same key.
pub(crate) fn stable_id(prefix: &str, value: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(value).unwrap_or_default();
    format!("{prefix}:{}", &hex::encode(Sha256::digest(bytes))[..32])
}

/// An integer Meta sends as a number in one place and a string in another (timestamps, codes).
pub(crate) fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        I(i64),
        F(f64),
        S(String),
    }
    match Option::<Int>::deserialize(d)? {
        None => Ok(None),
        Some(Int::I(i)) => Ok(Some(i)),
        Some(Int::F(f)) => Ok(Some(f as i64)),
        Some(Int::S(s)) if s.trim().is_empty() => Ok(None),
        Some(Int::S(s)) => s.trim().parse().map(Some).map_err(|_| D::Error::custom(format!("`{s}` is not an integer"))),
    }
}

/// A JSON POST to the Graph API with the token as a bearer header (kept out of the URL, so it
/// never lands in logs or in a transport error's message).
pub(crate) fn graph_post(url: String, token: &str, body: &Value) -> OutboundRequest {
    OutboundRequest {
        method: HttpMethod::Post,
        url,
        headers: vec![("Authorization".into(), format!("Bearer {token}")), ("Content-Type".into(), "application/json".into())],
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// `{"error": {...}}`, the Graph API's error answer.
#[derive(Debug, Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default, deserialize_with = "lenient_int")]
    code: Option<i64>,
    #[serde(default)]
    is_transient: bool,
    #[serde(default)]
    error_data: Option<Value>,
}

/// Graph API codes that mean "try again later": 1 unknown / 2 service (temporary downtime), 4, 17,
/// 32, 341, 613 (application, user, page and hourly call limits); the 80000–80014 business use
/// case rate limits (80002 Instagram, 80006 Messenger, 80007 WhatsApp Business Account).
fn graph_retryable(code: i64) -> bool {
    matches!(code, 1 | 2 | 4 | 17 | 32 | 341 | 613 | 80000..=80014)
}

/// Reads a Graph API send answer: the message id on success (`id_of` knows where each platform
/// puts it), the provider's own code otherwise. `retryable_codes`: the platform's transient codes
/// on top of the Graph API's.
pub(crate) fn read_graph_response(status: u16, body: &[u8], id_of: fn(&Value) -> Option<String>, retryable_codes: &[i64]) -> SendOutcome {
    let http_retryable = status == 429 || status >= 500;
    if (200..300).contains(&status) {
        let id = serde_json::from_slice::<Value>(body).ok().as_ref().and_then(id_of);
        return SendOutcome::Sent { provider_message_id: id };
    }
    match serde_json::from_slice::<GraphErrorBody>(body) {
        Ok(GraphErrorBody { error }) => {
            let details = error.error_data.as_ref().and_then(|d| d.get("details")).and_then(Value::as_str).filter(|d| !d.is_empty());
            let message = match details {
                Some(d) if d != error.message => format!("{}: {d}", error.message),
                _ => error.message.clone(),
            };
            let retryable =
                http_retryable || error.is_transient || error.code.is_some_and(|c| graph_retryable(c) || retryable_codes.contains(&c));
            let code = error.code.map_or_else(|| format!("http_{status}"), |c| c.to_string());
            SendOutcome::Failed { code, message, retryable }
        }
        Err(_) => SendOutcome::Failed { code: format!("http_{status}"), message: body_excerpt(body), retryable: http_retryable },
    }
}

/// The start of a body that is not the documented error JSON (a proxy's HTML page).
pub(crate) fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "the provider answered with an empty body".into()
    } else {
        text.chars().take(300).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Messenger and Instagram: `entry[].messaging[]` webhooks and the Send API.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct MessagingBody {
    object: String,
    #[serde(default)]
    entry: Vec<MessagingEntry>,
}

#[derive(Debug, Deserialize)]
struct MessagingEntry {
    #[serde(default, deserialize_with = "lenient_int")]
    time: Option<i64>,
    #[serde(default)]
    messaging: Vec<Messaging>,
    /// Handover protocol: events for a thread another app currently owns.
    #[serde(default)]
    standby: Vec<Value>,
    /// Non-messaging fields (comments, mentions, feed).
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Change {
    #[serde(default)]
    pub field: String,
    #[serde(default)]
    pub value: Value,
}

#[derive(Debug, Deserialize)]
struct Party {
    #[serde(deserialize_with = "id_string")]
    id: String,
}

/// Ids are strings in the documentation, but accept a number rather than drop the event.
fn id_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(D::Error::custom(format!("an id must be a string, not {other}"))),
    }
}

#[derive(Debug, Deserialize)]
struct Messaging {
    sender: Option<Party>,
    recipient: Option<Party>,
    #[serde(default, deserialize_with = "lenient_int")]
    timestamp: Option<i64>,
    message: Option<Message>,
    postback: Option<Postback>,
    delivery: Option<Delivery>,
    read: Option<Read>,
    reaction: Option<Reaction>,
    /// Whatever else the event carries (optins, referral, message_edit...): its first key names it.
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
struct Message {
    mid: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    attachments: Vec<Attachment>,
    #[serde(default)]
    quick_reply: Option<QuickReply>,
    #[serde(default)]
    is_echo: bool,
    #[serde(default)]
    is_deleted: bool,
    #[serde(default)]
    is_unsupported: bool,
    #[serde(default)]
    sticker_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Attachment {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<AttachmentPayload>,
    #[serde(default)]
    title: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct AttachmentPayload {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    coordinates: Option<Coordinates>,
    #[serde(default)]
    sticker_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct Coordinates {
    lat: f64,
    long: f64,
}

#[derive(Debug, Deserialize)]
struct QuickReply {
    payload: String,
}

#[derive(Debug, Deserialize)]
struct Postback {
    #[serde(default)]
    mid: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    payload: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delivery {
    #[serde(default)]
    mids: Vec<String>,
    #[serde(default, deserialize_with = "lenient_int")]
    watermark: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Read {
    /// Instagram names the message read.
    #[serde(default)]
    mid: Option<String>,
    /// Messenger only says "everything up to this time".
    #[serde(default, deserialize_with = "lenient_int")]
    watermark: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Reaction {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    emoji: Option<String>,
    #[serde(default)]
    reaction: Option<String>,
}

/// The events of a Messenger (`object: page`) or Instagram (`object: instagram`) webhook body.
pub(crate) fn messaging_events(body: &[u8], object: &str) -> Result<Vec<InboundEvent>, ChannelError> {
    let body: MessagingBody = json(body)?;
    if body.object != object {
        return Err(ChannelError::Malformed(format!("expected `object: {object}`, got `{}`", body.object)));
    }
    let mut events = Vec::new();
    for entry in body.entry {
        let entry_time = entry.time.map(Timestamp::from_millis);
        for item in entry.messaging {
            messaging_item(item, &mut events)?;
        }
        for item in entry.standby {
            events.push(InboundEvent {
                provider_event_id: stable_id("standby", &item),
                kind: InboundKind::Other { event_type: "standby".into(), sender: None },
                occurred_at: entry_time,
            });
        }
        for change in entry.changes {
            events.push(InboundEvent {
                provider_event_id: stable_id(&change.field, &change.value),
                kind: InboundKind::Other { event_type: change.field, sender: None },
                occurred_at: entry_time,
            });
        }
    }
    Ok(events)
}

fn person(id: String) -> Sender {
    Sender { id, name: None, phone: None }
}

fn messaging_item(item: Messaging, events: &mut Vec<InboundEvent>) -> Result<(), ChannelError> {
    let occurred_at = item.timestamp.map(Timestamp::from_millis);
    let ts = item.timestamp.unwrap_or_default();
    let sender = item.sender.map(|p| p.id).ok_or_else(|| ChannelError::Malformed("a messaging event has no `sender.id`".into()))?;
    let mut push = |provider_event_id: String, kind: InboundKind| events.push(InboundEvent { provider_event_id, kind, occurred_at });

    if let Some(message) = item.message {
        let mid = message.mid.clone();
        if message.is_echo {
            // Our own send, echoed back; the customer is its recipient.
            let customer = item.recipient.map(|p| person(p.id));
            push(format!("{mid}:echo"), InboundKind::Other { event_type: "echo".into(), sender: customer });
        } else if message.is_deleted {
            push(format!("{mid}:deleted"), InboundKind::Other { event_type: "message_deleted".into(), sender: Some(person(sender)) });
        } else {
            for (i, content) in message_contents(message).into_iter().enumerate() {
                // One event per attachment: the first keeps the provider's id, so replies and
                // receipts naming it find it.
                let id = if i == 0 { mid.clone() } else { format!("{mid}:{i}") };
                push(id.clone(), InboundKind::Message { sender: person(sender.clone()), provider_message_id: id, content });
            }
        }
    } else if let Some(postback) = item.postback {
        let id = postback.mid.clone().unwrap_or_else(|| format!("postback:{sender}:{ts}"));
        let text = postback.title.clone().or_else(|| postback.payload.clone()).unwrap_or_default();
        let content = Content::Button { text, payload: postback.payload };
        push(id.clone(), InboundKind::Message { sender: person(sender), provider_message_id: id, content });
    } else if let Some(delivery) = item.delivery {
        if delivery.mids.is_empty() {
            let id = format!("delivery:{sender}:{}", delivery.watermark.unwrap_or(ts));
            push(id, InboundKind::Other { event_type: "delivery".into(), sender: Some(person(sender.clone())) });
        }
        for mid in delivery.mids {
            let kind = InboundKind::Status {
                provider_message_id: mid.clone(),
                status: DeliveryStatus::Delivered,
                failure: None,
                recipient: Some(sender.clone()),
            };
            push(format!("{mid}:delivered"), kind);
        }
    } else if let Some(read) = item.read {
        match read.mid {
            Some(mid) => {
                let kind = InboundKind::Status {
                    provider_message_id: mid.clone(),
                    status: DeliveryStatus::Read,
                    failure: None,
                    recipient: Some(sender),
                };
                push(format!("{mid}:read"), kind);
            }
            // Messenger names no message, only a watermark: everything sent before it was read.
            None => {
                let id = format!("read:{sender}:{}", read.watermark.unwrap_or(ts));
                push(id, InboundKind::Other { event_type: "read".into(), sender: Some(person(sender)) });
            }
        }
    } else if let Some(reaction) = item.reaction {
        let description = match (reaction.action.as_deref(), reaction.emoji.or(reaction.reaction)) {
            (Some("unreact"), _) => "reaction removed".to_string(),
            (_, Some(emoji)) => format!("reaction {emoji}"),
            (_, None) => "reaction".to_string(),
        };
        let id = format!("reaction:{sender}:{ts}");
        push(
            id.clone(),
            InboundKind::Message { sender: person(sender), provider_message_id: id, content: Content::Unsupported { description } },
        );
    } else {
        let event_type = item.rest.keys().next().cloned().unwrap_or_else(|| "unknown".into());
        push(format!("{event_type}:{sender}:{ts}"), InboundKind::Other { event_type, sender: Some(person(sender)) });
    }
    Ok(())
}

/// A message's contents: a quick reply, its text, then each attachment.
fn message_contents(message: Message) -> Vec<Content> {
    if message.is_unsupported {
        return vec![Content::Unsupported { description: "unsupported message".into() }];
    }
    let mut contents = Vec::new();
    match (message.quick_reply, message.text) {
        (Some(qr), text) => contents.push(Content::Button { text: text.unwrap_or_else(|| qr.payload.clone()), payload: Some(qr.payload) }),
        (None, Some(text)) if !text.is_empty() => contents.push(Content::Text { body: text }),
        _ => {}
    }
    let is_sticker = message.sticker_id.is_some();
    for attachment in message.attachments {
        contents.push(attachment_content(attachment, is_sticker));
    }
    if contents.is_empty() {
        contents.push(Content::Unsupported { description: "empty message".into() });
    }
    contents
}

fn attachment_content(attachment: Attachment, is_sticker: bool) -> Content {
    let payload = attachment.payload.unwrap_or_default();
    let kind = match attachment.kind.as_str() {
        "image" if is_sticker || payload.sticker_id.is_some() => Some(MediaKind::Sticker),
        "image" | "animated_image" => Some(MediaKind::Image),
        "video" => Some(MediaKind::Video),
        "audio" => Some(MediaKind::Audio),
        "file" => Some(MediaKind::Document),
        "location" => {
            return match payload.coordinates {
                Some(c) => {
                    Content::Location { latitude: c.lat, longitude: c.long, name: attachment.title.or(payload.title), address: None }
                }
                None => Content::Unsupported { description: "location".into() },
            };
        }
        _ => None,
    };
    match (kind, payload.url) {
        (Some(kind), Some(url)) => Content::Media { kind, reference: url, mime_type: None, caption: None, filename: None },
        (_, url) => {
            // Shared posts, reels, story mentions, link previews, templates: named, not rendered.
            let label = match attachment.kind.as_str() {
                "fallback" => "shared link".to_string(),
                "share" => "shared post".to_string(),
                "ig_reel" | "reel" => "reel".to_string(),
                other => other.replace('_', " "),
            };
            let description = match attachment.title.or(payload.title).or(url) {
                Some(detail) => format!("{label}: {detail}"),
                None => label,
            };
            Content::Unsupported { description }
        }
    }
}

/// The Send API body both platforms take. `messaging_type`: Messenger requires one (`RESPONSE`
/// inside the window); Instagram needs one only to carry a tag.
pub(crate) fn messaging_send(url: String, token: &str, msg: &OutboundMessage, always_typed: bool) -> Result<OutboundRequest, ChannelError> {
    let message = match &msg.content {
        OutboundContent::Text { body } => json!({ "text": body }),
        OutboundContent::Media { kind, url, caption, filename: _ } => {
            if caption.as_deref().is_some_and(|c| !c.trim().is_empty()) {
                return Err(ChannelError::Unsupported(
                    "Meta attachments carry no caption: send the caption as its own text message".into(),
                ));
            }
            let kind = match kind {
                MediaKind::Image | MediaKind::Sticker => "image",
                MediaKind::Video => "video",
                MediaKind::Audio => "audio",
                MediaKind::Document => "file",
            };
            json!({ "attachment": { "type": kind, "payload": { "url": url } } })
        }
        OutboundContent::Template { .. } => {
            return Err(ChannelError::Unsupported("templates are WhatsApp-only".into()));
        }
    };
    let mut body = json!({ "recipient": { "id": msg.recipient }, "message": message });
    match msg.tag {
        Some(MessageTag::HumanAgent) => {
            body["messaging_type"] = json!("MESSAGE_TAG");
            body["tag"] = json!("HUMAN_AGENT");
        }
        None if always_typed => body["messaging_type"] = json!("RESPONSE"),
        None => {}
    }
    Ok(graph_post(url, token, &body))
}

/// `{"recipient_id": "...", "message_id": "..."}`.
pub(crate) fn send_api_message_id(v: &Value) -> Option<String> {
    v.get("message_id").and_then(Value::as_str).map(str::to_string)
}

/// Send API codes worth retrying: 1200 "temporary send message failure".
pub(crate) const SEND_API_RETRYABLE: &[i64] = &[1200];

/// Settings' `Debug` without their secrets.
pub(crate) fn redacted(value: &str) -> &'static str {
    if value.is_empty() {
        "<empty>"
    } else {
        "<redacted>"
    }
}
