//! `/webhooks/{provider}/{channel_id}`: where providers deliver. A POST is answered 200 only once
//! its events are stored; signatures are checked before the body is read for anything else; every
//! refusal has its status and code, none is a 500.

use axum::{
    body::{to_bytes, Body},
    extract::{OriginalUri, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use tandem_channels::{ChannelError, ChannelSettings, WebhookRequest};
use tandem_core::{ChannelId, ChannelKind};
use tandem_store::{
    messaging::{InboundBatch, NewInboundEvent, WebhookChannel},
    StoreError,
};

use crate::{error::ApiError, state::AppState};

/// The channel a webhook URL names, if the provider segment matches it.
async fn channel(app: &AppState, provider: &str, id: &str) -> Result<(WebhookChannel, ChannelSettings), ApiError> {
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_channel", format!("no {provider} channel `{id}`"));
    let id: ChannelId = id.parse().map_err(|_| unknown())?;
    let found = match app.store.webhook_channel(id).await {
        Ok(c) => c,
        Err(StoreError::NotFound(_)) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    let settings = ChannelSettings::parse(found.kind, &found.config).map_err(|e| {
        tracing::error!(channel = %id, error = %e, "a connected channel has unusable settings");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "channel_misconfigured",
            "this channel's settings are incomplete; an admin must fix them",
        )
    })?;
    if settings.webhook_provider() != provider || found.kind == ChannelKind::Widget {
        return Err(unknown());
    }
    Ok((found, settings))
}

fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str().to_ascii_lowercase(), v.to_string()))).collect()
}

/// The URL the provider called: the configured public URL, or the Host it called.
fn public_url(app: &AppState, headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    match &app.config.channels.public_url {
        Some(base) => format!("{}{path}", base.trim_end_matches('/')),
        None => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    }
}

fn refused(e: ChannelError, provider: &str, channel: &str) -> ApiError {
    match e {
        ChannelError::BadSignature(why) => {
            tracing::warn!(provider, channel, reason = %why, "webhook refused: bad signature");
            ApiError::unauthorized("invalid_signature", format!("the request is not signed by the provider: {why}"))
        }
        ChannelError::Malformed(why) => ApiError::bad_request("malformed_body", format!("the body is not a {provider} webhook: {why}")),
        ChannelError::NoHandshake => {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "no_handshake", format!("{provider} webhooks take no GET verification"))
        }
        ChannelError::Unsupported(why) => ApiError::bad_request("unsupported", why),
        ChannelError::InvalidSettings(why) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "channel_misconfigured", why),
    }
}

/// GET: the provider's subscription handshake (Meta's hub.challenge, WeChat's echostr).
pub async fn handshake(
    State(app): State<AppState>,
    Path((provider, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (_, settings) = channel(&app, &provider, &id).await?;
    let (query, headers_list) = (pairs(uri.query()), header_pairs(&headers));
    let url = public_url(&app, &headers, &uri);
    let req = WebhookRequest { url: &url, query: &query, headers: &headers_list, body: &[] };
    let answer = settings.handshake(&req).map_err(|e| match e {
        ChannelError::BadSignature(why) => {
            tracing::warn!(provider, channel = id, reason = %why, "webhook handshake refused");
            ApiError::forbidden(format!("verification failed: {why}"))
        }
        other => refused(other, &provider, &id),
    })?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], answer).into_response())
}

/// The content types each provider posts.
fn accepts(kind: ChannelKind, content_type: &str) -> bool {
    let ct = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match kind {
        ChannelKind::Sms => ct == "application/x-www-form-urlencoded",
        ChannelKind::Wechat => ct == "text/xml" || ct == "application/xml",
        _ => ct == "application/json",
    }
}

/// POST: verify, parse, store (deduplicated), then 200 with what the provider expects.
pub async fn receive(
    State(app): State<AppState>,
    Path((provider, id)): Path<(String, String)>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (found, settings) = channel(&app, &provider, &id).await?;
    let limit = app.config.channels.max_webhook_bytes;
    let body = to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("a webhook body holds at most {limit} bytes"))
    })?;
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !accepts(found.kind, content_type) {
        return Err(ApiError::bad_request("unsupported_content_type", format!("{provider} webhooks are not sent as `{content_type}`")));
    }
    let (query, headers_list) = (pairs(uri.query()), header_pairs(&headers));
    let url = public_url(&app, &headers, &uri);
    let req = WebhookRequest { url: &url, query: &query, headers: &headers_list, body: &body };
    settings.verify(&req).map_err(|e| refused(e, &provider, &id))?;
    let events = settings.parse_events(&req).map_err(|e| refused(e, &provider, &id))?;
    let new: Vec<NewInboundEvent> = events
        .iter()
        .map(|e| {
            let kind = match &e.kind {
                tandem_channels::InboundKind::Message { .. } => "message",
                tandem_channels::InboundKind::Status { .. } => "status",
                tandem_channels::InboundKind::TemplateStatus { .. } => "template_status",
                tandem_channels::InboundKind::Other { .. } => "other",
            };
            NewInboundEvent {
                provider_event_id: e.provider_event_id.clone(),
                kind: kind.into(),
                event: serde_json::to_value(e).unwrap_or(serde_json::Value::Null),
            }
        })
        .collect();
    let item = InboundBatch { workspace_id: found.workspace_id, channel_id: found.channel_id, events: new };
    let count = item.events.len();
    let stored = app.inbound.store(item).await.map_err(|why| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            format!("the webhook could not be stored, send it again: {why}"),
        )
    })?;
    ::metrics::counter!("tandem_webhook_events_total", "provider" => provider.clone()).increment(stored as u64);
    tracing::debug!(provider, channel = id, events = count, new = stored, "webhook stored");
    let ack = settings.ack();
    Ok(([(header::CONTENT_TYPE, ack.content_type)], ack.body).into_response())
}
