//! Custom contact property definitions.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::{PropertyKind, Role};
use tandem_store::properties::Property;

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::ApiJson,
    state::AppState,
};

#[utoipa::path(get, path = "/contact-properties", tag = "contacts", responses((status = 200, body = Items<Property>)))]
pub async fn list_properties(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<Property>>> {
    Ok(Json(app.store.list_properties(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PropertyCreate {
    /// Lower-case letters, digits and `_`.
    key: String,
    #[serde(default)]
    label: String,
    kind: PropertyKind,
    /// Allowed values of a select property.
    #[serde(default)]
    options: Vec<String>,
    #[serde(default)]
    required: bool,
}

/// Admin only.
#[utoipa::path(post, path = "/contact-properties", tag = "contacts", request_body = PropertyCreate,
    responses((status = 201, body = Property), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_property(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<PropertyCreate>,
) -> ApiResult<(StatusCode, Json<Property>)> {
    auth.require(Role::Admin)?;
    let p = app.store.create_property(auth.0.workspace_id, &req.key, &req.label, req.kind, req.options, req.required).await?;
    Ok((StatusCode::CREATED, Json(p)))
}

/// Admin only: deletes the definition and every value of it.
#[utoipa::path(delete, path = "/contact-properties/{key}", tag = "contacts", params(("key" = String, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_property(State(app): State<AppState>, auth: Auth, Path(key): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    app.store.delete_property(auth.0.workspace_id, &key).await?;
    app.store.audit(&auth.0, "delete", "contact_property", Some(key), None).await?;
    Ok(StatusCode::NO_CONTENT)
}
