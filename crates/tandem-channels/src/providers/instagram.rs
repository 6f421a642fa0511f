//! Instagram messaging through the Messenger Platform. Webhooks are Messenger's shape with
//! `object: instagram` (read receipts name the message, so they are per-message statuses);
//! sends go to `POST {graph}/{account_id}/messages` with the access token. A `HUMAN_AGENT` tag is
//! passed on as `messaging_type: MESSAGE_TAG`, which Instagram documents for human replies
//! outside the 24-hour window.

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
    /// The id the send URL names: the Facebook Page linked to the Instagram professional account.
    pub account_id: String,
    /// A Page access token with `instagram_manage_messages`.
    pub access_token: String,
    /// The Meta app's secret: the key of `X-Hub-Signature-256`.
    pub app_secret: String,
    /// What we told Meta to send back in the subscription handshake.
    pub verify_token: String,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("instagram::Settings")
            .field("account_id", &self.account_id)
            .field("access_token", &meta::redacted(&self.access_token))
            .field("app_secret", &meta::redacted(&self.app_secret))
            .field("verify_token", &meta::redacted(&self.verify_token))
            .finish()
    }
}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        required("account_id", &self.account_id)?;
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
        meta::messaging_events(req.body, "instagram")
    }

    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, _access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        let url = format!("{}/{}/messages", endpoints.graph.trim_end_matches('/'), self.account_id);
        meta::messaging_send(url, &self.access_token, msg, false)
    }

    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        meta::read_graph_response(status, body, meta::send_api_message_id, meta::SEND_API_RETRYABLE)
    }
}
