//! A streamed completion, read from server-sent events (`data: {chunk}` ... `data: [DONE]`;
//! comments such as llama-server's keep-alive pings are skipped by the parser).

use crate::chat::FinishReason;
use crate::error::LlmError;
use crate::tokens::estimate_tokens;
use crate::wire;
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::stream::{BoxStream, Stream, StreamExt};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The next piece of the answer's text.
    Delta(String),
    /// The last item: the stream is complete.
    Done(StreamSummary),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamSummary {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// True when the server reported no usage and the counts are our cl100k estimates.
    pub usage_estimated: bool,
    pub finish_reason: FinishReason,
    /// From the call to the first non-empty delta (prompt processing included); `None` when the
    /// answer was empty.
    pub time_to_first_token: Option<Duration>,
    /// From the call to `[DONE]`.
    pub latency: Duration,
    pub attempts: u32,
}

impl StreamSummary {
    /// Generation speed after the first token (what a reader of the stream sees).
    pub fn tokens_per_second(&self) -> Option<f64> {
        let first = self.time_to_first_token?;
        let generating = self.latency.checked_sub(first)?.as_secs_f64();
        (generating > 0.0 && self.completion_tokens > 1).then(|| f64::from(self.completion_tokens - 1) / generating)
    }
}

/// Items are deltas, then one `Done`; an error ends the stream.
pub struct ChatStream {
    inner: BoxStream<'static, Result<StreamEvent, LlmError>>,
}

type Events = BoxStream<'static, Result<Event, EventStreamError<reqwest::Error>>>;

struct State {
    events: Events,
    idle_timeout: Duration,
    started: Instant,
    attempts: u32,
    prompt_estimate: u32,
    url: String,
    first_token: Option<Duration>,
    text: String,
    usage: Option<wire::Usage>,
    finish: Option<String>,
    ended: bool,
}

impl ChatStream {
    pub(crate) fn new(
        response: reqwest::Response,
        started: Instant,
        attempts: u32,
        idle_timeout: Duration,
        prompt_estimate: u32,
        url: String,
    ) -> Self {
        let state = State {
            events: response.bytes_stream().eventsource().boxed(),
            idle_timeout,
            started,
            attempts,
            prompt_estimate,
            url,
            first_token: None,
            text: String::new(),
            usage: None,
            finish: None,
            ended: false,
        };
        let inner = futures::stream::unfold(state, |mut state| async move {
            if state.ended {
                return None;
            }
            let item = state.next_item().await;
            state.ended = !matches!(item, Ok(StreamEvent::Delta(_)));
            Some((item, state))
        });
        Self { inner: inner.boxed() }
    }

    /// Reads the whole stream: the text and the summary.
    pub async fn collect_text(mut self) -> Result<(String, StreamSummary), LlmError> {
        let mut text = String::new();
        while let Some(item) = self.next().await {
            match item? {
                StreamEvent::Delta(delta) => text.push_str(&delta),
                StreamEvent::Done(summary) => return Ok((text, summary)),
            }
        }
        Err(LlmError::InvalidResponse("the stream ended without a summary".into()))
    }
}

impl Stream for ChatStream {
    type Item = Result<StreamEvent, LlmError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.poll_next_unpin(cx)
    }
}

impl State {
    async fn next_item(&mut self) -> Result<StreamEvent, LlmError> {
        loop {
            let event = match tokio::time::timeout(self.idle_timeout, self.events.next()).await {
                Err(_) => return Err(LlmError::Timeout(self.idle_timeout)),
                Ok(None) if self.finish.is_some() => return Ok(StreamEvent::Done(self.summary())),
                Ok(None) => return Err(self.lost("the stream ended before the completion finished".into())),
                Ok(Some(Err(EventStreamError::Transport(e)))) => return Err(self.lost(e.to_string())),
                Ok(Some(Err(e))) => return Err(LlmError::InvalidResponse(e.to_string())),
                Ok(Some(Ok(event))) => event,
            };
            if event.data.trim() == "[DONE]" {
                return Ok(StreamEvent::Done(self.summary()));
            }
            let chunk: wire::Chunk =
                serde_json::from_str(&event.data).map_err(|e| LlmError::InvalidResponse(format!("stream chunk {:?}: {e}", event.data)))?;
            if let Some(error) = chunk.error {
                return Err(mid_stream_error(error));
            }
            if let Some(usage) = chunk.completion.usage {
                self.usage = Some(usage);
            }
            let mut delta = String::new();
            for choice in chunk.completion.choices {
                if let Some(reason) = choice.finish_reason {
                    self.finish = Some(reason);
                }
                if let Some(content) = choice.delta.and_then(|d| d.content) {
                    delta.push_str(&content);
                }
            }
            if !delta.is_empty() {
                self.first_token.get_or_insert_with(|| self.started.elapsed());
                self.text.push_str(&delta);
                return Ok(StreamEvent::Delta(delta));
            }
        }
    }

    fn lost(&self, reason: String) -> LlmError {
        LlmError::Unavailable { url: self.url.clone(), attempts: self.attempts, reason }
    }

    fn summary(&self) -> StreamSummary {
        let (prompt_tokens, completion_tokens, usage_estimated) = match self.usage {
            Some(usage) => (usage.prompt_tokens, usage.completion_tokens, false),
            None => (self.prompt_estimate, estimate_tokens(&self.text), true),
        };
        let summary = StreamSummary {
            prompt_tokens,
            completion_tokens,
            usage_estimated,
            finish_reason: FinishReason::parse(self.finish.as_deref()),
            time_to_first_token: self.first_token,
            latency: self.started.elapsed(),
            attempts: self.attempts,
        };
        tracing::debug!(
            attempts = summary.attempts,
            ttft_ms = summary.time_to_first_token.map(|d| d.as_millis() as u64),
            latency_ms = summary.latency.as_millis() as u64,
            prompt_tokens,
            completion_tokens,
            "LLM stream finished"
        );
        summary
    }
}

/// An error the server sent as a stream event after the 200 (llama.cpp does:
/// `data: {"error": {"code": 500, "message": ...}}`).
fn mid_stream_error(error: serde_json::Value) -> LlmError {
    let body = serde_json::json!({ "error": error }).to_string();
    if let Some(overflow) = wire::context_overflow(&body) {
        return overflow;
    }
    let code = error.get("code").and_then(|c| c.as_u64()).and_then(|c| u16::try_from(c).ok()).unwrap_or(500);
    LlmError::Status { code, body }
}
