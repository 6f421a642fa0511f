//! Our vocabulary for a chat turn, smaller than OpenAI's: text messages in, text out. The wire
//! types live in `wire`, so callers never depend on the SDK's.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
}

impl ChatMessage {
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }

    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self { role: Role::Assistant, content: content.into() }
    }
}

/// One completion to ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub messages: Vec<ChatMessage>,
    /// Completion tokens reserved for the answer (`max_tokens`); the budget keeps this free.
    pub max_tokens: u32,
    /// Unset: the server's default.
    pub temperature: Option<f32>,
    /// Overrides the configured model for this request (an agent with its own model).
    pub model: Option<String>,
}

impl ChatRequest {
    /// Reserves 512 completion tokens; change with [`ChatRequest::max_tokens`].
    pub fn new(messages: Vec<ChatMessage>) -> Self {
        Self { messages, max_tokens: 512, temperature: None, model: None }
    }

    pub fn max_tokens(mut self, max_tokens: u32) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    pub fn temperature(mut self, temperature: f32) -> Self {
        self.temperature = Some(temperature);
        self
    }

    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end (or a stop sequence).
    Stop,
    /// `max_tokens` or the context ran out: the text is cut.
    Length,
    ContentFilter,
    ToolCalls,
    /// Anything else the server said; empty when it said nothing.
    Other(String),
}

impl FinishReason {
    pub(crate) fn parse(reason: Option<&str>) -> Self {
        match reason {
            Some("stop") => Self::Stop,
            Some("length") => Self::Length,
            Some("content_filter") => Self::ContentFilter,
            Some("tool_calls") | Some("function_call") => Self::ToolCalls,
            other => Self::Other(other.unwrap_or_default().to_string()),
        }
    }
}

/// A whole completion.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub text: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// True when the server reported no usage and the counts above are our cl100k estimates.
    pub usage_estimated: bool,
    /// From the first attempt to the last byte, retries and their waits included.
    pub latency: Duration,
    pub finish_reason: FinishReason,
    /// HTTP attempts made (1 when no retry was needed).
    pub attempts: u32,
}
