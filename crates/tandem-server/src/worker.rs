//! The background worker: claims jobs from the store and runs them. Every replica may run one; the
//! store's leases make sure a job runs in one place at a time and survives a crash.

use std::{sync::Arc, time::Duration};
use tandem_core::config::WorkerConfig;
use tandem_store::{
    import::ImportOptions,
    jobs::Job,
    knowledge::{SourceStage, INGEST_JOB},
    messaging::{INBOUND_JOB, MEDIA_JOB, SEND_JOB},
    Store, StoreError,
};
use tokio::sync::watch;

use tracing::Instrument;

use crate::{
    agents::{AgentFailure, Models, TURN_JOB},
    ingest::{ingest, IngestError},
    knowledge::Knowledge,
    messaging::MessagingFailure,
};

/// One agent turn; payload `{conversation_id}`.
async fn agent_turn(worker: &Worker, job: &Job) -> Result<serde_json::Value, AgentFailure> {
    let conversation = job
        .payload
        .get("conversation_id")
        .and_then(|c| c.as_str())
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| AgentFailure::Agent(tandem_agent::AgentError::InvalidInput("a turn job names its conversation_id".into())))?;
    crate::agents::run_turn(&worker.store, &worker.knowledge, &worker.models, job.workspace_id, conversation).await
}

fn payload_str<'a>(job: &'a Job, key: &str) -> Result<&'a str, MessagingFailure> {
    job.payload.get(key).and_then(|v| v.as_str()).ok_or_else(|| MessagingFailure::Permanent(format!("the job's payload lacks `{key}`")))
}

/// One stored webhook event; payload `{event_id}`.
async fn inbound(worker: &Worker, job: &Job) -> Result<serde_json::Value, MessagingFailure> {
    crate::messaging::process_inbound(&worker.store, job.workspace_id, payload_str(job, "event_id")?).await
}

/// One outbound message; payload `{message_id}`.
async fn send(worker: &Worker, job: &Job) -> Result<serde_json::Value, MessagingFailure> {
    let id = payload_str(job, "message_id")?.parse().map_err(|_| MessagingFailure::Permanent("bad message id".into()))?;
    crate::messaging::send(&worker.messaging, &worker.store, job.workspace_id, id, job.attempts >= job.max_attempts).await
}

/// A customer's media to keep; payload `{message_id}`.
async fn media(worker: &Worker, job: &Job) -> Result<serde_json::Value, MessagingFailure> {
    let id = payload_str(job, "message_id")?.parse().map_err(|_| MessagingFailure::Permanent("bad message id".into()))?;
    crate::messaging::fetch_media(&worker.messaging, &worker.store, job.workspace_id, id).await
}

/// Job kind of a contact import; payload `{upload_id, mapping, default_country}`.
pub const IMPORT_CONTACTS: &str = "contacts.import";

/// What jobs need.
#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub knowledge: Arc<Knowledge>,
    pub models: Arc<Models>,
    pub messaging: Arc<crate::messaging::Messaging>,
}

pub async fn run(worker: Worker, config: WorkerConfig, mut shutdown: watch::Receiver<bool>) {
    let lease_ms = config.lease_seconds * 1000;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match worker.store.claim_job(lease_ms).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
                run_job(&worker, &job, lease_ms).instrument(span).await;
                continue;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "could not claim a job"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(config.poll_interval_ms)) => {}
            _ = shutdown.changed() => {}
        }
    }
}

async fn run_job(worker: &Worker, job: &Job, lease_ms: i64) {
    let (store, knowledge) = (&worker.store, &worker.knowledge);
    // Bad input will be as bad on the next attempt; anything else may be passing.
    let outcome: Result<serde_json::Value, (String, bool)> = match job.kind.as_str() {
        TURN_JOB => agent_turn(worker, job).await.map_err(|e| {
            let retry =
                !matches!(e, AgentFailure::Agent(tandem_agent::AgentError::InvalidInput(_) | tandem_agent::AgentError::InvalidProfile(_)));
            (e.to_string(), retry)
        }),
        IMPORT_CONTACTS => import_contacts(store, job, lease_ms).await.map_err(|e| {
            let retry = !matches!(e, StoreError::Invalid(_));
            (e.to_string(), retry)
        }),
        INGEST_JOB => ingest_source(store, knowledge, job, lease_ms).await.map_err(|e| {
            let retry = matches!(e, IngestError::Transient(_));
            (e.to_string(), retry)
        }),
        INBOUND_JOB => inbound(worker, job).await.map_err(|e| (e.to_string(), e.retryable())),
        SEND_JOB => send(worker, job).await.map_err(|e| (e.to_string(), e.retryable())),
        MEDIA_JOB => media(worker, job).await.map_err(|e| (e.to_string(), e.retryable())),
        tandem_store::inbox::SWEEP_JOB => crate::inbox_jobs::sweep(store, job).await.map_err(|e| (e.to_string(), true)),
        other => Err((format!("no worker handles `{other}` jobs"), false)),
    };
    let recorded = match outcome {
        Ok(result) => store.complete_job(job, &result).await,
        Err((message, retryable)) => {
            tracing::warn!(error = %message, retryable, "job attempt failed");
            store.fail_job(job, &message, retryable).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record the job's outcome; its lease will expire and it will run again");
    }
    if job.kind == INGEST_JOB {
        if let Err(e) = store.fail_orphaned_sources().await {
            tracing::warn!(error = %e, "could not mark abandoned sources as failed");
        }
    }
}

/// Runs an ingestion job; each stage change renews the job's lease (embedding a large source
/// takes minutes).
async fn ingest_source(store: &Store, knowledge: &Knowledge, job: &Job, lease_ms: i64) -> Result<serde_json::Value, IngestError> {
    let order = Store::ingest_order(&job.payload)?;
    let (tx, mut rx) = watch::channel(0i64);
    let reporter = {
        let (store, job) = (store.clone(), job.clone());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let pct = *rx.borrow_and_update();
                if let Err(e) = store.job_progress(&job, pct, Some(100), lease_ms).await {
                    tracing::warn!(error = %e, "could not record progress");
                }
            }
        })
    };
    let progress = move |_: SourceStage, pct: i64| {
        let _ = tx.send(pct);
    };
    let outcome = ingest(store, knowledge, job.workspace_id, &order, &progress).await;
    drop(progress);
    let _ = reporter.await;
    outcome
}

async fn import_contacts(store: &Store, job: &Job, lease_ms: i64) -> Result<serde_json::Value, StoreError> {
    let p = &job.payload;
    let upload = p["upload_id"].as_str().ok_or_else(|| StoreError::Corrupt("import job without upload_id".into()))?;
    let (_, bytes) = store.load_upload(job.workspace_id, upload).await?;
    let options = ImportOptions {
        mapping: serde_json::from_value(p["mapping"].clone()).unwrap_or_default(),
        dry_run: false,
        default_country: p["default_country"].as_str().map(str::to_string),
    };
    // The import reports progress synchronously; a companion task writes it (and renews the lease)
    // at most four times a second.
    let (tx, mut rx) = watch::channel((0usize, 0usize));
    let reporter = {
        let (store, job) = (store.clone(), job.clone());
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let (done, total) = *rx.borrow_and_update();
                if let Err(e) = store.job_progress(&job, done as i64, Some(total as i64), lease_ms).await {
                    tracing::warn!(error = %e, "could not record progress");
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let on_progress = move |done, total| {
        let _ = tx.send((done, total));
    };
    let report = store.import_contacts(job.workspace_id, bytes, &options, &on_progress).await;
    drop(on_progress);
    let _ = reporter.await;
    let report = report?;
    store.job_progress(job, report.total_rows as i64, Some(report.total_rows as i64), lease_ms).await?;
    store.delete_upload(job.workspace_id, upload).await?;
    tracing::info!(created = report.created, updated = report.updated, failed = report.failed, "contact import finished");
    serde_json::to_value(&report).map_err(|e| StoreError::Corrupt(e.to_string()))
}
