//! Downloading a customer's media: a webhook names it (a provider media id or a URL); the bytes
//! are fetched with the channel's credentials so Tandem keeps its own copy (provider links
//! expire: WhatsApp's in minutes, WeChat's temporary media in three days).
//!
//! Each provider's way, as documented: WhatsApp `GET /{media-id}` then the returned URL with the
//! token; Telegram `getFile` then `/file/bot{token}/{file_path}`; LINE `GET
//! /v2/bot/message/{id}/content` on its data host; WeChat `GET /cgi-bin/media/get`; Twilio the
//! media URL with the account's Basic credentials; Messenger, Instagram and Viber a plain URL.

use base64::{engine::general_purpose::STANDARD, Engine};
use serde::Deserialize;

use crate::{send::ChannelSender, settings::ChannelSettings};

/// What a download gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    pub bytes: Vec<u8>,
    pub mime_type: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MediaError {
    /// Worth trying again later (network, 5xx, 429).
    #[error("media temporarily unavailable: {0}")]
    Transient(String),
    /// The provider refused or no longer has it.
    #[error("media unavailable: {0}")]
    Gone(String),
    #[error("media larger than {0} bytes")]
    TooLarge(usize),
}

#[derive(Deserialize)]
struct WhatsappMedia {
    url: String,
    #[serde(default)]
    mime_type: Option<String>,
}

#[derive(Deserialize)]
struct TelegramFile {
    ok: bool,
    #[serde(default)]
    result: Option<TelegramPath>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
struct TelegramPath {
    file_path: Option<String>,
}

impl ChannelSender {
    /// Fetches the media a webhook referred to, at most `max_bytes`.
    pub async fn download(&self, settings: &ChannelSettings, reference: &str, max_bytes: usize) -> Result<Downloaded, MediaError> {
        let e = self.endpoints().clone();
        match settings {
            ChannelSettings::Whatsapp(s) => {
                let bearer = format!("Bearer {}", s.access_token);
                let meta = self.fetch(&format!("{}/{}", e.graph, reference), &[("authorization", &bearer)], 64 * 1024).await?;
                let media: WhatsappMedia =
                    serde_json::from_slice(&meta.bytes).map_err(|err| MediaError::Gone(format!("unexpected media answer: {err}")))?;
                let mut got = self.fetch(&media.url, &[("authorization", &bearer)], max_bytes).await?;
                got.mime_type = media.mime_type.or(got.mime_type);
                Ok(got)
            }
            ChannelSettings::Telegram(s) => {
                let url = format!("{}/bot{}/getFile?file_id={}", e.telegram, s.bot_token, urlencode(reference));
                let answer = self.fetch(&url, &[], 64 * 1024).await?;
                let file: TelegramFile =
                    serde_json::from_slice(&answer.bytes).map_err(|err| MediaError::Gone(format!("unexpected getFile answer: {err}")))?;
                let path = match (file.ok, file.result.and_then(|r| r.file_path)) {
                    (true, Some(p)) => p,
                    _ => return Err(MediaError::Gone(file.description.unwrap_or_else(|| "getFile gave no file_path".into()))),
                };
                self.fetch(&format!("{}/file/bot{}/{path}", e.telegram, s.bot_token), &[], max_bytes).await
            }
            ChannelSettings::Line(s) => {
                let bearer = format!("Bearer {}", s.channel_access_token);
                self.fetch(
                    &format!("{}/v2/bot/message/{}/content", e.line_data, urlencode(reference)),
                    &[("authorization", &bearer)],
                    max_bytes,
                )
                .await
            }
            ChannelSettings::Wechat(s) => {
                let token = self.wechat_access_token(s).await.map_err(|o| MediaError::Transient(format!("{o:?}")))?;
                let url = format!("{}/cgi-bin/media/get?access_token={token}&media_id={}", e.wechat, urlencode(reference));
                let got = self.fetch(&url, &[], max_bytes).await?;
                // An error comes back as JSON instead of the file.
                if got.mime_type.as_deref().is_some_and(|m| m.starts_with("application/json") || m.starts_with("text/plain")) {
                    return Err(MediaError::Gone(String::from_utf8_lossy(&got.bytes).chars().take(200).collect()));
                }
                Ok(got)
            }
            ChannelSettings::Sms(s) => {
                let basic = format!("Basic {}", STANDARD.encode(format!("{}:{}", s.account_sid, s.auth_token)));
                self.fetch(reference, &[("authorization", &basic)], max_bytes).await
            }
            ChannelSettings::Messenger(_) | ChannelSettings::Instagram(_) | ChannelSettings::Viber(_) => {
                self.fetch(reference, &[], max_bytes).await
            }
            ChannelSettings::Widget(_) => Err(MediaError::Gone("the widget sends no media".into())),
        }
    }

    async fn fetch(&self, url: &str, headers: &[(&str, &str)], max_bytes: usize) -> Result<Downloaded, MediaError> {
        let mut rb = self.client().get(url);
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let mut resp = rb.send().await.map_err(|e| MediaError::Transient(e.to_string()))?;
        let status = resp.status().as_u16();
        if status == 429 || status >= 500 {
            return Err(MediaError::Transient(format!("the provider answered {status}")));
        }
        if status >= 400 {
            return Err(MediaError::Gone(format!("the provider answered {status}")));
        }
        if resp.content_length().is_some_and(|n| n as usize > max_bytes) {
            return Err(MediaError::TooLarge(max_bytes));
        }
        let mime_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| MediaError::Transient(e.to_string()))? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(MediaError::TooLarge(max_bytes));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Downloaded { bytes, mime_type })
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
