//! Tickets, their types, internal notes and escalation history.
//!
//! Access (decided by `tandem_inbox::Viewer`): Admin sees and changes every ticket; Team Admin the
//! tickets of their teams and their own; Staff those they created or are assigned. A ticket the
//! caller may not see answers 404, as if it did not exist. Anyone may create a ticket; Staff may
//! assign only themselves, Team Admins members of their teams; only Admins delete tickets and
//! manage types. Overdue tickets are escalated whenever tickets are read.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::{Actor, ContactId, ConversationId, PropertyDefinition, Role, TeamId, Timestamp, UserId};
use tandem_inbox::{
    sla::Priority,
    ticket::{TicketId, TicketStatus, TicketTypeKey, Viewer},
};
use tandem_store::{
    csat::CsatSurvey,
    tickets::{NewTicket, Ticket, TicketEvent, TicketNote, TicketQuery, TicketType, TicketUpdate},
    Paged,
};

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    routes::access::double_option,
    state::AppState,
};

/// The caller as access rules see them: role, user and that user's teams.
pub(crate) async fn viewer(app: &AppState, actor: &Actor) -> ApiResult<Viewer> {
    let teams = match actor.user_id() {
        Some(u) => app.store.user_teams(actor.workspace_id, u).await?,
        None => vec![],
    };
    Ok(Viewer { role: actor.role, user: actor.user_id(), teams })
}

/// Checks that `viewer` may give work to `user` in `team`.
pub(crate) async fn check_assign(
    app: &AppState,
    actor: &Actor,
    viewer: &Viewer,
    user: Option<UserId>,
    team: Option<TeamId>,
) -> ApiResult<()> {
    let user_teams = match user {
        Some(u) => app.store.user_teams(actor.workspace_id, u).await?,
        None => vec![],
    };
    viewer.may_assign(user, &user_teams, team).map_err(|d| ApiError::forbidden(d.0))
}

/// Escalates overdue tickets before a read. A failure is logged, not answered: reading tickets
/// must not depend on it (the periodic sweep tries again).
pub(crate) async fn escalate_before_read(app: &AppState, ws: tandem_core::WorkspaceId) {
    if let Err(e) = app.store.escalate_tickets(ws, Timestamp::now()).await {
        tracing::warn!(error = %e, "could not escalate overdue tickets");
    }
}

/// A ticket the caller may see, else 404.
async fn visible_ticket(app: &AppState, actor: &Actor, viewer: &Viewer, id: &str) -> ApiResult<Ticket> {
    let ticket = app.store.get_ticket(actor.workspace_id, parse_id::<TicketId>(id, "ticket")?).await?;
    if viewer.sees(&ticket.facts()) {
        Ok(ticket)
    } else {
        Err(ApiError::not_found("ticket"))
    }
}

fn parse_query<T: std::str::FromStr<Err = tandem_core::ValidationError>>(raw: Option<&str>) -> ApiResult<Option<T>> {
    Ok(raw.map(str::parse).transpose()?)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TicketFilter {
    /// `to_do`, `in_progress`, `waiting`, `reopened` or `resolved`.
    status: Option<String>,
    /// `true`: everything but resolved; `false`: resolved only.
    open: Option<String>,
    /// `urgent`, `high`, `medium` or `low`.
    priority: Option<String>,
    /// A ticket type key.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    kind: Option<String>,
    assignee_user_id: Option<String>,
    team_id: Option<String>,
    conversation_id: Option<String>,
    contact_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// Tickets the caller may see, newest first, each with its SLA.
#[utoipa::path(get, path = "/tickets", tag = "tickets", params(TicketFilter),
    responses((status = 200, body = Paged<Ticket>), (status = 422, body = ErrorBody)))]
pub async fn list_tickets(State(app): State<AppState>, Auth(actor): Auth, Query(f): Query<TicketFilter>) -> ApiResult<Json<Paged<Ticket>>> {
    let viewer = viewer(&app, &actor).await?;
    escalate_before_read(&app, actor.workspace_id).await;
    let q = TicketQuery {
        status: parse_query::<TicketStatus>(f.status.as_deref())?,
        open: match f.open.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(other) => {
                return Err(
                    tandem_core::ValidationError::new("open", "invalid_value", format!("`open` is true or false, not `{other}`")).into()
                )
            }
        },
        priority: parse_query::<Priority>(f.priority.as_deref())?,
        kind: parse_query::<TicketTypeKey>(f.kind.as_deref())?,
        assignee_user_id: f.assignee_user_id.as_deref().map(|u| parse_id(u, "user")).transpose()?,
        team_id: f.team_id.as_deref().map(|t| parse_id(t, "team")).transpose()?,
        conversation_id: f.conversation_id.as_deref().map(|c| parse_id(c, "conversation")).transpose()?,
        contact_id: f.contact_id.as_deref().map(|c| parse_id(c, "contact")).transpose()?,
    };
    let page = tandem_store::Page::new(f.limit, f.offset);
    Ok(Json(app.store.list_tickets(actor.workspace_id, &viewer.visibility(), &q, page).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketCreate {
    /// Required unless `conversation_id` is given (then the customer's first message).
    subject: Option<String>,
    description: Option<String>,
    /// Default `general`.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    kind: Option<TicketTypeKey>,
    /// Default `medium`.
    priority: Option<Priority>,
    assignee_user_id: Option<UserId>,
    team_id: Option<TeamId>,
    /// Creates the ticket from this conversation (the link is kept; the contact is its contact).
    conversation_id: Option<ConversationId>,
    contact_id: Option<ContactId>,
    /// Values of the type's custom fields.
    #[serde(default)]
    #[schema(value_type = Object)]
    fields: Map<String, Value>,
}

#[utoipa::path(post, path = "/tickets", tag = "tickets", request_body = TicketCreate,
    responses((status = 201, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_ticket(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(req): ApiJson<TicketCreate>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let ws = actor.workspace_id;
    let viewer = viewer(&app, &actor).await?;
    check_assign(&app, &actor, &viewer, req.assignee_user_id, req.team_id).await?;
    let mut team = req.team_id;
    if let Some(c) = req.conversation_id {
        let conv = app.store.get_conversation(ws, c).await?;
        if !viewer.sees_conversation(conv.assignee_user_id, conv.team_id) {
            return Err(ApiError::not_found("conversation"));
        }
        // A ticket from a conversation belongs to the conversation's team unless told otherwise.
        team = team.or(conv.team_id);
    }
    let new = NewTicket {
        subject: req.subject,
        description: req.description,
        kind: req.kind,
        priority: req.priority,
        assignee_user_id: req.assignee_user_id,
        team_id: team,
        conversation_id: req.conversation_id,
        contact_id: req.contact_id,
        fields: req.fields,
    };
    let ticket = app.store.create_ticket(ws, &actor, new).await?;
    app.store.audit(&actor, "create", "ticket", Some(ticket.id.to_string()), None).await?;
    Ok((StatusCode::CREATED, Json(ticket)))
}

#[utoipa::path(get, path = "/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Ticket), (status = 404, body = ErrorBody)))]
pub async fn get_ticket(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Ticket>> {
    let viewer = viewer(&app, &actor).await?;
    escalate_before_read(&app, actor.workspace_id).await;
    Ok(Json(visible_ticket(&app, &actor, &viewer, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketChange {
    subject: Option<String>,
    /// `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// Changing the type drops the fields of the old one.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    kind: Option<TicketTypeKey>,
    priority: Option<Priority>,
    /// A resolved ticket can only be `reopened`.
    status: Option<TicketStatus>,
    /// `null` unassigns.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<UserId>)]
    assignee_user_id: Option<Option<UserId>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<TeamId>)]
    team_id: Option<Option<TeamId>>,
    /// Fields to change; `null` removes one.
    #[schema(value_type = Option<Object>)]
    fields: Option<Map<String, Value>>,
}

#[utoipa::path(patch, path = "/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)), request_body = TicketChange,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_ticket(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TicketChange>,
) -> ApiResult<Json<Ticket>> {
    let viewer = viewer(&app, &actor).await?;
    let ticket = visible_ticket(&app, &actor, &viewer, &id).await?;
    // Only what changes needs the right: a ticket can keep a team the caller is not in.
    if let Some(user) = req.assignee_user_id.filter(|u| *u != ticket.assignee_user_id) {
        check_assign(&app, &actor, &viewer, user, None).await?;
    }
    if let Some(team) = req.team_id.filter(|t| *t != ticket.team_id) {
        check_assign(&app, &actor, &viewer, None, team).await?;
    }
    let update = TicketUpdate {
        subject: req.subject,
        description: req.description,
        kind: req.kind,
        priority: req.priority,
        status: req.status,
        assignee_user_id: req.assignee_user_id,
        team_id: req.team_id,
        fields: req.fields,
    };
    let was = ticket.status;
    let ticket = app.store.update_ticket(actor.workspace_id, ticket.id, update).await?;
    app.store.audit(&actor, "update", "ticket", Some(ticket.id.to_string()), None).await?;
    if ticket.status == TicketStatus::Resolved && was != TicketStatus::Resolved {
        // The ticket is resolved either way: a survey that cannot be queued is logged.
        if let Err(e) = crate::csat::send_survey(&app.store, actor.workspace_id, &ticket, app.config.channels.send_max_attempts).await {
            tracing::warn!(error = %e, ticket = %ticket.id, "could not send the satisfaction survey");
        }
    }
    Ok(Json(ticket))
}

/// The satisfaction surveys sent when the ticket was resolved (one per resolution), with the
/// customer's answers.
#[utoipa::path(get, path = "/tickets/{id}/csat", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Items<CsatSurvey>), (status = 404, body = ErrorBody)))]
pub async fn list_csat(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<CsatSurvey>>> {
    let viewer = viewer(&app, &actor).await?;
    let ticket = visible_ticket(&app, &actor, &viewer, &id).await?;
    Ok(Json(app.store.ticket_csat(actor.workspace_id, ticket.id).await?.into()))
}

/// Admin only.
#[utoipa::path(delete, path = "/tickets/{id}", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_ticket(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    app.store.delete_ticket(auth.0.workspace_id, parse_id(&id, "ticket")?).await?;
    app.store.audit(&auth.0, "delete", "ticket", Some(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Internal notes: never sent to the customer.
#[utoipa::path(get, path = "/tickets/{id}/notes", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Items<TicketNote>), (status = 404, body = ErrorBody)))]
pub async fn list_notes(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<TicketNote>>> {
    let viewer = viewer(&app, &actor).await?;
    let ticket = visible_ticket(&app, &actor, &viewer, &id).await?;
    Ok(Json(app.store.list_ticket_notes(actor.workspace_id, ticket.id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteCreate {
    body: String,
}

#[utoipa::path(post, path = "/tickets/{id}/notes", tag = "tickets", params(("id" = TicketId, Path)), request_body = NoteCreate,
    responses((status = 201, body = TicketNote), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteCreate>,
) -> ApiResult<(StatusCode, Json<TicketNote>)> {
    let viewer = viewer(&app, &actor).await?;
    let ticket = visible_ticket(&app, &actor, &viewer, &id).await?;
    Ok((StatusCode::CREATED, Json(app.store.add_ticket_note(actor.workspace_id, ticket.id, &actor.label(), &req.body).await?)))
}

/// What happened to a ticket on its own: escalations of missed SLA targets.
#[utoipa::path(get, path = "/tickets/{id}/events", tag = "tickets", params(("id" = TicketId, Path)),
    responses((status = 200, body = Items<TicketEvent>), (status = 404, body = ErrorBody)))]
pub async fn list_events(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<TicketEvent>>> {
    let viewer = viewer(&app, &actor).await?;
    escalate_before_read(&app, actor.workspace_id).await;
    let ticket = visible_ticket(&app, &actor, &viewer, &id).await?;
    Ok(Json(app.store.list_ticket_events(actor.workspace_id, ticket.id).await?.into()))
}

/// Built-in types (bug_report, feature_request, billing, refund, general) and the workspace's own.
#[utoipa::path(get, path = "/ticket-types", tag = "tickets", responses((status = 200, body = Items<TicketType>)))]
pub async fn list_types(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<TicketType>>> {
    Ok(Json(app.store.list_ticket_types(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketTypePut {
    name: String,
    /// Custom fields: `{key, label, kind, options, required}` with the kinds of contact
    /// properties (text, number, date, boolean, single_select, multi_select).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    fields: Vec<PropertyDefinition>,
}

/// Admin only: create or replace a type (a built-in type can get fields).
#[utoipa::path(put, path = "/ticket-types/{key}", tag = "tickets", params(("key" = String, Path)), request_body = TicketTypePut,
    responses((status = 200, body = TicketType), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_type(
    State(app): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<TicketTypePut>,
) -> ApiResult<Json<TicketType>> {
    auth.require(Role::Admin)?;
    let key: TicketTypeKey = key.parse()?;
    let ty = app.store.put_ticket_type(auth.0.workspace_id, &key, &req.name, &req.fields).await?;
    app.store.audit(&auth.0, "update", "ticket_type", Some(key.to_string()), None).await?;
    Ok(Json(ty))
}

/// Admin only: a custom type that no ticket uses.
#[utoipa::path(delete, path = "/ticket-types/{key}", tag = "tickets", params(("key" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_type(State(app): State<AppState>, auth: Auth, Path(key): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let key: TicketTypeKey = key.parse().map_err(|_| ApiError::not_found("ticket type"))?;
    app.store.delete_ticket_type(auth.0.workspace_id, &key).await?;
    app.store.audit(&auth.0, "delete", "ticket_type", Some(key.to_string()), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
