//! Conversation and message states.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::ValidationError;

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),* }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),* }
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)*
                    other => Err(ValidationError::new($field, "invalid_value", format!("unknown {} `{other}`", $field))),
                }
            }
        }
    };
}

string_enum!(
    /// Where a conversation stands in the inbox.
    ConversationStatus, "status" { Open => "open", Pending => "pending", Snoozed => "snoozed", Resolved => "resolved" }
);
string_enum!(MessageDirection, "direction" { Inbound => "inbound", Outbound => "outbound" });
string_enum!(
    /// Delivery state: inbound messages are `received`; outbound go queued → sent → delivered → read, or failed.
    MessageStatus, "status" { Received => "received", Queued => "queued", Sent => "sent", Delivered => "delivered", Read => "read", Failed => "failed" }
);
