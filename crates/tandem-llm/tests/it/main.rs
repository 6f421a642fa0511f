//! tandem-llm against the OpenAI wire format (faked with wiremock, asserting the exact requests
//! we send) and against the real llama-server with the real model (when scripts/llm/fetch has
//! provided them).

mod budget;
mod config;
mod local;
mod openai;
mod real_server;

use std::num::NonZeroU64;
use tandem_llm::LlmConfig;

/// A config for a fake endpoint at `uri`: fast retries so that tests are quick.
pub fn config_for(uri: &str) -> LlmConfig {
    LlmConfig {
        base_url: Some(format!("{uri}/v1")),
        model: "test-model".into(),
        request_timeout_seconds: NonZeroU64::new(5).unwrap(),
        max_retries: 2,
        retry_backoff_ms: 10,
        ..LlmConfig::default()
    }
}
