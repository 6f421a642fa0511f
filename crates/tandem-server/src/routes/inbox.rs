//! The shared inbox: settings (working hours, SLA policy, routing), views over conversations
//! with filters and search, assignment (by hand, or routed and handed out by the team's
//! strategy), the sweep that routes waiting conversations and escalates overdue tickets, and
//! support metrics.
//!
//! Visibility: Staff see the conversations of their teams and those assigned to them; Team Admin
//! and Admin see all of them.

use axum::{
    extract::{Path, Query, State},
    Json,
};
use serde::{Deserialize, Serialize};
use tandem_core::{ConversationStatus, Role, TeamId, Timestamp, UserId};
use tandem_inbox::{
    csat::CsatSummary,
    metrics::{summarise, Item, Summary},
};
use tandem_store::{
    inbox::{Assignment, InboxItem, InboxQuery, InboxSettings, InboxView},
    tickets::Escalated,
    Paged,
};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    routes::tickets::{check_assign, viewer},
    state::AppState,
};

#[utoipa::path(get, path = "/inbox/settings", tag = "inbox", responses((status = 200, body = InboxSettings)))]
pub async fn get_settings(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<InboxSettings>> {
    Ok(Json(app.store.inbox_settings(actor.workspace_id).await?))
}

/// Admin only. Replaces the settings; a part left out goes back to its default (no working
/// hours, the default SLA policy, manual routing).
#[utoipa::path(put, path = "/inbox/settings", tag = "inbox", request_body = InboxSettings,
    responses((status = 200, body = InboxSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_settings(State(app): State<AppState>, auth: Auth, ApiJson(req): ApiJson<InboxSettings>) -> ApiResult<Json<InboxSettings>> {
    auth.require(Role::Admin)?;
    let saved = app.store.put_inbox_settings(auth.0.workspace_id, &req).await?;
    app.store.audit(&auth.0, "update", "inbox_settings", None, None).await?;
    Ok(Json(saved))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxFilter {
    /// `mine`, `team`, `all` (default), `unassigned`, `ai` or `handed_off`.
    view: Option<String>,
    /// `open`, `pending`, `snoozed` or `resolved`.
    status: Option<String>,
    channel_id: Option<String>,
    /// A contact label's name.
    label: Option<String>,
    assignee_user_id: Option<String>,
    team_id: Option<String>,
    /// Searches contact names, e-mails, phone numbers and message text.
    q: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

fn parse_view(raw: &str) -> ApiResult<InboxView> {
    serde_json::from_value(serde_json::Value::String(raw.to_string())).map_err(|_| {
        tandem_core::ValidationError::new(
            "view",
            "invalid_view",
            format!("unknown view `{raw}`; expected mine, team, all, unassigned, ai or handed_off"),
        )
        .into()
    })
}

/// The inbox, most recent activity first. Waiting conversations are routed first, so a
/// handed-off conversation shows in its team's queue.
#[utoipa::path(get, path = "/inbox/conversations", tag = "inbox", params(InboxFilter),
    responses((status = 200, body = Paged<InboxItem>), (status = 422, body = ErrorBody)))]
pub async fn list_inbox(State(app): State<AppState>, Auth(actor): Auth, Query(f): Query<InboxFilter>) -> ApiResult<Json<Paged<InboxItem>>> {
    let ws = actor.workspace_id;
    let viewer = viewer(&app, &actor).await?;
    // Routing failures are logged, not answered: the inbox must still open (the sweep retries).
    if let Err(e) = app.store.route_waiting(ws).await {
        tracing::warn!(error = %e, "could not route waiting conversations");
    }
    let q = InboxQuery {
        view: f.view.as_deref().map(parse_view).transpose()?.unwrap_or_default(),
        status: f.status.as_deref().map(str::parse::<ConversationStatus>).transpose()?,
        channel_id: f.channel_id.as_deref().map(|c| parse_id(c, "channel")).transpose()?,
        label: f.label,
        assignee_user_id: f.assignee_user_id.as_deref().map(|u| parse_id(u, "user")).transpose()?,
        team_id: f.team_id.as_deref().map(|t| parse_id(t, "team")).transpose()?,
        search: f.q,
    };
    let page = tandem_store::Page::new(f.limit, f.offset);
    Ok(Json(app.store.inbox(ws, &viewer.conversation_visibility(), viewer.user, &viewer.teams, &q, page).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// Assign to this user (by hand). Without it, the conversation is routed: to `team_id` when
    /// given, else by the workspace's rules, then handed out by the team's strategy.
    user_id: Option<UserId>,
    team_id: Option<TeamId>,
}

/// Assign a conversation. Staff may take a conversation they see (`user_id` = themselves); Team
/// Admins assign to members of their teams; automatic routing needs Team Admin or Admin.
#[utoipa::path(post, path = "/conversations/{id}/assign", tag = "inbox", params(("id" = tandem_core::ConversationId, Path)),
    request_body = AssignRequest,
    responses((status = 200, body = Assignment), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn assign(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<AssignRequest>,
) -> ApiResult<Json<Assignment>> {
    let actor = &auth.0;
    let ws = actor.workspace_id;
    let viewer = viewer(&app, actor).await?;
    let id = parse_id(&id, "conversation")?;
    let conv = app.store.get_conversation(ws, id).await?;
    if !viewer.sees_conversation(conv.assignee_user_id, conv.team_id) {
        return Err(ApiError::not_found("conversation"));
    }
    let assignment = match req.user_id {
        Some(user) => {
            let team = req.team_id.or(conv.team_id);
            check_assign(&app, actor, &viewer, Some(user), req.team_id.filter(|t| Some(*t) != conv.team_id)).await?;
            if let Some(t) = team {
                let members = app.store.get_team(ws, t).await?.member_ids;
                if !members.contains(&user) {
                    return Err(tandem_core::ValidationError::new(
                        "user_id",
                        "not_a_member",
                        "this user is not a member of the conversation's team",
                    )
                    .into());
                }
            }
            let conversation = app.store.update_conversation(ws, id, None, Some(Some(user)), Some(team)).await?;
            Assignment {
                conversation,
                team_id: team,
                strategy: tandem_inbox::Strategy::Manual,
                assignee_user_id: Some(user),
                routed_by: "requested".into(),
                deferred: false,
            }
        }
        None => {
            auth.require(Role::TeamAdmin)?;
            if let Some(t) = req.team_id {
                check_assign(&app, actor, &viewer, None, Some(t)).await?;
            }
            app.store.auto_assign(ws, id, req.team_id).await?
        }
    };
    app.store
        .audit(actor, "assign", "conversation", Some(id.to_string()), assignment.assignee_user_id.map(|u| format!("user={u}")))
        .await?;
    Ok(Json(assignment))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SweepResult {
    routed: Vec<Assignment>,
    /// Snoozed conversations opened again.
    #[schema(value_type = Vec<String>)]
    woken: Vec<tandem_core::ConversationId>,
    escalated: Vec<Escalated>,
}

/// Team Admin or Admin: route every waiting conversation, open the snoozed ones whose time has
/// come and escalate every overdue ticket now
/// (both also happen when the inbox and tickets are read). For a scheduler to call.
#[utoipa::path(post, path = "/inbox/sweep", tag = "inbox", responses((status = 200, body = SweepResult), (status = 403, body = ErrorBody)))]
pub async fn sweep(State(app): State<AppState>, auth: Auth) -> ApiResult<Json<SweepResult>> {
    auth.require(Role::TeamAdmin)?;
    let ws = auth.0.workspace_id;
    let routed = app.store.route_waiting(ws).await?;
    let now = Timestamp::now();
    let woken = app.store.wake_snoozed(ws, now).await?;
    let escalated = app.store.escalate_tickets(ws, now).await?;
    Ok(Json(SweepResult { routed, woken, escalated }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsRange {
    /// RFC 3339; default 30 days before `to`.
    from: Option<String>,
    /// RFC 3339; default now.
    to: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct InboxMetrics {
    from: Timestamp,
    to: Timestamp,
    /// Whether times are working time (the workspace has working hours) or calendar time.
    working_hours: bool,
    /// Tickets created in the range: `by_type` is per ticket type.
    tickets: Summary,
    /// Conversations started in the range: `by_type` is per channel; first response is the
    /// first reply (a person's or an AI agent's) after the customer's first message.
    conversations: Summary,
    /// Answers to the surveys sent when tickets were resolved, given in the range.
    csat: CsatSummary,
}

fn parse_instant(raw: Option<String>, field: &str) -> ApiResult<Option<Timestamp>> {
    raw.map(|s| Timestamp::try_from(s).map_err(|m| tandem_core::ValidationError::new(field, "invalid_timestamp", m).into())).transpose()
}

/// Team Admin or Admin: first response and resolution times (working hours when configured),
/// first-contact resolution, volume per type and per assignee, CSAT. Team Admins see the tickets of
/// their teams and their own.
#[utoipa::path(get, path = "/inbox/metrics", tag = "inbox", params(MetricsRange),
    responses((status = 200, body = InboxMetrics), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn metrics(State(app): State<AppState>, auth: Auth, Query(r): Query<MetricsRange>) -> ApiResult<Json<InboxMetrics>> {
    auth.require(Role::TeamAdmin)?;
    let ws = auth.0.workspace_id;
    let viewer = viewer(&app, &auth.0).await?;
    let to = parse_instant(r.to, "to")?.unwrap_or_else(Timestamp::now);
    let from = parse_instant(r.from, "from")?.unwrap_or(to.plus_millis(-30 * 86_400_000));
    if from >= to {
        return Err(tandem_core::ValidationError::new("from", "invalid_range", "`from` must come before `to`").into());
    }
    let settings = app.store.inbox_settings(ws).await?;
    let hours = settings.working_hours.as_ref();
    let tickets: Vec<Item> = app
        .store
        .tickets_created_between(ws, &viewer.visibility(), from, to)
        .await?
        .into_iter()
        .map(|t| Item {
            kind: t.kind.to_string(),
            assignee: t.assignee_user_id,
            created_at: t.created_at,
            first_response_at: t.first_response_at,
            resolved_at: t.resolved_at,
            needed_follow_up: t.reopened_count > 0 || t.waiting_count > 0,
        })
        .collect();
    let conversations = app.store.conversation_metric_items(ws, from, to).await?;
    let answers: Vec<_> = app.store.csat_answers_between(ws, from, to).await?.into_iter().map(|a| (a.scale, a.score)).collect();
    Ok(Json(InboxMetrics {
        from,
        to,
        working_hours: hours.is_some(),
        tickets: summarise(&tickets, hours),
        conversations: summarise(&conversations, hours),
        csat: tandem_inbox::csat::summarise(&answers),
    }))
}
