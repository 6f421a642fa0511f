//! Connected channels. Provider credentials are write-only: responses mask them.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::{ChannelId, ChannelKind, Role};
use tandem_store::channels::Channel;

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/channels", tag = "channels", responses((status = 200, body = Items<Channel>)))]
pub async fn list_channels(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<Channel>>> {
    Ok(Json(app.store.list_channels(actor.workspace_id).await?.into_iter().map(Channel::redacted).collect::<Vec<_>>().into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChannelCreate {
    kind: ChannelKind,
    name: String,
    /// Provider settings and credentials.
    #[serde(default)]
    #[schema(value_type = Object)]
    config: Map<String, Value>,
}

/// Admin only.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = ChannelCreate, responses((status = 201, body = Channel), (status = 403, body = ErrorBody)))]
pub async fn create_channel(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<ChannelCreate>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    auth.require(Role::Admin)?;
    let ch = app.store.create_channel(auth.0.workspace_id, req.kind, &req.name, req.config).await?;
    app.store.audit(&auth.0, "create", "channel", Some(ch.id.to_string()), None).await?;
    Ok((StatusCode::CREATED, Json(ch.redacted())))
}

#[utoipa::path(get, path = "/channels/{id}", tag = "channels", params(("id" = ChannelId, Path)), responses((status = 200, body = Channel), (status = 404, body = ErrorBody)))]
pub async fn get_channel(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Channel>> {
    Ok(Json(app.store.get_channel(actor.workspace_id, parse_id(&id, "channel")?).await?.redacted()))
}

/// Admin only.
#[utoipa::path(delete, path = "/channels/{id}", tag = "channels", params(("id" = ChannelId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_channel(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    app.store.delete_channel(auth.0.workspace_id, parse_id(&id, "channel")?).await?;
    app.store.audit(&auth.0, "delete", "channel", Some(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
