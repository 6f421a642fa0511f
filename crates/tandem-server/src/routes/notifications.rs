//! The caller's notifications (tickets escalated to them or their team): listed, marked read.
//! They belong to people: an API key has none.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::{Actor, NotificationId, UserId};
use tandem_store::notifications::Notifications;

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::parse_id,
    state::AppState,
};

fn person(actor: &Actor) -> ApiResult<UserId> {
    actor.user_id().ok_or_else(|| ApiError::forbidden("notifications belong to people: log in as a user"))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct NotificationFilter {
    /// Only the unread ones.
    #[serde(default)]
    unread: bool,
}

/// The caller's notifications, newest first (at most 100), with the count of unread ones.
#[utoipa::path(get, path = "/notifications", tag = "inbox", params(NotificationFilter),
    responses((status = 200, body = Notifications), (status = 403, body = ErrorBody)))]
pub async fn list_notifications(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Query(f): Query<NotificationFilter>,
) -> ApiResult<Json<Notifications>> {
    Ok(Json(app.store.list_notifications(actor.workspace_id, person(&actor)?, f.unread).await?))
}

/// Marks one of the caller's notifications read.
#[utoipa::path(post, path = "/notifications/{id}/read", tag = "inbox", params(("id" = NotificationId, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn read_notification(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.store.mark_notifications_read(actor.workspace_id, person(&actor)?, Some(parse_id(&id, "notification")?)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Marks all of the caller's notifications read.
#[utoipa::path(post, path = "/notifications/read", tag = "inbox",
    responses((status = 204), (status = 403, body = ErrorBody)))]
pub async fn read_all_notifications(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<StatusCode> {
    app.store.mark_notifications_read(actor.workspace_id, person(&actor)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
