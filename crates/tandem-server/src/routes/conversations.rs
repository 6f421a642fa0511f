//! Conversations and their messages. An outbound message is checked against the channel's window,
//! then queued together with the job that sends it through the provider.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use tandem_channels::window::Author;
use tandem_core::{Actor, ChannelId, ContactId, ConversationId, ConversationStatus, MessageId, Role, TeamId, UserId};
use tandem_store::{
    conversations::{Conversation, ConversationQuery, Message},
    messaging::NewOutbound,
    notes::Note,
    Paged,
};

use super::{contacts::NoteCreate, Items, PageQuery};
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::{parse_id, ApiJson},
    messaging::AdmitError,
    routes::access::double_option,
    routes::tickets::{check_assign, viewer},
    state::AppState,
};

/// A conversation the caller may see, else 404: Staff see their teams' conversations and those
/// assigned to them; Team Admin, Admin and API keys see all (see `Viewer::conversation_visibility`).
pub(crate) async fn visible_conversation(app: &AppState, actor: &Actor, id: &str) -> ApiResult<Conversation> {
    let conv = app.store.get_conversation(actor.workspace_id, parse_id(id, "conversation")?).await?;
    if actor.role != Role::Staff
        || actor.user_id().is_none()
        || viewer(app, actor).await?.sees_conversation(conv.assignee_user_id, conv.team_id)
    {
        Ok(conv)
    } else {
        Err(ApiError::not_found("conversation"))
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConversationFilter {
    status: Option<ConversationStatus>,
    channel_id: Option<String>,
    contact_id: Option<String>,
    assignee_user_id: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
}

#[utoipa::path(get, path = "/conversations", tag = "conversations", params(ConversationFilter),
    responses((status = 200, body = Paged<Conversation>)))]
pub async fn list_conversations(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Query(f): Query<ConversationFilter>,
) -> ApiResult<Json<Paged<Conversation>>> {
    let q = ConversationQuery {
        status: f.status,
        channel_id: f.channel_id.as_deref().map(|c| parse_id(c, "channel")).transpose()?,
        contact_id: f.contact_id.as_deref().map(|c| parse_id(c, "contact")).transpose()?,
        assignee_user_id: f.assignee_user_id.as_deref().map(|u| parse_id(u, "user")).transpose()?,
        visibility: viewer(&app, &actor).await?.conversation_visibility(),
    };
    Ok(Json(app.store.list_conversations(actor.workspace_id, &q, tandem_store::Page::new(f.limit, f.offset)).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConversationCreate {
    channel_id: ChannelId,
    contact_id: ContactId,
}

#[utoipa::path(post, path = "/conversations", tag = "conversations", request_body = ConversationCreate,
    responses((status = 201, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn create_conversation(
    State(app): State<AppState>,
    Auth(actor): Auth,
    ApiJson(req): ApiJson<ConversationCreate>,
) -> ApiResult<(StatusCode, Json<Conversation>)> {
    Ok((StatusCode::CREATED, Json(app.store.create_conversation(actor.workspace_id, req.channel_id, req.contact_id).await?)))
}

#[utoipa::path(get, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Conversation>> {
    Ok(Json(visible_conversation(&app, &actor, &id).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ConversationUpdate {
    status: Option<ConversationStatus>,
    /// `null` unassigns.
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<UserId>)]
    assignee_user_id: Option<Option<UserId>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<TeamId>)]
    team_id: Option<Option<TeamId>>,
    /// With `status: snoozed`: when it opens again (within 365 days); without, it sleeps until
    /// the customer writes.
    #[serde(default)]
    snoozed_until: Option<tandem_core::Timestamp>,
}

#[utoipa::path(patch, path = "/conversations/{id}", tag = "conversations", params(("id" = ConversationId, Path)), request_body = ConversationUpdate,
    responses((status = 200, body = Conversation), (status = 404, body = ErrorBody)))]
pub async fn update_conversation(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<ConversationUpdate>,
) -> ApiResult<Json<Conversation>> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    if req.assignee_user_id.is_some() || req.team_id.is_some() {
        // The same rules as `POST /conversations/{id}/assign`: Staff take work only for themselves.
        let viewer = viewer(&app, &actor).await?;
        let team = req.team_id.flatten().filter(|t| Some(*t) != conv.team_id);
        check_assign(&app, &actor, &viewer, req.assignee_user_id.flatten(), team).await?;
        if actor.role == Role::Staff && req.assignee_user_id == Some(None) && conv.assignee_user_id != actor.user_id() {
            return Err(ApiError::forbidden("Staff can only give back conversations assigned to them"));
        }
    }
    let snooze = req.status == Some(ConversationStatus::Snoozed);
    if req.snoozed_until.is_some() && !snooze {
        return Err(
            tandem_core::ValidationError::new("snoozed_until", "invalid_snooze", "`snoozed_until` goes with `status: snoozed`").into()
        );
    }
    let ws = actor.workspace_id;
    let status = if snooze { None } else { req.status };
    let mut updated = conv;
    if status.is_some() || req.assignee_user_id.is_some() || req.team_id.is_some() || !snooze {
        updated = app.store.update_conversation(ws, updated.id, status, req.assignee_user_id, req.team_id).await?;
    }
    if snooze {
        updated = app.store.snooze_conversation(ws, updated.id, req.snoozed_until).await?;
    }
    Ok(Json(updated))
}

#[utoipa::path(get, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path), PageQuery),
    responses((status = 200, body = Paged<Message>), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Paged<Message>>> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    Ok(Json(app.store.list_messages(actor.workspace_id, conv.id, page.page()).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageCreate {
    /// Free-form text.
    #[serde(default)]
    body: Option<String>,
    /// A WhatsApp template instead of text (required outside the 24-hour window).
    #[serde(default)]
    template: Option<TemplateSend>,
    /// A file the provider fetches from a public URL, with an optional caption.
    #[serde(default)]
    media: Option<MediaSend>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaSend {
    /// `image`, `video`, `audio` or `document`.
    #[schema(value_type = String)]
    kind: tandem_channels::MediaKind,
    /// An https URL the provider can reach; or give `upload_id` instead.
    #[serde(default)]
    url: Option<String>,
    /// A file attached to this conversation (`POST /conversations/{id}/attachments`): the
    /// provider fetches it from its public link.
    #[serde(default)]
    upload_id: Option<String>,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateSend {
    name: String,
    language: String,
    /// Values for `{{1}}`, `{{2}}`... in order.
    #[serde(default)]
    variables: Vec<String>,
}

/// Queue an outbound message from the calling user. Refused (422) when the channel's window has
/// closed: `template_required` on WhatsApp, `window_closed` elsewhere.
#[utoipa::path(post, path = "/conversations/{id}/messages", tag = "conversations", params(("id" = ConversationId, Path)), request_body = MessageCreate,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn send_message(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<MessageCreate>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let ws = actor.workspace_id;
    let conv = visible_conversation(&app, &actor, &id).await?;
    let conversation = conv.id;
    let (body, content) = match (req.body, req.template, req.media) {
        (None, None, Some(m)) => {
            let url = match (m.url, m.upload_id.as_deref()) {
                (Some(url), None) => url,
                (None, Some(upload)) => {
                    let file = app.store.get_attachment(ws, conversation, upload).await?;
                    format!("{}/media/{}", public_base(&app, &headers), file.token)
                }
                _ => return Err(ApiError::bad_request("invalid_media", "give the media's `url` or its `upload_id`, not both")),
            };
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(tandem_core::ValidationError::new(
                    "media.url",
                    "invalid_url",
                    "a media URL is an http(s) URL the provider can fetch",
                )
                .into());
            }
            let m = MediaSend { url: Some(url), ..m };
            let body = match (&m.caption, &m.filename) {
                (Some(c), _) => format!("[{}] {c}", m.kind.as_str()),
                (None, Some(f)) => format!("[{}] {f}", m.kind.as_str()),
                (None, None) => format!("[{}]", m.kind.as_str()),
            };
            let url = m.url.unwrap_or_default();
            let content = tandem_channels::OutboundContent::Media { kind: m.kind, url, caption: m.caption, filename: m.filename };
            (body, Some(serde_json::to_value(content).map_err(|e| ApiError::bad_request("invalid_media", e.to_string()))?))
        }
        (Some(body), None, None) => {
            if body.trim().is_empty() {
                return Err(tandem_core::ValidationError::new("body", "empty_message", "a message needs text").into());
            }
            (body, None)
        }
        (None, Some(t), None) => {
            let template = app.store.get_template(ws, conv.channel_id, &t.name, &t.language).await?.ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_template",
                    format!("no template `{}` in `{}` on this channel", t.name, t.language),
                )
            })?;
            if template.status != "approved" {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "template_not_approved",
                    format!("template `{}` is {}, not approved", t.name, template.status),
                ));
            }
            if t.variables.len() as i64 != template.variables {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "template_variables",
                    format!("template `{}` takes {} variable(s), {} given", t.name, template.variables, t.variables.len()),
                ));
            }
            let mut body = template.body.clone();
            for (i, v) in t.variables.iter().enumerate() {
                body = body.replace(&format!("{{{{{}}}}}", i + 1), v);
            }
            let content = serde_json::to_value(tandem_channels::OutboundContent::Template {
                name: t.name,
                language: t.language,
                variables: t.variables,
            })
            .map_err(|e| ApiError::bad_request("invalid_template", e.to_string()))?;
            (body, Some(content))
        }
        _ => return Err(ApiError::bad_request("invalid_message", "send one of `body`, `template` or `media`")),
    };
    let is_template = content.as_ref().is_some_and(|c| c["type"] == "template");
    crate::messaging::admit(&app.store, ws, conversation, Author::Human, is_template).await.map_err(|e| match e {
        AdmitError::Store(e) => e.into(),
        AdmitError::Window(r) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, crate::messaging::refusal_code(&r), r.to_string()),
        AdmitError::Settings(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_misconfigured", m),
    })?;
    let author = actor.user_id().map(|u| u.to_string()).unwrap_or_else(|| actor.label());
    let max_attempts = app.config.channels.send_max_attempts;
    let msg = app
        .store
        .queue_outbound(ws, conversation, NewOutbound { body: &body, content: content.as_ref(), author: &author, max_attempts })
        .await?;
    Ok((StatusCode::CREATED, Json(msg)))
}

/// Where providers reach this server: the configured public URL, else the Host the caller used.
fn public_base(app: &AppState, headers: &axum::http::HeaderMap) -> String {
    match &app.config.channels.public_url {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => {
            let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct AttachmentQuery {
    /// The file's name as the customer will see it.
    filename: String,
}

/// What an attachment is, for the channel: by its MIME type.
fn media_kind(mime: &str) -> tandem_channels::MediaKind {
    use tandem_channels::MediaKind;
    match mime.split('/').next() {
        Some("image") => MediaKind::Image,
        Some("video") => MediaKind::Video,
        Some("audio") => MediaKind::Audio,
        _ => MediaKind::Document,
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AttachmentCreated {
    #[serde(flatten)]
    attachment: tandem_store::attachments::Attachment,
    /// `image`, `video`, `audio` or `document`: what to send it as.
    kind: String,
}

/// Attach a file to the conversation (the request body is the file, with its `Content-Type`),
/// then send it with `POST /conversations/{id}/messages` and `media.upload_id`. Refused with 413
/// `too_large` above the channels' media limit.
#[utoipa::path(post, path = "/conversations/{id}/attachments", tag = "conversations", params(("id" = ConversationId, Path), AttachmentQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = AttachmentCreated), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_attachment(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    Query(q): Query<AttachmentQuery>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<AttachmentCreated>)> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    let limit = app.config.channels.max_media_bytes;
    if body.len() > limit {
        return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", format!("an attachment is at most {limit} bytes")));
    }
    let mime = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .filter(|v| v.contains('/') && !v.is_empty())
        .unwrap_or_else(|| "application/octet-stream".into());
    let attachment = app.store.save_attachment(actor.workspace_id, conv.id, &actor, &q.filename, &mime, body.to_vec()).await?;
    let kind = media_kind(&attachment.mime_type).as_str().to_string();
    Ok((StatusCode::CREATED, Json(AttachmentCreated { attachment, kind })))
}

/// An attachment's public link, fetched by the provider (no credentials: the token is one).
pub async fn public_media(State(app): State<AppState>, Path(token): Path<String>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let file = app.store.public_attachment(&token, tandem_core::Timestamp::now()).await?;
    let mut headers = file_headers(file.mime_type, &file.filename);
    headers.insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("private, max-age=3600"));
    Ok((headers, file.bytes).into_response())
}

/// Headers of a file someone sent (a customer, a teammate): served from our origin, so it must
/// never run there. Its type is taken as stated (`nosniff`), and a sandboxing policy with no
/// sources keeps an HTML or SVG file from running scripts with the inbox's session.
fn file_headers(mime: String, filename: &str) -> axum::http::HeaderMap {
    use axum::http::{header, HeaderValue};
    let mut h = axum::http::HeaderMap::new();
    let disposition =
        format!("inline; filename=\"{}\"", filename.replace(|c: char| c == '"' || c == '\\' || c.is_control() || !c.is_ascii(), "_"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&mime).unwrap_or(HeaderValue::from_static("application/octet-stream")));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; sandbox"));
    h
}

/// The internal notes written in the conversation, oldest first (the thread's order). Never sent
/// to the customer.
#[utoipa::path(get, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Items<Note>), (status = 404, body = ErrorBody)))]
pub async fn list_notes(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<Note>>> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    Ok(Json(app.store.list_conversation_notes(actor.workspace_id, conv.id).await?.into()))
}

/// An internal note in the conversation, for the team only: stored on the conversation's contact
/// too, announced to live inbox views (`note.created`), never sent through the channel.
#[utoipa::path(post, path = "/conversations/{id}/notes", tag = "conversations", params(("id" = ConversationId, Path)), request_body = NoteCreate,
    responses((status = 201, body = Note), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<NoteCreate>,
) -> ApiResult<(StatusCode, Json<Note>)> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    Ok((StatusCode::CREATED, Json(app.store.add_conversation_note(actor.workspace_id, conv.id, &actor, &req.body).await?)))
}

/// Where the conversation's window stands: whether free-form messages may go, until when, and
/// whether a template is required.
#[utoipa::path(get, path = "/conversations/{id}/window", tag = "conversations", params(("id" = ConversationId, Path)),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody)))]
pub async fn get_window(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<serde_json::Value>> {
    let conv = visible_conversation(&app, &actor, &id).await?;
    let channel = app.store.get_channel(actor.workspace_id, conv.channel_id).await?;
    let settings = tandem_channels::ChannelSettings::parse(channel.kind, &channel.config)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "channel_misconfigured", e.to_string()))?;
    let state = crate::messaging::window_of(&settings, &conv);
    Ok(Json(serde_json::json!({"channel": channel.kind, "last_inbound_at": conv.last_inbound_at, "window": state})))
}

/// The file of a customer's media message, as Tandem keeps it (404 until it has been downloaded,
/// or when the provider no longer had it).
#[utoipa::path(get, path = "/messages/{id}/media", tag = "conversations", params(("id" = MessageId, Path)),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody)))]
pub async fn get_media(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let message = app.store.get_message(actor.workspace_id, parse_id(&id, "message")?).await?;
    visible_conversation(&app, &actor, &message.conversation_id.to_string()).await.map_err(|_| ApiError::not_found("message"))?;
    let stored = message.content.as_ref().and_then(|c| c.get("stored")).ok_or_else(|| ApiError::not_found("media"))?;
    let upload = stored["upload_id"].as_str().ok_or_else(|| ApiError::not_found("media"))?;
    let (filename, bytes) = app.store.load_upload(actor.workspace_id, upload).await?;
    let mime = stored["mime_type"].as_str().unwrap_or("application/octet-stream").to_string();
    Ok((file_headers(mime, &filename), bytes).into_response())
}
