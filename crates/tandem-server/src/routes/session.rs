//! Login sessions for people (the inbox UI); API clients use keys instead.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use tandem_core::{Actor, ActorKind, Role, WorkspaceId};
use tandem_store::{users::User, workspaces::Workspace};

use crate::{
    auth::{Auth, SESSION_COOKIE},
    error::{ApiError, ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
    /// Needed only when the e-mail has accounts in several workspaces.
    workspace_id: Option<WorkspaceId>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    workspace: Workspace,
    role: Role,
    /// The logged-in user; absent for API keys.
    user: Option<User>,
}

/// Log in: sets the `tandem_session` cookie (HttpOnly, SameSite=Lax).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn login(State(app): State<AppState>, ApiJson(req): ApiJson<LoginRequest>) -> ApiResult<Response> {
    let (token, user) = app.store.login(req.workspace_id, &req.email, &req.password, app.config.auth.session_ttl_hours).await?;
    let actor = Actor { workspace_id: user.workspace_id, role: user.role, kind: ActorKind::User(user.id) };
    app.store.audit(&actor, "login", "session", None, None).await?;
    let secure = if app.config.auth.secure_cookies { "; Secure" } else { "" };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}", app.config.auth.session_ttl_hours * 3600);
    let workspace = app.store.get_workspace(user.workspace_id).await?;
    let body = Me { workspace, role: user.role, user: Some(user) };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// Log out: ends the session and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(app): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (mut parts, _) = axum::http::Request::new(()).into_parts();
    parts.headers = headers;
    if let Some(token) = crate::auth::cookie(&parts, SESSION_COOKIE) {
        app.store.logout(token).await?;
    }
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, clear)]).into_response())
}

/// Who the caller is.
#[utoipa::path(get, path = "/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Me>> {
    let workspace = app.store.get_workspace(actor.workspace_id).await?;
    let user = match actor.user_id() {
        Some(id) => Some(
            app.store
                .get_user(actor.workspace_id, id)
                .await
                .map_err(|_| ApiError::unauthorized("session_expired", "the user no longer exists"))?,
        ),
        None => None,
    };
    Ok(Json(Me { workspace, role: actor.role, user }))
}
