//! Facebook Messenger (Messenger Platform). Webhooks arrive as `object: page` with
//! `entry[].messaging[]`; sends go to the Send API, `POST {graph}/{page_id}/messages`, with the
//! Page access token. Outside the 24-hour window a person may still answer for 7 days with
//! `messaging_type: MESSAGE_TAG` and `tag: HUMAN_AGENT`.
//!
//! Read receipts name no message, only a watermark (everything sent before it was read): they
//! become `Other { event_type: "read" }`, keyed `read:{psid}:{watermark}`, not a per-message
//! status.

use std::fmt;

use serde::Deserialize;

use super::meta;
use crate::{
    error::ChannelError,
    inbound::InboundEvent,
    outbound::{OutboundMessage, OutboundRequest, SendOutcome},
    settings::{required, Endpoints, Provider},
    webhook::WebhookRequest,
};

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub page_id: String,
    /// A Page access token with `pages_messaging`.
    pub page_access_token: String,
    /// The Meta app's secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// What we told Meta to send back in the subscription handshake.
    pub verify_token: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("messenger::Settings")
            .field("page_id", &self.page_id)
            .field("page_access_token", &meta::redacted(&self.page_access_token))
            .field("app_secret", &meta::redacted(&self.app_secret))
            .field("verify_token", &meta::redacted(&self.verify_token))
            .finish()
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("page_id", &self.page_id)?;
        required("page_access_token", &self.page_access_token)?;
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
        meta::messaging_events(req.body, "page")
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let url = format!("{}/{}/messages", endpoints.graph.trim_end_matches('/'), self.page_id);
        meta::messaging_send(url, &self.page_access_token, msg, true)
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        meta::read_graph_response(status, body, meta::send_api_message_id, meta::SEND_API_RETRYABLE)
    }
}
