//! Durable background jobs (imports now; ingestion, agent turns and outbound delivery later).
//!
//! A job is claimed with a lease: the worker that claims it owns it until `lease_until`; if the
//! worker dies, the job is claimed again once the lease ends. Every state change after the claim
//! names the attempt it belongs to, so a worker that lost its lease cannot overwrite its successor.
//! PostgreSQL claims with `FOR UPDATE SKIP LOCKED` so replicas never take the same job; SQLite
//! serialises writers. A home-made queue rather than a library: the job libraries we looked at keep
//! one storage backend per database with its own schema, and this table must live in the same
//! database and migrations as the rest, behind one code path.

use serde::Serialize;
use serde_json::Value;
use tandem_core::{JobId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting to run (first time, or a retry after `run_at`).
    Queued,
    Running,
    Succeeded,
    /// Failed in a way a retry cannot fix (bad input).
    Failed,
    /// Failed on every allowed attempt.
    Dead,
}

impl JobStatus {
    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            other => return Err(StoreError::Corrupt(format!("job status {other}"))),
        })
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: JobId,
    #[serde(skip)]
    pub workspace_id: WorkspaceId,
    pub kind: String,
    #[serde(skip)]
    pub payload: Value,
    pub status: JobStatus,
    pub attempts: i64,
    pub max_attempts: i64,
    pub progress_done: i64,
    pub progress_total: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    workspace_id: String,
    kind: String,
    payload: String,
    status: String,
    attempts: i64,
    max_attempts: i64,
    progress_done: i64,
    progress_total: Option<i64>,
    result: Option<String>,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<Row> for Job {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("job id"))?,
            workspace_id: r.workspace_id.parse().map_err(corrupt("workspace id"))?,
            kind: r.kind,
            payload: serde_json::from_str(&r.payload).map_err(corrupt("job payload"))?,
            status: JobStatus::parse(&r.status)?,
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            progress_done: r.progress_done,
            progress_total: r.progress_total,
            result: r.result.map(|s| serde_json::from_str(&s)).transpose().map_err(corrupt("job result"))?,
            last_error: r.last_error,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

const COLUMNS: &str = "id, workspace_id, kind, payload, status, attempts, max_attempts, progress_done, progress_total, result, last_error, created_at, updated_at";

/// Delay before retry `attempt` (1-based): 2^attempt seconds, ±25 % jitter, at most 10 minutes.
pub fn retry_delay_ms(attempt: i64) -> i64 {
    use rand::Rng;
    let base = 1000i64.saturating_mul(1 << attempt.clamp(1, 20)).min(600_000);
    let jitter = rand::thread_rng().gen_range(0.75..1.25);
    (base as f64 * jitter) as i64
}

impl Store {
    pub async fn enqueue_job(&self, ws: WorkspaceId, kind: &str, payload: &Value, max_attempts: i64) -> Result<Job> {
        let id = self.insert_job(&*self.writes().await?, ws, kind, payload, max_attempts).await?;
        self.get_job(ws, id).await
    }

    /// Inserts a queued job through `exec` (a transaction, when the job must exist exactly when
    /// the row it works on does).
    pub(crate) async fn insert_job<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
        &self,
        exec: E,
        ws: WorkspaceId,
        kind: &str,
        payload: &Value,
        max_attempts: i64,
    ) -> Result<JobId> {
        let id = JobId::new();
        let now = Timestamp::now().millis();
        let mut sql =
            self.sql("INSERT INTO jobs (id, workspace_id, kind, payload, status, max_attempts, run_at, created_at, updated_at) VALUES (");
        sql.bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(kind.to_string()).push(", ").bind(payload.to_string());
        sql.push(", 'queued', ").bind(max_attempts.max(1)).push(", ").bind(now).push(", ").bind(now).push(", ").bind(now).push(")");
        run!(sql, execute(exec))?;
        Ok(id)
    }

    pub async fn get_job(&self, ws: WorkspaceId, id: JobId) -> Result<Job> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM jobs WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("job"))?.try_into()
    }

    /// Claims the next runnable job (queued and due, or running with an expired lease) for `lease_ms`.
    /// A job whose lease expired after its last allowed attempt is marked dead instead.
    pub async fn claim_job(&self, lease_ms: i64) -> Result<Option<Job>> {
        loop {
            let now = Timestamp::now().millis();
            let mut sql = self.sql("UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ");
            sql.bind(now + lease_ms).push(", updated_at = ").bind(now);
            sql.push(" WHERE id = (SELECT id FROM jobs WHERE (status = 'queued' AND run_at <= ").bind(now);
            sql.push(") OR (status = 'running' AND lease_until < ").bind(now).push(") ORDER BY run_at, id LIMIT 1");
            sql.push(self.skip_locked()).push(&format!(") RETURNING {COLUMNS}"));
            let Some(row) = run!(sql, as Row, fetch_optional(&*self.writes().await?))? else {
                return Ok(None);
            };
            let job: Job = row.try_into()?;
            if job.attempts <= job.max_attempts {
                return Ok(Some(job));
            }
            self.finish_job(&job, "dead", None, Some("the worker running it stopped before finishing, on every attempt")).await?;
        }
    }

    /// Claims one given job if it is queued (a command-line run that does the work itself).
    pub async fn claim_job_by_id(&self, ws: WorkspaceId, id: JobId, lease_ms: i64) -> Result<Option<Job>> {
        let now = Timestamp::now().millis();
        let mut sql = self.sql("UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = ");
        sql.bind(now + lease_ms).push(", updated_at = ").bind(now);
        sql.push(" WHERE status = 'queued' AND workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        sql.push(&format!(" RETURNING {COLUMNS}"));
        run!(sql, as Row, fetch_optional(&*self.writes().await?))?.map(TryInto::try_into).transpose()
    }

    /// Records progress of the attempt that `job` is and renews its lease for `lease_ms`.
    pub async fn job_progress(&self, job: &Job, done: i64, total: Option<i64>, lease_ms: i64) -> Result<()> {
        let now = Timestamp::now().millis();
        let mut sql = self.sql("UPDATE jobs SET progress_done = ");
        sql.bind(done)
            .push(", progress_total = ")
            .bind(total)
            .push(", lease_until = ")
            .bind(now + lease_ms)
            .push(", updated_at = ")
            .bind(now);
        sql.push(" WHERE id = ").bind(job.id.to_string()).push(" AND attempts = ").bind(job.attempts).push(" AND status = 'running'");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    pub async fn complete_job(&self, job: &Job, result: &Value) -> Result<()> {
        self.finish_job(job, "succeeded", Some(result.to_string()), None).await
    }

    /// A failed attempt: retried later when `retryable` and attempts remain, else failed for good.
    pub async fn fail_job(&self, job: &Job, error: &str, retryable: bool) -> Result<()> {
        if retryable && job.attempts < job.max_attempts {
            let now = Timestamp::now().millis();
            let mut sql = self.sql("UPDATE jobs SET status = 'queued', lease_until = NULL, last_error = ");
            sql.bind(error.to_string()).push(", run_at = ").bind(now + retry_delay_ms(job.attempts)).push(", updated_at = ").bind(now);
            sql.push(" WHERE id = ").bind(job.id.to_string()).push(" AND attempts = ").bind(job.attempts);
            run!(sql, execute(&*self.writes().await?))?;
            Ok(())
        } else {
            self.finish_job(job, if retryable { "dead" } else { "failed" }, None, Some(error)).await
        }
    }

    async fn finish_job(&self, job: &Job, status: &str, result: Option<String>, error: Option<&str>) -> Result<()> {
        let mut sql = self.sql("UPDATE jobs SET status = ");
        sql.bind(status.to_string())
            .push(", lease_until = NULL, result = ")
            .bind(result)
            .push(", last_error = COALESCE(")
            .bind(error.map(str::to_string))
            .push(", last_error)");
        sql.push(", updated_at = ")
            .bind(Timestamp::now().millis())
            .push(" WHERE id = ")
            .bind(job.id.to_string())
            .push(" AND attempts = ")
            .bind(job.attempts);
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Keeps an uploaded file until the job that reads it is done.
    pub async fn save_upload(&self, ws: WorkspaceId, filename: &str, bytes: Vec<u8>) -> Result<String> {
        self.insert_upload(&*self.writes().await?, ws, filename, bytes).await
    }

    pub(crate) async fn insert_upload<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
        &self,
        exec: E,
        ws: WorkspaceId,
        filename: &str,
        bytes: Vec<u8>,
    ) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        let mut sql = self.sql("INSERT INTO uploads (id, workspace_id, filename, bytes, created_at) VALUES (");
        sql.bind(id.clone())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(filename.to_string())
            .push(", ")
            .bind(bytes)
            .push(", ")
            .bind(Timestamp::now().millis())
            .push(")");
        run!(sql, execute(exec))?;
        Ok(id)
    }

    pub async fn load_upload(&self, ws: WorkspaceId, id: &str) -> Result<(String, Vec<u8>)> {
        let mut sql = self.sql("SELECT filename, bytes FROM uploads WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as (String, Vec<u8>), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("upload"))
    }

    pub async fn delete_upload(&self, ws: WorkspaceId, id: &str) -> Result<()> {
        let mut sql = self.sql("DELETE FROM uploads WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }
}
