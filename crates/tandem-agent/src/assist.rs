//! AI help for the people of the inbox: suggested replies to a customer's message (grounded in the
//! knowledge base and the conversation) and the writing assistant that polishes a draft. Credits
//! are the caller's business: it reserves them before calling and refunds what was not produced.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_llm::{ChatMessage, ChatRequest, LlmClient};

use crate::{
    checks,
    language::Language,
    pipeline::{Passage, Turn},
    profile::Tone,
    prompts, AgentError,
};

/// Suggestions one request may ask for.
pub const SUGGESTIONS: std::ops::RangeInclusive<usize> = 2..=3;

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Suggestions {
    /// Distinct, non-empty replies, at most as many as asked for.
    pub suggestions: Vec<String>,
    pub language: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: f64,
}

#[derive(Debug, Deserialize)]
struct SuggestionsJson {
    suggestions: Vec<String>,
}

fn tone_word(tone: Tone) -> &'static str {
    match tone {
        Tone::Professional => "professional",
        Tone::Friendly => "friendly",
        Tone::Casual => "casual",
        Tone::Formal => "formal",
        Tone::Empathetic => "empathetic",
    }
}

/// Suggests `count` replies (2 or 3) to the customer's latest `message`.
pub async fn suggest_replies(
    llm: &LlmClient,
    history: &[Turn],
    message: &str,
    passages: &[Passage],
    count: usize,
    tone: Tone,
) -> Result<Suggestions, AgentError> {
    if !SUGGESTIONS.contains(&count) {
        return Err(AgentError::InvalidInput(format!("ask for {} to {} suggestions", SUGGESTIONS.start(), SUGGESTIONS.end())));
    }
    let message = message.trim();
    if message.is_empty() {
        return Err(AgentError::InvalidInput("there is no customer message to reply to".into()));
    }
    let lang = Language::detect(message).unwrap_or(Language::ENGLISH);
    let turns: Vec<_> =
        history.iter().rev().take(6).rev().map(|t| json!({"role": format!("{:?}", t.speaker).to_lowercase(), "text": t.text})).collect();
    let chunks: Vec<_> = passages.iter().map(|c| json!({"source": c.source, "location": c.location, "text": c.text})).collect();
    let prompt = prompts::render(
        "smart_reply",
        json!({"count": count, "language": lang.name(), "tone": tone_word(tone), "history": turns, "message": message, "chunks": chunks}),
    )?;
    let schema = json!({
        "type": "object",
        "properties": {"suggestions": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 600}, "minItems": count, "maxItems": count}},
        "required": ["suggestions"],
        "additionalProperties": false
    });
    let started = Instant::now();
    let answer = llm
        .complete_json::<SuggestionsJson>(
            ChatRequest::new(vec![ChatMessage::user(prompt)]).max_tokens(150 * count as u32).temperature(0.7),
            schema,
        )
        .await?;
    let mut suggestions: Vec<String> = Vec::new();
    for s in answer.value.suggestions {
        let s = s.trim().to_string();
        if !s.is_empty() && !suggestions.iter().any(|k| checks::fold(k) == checks::fold(&s)) {
            suggestions.push(s);
        }
    }
    suggestions.truncate(count);
    Ok(Suggestions {
        suggestions,
        language: lang.code().into(),
        prompt_tokens: answer.response.prompt_tokens,
        completion_tokens: answer.response.completion_tokens,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rewrite {
    pub text: String,
    pub language: String,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub latency_ms: f64,
}

/// Polishes a person's draft to `tone`, keeping its meaning, facts and language.
pub async fn rewrite(llm: &LlmClient, draft: &str, tone: Tone) -> Result<Rewrite, AgentError> {
    let draft = draft.trim();
    if draft.is_empty() || draft.chars().count() > 4000 {
        return Err(AgentError::InvalidInput("a draft has 1 to 4,000 characters".into()));
    }
    let lang = Language::detect(draft).unwrap_or(Language::ENGLISH);
    let prompt = prompts::render("rewrite", json!({"tone": tone_word(tone), "draft": draft, "language": lang.name()}))?;
    let started = Instant::now();
    let max = (tandem_llm::tokens::estimate_tokens(draft) * 2).clamp(64, 1024);
    let response = llm.complete(ChatRequest::new(vec![ChatMessage::user(prompt)]).max_tokens(max).temperature(0.2)).await?;
    let text = response.text.trim().trim_matches('"').trim().to_string();
    if text.is_empty() {
        return Err(AgentError::Llm(tandem_llm::LlmError::InvalidOutput {
            reason: "the model returned no text".into(),
            raw: response.text,
        }));
    }
    Ok(Rewrite {
        text,
        language: lang.code().into(),
        prompt_tokens: response.prompt_tokens,
        completion_tokens: response.completion_tokens,
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}
