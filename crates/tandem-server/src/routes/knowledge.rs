//! Agents and their knowledge bases: upload sources (files or URLs), follow their ingestion (JSON
//! or a server-sent event stream), replace and delete them, and search what an agent knows.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Multipart, Path, State},
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
    Json,
};
use futures::Stream;
use serde::{Deserialize, Serialize};
use tandem_core::{AgentId, Role, SourceId};
use tandem_knowledge::accept;
use tandem_store::{
    knowledge::{Agent, KnowledgeSource, NewSource},
    StoreError,
};

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    state::AppState,
};

#[utoipa::path(get, path = "/agents", tag = "agents", responses((status = 200, body = Items<Agent>)))]
pub async fn list_agents(State(app): State<AppState>, Auth(actor): Auth) -> ApiResult<Json<Items<Agent>>> {
    Ok(Json(app.store.list_agents(actor.workspace_id).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AgentCreate {
    name: String,
}

/// Admin only.
#[utoipa::path(post, path = "/agents", tag = "agents", request_body = AgentCreate, responses((status = 201, body = Agent), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent(
    State(app): State<AppState>,
    auth: Auth,
    ApiJson(req): ApiJson<AgentCreate>,
) -> ApiResult<(StatusCode, Json<Agent>)> {
    auth.require(Role::Admin)?;
    let agent = app.store.create_agent(auth.0.workspace_id, &req.name).await?;
    app.store.audit(&auth.0, "create", "agent", Some(agent.id.to_string()), Some(agent.name.clone())).await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

#[utoipa::path(get, path = "/agents/{id}", tag = "agents", params(("id" = AgentId, Path)), responses((status = 200, body = Agent), (status = 404, body = ErrorBody)))]
pub async fn get_agent(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    Ok(Json(app.store.get_agent(actor.workspace_id, parse_id(&id, "agent")?).await?))
}

/// Admin only. Deletes the agent and its whole knowledge base.
#[utoipa::path(delete, path = "/agents/{id}", tag = "agents", params(("id" = AgentId, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(State(app): State<AppState>, auth: Auth, Path(id): Path<String>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let (ws, agent): (_, AgentId) = (auth.0.workspace_id, parse_id(&id, "agent")?);
    app.store.get_agent(ws, agent).await?;
    for source in app.store.hide_sources_of_agent(ws, agent).await? {
        app.knowledge.index.delete_source(&source.to_string(), None).map_err(knowledge_error)?;
        app.store.purge_source(source).await?;
    }
    app.knowledge.index.delete_source(&crate::knowledge::corrections_source(agent), None).map_err(knowledge_error)?;
    app.store.delete_agent(ws, agent).await?;
    app.store.audit(&auth.0, "delete", "agent", Some(id), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn knowledge_error(e: impl Into<crate::knowledge::KnowledgeFailure>) -> ApiError {
    e.into().into()
}

/// The multipart form of a source (documentation): a file, or a URL.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SourceForm {
    /// A PDF, Excel (xlsx, xls, ods), CSV, text, Markdown or HTML file; its type is read from its bytes.
    #[schema(format = Binary, value_type = String)]
    file: Option<Vec<u8>>,
    /// A web page, or a Google Docs / Google Sheets link (read through its export).
    url: Option<String>,
}

fn form_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_form", format!("the upload could not be read: {e}"))
}

/// Reads a source form and refuses, before anything is stored, what the knowledge base cannot take.
async fn read_source(mut form: Multipart) -> ApiResult<NewSource> {
    let (mut file, mut url) = (None, None);
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        match field.name().unwrap_or_default() {
            "file" => {
                let name = field.file_name().unwrap_or("upload").to_string();
                file = Some((name, field.bytes().await.map_err(form_error)?.to_vec()));
            }
            "url" => url = Some(field.text().await.map_err(form_error)?.trim().to_string()),
            other => return Err(ApiError::bad_request("invalid_form", format!("unknown form field `{other}`; send `file` or `url`"))),
        }
    }
    match (file, url) {
        (Some((name, bytes)), None) => {
            let kind =
                accept::detect(&bytes, &name).map_err(|r| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.to_string()))?;
            Ok(NewSource { name, kind: Some(kind.as_str().into()), url: None, bytes: Some(bytes) })
        }
        (None, Some(url)) => {
            let parsed = tandem_knowledge::fetch::prepare(&url)
                .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
            Ok(NewSource { name: url, kind: None, url: Some(parsed.to_string()), bytes: None })
        }
        (Some(_), Some(_)) => Err(ApiError::bad_request("invalid_form", "send either `file` or `url`, not both")),
        (None, None) => Err(ApiError::bad_request("missing_source", "send the file in a form field named `file`, or a link in `url`")),
    }
}

/// Adds or replaces a source, checking the knowledge base's limits in the same transaction.
async fn save_source(app: &AppState, auth: &Auth, agent: AgentId, replace: Option<SourceId>, new: NewSource) -> ApiResult<KnowledgeSource> {
    let size = new.bytes.as_ref().map_or(0, |b| b.len() as u64);
    let limits = app.knowledge.limits;
    let refused = std::sync::Mutex::new(None);
    let saved = app
        .store
        .add_source(auth.0.workspace_id, agent, replace, new, |others| {
            accept::check_limits(others, size, &limits).map_err(|r| {
                let e = StoreError::invalid("file", r.code(), r.to_string());
                *refused.lock().expect("not poisoned") = Some(r);
                e
            })
        })
        .await;
    match saved {
        Ok(source) => {
            app.store
                .audit(
                    &auth.0,
                    if replace.is_some() { "replace" } else { "create" },
                    "knowledge_source",
                    Some(source.id.to_string()),
                    Some(source.name.clone()),
                )
                .await?;
            Ok(source)
        }
        Err(e) => match refused.into_inner().expect("not poisoned") {
            Some(r @ accept::Refusal::TooLarge { .. }) => Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, r.code(), r.to_string())),
            Some(r) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.to_string())),
            None => Err(e.into()),
        },
    }
}

#[utoipa::path(get, path = "/agents/{id}/knowledge/sources", tag = "knowledge", params(("id" = AgentId, Path)), responses((status = 200, body = Items<KnowledgeSource>), (status = 404, body = ErrorBody)))]
pub async fn list_sources(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<Items<KnowledgeSource>>> {
    let agent = parse_id(&id, "agent")?;
    app.store.get_agent(actor.workspace_id, agent).await?;
    Ok(Json(app.store.list_sources(actor.workspace_id, agent).await?.into()))
}

/// Admin only. Adds a file or a URL; ingestion runs as a job (202) — follow it on the source
/// (`stage`, `progress`) or its `events` stream.
#[utoipa::path(post, path = "/agents/{id}/knowledge/sources", tag = "knowledge", params(("id" = AgentId, Path)),
    request_body(content = SourceForm, content_type = "multipart/form-data"),
    responses((status = 202, body = KnowledgeSource), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_source(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<KnowledgeSource>)> {
    auth.require(Role::Admin)?;
    let agent = parse_id(&id, "agent")?;
    let new = read_source(form).await?;
    Ok((StatusCode::ACCEPTED, Json(save_source(&app, &auth, agent, None, new).await?)))
}

#[utoipa::path(get, path = "/agents/{id}/knowledge/sources/{source}", tag = "knowledge", params(("id" = AgentId, Path), ("source" = SourceId, Path)),
    responses((status = 200, body = KnowledgeSource), (status = 404, body = ErrorBody)))]
pub async fn get_source(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, source)): Path<(String, String)>,
) -> ApiResult<Json<KnowledgeSource>> {
    Ok(Json(app.store.get_source(actor.workspace_id, parse_id(&id, "agent")?, parse_id(&source, "source")?).await?))
}

/// Admin only. Uploads a new version: searches keep seeing the old one until the new one is
/// fully indexed, then only the new one.
#[utoipa::path(put, path = "/agents/{id}/knowledge/sources/{source}", tag = "knowledge", params(("id" = AgentId, Path), ("source" = SourceId, Path)),
    request_body(content = SourceForm, content_type = "multipart/form-data"),
    responses((status = 202, body = KnowledgeSource), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn replace_source(
    State(app): State<AppState>,
    auth: Auth,
    Path((id, source)): Path<(String, String)>,
    form: Multipart,
) -> ApiResult<(StatusCode, Json<KnowledgeSource>)> {
    auth.require(Role::Admin)?;
    let (agent, source) = (parse_id(&id, "agent")?, parse_id(&source, "source")?);
    let new = read_source(form).await?;
    Ok((StatusCode::ACCEPTED, Json(save_source(&app, &auth, agent, Some(source), new).await?)))
}

/// Admin only. The source disappears from searches at once; its vectors are deleted.
#[utoipa::path(delete, path = "/agents/{id}/knowledge/sources/{source}", tag = "knowledge", params(("id" = AgentId, Path), ("source" = SourceId, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_source(State(app): State<AppState>, auth: Auth, Path((id, source)): Path<(String, String)>) -> ApiResult<StatusCode> {
    auth.require(Role::Admin)?;
    let (agent, source): (AgentId, SourceId) = (parse_id(&id, "agent")?, parse_id(&source, "source")?);
    app.store.hide_source(auth.0.workspace_id, agent, source).await?;
    app.knowledge.index.delete_source(&source.to_string(), None).map_err(knowledge_error)?;
    app.store.purge_source(source).await?;
    app.store.audit(&auth.0, "delete", "knowledge_source", Some(source.to_string()), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Server-sent events: a `progress` event (the source as JSON) at every change of stage or
/// percentage, ending after `done` or `failed`.
#[utoipa::path(get, path = "/agents/{id}/knowledge/sources/{source}/events", tag = "knowledge", params(("id" = AgentId, Path), ("source" = SourceId, Path)),
    responses((status = 200, description = "text/event-stream of `progress` events", content_type = "text/event-stream"), (status = 404, body = ErrorBody)))]
pub async fn source_events(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path((id, source)): Path<(String, String)>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let (ws, agent, source): (_, AgentId, SourceId) = (actor.workspace_id, parse_id(&id, "agent")?, parse_id(&source, "source")?);
    let first = app.store.get_source(ws, agent, source).await?;
    let store = app.store.clone();
    let stream = futures::stream::unfold((Some(first), None::<(String, i64, i64)>), move |(next, last)| {
        let store = store.clone();
        async move {
            let mut current = next?;
            loop {
                let key = (current.stage.as_str().to_string(), current.progress, current.version);
                if last.as_ref() != Some(&key) {
                    let event =
                        Event::default().event("progress").json_data(&current).unwrap_or_else(|_| Event::default().event("progress"));
                    let more = if current.stage.is_final() { None } else { Some(current) };
                    return Some((Ok(event), (more, Some(key))));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                current = store.get_source(ws, agent, source).await.ok()?;
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    query: String,
    /// 1 to 50, default 5.
    limit: Option<usize>,
}

/// A retrieved chunk with where it comes from.
#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchHit {
    pub source_id: String,
    pub source_name: String,
    /// Page (`p. 3`), sheet rows (`Lamps, rows 2-14`) or section heading path.
    pub location: Option<String>,
    pub chunk: usize,
    /// Reciprocal-rank-fusion score; higher is better, comparable within one search.
    pub score: f32,
    /// Cosine similarity of the query and the chunk by meaning, when the chunk was among the
    /// nearest by meaning: how close the knowledge is to the question, comparable across
    /// searches (what an agent's `handoff.min_similarity` is compared with).
    pub similarity: Option<f32>,
    pub text: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SearchResults {
    pub results: Vec<SearchHit>,
}

/// Hybrid search (dense embeddings + lexical terms, fused by reciprocal rank) over the agent's
/// indexed sources.
#[utoipa::path(post, path = "/agents/{id}/knowledge/search", tag = "knowledge", params(("id" = AgentId, Path)), request_body = SearchRequest,
    responses((status = 200, body = SearchResults), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn search(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<SearchRequest>,
) -> ApiResult<Json<SearchResults>> {
    let agent = parse_id(&id, "agent")?;
    app.store.get_agent(actor.workspace_id, agent).await?;
    let query = req.query.trim();
    if query.is_empty() || query.chars().count() > 2000 {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_query", "the query must have 1 to 2,000 characters"));
    }
    let limit = req.limit.unwrap_or(5);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_limit", "limit must be between 1 and 50"));
    }
    let hits = app.knowledge.search(&app.store, actor.workspace_id, agent, query, limit).await.map_err(ApiError::from)?;
    let results = hits
        .into_iter()
        .map(|h| SearchHit {
            source_id: h.record.source_id,
            source_name: h.record.source_name,
            location: h.record.location,
            chunk: h.record.chunk,
            score: h.score,
            similarity: h.similarity,
            text: h.record.text,
        })
        .collect();
    Ok(Json(SearchResults { results }))
}
