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
    Paged,
};

use super::PageQuery;
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
    Ok(Json(app.store.update_conversation(actor.workspace_id, conv.id, req.status, req.assignee_user_id, req.team_id).await?))
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
    /// An https URL the provider can reach.
    url: String,
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
    ApiJson(req): ApiJson<MessageCreate>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let ws = actor.workspace_id;
    let conv = visible_conversation(&app, &actor, &id).await?;
    let conversation = conv.id;
    let (body, content) = match (req.body, req.template, req.media) {
        (None, None, Some(m)) => {
            if !m.url.starts_with("https://") && !m.url.starts_with("http://") {
                return Err(tandem_core::ValidationError::new(
                    "media.url",
                    "invalid_url",
                    "a media URL is an http(s) URL the provider can fetch",
                )
                .into());
            }
            let body = match (&m.caption, &m.filename) {
                (Some(c), _) => format!("[{}] {c}", m.kind.as_str()),
                (None, Some(f)) => format!("[{}] {f}", m.kind.as_str()),
                (None, None) => format!("[{}]", m.kind.as_str()),
            };
            let content = tandem_channels::OutboundContent::Media { kind: m.kind, url: m.url, caption: m.caption, filename: m.filename };
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
    let disposition = format!("inline; filename=\"{}\"", filename.replace(['"', '\\', '\r', '\n'], "_"));
    Ok(([(axum::http::header::CONTENT_TYPE, mime), (axum::http::header::CONTENT_DISPOSITION, disposition)], bytes).into_response())
}
