//! Token counts as budgets use them: cl100k (the unit the knowledge base sizes chunks in), scaled
//! up to a conservative estimate of what the serving model will count.
//!
//! Why a margin: the model's tokenizer is not cl100k (Qwen2.5's has 151k pieces, Llama 3's 128k,
//! SentencePiece models differ more), so the same text may take more of its tokens; and the chat
//! template wraps every message in role markers (`<|im_start|>user\n` ... `<|im_end|>\n` is 5 tokens
//! for Qwen, more for others) and ends the prompt with the assistant's header. We therefore count
//! cl100k tokens × [`TOKEN_FACTOR`], plus [`MESSAGE_OVERHEAD`] per message and [`PROMPT_OVERHEAD`]
//! per prompt. Overestimating only costs a little context; underestimating makes the server refuse
//! the request or cut the answer. The real-server test checks the estimate against llama-server's
//! own prompt count in English, French, Chinese and Thai.

use crate::chat::ChatMessage;
use std::sync::OnceLock;
use tiktoken_rs::CoreBPE;

/// Scale from cl100k tokens to the serving model's, rounded up.
pub const TOKEN_FACTOR: f64 = 1.15;
/// Chat-template tokens around each message (role markers, separators).
pub const MESSAGE_OVERHEAD: u32 = 8;
/// Tokens the template adds once per prompt (the assistant header that opens the answer).
pub const PROMPT_OVERHEAD: u32 = 8;

fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the cl100k tables are compiled into tiktoken-rs"))
}

/// cl100k tokens in `text`, exact.
pub fn count_tokens(text: &str) -> u32 {
    saturate(bpe().encode_ordinary(text).len())
}

/// The serving model's tokens in `text`, estimated from above.
pub fn estimate_tokens(text: &str) -> u32 {
    scale(count_tokens(text))
}

/// One message as the prompt will hold it: its text plus the template's markers.
pub fn estimate_message(message: &ChatMessage) -> u32 {
    estimate_tokens(&message.content).saturating_add(MESSAGE_OVERHEAD)
}

/// A whole prompt (the answer's reserved tokens not included).
pub fn estimate_prompt(messages: &[ChatMessage]) -> u32 {
    messages.iter().map(estimate_message).fold(PROMPT_OVERHEAD, u32::saturating_add)
}

pub(crate) fn scale(cl100k: u32) -> u32 {
    (f64::from(cl100k) * TOKEN_FACTOR).ceil() as u32
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_rounds_up_and_counts_template_overhead() {
        assert_eq!(count_tokens("hello world"), 2);
        assert_eq!(estimate_tokens("hello world"), 3); // 2 × 1.15 = 2.3 → 3
        assert_eq!(estimate_tokens(""), 0);
        let messages = [ChatMessage::system("hello world"), ChatMessage::user("")];
        assert_eq!(estimate_prompt(&messages), PROMPT_OVERHEAD + 3 + MESSAGE_OVERHEAD + MESSAGE_OVERHEAD);
    }
}
