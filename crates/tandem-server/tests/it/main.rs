//! HTTP tests: the real server on a random port with a fresh database per test.

mod agents;
mod auth;
mod channels;
mod contacts;
mod conversation_panel;
mod csat;
mod errors;
mod events;
mod imports;
mod inbox;
mod inbox_ui;
mod knowledge;
mod tenancy;
mod tickets;
mod widget;

use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tandem_core::{Config, Role, WorkspaceId};
use tandem_server::Server;
use tandem_store::{testing::TestStore, users::NewUser, Backend, Store};

pub struct TestApp {
    pub server: Server,
    pub base: String,
    pub client: Client,
    pub config: Config,
    _db: TestStore,
    _knowledge: tempfile::TempDir,
}

/// A workspace with an admin user, an admin key and a staff key.
pub struct Tenant {
    pub id: WorkspaceId,
    pub admin_key: String,
    pub staff_key: String,
}

pub const PASSWORD: &str = "correct horse battery";

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_on(Backend::Sqlite).await
    }

    pub async fn spawn_on(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    /// A server on a fresh database and knowledge directory, with `customize` applied to its
    /// configuration. Web sources may point at loopback (the tests serve pages there), and the
    /// isolated parser is the `tandem` binary that `cargo test` builds beside the test binaries.
    pub async fn spawn_with(backend: Backend, customize: impl FnOnce(&mut Config)) -> Self {
        let db = TestStore::new(backend).await;
        let knowledge = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.database.url = db.url.clone();
        config.database.max_connections = 4;
        config.server.bind = "127.0.0.1:0".into();
        config.server.max_body_bytes = 2 * 1024 * 1024;
        config.workers.poll_interval_ms = 20;
        config.knowledge.data_dir = knowledge.path().to_path_buf();
        config.knowledge.allow_private_urls = true;
        config.knowledge.parser_program = Some(tandem_binary());
        // Most tests need no model; those that do turn it on (see `agents`).
        config.llm.enabled = false;
        customize(&mut config);
        let server = Server::start(config.clone()).await.expect("server starts");
        let base = format!("http://{}", server.addr());
        let client = Client::builder().cookie_store(true).build().unwrap();
        Self { server, base, client, config, _db: db, _knowledge: knowledge }
    }

    /// Stops the server and starts another on the same database and knowledge directory.
    pub async fn restart(self, customize: impl FnOnce(&mut Config)) -> Self {
        let Self { server, client, mut config, _db, _knowledge, .. } = self;
        server.shutdown().await;
        customize(&mut config);
        let server = Server::start(config.clone()).await.expect("server restarts");
        let base = format!("http://{}", server.addr());
        Self { server, base, client, config, _db, _knowledge }
    }

    pub fn store(&self) -> &Store {
        self.server.store()
    }

    pub async fn tenant(&self, name: &str) -> Tenant {
        let store = self.store();
        let ws = store.create_workspace(name, Some("FR")).await.unwrap().id;
        let email = format!("admin@{}.io", name.to_lowercase());
        store
            .create_user(ws, NewUser { email: email.parse().unwrap(), name: "Admin".into(), password: PASSWORD.into(), role: Role::Admin })
            .await
            .unwrap();
        let (_, admin_key) = store.create_api_key(ws, "admin", Role::Admin).await.unwrap();
        let (_, staff_key) = store.create_api_key(ws, "staff", Role::Staff).await.unwrap();
        Tenant { id: ws, admin_key, staff_key }
    }

    pub fn request(&self, method: Method, path: &str, key: Option<&str>) -> RequestBuilder {
        let rb = self.client.request(method, format!("{}{path}", self.base));
        match key {
            Some(k) => rb.bearer_auth(k),
            None => rb,
        }
    }

    pub async fn get(&self, path: &str, key: &str) -> Response {
        self.request(Method::GET, path, Some(key)).send().await.unwrap()
    }

    pub async fn send(&self, method: Method, path: &str, key: &str, body: Value) -> Response {
        self.request(method, path, Some(key)).json(&body).send().await.unwrap()
    }
}

/// The `tandem` binary of this build (`target/<profile>/tandem`), which runs the isolated parser.
pub fn tandem_binary() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().and_then(|deps| deps.parent()).unwrap().join("tandem");
    assert!(path.is_file(), "{} is missing: build it with `cargo build -p tandem-cli` (cargo test --workspace does)", path.display());
    path
}

/// Reads a response's status and JSON body (Null when empty).
pub async fn json(resp: Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
}

/// Asserts status and error code of an API error.
#[track_caller]
pub fn assert_error(actual: &(u16, Value), status: u16, code: &str) {
    assert_eq!((actual.0, actual.1["error"]["code"].as_str()), (status, Some(code)), "{}", actual.1);
    assert!(actual.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}
