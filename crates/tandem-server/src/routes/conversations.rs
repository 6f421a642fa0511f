//! Conversations and their messages (sending through providers comes with the channel adapters;
//! here an outbound message is stored as `queued`).

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::{ChannelId, ContactId, ConversationId, ConversationStatus, MessageDirection, MessageStatus, TeamId, UserId};
use tandem_store::{
    conversations::{Conversation, ConversationQuery, Message, NewMessage},
    Paged,
};

use super::PageQuery;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    routes::access::double_option,
    state::AppState,
};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationFilter {
    status: Option<ConversationStatus>,
    channel_id: Option<String>,
    contact_id: Option<String>,
    assignee_user_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationFilter),
    responses((status = 200, body = Paged<Conversation>)))]
pub async fn list_conversations(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Query(f): Query<ConversationFilter>,
) -> ApiResult<Json<Paged<Conversation>>> {
    let q = ConversationQuery {
        status: f.status,
        channel_id: f.channel_id.as_deref().map(|c| parse_id(c, "channel")).transpose()?,
        contact_id: f.contact_id.as_deref().map(|c| parse_id(c, "contact")).transpose()?,
        assignee_user_id: f.assignee_user_id.as_deref().map(|u| parse_id(u, "user")).transpose()?,
    };
    Ok(Json(app.store.list_conversations(actor.workspace_id, &q, tandem_store::Page::new(f.limit, f.offset)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConversationCreate {
    channel_id: ChannelId,
    contact_id: ContactId,
}

#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = ConversationCreate,
    responses((status = 201, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn create_conversation(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(req): ApiJson<ConversationCreate>,
) -> ApiResult<(StatusCode, Json<Conversation>)> {
    Ok((StatusCode::CREATED, Json(app.store.create_conversation(actor.workspace_id, req.channel_id, req.contact_id).await?)))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Conversation>> {
    Ok(Json(app.store.get_conversation(actor.workspace_id, parse_id(&id, "conversation")?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConversationUpdate {
    status: Option<ConversationStatus>,
    /// `null` unassigns.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<UserId>)]
    assignee_user_id: Option<Option<UserId>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<TeamId>)]
    team_id: Option<Option<TeamId>>,
}

#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)), request_body = ConversationUpdate,
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn update_conversation(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConversationUpdate>,
) -> ApiResult<Json<Conversation>> {
    let id = parse_id(&id, "conversation")?;
    Ok(Json(app.store.update_conversation(actor.workspace_id, id, req.status, req.assignee_user_id, req.team_id).await?))
}

#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path), PageQuery),
    responses((status = 200, body = Paged<Message>), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Paged<Message>>> {
    Ok(Json(app.store.list_messages(actor.workspace_id, parse_id(&id, "conversation")?, page.page()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MessageCreate {
    body: String,
}

/// Queue an outbound message in the conversation.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path)), request_body = MessageCreate,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_message(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MessageCreate>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    if req.body.trim().is_empty() {
        return Err(tandem_core::ValidationError::new("body", "empty_message", "a message needs text").into());
    }
    let new =
        NewMessage { direction: MessageDirection::Outbound, body: req.body, status: MessageStatus::Queued, provider_message_id: None };
    let (msg, _) = app.store.add_message(actor.workspace_id, parse_id(&id, "conversation")?, new).await?;
    Ok((StatusCode::CREATED, Json(msg)))
}
