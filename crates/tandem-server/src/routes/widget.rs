//! The website chat widget: `/widget/{channel_id}/widget.js` (the script a business pastes into
//! its pages) and `/widget/{channel_id}/ws` (the visitor's websocket).
//!
//! The snippet is `<script src="https://TANDEM/widget/{channel_id}/widget.js" async></script>`;
//! the script finds Tandem's address and the channel in its own `src`, so the same file serves
//! every channel and can be cached.
//!
//! # Protocol
//!
//! JSON text frames. The socket is refused with 403 before the upgrade when the page's `Origin`
//! is not one of the channel's `allowed_origins` (an empty list allows any).
//!
//! Client → server:
//! - `{"type":"hello","visitor":TOKEN}` first, with the token the browser kept (in
//!   `localStorage`, per channel) or `null`. The token travels in a frame rather than in the URL
//!   so that it never shows up in access logs or proxies. Nothing else is accepted before it, and
//!   a socket that sends none within 10 s is closed.
//! - `{"type":"message","client_id":UUID,"text":"..."}`: the visitor writes (1 to 4,000
//!   characters). `client_id` is chosen by the browser and kept until the message comes back, so
//!   a message resent after a reconnect is stored once.
//!
//! Server → client:
//! - `{"type":"hello","visitor":TOKEN,"title","greeting","messages":[...]}` answers the client's
//!   hello: the token to keep (a new one when the client had none, or one this channel does not
//!   know), the channel's title and greeting, and the visitor's current conversation, oldest
//!   first, as `message` frames without their `type`. A new token is stored with the visitor's
//!   first message: a page view whose visitor never writes costs no row.
//! - `{"type":"ack","client_id"}`: the message is stored durably; it is not lost if the socket
//!   drops now.
//! - `{"type":"message","id","direction","body","created_at","client_id"?}` for each new message of
//!   the visitor's conversation: their own once the inbox has it (`direction` `inbound`, with the
//!   `client_id` it was sent with), and replies (`outbound`), whoever wrote them.
//! - `{"type":"error","code","message","client_id"?}` for a frame that cannot be taken
//!   (`bad_frame`, `hello_required`, `invalid_client_id`, `empty_message`, `too_long`,
//!   `rate_limited`, `unavailable`), with the message's `client_id` when it names one; the socket
//!   stays open. After `rate_limited` or `unavailable` the message may be sent again.
//!
//! # Where messages go
//!
//! A visitor's message takes the same durable path as a provider's webhook: it is stored as an
//! inbound event (deduplicated by `widget:{client_id}`) with its `channel.inbound` job, which
//! makes the contact (known by the visitor id, its address on the channel), the conversation, the
//! message and, when the channel has an agent (`PUT /api/v1/channels/{id}/agent`), the agent's
//! turn. Replies, the agent's included, are queued like any outbound message; the `channel.send`
//! job marks widget messages sent, since Tandem delivers them itself: each socket polls the store
//! for its visitor's new messages every 300 ms, which works whichever replica wrote them.

use axum::{
    extract::{
        ws::{rejection::WebSocketUpgradeRejection, CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade},
        Path, State,
    },
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{json, Value};
use std::{
    collections::HashMap,
    sync::OnceLock,
    time::{Duration, Instant},
};
use tandem_channels::{providers::widget, ChannelSettings, Content, InboundEvent, InboundKind, Sender};
use tandem_core::{ChannelId, ChannelKind, MessageDirection, MessageId, Timestamp, WorkspaceId};
use tandem_store::{conversations::Message, messaging::NewInboundEvent, widget::NewVisitor, Store, StoreError};

use crate::{error::ApiError, state::AppState};

/// The script, compiled into the binary so that every replica serves the same one.
const SCRIPT: &str = include_str!("../../assets/widget.js");
/// The longest message a visitor may send, in characters.
const MAX_TEXT_CHARS: usize = 4_000;
/// The largest frame read: a 4,000-character message fits with room for JSON escapes; anything
/// larger is not a widget's and ends the socket.
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How often a socket asks the store for its visitor's new messages.
const POLL_EVERY: Duration = Duration::from_millis(300);
/// How far back each poll looks again (see [`Store::widget_messages_since`]).
const LOOKBACK_MS: i64 = 10_000;
/// Messages in the hello frame.
const HISTORY: i64 = 200;
const HELLO_WITHIN: Duration = Duration::from_secs(10);
/// Proxies close sockets that stay silent (nginx after 60 s by default).
const PING_EVERY: Duration = Duration::from_secs(25);
/// Consecutive failed polls (about 6 s) after which the socket is closed so the browser
/// reconnects, perhaps to a healthier replica.
const MAX_POLL_FAILURES: u32 = 20;
/// A visitor may send a burst of this many messages, then one every [`REFILL_EVERY`].
const BURST: f64 = 10.0;
const REFILL_EVERY: Duration = Duration::from_secs(2);

/// The widget channel a URL names. Any other kind of channel is unknown here.
async fn widget_channel(app: &AppState, id: &str) -> Result<(WorkspaceId, ChannelId, widget::Settings), ApiError> {
    let unknown = || ApiError::new(StatusCode::NOT_FOUND, "unknown_channel", format!("no widget channel `{id}`"));
    let channel: ChannelId = id.parse().map_err(|_| unknown())?;
    let found = match app.store.webhook_channel(channel).await {
        Ok(c) if c.kind == ChannelKind::Widget => c,
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(unknown()),
        Err(e) => return Err(e.into()),
    };
    match ChannelSettings::parse(found.kind, &found.config) {
        Ok(ChannelSettings::Widget(settings)) => Ok((found.workspace_id, channel, settings)),
        Ok(_) => Err(unknown()),
        Err(e) => {
            tracing::error!(channel = %channel, error = %e, "a widget channel has unusable settings");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "channel_misconfigured",
                "this channel's settings are incomplete; an admin must fix them",
            ))
        }
    }
}

/// The script's validator: it changes with the script.
fn script_etag() -> &'static str {
    static ETAG: OnceLock<String> = OnceLock::new();
    ETAG.get_or_init(|| {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        SCRIPT.hash(&mut hasher);
        format!("\"{}-{:016x}\"", env!("CARGO_PKG_VERSION"), hasher.finish())
    })
}

/// `GET /widget/{channel_id}/widget.js`. Cached for five minutes, then revalidated by its ETag,
/// so a new version reaches every page soon after a deploy without each page load costing a
/// download.
pub async fn script(State(app): State<AppState>, Path(id): Path<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    widget_channel(&app, &id).await?;
    let etag = script_etag();
    let common = [
        (header::CACHE_CONTROL, "public, max-age=300"),
        (header::ETAG, etag),
        // Pages that isolate themselves (COEP) may still load it.
        (header::HeaderName::from_static("cross-origin-resource-policy"), "cross-origin"),
    ];
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*"));
    if fresh {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    Ok((common, [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], SCRIPT)
        .into_response())
}

/// `GET /widget/{channel_id}/ws`: checks the channel and the page's origin, then upgrades.
pub async fn socket(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let (ws, channel, settings) = widget_channel(&app, &id).await?;
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if !settings.allows_origin(origin) {
        tracing::debug!(channel = %channel, origin = origin.unwrap_or("(none)"), "widget socket refused: origin not allowed");
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            format!("this widget does not serve pages of `{}`", origin.unwrap_or("(no origin)")),
        ));
    }
    let upgrade = upgrade.map_err(|e| ApiError::bad_request("websocket_required", format!("this URL takes a websocket: {e}")))?;
    let store = app.store.clone();
    Ok(upgrade.max_message_size(MAX_FRAME_BYTES).max_frame_size(MAX_FRAME_BYTES).on_upgrade(move |socket| async move {
        ::metrics::gauge!("tandem_widget_sockets").increment(1.0);
        Session::new(store, ws, channel, settings).run(socket).await;
        ::metrics::gauge!("tandem_widget_sockets").decrement(1.0);
    }))
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Hello {
        #[serde(default)]
        visitor: Option<String>,
    },
    Message {
        client_id: String,
        text: String,
    },
}

fn error_frame(code: &str, message: impl Into<String>) -> Value {
    json!({"type": "error", "code": code, "message": message.into()})
}

/// A message as the visitor's page shows it.
fn message_json(m: &Message) -> Value {
    let mut v = json!({
        "id": m.id,
        "direction": m.direction.as_str(),
        "body": m.body,
        "created_at": m.created_at,
    });
    if let Some(client_id) = m.provider_message_id.as_deref().and_then(|p| p.strip_prefix("widget:")) {
        if m.direction == MessageDirection::Inbound {
            v["client_id"] = json!(client_id);
        }
    }
    v
}

/// Why a socket ends: the visitor left, or the server cannot go on with it.
enum End {
    Gone,
    Close(u16, &'static str),
}

/// One open socket.
struct Session {
    store: Store,
    ws: WorkspaceId,
    channel: ChannelId,
    settings: widget::Settings,
    visitor: String,
    /// A visitor issued by this socket, stored with their first message.
    unsaved: Option<NewVisitor>,
    /// Conversations older than this are not the visitor's current ones.
    conversations_from: Timestamp,
    /// The newest `created_at` pushed.
    cursor: i64,
    /// What was pushed within the lookback, by `created_at`, so an overlapping poll skips it.
    pushed: HashMap<MessageId, i64>,
    poll_failures: u32,
    tokens: f64,
    refilled: Instant,
}

impl Session {
    fn new(store: Store, ws: WorkspaceId, channel: ChannelId, settings: widget::Settings) -> Self {
        let now = Timestamp::now().millis();
        Self {
            store,
            ws,
            channel,
            settings,
            visitor: String::new(),
            unsaved: None,
            conversations_from: Timestamp::from_millis(now - LOOKBACK_MS),
            cursor: now,
            pushed: HashMap::new(),
            poll_failures: 0,
            tokens: BURST,
            refilled: Instant::now(),
        }
    }

    async fn run(mut self, mut socket: WebSocket) {
        let end = match self.greet(&mut socket).await {
            Ok(()) => self.serve(&mut socket).await,
            Err(end) => end,
        };
        if let End::Close(code, reason) = end {
            let _ = socket.send(Frame::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
        }
    }

    /// Waits for the client's hello, finds or issues the visitor, answers with the history.
    async fn greet(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        let deadline = tokio::time::Instant::now() + HELLO_WITHIN;
        let token = loop {
            let frame = match tokio::time::timeout_at(deadline, socket.recv()).await {
                Err(_) => return Err(End::Close(1008, "no hello")),
                Ok(None | Some(Err(_))) => return Err(End::Gone),
                Ok(Some(Ok(frame))) => frame,
            };
            match read_frame(frame) {
                Read::Skip => continue,
                Read::Closed => return Err(End::Gone),
                Read::Bad(answer) => send(socket, &answer).await?,
                Read::Frame(ClientFrame::Hello { visitor }) => break visitor,
                Read::Frame(ClientFrame::Message { .. }) => {
                    send(socket, &error_frame("hello_required", "send a hello frame first")).await?;
                }
            }
        };
        let known = match token.as_deref() {
            Some(t) => self.store.widget_visitor(self.ws, self.channel, t).await.map(|v| v.map(|id| (t.to_string(), id))),
            None => Ok(None),
        };
        let token = match known {
            Ok(Some((token, visitor))) => {
                self.visitor = visitor;
                token
            }
            Ok(None) => {
                let new = NewVisitor::generate();
                self.visitor = new.visitor_id.clone();
                let token = new.token.clone();
                self.unsaved = Some(new);
                token
            }
            Err(e) => return Err(self.unavailable(socket, e).await),
        };
        let history = match self.store.widget_history(self.ws, self.channel, &self.visitor, HISTORY).await {
            Ok(h) => h,
            Err(e) => return Err(self.unavailable(socket, e).await),
        };
        let messages: Vec<Value> = match history {
            Some((conversation, messages)) => {
                self.conversations_from = conversation.created_at;
                for m in &messages {
                    self.cursor = self.cursor.max(m.created_at.millis());
                    self.pushed.insert(m.id, m.created_at.millis());
                }
                messages.iter().map(message_json).collect()
            }
            None => Vec::new(),
        };
        let hello = json!({
            "type": "hello",
            "visitor": token,
            "title": self.settings.title,
            "greeting": self.settings.greeting,
            "messages": messages,
        });
        send(socket, &hello).await
    }

    async fn unavailable(&self, socket: &mut WebSocket, e: StoreError) -> End {
        tracing::warn!(channel = %self.channel, error = %e, "widget socket: the store failed");
        let _ = send(socket, &error_frame("unavailable", "Tandem cannot take this now; reconnect in a moment")).await;
        End::Close(1011, "store unavailable")
    }

    async fn serve(&mut self, socket: &mut WebSocket) -> End {
        let mut poll = tokio::time::interval(POLL_EVERY);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        loop {
            let step = tokio::select! {
                frame = socket.recv() => match frame {
                    None | Some(Err(_)) => Err(End::Gone),
                    Some(Ok(frame)) => self.on_frame(socket, frame).await,
                },
                _ = poll.tick() => self.push_new(socket).await,
                _ = ping.tick() => socket.send(Frame::Ping(Default::default())).await.map_err(|_| End::Gone),
            };
            if let Err(end) = step {
                return end;
            }
        }
    }

    async fn on_frame(&mut self, socket: &mut WebSocket, frame: Frame) -> Result<(), End> {
        let answer = match read_frame(frame) {
            Read::Skip => return Ok(()),
            Read::Closed => return Err(End::Gone),
            Read::Bad(answer) => answer,
            // A client that reconnects logically without a new socket gains nothing: one visitor
            // per socket.
            Read::Frame(ClientFrame::Hello { .. }) => error_frame("bad_frame", "this socket has already said hello"),
            Read::Frame(ClientFrame::Message { client_id, text }) => {
                let mut answer = self.accept(&client_id, &text).await;
                if answer["type"] == "error" && uuid::Uuid::parse_str(&client_id).is_ok() {
                    // The page knows which of its messages was not taken.
                    answer["client_id"] = json!(client_id);
                }
                answer
            }
        };
        send(socket, &answer).await
    }

    /// Stores a visitor's message as an inbound event, exactly as a provider's webhook would.
    async fn accept(&mut self, client_id: &str, text: &str) -> Value {
        let Ok(client_id) = uuid::Uuid::parse_str(client_id) else {
            return error_frame("invalid_client_id", "client_id is a UUID the page chooses for each message");
        };
        let text = text.trim();
        if text.is_empty() {
            return error_frame("empty_message", "a message needs text");
        }
        if text.chars().count() > MAX_TEXT_CHARS {
            return error_frame("too_long", format!("a message holds at most {MAX_TEXT_CHARS} characters"));
        }
        if !self.take_token() {
            return error_frame("rate_limited", "too many messages at once; wait a moment");
        }
        if let Some(new) = &self.unsaved {
            if let Err(e) = self.store.save_widget_visitor(self.ws, self.channel, new).await {
                tracing::warn!(channel = %self.channel, error = %e, "widget visitor not stored");
                return error_frame("unavailable", "the message was not stored; send it again");
            }
            self.unsaved = None;
        }
        let key = format!("widget:{client_id}");
        let event = InboundEvent {
            provider_event_id: key.clone(),
            kind: InboundKind::Message {
                sender: Sender { id: self.visitor.clone(), name: None, phone: None },
                provider_message_id: key.clone(),
                content: Content::Text { body: text.to_string() },
            },
            occurred_at: Some(Timestamp::now()),
        };
        let new =
            NewInboundEvent { provider_event_id: key, kind: "message".into(), event: serde_json::to_value(&event).unwrap_or(Value::Null) };
        match self.store.store_inbound_events(self.ws, self.channel, &[new]).await {
            Ok(stored) => {
                ::metrics::counter!("tandem_webhook_events_total", "provider" => "widget").increment(stored as u64);
                json!({"type": "ack", "client_id": client_id})
            }
            Err(e) => {
                tracing::warn!(channel = %self.channel, error = %e, "widget message not stored");
                error_frame("unavailable", "the message was not stored; send it again")
            }
        }
    }

    fn take_token(&mut self) -> bool {
        let now = Instant::now();
        let earned = now.duration_since(self.refilled).as_secs_f64() / REFILL_EVERY.as_secs_f64();
        self.tokens = (self.tokens + earned).min(BURST);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Pushes the visitor's messages that this socket has not pushed yet.
    async fn push_new(&mut self, socket: &mut WebSocket) -> Result<(), End> {
        if self.store.is_closed() {
            return Err(End::Close(1012, "server restarting"));
        }
        let since = Timestamp::from_millis(self.cursor - LOOKBACK_MS);
        let found = self.store.widget_messages_since(self.ws, self.channel, &self.visitor, self.conversations_from, since, 500).await;
        let messages = match found {
            Ok(m) => {
                self.poll_failures = 0;
                m
            }
            Err(e) => {
                self.poll_failures += 1;
                tracing::warn!(channel = %self.channel, error = %e, failures = self.poll_failures, "widget socket: poll failed");
                if self.poll_failures >= MAX_POLL_FAILURES {
                    return Err(End::Close(1011, "store unavailable"));
                }
                return Ok(());
            }
        };
        for m in messages {
            let at = m.created_at.millis();
            if self.pushed.contains_key(&m.id) {
                continue;
            }
            let mut frame = message_json(&m);
            frame["type"] = json!("message");
            send(socket, &frame).await?;
            self.pushed.insert(m.id, at);
            self.cursor = self.cursor.max(at);
        }
        let horizon = self.cursor - LOOKBACK_MS;
        self.pushed.retain(|_, at| *at >= horizon);
        Ok(())
    }
}

enum Read {
    Frame(ClientFrame),
    /// A frame that is answered with this error.
    Bad(Value),
    /// Ping, pong: the library answers pings itself.
    Skip,
    Closed,
}

fn read_frame(frame: Frame) -> Read {
    match frame {
        Frame::Text(text) => match serde_json::from_str::<ClientFrame>(text.as_str()) {
            Ok(f) => Read::Frame(f),
            Err(e) => Read::Bad(error_frame("bad_frame", format!("not a widget frame: {e}"))),
        },
        Frame::Binary(_) => Read::Bad(error_frame("bad_frame", "frames are JSON text")),
        Frame::Ping(_) | Frame::Pong(_) => Read::Skip,
        Frame::Close(_) => Read::Closed,
    }
}

async fn send(socket: &mut WebSocket, frame: &Value) -> Result<(), End> {
    socket.send(Frame::Text(frame.to_string().into())).await.map_err(|_| End::Gone)
}
