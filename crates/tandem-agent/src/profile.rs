//! What an agent is told to be: its mission, voice, goals, guardrails, handoff rules and lead
//! scoring. One shape for the API (JSON) and for files (TOML, used by the CLI and `tandem eval`);
//! unknown keys are refused so a typo never silently disables a guardrail.

use serde::{Deserialize, Serialize};

use crate::AgentError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mission {
    /// Qualify leads, give quotes.
    Sales,
    /// Answer, troubleshoot.
    #[default]
    Support,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    #[default]
    Professional,
    Friendly,
    Casual,
    Formal,
    Empathetic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseLength {
    Brief,
    #[default]
    Moderate,
    Detailed,
}

impl ResponseLength {
    /// Most tokens an answer may take.
    pub fn max_tokens(self) -> u32 {
        match self {
            Self::Brief => 120,
            Self::Moderate => 250,
            Self::Detailed => 450,
        }
    }
}

/// A scenario with the answer the business wants given, word for word.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomAnswer {
    /// Phrases a customer would use, comma-separated (any one matches).
    pub when: String,
    pub answer: String,
}

/// A cosine similarity threshold between 0 and 1 (a finite number, so it compares as a whole
/// number would).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f32", into = "f32")]
pub struct Similarity(f32);

impl Similarity {
    pub fn new(value: f32) -> Result<Self, AgentError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(AgentError::InvalidProfile(format!("a similarity is between 0 and 1, not {value}")))
        }
    }

    pub fn value(self) -> f32 {
        self.0
    }
}

impl Eq for Similarity {}

impl TryFrom<f32> for Similarity {
    type Error = AgentError;
    fn try_from(value: f32) -> Result<Self, AgentError> {
        Self::new(value)
    }
}

impl From<Similarity> for f32 {
    fn from(s: Similarity) -> f32 {
        s.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Guardrails {
    /// Topics the agent must refuse, described for people (and for the classifier).
    pub refuse_topics: Vec<String>,
    /// What the agent says when it refuses (translated to the customer's language when needed).
    pub refusal_message: Option<String>,
    pub custom_answers: Vec<CustomAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct HandoffRules {
    /// The customer asks for a person.
    pub on_request: bool,
    /// The knowledge base does not hold the answer.
    pub on_no_answer: bool,
    pub on_negative_sentiment: bool,
    /// The request needs a person (several issues, a dispute, a custom project).
    pub on_complex_request: bool,
    /// A lead this good goes to sales.
    pub lead_score_at_least: Option<u8>,
    /// Low retrieval confidence: when no passage is at least this similar to the question by
    /// meaning (cosine, 0 to 1), the knowledge base does not cover it, and the agent says so and
    /// hands off without asking the model. `tandem eval` reports each turn's best similarity, to
    /// choose the threshold on an agent's own questions.
    #[schema(value_type = Option<f32>, minimum = 0, maximum = 1)]
    pub min_similarity: Option<Similarity>,
    /// Words that always hand off (case and accents ignored).
    pub keywords: Vec<String>,
    /// The team that receives handed-off conversations.
    pub team: Option<String>,
    /// What the agent says when it hands off.
    pub message: Option<String>,
}

impl Default for HandoffRules {
    fn default() -> Self {
        Self {
            on_request: true,
            on_no_answer: false,
            on_negative_sentiment: false,
            on_complex_request: false,
            lead_score_at_least: None,
            min_similarity: None,
            keywords: vec![],
            team: None,
            message: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct LeadScoring {
    /// Signals that raise the score.
    pub raise: Vec<String>,
    /// Signals that lower it.
    pub lower: Vec<String>,
    /// Contact properties to fill when the customer states them (e.g. company, budget).
    pub fields: Vec<String>,
}

/// An agent's whole configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentProfile {
    pub name: String,
    #[serde(default)]
    pub mission: Mission,
    /// Who the agent is and how it behaves, in the business's words.
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub tone: Tone,
    #[serde(default)]
    pub length: ResponseLength,
    /// `customer` (answer in the customer's language) or an ISO 639-1 code such as `fr`.
    #[serde(default = "customer_language")]
    pub language: String,
    #[serde(default)]
    pub goals: Vec<String>,
    #[serde(default)]
    pub guardrails: Guardrails,
    #[serde(default)]
    pub handoff: HandoffRules,
    #[serde(default)]
    pub lead_scoring: LeadScoring,
    /// The model this agent uses instead of the deployment's default; absent: the default
    /// (the local model unless configured otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<AgentModel>,
}

/// An OpenAI-compatible endpoint for one agent (OpenAI, vLLM, Ollama, llama.cpp...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentModel {
    /// Ends in `/v1`, e.g. `https://api.openai.com/v1`.
    pub base_url: String,
    /// The `model` field of each request.
    pub model: String,
    /// Sent as a bearer token; write-only (answers show it masked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The model's context window in tokens; default: the deployment's setting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<u32>,
}

/// What answers show in place of an agent model's API key.
pub const MASKED_KEY: &str = "********";

fn customer_language() -> String {
    "customer".into()
}

impl AgentProfile {
    /// A plain support agent with the given name.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.into(),
            mission: Mission::Support,
            instructions: String::new(),
            tone: Tone::Professional,
            length: ResponseLength::Moderate,
            language: customer_language(),
            goals: vec![],
            guardrails: Guardrails::default(),
            handoff: HandoffRules::default(),
            lead_scoring: LeadScoring::default(),
            model: None,
        }
    }

    pub fn from_toml(text: &str) -> Result<Self, AgentError> {
        let profile: Self = toml::from_str(text).map_err(|e| AgentError::InvalidProfile(e.to_string()))?;
        profile.validated()
    }

    /// Checks what serde cannot: lengths, the language code, the score threshold.
    pub fn validated(self) -> Result<Self, AgentError> {
        let bad = |m: String| Err(AgentError::InvalidProfile(m));
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return bad("name must have 1 to 200 characters".into());
        }
        if self.instructions.chars().count() > 8000 {
            return bad("instructions must have at most 8,000 characters".into());
        }
        if self.language != "customer" && crate::language::Language::from_code(&self.language).is_none() {
            return bad(format!("language `{}` is neither `customer` nor a supported ISO 639-1 code", self.language));
        }
        if self.handoff.lead_score_at_least.is_some_and(|s| s > 100) {
            return bad("handoff.lead_score_at_least must be between 0 and 100".into());
        }
        let lists =
            [&self.goals, &self.guardrails.refuse_topics, &self.handoff.keywords, &self.lead_scoring.raise, &self.lead_scoring.lower];
        if lists.iter().any(|l| l.len() > 50) || self.guardrails.custom_answers.len() > 50 {
            return bad("lists hold at most 50 entries".into());
        }
        if let Some(m) = &self.model {
            if !(m.base_url.starts_with("http://") || m.base_url.starts_with("https://")) {
                return bad("model.base_url must be an http(s) URL ending in /v1".into());
            }
            if m.model.trim().is_empty() || m.model.len() > 200 {
                return bad("model.model must name the model (1 to 200 characters)".into());
            }
            if m.context_tokens.is_some_and(|c| c < 1024) {
                return bad("model.context_tokens must be at least 1,024".into());
            }
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_profile_parses_and_typos_are_refused() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../eval/lumen-agent.toml")).unwrap();
        let p = AgentProfile::from_toml(&text).unwrap();
        assert_eq!((p.mission, p.tone, p.length), (Mission::Support, Tone::Friendly, ResponseLength::Moderate));
        assert_eq!(p.handoff.lead_score_at_least, Some(70));
        assert!(p.guardrails.custom_answers.len() >= 3);
        let typo = text.replace("on_request", "on_requets");
        assert!(matches!(AgentProfile::from_toml(&typo), Err(AgentError::InvalidProfile(m)) if m.contains("on_requets")));
        assert!(AgentProfile::from_toml("name = \"x\"\nlanguage = \"klingon\"").is_err());
        assert_eq!(AgentProfile::from_toml("name = \"x\"").unwrap(), AgentProfile::named("x"));
    }

    #[test]
    fn a_similarity_threshold_is_between_0_and_1() {
        let p = AgentProfile::from_toml("name = \"x\"\n[handoff]\nmin_similarity = 0.8").unwrap();
        assert_eq!(p.handoff.min_similarity.map(Similarity::value), Some(0.8));
        for bad in ["1.5", "-0.1", "nan"] {
            let e = AgentProfile::from_toml(&format!("name = \"x\"\n[handoff]\nmin_similarity = {bad}")).unwrap_err();
            assert!(matches!(&e, AgentError::InvalidProfile(m) if m.contains("between 0 and 1")), "{bad}: {e}");
        }
    }
}
