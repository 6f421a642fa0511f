//! What can go wrong with a channel; each variant maps to one HTTP status and stable code in the
//! server.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ChannelError {
    /// Signature or verify token missing or wrong: the body must not be processed (401/403).
    #[error("webhook signature rejected: {0}")]
    BadSignature(String),
    /// The body is not the JSON/XML/form the provider sends (400).
    #[error("malformed webhook body: {0}")]
    Malformed(String),
    /// The channel's settings are unusable (missing credential, wrong shape) (422).
    #[error("invalid channel settings: {0}")]
    InvalidSettings(String),
    /// A message this channel cannot carry (e.g. a template on Telegram) (422).
    #[error("unsupported message: {0}")]
    Unsupported(String),
    /// The provider has no such handshake (e.g. a GET on a Telegram webhook) (405).
    #[error("this provider has no webhook handshake")]
    NoHandshake,
}
