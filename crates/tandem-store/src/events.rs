//! Inbox events: what just changed in a workspace's conversations, for views that update live.
//! Published after the change commits. On SQLite (one process) an event goes straight to this
//! process's subscribers. On PostgreSQL it goes out with `NOTIFY` on [`CHANNEL`], and every
//! replica (this one included) hears it through its own `LISTEN` and hands it to its subscribers:
//! a person connected to any replica sees what happened on all of them.
//!
//! Events are hints, not the record: a subscriber that falls behind is told to reload (see
//! [`EventStream`]), and the data itself is read through the API as usual.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tandem_core::{ConversationId, MessageId, NoteId, Timestamp, WorkspaceId};
use tokio::sync::{broadcast, OnceCell};

use crate::{Backend, Store};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "tandem_inbox";
/// Events kept for a slow subscriber before it is told it missed some.
const BACKLOG: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum EventKind {
    /// A message was received or queued.
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A message's delivery status changed (sent, delivered, read, failed).
    #[serde(rename = "message.status")]
    MessageStatus,
    /// Status, assignee, team or the AI agent's state changed.
    #[serde(rename = "conversation.updated")]
    ConversationUpdated,
    /// An internal note was written in the conversation.
    #[serde(rename = "note.created")]
    NoteCreated,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::MessageCreated => "message.created",
            EventKind::MessageStatus => "message.status",
            EventKind::ConversationUpdated => "conversation.updated",
            EventKind::NoteCreated => "note.created",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InboxEvent {
    pub workspace_id: WorkspaceId,
    pub kind: EventKind,
    pub conversation_id: ConversationId,
    pub message_id: Option<MessageId>,
    /// For `note.created`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note_id: Option<NoteId>,
    pub at: Timestamp,
}

/// The process's side of the events: subscribers, and on PostgreSQL the listener task.
#[derive(Debug, Clone)]
pub(crate) struct Events {
    sender: broadcast::Sender<InboxEvent>,
    /// PostgreSQL: the URL to LISTEN on and the listener, started with the first subscriber and
    /// stopped when the last handle on the store goes.
    listener: Option<(Arc<str>, Arc<OnceCell<AbortOnDrop>>)>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Events {
    pub(crate) fn new(backend: Backend, url: &str) -> Self {
        let (sender, _) = broadcast::channel(BACKLOG);
        let listener = (backend == Backend::Postgres).then(|| (Arc::from(url), Arc::new(OnceCell::new())));
        Self { sender, listener }
    }
}

/// A subscription: the events of every workspace, in order; filter by workspace.
pub struct EventStream(broadcast::Receiver<InboxEvent>);

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Event(InboxEvent),
    /// Events were missed (the subscriber was too slow): reload what is shown.
    Missed(u64),
}

impl EventStream {
    /// The next event; `None` once the store is gone.
    pub async fn next(&mut self) -> Option<Received> {
        match self.0.recv().await {
            Ok(e) => Some(Received::Event(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(Received::Missed(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Store {
    /// Subscribes to every workspace's inbox events. On PostgreSQL the first subscription starts
    /// listening for the notifications of every replica.
    pub async fn subscribe_events(&self) -> EventStream {
        let stream = EventStream(self.events.sender.subscribe());
        if let Some((url, listener)) = &self.events.listener {
            let sender = self.events.sender.clone();
            let url = url.clone();
            listener
                .get_or_init(|| async move {
                    // Listening before the first subscriber hears anything: nothing it waits for is missed.
                    let first =
                        connect(&url).await.map_err(|e| tracing::warn!(error = %e, "cannot LISTEN for inbox events; retrying")).ok();
                    AbortOnDrop(tokio::spawn(listen(url, sender, first)))
                })
                .await;
        }
        stream
    }

    /// Publishes an event of a change that has committed. A failure costs live views one update
    /// (they reload on reconnect), never the change: it is logged, not returned.
    pub(crate) async fn publish(&self, ws: WorkspaceId, kind: EventKind, conversation: ConversationId, message: Option<MessageId>) {
        let event =
            InboxEvent { workspace_id: ws, kind, conversation_id: conversation, message_id: message, note_id: None, at: Timestamp::now() };
        self.send_event(event).await
    }

    pub(crate) async fn publish_note(&self, ws: WorkspaceId, conversation: ConversationId, note: NoteId) {
        let kind = EventKind::NoteCreated;
        let event = InboxEvent {
            workspace_id: ws,
            kind,
            conversation_id: conversation,
            message_id: None,
            note_id: Some(note),
            at: Timestamp::now(),
        };
        self.send_event(event).await
    }

    async fn send_event(&self, event: InboxEvent) {
        let kind = event.kind;
        match self.backend() {
            Backend::Sqlite => {
                let _ = self.events.sender.send(event); // no subscriber: nobody to tell
            }
            Backend::Postgres => {
                let payload = serde_json::to_string(&event).unwrap_or_default();
                let sent = sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(payload).execute(&self.pool).await;
                if let Err(e) = sent {
                    tracing::warn!(error = %e, kind = kind.as_str(), "could not publish an inbox event");
                }
            }
        }
    }
}

/// Hands every notification of [`CHANNEL`] to this process's subscribers, reconnecting when the
/// connection drops (notifications sent meanwhile are lost: logged).
async fn connect(url: &str) -> Result<sqlx::postgres::PgListener, sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn listen(url: Arc<str>, sender: broadcast::Sender<InboxEvent>, mut first: Option<sqlx::postgres::PgListener>) {
    let mut wait = std::time::Duration::from_millis(200);
    loop {
        let mut listener = match first.take() {
            Some(l) => l,
            None => match connect(&url).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot LISTEN for inbox events; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(std::time::Duration::from_secs(10));
                    continue;
                }
            },
        };
        wait = std::time::Duration::from_millis(200);
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match serde_json::from_str::<InboxEvent>(n.payload()) {
                    Ok(event) => {
                        let _ = sender.send(event);
                    }
                    Err(e) => tracing::warn!(error = %e, "an inbox notification could not be read"),
                },
                // The connection dropped and was re-established: notifications may be lost.
                Ok(None) => tracing::warn!("the inbox event listener reconnected; live views may have missed events"),
                Err(e) => {
                    tracing::warn!(error = %e, "the inbox event listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}
