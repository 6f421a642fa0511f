use serde_json::json;
use tandem_store::{jobs::JobStatus, Store};

use crate::on_both;

on_both!(jobs_lease_retry_and_finish, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    let job = store.enqueue_job(ws, "test.echo", &json!({"n": 1}), 2).await.unwrap();
    assert_eq!(job.status, JobStatus::Queued);

    // Claimed once; nobody else gets it while leased.
    let claimed = store.claim_job(60_000).await.unwrap().unwrap();
    assert_eq!((claimed.id, claimed.attempts, claimed.payload.clone()), (job.id, 1, json!({"n": 1})));
    assert!(store.claim_job(60_000).await.unwrap().is_none());

    // A retryable failure puts it back with a delay, not immediately claimable.
    store.fail_job(&claimed, "provider timeout", true).await.unwrap();
    let j = store.get_job(ws, job.id).await.unwrap();
    assert_eq!((j.status, j.last_error.as_deref()), (JobStatus::Queued, Some("provider timeout")));
    assert!(store.claim_job(60_000).await.unwrap().is_none());

    // A second job whose worker dies (lease of 0 ms) is taken over by the next claim.
    let other = store.enqueue_job(ws, "test.echo", &json!({"n": 2}), 3).await.unwrap();
    let lost = store.claim_job(0).await.unwrap().unwrap();
    assert_eq!(lost.id, other.id);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let retaken = store.claim_job(60_000).await.unwrap().unwrap();
    assert_eq!((retaken.id, retaken.attempts), (other.id, 2));
    // The first worker comes back late: its progress and result are ignored.
    store.job_progress(&lost, 99, Some(100), 60_000).await.unwrap();
    store.complete_job(&lost, &json!("stale")).await.unwrap();
    store.job_progress(&retaken, 5, Some(10), 60_000).await.unwrap();
    let j = store.get_job(ws, other.id).await.unwrap();
    assert_eq!((j.status, j.progress_done, j.progress_total), (JobStatus::Running, 5, Some(10)));
    store.complete_job(&retaken, &json!({"ok": true})).await.unwrap();
    let j = store.get_job(ws, other.id).await.unwrap();
    assert_eq!((j.status, j.result), (JobStatus::Succeeded, Some(json!({"ok": true}))));

    // A non-retryable failure is final.
    let bad = store.enqueue_job(ws, "test.echo", &json!({}), 5).await.unwrap();
    let c = store.claim_job(60_000).await.unwrap().unwrap();
    assert_eq!(c.id, bad.id);
    store.fail_job(&c, "file is not a CSV", false).await.unwrap();
    assert_eq!(store.get_job(ws, bad.id).await.unwrap().status, JobStatus::Failed);

    // Jobs of a workspace are invisible from another.
    let other_ws = store.create_workspace("Other", None).await.unwrap().id;
    assert!(store.get_job(other_ws, bad.id).await.is_err());
});
