//! The `[llm]` section: which model the agents talk to. Here rather than in tandem-llm so that the
//! one typed configuration holds it without tandem-core taking on an HTTP stack.

use serde::{Deserialize, Serialize};
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

/// Which model to talk to and how patiently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LlmConfig {
    /// Start the model with the server (agents, smart replies and the writing assistant need it).
    pub enabled: bool,
    /// An OpenAI-compatible endpoint ending in `/v1`, e.g. `https://api.openai.com/v1` or
    /// `http://127.0.0.1:8000/v1`. Unset (the embedded default): Tandem runs `llama-server` itself,
    /// as `[llm.local]` says, and uses its address.
    pub base_url: Option<String>,
    /// Sent as `Authorization: Bearer ...` when set.
    pub api_key: Option<String>,
    /// The `model` field of each request (llama-server serves one model and ignores it).
    pub model: String,
    /// The model's context window, in tokens: prompts are budgeted to fit in it.
    pub context_tokens: NonZeroU32,
    /// How long one attempt may take, in seconds; for streams, the longest wait for the first
    /// token and between two tokens.
    pub request_timeout_seconds: NonZeroU64,
    /// Further attempts after a 429, a 5xx or a connection failure.
    pub max_retries: u32,
    /// Wait before the first retry, in milliseconds; doubles on each retry, with jitter.
    pub retry_backoff_ms: u64,
    pub local: LocalServerConfig,
}

/// The `llama-server` that Tandem starts and supervises when no `base_url` is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocalServerConfig {
    /// The `llama-server` executable; default: `LLAMA_SERVER`, as `scripts/llm/fetch` prints it.
    pub binary: Option<PathBuf>,
    /// The GGUF model; default: `TANDEM_LLM_MODEL`, as `scripts/llm/fetch` prints it.
    pub model: Option<PathBuf>,
    /// CPU threads for generation (`-t`).
    pub threads: NonZeroU32,
    /// KV cache size in tokens (`-c`), shared by the server's slots.
    pub context_tokens: NonZeroU32,
    /// Loopback port; 0 picks a free one at start (kept across restarts).
    pub port: u16,
    /// How long the server may take to load the model and answer `/health`, in seconds.
    pub startup_timeout_seconds: NonZeroU64,
    /// Further `llama-server` arguments, appended as given (e.g. `["--parallel", "1"]`).
    pub extra_args: Vec<String>,
}

const fn nz32(n: u32) -> NonZeroU32 {
    match NonZeroU32::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

const fn nz64(n: u64) -> NonZeroU64 {
    match NonZeroU64::new(n) {
        Some(n) => n,
        None => panic!("zero"),
    }
}

impl Default for LlmConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            base_url: None,
            api_key: None,
            model: "qwen2.5-coder-1.5b-instruct".into(),
            context_tokens: nz32(4096),
            request_timeout_seconds: nz64(120),
            max_retries: 2,
            retry_backoff_ms: 500,
            local: LocalServerConfig::default(),
        }
    }
}

impl Default for LocalServerConfig {
    fn default() -> Self {
        Self {
            binary: None,
            model: None,
            threads: nz32(2),
            context_tokens: nz32(4096),
            port: 0,
            startup_timeout_seconds: nz64(120),
            extra_args: Vec::new(),
        }
    }
}

impl LlmConfig {
    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_seconds.get())
    }

    pub fn retry_backoff(&self) -> Duration {
        Duration::from_millis(self.retry_backoff_ms)
    }

    /// True when Tandem must run `llama-server` itself.
    pub fn uses_local_server(&self) -> bool {
        self.base_url.is_none()
    }

    /// The context prompts must fit in: with the local server, also no more than its KV cache,
    /// since a request larger than `-c` is refused however large the model's window is.
    pub fn effective_context_tokens(&self) -> u32 {
        if self.uses_local_server() {
            self.context_tokens.min(self.local.context_tokens).get()
        } else {
            self.context_tokens.get()
        }
    }
}

impl LocalServerConfig {
    pub fn startup_timeout(&self) -> Duration {
        Duration::from_secs(self.startup_timeout_seconds.get())
    }
}
