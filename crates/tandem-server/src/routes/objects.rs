//! Custom object types and records (orders, memberships...), associated with contacts.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::{ContactId, RecordId, Role};
use tandem_store::{
    objects::{ObjectRecord, ObjectType},
    Paged,
};

use super::{Items, PageQuery};
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/object-types", tag = "objects", responses((status = 200, body = Items<ObjectType>)))]
pub async fn list_types(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<ObjectType>>> {
    Ok(Json(app.store.list_object_types(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TypeCreate {
    key: String,
    #[serde(default)]
    name: String,
}

/// Admin only.
#[utoipa::path(post, path = "/object-types", tag = "objects", request_body = TypeCreate, responses((status = 201, body = ObjectType), (status = 409, body = ErrorBody)))]
pub async fn create_type(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<TypeCreate>,
) -> ApiResult<(StatusCode, Json<ObjectType>)> {
    auth.require(Role::Admin)?;
    Ok((StatusCode::CREATED, Json(app.store.create_object_type(auth.0.workspace_id, &req.key, &req.name).await?)))
}

#[utoipa::path(get, path = "/object-types/{key}/records", tag = "objects", params(("key" = String, Path), PageQuery),
    responses((status = 200, body = Paged<ObjectRecord>), (status = 404, body = ErrorBody)))]
pub async fn list_records(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(key): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Paged<ObjectRecord>>> {
    Ok(Json(app.store.list_records(actor.workspace_id, &key, page.page()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecordCreate {
    #[schema(value_type = Object)]
    data: Map<String, Value>,
    #[serde(default)]
    contact_ids: Vec<ContactId>,
}

#[utoipa::path(post, path = "/object-types/{key}/records", tag = "objects", params(("key" = String, Path)), request_body = RecordCreate,
    responses((status = 201, body = ObjectRecord), (status = 404, body = ErrorBody)))]
pub async fn create_record(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(key): Path<String>,
    ApiJson(req): ApiJson<RecordCreate>,
) -> ApiResult<(StatusCode, Json<ObjectRecord>)> {
    Ok((StatusCode::CREATED, Json(app.store.create_record(actor.workspace_id, &key, req.data, &req.contact_ids).await?)))
}

#[utoipa::path(get, path = "/records/{id}", tag = "objects", params(("id" = RecordId, Path)), responses((status = 200, body = ObjectRecord), (status = 404, body = ErrorBody)))]
pub async fn get_record(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<ObjectRecord>> {
    Ok(Json(app.store.get_record(actor.workspace_id, parse_id(&id, "record")?).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecordUpdate {
    /// Replaces the record's data.
    #[schema(value_type = Object)]
    data: Map<String, Value>,
}

#[utoipa::path(patch, path = "/records/{id}", tag = "objects", params(("id" = RecordId, Path)), request_body = RecordUpdate,
    responses((status = 200, body = ObjectRecord), (status = 404, body = ErrorBody)))]
pub async fn update_record(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<RecordUpdate>,
) -> ApiResult<Json<ObjectRecord>> {
    Ok(Json(app.store.update_record(actor.workspace_id, parse_id(&id, "record")?, req.data).await?))
}

#[utoipa::path(delete, path = "/records/{id}", tag = "objects", params(("id" = RecordId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_record(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.store.delete_record(actor.workspace_id, parse_id(&id, "record")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(put, path = "/records/{id}/contacts/{contact_id}", tag = "objects", params(("id" = RecordId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 200, body = ObjectRecord), (status = 404, body = ErrorBody)))]
pub async fn associate(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, contact)): Path<(String, String)>,
) -> ApiResult<Json<ObjectRecord>> {
    Ok(Json(app.store.associate_record(actor.workspace_id, parse_id(&id, "record")?, parse_id(&contact, "contact")?).await?))
}

#[utoipa::path(delete, path = "/records/{id}/contacts/{contact_id}", tag = "objects", params(("id" = RecordId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 200, body = ObjectRecord), (status = 404, body = ErrorBody)))]
pub async fn dissociate(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, contact)): Path<(String, String)>,
) -> ApiResult<Json<ObjectRecord>> {
    Ok(Json(app.store.dissociate_record(actor.workspace_id, parse_id(&id, "record")?, parse_id(&contact, "contact")?).await?))
}
