//! Saved contact views: workspace views (Admin) and personal views.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::{ContactFilter, ContactSort, Role, ViewId};
use tandem_store::views::SavedView;

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[derive(Deserialize, utoipa::ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ViewScope {
    /// Seen by everyone in the workspace; Admin only.
    Workspace,
    /// Seen by its owner only.
    Personal,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ViewCreate {
    name: String,
    scope: ViewScope,
    #[serde(default)]
    filter: ContactFilter,
    #[serde(default)]
    sort: ContactSort,
    /// The view `GET /contacts?view=default` opens (one per scope).
    #[serde(default)]
    is_default: bool,
}

/// Workspace views and the caller's personal views.
#[utoipa::path(get, path = "/views", tag = "contacts", responses((status = 200, body = Items<SavedView>)))]
pub async fn list_views(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<SavedView>>> {
    Ok(Json(app.store.list_views(actor.workspace_id, actor.user_id()).await?.into()))
}

#[utoipa::path(post, path = "/views", tag = "contacts", request_body = ViewCreate,
    responses((status = 201, body = SavedView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_view(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ViewCreate>,
) -> ApiResult<(StatusCode, Json<SavedView>)> {
    let owner =
        match req.scope {
            ViewScope::Workspace => {
                auth.require(Role::Admin)?;
                None
            }
            ViewScope::Personal => Some(auth.0.user_id().ok_or_else(|| {
                ApiError::bad_request("personal_view_needs_user", "API keys have no personal views; use scope `workspace`")
            })?),
        };
    let view = app.store.create_view(auth.0.workspace_id, owner, &req.name, &req.filter, &req.sort, req.is_default).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A personal view by its owner; a workspace view by an Admin.
#[utoipa::path(delete, path = "/views/{id}", tag = "contacts", params(("id" = ViewId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_view(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    let id: ViewId = parse_id(&id, "view")?;
    let view = app.store.get_view(auth.0.workspace_id, auth.0.user_id(), id).await?;
    if view.owner_user_id.is_none() {
        auth.require(Role::Admin)?;
    }
    app.store.delete_view(auth.0.workspace_id, view.owner_user_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
