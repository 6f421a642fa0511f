//! Contacts: list with filters, sorts and saved views; create, read, update, delete; labels, notes,
//! associated records; CSV export.

use axum::{
    body::Body,
    extract::{Path, RawQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::{Actor, ContactFilter, ContactId, ContactSort, Role};
use tandem_store::{
    contact_activity::Activity,
    contacts::{Contact, ContactDraft, DraftRules},
    lists::ContactList,
    notes::Note,
    objects::ObjectRecord,
    Page, Paged,
};

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

/// Query parameters of the contact list and export (documentation; parsed by [`ContactQuery`]).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ContactListParams {
    /// Condition `field:op:value`, repeatable (all must hold). `op` is eq, ne, contains, gt, gte, lt,
    /// lte or exists; `field` a default field or a custom property key. Example: `plan:eq:Premium`.
    r#where: Option<Vec<String>>,
    /// Label name the contact must carry; repeatable.
    label: Option<Vec<String>>,
    /// Only members of this static list.
    list_id: Option<String>,
    /// Free text matched against name, e-mail, phone and company.
    q: Option<String>,
    /// Sort field, `-` prefix for descending (default `-created_at`).
    sort: Option<String>,
    /// A saved view id, or `default` for the caller's default view; other parameters refine it.
    view: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

/// A parsed contact query.
pub struct ContactQuery {
    pub filter: ContactFilter,
    pub sort: ContactSort,
    pub page: Page,
}

impl ContactQuery {
    pub async fn parse(app: &AppState, actor: &Actor, raw: Option<&str>) -> ApiResult<Self> {
        let mut filter = ContactFilter::default();
        let (mut sort, mut view, mut limit, mut offset) = (None, None, None, None);
        let number = |k: &str, v: &str| {
            v.parse::<i64>().map_err(|_| ApiError::bad_request("invalid_parameter", format!("`{k}` must be a whole number")))
        };
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            match k.as_ref() {
                "where" => filter.conditions.push(v.parse()?),
                "label" => filter.labels.push(v.into_owned()),
                "list_id" => filter.list_id = Some(v.into_owned()),
                "q" => filter.q = Some(v.into_owned()),
                "sort" => sort = Some(v.parse::<ContactSort>()?),
                "view" => view = Some(v.into_owned()),
                "limit" => limit = Some(number("limit", &v)?),
                "offset" => offset = Some(number("offset", &v)?),
                other => return Err(ApiError::bad_request("unknown_parameter", format!("unknown query parameter `{other}`"))),
            }
        }
        let ws = actor.workspace_id;
        let saved = match view.as_deref() {
            None => None,
            Some("default") => app.store.default_view(ws, actor.user_id()).await?,
            Some(id) => Some(app.store.get_view(ws, actor.user_id(), parse_id(id, "view")?).await?),
        };
        let (filter, sort) = match saved {
            Some(v) => (v.filter.merge(filter), sort.unwrap_or(v.sort)),
            None => (filter, sort.unwrap_or_default()),
        };
        Ok(Self { filter, sort, page: Page::new(limit, offset) })
    }
}

async fn rules_data(app: &AppState, actor: &Actor) -> ApiResult<(Vec<tandem_core::PropertyDefinition>, Option<String>)> {
    Ok(app.store.draft_rules_data(actor.workspace_id).await?)
}

#[utoipa::path(get, path = "/contacts", tag = "contacts", params(ContactListParams),
    responses((status = 200, body = Paged<Contact>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_contacts(State(app): State<AppState>, Auth(actor): Auth, RawQuery(raw): RawQuery) -> ApiResult<Json<Paged<Contact>>> {
    let q = ContactQuery::parse(&app, &actor, raw.as_deref()).await?;
    let page = app.store.list_contacts(actor.workspace_id, &q.filter, &q.sort, q.page).await?;
    app.store.audit(&actor, "list", "contact", None, raw).await?;
    Ok(Json(page))
}

/// Create a contact. Default fields at the top level, custom properties under `properties`.
#[utoipa::path(post, path = "/contacts", tag = "contacts", request_body(content = Object, description = "e.g. {\"first_name\": \"Ana\", \"phone\": \"+33612345678\", \"properties\": {\"plan\": \"Premium\"}}"),
    responses((status = 201, body = Contact), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_contact(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<(StatusCode, Json<Contact>)> {
    let (defs, country) = rules_data(&app, &actor).await?;
    let rules = DraftRules { definitions: &defs, default_country: country.as_deref() };
    let mut draft = ContactDraft::default();
    draft.apply_json(&body, &rules).map_err(ApiError::invalid)?;
    let missing = draft.missing_required(&rules);
    if !missing.is_empty() {
        return Err(ApiError::invalid(missing));
    }
    if draft.is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_contact", "a contact needs at least one field"));
    }
    let contact = app.store.create_contact(actor.workspace_id, draft).await?;
    app.store.audit(&actor, "create", "contact", Some(contact.id.to_string()), None).await?;
    Ok((StatusCode::CREATED, Json(contact)))
}

#[utoipa::path(get, path = "/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn get_contact(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Contact>> {
    let contact = app.store.get_contact(actor.workspace_id, parse_id(&id, "contact")?).await?;
    app.store.audit(&actor, "read", "contact", Some(id), None).await?;
    Ok(Json(contact))
}

/// Change some fields: absent fields are kept, `null` clears.
#[utoipa::path(patch, path = "/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), request_body = Object,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_contact(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> ApiResult<Json<Contact>> {
    let id: ContactId = parse_id(&id, "contact")?;
    let current = app.store.get_contact(actor.workspace_id, id).await?;
    let (defs, country) = rules_data(&app, &actor).await?;
    let rules = DraftRules { definitions: &defs, default_country: country.as_deref() };
    let mut draft = current.to_draft(&rules)?;
    draft.apply_json(&body, &rules).map_err(ApiError::invalid)?;
    let missing = draft.missing_required(&rules);
    if !missing.is_empty() {
        return Err(ApiError::invalid(missing));
    }
    let contact = app.store.save_contact(actor.workspace_id, id, draft).await?;
    app.store.audit(&actor, "update", "contact", Some(id.to_string()), None).await?;
    Ok(Json(contact))
}

/// Team Admin or Admin (GDPR erasure included: notes, labels, values and conversations go with it).
#[utoipa::path(delete, path = "/contacts/{id}", tag = "contacts", params(("id" = ContactId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_contact(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::TeamAdmin)?;
    app.store.delete_contact(auth.0.workspace_id, parse_id(&id, "contact")?).await?;
    app.store.audit(&auth.0, "delete", "contact", Some(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// CSV of every contact matching the same parameters as the list (no pagination), streamed.
#[utoipa::path(get, path = "/contacts/export.csv", tag = "contacts", params(ContactListParams),
    responses((status = 200, content_type = "text/csv", body = String), (status = 422, body = ErrorBody)))]
pub async fn export_contacts(State(app): State<AppState>, Auth(actor): Auth, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let q = ContactQuery::parse(&app, &actor, raw.as_deref()).await?;
    // Check the filter before answering 200: a bad filter must be an error, not a broken download.
    app.store.list_contacts(actor.workspace_id, &q.filter, &q.sort, Page::new(Some(1), None)).await?;
    app.store.audit(&actor, "export", "contact", None, raw).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let (err_tx, err_rx) = tokio::sync::oneshot::channel::<std::io::Error>();
    tokio::spawn(async move {
        if let Err(e) = app.store.export_contacts_csv(actor.workspace_id, &q.filter, &q.sort, tx).await {
            tracing::error!(error = %e, "contact export failed");
            let _ = err_tx.send(std::io::Error::other(e.to_string()));
        }
    });
    // A failure mid-way ends the body with an error, so the client sees a broken download.
    let stream = futures::stream::unfold((rx, Some(err_rx)), |(mut rx, err)| async move {
        match rx.recv().await {
            Some(chunk) => Some((Ok(chunk), (rx, err))),
            None => match err?.await {
                Ok(e) => Some((Err(e), (rx, None))),
                Err(_) => None,
            },
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"contacts.csv\"")],
        Body::from_stream(stream),
    )
        .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LabelsAdd {
    /// Label names; new names create labels.
    labels: Vec<String>,
}

#[utoipa::path(post, path = "/contacts/{id}/labels", tag = "contacts", params(("id" = ContactId, Path)), request_body = LabelsAdd,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn add_labels(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<LabelsAdd>,
) -> ApiResult<Json<Contact>> {
    let id = parse_id(&id, "contact")?;
    app.store.add_contact_labels(actor.workspace_id, id, &req.labels).await?;
    Ok(Json(app.store.get_contact(actor.workspace_id, id).await?))
}

#[utoipa::path(delete, path = "/contacts/{id}/labels/{name}", tag = "contacts", params(("id" = ContactId, Path), ("name" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
pub async fn remove_label(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, name)): Path<(String, String)>,
) -> ApiResult<Json<Contact>> {
    let id = parse_id(&id, "contact")?;
    app.store.remove_contact_label(actor.workspace_id, id, &name).await?;
    Ok(Json(app.store.get_contact(actor.workspace_id, id).await?))
}

#[utoipa::path(get, path = "/contacts/{id}/notes", tag = "contacts", params(("id" = ContactId, Path)), responses((status = 200, body = Items<Note>), (status = 404, body = ErrorBody)))]
pub async fn list_notes(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<Note>>> {
    Ok(Json(app.store.list_notes(actor.workspace_id, parse_id(&id, "contact")?).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct NoteCreate {
    pub(crate) body: String,
}

#[utoipa::path(post, path = "/contacts/{id}/notes", tag = "contacts", params(("id" = ContactId, Path)), request_body = NoteCreate,
    responses((status = 201, body = Note), (status = 404, body = ErrorBody)))]
pub async fn add_note(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteCreate>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let note = app.store.add_note(actor.workspace_id, parse_id(&id, "contact")?, &actor, &req.body).await?;
    Ok((StatusCode::CREATED, Json(note)))
}

/// The contact's history across conversations and tickets (started, resolved, notes, survey
/// answers), newest first, at most 100 entries; Staff see the entries of what they may see.
#[utoipa::path(get, path = "/contacts/{id}/activity", tag = "contacts", params(("id" = ContactId, Path)),
    responses((status = 200, body = Items<Activity>), (status = 404, body = ErrorBody)))]
pub async fn contact_activity(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<Activity>>> {
    let viewer = crate::routes::tickets::viewer(&app, &actor).await?;
    let contact = parse_id(&id, "contact")?;
    Ok(Json(app.store.contact_activity(actor.workspace_id, contact, &viewer.conversation_visibility()).await?.into()))
}

/// A file exchanged with the contact, as the contact panel lists it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SharedMediaItem {
    #[schema(value_type = String)]
    message_id: tandem_core::MessageId,
    #[schema(value_type = String)]
    conversation_id: tandem_core::ConversationId,
    /// `inbound` or `outbound`.
    direction: String,
    /// `image`, `video`, `audio`, `document` or `sticker`.
    kind: String,
    filename: Option<String>,
    caption: Option<String>,
    /// Where to open it: the message's media endpoint for the customer's files (once
    /// downloaded), the public link for ours; null while not downloaded yet.
    url: Option<String>,
    created_at: tandem_core::Timestamp,
}

/// Files the contact sent or was sent, newest first, at most 100.
#[utoipa::path(get, path = "/contacts/{id}/media", tag = "contacts", params(("id" = ContactId, Path)),
    responses((status = 200, body = Items<SharedMediaItem>), (status = 404, body = ErrorBody)))]
pub async fn contact_media(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<SharedMediaItem>>> {
    let viewer = crate::routes::tickets::viewer(&app, &actor).await?;
    let contact = parse_id(&id, "contact")?;
    let media = app.store.contact_media(actor.workspace_id, contact, &viewer.conversation_visibility()).await?;
    let items: Vec<SharedMediaItem> = media
        .into_iter()
        .map(|m| SharedMediaItem {
            url: if m.stored { Some(format!("/api/v1/messages/{}/media", m.message_id)) } else { m.link },
            message_id: m.message_id,
            conversation_id: m.conversation_id,
            direction: m.direction,
            kind: m.kind,
            filename: m.filename,
            caption: m.caption,
            created_at: m.created_at,
        })
        .collect();
    Ok(Json(items.into()))
}

/// The static lists the contact is in.
#[utoipa::path(get, path = "/contacts/{id}/lists", tag = "contacts", params(("id" = ContactId, Path)),
    responses((status = 200, body = Items<ContactList>), (status = 404, body = ErrorBody)))]
pub async fn contact_lists(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<ContactList>>> {
    Ok(Json(app.store.contact_lists(actor.workspace_id, parse_id(&id, "contact")?).await?.into()))
}

/// Custom object records associated with the contact.
#[utoipa::path(get, path = "/contacts/{id}/records", tag = "objects", params(("id" = ContactId, Path)),
    responses((status = 200, body = Items<ObjectRecord>), (status = 404, body = ErrorBody)))]
pub async fn contact_records(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<ObjectRecord>>> {
    Ok(Json(app.store.contact_records(actor.workspace_id, parse_id(&id, "contact")?).await?.into()))
}
