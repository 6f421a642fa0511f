//! WeChat Official Account, plaintext message mode. Every callback (the GET handshake and each
//! POST) carries `signature` = SHA-1 of the server-config token, `timestamp` and `nonce`, sorted
//! and joined; POST bodies are XML. Replies are customer-service messages, which need a
//! short-lived access token (fetched and cached by [`crate::send::ChannelSender`]) and are only
//! allowed within 48 hours of the user's last message.

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
    webhook::{Ack, WebhookRequest},
};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// AppID (`wx...`): also the key of the cached access token.
    pub app_id: String,
    /// AppSecret, exchanged for access tokens.
    pub app_secret: String,
    /// The Token entered in the server configuration: the signature key.
    pub token: String,
}

/// Secrets stay out of logs.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("wechat::Settings")
            .field("app_id", &self.app_id)
            .field("app_secret", &"<redacted>")
            .field("token", &"<redacted>")
            .finish()
    }
}

impl Settings {
    /// The access-token request: `GET /cgi-bin/token?grant_type=client_credential&appid=&secret=`.
    pub fn token_request(&self, endpoints: &Endpoints) -> OutboundRequest {
        let query = serde_urlencoded::to_string([
            ("grant_type", "client_credential"),
            ("appid", self.app_id.as_str()),
            ("secret", self.app_secret.as_str()),
        ])
        .unwrap_or_default();
        OutboundRequest {
            method: HttpMethod::Get,
            url: format!("{}/cgi-bin/token?{query}", endpoints.wechat.trim_end_matches('/')),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
struct TokenReply {
    access_token: Option<String>,
    expires_in: Option<u64>,
    #[serde(default)]
    errcode: i64,
    errmsg: Option<String>,
}

/// Reads the token endpoint's answer: `(access_token, expires_in seconds)`.
pub fn read_token(status: u16, body: &[u8]) -> Result<(String, u64), SendOutcome> {
    if status >= 500 || status == 429 {
        return Err(SendOutcome::Failed {
            code: status.to_string(),
            message: format!("WeChat token endpoint answered HTTP {status}"),
            retryable: true,
        });
    }
    let reply: TokenReply = serde_json::from_slice(body).map_err(|e| SendOutcome::Failed {
        code: status.to_string(),
        message: format!("WeChat token endpoint answered HTTP {status}: {e}"),
        retryable: false,
    })?;
    match reply {
        TokenReply { access_token: Some(token), errcode: 0, expires_in, .. } if !token.is_empty() => {
            Ok((token, expires_in.unwrap_or(7200)))
        }
        TokenReply { errcode, errmsg, .. } => Err(SendOutcome::Failed {
            code: errcode.to_string(),
            message: errmsg.unwrap_or_else(|| "WeChat gave no access token".into()),
            // Here 40001 is a wrong AppSecret, 40013 a wrong AppID, 40164 an IP not on the
            // allow list: only "system busy" and the daily quota pass with time.
            retryable: errcode == -1 || errcode == 45009,
        }),
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("app_id", &self.app_id)?;
        required("app_secret", &self.app_secret)?;
        required("token", &self.token)?;
        Ok(())
    }

    /// The server-configuration check: a valid signature is answered with `echostr`.
    fn handshake(&self, req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
        self.verify(req)?;
        req.query_param("echostr").map(str::to_owned).ok_or_else(|| ChannelError::Malformed("WeChat handshake without `echostr`".into()))
    }

    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        let param = |name: &str| {
            req.query_param(name).ok_or_else(|| ChannelError::BadSignature(format!("missing `{name}` query parameter (WeChat signature)")))
        };
        let sent = param("signature")?;
        let (timestamp, nonce) = (param("timestamp")?, param("nonce")?);
        let expected = expected_signature(&self.token, timestamp, nonce);
        if signature::same(sent.trim().to_ascii_lowercase().as_bytes(), expected.as_bytes()) {
            Ok(())
        } else {
            Err(ChannelError::BadSignature("`signature` does not match the server-config token".into()))
        }
    }

    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        if req.query_param("encrypt_type").is_some_and(|t| t != "raw") {
            return Err(ChannelError::Unsupported(
                "WeChat safe (encrypted) mode is not supported: set message encryption to plaintext in the server configuration".into(),
            ));
        }
        let text = std::str::from_utf8(req.body).map_err(|_| ChannelError::Malformed("WeChat body is not UTF-8".into()))?;
        let xml: Xml = quick_xml::de::from_str(text).map_err(|e| ChannelError::Malformed(format!("WeChat XML: {e}")))?;
        if xml.msg_type.is_none() && xml.encrypt.is_some() {
            return Err(ChannelError::Unsupported("WeChat encrypted message bodies are not supported: use plaintext mode".into()));
        }
        Ok(vec![xml.into_event()?])
    }

    /// WeChat retries a callback three times unless answered `success` (or an empty body).
    fn ack(&self) -> Ack {
        Ack { content_type: "text/plain", body: "success".into() }
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let token = access_token
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ChannelError::InvalidSettings("a WeChat send needs an access token (fetched by the sender)".into()))?;
        let body = match &msg.content {
            OutboundContent::Text { body } => json!({ "touser": msg.recipient, "msgtype": "text", "text": { "content": body } }),
            OutboundContent::Media { .. } => {
                return Err(ChannelError::Unsupported(
                    "WeChat customer-service media needs a media_id from its upload API; a URL cannot be sent".into(),
                ))
            }
            OutboundContent::Template { .. } => {
                return Err(ChannelError::Unsupported("templates are WhatsApp only; WeChat sends free-form messages".into()))
            }
        };
        let query = serde_urlencoded::to_string([("access_token", token)]).unwrap_or_default();
        Ok(OutboundRequest {
            method: HttpMethod::Post,
            url: format!("{}/cgi-bin/message/custom/send?{query}", endpoints.wechat.trim_end_matches('/')),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap_or_default(),
        })
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        if status >= 500 || status == 429 {
            return SendOutcome::Failed { code: status.to_string(), message: format!("WeChat answered HTTP {status}"), retryable: true };
        }
        let Ok(reply) = serde_json::from_slice::<SendReply>(body) else {
            return SendOutcome::Failed {
                code: status.to_string(),
                message: format!("WeChat answered HTTP {status} without errcode"),
                retryable: false,
            };
        };
        if reply.errcode == 0 {
            // The customer-service API returns no message id.
            return SendOutcome::Sent { provider_message_id: None };
        }
        SendOutcome::Failed {
            code: reply.errcode.to_string(),
            message: reply.errmsg.unwrap_or_else(|| format!("WeChat errcode {}", reply.errcode)),
            retryable: send_retryable(reply.errcode),
        }
    }
}

/// -1: system busy; 40001/40014/42001: the access token is invalid or expired, and the sender
/// drops it so the retry fetches a new one; 45009: the daily API quota, reset tomorrow.
/// Not retried: 45015 (the 48 h window has closed), 45047 (too many messages since the user
/// last wrote: they must write again), 40003 (not a follower's OpenID), 43004 (unsubscribed).
fn send_retryable(errcode: i64) -> bool {
    matches!(errcode, -1 | 40001 | 40014 | 42001 | 45009)
}

#[derive(Deserialize)]
struct SendReply {
    errcode: i64,
    errmsg: Option<String>,
}

/// SHA-1 hex of the sorted, concatenated `[token, timestamp, nonce]`.
pub fn expected_signature(token: &str, timestamp: &str, nonce: &str) -> String {
    let mut parts = [token, timestamp, nonce];
    parts.sort_unstable();
    signature::sha1_hex(parts.concat().as_bytes())
}

/// One pushed message or event; fields not listed are ignored.
#[derive(Deserialize)]
struct Xml {
    #[serde(rename = "FromUserName")]
    from_user_name: Option<String>,
    #[serde(rename = "CreateTime")]
    create_time: Option<String>,
    #[serde(rename = "MsgType")]
    msg_type: Option<String>,
    #[serde(rename = "Content")]
    content: Option<String>,
    #[serde(rename = "MsgId")]
    msg_id: Option<String>,
    #[serde(rename = "MediaId")]
    media_id: Option<String>,
    #[serde(rename = "Format")]
    format: Option<String>,
    #[serde(rename = "Recognition")]
    recognition: Option<String>,
    #[serde(rename = "Location_X")]
    location_x: Option<String>,
    #[serde(rename = "Location_Y")]
    location_y: Option<String>,
    #[serde(rename = "Label")]
    label: Option<String>,
    #[serde(rename = "Title")]
    title: Option<String>,
    #[serde(rename = "Description")]
    description: Option<String>,
    #[serde(rename = "Url")]
    url: Option<String>,
    #[serde(rename = "Event")]
    event: Option<String>,
    #[serde(rename = "EventKey")]
    event_key: Option<String>,
    #[serde(rename = "Encrypt")]
    encrypt: Option<String>,
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl Xml {
    fn into_event(self) -> Result<InboundEvent, ChannelError> {
        let msg_type = non_empty(self.msg_type.clone()).ok_or_else(|| ChannelError::Malformed("WeChat XML without MsgType".into()))?;
        let created = self.create_time.as_deref().map(str::trim).unwrap_or_default().to_owned();
        let occurred_at = created.parse::<i64>().ok().filter(|s| *s > 0).map(|s| Timestamp::from_millis(s.saturating_mul(1000)));
        let from =
            non_empty(self.from_user_name.clone()).ok_or_else(|| ChannelError::Malformed("WeChat XML without FromUserName".into()))?;
        let sender = Sender { id: from, name: None, phone: None };
        if msg_type == "event" {
            let event = non_empty(self.event).unwrap_or_else(|| "unknown".into());
            // Events carry no id: the user, the second and the event name identify one.
            let provider_event_id = format!("{}:{created}:{event}", sender.id);
            let kind = match (event.as_str(), non_empty(self.event_key)) {
                ("CLICK", Some(key)) => InboundKind::Message {
                    sender,
                    provider_message_id: provider_event_id.clone(),
                    content: Content::Button { text: key.clone(), payload: Some(key) },
                },
                _ => InboundKind::Other { event_type: event.to_ascii_lowercase(), sender: Some(sender) },
            };
            return Ok(InboundEvent { provider_event_id, kind, occurred_at });
        }
        let provider_message_id = non_empty(self.msg_id.clone()).unwrap_or_else(|| format!("{}:{created}:{msg_type}", sender.id));
        let media = |kind: MediaKind, mime_type: Option<String>, caption: Option<String>| match non_empty(self.media_id.clone()) {
            // Fetched later through the temporary-media API (kept three days).
            Some(reference) => Content::Media { kind, reference, mime_type, caption, filename: None },
            None => Content::Unsupported { description: msg_type.clone() },
        };
        let content = match msg_type.as_str() {
            "text" => Content::Text { body: self.content.clone().unwrap_or_default() },
            "image" => media(MediaKind::Image, None, None),
            "voice" => {
                let mime = match self.format.as_deref().map(str::trim) {
                    Some("amr") => Some("audio/amr".to_owned()),
                    Some("speex") => Some("audio/speex".to_owned()),
                    _ => None,
                };
                // The speech-to-text WeChat adds when recognition is enabled.
                media(MediaKind::Audio, mime, non_empty(self.recognition.clone()))
            }
            "video" | "shortvideo" => media(MediaKind::Video, None, None),
            "location" => match (
                self.location_x.as_deref().and_then(|x| x.trim().parse::<f64>().ok()),
                self.location_y.as_deref().and_then(|y| y.trim().parse::<f64>().ok()),
            ) {
                (Some(latitude), Some(longitude)) => {
                    Content::Location { latitude, longitude, name: None, address: non_empty(self.label.clone()) }
                }
                _ => Content::Unsupported { description: "location".into() },
            },
            "link" => {
                let parts: Vec<String> =
                    [self.title.clone(), self.description.clone(), self.url.clone()].into_iter().filter_map(non_empty).collect();
                Content::Text { body: parts.join("\n") }
            }
            other => Content::Unsupported { description: other.to_owned() },
        };
        Ok(InboundEvent {
            provider_event_id: provider_message_id.clone(),
            kind: InboundKind::Message { sender, provider_message_id, content },
            occurred_at,
        })
    }
}
