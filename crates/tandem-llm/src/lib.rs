//! Tandem's LLM layer: how agents talk to a model.
//!
//! [`LlmClient`] speaks the OpenAI chat-completions protocol to any compatible endpoint (OpenAI,
//! vLLM, Ollama, llama.cpp): whole or streamed answers, JSON-schema structured outputs checked on
//! our side, per-attempt timeouts, and retries with backoff on 429, 5xx and unreachable servers.
//! [`PromptBudget`] fits instructions, retrieved chunks and history into the model's context,
//! counting tokens conservatively ([`tokens`]). [`LocalServer`] runs llama.cpp's `llama-server`
//! for the embedded deployment and keeps it alive; [`Llm::start`] picks between the two from
//! [`LlmConfig`].

pub mod budget;
mod chat;
mod client;
pub mod config;
mod error;
mod local;
mod retry;
mod runtime;
mod stream;
mod structured;
pub mod tokens;
mod wire;

pub use budget::{BudgetPlan, PromptBudget};
pub use chat::{ChatMessage, ChatRequest, ChatResponse, FinishReason, Role};
pub use client::{LlmClient, Structured};
pub use config::{LlmConfig, LocalServerConfig};
pub use error::{LlmError, LocalServerError};
pub use local::{LocalServer, ServerStatus};
pub use runtime::Llm;
pub use stream::{ChatStream, StreamEvent, StreamSummary};
