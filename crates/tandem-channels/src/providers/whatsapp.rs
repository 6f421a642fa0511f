//! WhatsApp Business Platform, Cloud API. Webhooks arrive as `object: whatsapp_business_account`
//! with `entry[].changes[]`; field `messages` carries customers' messages and the statuses of ours,
//! field `message_template_status_update` a template's review. Sends go to
//! `POST {graph}/{phone_number_id}/messages` with the access token as a bearer.

use std::fmt;

use serde::Deserialize;
use serde_json::{json, Value};

use super::meta::{self, lenient_int, Change};
use crate::{
    error::ChannelError,
    inbound::{Content, DeliveryStatus, InboundEvent, InboundKind, MediaKind, ProviderFailure, Sender, SharedContact},
    outbound::{OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    webhook::WebhookRequest,
};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The business number's id (not the number itself): the send URL names it.
    pub phone_number_id: String,
    /// A system user's permanent token with `whatsapp_business_messaging`.
    pub access_token: String,
    /// The Meta app's secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// What we told Meta to send back in the subscription handshake.
    pub verify_token: String,
    /// The WhatsApp Business Account, for template management.
    #[serde(default)]
    pub waba_id: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("whatsapp::Settings")
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &meta::redacted(&self.access_token))
            .field("app_secret", &meta::redacted(&self.app_secret))
            .field("verify_token", &meta::redacted(&self.verify_token))
            .field("waba_id", &self.waba_id)
            .finish()
    }
}

/// Cloud API codes worth retrying, on top of the Graph API's rate limits: 130429 throughput
/// reached, 131000 "something went wrong", 131016 service unavailable, 131056 pair rate limit,
/// 131057 account in maintenance, 133004 server temporarily unavailable. Not among them: 131026
/// undeliverable, 131047 re-engagement (window closed), 131048 spam rate limit, 190 expired token.
const RETRYABLE: &[i64] = &[130429, 131000, 131016, 131056, 131057, 133004];

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("phone_number_id", &self.phone_number_id)?;
        required("access_token", &self.access_token)?;
        required("app_secret", &self.app_secret)?;
        required("verify_token", &self.verify_token)?;
        Ok(())
    }

    fn handshake(&self, req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
        meta::handshake(&self.verify_token, req)
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        meta::verify(&self.app_secret, req)
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        parse_body(req.body)
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let url = format!("{}/{}/messages", endpoints.graph.trim_end_matches('/'), self.phone_number_id);
        Ok(meta::graph_post(url, &self.access_token, &send_body(msg)?))
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        meta::read_graph_response(status, body, message_id, RETRYABLE)
    }
}

/// `{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id": "wamid..."}]}`.
fn message_id(v: &Value) -> Option<String> {
    v.get("messages")?.get(0)?.get("id")?.as_str().map(str::to_string)
}

fn send_body(msg: &OutboundMessage) -> Result<Value, ChannelError> {
    let mut body = json!({ "messaging_product": "whatsapp", "recipient_type": "individual", "to": msg.recipient });
    match &msg.content {
        OutboundContent::Text { body: text } => {
            body["type"] = json!("text");
            body["text"] = json!({ "preview_url": false, "body": text });
        }
        OutboundContent::Media { kind, url, caption, filename } => {
            let mut media = json!({ "link": url });
            let caption = caption.as_deref().filter(|c| !c.trim().is_empty());
            if let Some(caption) = caption {
                // Only images, videos and documents take a caption.
                if matches!(kind, MediaKind::Audio | MediaKind::Sticker) {
                    return Err(ChannelError::Unsupported(format!(
                        "WhatsApp {} messages carry no caption: send it as its own text message",
                        kind.as_str()
                    )));
                }
                media["caption"] = json!(caption);
            }
            if let (MediaKind::Document, Some(name)) = (kind, filename.as_deref().filter(|f| !f.is_empty())) {
                media["filename"] = json!(name);
            }
            body["type"] = json!(kind.as_str());
            body[kind.as_str()] = media;
        }
        OutboundContent::Template { name, language, variables } => {
            let mut template = json!({ "name": name, "language": { "code": language } });
            if !variables.is_empty() {
                let parameters: Vec<Value> = variables.iter().map(|v| json!({ "type": "text", "text": v })).collect();
                template["components"] = json!([{ "type": "body", "parameters": parameters }]);
            }
            body["type"] = json!("template");
            body["template"] = template;
        }
    }
    Ok(body)
}

// ---------------------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct Body {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
struct Entry {
    #[serde(default, deserialize_with = "lenient_int")]
    time: Option<i64>,
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Debug, Default, Deserialize)]
struct MessagesValue {
    #[serde(default)]
    contacts: Vec<Contact>,
    #[serde(default)]
    messages: Vec<Message>,
    #[serde(default)]
    statuses: Vec<Status>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Debug, Deserialize)]
struct Contact {
    #[serde(default)]
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Debug, Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Message {
    from: String,
    id: String,
    #[serde(default, deserialize_with = "lenient_int")]
    timestamp: Option<i64>,
    #[serde(rename = "type", default)]
    kind: String,
    text: Option<Text>,
    image: Option<Media>,
    video: Option<Media>,
    audio: Option<Media>,
    document: Option<Media>,
    sticker: Option<Media>,
    location: Option<Location>,
    contacts: Option<Vec<WaContact>>,
    interactive: Option<Interactive>,
    button: Option<Button>,
    reaction: Option<Reaction>,
}

#[derive(Debug, Deserialize)]
struct Text {
    body: String,
}

#[derive(Debug, Deserialize)]
struct Media {
    id: String,
    #[serde(default)]
    mime_type: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Location {
    latitude: f64,
    longitude: f64,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct WaContact {
    #[serde(default)]
    name: Option<ContactName>,
    #[serde(default)]
    phones: Vec<ContactPhone>,
}

#[derive(Debug, Deserialize)]
struct ContactName {
    #[serde(default)]
    formatted_name: Option<String>,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ContactPhone {
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Interactive {
    #[serde(rename = "type", default)]
    kind: String,
    button_reply: Option<Reply>,
    list_reply: Option<Reply>,
}

#[derive(Debug, Deserialize)]
struct Reply {
    id: String,
    title: String,
}

/// A template's quick-reply button.
#[derive(Debug, Deserialize)]
struct Button {
    #[serde(default)]
    payload: Option<String>,
    text: String,
}

#[derive(Debug, Deserialize)]
struct Reaction {
    #[serde(default)]
    emoji: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Status {
    id: String,
    status: String,
    #[serde(default, deserialize_with = "lenient_int")]
    timestamp: Option<i64>,
    #[serde(default)]
    recipient_id: Option<String>,
    #[serde(default)]
    errors: Vec<WaError>,
}

#[derive(Debug, serde::Serialize, Deserialize)]
struct WaError {
    #[serde(default, deserialize_with = "lenient_int")]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TemplateValue {
    event: String,
    #[serde(default, deserialize_with = "lenient_int")]
    message_template_id: Option<i64>,
    #[serde(default)]
    message_template_name: String,
    #[serde(default)]
    message_template_language: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

fn parse_body(body: &[u8]) -> Result<Vec<InboundEvent>, ChannelError> {
    let body: Body = meta::json(body)?;
    if body.object != "whatsapp_business_account" {
        return Err(ChannelError::Malformed(format!("expected `object: whatsapp_business_account`, got `{}`", body.object)));
    }
    let mut events = Vec::new();
    for entry in body.entry {
        for change in entry.changes {
            match change.field.as_str() {
                "messages" => {
                    let value: MessagesValue =
                        serde_json::from_value(change.value).map_err(|e| ChannelError::Malformed(format!("messages change: {e}")))?;
                    messages_events(value, &mut events);
                }
                "message_template_status_update" => {
                    let value: TemplateValue = serde_json::from_value(change.value)
                        .map_err(|e| ChannelError::Malformed(format!("message_template_status_update change: {e}")))?;
                    events.push(template_event(value, entry.time));
                }
                _ => events.push(InboundEvent {
                    provider_event_id: meta::stable_id(&change.field, &change.value),
                    kind: InboundKind::Other { event_type: change.field, sender: None },
                    occurred_at: entry.time.map(meta::from_seconds),
                }),
            }
        }
    }
    Ok(events)
}

fn messages_events(value: MessagesValue, events: &mut Vec<InboundEvent>) {
    for message in value.messages {
        let name = value
            .contacts
            .iter()
            .find(|c| c.wa_id == message.from)
            .or_else(|| if value.contacts.len() == 1 { value.contacts.first() } else { None })
            .and_then(|c| c.profile.as_ref())
            .and_then(|p| p.name.clone());
        let sender = Sender { phone: Some(format!("+{}", message.from)), id: message.from.clone(), name };
        let occurred_at = message.timestamp.map(meta::from_seconds);
        let kind = match message.kind.as_str() {
            // "A customer changed their number" and the like: no content to show.
            "system" => InboundKind::Other { event_type: "system".into(), sender: Some(sender) },
            _ => {
                let provider_message_id = message.id.clone();
                InboundKind::Message { sender, provider_message_id, content: content(message.kind.clone(), &message) }
            }
        };
        events.push(InboundEvent { provider_event_id: message.id, kind, occurred_at });
    }
    for status in value.statuses {
        let occurred_at = status.timestamp.map(meta::from_seconds);
        let delivery = match status.status.as_str() {
            "sent" => Some(DeliveryStatus::Sent),
            "delivered" => Some(DeliveryStatus::Delivered),
            "read" => Some(DeliveryStatus::Read),
            "failed" => Some(DeliveryStatus::Failed),
            _ => None,
        };
        let provider_event_id = format!("{}:{}", status.id, status.status);
        let kind = match delivery {
            Some(delivery) => {
                let failure = status.errors.first().map(|e| ProviderFailure {
                    code: e.code.map_or_else(|| "unknown".into(), |c| c.to_string()),
                    title: e.title.clone().or_else(|| e.message.clone()).unwrap_or_default(),
                });
                InboundKind::Status { provider_message_id: status.id, status: delivery, failure, recipient: status.recipient_id }
            }
            None => InboundKind::Other { event_type: format!("status_{}", status.status), sender: None },
        };
        events.push(InboundEvent { provider_event_id, kind, occurred_at });
    }
    // Errors that concern no particular message (an app or account problem).
    for error in value.errors {
        events.push(InboundEvent {
            provider_event_id: meta::stable_id("error", &error),
            kind: InboundKind::Other { event_type: "error".into(), sender: None },
            occurred_at: None,
        });
    }
}

fn media(kind: MediaKind, m: &Media) -> Content {
    Content::Media {
        kind,
        reference: m.id.clone(),
        mime_type: m.mime_type.clone(),
        caption: m.caption.clone().filter(|c| !c.is_empty()),
        filename: m.filename.clone().filter(|f| !f.is_empty()),
    }
}

fn content(kind: String, m: &Message) -> Content {
    let found = match kind.as_str() {
        "text" => m.text.as_ref().map(|t| Content::Text { body: t.body.clone() }),
        "image" => m.image.as_ref().map(|x| media(MediaKind::Image, x)),
        "video" => m.video.as_ref().map(|x| media(MediaKind::Video, x)),
        "audio" => m.audio.as_ref().map(|x| media(MediaKind::Audio, x)),
        "document" => m.document.as_ref().map(|x| media(MediaKind::Document, x)),
        "sticker" => m.sticker.as_ref().map(|x| media(MediaKind::Sticker, x)),
        "location" => m.location.as_ref().map(|l| Content::Location {
            latitude: l.latitude,
            longitude: l.longitude,
            name: l.name.clone(),
            address: l.address.clone(),
        }),
        "contacts" => m.contacts.as_ref().map(|cs| Content::Contacts { contacts: cs.iter().map(shared_contact).collect() }),
        "interactive" => m
            .interactive
            .as_ref()
            .and_then(|i| match i.kind.as_str() {
                "button_reply" => i.button_reply.as_ref(),
                "list_reply" => i.list_reply.as_ref(),
                _ => None,
            })
            .map(|r| Content::Button { text: r.title.clone(), payload: Some(r.id.clone()) }),
        "button" => m.button.as_ref().map(|b| Content::Button { text: b.text.clone(), payload: b.payload.clone() }),
        "reaction" => m.reaction.as_ref().map(|r| match r.emoji.as_deref().filter(|e| !e.is_empty()) {
            Some(emoji) => Content::Unsupported { description: format!("reaction {emoji}") },
            None => Content::Unsupported { description: "reaction removed".into() },
        }),
        _ => None,
    };
    found.unwrap_or_else(|| Content::Unsupported {
        description: match kind.as_str() {
            "" | "unsupported" | "unknown" => "unsupported message".into(),
            "interactive" => "interactive reply".into(),
            other => other.replace('_', " "),
        },
    })
}

fn shared_contact(c: &WaContact) -> SharedContact {
    let name = c.name.as_ref().map(|n| {
        n.formatted_name
            .clone()
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| [n.first_name.as_deref(), n.last_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" "))
    });
    SharedContact { name: name.unwrap_or_default(), phones: c.phones.iter().filter_map(|p| p.phone.clone()).collect() }
}

fn template_event(t: TemplateValue, entry_time: Option<i64>) -> InboundEvent {
    let which = t.message_template_id.map_or_else(|| t.message_template_name.clone(), |id| id.to_string());
    let language = t.message_template_language.clone().unwrap_or_default();
    let provider_event_id = format!("template:{which}:{language}:{}:{}", t.event, entry_time.unwrap_or_default());
    InboundEvent {
        provider_event_id,
        kind: InboundKind::TemplateStatus {
            name: t.message_template_name,
            language: t.message_template_language,
            status: t.event,
            // Meta writes "NONE" when there is no reason.
            reason: t.reason.filter(|r| !r.is_empty() && r != "NONE"),
        },
        occurred_at: entry_time.map(meta::from_seconds),
    }
}
