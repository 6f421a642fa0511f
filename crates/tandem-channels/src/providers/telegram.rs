//! Telegram Bot API. Telegram does not sign update bodies: the `secret_token` given to
//! `setWebhook` comes back in `X-Telegram-Bot-Api-Secret-Token` on every update. Replies go
//! through `sendMessage` / `sendPhoto`...; Telegram has no delivery or read receipts for bots.

use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::Timestamp;

use crate::{
    error::ChannelError,
    inbound::{Content, InboundEvent, InboundKind, MediaKind, Sender, SharedContact},
    outbound::{HttpMethod, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    signature,
    webhook::WebhookRequest,
};

const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `123456:ABC-DEF...` from @BotFather; it is part of every method's URL.
    pub bot_token: String,
    /// The `secret_token` passed to `setWebhook`: 1-256 characters of `A-Z a-z 0-9 _ -`.
    pub secret_token: String,
}

/// Credentials stay out of logs.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("telegram::Settings").field("bot_token", &"<redacted>").field("secret_token", &"<redacted>").finish()
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("bot_token", &self.bot_token)?;
        let secret = required("secret_token", &self.secret_token)?;
        // setWebhook refuses anything else, so such a channel could never receive updates.
        if secret.len() > 256 || !secret.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ChannelError::InvalidSettings("`secret_token` must be 1-256 characters of A-Z, a-z, 0-9, `_` and `-`".into()));
        }
        Ok(())
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let sent =
            req.header(SECRET_HEADER).ok_or_else(|| ChannelError::BadSignature("missing X-Telegram-Bot-Api-Secret-Token header".into()))?;
        if signature::same(sent.as_bytes(), self.secret_token.as_bytes()) {
            Ok(())
        } else {
            Err(ChannelError::BadSignature("X-Telegram-Bot-Api-Secret-Token does not match the channel's secret_token".into()))
        }
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        let update: Update = serde_json::from_slice(req.body).map_err(|e| ChannelError::Malformed(format!("Telegram update: {e}")))?;
        Ok(vec![update.into_event()])
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        // A numeric chat id goes as a number; `@channelusername` stays a string.
        let chat_id = msg.recipient.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(msg.recipient.clone()));
        let mut body = Map::new();
        body.insert("chat_id".into(), chat_id);
        let method = match &msg.content {
            OutboundContent::Text { body: text } => {
                body.insert("text".into(), Value::from(text.clone()));
                "sendMessage"
            }
            OutboundContent::Media { kind, url, caption, .. } => {
                let (method, field) = match kind {
                    MediaKind::Image => ("sendPhoto", "photo"),
                    MediaKind::Video => ("sendVideo", "video"),
                    MediaKind::Audio => ("sendAudio", "audio"),
                    MediaKind::Document => ("sendDocument", "document"),
                    MediaKind::Sticker => ("sendSticker", "sticker"),
                };
                body.insert(field.into(), Value::from(url.clone()));
                // sendSticker takes no caption.
                if let (Some(caption), false) = (caption, *kind == MediaKind::Sticker) {
                    body.insert("caption".into(), Value::from(caption.clone()));
                }
                method
            }
            OutboundContent::Template { .. } => {
                return Err(ChannelError::Unsupported("templates are WhatsApp only; Telegram sends free-form messages".into()))
            }
        };
        Ok(OutboundRequest {
            method: HttpMethod::Post,
            url: format!("{}/bot{}/{method}", endpoints.telegram.trim_end_matches('/'), self.bot_token),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&Value::Object(body)).unwrap_or_default(),
        })
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        let http_retryable = status == 429 || status >= 500;
        let Ok(reply) = serde_json::from_slice::<Reply>(body) else {
            return if (200..300).contains(&status) {
                SendOutcome::Sent { provider_message_id: None }
            } else {
                SendOutcome::Failed {
                    code: status.to_string(),
                    message: format!("Telegram answered HTTP {status}"),
                    retryable: http_retryable,
                }
            };
        };
        if reply.ok && (200..300).contains(&status) {
            let id = reply.result.as_ref().and_then(|r| r.get("message_id")).and_then(Value::as_i64).map(|id| id.to_string());
            return SendOutcome::Sent { provider_message_id: id };
        }
        let code = reply.error_code.unwrap_or(i64::from(status));
        let mut message = reply.description.unwrap_or_else(|| format!("Telegram answered HTTP {status}"));
        if let Some(after) = reply.parameters.and_then(|p| p.retry_after).filter(|_| !message.contains("retry after")) {
            message.push_str(&format!(" (retry after {after} s)"));
        }
        // 400 (bad chat id, bad request) and 403 (bot blocked, kicked) will fail again.
        SendOutcome::Failed { code: code.to_string(), message, retryable: code == 429 || code >= 500 || http_retryable }
    }
}

/// The Bot API's answer to any method.
#[derive(Deserialize)]
struct Reply {
    #[serde(default)]
    ok: bool,
    result: Option<Value>,
    error_code: Option<i64>,
    description: Option<String>,
    parameters: Option<ResponseParameters>,
}

#[derive(Deserialize)]
struct ResponseParameters {
    retry_after: Option<u64>,
}

/// One `Update`: exactly one of its optional fields is set; the ones we do not read stay in
/// `rest` so they can be named.
#[derive(Deserialize)]
struct Update {
    update_id: i64,
    message: Option<Message>,
    edited_message: Option<Message>,
    callback_query: Option<CallbackQuery>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct Chat {
    id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
}

#[derive(Deserialize)]
struct User {
    id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
}

#[derive(Deserialize)]
struct Message {
    message_id: i64,
    date: i64,
    chat: Chat,
    from: Option<User>,
    edit_date: Option<i64>,
    text: Option<String>,
    caption: Option<String>,
    photo: Option<Vec<PhotoSize>>,
    video: Option<File>,
    video_note: Option<File>,
    animation: Option<File>,
    document: Option<File>,
    audio: Option<File>,
    voice: Option<File>,
    sticker: Option<File>,
    venue: Option<Venue>,
    location: Option<Location>,
    contact: Option<Contact>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct PhotoSize {
    file_id: String,
    #[serde(default)]
    width: u64,
    #[serde(default)]
    height: u64,
}

/// Document, Audio, Voice, Video, VideoNote, Animation and Sticker share these fields.
#[derive(Deserialize)]
struct File {
    file_id: String,
    file_name: Option<String>,
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
}

#[derive(Deserialize)]
struct Venue {
    location: Location,
    title: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    phone_number: String,
    first_name: String,
    last_name: Option<String>,
    user_id: Option<i64>,
}

#[derive(Deserialize)]
struct CallbackQuery {
    id: String,
    from: User,
    /// The message with the inline keyboard (possibly "inaccessible": then only chat and id).
    message: Option<CallbackMessage>,
    data: Option<String>,
}

#[derive(Deserialize)]
struct CallbackMessage {
    chat: Chat,
    reply_markup: Option<Value>,
}

/// Message contents Telegram has that Tandem does not render, named in the inbox.
const OTHER_CONTENT: &[&str] = &[
    "poll",
    "dice",
    "game",
    "story",
    "invoice",
    "successful_payment",
    "paid_media",
    "checklist",
    "giveaway",
    "web_app_data",
    "new_chat_members",
    "left_chat_member",
    "new_chat_title",
    "new_chat_photo",
    "pinned_message",
];

fn full_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name = [first, last].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
    (!name.is_empty()).then_some(name)
}

fn user_name(user: &User) -> Option<String> {
    full_name(user.first_name.as_deref(), user.last_name.as_deref())
}

fn chat_name(chat: &Chat) -> Option<String> {
    full_name(chat.first_name.as_deref(), chat.last_name.as_deref()).or_else(|| chat.title.clone())
}

fn seconds(s: i64) -> Option<Timestamp> {
    (s > 0).then(|| Timestamp::from_millis(s.saturating_mul(1000)))
}

impl Update {
    fn into_event(self) -> InboundEvent {
        if let Some(m) = self.message {
            return m.into_event(false);
        }
        if let Some(m) = self.edited_message {
            return m.into_event(true);
        }
        if let Some(q) = self.callback_query {
            return q.into_event();
        }
        let (event_type, inner) = self.rest.into_iter().next().unwrap_or_else(|| ("unknown".into(), Value::Null));
        InboundEvent {
            provider_event_id: format!("update:{}", self.update_id),
            kind: InboundKind::Other { event_type, sender: loose_sender(&inner) },
            occurred_at: inner.get("date").and_then(Value::as_i64).and_then(seconds),
        }
    }
}

/// The sender of an update type we do not model (`my_chat_member`, `inline_query`...).
fn loose_sender(inner: &Value) -> Option<Sender> {
    let from = inner.get("from");
    let id = inner.get("chat").and_then(|c| c.get("id")).or_else(|| from.and_then(|f| f.get("id"))).and_then(Value::as_i64)?;
    let name = from.and_then(|f| full_name(f.get("first_name").and_then(Value::as_str), f.get("last_name").and_then(Value::as_str)));
    Some(Sender { id: id.to_string(), name, phone: None })
}

impl Message {
    fn into_event(self, edited: bool) -> InboundEvent {
        let name = self.from.as_ref().and_then(user_name).or_else(|| chat_name(&self.chat));
        let own_phone = match (&self.contact, &self.from) {
            (Some(c), Some(f)) if c.user_id == Some(f.id) => Some(c.phone_number.clone()),
            _ => None,
        };
        let sender = Sender { id: self.chat.id.to_string(), name, phone: own_phone };
        // message_id is unique per chat only; an edit keeps it, so the edit is keyed apart.
        let provider_event_id = match (edited, self.edit_date) {
            (true, Some(at)) => format!("{}:{}:edited:{at}", self.chat.id, self.message_id),
            (true, None) => format!("{}:{}:edited", self.chat.id, self.message_id),
            (false, _) => format!("{}:{}", self.chat.id, self.message_id),
        };
        let occurred_at = if edited { self.edit_date.or(Some(self.date)).and_then(seconds) } else { seconds(self.date) };
        let provider_message_id = self.message_id.to_string();
        InboundEvent { provider_event_id, kind: InboundKind::Message { sender, provider_message_id, content: self.content() }, occurred_at }
    }

    fn content(self) -> Content {
        let caption = self.caption;
        // Telegram sends several sizes of a photo; the largest is the original.
        if let Some(photo) = self.photo.and_then(|sizes| sizes.into_iter().max_by_key(|p| p.width * p.height)) {
            return Content::Media { kind: MediaKind::Image, reference: photo.file_id, mime_type: None, caption, filename: None };
        }
        let media = |kind: MediaKind, f: File| Content::Media {
            kind,
            reference: f.file_id,
            mime_type: f.mime_type,
            caption: caption.clone(),
            filename: f.file_name,
        };
        if let Some(f) = self.video.or(self.video_note) {
            return media(MediaKind::Video, f);
        }
        // An animation (GIF) also fills `document`; the animation is the better description.
        if let Some(f) = self.animation {
            return media(MediaKind::Video, f);
        }
        if let Some(f) = self.document {
            return media(MediaKind::Document, f);
        }
        if let Some(f) = self.audio.or(self.voice) {
            return media(MediaKind::Audio, f);
        }
        if let Some(f) = self.sticker {
            return media(MediaKind::Sticker, f);
        }
        if let Some(v) = self.venue {
            return Content::Location { latitude: v.location.latitude, longitude: v.location.longitude, name: v.title, address: v.address };
        }
        if let Some(l) = self.location {
            return Content::Location { latitude: l.latitude, longitude: l.longitude, name: None, address: None };
        }
        if let Some(c) = self.contact {
            let name = full_name(Some(&c.first_name), c.last_name.as_deref()).unwrap_or_else(|| c.phone_number.clone());
            return Content::Contacts { contacts: vec![SharedContact { name, phones: vec![c.phone_number] }] };
        }
        if let Some(text) = self.text {
            return Content::Text { body: text };
        }
        let description = OTHER_CONTENT.iter().find(|k| self.rest.contains_key(**k)).copied().unwrap_or("message");
        Content::Unsupported { description: description.into() }
    }
}

impl CallbackQuery {
    fn into_event(self) -> InboundEvent {
        let chat_id = self.message.as_ref().map(|m| m.chat.id).unwrap_or(self.from.id);
        let sender = Sender { id: chat_id.to_string(), name: user_name(&self.from), phone: None };
        let content = match self.data {
            Some(data) => {
                let label = self.message.as_ref().and_then(|m| m.reply_markup.as_ref()).and_then(|k| button_label(k, &data));
                Content::Button { text: label.unwrap_or_else(|| data.clone()), payload: Some(data) }
            }
            None => Content::Unsupported { description: "game callback".into() },
        };
        InboundEvent {
            provider_event_id: self.id.clone(),
            kind: InboundKind::Message { sender, provider_message_id: self.id, content },
            occurred_at: None,
        }
    }
}

/// The text of the inline keyboard button whose `callback_data` is `data`.
fn button_label(markup: &Value, data: &str) -> Option<String> {
    markup
        .get("inline_keyboard")?
        .as_array()?
        .iter()
        .filter_map(Value::as_array)
        .flatten()
        .find(|b| b.get("callback_data").and_then(Value::as_str) == Some(data))
        .and_then(|b| b.get("text"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}
