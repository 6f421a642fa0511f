//! Live inbox updates as server-sent events: a browser (or an integration) keeps one
//! `GET /events` open and hears of new messages, delivery statuses and conversation changes in
//! its workspace as they happen, on any replica (see `tandem_store::events`). Staff hear only of
//! the conversations they may see. Each event names what changed; the client reads it through
//! the API. `resync` means events were missed: reload. The stream ends when the server stops
//! (the browser's EventSource reconnects to another replica or after the restart).

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
};
use futures::Stream;
use tandem_core::{Actor, Role};
use tandem_store::events::{InboxEvent, Received};

use crate::{auth::Auth, routes::tickets::viewer, state::AppState};

/// Whether the subscriber may see the conversation an event is about.
async fn visible(app: &AppState, actor: &Actor, viewer: &tandem_inbox::Viewer, event: &InboxEvent) -> bool {
    if event.workspace_id != actor.workspace_id {
        return false;
    }
    if actor.role != Role::Staff || actor.user_id().is_none() {
        return true;
    }
    match app.store.get_conversation(actor.workspace_id, event.conversation_id).await {
        Ok(c) => viewer.sees_conversation(c.assignee_user_id, c.team_id),
        Err(_) => false,
    }
}

/// Server-sent events: `message.created`, `message.status`, `conversation.updated` (data: the
/// `InboxEvent` as JSON), and `resync` when some were missed. A comment every 15 s keeps the
/// connection open through proxies.
#[utoipa::path(get, path = "/events", tag = "inbox",
    responses((status = 200, description = "a text/event-stream of inbox events", body = InboxEvent, content_type = "text/event-stream")))]
pub async fn events(State(app): State<AppState>, Auth(actor): Auth) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let subscription = app.store.subscribe_events().await;
    let stream = futures::stream::unfold((app, actor, subscription, None), |(app, actor, mut sub, mut viewer)| async move {
        loop {
            let mut stopping = app.stopping.clone();
            let next = tokio::select! {
                next = sub.next() => next,
                _ = stopping.wait_for(|s| *s) => None,
            };
            let event = match next? {
                Received::Missed(n) => Event::default().event("resync").data(n.to_string()),
                Received::Event(e) => {
                    if viewer.is_none() && actor.role == Role::Staff {
                        // Teams are read once per connection; a reconnect picks up changes.
                        viewer = viewer_or_none(&app, &actor).await;
                    }
                    let allowed = match &viewer {
                        Some(v) => visible(&app, &actor, v, &e).await,
                        None => e.workspace_id == actor.workspace_id && actor.role != Role::Staff,
                    };
                    if !allowed {
                        continue;
                    }
                    Event::default().event(e.kind.as_str()).data(serde_json::to_string(&e).unwrap_or_default())
                }
            };
            return Some((Ok(event), (app, actor, sub, viewer)));
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

async fn viewer_or_none(app: &AppState, actor: &Actor) -> Option<tandem_inbox::Viewer> {
    match viewer(app, actor).await {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(error = ?e, "cannot read the subscriber's teams");
            None
        }
    }
}
