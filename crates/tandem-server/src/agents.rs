//! The agent runtime of a running Tandem: the model (a local llama-server Tandem supervises, or
//! any OpenAI-compatible endpoint), agents built from their stored profiles with retrieval over
//! their knowledge bases, and the conversation turn that the worker runs for each customer
//! message: silent after a handoff, otherwise answer, record, and hand off when the rules say so.

use std::sync::Arc;

use serde_json::json;
use tandem_agent::{pipeline::TurnOutcome, profile::AgentModel, Agent, AgentError, AgentProfile, Passage, Retriever, Speaker, Turn};
use tandem_core::{AgentId, ContactId, ConversationId, MessageDirection, WorkspaceId};
use tandem_llm::{Llm, LlmClient};
use tandem_store::{
    agent_runtime::{AgentStatus, NewAgentState, NewAnswer, NewDecision},
    contacts::DraftRules,
    Page, Store, StoreError,
};

use crate::knowledge::{Knowledge, KnowledgeFailure};

/// Job kind of one agent turn; payload `{conversation_id}`.
pub const TURN_JOB: &str = "conversation.turn";
/// Send attempts for the agent's replies before they are dead-lettered.
const SEND_ATTEMPTS: i64 = 8;

/// The model, when one is configured and started, and the clients of agents that name a model of
/// their own (kept per endpoint, model and key, so their connections are reused).
pub struct Models {
    llm: Result<Llm, String>,
    config: tandem_core::llm::LlmConfig,
    own: std::sync::Mutex<std::collections::HashMap<AgentModel, LlmClient>>,
}

impl Models {
    pub fn new(llm: Result<Llm, String>) -> Self {
        Self::with_config(llm, tandem_core::llm::LlmConfig::default())
    }

    /// `config`: timeouts and retries that agents' own models share with the default one.
    pub fn with_config(llm: Result<Llm, String>, config: tandem_core::llm::LlmConfig) -> Self {
        if let Err(e) = &llm {
            tracing::warn!(error = %e, "the default LLM is unavailable: only agents with a model of their own can answer");
        }
        Self { llm, config, own: Default::default() }
    }

    /// The deployment's default model.
    pub fn client(&self) -> Result<LlmClient, AgentFailure> {
        self.llm.as_ref().map(|l| l.client().clone()).map_err(|e| AgentFailure::Unavailable(e.clone()))
    }

    /// The model an agent's profile names, or the default.
    pub fn client_for(&self, profile: &AgentProfile) -> Result<LlmClient, AgentFailure> {
        let Some(own) = &profile.model else { return self.client() };
        let mut clients = self.own.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(own) {
            return Ok(c.clone());
        }
        let mut config = self.config.clone();
        config.model = own.model.clone();
        config.api_key = own.api_key.clone();
        if let Some(ctx) = own.context_tokens.and_then(std::num::NonZeroU32::new) {
            config.context_tokens = ctx;
        }
        let client = LlmClient::with_base_url(&config, &own.base_url)
            .map_err(|e| AgentFailure::Agent(AgentError::InvalidProfile(format!("the agent's model: {e}"))))?;
        clients.insert(own.clone(), client.clone());
        Ok(client)
    }

    pub async fn shutdown(self) {
        if let Ok(llm) = self.llm {
            llm.shutdown().await;
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentFailure {
    /// No model: agents cannot answer until one is configured.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeFailure),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Retrieval over an agent's knowledge base, corrections from feedback first.
pub struct KnowledgeRetriever {
    pub knowledge: Arc<Knowledge>,
    pub store: Store,
    pub workspace: WorkspaceId,
    pub agent: AgentId,
}

#[async_trait::async_trait]
impl Retriever for KnowledgeRetriever {
    async fn retrieve(&self, query: &str, limit: usize) -> Result<Vec<Passage>, AgentError> {
        let hits = self
            .knowledge
            .search(&self.store, self.workspace, self.agent, query, limit)
            .await
            .map_err(|e| AgentError::Knowledge(e.to_string()))?;
        Ok(hits
            .into_iter()
            .map(|h| Passage {
                source: h.record.source_name,
                location: h.record.location,
                text: h.record.text,
                score: h.score,
                similarity: h.similarity,
            })
            .collect())
    }
}

/// An agent's profile: the stored one, or a plain support agent with its name.
pub async fn profile(store: &Store, ws: WorkspaceId, agent: AgentId) -> Result<AgentProfile, AgentFailure> {
    let record = store.get_agent(ws, agent).await?;
    match store.agent_profile(ws, agent).await? {
        Some(value) => Ok(serde_json::from_value::<AgentProfile>(value)
            .map_err(|e| StoreError::Corrupt(format!("agent profile: {e}")))?
            .validated()?),
        None => Ok(AgentProfile::named(&record.name)),
    }
}

/// A ready agent for `agent` of `ws`.
pub async fn build(
    store: &Store,
    knowledge: &Arc<Knowledge>,
    models: &Models,
    ws: WorkspaceId,
    agent: AgentId,
) -> Result<Agent, AgentFailure> {
    let profile = profile(store, ws, agent).await?;
    let retriever = KnowledgeRetriever { knowledge: knowledge.clone(), store: store.clone(), workspace: ws, agent };
    let llm = models.client_for(&profile)?;
    Ok(Agent::new(profile, llm, Arc::new(retriever)))
}

/// Stores an answer with its decisions and returns its id.
pub async fn record(
    store: &Store,
    ws: WorkspaceId,
    agent: AgentId,
    conversation: Option<ConversationId>,
    question: &str,
    outcome: &TurnOutcome,
) -> Result<String, AgentFailure> {
    let decisions: Vec<NewDecision<'_>> =
        outcome.decisions.iter().map(|d| NewDecision { step: &d.step, outcome: &d.outcome, reason: &d.reason }).collect();
    let value = serde_json::to_value(outcome).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let answer = NewAnswer { conversation, question, reply: &outcome.reply, outcome: &value, decisions: &decisions };
    Ok(store.record_answer(ws, agent, answer).await?)
}

/// One agent turn on a conversation: answers its latest customer message unless the conversation
/// was handed off (then the agent stays silent and says why in the log). The reply is stored as
/// an outbound message, `queued` for its channel.
pub async fn run_turn(
    store: &Store,
    knowledge: &Arc<Knowledge>,
    models: &Models,
    ws: WorkspaceId,
    conversation: ConversationId,
) -> Result<serde_json::Value, AgentFailure> {
    let convo = store.get_conversation(ws, conversation).await?;
    let Some(agent_id) = store.channel_agent(ws, convo.channel_id).await? else {
        return Ok(json!({"skipped": "no agent serves this channel"}));
    };
    if let Some(state) = store.conversation_agent(ws, conversation).await? {
        if state.status == AgentStatus::HandedOff {
            let reason = "the conversation was handed to people; the agent answers again once it is given back";
            store.log_decision(ws, agent_id, Some(conversation), NewDecision { step: "turn", outcome: "silent", reason }).await?;
            return Ok(json!({"silent": true}));
        }
    }
    let messages = store.list_messages(ws, conversation, Page::new(Some(200), Some(0))).await?.items;
    let Some(last) = messages.iter().rposition(|m| m.direction == MessageDirection::Inbound) else {
        return Ok(json!({"skipped": "no customer message"}));
    };
    if messages[last + 1..].iter().any(|m| m.direction == MessageDirection::Outbound) {
        return Ok(json!({"skipped": "the latest customer message already has a reply"}));
    }
    if let Some(survey) = store.take_csat_answer(ws, conversation, messages[last].id, &messages[last].body).await? {
        let reason = format!("the customer answered the satisfaction survey ({}/{})", survey.score.unwrap_or(0), survey.scale.max());
        store.log_decision(ws, agent_id, Some(conversation), NewDecision { step: "turn", outcome: "silent", reason: &reason }).await?;
        return Ok(json!({"silent": true, "csat": survey.score}));
    }
    let history: Vec<Turn> = messages[..last]
        .iter()
        .map(|m| Turn {
            speaker: if m.direction == MessageDirection::Inbound { Speaker::Customer } else { Speaker::Agent },
            text: m.body.clone(),
        })
        .collect();
    let channel = store.get_channel(ws, convo.channel_id).await?;
    if let Ok(settings) = tandem_channels::ChannelSettings::parse(channel.kind, &channel.config) {
        let window = crate::messaging::window_of(&settings, &convo);
        if let Err(refusal) = window.admit(tandem_channels::window::Author::Agent, false) {
            let reason = refusal.to_string();
            store.log_decision(ws, agent_id, Some(conversation), NewDecision { step: "turn", outcome: "silent", reason: &reason }).await?;
            return Ok(json!({"silent": true, "window": reason}));
        }
    }
    let agent = build(store, knowledge, models, ws, agent_id).await?;
    let question = messages[last].body.clone();
    let outcome = agent.respond(&history, &question).await?;
    let answer_id = record(store, ws, agent_id, Some(conversation), &question, &outcome).await?;
    crate::messaging::queue_agent_reply(store, ws, conversation, &outcome.reply, SEND_ATTEMPTS).await?;
    let written = write_contact_fields(store, ws, convo.contact_id, &outcome).await?;
    if !written.is_empty() {
        let reason = written.join(", ");
        store
            .log_decision(ws, agent_id, Some(conversation), NewDecision { step: "crm", outcome: "contact updated", reason: &reason })
            .await?;
    }
    // Any handoff, a valuable lead's included, leaves the conversation to people.
    let status = if outcome.handoff.is_some() { AgentStatus::HandedOff } else { AgentStatus::Active };
    let handoff = outcome
        .handoff
        .as_ref()
        .map(|h| (serde_json::to_value(h.reason).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(), h.team.clone()));
    let state = NewAgentState {
        agent: agent_id,
        status,
        handoff: handoff.as_ref().map(|(r, t)| (r.as_str(), t.as_deref())),
        lead_score: outcome.lead_score.map(i64::from),
        summary: outcome.summary.as_deref(),
    };
    store.set_conversation_agent(ws, conversation, state).await?;
    if status == AgentStatus::HandedOff {
        // To the team's queue now, not at the next sweep. The reply is queued already: a routing
        // failure is logged, and the sweep tries again within a minute.
        if let Err(e) = store.route_waiting(ws).await {
            tracing::warn!(error = %e, %conversation, "could not route the handed-off conversation");
        }
    }
    Ok(
        json!({"answer_id": answer_id, "kind": outcome.kind, "handoff": outcome.handoff, "lead_score": outcome.lead_score, "contact_fields": written}),
    )
}

/// Writes what the customer stated (company, job title, custom properties the profile names) into
/// empty fields of the contact, and the lead score into a `lead_score` property when the
/// workspace defines one. Returns the fields written; a value a property refuses is skipped.
async fn write_contact_fields(
    store: &Store,
    ws: WorkspaceId,
    contact: ContactId,
    outcome: &TurnOutcome,
) -> Result<Vec<String>, AgentFailure> {
    let (definitions, country) = store.draft_rules_data(ws).await?;
    let rules = DraftRules { definitions: &definitions, default_country: country.as_deref() };
    let current = store.get_contact(ws, contact).await?;
    let mut draft = current.to_draft(&rules)?;
    let mut written = Vec::new();
    for (field, value) in &outcome.fields {
        let empty = match field.as_str() {
            "company" => current.company.is_none(),
            "job_title" => current.job_title.is_none(),
            key => definitions.iter().any(|d| d.key.as_str() == key) && !current.properties.contains_key(key),
        };
        if empty && draft.set_text(field, value, &rules).is_ok() {
            written.push(field.clone());
        }
    }
    if let Some(score) = outcome.lead_score {
        if definitions.iter().any(|d| d.key.as_str() == "lead_score") && draft.set_text("lead_score", &score.to_string(), &rules).is_ok() {
            written.push("lead_score".into());
        }
    }
    if !written.is_empty() {
        store.save_contact(ws, contact, draft).await?;
    }
    Ok(written)
}
