//! The messaging channels a workspace can connect (PRODUCT.md §1).

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Whatsapp,
    Instagram,
    Messenger,
    Wechat,
    Line,
    Telegram,
    Viber,
    Sms,
    Widget,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 9] =
        [Self::Whatsapp, Self::Instagram, Self::Messenger, Self::Wechat, Self::Line, Self::Telegram, Self::Viber, Self::Sms, Self::Widget];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Whatsapp => "whatsapp",
            Self::Instagram => "instagram",
            Self::Messenger => "messenger",
            Self::Wechat => "wechat",
            Self::Line => "line",
            Self::Telegram => "telegram",
            Self::Viber => "viber",
            Self::Sms => "sms",
            Self::Widget => "widget",
        }
    }
}

impl FromStr for ChannelKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ValidationError::new("kind", "invalid_channel_kind", format!("unknown channel `{s}`")))
    }
}
