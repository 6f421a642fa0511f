//! The website chat widget: no provider in between. Visitors talk to Tandem over a websocket the
//! server holds, so there is no webhook to verify and nothing to send over HTTP: the server
//! delivers widget messages itself.

use serde::Deserialize;

use crate::{
    error::ChannelError,
    inbound::InboundEvent,
    outbound::{OutboundMessage, OutboundRequest, SendOutcome},
    settings::{Endpoints, Provider},
    webhook::WebhookRequest,
};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Origins (`https://shop.example`) whose pages may open the widget; empty: any.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Shown in the bubble's header.
    #[serde(default)]
    pub title: Option<String>,
    /// The first message a visitor sees.
    #[serde(default)]
    pub greeting: Option<String>,
}

impl Settings {
    pub fn allows_origin(&self, origin: Option<&str>) -> bool {
        self.allowed_origins.is_empty() || origin.is_some_and(|o| self.allowed_origins.iter().any(|a| a.trim_end_matches('/') == o))
    }
}

const NO_WEBHOOK: &str = "the website widget has no webhook: visitors connect over its websocket";

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        match self.allowed_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
            Some(bad) => Err(ChannelError::InvalidSettings(format!("`allowed_origins`: `{bad}` is not an http(s) origin"))),
            None => Ok(()),
        }
    }
    fn verify(&self, _req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        Err(ChannelError::Unsupported(NO_WEBHOOK.into()))
    }
    fn parse(&self, _req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        Err(ChannelError::Unsupported(NO_WEBHOOK.into()))
    }
    fn build(&self, _e: &Endpoints, _m: &OutboundMessage, _t: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        Err(ChannelError::Unsupported("widget messages are delivered over the visitor's websocket".into()))
    }
    fn read_response(&self, _status: u16, _body: &[u8]) -> SendOutcome {
        SendOutcome::Sent { provider_message_id: None }
    }
}
