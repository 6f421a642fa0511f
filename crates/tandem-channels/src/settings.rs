//! A channel's settings, parsed from its stored configuration once: a channel that lacks a
//! credential is refused when it is connected, not when the first message arrives.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tandem_core::ChannelKind;

use crate::{
    error::ChannelError,
    inbound::InboundEvent,
    outbound::{OutboundMessage, OutboundRequest, SendOutcome},
    providers::{instagram, line, messenger, telegram, twilio, viber, wechat, whatsapp, widget},
    webhook::{Ack, WebhookRequest},
    window::WindowPolicy,
};

/// Provider API base URLs: configuration, so tests point them at fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// Meta Graph API with its version, e.g. `https://graph.facebook.com/v21.0`.
    pub graph: String,
    pub telegram: String,
    pub line: String,
    /// LINE's content host (media downloads), `https://api-data.line.me`.
    pub line_data: String,
    pub viber: String,
    pub wechat: String,
    pub twilio: String,
}

impl Default for Endpoints {
    fn default() -> Self {
        Self {
            graph: "https://graph.facebook.com/v21.0".into(),
            telegram: "https://api.telegram.org".into(),
            line: "https://api.line.me".into(),
            line_data: "https://api-data.line.me".into(),
            viber: "https://chatapi.viber.com/pa".into(),
            wechat: "https://api.weixin.qq.com".into(),
            twilio: "https://api.twilio.com".into(),
        }
    }
}

#[derive(Debug, Clone)]
pub enum ChannelSettings {
    Whatsapp(whatsapp::Settings),
    Messenger(messenger::Settings),
    Instagram(instagram::Settings),
    Telegram(telegram::Settings),
    Line(line::Settings),
    Viber(viber::Settings),
    Wechat(wechat::Settings),
    Sms(twilio::Settings),
    Widget(widget::Settings),
}

fn parse<T: DeserializeOwned>(kind: ChannelKind, config: &Map<String, Value>) -> Result<T, ChannelError> {
    serde_json::from_value(Value::Object(config.clone()))
        .map_err(|e| ChannelError::InvalidSettings(format!("{} channel: {e}", kind.as_str())))
}

/// Calls the same function of whichever provider module the settings belong to.
macro_rules! dispatch {
    ($self:expr, $s:ident => $body:expr) => {
        match $self {
            ChannelSettings::Whatsapp($s) => $body,
            ChannelSettings::Messenger($s) => $body,
            ChannelSettings::Instagram($s) => $body,
            ChannelSettings::Telegram($s) => $body,
            ChannelSettings::Line($s) => $body,
            ChannelSettings::Viber($s) => $body,
            ChannelSettings::Wechat($s) => $body,
            ChannelSettings::Sms($s) => $body,
            ChannelSettings::Widget($s) => $body,
        }
    };
}

impl ChannelSettings {
    pub fn parse(kind: ChannelKind, config: &Map<String, Value>) -> Result<Self, ChannelError> {
        let settings = match kind {
            ChannelKind::Whatsapp => Self::Whatsapp(parse(kind, config)?),
            ChannelKind::Messenger => Self::Messenger(parse(kind, config)?),
            ChannelKind::Instagram => Self::Instagram(parse(kind, config)?),
            ChannelKind::Telegram => Self::Telegram(parse(kind, config)?),
            ChannelKind::Line => Self::Line(parse(kind, config)?),
            ChannelKind::Viber => Self::Viber(parse(kind, config)?),
            ChannelKind::Wechat => Self::Wechat(parse(kind, config)?),
            ChannelKind::Sms => Self::Sms(parse(kind, config)?),
            ChannelKind::Widget => Self::Widget(parse(kind, config)?),
        };
        dispatch!(&settings, s => s.check()?);
        Ok(settings)
    }

    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Whatsapp(_) => ChannelKind::Whatsapp,
            Self::Messenger(_) => ChannelKind::Messenger,
            Self::Instagram(_) => ChannelKind::Instagram,
            Self::Telegram(_) => ChannelKind::Telegram,
            Self::Line(_) => ChannelKind::Line,
            Self::Viber(_) => ChannelKind::Viber,
            Self::Wechat(_) => ChannelKind::Wechat,
            Self::Sms(_) => ChannelKind::Sms,
            Self::Widget(_) => ChannelKind::Widget,
        }
    }

    /// The `{provider}` segment of this channel's webhook URL.
    pub fn webhook_provider(&self) -> &'static str {
        match self {
            Self::Sms(_) => "twilio",
            _ => self.kind().as_str(),
        }
    }

    /// GET handshake: the body to answer (Meta's `hub.challenge`, WeChat's `echostr`).
    pub fn handshake(&self, req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
        dispatch!(self, s => s.handshake(req))
    }

    /// Checks the request's signature or secret; the body is not read before this passes.
    pub fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError> {
        dispatch!(self, s => s.verify(req))
    }

    /// The events a verified body holds.
    pub fn parse_events(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError> {
        dispatch!(self, s => s.parse(req))
    }

    /// What to answer once the events are stored.
    pub fn ack(&self) -> Ack {
        dispatch!(self, s => s.ack())
    }

    /// The provider's send request. `access_token`: WeChat's short-lived token (see
    /// [`crate::send`]); the others carry their credentials in the settings.
    pub fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, access_token: Option<&str>) -> Result<OutboundRequest, ChannelError> {
        dispatch!(self, s => s.build(endpoints, msg, access_token))
    }

    /// Reads the provider's answer to a send.
    pub fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome {
        dispatch!(self, s => s.read_response(status, body))
    }

    /// Whether the provider deduplicates a resent request by its idempotency key (LINE's
    /// `X-Line-Retry-Key`): only then may a send whose outcome is unknown be tried again.
    pub fn idempotent_sends(&self) -> bool {
        matches!(self, Self::Line(_))
    }

    pub fn window(&self) -> WindowPolicy {
        match self {
            Self::Whatsapp(_) => WindowPolicy::WHATSAPP,
            Self::Instagram(_) => WindowPolicy::INSTAGRAM,
            Self::Messenger(_) => WindowPolicy::MESSENGER,
            Self::Wechat(_) => WindowPolicy::WECHAT,
            _ => WindowPolicy::UNLIMITED,
        }
    }
}

/// What every provider module implements on its `Settings`.
pub trait Provider {
    /// Refuses settings that parse but cannot work (an empty token).
    fn check(&self) -> Result<(), ChannelError>;
    fn handshake(&self, _req: &WebhookRequest<'_>) -> Result<String, ChannelError> {
        Err(ChannelError::NoHandshake)
    }
    fn verify(&self, req: &WebhookRequest<'_>) -> Result<(), ChannelError>;
    fn parse(&self, req: &WebhookRequest<'_>) -> Result<Vec<InboundEvent>, ChannelError>;
    fn ack(&self) -> Ack {
        Ack::empty_json()
    }
    fn build(&self, endpoints: &Endpoints, msg: &OutboundMessage, access_token: Option<&str>) -> Result<OutboundRequest, ChannelError>;
    fn read_response(&self, status: u16, body: &[u8]) -> SendOutcome;
}

/// A required setting: present and not blank.
pub fn required<'a>(name: &str, value: &'a str) -> Result<&'a str, ChannelError> {
    if value.trim().is_empty() {
        Err(ChannelError::InvalidSettings(format!("`{name}` must not be empty")))
    } else {
        Ok(value)
    }
}
