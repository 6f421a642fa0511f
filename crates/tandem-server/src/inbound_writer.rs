//! Group commit for webhooks: concurrent webhook requests hand their events to one writer task,
//! which stores whatever has gathered in a single transaction and answers each request once its
//! events are committed. A webhook is still acknowledged only after its events are durable; the
//! store just commits many at once (SQLite has one writer, and a commit per webhook caps it near
//! a thousand a second on 2 cores).

use tandem_store::{messaging::InboundBatch, Store};
use tokio::sync::{mpsc, oneshot};

/// Webhooks stored in one transaction at most.
const MAX_BATCH: usize = 256;

type Reply = oneshot::Sender<Result<usize, String>>;

#[derive(Clone)]
pub struct InboundWriter {
    queue: mpsc::Sender<(InboundBatch, Reply)>,
}

impl InboundWriter {
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn start(store: Store) -> Self {
        let (queue, mut pending) = mpsc::channel::<(InboundBatch, Reply)>(4 * MAX_BATCH);
        tokio::spawn(async move {
            while let Some(first) = pending.recv().await {
                let mut batch = vec![first];
                while batch.len() < MAX_BATCH {
                    match pending.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                match store.store_inbound_batch(&items).await {
                    Ok(counts) => {
                        for (reply, n) in replies.into_iter().zip(counts) {
                            let _ = reply.send(Ok(n));
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, webhooks = items.len(), "could not store webhook events");
                        for reply in replies {
                            let _ = reply.send(Err(e.to_string()));
                        }
                    }
                }
            }
        });
        Self { queue }
    }

    /// Stores one webhook's events; returns how many were new once they are committed.
    pub async fn store(&self, item: InboundBatch) -> Result<usize, String> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((item, reply)).await.map_err(|_| "the webhook writer has stopped".to_string())?;
        answer.await.map_err(|_| "the webhook writer has stopped".to_string())?
    }
}
