use std::sync::Arc;
use tandem_core::Config;
use tandem_store::Store;

use crate::{agents::Models, knowledge::Knowledge, messaging::Messaging};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<Config>,
    pub knowledge: Arc<Knowledge>,
    pub models: Arc<Models>,
    pub messaging: Arc<Messaging>,
    /// Webhook events are committed in groups (see `inbound_writer`).
    pub inbound: crate::inbound_writer::InboundWriter,
    /// Turns true when the server stops: long-lived responses (event streams) end then, so the
    /// graceful shutdown does not wait on them.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}
