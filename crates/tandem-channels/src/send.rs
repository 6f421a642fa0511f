//! Sends one outbound message to its provider: builds the request, applies the channel's rate
//! limit, fetches and caches WeChat's access token, and reads the answer. A timeout is reported as
//! retryable with code `timeout`; whether to retry is the outbox's call.

use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use reqwest::Client;

use crate::{
    outbound::{HttpMethod, OutboundMessage, OutboundRequest, SendOutcome},
    settings::{ChannelSettings, Endpoints},
};

/// Messages per second a channel may send: providers throttle above roughly these rates
/// (WhatsApp Cloud API 80/s per number by default, Telegram 30/s per bot, Messenger and LINE
/// lower per recipient); staying under them avoids 429s and bans.
fn per_second(settings: &ChannelSettings) -> u32 {
    match settings {
        ChannelSettings::Whatsapp(_) => 80,
        ChannelSettings::Telegram(_) => 30,
        _ => 20,
    }
}

pub struct ChannelSender {
    client: Client,
    endpoints: Endpoints,
    limiters: Mutex<HashMap<u32, Arc<DefaultKeyedRateLimiter<String>>>>,
    /// WeChat access tokens by app id, with when they stop being valid.
    wechat_tokens: Mutex<HashMap<String, (String, Instant)>>,
}

impl ChannelSender {
    pub fn new(endpoints: Endpoints, timeout: Duration) -> Self {
        let client = Client::builder().timeout(timeout).build().unwrap_or_default();
        Self { client, endpoints, limiters: Mutex::default(), wechat_tokens: Mutex::default() }
    }

    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// WeChat's access token for these settings, cached.
    pub(crate) async fn wechat_access_token(&self, s: &crate::providers::wechat::Settings) -> Result<String, SendOutcome> {
        self.wechat_token(s).await
    }

    fn limiter(&self, rate: u32) -> Arc<DefaultKeyedRateLimiter<String>> {
        let mut limiters = self.limiters.lock().unwrap_or_else(|e| e.into_inner());
        limiters
            .entry(rate)
            .or_insert_with(|| Arc::new(RateLimiter::keyed(Quota::per_second(NonZeroU32::new(rate.max(1)).expect("at least 1")))))
            .clone()
    }

    /// Sends `msg` on the channel `channel_key` (Tandem's channel id: each channel has its own
    /// limit).
    pub async fn send(&self, channel_key: &str, settings: &ChannelSettings, msg: &OutboundMessage) -> SendOutcome {
        self.limiter(per_second(settings)).until_key_ready(&channel_key.to_string()).await;
        let token = match settings {
            ChannelSettings::Wechat(s) => match self.wechat_token(s).await {
                Ok(t) => Some(t),
                Err(failed) => return failed,
            },
            _ => None,
        };
        let request = match settings.build(&self.endpoints, msg, token.as_deref()) {
            Ok(r) => r,
            Err(e) => return SendOutcome::Failed { code: "unsupported".into(), message: e.to_string(), retryable: false },
        };
        let outcome = match self.execute(&request).await {
            Ok((status, body)) => settings.read_response(status, &body),
            Err(failed) => failed,
        };
        if let (ChannelSettings::Wechat(s), SendOutcome::Failed { code, .. }) = (settings, &outcome) {
            // An expired or revoked token: forget it so the retry fetches a new one.
            if code == "40001" || code == "42001" || code == "40014" {
                self.wechat_tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&s.app_id);
            }
        }
        outcome
    }

    async fn wechat_token(&self, s: &crate::providers::wechat::Settings) -> Result<String, SendOutcome> {
        if let Some((token, until)) = self.wechat_tokens.lock().unwrap_or_else(|e| e.into_inner()).get(&s.app_id) {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let (status, body) = self.execute(&s.token_request(&self.endpoints)).await?;
        let (token, expires_in) = crate::providers::wechat::read_token(status, &body)?;
        // Renewed five minutes early, so a token never expires between fetch and use.
        let until = Instant::now() + Duration::from_secs(expires_in.saturating_sub(300).max(60));
        self.wechat_tokens.lock().unwrap_or_else(|e| e.into_inner()).insert(s.app_id.clone(), (token.clone(), until));
        Ok(token)
    }

    async fn execute(&self, request: &OutboundRequest) -> Result<(u16, Vec<u8>), SendOutcome> {
        let mut builder = match request.method {
            HttpMethod::Get => self.client.get(&request.url),
            HttpMethod::Post => self.client.post(&request.url).body(request.body.clone()),
        };
        for (k, v) in &request.headers {
            builder = builder.header(k, v);
        }
        let response = builder.send().await.map_err(transport_failure)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(transport_failure)?;
        Ok((status, body.to_vec()))
    }
}

fn transport_failure(e: reqwest::Error) -> SendOutcome {
    if e.is_timeout() {
        // The provider may or may not have sent it; the outbox decides (see the outbox's notes).
        SendOutcome::Failed { code: "timeout".into(), message: "the provider did not answer in time".into(), retryable: true }
    } else {
        SendOutcome::Failed { code: "network".into(), message: format!("could not reach the provider: {e}"), retryable: true }
    }
}
