//! Messaging channels (PRODUCT.md §1): for each provider, how its webhooks are verified, how its
//! payloads become [`InboundEvent`]s, how an [`OutboundMessage`] becomes the exact HTTP request it
//! documents, how its answer is read, and how long its conversation window stays open.
//!
//! Nothing here stores anything or knows of axum: the server hands a [`WebhookRequest`] in and
//! gets events out; the outbox hands an [`OutboundMessage`] in and gets a [`SendOutcome`] out.

pub mod error;
pub mod inbound;
pub mod media;
pub mod outbound;
pub mod providers;
pub mod send;
pub mod settings;
pub mod signature;
pub mod webhook;
pub mod window;

pub use error::ChannelError;
pub use inbound::{Content, DeliveryStatus, InboundEvent, InboundKind, MediaKind, ProviderFailure, Sender, SharedContact};
pub use outbound::{MessageTag, OutboundContent, OutboundMessage, OutboundRequest, SendOutcome};
pub use send::ChannelSender;
pub use settings::{ChannelSettings, Endpoints};
pub use webhook::{Ack, WebhookRequest};
pub use window::{WindowPolicy, WindowState};
