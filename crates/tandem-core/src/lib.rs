//! Domain types shared by every Tandem crate.
//!
//! Values here are parsed once at the edge ("parse, don't validate"): a [`PhoneNumber`] is always
//! E.164, an [`Email`] always has a local part and a domain, a [`Role`] is one of three. Nothing in
//! this crate does I/O.

pub mod actor;
pub mod channel;
pub mod config;
pub mod conversation;
pub mod email;
pub mod filter;
pub mod ids;
pub mod llm;
pub mod phone;
pub mod property;
pub mod role;
pub mod text;
pub mod timestamp;
pub mod validation;

pub use actor::{Actor, ActorKind};
pub use channel::ChannelKind;
pub use config::Config;
pub use conversation::{ConversationStatus, MessageDirection, MessageStatus};
pub use email::Email;
pub use filter::{Condition, ContactFilter, ContactSort, Operator};
pub use ids::*;
pub use phone::PhoneNumber;
pub use property::{PropertyDefinition, PropertyKey, PropertyKind, StoredValue};
pub use role::Role;
pub use timestamp::Timestamp;
pub use validation::ValidationError;
