//! Fits a prompt into the model's context before it is sent, so that the server never refuses it
//! and the answer always has its reserved tokens. What must be there (instructions, the customer's
//! message) is fixed; what may be cut comes in priority order: retrieved chunks first (best first),
//! then conversation history (newest first). Counts are the conservative estimates of [`tokens`].
//!
//! [`tokens`]: crate::tokens

use crate::chat::ChatMessage;
use crate::error::LlmError;
use crate::tokens::{estimate_message, estimate_tokens, MESSAGE_OVERHEAD, PROMPT_OVERHEAD};

/// Tokens allowed between two chunks (a blank line, and a merge at the boundary).
pub const CHUNK_SEPARATOR: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptBudget {
    context_tokens: u32,
    completion_tokens: u32,
}

/// What fits. Indices refer to the slices given to [`PromptBudget::plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetPlan {
    /// Chunks kept, in the order given.
    pub chunks_kept: Vec<usize>,
    /// Chunks that did not fit, in the order given.
    pub chunks_dropped: Vec<usize>,
    /// The newest history messages kept: the first `history_kept` of those given.
    pub history_kept: usize,
    /// Older messages dropped after them.
    pub history_dropped: usize,
    /// Estimated tokens of the planned prompt; never above `prompt_limit`.
    pub prompt_tokens: u32,
    /// Context tokens less the completion's reserve.
    pub prompt_limit: u32,
}

impl PromptBudget {
    /// A model with `context_tokens` of context, keeping `completion_tokens` free for the answer.
    pub fn new(context_tokens: u32, completion_tokens: u32) -> Self {
        Self { context_tokens, completion_tokens }
    }

    pub fn prompt_limit(&self) -> u32 {
        self.context_tokens.saturating_sub(self.completion_tokens)
    }

    /// Keeps every fixed message, then each chunk that still fits (a large chunk is skipped and
    /// smaller ones after it may still be kept: chunks stand alone), then history from the newest
    /// back to the first message that does not fit (a gap would make the conversation read
    /// wrong). Chunks are costed as one extra message holding them all, each chunk as its text
    /// (whatever labels the caller adds included) plus [`CHUNK_SEPARATOR`].
    ///
    /// Errors with `ContextOverflow` when the fixed messages alone leave no room for the answer.
    pub fn plan<C: AsRef<str>>(
        &self,
        fixed: &[ChatMessage],
        chunks: &[C],
        history_newest_first: &[ChatMessage],
    ) -> Result<BudgetPlan, LlmError> {
        let limit = self.prompt_limit();
        let mut used = fixed.iter().map(estimate_message).fold(PROMPT_OVERHEAD, u32::saturating_add);
        if used > limit {
            return Err(LlmError::ContextOverflow {
                prompt_tokens: Some(used.saturating_add(self.completion_tokens)),
                context_tokens: Some(self.context_tokens),
            });
        }

        let (mut chunks_kept, mut chunks_dropped) = (Vec::new(), Vec::new());
        for (index, chunk) in chunks.iter().enumerate() {
            let block = if chunks_kept.is_empty() { MESSAGE_OVERHEAD } else { 0 };
            let cost = estimate_tokens(chunk.as_ref()).saturating_add(CHUNK_SEPARATOR).saturating_add(block);
            if used.saturating_add(cost) <= limit {
                used += cost;
                chunks_kept.push(index);
            } else {
                chunks_dropped.push(index);
            }
        }

        let mut history_kept = 0;
        for message in history_newest_first {
            let cost = estimate_message(message);
            if used.saturating_add(cost) > limit {
                break;
            }
            used += cost;
            history_kept += 1;
        }

        Ok(BudgetPlan {
            chunks_kept,
            chunks_dropped,
            history_kept,
            history_dropped: history_newest_first.len() - history_kept,
            prompt_tokens: used,
            prompt_limit: limit,
        })
    }
}
