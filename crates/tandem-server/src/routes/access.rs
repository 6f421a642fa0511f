//! The workspace itself, its users, teams and API keys.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::{Deserialize, Serialize};
use tandem_core::{ApiKeyId, Role, TeamId, UserId};
use tandem_store::{api_keys::ApiKey, teams::Team, users::NewUser, users::User, workspaces::Workspace};

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/workspace", tag = "workspace", responses((status = 200, body = Workspace)))]
pub async fn get_workspace(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Workspace>> {
    Ok(Json(app.store.get_workspace(actor.workspace_id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct WorkspaceUpdate {
    name: Option<String>,
    /// Two-letter country for phone numbers written without `+`; `null` clears it.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<String>)]
    default_country: Option<Option<String>>,
}

/// Distinguishes an absent field (keep) from `null` (clear).
pub(crate) mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Admin only.
#[utoipa::path(patch, path = "/workspace", tag = "workspace", request_body = WorkspaceUpdate,
    responses((status = 200, body = Workspace), (status = 403, body = ErrorBody)))]
pub async fn update_workspace(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<WorkspaceUpdate>,
) -> ApiResult<Json<Workspace>> {
    auth.require(Role::Admin)?;
    let country = req.default_country.as_ref().map(|c| c.as_deref());
    Ok(Json(app.store.update_workspace(auth.0.workspace_id, req.name.as_deref(), country).await?))
}

#[utoipa::path(get, path = "/users", tag = "users", responses((status = 200, body = Items<User>)))]
pub async fn list_users(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<User>>> {
    Ok(Json(app.store.list_users(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserCreate {
    email: String,
    name: String,
    /// At least 10 characters.
    password: String,
    role: Role,
}

/// Admin only.
#[utoipa::path(post, path = "/users", tag = "users", request_body = UserCreate,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<UserCreate>,
) -> ApiResult<(StatusCode, Json<User>)> {
    auth.require(Role::Admin)?;
    let user = app
        .store
        .create_user(auth.0.workspace_id, NewUser { email: req.email.parse()?, name: req.name, password: req.password, role: req.role })
        .await?;
    app.store.audit(&auth.0, "create", "user", Some(user.id.to_string()), None).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UserUpdate {
    role: Role,
}

/// Admin only: change a user's role.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)), request_body = UserUpdate,
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UserUpdate>,
) -> ApiResult<Json<User>> {
    auth.require(Role::Admin)?;
    let user = app.store.set_user_role(auth.0.workspace_id, parse_id(&id, "user")?, req.role).await?;
    app.store.audit(&auth.0, "update", "user", Some(id), Some(format!("role={}", req.role))).await?;
    Ok(Json(user))
}

/// Admin only.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", params(("id" = UserId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    app.store.delete_user(auth.0.workspace_id, parse_id(&id, "user")?).await?;
    app.store.audit(&auth.0, "delete", "user", Some(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = Items<Team>)))]
pub async fn list_teams(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<Team>>> {
    Ok(Json(app.store.list_teams(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TeamCreate {
    name: String,
}

/// Team Admin or Admin.
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamCreate, responses((status = 201, body = Team), (status = 409, body = ErrorBody)))]
pub async fn create_team(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<TeamCreate>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    auth.require(Role::TeamAdmin)?;
    Ok((StatusCode::CREATED, Json(app.store.create_team(auth.0.workspace_id, &req.name).await?)))
}

/// Admin only.
#[utoipa::path(delete, path = "/teams/{id}", tag = "teams", params(("id" = TeamId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_team(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    app.store.delete_team(auth.0.workspace_id, parse_id(&id, "team")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Team Admin or Admin: add a user to a team.
#[utoipa::path(put, path = "/teams/{id}/members/{user_id}", tag = "teams", params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn add_team_member(State(app): State<AppState>, auth: Auth, Path((id, user)): Path<(String, String)>) -> ApiResult<Json<Team>> {
    auth.require(Role::TeamAdmin)?;
    Ok(Json(app.store.add_team_member(auth.0.workspace_id, parse_id(&id, "team")?, parse_id(&user, "user")?).await?))
}

/// Team Admin or Admin.
#[utoipa::path(delete, path = "/teams/{id}/members/{user_id}", tag = "teams", params(("id" = TeamId, Path), ("user_id" = UserId, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
pub async fn remove_team_member(
    State(app): State<AppState>,
    auth: Auth,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Json<Team>> {
    auth.require(Role::TeamAdmin)?;
    Ok(Json(app.store.remove_team_member(auth.0.workspace_id, parse_id(&id, "team")?, parse_id(&user, "user")?).await?))
}

/// Admin only.
#[utoipa::path(get, path = "/api-keys", tag = "api keys", responses((status = 200, body = Items<ApiKey>), (status = 403, body = ErrorBody)))]
pub async fn list_api_keys(State(app): State<AppState>, auth: Auth) -> ApiResult<Json<Items<ApiKey>>> {
    auth.require(Role::Admin)?;
    Ok(Json(app.store.list_api_keys(auth.0.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ApiKeyCreate {
    name: String,
    role: Role,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyCreated {
    api_key: ApiKey,
    /// The key itself. It is shown this once and never again.
    secret: String,
}

/// Admin only. The response holds the only copy of the key.
#[utoipa::path(post, path = "/api-keys", tag = "api keys", request_body = ApiKeyCreate, responses((status = 201, body = ApiKeyCreated), (status = 403, body = ErrorBody)))]
pub async fn create_api_key(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ApiKeyCreate>,
) -> ApiResult<(StatusCode, Json<ApiKeyCreated>)> {
    auth.require(Role::Admin)?;
    let (api_key, secret) = app.store.create_api_key(auth.0.workspace_id, &req.name, req.role).await?;
    app.store.audit(&auth.0, "create", "api_key", Some(api_key.id.to_string()), None).await?;
    Ok((StatusCode::CREATED, Json(ApiKeyCreated { api_key, secret })))
}

/// Admin only: the key stops working at once.
#[utoipa::path(delete, path = "/api-keys/{id}", tag = "api keys", params(("id" = ApiKeyId, Path)), responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<Json<ApiKey>> {
    auth.require(Role::Admin)?;
    let key = app.store.revoke_api_key(auth.0.workspace_id, parse_id(&id, "api key")?).await?;
    app.store.audit(&auth.0, "revoke", "api_key", Some(id), None).await?;
    Ok(Json(key))
}
