//! Tandem's HTTP surface (axum): the REST API under `/api/v1` with its OpenAPI document,
//! authentication (API keys and login sessions), health and Prometheus metrics, and the background
//! workers. No business rule lives here: handlers parse, authorise, call the store, and shape JSON.

pub mod agents;
mod auth;
pub mod csat;
mod error;
mod extract;
mod inbound_writer;
pub mod inbox_jobs;
pub mod ingest;
pub mod knowledge;
pub mod messaging;
mod metrics;
mod openapi;
mod routes;
mod serve;
mod state;
mod worker;

pub use serve::{serve, Server, ServerError};
pub use state::AppState;
