use tandem_core::Config;
use tandem_store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: std::sync::Arc<Config>,
}
