//! The background worker: claims jobs from the store and runs them. Every replica may run one; the
//! store's leases make sure a job runs in one place at a time and survives a crash.

use std::time::Duration;
use tandem_core::config::WorkerConfig;
use tandem_store::{import::ImportOptions, jobs::Job, Store, StoreError};
use tokio::sync::watch;

/// Job kind of a contact import; payload `{upload_id, mapping, default_country}`.
pub const IMPORT_CONTACTS: &str = "contacts.import";

pub async fn run(store: Store, config: WorkerConfig, mut shutdown: watch::Receiver<bool>) {
    let lease_ms = config.lease_seconds * 1000;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match store.claim_job(lease_ms).await {
            Ok(Some(job)) => {
                let span = tracing::info_span!("job", id = %job.id, kind = %job.kind, attempt = job.attempts);
                let _enter = span.enter();
                run_job(&store, &job, lease_ms).await;
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

async fn run_job(store: &Store, job: &Job, lease_ms: i64) {
    let outcome = match job.kind.as_str() {
        IMPORT_CONTACTS => import_contacts(store, job, lease_ms).await,
        other => Err(StoreError::invalid("kind", "unknown_job", format!("no worker handles `{other}` jobs"))),
    };
    let recorded = match outcome {
        Ok(result) => store.complete_job(job, &result).await,
        // Bad input will be as bad on the next attempt; anything else may be passing.
        Err(e @ StoreError::Invalid(_)) => store.fail_job(job, &e.to_string(), false).await,
        Err(e) => {
            tracing::warn!(error = %e, "job attempt failed");
            store.fail_job(job, &e.to_string(), true).await
        }
    };
    if let Err(e) = recorded {
        tracing::error!(error = %e, "could not record the job's outcome; its lease will expire and it will run again");
    }
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
