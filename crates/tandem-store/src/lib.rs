//! Tandem's relational store.
//!
//! One repository layer over SQLite (embedded default) and PostgreSQL (scale), through sqlx's `Any`
//! driver and a portable schema (see `migrations/`). Every function that reads or writes tenant
//! data takes the [`WorkspaceId`](tandem_core::WorkspaceId) first and filters by it: a row of another
//! workspace is indistinguishable from a row that does not exist.

pub mod agent_runtime;
pub mod api_keys;
pub mod attachments;
pub mod audit;
pub mod channels;
pub mod contact_activity;
pub mod contacts;
mod contacts_filter;
pub mod conversations;
pub mod credits;
pub mod csat;
mod db;
mod error;
pub mod events;
pub mod export;
pub mod import;
pub mod inbox;
pub mod jobs;
pub mod knowledge;
pub mod labels;
pub mod lists;
pub mod messaging;
pub mod notes;
pub mod notifications;
pub mod objects;
mod page;
pub mod properties;
mod secret;
pub mod seed;
mod sql;
pub mod teams;
#[cfg(feature = "testing")]
pub mod testing;
pub mod ticket_automation;
pub mod tickets;
pub mod users;
pub mod views;
pub mod widget;
pub mod workspaces;
mod write_lane;

pub use db::{create_postgres_database, Backend, Store};
pub use error::StoreError;
pub use page::{Page, Paged};
pub use secret::Secret;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;
