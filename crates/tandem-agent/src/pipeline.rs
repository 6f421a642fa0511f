//! One customer turn, answered by an agent:
//!
//! 1. input checks without the model: prompt injection (refused), handoff keywords and explicit
//!    requests for a person, scenarios with a set answer;
//! 2. a structured review by the model (JSON schema): wants a person, sentiment, complex request,
//!    off-limits topic, lead score and stated fields, a summary;
//! 3. retrieval from the agent's knowledge base (when no passage is close enough to the question
//!    by meaning, the agent says so and hands off: low retrieval confidence), then an answer
//!    grounded in those passages only (the model says `NO_ANSWER` when they do not hold it: the
//!    agent then says so and offers a person, and never invents);
//! 4. output checks: no run of the instructions, no contact details or numbers that neither the
//!    customer nor the knowledge base gave, no answer that only says the passages are silent;
//!    without an answer, the model reads whether the message is about an off-limits topic
//!    (declined) or not (the agent says so and offers a person);
//! 5. decisions: handoff (reason, team), lead score and fields; every step is logged with its
//!    reason in [`TurnOutcome::decisions`] for the inbox and analytics.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_llm::{ChatMessage, ChatRequest, LlmClient, LlmError};

use crate::{
    checks,
    language::Language,
    profile::{AgentProfile, Mission, ResponseLength, Tone},
    prompts, AgentError,
};

/// Passages retrieved for one answer.
pub const RETRIEVED_PASSAGES: usize = 4;
/// Conversation turns (newest) the model sees.
const HISTORY_TURNS: usize = 6;

/// One passage of the knowledge base, as retrieval returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Passage {
    /// The source's name (file name or URL).
    pub source: String,
    /// Page, sheet rows or section.
    pub location: Option<String>,
    pub text: String,
    pub score: f32,
    /// How close the passage is to the question by meaning (cosine, -1 to 1), when retrieval
    /// measured it: what the low-confidence handoff rule reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub similarity: Option<f32>,
}

/// The agent's knowledge base, as the pipeline reads it.
#[async_trait::async_trait]
pub trait Retriever: Send + Sync {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Vec<Passage>, AgentError>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Customer,
    /// This AI agent.
    Agent,
    /// A person of the business.
    Human,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplyKind {
    /// Grounded in the knowledge base.
    Answer,
    /// The knowledge base does not hold the answer; the agent said so.
    NoAnswer,
    Refusal,
    /// The agent passed the conversation to people.
    Handoff,
    /// A scenario the business answered itself.
    CustomAnswer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HandoffReason {
    CustomerRequest,
    Keyword,
    NegativeSentiment,
    ComplexRequest,
    HighValueLead,
    NoAnswer,
    /// No passage is close enough to the question ([`HandoffRules::min_similarity`]).
    ///
    /// [`HandoffRules::min_similarity`]: crate::profile::HandoffRules::min_similarity
    LowConfidence,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Handoff {
    pub reason: HandoffReason,
    /// Which keyword, score or signal decided it.
    pub detail: String,
    /// The team that receives the conversation.
    pub team: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

/// A step of the pipeline and what it decided, with why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Decision {
    pub step: String,
    pub outcome: String,
    pub reason: String,
}

/// Milliseconds spent per stage; `overhead_ms` is everything but waiting for the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Timings {
    pub retrieval_ms: f64,
    pub assess_ms: f64,
    pub answer_ms: f64,
    pub translate_ms: f64,
    pub total_ms: f64,
    pub overhead_ms: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub llm_calls: u32,
}

impl Usage {
    fn add(&mut self, prompt: u32, completion: u32) {
        self.prompt_tokens += prompt;
        self.completion_tokens += completion;
        self.llm_calls += 1;
    }
}

/// What the agent did with one customer message.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct TurnOutcome {
    /// What the customer is sent.
    pub reply: String,
    pub kind: ReplyKind,
    pub refused: bool,
    pub handoff: Option<Handoff>,
    /// 0 to 100, when the review could score the lead.
    pub lead_score: Option<u8>,
    /// Contact properties the customer stated (e.g. company, budget).
    pub fields: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub sentiment: Option<Sentiment>,
    /// ISO 639-1 code of the language the agent answered in.
    pub language: String,
    /// The passages retrieved for this answer, best first.
    pub sources: Vec<Passage>,
    pub decisions: Vec<Decision>,
    pub timings: Timings,
    pub usage: Usage,
}

impl TurnOutcome {
    /// An outcome with nothing decided yet: no reply, sources, decisions or timings.
    pub fn new(kind: ReplyKind, language: impl Into<String>) -> Self {
        Self {
            reply: String::new(),
            kind,
            refused: false,
            handoff: None,
            lead_score: None,
            fields: BTreeMap::new(),
            summary: None,
            sentiment: None,
            language: language.into(),
            sources: vec![],
            decisions: vec![],
            timings: Timings::default(),
            usage: Usage::default(),
        }
    }
}

/// The model's review of a message (validated against [`assessment_schema`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct Assessment {
    sentiment: Sentiment,
    complex_request: bool,
    lead_score: u8,
    fields: BTreeMap<String, Option<String>>,
    summary: String,
}

fn assessment_schema(fields: &[String]) -> serde_json::Value {
    let properties: serde_json::Map<String, serde_json::Value> =
        fields.iter().map(|f| (f.clone(), json!({"type": ["string", "null"], "maxLength": 200}))).collect();
    json!({
        "type": "object",
        "properties": {
            "sentiment": {"type": "string", "enum": ["negative", "neutral", "positive"]},
            "complex_request": {"type": "boolean"},
            "lead_score": {"type": "integer", "minimum": 0, "maximum": 100},
            "fields": {"type": "object", "properties": properties, "required": fields, "additionalProperties": false},
            "summary": {"type": "string", "maxLength": 300}
        },
        "required": ["sentiment", "complex_request", "lead_score", "fields", "summary"],
        "additionalProperties": false
    })
}

/// What the agent says when it has nothing grounded to say, refuses or hands off, in English and
/// French; other languages are translated from English by the model.
fn builtin(kind: &str, lang: Language) -> Option<&'static str> {
    let fr = lang == Language::FRENCH;
    Some(match (kind, fr) {
        ("no_answer", false) => "I'm sorry, I don't have that information.",
        ("no_answer", true) => "Je suis désolé, je n'ai pas cette information.",
        ("offer_human", false) => "Would you like me to pass your question to a colleague?",
        ("offer_human", true) => "Voulez-vous que je transmette votre question à un collègue ?",
        ("refusal", false) => "Sorry, I can't help with that.",
        ("refusal", true) => "Désolé, je ne peux pas vous aider sur ce sujet.",
        ("handoff", false) => "I'm passing your conversation to a colleague, who will reply here as soon as possible.",
        ("handoff", true) => "Je transmets votre conversation à un collègue, qui vous répondra ici dès que possible.",
        _ => return None,
    })
}

fn mission_text(profile: &AgentProfile) -> &'static str {
    match profile.mission {
        Mission::Sales => "a sales assistant: you answer questions, qualify leads and help with quotes",
        Mission::Support => "a customer support assistant: you answer questions and help solve problems",
        Mission::Custom => "a customer assistant",
    }
}

fn tone_text(tone: Tone) -> &'static str {
    match tone {
        Tone::Professional => "professional",
        Tone::Friendly => "friendly and warm",
        Tone::Casual => "casual and relaxed",
        Tone::Formal => "formal and courteous",
        Tone::Empathetic => "empathetic and reassuring",
    }
}

fn length_text(length: ResponseLength) -> &'static str {
    match length {
        ResponseLength::Brief => "one or two sentences",
        ResponseLength::Moderate => "two to four sentences",
        ResponseLength::Detailed => "a complete answer, with details and steps where useful",
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// An agent ready to answer: its profile, a model and its knowledge base.
pub struct Agent {
    profile: AgentProfile,
    llm: LlmClient,
    retriever: Arc<dyn Retriever>,
    /// Messages of the business translated to a customer's language, by (text, language).
    translations: Mutex<HashMap<(String, &'static str), String>>,
}

/// The state of one turn while it runs.
struct Run<'a> {
    outcome: TurnOutcome,
    lang: Language,
    started: Instant,
    llm_time: Duration,
    message: &'a str,
}

impl Run<'_> {
    fn decide(&mut self, step: &str, outcome: impl Into<String>, reason: impl Into<String>) {
        self.outcome.decisions.push(Decision { step: step.into(), outcome: outcome.into(), reason: reason.into() });
    }
}

impl Agent {
    pub fn new(profile: AgentProfile, llm: LlmClient, retriever: Arc<dyn Retriever>) -> Self {
        Self { profile, llm, retriever, translations: Mutex::new(HashMap::new()) }
    }

    pub fn profile(&self) -> &AgentProfile {
        &self.profile
    }

    /// The language to answer `message` in.
    fn language(&self, history: &[Turn], message: &str) -> Language {
        if let Some(fixed) = Language::from_code(&self.profile.language) {
            return fixed;
        }
        Language::detect(message)
            .or_else(|| history.iter().rev().filter(|t| t.speaker == Speaker::Customer).find_map(|t| Language::detect(&t.text)))
            .unwrap_or(Language::ENGLISH)
    }

    /// `text` (written by the business, or a built-in message) in the customer's language.
    async fn localized(&self, run: &mut Run<'_>, text: &str) -> Result<String, AgentError> {
        let written_in = Language::detect(text).unwrap_or(Language::ENGLISH);
        if written_in == run.lang {
            return Ok(text.to_string());
        }
        let key = (text.to_string(), run.lang.code());
        if let Some(done) = self.translations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key) {
            return Ok(done.clone());
        }
        let prompt = prompts::render("translate", json!({"language": run.lang.name(), "text": text}))?;
        let started = Instant::now();
        let response = self.llm.complete(ChatRequest::new(vec![ChatMessage::user(prompt)]).max_tokens(300).temperature(0.0)).await?;
        run.llm_time += started.elapsed();
        run.outcome.timings.translate_ms += ms(started.elapsed());
        run.outcome.usage.add(response.prompt_tokens, response.completion_tokens);
        let translated = translation_only(&response.text);
        if translated.is_empty() {
            return Ok(text.to_string());
        }
        self.translations.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(key, translated.clone());
        Ok(translated)
    }

    /// A message of the profile (or the built-in one) in the customer's language.
    async fn message_of(&self, run: &mut Run<'_>, configured: Option<&str>, builtin_kind: &str) -> Result<String, AgentError> {
        match configured.filter(|m| !m.trim().is_empty()) {
            Some(text) => self.localized(run, text).await,
            None => match builtin(builtin_kind, run.lang) {
                Some(text) if run.lang == Language::ENGLISH || run.lang == Language::FRENCH => Ok(text.to_string()),
                Some(text) => self.localized(run, text).await,
                None => Ok(String::new()),
            },
        }
    }

    fn hand_off(&self, run: &mut Run<'_>, reason: HandoffReason, detail: impl Into<String>) {
        let detail = detail.into();
        run.decide("handoff", format!("{reason:?}"), detail.clone());
        if run.outcome.handoff.is_none() {
            run.outcome.handoff = Some(Handoff { reason, detail, team: self.profile.handoff.team.clone() });
        }
    }

    async fn reply_handoff(&self, run: &mut Run<'_>) -> Result<(), AgentError> {
        run.outcome.reply = self.message_of(run, self.profile.handoff.message.as_deref(), "handoff").await?;
        run.outcome.kind = ReplyKind::Handoff;
        Ok(())
    }

    async fn reply_refusal(&self, run: &mut Run<'_>) -> Result<(), AgentError> {
        run.outcome.reply = self.message_of(run, self.profile.guardrails.refusal_message.as_deref(), "refusal").await?;
        run.outcome.kind = ReplyKind::Refusal;
        run.outcome.refused = true;
        Ok(())
    }

    /// Answers one customer message, given the conversation before it (oldest first).
    pub async fn respond(&self, history: &[Turn], message: &str) -> Result<TurnOutcome, AgentError> {
        let message = message.trim();
        if message.is_empty() || message.chars().count() > 4000 {
            return Err(AgentError::InvalidInput("a customer message has 1 to 4,000 characters".into()));
        }
        let lang = self.language(history, message);
        let mut run = Run {
            outcome: TurnOutcome::new(ReplyKind::Answer, lang.code()),
            lang,
            started: Instant::now(),
            llm_time: Duration::ZERO,
            message,
        };
        run.decide(
            "language",
            lang.code(),
            if Language::from_code(&self.profile.language).is_some() { "fixed by the profile" } else { "the customer's" },
        );
        self.turn(history, &mut run).await?;
        let total = run.started.elapsed();
        run.outcome.timings.total_ms = ms(total);
        run.outcome.timings.overhead_ms = ms(total.saturating_sub(run.llm_time));
        // Canned replies are in the customer's language by construction; a model's answer is
        // checked, when it is long enough to tell ("30 jours" is not).
        if run.outcome.kind == ReplyKind::Answer && run.outcome.reply.split_whitespace().count() >= 4 {
            if let Some(answered) = Language::detect(&run.outcome.reply) {
                run.outcome.language = answered.code().into();
            }
        }
        Ok(run.outcome)
    }

    async fn turn(&self, history: &[Turn], run: &mut Run<'_>) -> Result<(), AgentError> {
        let message = run.message;
        let rules = &self.profile.handoff;

        // 1. Checks that need no model.
        if checks::is_prompt_injection(message) {
            run.decide("input_check", "refused", "the message tries to override or read the agent's instructions");
            return self.reply_refusal(run).await;
        }
        if let Some(keyword) = checks::find_phrase(message, rules.keywords.iter().map(String::as_str)) {
            self.hand_off(run, HandoffReason::Keyword, format!("the message contains `{keyword}`"));
        } else if rules.on_request && checks::asks_for_human(message) {
            self.hand_off(run, HandoffReason::CustomerRequest, "the customer asks for a person");
        } else if rules.on_negative_sentiment && checks::is_upset(message) {
            self.hand_off(run, HandoffReason::NegativeSentiment, "the customer is upset");
        }
        if run.outcome.handoff.is_none() {
            let scenario =
                self.profile.guardrails.custom_answers.iter().find(|c| checks::find_phrase(message, c.when.split(',')).is_some());
            if let Some(scenario) = scenario {
                run.decide("custom_answer", "answered", format!("the message matches the scenario `{}`", scenario.when));
                run.outcome.reply = self.localized(run, &scenario.answer).await?;
                run.outcome.kind = ReplyKind::CustomAnswer;
                return Ok(());
            }
        }

        // 2. The model's review.
        let assessment = self.assess(history, run).await?;
        if let Some(a) = &assessment {
            let words = checks::lead_signals(message);
            run.outcome.lead_score = Some(((u16::from(a.lead_score.min(100)) + u16::from(words)) / 2) as u8);
            run.outcome.sentiment = Some(a.sentiment);
            run.outcome.summary = Some(a.summary.trim().to_string()).filter(|s| !s.is_empty());
            run.outcome.fields = a
                .fields
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.trim().to_string())))
                .filter(|(_, v)| !v.is_empty() && !v.eq_ignore_ascii_case("null") && message_states(message, v))
                .collect();
            if run.outcome.handoff.is_none() {
                // Off-limits topics are refused by the answer step (REFUSE), which sees the
                // question beside the excerpts: the review alone refuses plain questions too often.
                // A request for a person and anger are read from the words (checks), not from the
                // review: a small model reports them where there are none.
                if a.complex_request && rules.on_complex_request {
                    self.hand_off(run, HandoffReason::ComplexRequest, "the request needs a person");
                }
            }
        }
        if run.outcome.handoff.is_some() {
            return self.reply_handoff(run).await;
        }

        // 3. Retrieval and the grounded answer.
        self.answer(history, run).await?;

        // 5. A valuable lead goes to people too, after its answer.
        if let (Some(score), Some(threshold)) = (run.outcome.lead_score, rules.lead_score_at_least) {
            if score >= threshold {
                self.hand_off(run, HandoffReason::HighValueLead, format!("lead score {score} ≥ {threshold}"));
            }
        }
        Ok(())
    }

    async fn assess(&self, history: &[Turn], run: &mut Run<'_>) -> Result<Option<Assessment>, AgentError> {
        let p = &self.profile;
        let recent = &history[history.len().saturating_sub(HISTORY_TURNS)..];
        let turns: Vec<_> = recent.iter().map(|t| json!({"role": speaker_name(t.speaker), "text": t.text})).collect();
        let prompt = prompts::render(
            "assess",
            json!({"name": p.name, "history": turns, "message": run.message, "refuse_topics": p.guardrails.refuse_topics,
                "raise": p.lead_scoring.raise, "lower": p.lead_scoring.lower, "fields": p.lead_scoring.fields}),
        )?;
        let started = Instant::now();
        let request = ChatRequest::new(vec![ChatMessage::user(prompt)]).max_tokens(300).temperature(0.0);
        let result = self.llm.complete_json::<Assessment>(request, assessment_schema(&p.lead_scoring.fields)).await;
        run.llm_time += started.elapsed();
        run.outcome.timings.assess_ms = ms(started.elapsed());
        match result {
            Ok(structured) => {
                let r = &structured.response;
                run.outcome.usage.add(r.prompt_tokens, r.completion_tokens);
                let a = structured.value;
                run.decide(
                    "review",
                    format!("score {}, {:?}", a.lead_score, a.sentiment),
                    format!("complex request: {}", a.complex_request),
                );
                Ok(Some(a))
            }
            Err(LlmError::InvalidOutput { reason, .. }) => {
                run.decide("review", "skipped", format!("the model's review was invalid ({reason}); safe defaults apply"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn answer(&self, history: &[Turn], run: &mut Run<'_>) -> Result<(), AgentError> {
        let p = &self.profile;
        let query = retrieval_query(history, run.message);
        let started = Instant::now();
        let passages = self.retriever.retrieve(&query, RETRIEVED_PASSAGES).await?;
        run.outcome.timings.retrieval_ms = ms(started.elapsed());
        run.decide(
            "retrieval",
            format!("{} passages", passages.len()),
            passages.iter().map(|p| p.source.as_str()).collect::<Vec<_>>().join(", "),
        );
        run.outcome.sources = passages.clone();
        if passages.is_empty() {
            return self.no_answer(run, "the knowledge base returned nothing").await;
        }
        if let Some(min) = p.handoff.min_similarity {
            let best = closest_similarity(&passages);
            if best.is_none_or(|b| b < min.value()) {
                let why = match best {
                    Some(b) => format!("low retrieval confidence: the closest passage's similarity is {b:.3}, below {:.3}", min.value()),
                    None => "low retrieval confidence: no passage was measured close by meaning".to_string(),
                };
                return self.no_answer_because(run, &why, Some(HandoffReason::LowConfidence)).await;
            }
        }

        let language = run.lang.name();
        let context = |chunks: &[&Passage]| {
            json!({"name": p.name, "mission": mission_text(p), "instructions": p.instructions, "tone": tone_text(p.tone),
                "length": length_text(p.length), "language": language, "goals": p.goals, "refuse_topics": p.guardrails.refuse_topics,
                "chunks": chunks.iter().map(|c| json!({"source": c.source, "location": c.location, "text": c.text})).collect::<Vec<_>>()})
        };
        let bare_system = prompts::render("answer", context(&[]))?;
        let user = ChatMessage::user(run.message);
        let recent = &history[history.len().saturating_sub(HISTORY_TURNS)..];
        let history_newest_first: Vec<ChatMessage> = recent.iter().rev().map(to_message).collect();
        // The paragraph that plainly answers the question, when one stands out, is read first.
        let mut shown = passages.clone();
        if let Some(focus) = crate::focus::best_paragraph(&query, &passages) {
            let from = &passages[focus.passage];
            let location = Some(from.location.as_deref().map_or("best match".to_string(), |l| format!("{l}, best match")));
            run.decide("focus", "best_match", format!("a paragraph of {} matches the question", from.source));
            shown.insert(
                0,
                Passage { source: from.source.clone(), location, text: focus.text, score: from.score, similarity: from.similarity },
            );
        }
        let passages = shown;
        let chunk_texts: Vec<String> =
            passages.iter().map(|c| format!("[0] {} ({})\n{}", c.source, c.location.as_deref().unwrap_or(""), c.text)).collect();
        let max_tokens = p.length.max_tokens();
        let plan =
            self.llm.budget(max_tokens).plan(&[ChatMessage::system(bare_system), user.clone()], &chunk_texts, &history_newest_first)?;
        let kept: Vec<&Passage> = plan.chunks_kept.iter().map(|&i| &passages[i]).collect();
        if !plan.chunks_dropped.is_empty() || plan.history_dropped > 0 {
            run.decide(
                "budget",
                "trimmed",
                format!("{} passages and {} turns left out to fit the context", plan.chunks_dropped.len(), plan.history_dropped),
            );
        }
        let system = prompts::render("answer", context(&kept))?;
        let mut messages = vec![ChatMessage::system(system.clone())];
        messages.extend(history_newest_first[..plan.history_kept].iter().rev().cloned());
        messages.push(user);

        let started = Instant::now();
        // Greedy decoding: the same question on the same knowledge gets the same answer.
        let response = self.llm.complete(ChatRequest::new(messages).max_tokens(max_tokens).temperature(0.0)).await?;
        run.llm_time += started.elapsed();
        run.outcome.timings.answer_ms = ms(started.elapsed());
        run.outcome.usage.add(response.prompt_tokens, response.completion_tokens);
        let text = response.text.trim().to_string();
        if text.to_uppercase().starts_with("REFUSE") || text.trim_matches(|c: char| !c.is_alphanumeric()).eq_ignore_ascii_case("refuse") {
            run.decide("guardrail", "refused", "the question is about a topic the agent must refuse");
            return self.reply_refusal(run).await;
        }
        if text.is_empty() || text.to_uppercase().contains("NO_ANSWER") {
            return self.no_answer(run, "the passages do not hold the answer").await;
        }
        if checks::says_not_found(&text) {
            return self.no_answer(run, "the answer says the passages do not hold it").await;
        }

        // 4. Output checks.
        let mut secrets: Vec<&str> = vec![system.split("Excerpts:").next().unwrap_or_default()];
        secrets.extend(p.guardrails.refuse_topics.iter().map(String::as_str));
        secrets.extend(p.goals.iter().map(String::as_str));
        secrets.extend(p.handoff.keywords.iter().map(String::as_str).filter(|k| k.split_whitespace().count() > 3));
        if checks::leaks_instructions(&text, &secrets) {
            run.decide("output_check", "blocked", "the answer repeats the agent's instructions");
            return self.reply_refusal(run).await;
        }
        let mut known: Vec<&str> = kept.iter().map(|c| c.text.as_str()).collect();
        known.push(run.message);
        known.extend(history.iter().map(|t| t.text.as_str()));
        let foreign = checks::foreign_contact_details(&text, &known);
        if !foreign.is_empty() {
            run.decide("output_check", "blocked", format!("the answer holds {} contact detail(s) nobody gave", foreign.len()));
            return self.no_answer(run, "the answer was not grounded").await;
        }
        let invented = checks::ungrounded_numbers(&text, &known);
        if !invented.is_empty() {
            run.decide("output_check", "blocked", format!("the answer states {} that no passage holds", invented.join(", ")));
            return self.no_answer(run, "the answer was not grounded").await;
        }
        run.decide("answer", "grounded", format!("{} passages in the prompt", kept.len()));
        run.outcome.reply = text;
        run.outcome.kind = ReplyKind::Answer;
        Ok(())
    }

    async fn no_answer(&self, run: &mut Run<'_>, why: &str) -> Result<(), AgentError> {
        let handoff = self.profile.handoff.on_no_answer.then_some(HandoffReason::NoAnswer);
        self.no_answer_because(run, why, handoff).await
    }

    /// The agent has nothing grounded to say: it declines an off-limits question, and otherwise
    /// says so and hands off for `handoff`, or offers a person.
    async fn no_answer_because(&self, run: &mut Run<'_>, why: &str, handoff: Option<HandoffReason>) -> Result<(), AgentError> {
        run.decide("answer", "no_answer", why);
        // Without an answer, an off-limits question is declined rather than handed to people.
        if let Some(topic) = self.off_limits_topic(run).await? {
            run.decide("guardrail", "refused", format!("the message is about `{topic}`"));
            return self.reply_refusal(run).await;
        }
        let sorry = self.message_of(run, None, "no_answer").await?;
        run.outcome.kind = ReplyKind::NoAnswer;
        if let Some(reason) = handoff {
            self.hand_off(run, reason, why);
            let handing = self.message_of(run, self.profile.handoff.message.as_deref(), "handoff").await?;
            run.outcome.reply = format!("{sorry} {handing}");
        } else {
            let offer = self.message_of(run, None, "offer_human").await?;
            run.outcome.reply = format!("{sorry} {offer}");
        }
        Ok(())
    }
}

/// The model's reading of which subject a message is about (numbered from 1: the business's own
/// matters, then the refuse topics).
#[derive(Debug, Deserialize)]
struct TopicVerdict {
    subject: String,
    category: usize,
}

/// What customers ask a business about, offered to the model beside the refuse topics: without
/// them, a small model files "do you ship to Mars?" under an off-limits topic.
const BUSINESS_SUBJECTS: &[&str] = &[
    "the business's products, catalogue, stock and prices, or a product it may not sell",
    "delivery, shipping, returns and refunds",
    "orders, payment, quotes and invoices",
    "warranty, repairs and spare parts",
    "the business's shops, opening hours, addresses, parking and how to reach it",
    "the company itself: its history, team, figures, suppliers and partners",
];

impl Agent {
    /// The refuse topic the customer's message is about, if any, read by the model (JSON schema).
    /// Asked only when there is no grounded answer: asked of every message, a small model finds
    /// off-limits topics in plain questions.
    async fn off_limits_topic(&self, run: &mut Run<'_>) -> Result<Option<String>, AgentError> {
        let topics = &self.profile.guardrails.refuse_topics;
        if topics.is_empty() {
            return Ok(None);
        }
        let prompt = prompts::render("topic", json!({"message": run.message, "business": BUSINESS_SUBJECTS, "topics": topics}))?;
        let schema = json!({
            "type": "object",
            "properties": {
                "subject": {"type": "string", "maxLength": 100},
                "category": {"type": "integer", "minimum": 1, "maximum": BUSINESS_SUBJECTS.len() + topics.len()}
            },
            "required": ["subject", "category"],
            "additionalProperties": false
        });
        let started = Instant::now();
        let request = ChatRequest::new(vec![ChatMessage::user(prompt)]).max_tokens(60).temperature(0.0);
        let result = self.llm.complete_json::<TopicVerdict>(request, schema).await;
        run.llm_time += started.elapsed();
        run.outcome.timings.assess_ms += ms(started.elapsed());
        match result {
            Ok(structured) => {
                let r = &structured.response;
                run.outcome.usage.add(r.prompt_tokens, r.completion_tokens);
                let verdict = structured.value;
                let topic = verdict.category.checked_sub(BUSINESS_SUBJECTS.len() + 1).and_then(|i| topics.get(i)).cloned();
                let outcome = if topic.is_some() { "off_limits" } else { "allowed" };
                run.decide("topic", outcome, format!("asks about: {} (subject {})", verdict.subject.trim(), verdict.category));
                Ok(topic)
            }
            Err(LlmError::InvalidOutput { reason, .. }) => {
                run.decide("topic", "skipped", format!("the model's reading was invalid ({reason})"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The translation a model returned, without the preamble small models add ("Voici la
/// traduction en français :") or the quotes around it.
fn translation_only(reply: &str) -> String {
    let reply = reply.trim();
    let body = match reply.split_once('\n') {
        Some((first, rest)) if is_preamble(first) && !rest.trim().is_empty() => rest,
        _ => reply,
    };
    body.trim().trim_matches(|c| matches!(c, '"' | '“' | '”' | '«' | '»')).trim().to_string()
}

/// "Here is the translation:", "Voici la traduction en français :"... (a message's own first line
/// may end with a colon too: "Our hours:").
fn is_preamble(line: &str) -> bool {
    let line = line.trim_end().to_lowercase();
    line.ends_with(':') && ["transl", "tradu", "übersetz", "翻译", "翻訳", "แปล"].iter().any(|w| line.contains(w))
}

/// What the knowledge base is searched with for `message`: a short follow-up ("and for 60
/// lamps?") together with the customer's previous message, which it continues.
pub fn retrieval_query(history: &[Turn], message: &str) -> String {
    let previous = history.iter().rev().find(|t| t.speaker == Speaker::Customer).map(|t| t.text.as_str());
    match previous {
        Some(prev) if message.split_whitespace().count() < 12 => format!("{prev}\n{message}"),
        _ => message.to_string(),
    }
}

/// The highest similarity by meaning among `passages`, if retrieval measured any.
pub fn closest_similarity(passages: &[Passage]) -> Option<f32> {
    passages.iter().filter_map(|p| p.similarity).reduce(f32::max)
}

fn speaker_name(s: Speaker) -> &'static str {
    match s {
        Speaker::Customer => "customer",
        Speaker::Agent => "assistant",
        Speaker::Human => "staff",
    }
}

fn to_message(t: &Turn) -> ChatMessage {
    match t.speaker {
        Speaker::Customer => ChatMessage::user(t.text.clone()),
        Speaker::Agent | Speaker::Human => ChatMessage::assistant(t.text.clone()),
    }
}

/// A field value the model extracted is kept only if the customer's words hold it (its digits,
/// or its first word), so an invented company or budget never reaches the CRM.
fn message_states(message: &str, value: &str) -> bool {
    let digits: String = value.chars().filter(char::is_ascii_digit).collect();
    if !digits.is_empty() {
        // Numbers of the message with their separators removed: "6,000" and "6 000" are 6000.
        let mut numbers = Vec::new();
        let mut current = String::new();
        for c in message.chars().chain(std::iter::once('|')) {
            if c.is_ascii_digit() {
                current.push(c);
            } else if !matches!(c, ',' | '.' | ' ' | '\u{a0}' | '\u{202f}') || current.is_empty() {
                numbers.push(std::mem::take(&mut current));
            }
        }
        return numbers.iter().any(|n| !n.is_empty() && n.contains(&digits));
    }
    let m = checks::fold(message);
    checks::fold(value).split_whitespace().next().is_some_and(|w| m.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_translation_loses_its_preamble_and_quotes() {
        assert_eq!(
            translation_only("Voici la traduction en français :\n\n\"Je passe votre conversation à une personne.\""),
            "Je passe votre conversation à une personne."
        );
        assert_eq!(translation_only("« Bonjour »"), "Bonjour");
        assert_eq!(translation_only("Bonjour : nous sommes ouverts."), "Bonjour : nous sommes ouverts.");
        assert_eq!(translation_only("Nos horaires :\nlundi à vendredi"), "Nos horaires :\nlundi à vendredi");
    }

    #[test]
    fn extracted_fields_must_be_in_the_message() {
        let m = "I'm the purchasing manager at Hôtel Belvédère. Our budget is about 6,000 EUR for 40 lamps.";
        assert!(message_states(m, "Hotel Belvedere"));
        assert!(message_states(m, "6000 EUR"));
        assert!(message_states(m, "40"));
        assert!(!message_states(m, "Hilton"));
        assert!(!message_states(m, "9000"));
    }

    #[test]
    fn the_review_schema_requires_every_field() {
        let s = assessment_schema(&["company".into(), "budget".into()]);
        assert_eq!(s["properties"]["fields"]["required"], json!(["company", "budget"]));
        assert_eq!(s["required"].as_array().unwrap().len(), 5);
    }
}
