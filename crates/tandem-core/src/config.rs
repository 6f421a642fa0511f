//! Tandem's whole configuration, typed, in one place. Layers, later wins: built-in defaults (the
//! embedded deployment), a TOML file, then `TANDEM_*` environment variables with `__` between
//! sections (`TANDEM_DATABASE__URL=postgres://...`).

use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub auth: AuthConfig,
    pub workers: WorkerConfig,
    pub knowledge: KnowledgeConfig,
    pub llm: crate::llm::LlmConfig,
    pub credits: CreditsConfig,
    pub channels: ChannelsConfig,
    pub log: LogConfig,
}

/// Messaging channels: where webhooks are reached, where providers' APIs are (tests point them at
/// fakes), and how the outbox retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChannelsConfig {
    /// The public base URL providers call (`https://tandem.example.com`): webhook URLs shown to
    /// admins start with it, and Twilio's signature covers it. Default: `http://{server.bind}`.
    pub public_url: Option<String>,
    /// Largest webhook body accepted, in bytes.
    pub max_webhook_bytes: usize,
    /// Time allowed for one send to a provider, in milliseconds.
    pub send_timeout_ms: u64,
    /// Attempts before an outbound message is dead-lettered as failed.
    pub send_max_attempts: i64,
    /// Largest media file kept from a customer's message, in bytes.
    pub max_media_bytes: usize,
    /// Meta Graph API base with its version.
    pub graph_url: String,
    pub telegram_url: String,
    pub line_url: String,
    pub line_data_url: String,
    pub viber_url: String,
    pub wechat_url: String,
    pub twilio_url: String,
}

impl Default for ChannelsConfig {
    fn default() -> Self {
        Self {
            public_url: None,
            max_webhook_bytes: 1024 * 1024,
            send_timeout_ms: 15_000,
            send_max_attempts: 8,
            max_media_bytes: 25 * 1024 * 1024,
            graph_url: "https://graph.facebook.com/v21.0".into(),
            telegram_url: "https://api.telegram.org".into(),
            line_url: "https://api.line.me".into(),
            line_data_url: "https://api-data.line.me".into(),
            viber_url: "https://chatapi.viber.com/pa".into(),
            wechat_url: "https://api.weixin.qq.com".into(),
            twilio_url: "https://api.twilio.com".into(),
        }
    }
}

/// The AI credits a new workspace's plan grants (smart replies and the writing assistant spend
/// them); an admin changes a workspace's plan over the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CreditsConfig {
    pub allowance_per_cycle: i64,
    pub cycle_days: i64,
}

impl Default for CreditsConfig {
    fn default() -> Self {
        Self { allowance_per_cycle: 1000, cycle_days: 30 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub bind: String,
    /// Largest request body accepted (uploads included), in bytes.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (embedded default, created if missing) or `postgres://...` (scale).
    pub url: String,
    pub max_connections: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a login session lasts, in hours.
    pub session_ttl_hours: i64,
    /// Mark the session cookie `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run background jobs in this process (every replica may).
    pub enabled: bool,
    /// How long to wait between polls when the queue is empty, in milliseconds.
    pub poll_interval_ms: u64,
    /// How long a claimed job is leased before another worker may take it over, in seconds.
    pub lease_seconds: i64,
    /// Jobs this process runs at once: inbound messages and sends wait on the database and the
    /// providers, not the CPU, so one at a time would cap a channel at a few hundred messages a
    /// second.
    pub concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KnowledgeConfig {
    /// Where the embedded vector index (qdrant-edge) and parser scratch files live.
    pub data_dir: PathBuf,
    /// Embedding model: `e5` (multilingual-e5-small, default) or `minilm` (English fallback).
    pub model: String,
    /// Directory of the ONNX model and its tokenizer; default: `TANDEM_E5_DIR` (or
    /// `TANDEM_MINILM_DIR`) as `scripts/models/fetch` prints them.
    pub model_dir: Option<PathBuf>,
    /// The ONNX Runtime library; default: `ORT_DYLIB_PATH`.
    pub onnxruntime: Option<PathBuf>,
    /// Sources per knowledge base (PRODUCT.md §2: 10).
    pub max_sources: usize,
    /// Bytes per knowledge base, all sources together (20 MB).
    pub max_total_bytes: u64,
    /// Pages per PDF (1,000).
    pub max_pages: usize,
    /// Wall time a parser child may take on one file, in seconds.
    pub parse_timeout_seconds: u64,
    /// Address space a parser child may use, in MiB.
    pub parse_memory_mb: u64,
    /// The parser program (default: this executable, run as `tandem parse-worker`).
    pub parser_program: Option<PathBuf>,
    /// Time allowed to fetch a web source, in seconds.
    pub fetch_timeout_seconds: u64,
    /// Let web sources point at loopback and private addresses (tests, intranets).
    pub allow_private_urls: bool,
    /// A Qdrant server or cluster to keep the vectors in (its gRPC address, e.g.
    /// `http://qdrant:6334`) instead of the embedded engine: needed when several Tandem replicas
    /// serve one workspace. Unset: the embedded engine in `data_dir`.
    pub qdrant_url: Option<String>,
    /// The API key the Qdrant server asks for, if any.
    pub qdrant_api_key: Option<String>,
    /// The collection that holds every agent's chunks (created when missing).
    pub qdrant_collection: String,
    /// Time allowed to each call to the Qdrant server, in seconds.
    pub qdrant_timeout_seconds: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `pretty` for people, `json` for log collectors.
    pub format: String,
    /// A `tracing` filter such as `info,tandem_server=debug`.
    pub filter: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { bind: "127.0.0.1:8080".into(), max_body_bytes: 25 * 1024 * 1024 }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self { url: "sqlite://.data/tandem.db".into(), max_connections: 8 }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self { session_ttl_hours: 24 * 7, secure_cookies: false }
    }
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self { enabled: true, poll_interval_ms: 250, lease_seconds: 300, concurrency: 4 }
    }
}

impl Default for KnowledgeConfig {
    fn default() -> Self {
        Self {
            data_dir: ".data/knowledge".into(),
            model: "e5".into(),
            model_dir: None,
            onnxruntime: None,
            max_sources: 10,
            max_total_bytes: 20 * 1000 * 1000,
            max_pages: 1000,
            parse_timeout_seconds: 120,
            parse_memory_mb: 2048,
            parser_program: None,
            fetch_timeout_seconds: 30,
            allow_private_urls: false,
            qdrant_url: None,
            qdrant_api_key: None,
            qdrant_collection: "tandem_chunks".into(),
            qdrant_timeout_seconds: 10,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: "pretty".into(), filter: "info".into() }
    }
}

impl Config {
    /// Defaults, then `file` if given (it must exist), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(Box::new(figment::Error::from(format!("config file {} not found", path.display()))));
            }
            figment = figment.merge(Toml::file(path));
        }
        // Only `SECTION__KEY` variables are settings: `TANDEM_CONFIG` and the like are not.
        figment.merge(Env::prefixed("TANDEM_").filter(|k| k.as_str().contains("__")).split("__")).extract().map_err(Box::new)
    }

    /// The directory holding the SQLite file, when the store is embedded.
    pub fn sqlite_dir(&self) -> Option<PathBuf> {
        let path = self.database.url.strip_prefix("sqlite://")?.split('?').next()?;
        Path::new(path).parent().map(Path::to_path_buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API
    fn file_then_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("tandem.toml", "[server]\nbind = \"0.0.0.0:9000\"\n[database]\nurl = \"sqlite://x/t.db\"\n")?;
            jail.set_env("TANDEM_DATABASE__URL", "postgres://u@127.0.0.1/t");
            jail.set_env("TANDEM_CONFIG", "tandem.toml");
            let cfg = Config::load(Some(Path::new("tandem.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(cfg.server.bind, "0.0.0.0:9000");
            assert_eq!(cfg.database.url, "postgres://u@127.0.0.1/t");
            assert_eq!(cfg.workers, WorkerConfig::default());
            jail.create_file("bad.toml", "[server]\nbnd = 1\n")?;
            assert!(Config::load(Some(Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }
}
