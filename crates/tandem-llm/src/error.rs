//! What can go wrong talking to a model, in terms a caller can act on: retry later
//! (`Unavailable`, `Timeout`), shrink the prompt (`ContextOverflow`), or fall back to a safe
//! default (`InvalidOutput`).

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("invalid LLM configuration: {0}")]
    Config(String),
    /// No HTTP answer at all (connection refused or reset), after every retry.
    #[error("the LLM server at {url} is unavailable after {attempts} attempt(s): {reason}")]
    Unavailable { url: String, attempts: u32, reason: String },
    /// Not retried: a request that took this long would likely take as long again.
    #[error("the LLM server did not answer within {0:?}")]
    Timeout(Duration),
    /// A non-success answer: 4xx at once, 429 and 5xx once retries are spent.
    #[error("the LLM server answered HTTP {code}: {body}")]
    Status { code: u16, body: String },
    /// The prompt (plus the completion budget) is larger than the model's context. Counts are the
    /// server's when it gave them, else our estimate.
    #[error("the prompt does not fit the model's context ({prompt_tokens:?} prompt tokens, {context_tokens:?} context tokens)")]
    ContextOverflow { prompt_tokens: Option<u32>, context_tokens: Option<u32> },
    /// The server answered 2xx with something that is not an OpenAI chat completion.
    #[error("the LLM server's answer is not an OpenAI chat completion: {0}")]
    InvalidResponse(String),
    /// The model's text is not valid JSON for the requested schema and type; `raw` is that text.
    #[error("the model's output does not match the requested schema: {reason}")]
    InvalidOutput { reason: String, raw: String },
    /// The schema given to `complete_json` is not a valid JSON Schema (a caller bug).
    #[error("invalid JSON schema: {0}")]
    InvalidSchema(String),
    #[error(transparent)]
    Local(#[from] LocalServerError),
}

/// Starting or supervising the local `llama-server`.
#[derive(Debug, thiserror::Error)]
pub enum LocalServerError {
    #[error(
        "no {what} configured: set llm.local.{key} or {env}; run scripts/llm/fetch, which builds and downloads it and prints {env}=..."
    )]
    NotConfigured { what: &'static str, key: &'static str, env: &'static str },
    #[error("llama-server binary not found at {}: run scripts/llm/fetch (it prints LLAMA_SERVER=...)", .0.display())]
    BinaryMissing(PathBuf),
    #[error("LLM model file not found at {}: run scripts/llm/fetch (it prints TANDEM_LLM_MODEL=...)", .0.display())]
    ModelMissing(PathBuf),
    #[error("could not find a free loopback port: {0}")]
    Port(std::io::Error),
    #[error("could not start {}: {source}", .binary.display())]
    Spawn { binary: PathBuf, source: std::io::Error },
    #[error("llama-server exited during startup ({status}); its last lines:\n{log}")]
    Exited { status: String, log: String },
    #[error("llama-server did not become healthy within {after:?}; its last lines:\n{log}")]
    StartupTimeout { after: Duration, log: String },
    #[error("the local llama-server has been shut down")]
    Stopped,
}
