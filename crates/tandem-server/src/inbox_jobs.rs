//! The periodic inbox sweep (job `inbox.sweep`, one chain per workspace that saved inbox
//! settings): routes the conversations waiting for people (handed off by the AI agent, or on
//! channels without one), opens snoozed conversations whose time has come, and escalates tickets
//! whose SLA targets were missed, so all of it happens even when nobody opens the inbox. Reading the inbox and tickets does the same on the spot.
//! The chain starts when a workspace saves inbox settings or creates a ticket; finished sweeps
//! are deleted as the chain goes, so it leaves no trail of job rows.

use serde_json::{json, Value};
use tandem_core::Timestamp;
use tandem_store::{inbox::SWEEP_INTERVAL_MS, jobs::Job, Store, StoreError};

/// One sweep of the job's workspace, then the next one scheduled. It reads no input, so every
/// failure is the database's and worth retrying.
pub async fn sweep(store: &Store, job: &Job) -> Result<Value, StoreError> {
    let ws = job.workspace_id;
    let routed = store.route_waiting(ws).await?;
    let now = Timestamp::now();
    let woken = store.wake_snoozed(ws, now).await?;
    let escalated = store.escalate_tickets(ws, now).await?;
    store.prune_inbox_sweeps(ws).await?;
    store.schedule_inbox_sweep(ws, SWEEP_INTERVAL_MS).await?;
    Ok(json!({"routed": routed.len(), "woken": woken.len(), "escalated": escalated.len()}))
}
