//! Fresh databases for tests: a SQLite file in a temporary directory, or a new database on the
//! PostgreSQL server named by `TANDEM_TEST_POSTGRES_URL` (which `scripts/test` starts and sets).

use crate::{Backend, Store};

/// A store on a database nobody else uses; the SQLite file lives as long as this value.
pub struct TestStore {
    pub store: Store,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestStore {
    pub async fn new(backend: Backend) -> Self {
        match backend {
            Backend::Sqlite => Self::sqlite().await,
            Backend::Postgres => Self::postgres().await,
        }
    }

    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!("sqlite://{}/tandem.db", dir.path().display());
        let store = Store::connect(&url, 4).await.expect("open SQLite store");
        Self { store, url, _dir: Some(dir) }
    }

    pub async fn postgres() -> Self {
        let url = postgres_database().await;
        let store = Store::connect(&url, 4).await.expect("open PostgreSQL store");
        Self { store, url, _dir: None }
    }
}

/// Creates an empty database on the test server and returns its URL.
pub async fn postgres_database() -> String {
    let admin = std::env::var("TANDEM_TEST_POSTGRES_URL")
        .expect("TANDEM_TEST_POSTGRES_URL is not set: run the tests with ./scripts/test, which starts PostgreSQL");
    let name = format!("tandem_test_{}", uuid::Uuid::new_v4().simple());
    crate::create_postgres_database(&admin, &name).await.expect("create test database")
}
