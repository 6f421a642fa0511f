//! The store's integration tests. Every scenario runs twice: on SQLite and on PostgreSQL.

mod contacts;
mod conversations;
mod credits;
mod identity;
mod import;
mod jobs;

use tandem_store::{testing::TestStore, Backend, Store};

/// Declares `name::sqlite` and `name::postgres` tests running `body(store)`.
#[macro_export]
macro_rules! on_both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let t = $crate::fresh(tandem_store::Backend::Sqlite).await;
                ($body)(t.store.clone()).await;
            }
            #[tokio::test]
            async fn postgres() {
                let t = $crate::fresh(tandem_store::Backend::Postgres).await;
                ($body)(t.store.clone()).await;
            }
        }
    };
}

pub async fn fresh(backend: Backend) -> TestStore {
    TestStore::new(backend).await
}

/// A workspace with a FR default country and the custom properties the tests filter on.
pub async fn workspace(store: &Store) -> tandem_core::WorkspaceId {
    use tandem_core::PropertyKind::*;
    let ws = store.create_workspace("Acme", Some("fr")).await.unwrap().id;
    store.create_property(ws, "plan", "Plan", SingleSelect, vec!["Free".into(), "Pro AI".into(), "Premium".into()], false).await.unwrap();
    store.create_property(ws, "industry", "Industry", Text, vec![], false).await.unwrap();
    store.create_property(ws, "seats", "Seats", Number, vec![], false).await.unwrap();
    store.create_property(ws, "renewal", "Renewal", Date, vec![], false).await.unwrap();
    ws
}
