//! The OpenAI chat-completions wire format. Requests are async-openai's types, so what we send is
//! the SDK's reading of the OpenAI spec. Answers are read with our own lenient structs: compatible
//! servers differ in the bookkeeping fields (`id`, `created`, `object`, finish reasons) and in their
//! error bodies (llama-server's `error.code` is a number where the SDK expects a string), and we
//! need only the text, the finish reason and the usage.

use crate::chat::{ChatMessage, ChatRequest, Role};
use crate::error::LlmError;
use async_openai::types::chat::{
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest, ResponseFormat,
};
use serde::Deserialize;

pub(crate) fn request_body(
    request: &ChatRequest,
    default_model: &str,
    stream: bool,
    response_format: Option<ResponseFormat>,
) -> CreateChatCompletionRequest {
    // `max_tokens` rather than `max_completion_tokens`: OpenAI deprecated it, but every
    // compatible server (llama.cpp, vLLM, Ollama) reads it, and not all read the new name.
    #[allow(deprecated)]
    CreateChatCompletionRequest {
        messages: request.messages.iter().map(message).collect(),
        model: request.model.clone().unwrap_or_else(|| default_model.to_string()),
        max_tokens: Some(request.max_tokens),
        temperature: request.temperature,
        response_format,
        stream: stream.then_some(true),
        stream_options: stream.then_some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None }),
        ..Default::default()
    }
}

fn message(message: &ChatMessage) -> ChatCompletionRequestMessage {
    let text = message.content.clone();
    match message.role {
        Role::System => ChatCompletionRequestSystemMessage::from(text).into(),
        Role::User => ChatCompletionRequestUserMessage::from(text).into(),
        Role::Assistant => ChatCompletionRequestAssistantMessage::from(text).into(),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct Completion {
    #[serde(default)]
    pub choices: Vec<Choice>,
    pub usage: Option<Usage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Choice {
    pub message: Option<Message>,
    pub delta: Option<Message>,
    pub finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    pub content: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// A stream chunk: a completion whose choices carry `delta`, or an error sent mid-stream.
#[derive(Debug, Deserialize)]
pub(crate) struct Chunk {
    #[serde(flatten)]
    pub completion: Completion,
    pub error: Option<serde_json::Value>,
}

/// The parts of an error body that tell a context overflow apart, in the shapes OpenAI
/// (`code: "context_length_exceeded"`), llama.cpp (`type: "exceed_context_size_error"` with
/// `n_prompt_tokens`/`n_ctx`) and vLLM ("maximum context length" in the message) use.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<serde_json::Value>,
    n_prompt_tokens: Option<u32>,
    n_ctx: Option<u32>,
}

/// `Some(ContextOverflow)` when a 400 body says the prompt is too long.
pub(crate) fn context_overflow(body: &str) -> Option<LlmError> {
    let detail = serde_json::from_str::<ErrorBody>(body).ok()?.error;
    let by_type = detail.kind.as_deref() == Some("exceed_context_size_error");
    let by_code = detail.code.as_ref().and_then(|c| c.as_str()) == Some("context_length_exceeded");
    let message = detail.message.to_lowercase();
    let by_message = message.contains("maximum context length") || message.contains("exceeds the available context size");
    (by_type || by_code || by_message)
        .then_some(LlmError::ContextOverflow { prompt_tokens: detail.n_prompt_tokens, context_tokens: detail.n_ctx })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_overflow_body_is_recognised_with_its_counts() {
        let body = r#"{"error":{"code":400,"message":"request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it","type":"exceed_context_size_error","n_prompt_tokens":5000,"n_ctx":4096}}"#;
        match context_overflow(body) {
            Some(LlmError::ContextOverflow { prompt_tokens, context_tokens }) => {
                assert_eq!((prompt_tokens, context_tokens), (Some(5000), Some(4096)));
            }
            other => panic!("expected an overflow, got {other:?}"),
        }
    }

    #[test]
    fn openai_overflow_code_is_recognised_and_other_400s_are_not() {
        let openai = r#"{"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
        assert!(matches!(context_overflow(openai), Some(LlmError::ContextOverflow { prompt_tokens: None, .. })));
        let other = r#"{"error":{"code":400,"message":"temperature must be positive","type":"invalid_request_error"}}"#;
        assert!(context_overflow(other).is_none());
        assert!(context_overflow("not json").is_none());
    }
}
