//! Static contact lists. Their members are listed with `GET /contacts?list_id=...`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_core::{ContactId, ListId};
use tandem_store::lists::ContactList;

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/lists", tag = "lists", responses((status = 200, body = Items<ContactList>)))]
pub async fn list_lists(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<ContactList>>> {
    Ok(Json(app.store.list_lists(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ListCreate {
    name: String,
}

#[utoipa::path(post, path = "/lists", tag = "lists", request_body = ListCreate, responses((status = 201, body = ContactList), (status = 409, body = ErrorBody)))]
pub async fn create_list(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(req): ApiJson<ListCreate>,
) -> ApiResult<(StatusCode, Json<ContactList>)> {
    Ok((StatusCode::CREATED, Json(app.store.create_list(actor.workspace_id, &req.name).await?)))
}

#[utoipa::path(get, path = "/lists/{id}", tag = "lists", params(("id" = ListId, Path)), responses((status = 200, body = ContactList), (status = 404, body = ErrorBody)))]
pub async fn get_list(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<ContactList>> {
    Ok(Json(app.store.get_list(actor.workspace_id, parse_id(&id, "list")?).await?))
}

#[utoipa::path(delete, path = "/lists/{id}", tag = "lists", params(("id" = ListId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_list(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    app.store.delete_list(actor.workspace_id, parse_id(&id, "list")?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct MembersAdd {
    contact_ids: Vec<ContactId>,
}

/// Add contacts (all or none: an unknown contact adds nothing).
#[utoipa::path(post, path = "/lists/{id}/members", tag = "lists", params(("id" = ListId, Path)), request_body = MembersAdd,
    responses((status = 200, body = ContactList), (status = 404, body = ErrorBody)))]
pub async fn add_members(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<MembersAdd>,
) -> ApiResult<Json<ContactList>> {
    Ok(Json(app.store.add_list_members(actor.workspace_id, parse_id(&id, "list")?, &req.contact_ids).await?))
}

#[utoipa::path(delete, path = "/lists/{id}/members/{contact_id}", tag = "lists", params(("id" = ListId, Path), ("contact_id" = ContactId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_member(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, contact)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    app.store.remove_list_member(actor.workspace_id, parse_id(&id, "list")?, parse_id(&contact, "contact")?).await?;
    Ok(StatusCode::NO_CONTENT)
}
