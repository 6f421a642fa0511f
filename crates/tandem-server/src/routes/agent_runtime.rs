//! The AI agents at work: profiles, the sandbox chat to test an agent before deploying it, thumbs
//! up/down with corrections, which channel an agent serves, its state on a conversation (handed
//! off or answering) with every decision logged, and the paid tools of the inbox: smart replies
//! (1 credit per suggestion generated) and the writing assistant (1 credit per improved reply).

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tandem_agent::{
    assist::{self, Suggestions},
    pipeline::TurnOutcome,
    profile::Tone,
    AgentProfile, Retriever, Speaker, Turn,
};
use tandem_core::{AgentId, ChannelId, ConversationId, MessageDirection, Role};
use tandem_store::{
    agent_runtime::{AgentAnswer, AgentDecision, AgentStatus, ConversationAgent, NewAgentState, NewDecision},
    credits::{CreditAccount, CreditEntry, CreditPlan},
    jobs::Job,
    Page, Paged,
};

use super::PageQuery;
use crate::{
    agents::{self, KnowledgeRetriever, TURN_JOB},
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    routes::conversations::visible_conversation,
    state::AppState,
};

#[utoipa::path(get, path = "/agents/{id}/profile", tag = "agents", params(("id" = AgentId, Path)),
    responses((status = 200, body = AgentProfile), (status = 404, body = ErrorBody)))]
pub async fn get_profile(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<AgentProfile>> {
    Ok(Json(masked(agents::profile(&app.store, actor.workspace_id, parse_id(&id, "agent")?).await?)))
}

/// The profile as answers show it: the model's API key masked.
fn masked(mut profile: AgentProfile) -> AgentProfile {
    if let Some(key) = profile.model.as_mut().and_then(|m| m.api_key.as_mut()) {
        *key = tandem_agent::profile::MASKED_KEY.into();
    }
    profile
}

/// Admin only. Replaces the whole profile; unknown keys and bad values are refused.
#[utoipa::path(put, path = "/agents/{id}/profile", tag = "agents", params(("id" = AgentId, Path)), request_body = AgentProfile,
    responses((status = 200, body = AgentProfile), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_profile(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(profile): ApiJson<AgentProfile>,
) -> ApiResult<Json<AgentProfile>> {
    auth.require(Role::Admin)?;
    let agent: AgentId = parse_id(&id, "agent")?;
    let mut profile = profile.validated().map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_profile", e.to_string()))?;
    // A masked key sent back unchanged keeps the stored one.
    if let Some(m) = profile.model.as_mut().filter(|m| m.api_key.as_deref() == Some(tandem_agent::profile::MASKED_KEY)) {
        let stored = agents::profile(&app.store, auth.0.workspace_id, agent).await?;
        m.api_key = stored.model.and_then(|s| s.api_key);
    }
    let value = serde_json::to_value(&profile).map_err(|e| ApiError::bad_request("invalid_profile", e.to_string()))?;
    app.store.set_agent_profile(auth.0.workspace_id, agent, &profile.name, &value).await?;
    app.store.audit(&auth.0, "update", "agent_profile", Some(id), None).await?;
    Ok(Json(masked(profile)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SandboxRequest {
    /// The customer's message.
    message: String,
    /// The conversation before it, oldest first.
    #[serde(default)]
    history: Vec<Turn>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SandboxAnswer {
    /// Rate it with `POST /agents/{id}/answers/{answer_id}/feedback`.
    answer_id: String,
    outcome: TurnOutcome,
}

/// Test an agent before deploying it: one customer turn through the real pipeline (knowledge
/// base, model, guardrails, handoff, lead scoring). Nothing is sent to any customer.
#[utoipa::path(post, path = "/agents/{id}/sandbox", tag = "agents", params(("id" = AgentId, Path)), request_body = SandboxRequest,
    responses((status = 200, body = SandboxAnswer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn sandbox(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SandboxRequest>,
) -> ApiResult<Json<SandboxAnswer>> {
    let agent_id: AgentId = parse_id(&id, "agent")?;
    if req.history.len() > 50 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_history",
            "a sandbox conversation has at most 50 earlier turns",
        ));
    }
    let agent = agents::build(&app.store, &app.knowledge, &app.models, actor.workspace_id, agent_id).await?;
    let outcome = agent.respond(&req.history, &req.message).await.map_err(agents::AgentFailure::from)?;
    let answer_id = agents::record(&app.store, actor.workspace_id, agent_id, None, req.message.trim(), &outcome).await?;
    Ok(Json(SandboxAnswer { answer_id, outcome }))
}

#[utoipa::path(get, path = "/agents/{id}/answers/{answer}", tag = "agents", params(("id" = AgentId, Path), ("answer" = String, Path)),
    responses((status = 200, body = AgentAnswer), (status = 404, body = ErrorBody)))]
pub async fn get_answer(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, answer)): Path<(String, String)>,
) -> ApiResult<Json<AgentAnswer>> {
    Ok(Json(app.store.get_answer(actor.workspace_id, parse_id(&id, "agent")?, &answer).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Up,
    Down,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Feedback {
    rating: Rating,
    /// What the agent should have answered: becomes high-priority knowledge of this agent.
    correction: Option<String>,
}

/// Thumbs up or down on an answer; a correction is learnt by the agent at once (retrieved as a
/// question/answer pair ahead of other passages).
#[utoipa::path(post, path = "/agents/{id}/answers/{answer}/feedback", tag = "agents", params(("id" = AgentId, Path), ("answer" = String, Path)),
    request_body = Feedback, responses((status = 200, body = AgentAnswer), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn feedback(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, answer)): Path<(String, String)>,
    ApiJson(req): ApiJson<Feedback>,
) -> ApiResult<Json<AgentAnswer>> {
    let (ws, agent): (_, AgentId) = (actor.workspace_id, parse_id(&id, "agent")?);
    let correction = req.correction.as_deref().map(str::trim).filter(|c| !c.is_empty());
    if correction.is_some_and(|c| c.chars().count() > 4000) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_correction", "a correction has at most 4,000 characters"));
    }
    let rating = match req.rating {
        Rating::Up => 1,
        Rating::Down => -1,
    };
    let rated = app.store.rate_answer(ws, agent, &answer, rating, correction).await?;
    if let Some(correction) = correction {
        app.knowledge.add_correction(ws, agent, &rated.id, &rated.question, correction).await?;
    }
    app.store.audit(&actor, "rate", "agent_answer", Some(answer), None).await?;
    Ok(Json(rated))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChannelAgent {
    /// The agent that answers this channel's conversations; `null`: none.
    agent_id: Option<AgentId>,
}

/// Admin only. Which agent answers the channel's conversations.
#[utoipa::path(put, path = "/channels/{id}/agent", tag = "agents", params(("id" = ChannelId, Path)), request_body = ChannelAgent,
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn set_channel_agent(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ChannelAgent>,
) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let channel: ChannelId = parse_id(&id, "channel")?;
    app.store.set_channel_agent(auth.0.workspace_id, channel, req.agent_id).await?;
    app.store.audit(&auth.0, "update", "channel_agent", Some(id), req.agent_id.map(|a| a.to_string())).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ConversationAgentView {
    /// `null` when no agent has answered this conversation yet.
    state: Option<ConversationAgent>,
    /// Every decision of the agent on this conversation, oldest first, with its reason.
    decisions: Vec<AgentDecision>,
}

#[utoipa::path(get, path = "/conversations/{id}/agent", tag = "agents", params(("id" = ConversationId, Path)),
    responses((status = 200, body = ConversationAgentView), (status = 404, body = ErrorBody)))]
pub async fn conversation_agent(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<ConversationAgentView>> {
    let (ws, convo): (_, ConversationId) = (actor.workspace_id, visible_conversation(&app, &actor, &id).await?.id);
    Ok(Json(ConversationAgentView {
        state: app.store.conversation_agent(ws, convo).await?,
        decisions: app.store.conversation_decisions(ws, convo).await?,
    }))
}

/// Gives a handed-off conversation back to its agent, which answers the next customer message.
#[utoipa::path(post, path = "/conversations/{id}/agent/resume", tag = "agents", params(("id" = ConversationId, Path)),
    responses((status = 200, body = ConversationAgent), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn resume_agent(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<ConversationAgent>> {
    let (ws, convo): (_, ConversationId) = (actor.workspace_id, visible_conversation(&app, &actor, &id).await?.id);
    let Some(state) = app.store.conversation_agent(ws, convo).await? else {
        return Err(ApiError::new(StatusCode::CONFLICT, "no_agent", "no agent has answered this conversation"));
    };
    let back = NewAgentState {
        agent: state.agent_id,
        status: AgentStatus::Active,
        handoff: None,
        lead_score: state.lead_score,
        summary: state.summary.as_deref(),
    };
    let resumed = app.store.set_conversation_agent(ws, convo, back).await?;
    let who = match actor.kind {
        tandem_core::ActorKind::User(u) => format!("user {u}"),
        tandem_core::ActorKind::ApiKey(k) => format!("API key {k}"),
        tandem_core::ActorKind::System => "the system".to_string(),
    };
    let reason = format!("given back by {who}");
    app.store.log_decision(ws, state.agent_id, Some(convo), NewDecision { step: "resume", outcome: "active", reason: &reason }).await?;
    app.store.audit(&actor, "resume", "conversation_agent", Some(id), None).await?;
    Ok(Json(resumed))
}

/// A person takes the conversation from the AI agent: it is assigned to them and the agent stays
/// silent (handed off, reason `taken_over`) until someone gives it back with
/// `POST /conversations/{id}/agent/resume`.
#[utoipa::path(post, path = "/conversations/{id}/agent/take-over", tag = "agents", params(("id" = ConversationId, Path)),
    responses((status = 200, body = ConversationAgent), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn take_over(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<ConversationAgent>> {
    let Some(user) = actor.user_id() else {
        return Err(ApiError::forbidden("a person takes a conversation over: log in as a user"));
    };
    let ws = actor.workspace_id;
    let conv = visible_conversation(&app, &actor, &id).await?;
    let state = app.store.conversation_agent(ws, conv.id).await?;
    let agent = match &state {
        Some(state) => state.agent_id,
        None => app
            .store
            .channel_agent(ws, conv.channel_id)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no_agent", "no AI agent serves this conversation's channel"))?,
    };
    if conv.assignee_user_id != Some(user) {
        let viewer = crate::routes::tickets::viewer(&app, &actor).await?;
        crate::routes::tickets::check_assign(&app, &actor, &viewer, Some(user), None).await?;
        app.store.update_conversation(ws, conv.id, None, Some(Some(user)), None).await?;
    }
    let handed = NewAgentState {
        agent,
        status: AgentStatus::HandedOff,
        handoff: Some(("taken_over", None)),
        lead_score: state.as_ref().and_then(|s| s.lead_score),
        summary: state.as_ref().and_then(|s| s.summary.as_deref()),
    };
    let taken = app.store.set_conversation_agent(ws, conv.id, handed).await?;
    let reason = format!("taken over by user {user}");
    app.store.log_decision(ws, agent, Some(conv.id), NewDecision { step: "take_over", outcome: "silent", reason: &reason }).await?;
    app.store.audit(&actor, "take_over", "conversation_agent", Some(id), None).await?;
    Ok(Json(taken))
}

/// Asks the conversation's agent to answer its latest customer message (a durable job; channel
/// webhooks enqueue the same). The reply is stored as an outbound message.
#[utoipa::path(post, path = "/conversations/{id}/agent/turn", tag = "agents", params(("id" = ConversationId, Path)),
    responses((status = 202, body = Job), (status = 404, body = ErrorBody)))]
pub async fn agent_turn(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<(StatusCode, Json<Job>)> {
    let (ws, convo): (_, ConversationId) = (actor.workspace_id, visible_conversation(&app, &actor, &id).await?.id);
    let job = app.store.enqueue_job(ws, TURN_JOB, &json!({"conversation_id": convo}), 3).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Opens the workspace's credit account with the configured plan when it has none yet.
async fn account(app: &AppState, ws: tandem_core::WorkspaceId) -> ApiResult<CreditAccount> {
    let plan = CreditPlan { allowance_per_cycle: app.config.credits.allowance_per_cycle, cycle_days: app.config.credits.cycle_days };
    Ok(app.store.credit_account(ws, plan).await?)
}

/// The caller's `Idempotency-Key` (a retry with the same key is charged once), or a fresh one.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<String> {
    match headers.get("idempotency-key") {
        None => Ok(uuid::Uuid::new_v4().to_string()),
        Some(v) => {
            let key =
                v.to_str().map_err(|_| ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key must be printable ASCII"))?.trim();
            if key.is_empty() || key.len() > 200 {
                return Err(ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key has 1 to 200 characters"));
            }
            Ok(key.to_string())
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SmartReplyRequest {
    /// 2 or 3 (default 3).
    count: Option<usize>,
    tone: Option<Tone>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SmartReplies {
    #[serde(flatten)]
    suggestions: Suggestions,
    /// 1 per suggestion generated.
    credits_charged: i64,
    credits_balance: i64,
}

/// Suggested replies to the conversation's latest customer message, grounded in the knowledge
/// base of the channel's agent and the conversation. 1 credit per suggestion generated: the
/// credits are reserved first (none left: 402 and nothing is generated), and what was not
/// generated is refunded.
#[utoipa::path(post, path = "/conversations/{id}/smart-replies", tag = "assist", params(("id" = ConversationId, Path)), request_body = SmartReplyRequest,
    responses((status = 200, body = SmartReplies), (status = 402, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn smart_replies(
    State(app): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SmartReplyRequest>,
) -> ApiResult<Json<SmartReplies>> {
    let (ws, convo): (_, ConversationId) = (actor.workspace_id, visible_conversation(&app, &actor, &id).await?.id);
    let count = req.count.unwrap_or(3);
    if !assist::SUGGESTIONS.contains(&count) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_count", "ask for 2 or 3 suggestions"));
    }
    let conversation = app.store.get_conversation(ws, convo).await?;
    let messages = app.store.list_messages(ws, convo, Page::new(Some(200), Some(0))).await?.items;
    let Some(last) = messages.iter().rposition(|m| m.direction == MessageDirection::Inbound) else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_customer_message",
            "the conversation has no customer message to reply to",
        ));
    };
    let history: Vec<Turn> = messages[..last]
        .iter()
        .map(|m| Turn {
            speaker: if m.direction == MessageDirection::Inbound { Speaker::Customer } else { Speaker::Human },
            text: m.body.clone(),
        })
        .collect();
    // The channel's agent, if any, lends its tone and its model.
    let agent = app.store.channel_agent(ws, conversation.channel_id).await?;
    let profile = match agent {
        Some(a) => Some(agents::profile(&app.store, ws, a).await?),
        None => None,
    };
    let llm = match &profile {
        Some(p) => app.models.client_for(p)?,
        None => app.models.client()?,
    };
    let tone = match (req.tone, &profile) {
        (Some(t), _) => t,
        (None, Some(p)) => p.tone,
        (None, None) => Tone::Professional,
    };

    let key = idempotency_key(&headers)?;
    account(&app, ws).await?;
    let debit =
        app.store.debit_credits(ws, count as i64, &format!("smart reply: {count} suggestions"), Some(&convo.to_string()), &key).await?;
    let generated = async {
        let passages = match agent {
            Some(a) => KnowledgeRetriever { knowledge: app.knowledge.clone(), store: app.store.clone(), workspace: ws, agent: a }
                .retrieve(&messages[last].body, 4)
                .await
                .map_err(agents::AgentFailure::from)?,
            None => vec![],
        };
        assist::suggest_replies(&llm, &history, &messages[last].body, &passages, count, tone).await.map_err(agents::AgentFailure::from)
    }
    .await;
    let produced = generated.as_ref().map_or(0, |s| s.suggestions.len());
    if produced < count {
        let reason = format!("smart reply: {} of {count} suggestions generated", produced);
        app.store.refund_credits(ws, &debit.id, (count - produced) as i64, &reason, Some(&format!("{key}/refund"))).await?;
    }
    let suggestions = generated?;
    let balance = account(&app, ws).await?.balance;
    Ok(Json(SmartReplies { credits_charged: produced as i64, credits_balance: balance, suggestions }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RewriteRequest {
    draft: String,
    tone: Option<Tone>,
    /// The conversation the reply is for (kept with the ledger entry).
    conversation_id: Option<ConversationId>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Rewritten {
    #[serde(flatten)]
    rewrite: assist::Rewrite,
    credits_charged: i64,
    credits_balance: i64,
}

/// The writing assistant: polishes a draft (grammar, clarity, tone), keeping its meaning and
/// language. 1 credit per improved reply, reserved first and refunded when nothing came back.
#[utoipa::path(post, path = "/assist/rewrite", tag = "assist", request_body = RewriteRequest,
    responses((status = 200, body = Rewritten), (status = 402, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn rewrite(
    State(app): State<AppState>,
    Auth(actor): Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RewriteRequest>,
) -> ApiResult<Json<Rewritten>> {
    let ws = actor.workspace_id;
    if req.draft.trim().is_empty() || req.draft.chars().count() > 4000 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_draft", "a draft has 1 to 4,000 characters"));
    }
    if let Some(c) = req.conversation_id {
        app.store.get_conversation(ws, c).await?;
    }
    let llm = app.models.client()?;
    let key = idempotency_key(&headers)?;
    account(&app, ws).await?;
    let conversation = req.conversation_id.map(|c| c.to_string());
    let debit = app.store.debit_credits(ws, 1, "writing assistant: 1 improved reply", conversation.as_deref(), &key).await?;
    let result = assist::rewrite(&llm, &req.draft, req.tone.unwrap_or(Tone::Professional)).await.map_err(agents::AgentFailure::from);
    if result.is_err() {
        app.store.refund_credits(ws, &debit.id, 1, "writing assistant: nothing generated", Some(&format!("{key}/refund"))).await?;
    }
    let rewrite = result?;
    let balance = account(&app, ws).await?.balance;
    Ok(Json(Rewritten { rewrite, credits_charged: 1, credits_balance: balance }))
}

#[utoipa::path(get, path = "/credits", tag = "credits", responses((status = 200, body = CreditAccount)))]
pub async fn get_credits(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<CreditAccount>> {
    Ok(Json(account(&app, actor.workspace_id).await?))
}

#[utoipa::path(get, path = "/credits/entries", tag = "credits", params(PageQuery), responses((status = 200, body = Paged<CreditEntry>)))]
pub async fn list_credit_entries(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Paged<CreditEntry>>> {
    account(&app, actor.workspace_id).await?;
    Ok(Json(app.store.list_credit_entries(actor.workspace_id, page.page()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TopUp {
    amount: i64,
    reason: Option<String>,
}

/// Admin only. Adds credits that never expire (spent after the cycle's allowance).
#[utoipa::path(post, path = "/credits/top-ups", tag = "credits", request_body = TopUp,
    responses((status = 201, body = CreditEntry), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn top_up(
    State(app): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    ApiJson(req): ApiJson<TopUp>,
) -> ApiResult<(StatusCode, Json<CreditEntry>)> {
    auth.require(Role::Admin)?;
    let ws = auth.0.workspace_id;
    account(&app, ws).await?;
    let key = headers.get("idempotency-key").map(|_| idempotency_key(&headers)).transpose()?;
    let entry = app.store.top_up_credits(ws, req.amount, req.reason.as_deref().unwrap_or("top-up"), key.as_deref()).await?;
    app.store.audit(&auth.0, "top_up", "credits", Some(entry.id.clone()), Some(req.amount.to_string())).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

/// Admin only. The plan's allowance per billing cycle and the cycle's length.
#[utoipa::path(put, path = "/credits/plan", tag = "credits", request_body = CreditPlan,
    responses((status = 200, body = CreditAccount), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_plan(State(app): State<AppState>, auth: Auth, ApiJson(plan): ApiJson<CreditPlan>) -> ApiResult<Json<CreditAccount>> {
    auth.require(Role::Admin)?;
    account(&app, auth.0.workspace_id).await?;
    let account = app.store.set_credit_plan(auth.0.workspace_id, plan).await?;
    app.store
        .audit(&auth.0, "update", "credit_plan", None, Some(format!("{} / {} days", plan.allowance_per_cycle, plan.cycle_days)))
        .await?;
    Ok(Json(account))
}
