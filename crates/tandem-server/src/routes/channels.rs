//! Connected channels. Provider credentials are write-only: responses mask them.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use serde::Deserialize;
use serde_json::{Map, Value};
use tandem_core::{ChannelId, ChannelKind, Role};
use tandem_store::{
    channels::Channel,
    messaging::{NewTemplate, Template},
};

use super::Items;
use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
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
    tandem_channels::ChannelSettings::parse(req.kind, &req.config)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_channel_settings", e.to_string()))?;
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

/// The webhook URL to give the provider, and the channel's WhatsApp templates.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct WebhookInfo {
    /// Where the provider must deliver (Meta, Telegram, LINE, Viber, WeChat, Twilio settings).
    pub webhook_url: Option<String>,
}

#[utoipa::path(get, path = "/channels/{id}/webhook", tag = "channels", params(("id" = ChannelId, Path)), responses((status = 200, body = WebhookInfo), (status = 404, body = ErrorBody)))]
pub async fn webhook_info(
    State(app): State<AppState>,
    Auth(actor): Auth,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Json<WebhookInfo>> {
    let ch = app.store.get_channel(actor.workspace_id, parse_id(&id, "channel")?).await?;
    let provider = match ch.kind {
        ChannelKind::Widget => return Ok(Json(WebhookInfo { webhook_url: None })),
        ChannelKind::Sms => "twilio",
        other => other.as_str(),
    };
    let base = match &app.config.channels.public_url {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => {
            let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}")
        }
    };
    Ok(Json(WebhookInfo { webhook_url: Some(format!("{base}/webhooks/{provider}/{}", ch.id)) }))
}

#[utoipa::path(get, path = "/channels/{id}/templates", tag = "channels", params(("id" = ChannelId, Path)), responses((status = 200, body = Items<Template>), (status = 404, body = ErrorBody)))]
pub async fn list_templates(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Items<Template>>> {
    let channel = parse_id(&id, "channel")?;
    app.store.get_channel(actor.workspace_id, channel).await?;
    Ok(Json(app.store.list_templates(actor.workspace_id, channel).await?.into()))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TemplateCreate {
    /// Lower-case letters, digits and underscores, as registered with Meta.
    name: String,
    /// e.g. `en_US`, `fr`.
    language: String,
    /// `marketing`, `utility` or `authentication`.
    category: String,
    /// The body with `{{1}}`, `{{2}}`... for its variables.
    body: String,
}

/// Registers a WhatsApp template (admin only); it stays `pending` until Meta's status webhook
/// approves or rejects it.
#[utoipa::path(post, path = "/channels/{id}/templates", tag = "channels", params(("id" = ChannelId, Path)), request_body = TemplateCreate,
    responses((status = 201, body = Template), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(app): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<TemplateCreate>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    auth.require(Role::Admin)?;
    let channel = parse_id(&id, "channel")?;
    let ch = app.store.get_channel(auth.0.workspace_id, channel).await?;
    if ch.kind != ChannelKind::Whatsapp {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "templates_whatsapp_only",
            "only WhatsApp channels have message templates",
        ));
    }
    let new = NewTemplate { name: &req.name, language: &req.language, category: &req.category, body: &req.body };
    let template = app.store.upsert_template(auth.0.workspace_id, channel, new).await?;
    app.store.audit(&auth.0, "create", "template", Some(template.id.clone()), None).await?;
    Ok((StatusCode::CREATED, Json(template)))
}
