use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::LabelId;
use tandem_store::labels::Label;

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/labels", tag = "contacts", responses((status = 200, body = Items<Label>)))]
pub async fn list_labels(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<Label>>> {
    Ok(Json(app.store.list_labels(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LabelCreate {
    name: String,
    color: Option<String>,
}

#[utoipa::path(post, path = "/labels", tag = "contacts", request_body = LabelCreate, responses((status = 201, body = Label), (status = 409, body = ErrorBody)))]
pub async fn create_label(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(req): ApiJson<LabelCreate>,
) -> ApiResult<(StatusCode, Json<Label>)> {
    Ok((StatusCode::CREATED, Json(app.store.create_label(actor.workspace_id, &req.name, req.color.as_deref()).await?)))
}

#[utoipa::path(delete, path = "/labels/{id}", tag = "contacts", params(("id" = LabelId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_label(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.store.delete_label(actor.workspace_id, parse_id(&id, "label")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
