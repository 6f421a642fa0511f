//! PLACEHOLDER: being written.

use serde::Deserialize;

use crate::{
    error::ChannelError,
    inbound::InboundEvent,
    outbound::{OutboundMessage, OutboundRequest, SendOutcome},
    settings::{Endpoints, Provider},
    webhook::WebhookRequest,
};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {}

impl Provider for Settings {
    fn check(&self) -> Result<(), ChannelError> {
        Err(ChannelError::InvalidSettings("not yet".into()))
    }
    fn verify(&self, _req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        Err(ChannelError::BadSignature("not yet".into()))
    }
    fn parse(&self, _req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        Err(ChannelError::Malformed("not yet".into()))
    }
    fn build(&self, _e: &Endpoints, _m: &OutboundMessage, _t: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        Err(ChannelError::Unsupported("not yet".into()))
    }
    fn read_response(&self, _status: u16, _body: &[u8]) -> SendOutcome {
        SendOutcome::Failed { code: "x".into(), message: "not yet".into(), retryable: false }
    }
}
