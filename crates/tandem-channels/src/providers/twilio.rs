//! SMS and MMS through Twilio Programmable Messaging. Incoming messages and status callbacks are
//! form posts signed with `X-Twilio-Signature`: base64 HMAC-SHA1, keyed with the auth token, of
//! the full URL followed by every POST parameter's name and value in name order. The answer is
//! empty TwiML. Sends go to `POST {twilio}/2010-04-01/Accounts/{sid}/Messages.json` with HTTP
//! Basic `sid:auth_token`.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::meta::{body_excerpt, redacted};
use crate::{
    error::ChannelError,
    inbound::{Content, DeliveryStatus, InboundEvent, InboundKind, MediaKind, ProviderFailure, Sender},
    outbound::{HttpMethod, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    signature,
    webhook::{Ack, WebhookRequest},
};

pub const SIGNATURE_HEADER: &str = "x-twilio-signature";

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `AC...`: the account the messages are sent from, and the Basic auth user.
    pub account_sid: String,
    /// The account's primary auth token: Basic auth password and signature key.
    pub auth_token: String,
    /// The sending number in E.164 (`+14155550100`); or use a Messaging Service.
    #[serde(default)]
    pub from: Option<String>,
    /// `MG...`: lets Twilio pick the sender from the service's pool; preferred over `from`.
    #[serde(default)]
    pub messaging_service_sid: Option<String>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("twilio::Settings")
            .field("account_sid", &self.account_sid)
            .field("auth_token", &redacted(&self.auth_token))
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .finish()
    }
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Twilio codes worth retrying: 20429 too many requests, 20500 internal error, 20503 service
/// unavailable, 21730 system under maintenance. Not among them: 21211 invalid `To`, 21610
/// unsubscribed recipient, 21408 region not enabled, 20003 authentication.
const RETRYABLE: &[i64] = &[20429, 20500, 20503, 21730];

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("account_sid", &self.account_sid)?;
        required("auth_token", &self.auth_token)?;
        if present(&self.from).is_none() && present(&self.messaging_service_sid).is_none() {
            return Err(ChannelError::InvalidSettings("one of `from` or `messaging_service_sid` is required".into()));
        }
        Ok(())
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let sent = req.header(SIGNATURE_HEADER).ok_or_else(|| ChannelError::BadSignature("missing X-Twilio-Signature header".into()))?;
        let expected = expected_signature(&self.auth_token, req)?;
        if signature::same(sent.trim().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(ChannelError::BadSignature("X-Twilio-Signature does not match the URL and parameters".into()))
        }
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        parse_form(&form(req.body)?)
    }

    /// Empty TwiML: store the message, answer nothing.
    fn ack(&self) -> Ack {
        Ack { content_type: "text/xml", body: r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#.into() }
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let mut fields: Vec<(&str, &str)> = vec![("To", &msg.recipient)];
        match (present(&self.messaging_service_sid), present(&self.from)) {
            (Some(service), _) => fields.push(("MessagingServiceSid", service)),
            (None, Some(from)) => fields.push(("From", from)),
            (None, None) => return Err(ChannelError::InvalidSettings("one of `from` or `messaging_service_sid` is required".into())),
        }
        match &msg.content {
            OutboundContent::Text { body } => fields.push(("Body", body)),
            OutboundContent::Media { url, caption, .. } => {
                if let Some(caption) = caption.as_deref().filter(|c| !c.is_empty()) {
                    fields.push(("Body", caption));
                }
                fields.push(("MediaUrl", url));
            }
            OutboundContent::Template { .. } => return Err(ChannelError::Unsupported("templates are WhatsApp-only".into())),
        }
        let body = serde_urlencoded::to_string(&fields).map_err(|e| ChannelError::Unsupported(e.to_string()))?;
        let credentials = signature::base64(format!("{}:{}", self.account_sid, self.auth_token).as_bytes());
        Ok(OutboundRequest {
            method: HttpMethod::Post,
            url: format!("{}/2010-04-01/Accounts/{}/Messages.json", endpoints.twilio.trim_end_matches('/'), self.account_sid),
            headers: vec![
                ("Authorization".into(), format!("Basic {credentials}")),
                ("Content-Type".into(), "application/x-www-form-urlencoded".into()),
            ],
            body: body.into_bytes(),
        })
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        let json = serde_json::from_slice::<Value>(body).ok();
        if (200..300).contains(&status) {
            let sid = json.as_ref().and_then(|v| v.get("sid")).and_then(Value::as_str).map(str::to_string);
            return SendOutcome::Sent { provider_message_id: sid };
        }
        let http_retryable = status == 429 || status >= 500;
        let code = json.as_ref().and_then(|v| v.get("code")).and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
        let message = json.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str).map(str::to_string);
        match (code, message) {
            (Some(code), message) => SendOutcome::Failed {
                code: code.to_string(),
                message: message.unwrap_or_else(|| format!("Twilio error {code}")),
                retryable: http_retryable || RETRYABLE.contains(&code),
            },
            (None, Some(message)) => SendOutcome::Failed { code: format!("http_{status}"), message, retryable: http_retryable },
            (None, None) => SendOutcome::Failed { code: format!("http_{status}"), message: body_excerpt(body), retryable: http_retryable },
        }
    }
}

fn form(body: &[u8]) -> Result<Vec<(String, String)>, ChannelError> {
    serde_urlencoded::from_bytes(body).map_err(|e| ChannelError::Malformed(format!("not a form-encoded body: {e}")))
}

/// What Twilio signs. A JSON webhook carries `bodySHA256` in the URL instead of form parameters:
/// then the URL alone is signed and the body must hash to that value.
fn expected_signature(auth_token: &str, req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
    let mut data = req.url.to_string();
    match req.query_param("bodySHA256") {
        Some(hash) => {
            if !signature::same_hex(hash, &Sha256::digest(req.body)) {
                return Err(ChannelError::BadSignature("the body does not match `bodySHA256`".into()));
            }
        }
        None => {
            // Twilio's libraries sort by name, then by value for repeated names.
            let mut params = form(req.body).map_err(|_| ChannelError::BadSignature("the signed body is not form-encoded".into()))?;
            params.sort();
            for (name, value) in params {
                data.push_str(&name);
                data.push_str(&value);
            }
        }
    }
    Ok(signature::base64(&signature::hmac_sha1(auth_token.as_bytes(), data.as_bytes())))
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_form(params: &[(String, String)]) -> Result<Vec<InboundEvent>, ChannelError> {
    let sid = get(params, "MessageSid")
        .or_else(|| get(params, "SmsSid"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ChannelError::Malformed("no `MessageSid`".into()))?;
    match get(params, "MessageStatus").or_else(|| get(params, "SmsStatus")) {
        Some(status) if status != "received" && status != "receiving" => Ok(vec![status_event(params, sid, status)]),
        _ => inbound_events(params, sid),
    }
}

/// Titles of the delivery error codes a status callback carries most often.
fn error_title(code: &str) -> Option<&'static str> {
    Some(match code {
        "30001" => "Queue overflow",
        "30002" => "Account suspended",
        "30003" => "Unreachable destination handset",
        "30004" => "Message blocked",
        "30005" => "Unknown destination handset",
        "30006" => "Landline or unreachable carrier",
        "30007" => "Message filtered",
        "30008" => "Unknown error",
        "21610" => "Attempt to send to unsubscribed recipient",
        _ => return None,
    })
}

fn status_event(params: &[(String, String)], sid: &str, status: &str) -> InboundEvent {
    let delivery = match status {
        "sent" => Some(DeliveryStatus::Sent),
        "delivered" => Some(DeliveryStatus::Delivered),
        "read" => Some(DeliveryStatus::Read),
        "failed" | "undelivered" => Some(DeliveryStatus::Failed),
        _ => None,
    };
    let kind = match delivery {
        Some(delivery) => {
            let failure = (delivery == DeliveryStatus::Failed).then(|| {
                let code = get(params, "ErrorCode").filter(|c| !c.is_empty()).unwrap_or(status).to_string();
                let title = get(params, "ErrorMessage")
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .or_else(|| error_title(&code).map(str::to_string))
                    .unwrap_or_else(|| format!("message {status}"));
                ProviderFailure { code, title }
            });
            InboundKind::Status {
                provider_message_id: sid.into(),
                status: delivery,
                failure,
                recipient: get(params, "To").map(str::to_string),
            }
        }
        // queued, accepted, scheduled, sending, canceled...: on the way, or not ours to show.
        None => InboundKind::Other { event_type: format!("status_{status}"), sender: None },
    };
    InboundEvent { provider_event_id: format!("{sid}:{status}"), kind, occurred_at: None }
}

fn media_kind(content_type: &str) -> MediaKind {
    match content_type.split('/').next().unwrap_or_default() {
        "image" => MediaKind::Image,
        "video" => MediaKind::Video,
        "audio" => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

fn inbound_events(params: &[(String, String)], sid: &str) -> Result<Vec<InboundEvent>, ChannelError> {
    let from = get(params, "From").filter(|f| !f.is_empty()).ok_or_else(|| ChannelError::Malformed("no `From`".into()))?;
    // `whatsapp:+1415...` when the number is a WhatsApp sender on Twilio.
    let number = from.split_once(':').map_or(from, |(_, n)| n);
    let sender = Sender {
        id: from.to_string(),
        name: get(params, "ProfileName").filter(|n| !n.is_empty()).map(str::to_string),
        phone: number.starts_with('+').then(|| number.to_string()),
    };
    let body = get(params, "Body").unwrap_or_default();
    let count: usize = get(params, "NumMedia").and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    let mut contents = Vec::new();
    for i in 0..count {
        let Some(url) = get(params, &format!("MediaUrl{i}")) else { continue };
        let mime = get(params, &format!("MediaContentType{i}")).filter(|m| !m.is_empty());
        contents.push(Content::Media {
            kind: media_kind(mime.unwrap_or_default()),
            reference: url.to_string(),
            mime_type: mime.map(str::to_string),
            // The text of an MMS is the first picture's caption.
            caption: (contents.is_empty() && !body.is_empty()).then(|| body.to_string()),
            filename: None,
        });
    }
    if contents.is_empty() {
        let coordinates = (get(params, "Latitude").and_then(|l| l.parse().ok()), get(params, "Longitude").and_then(|l| l.parse().ok()));
        let content = match (get(params, "ButtonPayload"), coordinates) {
            // WhatsApp senders on Twilio: a tapped quick reply, a shared location.
            (Some(payload), _) => Content::Button {
                text: get(params, "ButtonText").filter(|t| !t.is_empty()).unwrap_or(body).to_string(),
                payload: Some(payload.to_string()),
            },
            (None, (Some(latitude), Some(longitude))) => Content::Location {
                latitude,
                longitude,
                name: get(params, "Label").filter(|l| !l.is_empty()).map(str::to_string),
                address: get(params, "Address").filter(|a| !a.is_empty()).map(str::to_string),
            },
            _ => Content::Text { body: body.to_string() },
        };
        contents.push(content);
    }
    Ok(contents
        .into_iter()
        .enumerate()
        .map(|(i, content)| {
            let id = if i == 0 { sid.to_string() } else { format!("{sid}:{i}") };
            InboundEvent {
                provider_event_id: id.clone(),
                kind: InboundKind::Message { sender: sender.clone(), provider_message_id: id, content },
                occurred_at: None,
            }
        })
        .collect())
}
