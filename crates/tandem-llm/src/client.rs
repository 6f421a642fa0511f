//! Chat completions against any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp),
//! with per-attempt timeouts and retries.
//!
//! Why not async-openai's own `Client`: it loses the HTTP status of a 4xx whose body is not
//! OpenAI's exact error shape (llama-server's numeric `error.code` fails its parse), so a 400 could
//! not be told from a 429 and retried correctly; and its releases with `rustls` are on reqwest 0.13
//! with aws-lc-rs, a second HTTP and TLS stack beside the workspace's reqwest 0.12. We keep its
//! request types (see `wire`) and send them ourselves.

use crate::budget::PromptBudget;
use crate::chat::{ChatRequest, ChatResponse, FinishReason};
use crate::config::LlmConfig;
use crate::error::LlmError;
use crate::retry::{retry_after, status_failure, Backoff, Failure};
use crate::stream::ChatStream;
use crate::structured;
use crate::tokens::{estimate_prompt, estimate_tokens};
use crate::wire;
use async_openai::types::chat::{CreateChatCompletionRequest, ResponseFormat, ResponseFormatJsonSchema};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Error bodies are kept for messages and logs, not in full.
const MAX_ERROR_BODY: usize = 4096;

#[derive(Clone)]
pub struct LlmClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    endpoint: Url,
    model: String,
    api_key: Option<String>,
    timeout: Duration,
    max_retries: u32,
    backoff: Backoff,
    context_tokens: u32,
}

/// A typed answer from [`LlmClient::complete_json`], with the completion it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Structured<T> {
    pub value: T,
    pub response: ChatResponse,
}

impl std::fmt::Debug for LlmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmClient").field("base_url", &self.inner.base_url).field("model", &self.inner.model).finish_non_exhaustive()
    }
}

impl LlmClient {
    /// A client for `config.base_url`; without one, start a `LocalServer` and use
    /// [`LlmClient::with_base_url`] (or [`crate::Llm::start`], which does both).
    pub fn new(config: &LlmConfig) -> Result<Self, LlmError> {
        let base_url = config
            .base_url
            .as_deref()
            .ok_or_else(|| LlmError::Config("llm.base_url is not set: start the local llama-server and pass its URL".into()))?;
        Self::with_base_url(config, base_url)
    }

    /// A client for `base_url` (ending in `/v1`), with the rest of `config`.
    pub fn with_base_url(config: &LlmConfig, base_url: &str) -> Result<Self, LlmError> {
        let base_url = base_url.trim_end_matches('/').to_string();
        let endpoint = Url::parse(&format!("{base_url}/chat/completions"))
            .map_err(|e| LlmError::Config(format!("llm.base_url {base_url:?} is not a URL: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") {
            return Err(LlmError::Config(format!("llm.base_url {base_url:?} must be http or https")));
        }
        let timeout = config.request_timeout();
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| LlmError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                endpoint,
                model: config.model.clone(),
                api_key: config.api_key.clone(),
                timeout,
                max_retries: config.max_retries,
                backoff: Backoff { initial: config.retry_backoff() },
                context_tokens: config.effective_context_tokens(),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The context window prompts are budgeted against.
    pub fn context_tokens(&self) -> u32 {
        self.inner.context_tokens
    }

    /// A budget for this model that keeps `completion_tokens` free for the answer.
    pub fn budget(&self, completion_tokens: u32) -> PromptBudget {
        PromptBudget::new(self.inner.context_tokens, completion_tokens)
    }

    /// One whole completion.
    pub async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.complete_with(&request, None).await
    }

    /// A completion constrained to `schema` (`response_format: json_schema`, strict), then checked
    /// here against the schema and parsed into `T`: servers differ in how strictly they constrain,
    /// and a cut answer (`finish_reason: length`) is not valid JSON. `InvalidOutput` tells the
    /// caller to use its safe default. The schema's name is `T`'s type name.
    pub async fn complete_json<T: DeserializeOwned>(
        &self,
        request: ChatRequest,
        schema: serde_json::Value,
    ) -> Result<Structured<T>, LlmError> {
        let validator = structured::compile(&schema)?;
        let format = ResponseFormat::JsonSchema {
            json_schema: ResponseFormatJsonSchema { description: None, name: structured::schema_name::<T>(), schema, strict: Some(true) },
        };
        let response = self.complete_with(&request, Some(format)).await?;
        let value = structured::parse::<T>(&validator, &response.text)?;
        Ok(Structured { value, response })
    }

    /// A streamed completion: text deltas as the model writes them, then a summary with the usage
    /// and the time to first token. Retries happen only before the first byte of the answer.
    pub async fn stream(&self, request: ChatRequest) -> Result<ChatStream, LlmError> {
        let started = Instant::now();
        let body = wire::request_body(&request, &self.inner.model, true, None);
        let (response, attempts) = self.with_retries(|| self.send(&body)).await?;
        Ok(ChatStream::new(
            response,
            started,
            attempts,
            self.inner.timeout,
            estimate_prompt(&request.messages),
            self.inner.base_url.clone(),
        ))
    }

    async fn complete_with(&self, request: &ChatRequest, format: Option<ResponseFormat>) -> Result<ChatResponse, LlmError> {
        let started = Instant::now();
        let body = wire::request_body(request, &self.inner.model, false, format);
        let (bytes, attempts) = self
            .with_retries(|| async {
                let response = self.send(&body).await?;
                response.bytes().await.map_err(|e| self.unreachable(&e))
            })
            .await?;
        let latency = started.elapsed();
        let completion: wire::Completion =
            serde_json::from_slice(&bytes).map_err(|e| LlmError::InvalidResponse(format!("{e}: {}", truncate(&bytes))))?;
        let choice = completion.choices.into_iter().next().ok_or_else(|| LlmError::InvalidResponse("no choices".into()))?;
        let text = choice.message.and_then(|m| m.content).unwrap_or_default();
        let (prompt_tokens, completion_tokens, usage_estimated) = match completion.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens, false),
            None => (estimate_prompt(&request.messages), estimate_tokens(&text), true),
        };
        let response = ChatResponse {
            text,
            prompt_tokens,
            completion_tokens,
            usage_estimated,
            latency,
            finish_reason: FinishReason::parse(choice.finish_reason.as_deref()),
            attempts,
        };
        tracing::debug!(
            attempts,
            latency_ms = latency.as_millis() as u64,
            prompt_tokens,
            completion_tokens,
            finish = ?response.finish_reason,
            "LLM completion"
        );
        Ok(response)
    }

    /// One attempt up to the response headers; a non-success status is read and classified.
    async fn send(&self, body: &CreateChatCompletionRequest) -> Result<reqwest::Response, Failure> {
        let mut request = self.inner.http.post(self.inner.endpoint.clone()).json(body);
        if let Some(key) = &self.inner.api_key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let after = retry_after(response.headers());
        let body = response.bytes().await.map(|b| truncate(&b)).unwrap_or_default();
        Err(status_failure(status.as_u16(), body, after))
    }

    fn unreachable(&self, error: &reqwest::Error) -> Failure {
        let mut reason = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            reason.push_str(": ");
            reason.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure::Retryable { error: LlmError::Unavailable { url: self.inner.endpoint.to_string(), attempts: 0, reason }, retry_after: None }
    }

    /// Runs `attempt` under the timeout until it succeeds, fails for good, or retries run out.
    async fn with_retries<T, F, Fut>(&self, mut attempt: F) -> Result<(T, u32), LlmError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Failure>>,
    {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let outcome = tokio::time::timeout(self.inner.timeout, attempt())
                .await
                .unwrap_or(Err(Failure::Fatal(LlmError::Timeout(self.inner.timeout))));
            let (error, after) = match outcome {
                Ok(value) => return Ok((value, attempts)),
                Err(Failure::Fatal(error)) => return Err(error),
                Err(Failure::Retryable { error, retry_after }) => (error, retry_after),
            };
            let error = match error {
                LlmError::Unavailable { url, reason, .. } => LlmError::Unavailable { url, attempts, reason },
                other => other,
            };
            if attempts > self.inner.max_retries {
                return Err(error);
            }
            let delay = self.inner.backoff.delay(attempts - 1, after);
            tracing::warn!(attempt = attempts, delay_ms = delay.as_millis() as u64, %error, "LLM request failed; retrying");
            tokio::time::sleep(delay).await;
        }
    }
}

fn truncate(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(MAX_ERROR_BODY) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}
