//! Agents and the sources of their knowledge bases. The store is the truth about which version of
//! a source searches see (`active_version`); the vector index holds points for versions, and
//! anything it holds that the store does not name as active is invisible and cleaned up.

use serde::Serialize;
use serde_json::Value;
use tandem_core::{AgentId, JobId, SourceId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: AgentId,
    pub name: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where an ingestion stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceStage {
    Queued,
    Fetching,
    Parsing,
    Chunking,
    Embedding,
    Indexing,
    Done,
    Failed,
}

impl SourceStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Fetching => "fetching",
            Self::Parsing => "parsing",
            Self::Chunking => "chunking",
            Self::Embedding => "embedding",
            Self::Indexing => "indexing",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "queued" => Self::Queued,
            "fetching" => Self::Fetching,
            "parsing" => Self::Parsing,
            "chunking" => Self::Chunking,
            "embedding" => Self::Embedding,
            "indexing" => Self::Indexing,
            "done" => Self::Done,
            "failed" => Self::Failed,
            other => return Err(StoreError::Corrupt(format!("source stage {other}"))),
        })
    }

    /// Done or failed: nothing more will happen until the source is uploaded again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

/// Why an ingestion failed: a stable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SourceError {
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KnowledgeSource {
    pub id: SourceId,
    pub agent_id: AgentId,
    /// File name, or the URL for web sources.
    pub name: String,
    /// `pdf`, `xlsx`, `xls`, `ods`, `csv`, `html`, `markdown`, `text`; unknown until read.
    pub kind: Option<String>,
    pub url: Option<String>,
    pub size_bytes: i64,
    /// Uploads of this source so far; the latest is the one being (or last) ingested.
    pub version: i64,
    /// The version searches see; `None` until a first version is indexed.
    pub active_version: Option<i64>,
    pub stage: SourceStage,
    /// Percentage of the current ingestion, 0 to 100.
    pub progress: i64,
    pub error: Option<SourceError>,
    pub pages: Option<i64>,
    pub chunks: Option<i64>,
    pub job_id: Option<JobId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A source as it enters a knowledge base.
#[derive(Debug, Clone)]
pub struct NewSource {
    pub name: String,
    pub kind: Option<String>,
    pub url: Option<String>,
    /// The file's bytes (web sources are fetched by the job).
    pub bytes: Option<Vec<u8>>,
}

/// What an ingestion job is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct IngestOrder {
    pub source_id: SourceId,
    pub agent_id: AgentId,
    pub version: i64,
    pub upload_id: Option<String>,
}

const SOURCE_COLUMNS: &str = "id, agent_id, name, kind, url, size_bytes, version, active_version, stage, progress, error_code, \
     error_message, pages, chunks, job_id, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct SourceRow {
    id: String,
    agent_id: String,
    name: String,
    kind: Option<String>,
    url: Option<String>,
    size_bytes: i64,
    version: i64,
    active_version: Option<i64>,
    stage: String,
    progress: i32,
    error_code: Option<String>,
    error_message: Option<String>,
    pages: Option<i64>,
    chunks: Option<i64>,
    job_id: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<SourceRow> for KnowledgeSource {
    type Error = StoreError;
    fn try_from(r: SourceRow) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("source id"))?,
            agent_id: r.agent_id.parse().map_err(corrupt("agent id"))?,
            name: r.name,
            kind: r.kind,
            url: r.url,
            size_bytes: r.size_bytes,
            version: r.version,
            active_version: r.active_version,
            stage: SourceStage::parse(&r.stage)?,
            progress: r.progress.into(),
            error: r.error_code.map(|code| SourceError { code, message: r.error_message.unwrap_or_default() }),
            pages: r.pages,
            chunks: r.chunks,
            job_id: r.job_id.map(|j| j.parse()).transpose().map_err(corrupt("job id"))?,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        })
    }
}

type ActiveVersion = (Option<i64>,);
type ReconcileRow = (String, Option<i64>, Option<i64>);

/// Job kind of an ingestion; payload: an [`IngestOrder`].
pub const INGEST_JOB: &str = "knowledge.ingest";
/// Attempts before an ingestion is given up (a crash mid-job is one attempt).
const INGEST_ATTEMPTS: i64 = 3;

impl Store {
    pub async fn create_agent(&self, ws: WorkspaceId, name: &str) -> Result<Agent> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "an agent needs a name of 1 to 200 characters"));
        }
        let now = Timestamp::now();
        let agent = Agent { id: AgentId::new(), name: name.into(), created_at: now, updated_at: now };
        let mut sql = self.sql("INSERT INTO agents (id, workspace_id, name, created_at, updated_at) VALUES (");
        sql.bind(agent.id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(agent.name.clone());
        sql.push(", ").bind(now.millis()).push(", ").bind(now.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(agent)
    }

    async fn query_agents(&self, ws: WorkspaceId, id: Option<AgentId>) -> Result<Vec<Agent>> {
        let mut sql = self.sql("SELECT id, name, created_at, updated_at FROM agents WHERE workspace_id = ");
        sql.bind(ws.to_string());
        if let Some(id) = id {
            sql.push(" AND id = ").bind(id.to_string());
        }
        sql.push(" ORDER BY created_at, id");
        run!(sql, as (String, String, i64, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, name, created, updated)| {
                Ok(Agent {
                    id: id.parse().map_err(corrupt("agent id"))?,
                    name,
                    created_at: Timestamp::from_millis(created),
                    updated_at: Timestamp::from_millis(updated),
                })
            })
            .collect()
    }

    pub async fn list_agents(&self, ws: WorkspaceId) -> Result<Vec<Agent>> {
        self.query_agents(ws, None).await
    }

    pub async fn get_agent(&self, ws: WorkspaceId, id: AgentId) -> Result<Agent> {
        self.query_agents(ws, Some(id)).await?.pop().ok_or(StoreError::NotFound("agent"))
    }

    /// Deletes an agent and its sources' rows; the caller removes their vectors first
    /// ([`Store::hide_sources_of_agent`] makes them invisible before that).
    pub async fn delete_agent(&self, ws: WorkspaceId, id: AgentId) -> Result<()> {
        self.delete_scoped("agents", ws, &id.to_string(), "agent").await
    }

    /// Adds a source to an agent's knowledge base (or a new version of `replace`), with its
    /// ingestion job, in one transaction. `check` sees the sizes of the agent's other live
    /// sources and refuses what would break the knowledge base's limits; the agent row is locked
    /// first, so two concurrent uploads cannot both pass it.
    pub async fn add_source(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        replace: Option<SourceId>,
        new: NewSource,
        check: impl FnOnce(&[u64]) -> Result<()>,
    ) -> Result<KnowledgeSource> {
        let name = new.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 500 {
            return Err(StoreError::invalid("name", "invalid_name", "a source needs a name of 1 to 500 characters"));
        }
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut lock = self.sql("UPDATE agents SET updated_at = ");
        lock.bind(now).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(agent.to_string());
        if run!(lock, execute(&mut *tx))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("agent"));
        }
        let mut sizes = self.sql("SELECT id, size_bytes FROM knowledge_sources WHERE deleted_at IS NULL AND workspace_id = ");
        sizes.bind(ws.to_string()).push(" AND agent_id = ").bind(agent.to_string());
        let others: Vec<(String, i64)> = run!(sizes, as (String, i64), fetch_all(&mut *tx))?;
        let replaced = replace.map(|r| r.to_string());
        if replaced.as_ref().is_some_and(|r| !others.iter().any(|(id, _)| id == r)) {
            return Err(StoreError::NotFound("source"));
        }
        let sizes: Vec<u64> = others.iter().filter(|(id, _)| Some(id) != replaced.as_ref()).map(|(_, s)| *s as u64).collect();
        check(&sizes)?;
        let size = new.bytes.as_ref().map_or(0, |b| b.len() as i64);
        let upload = match new.bytes {
            Some(bytes) => Some(self.insert_upload(&mut *tx, ws, &name, bytes).await?),
            None => None,
        };
        let (id, version) = match replace {
            Some(id) => {
                let mut bump = self.sql("UPDATE knowledge_sources SET version = version + 1, stage = 'queued', progress = 0");
                bump.push(", error_code = NULL, error_message = NULL, name = ").bind(name.clone());
                bump.push(", kind = ").bind(new.kind.clone()).push(", url = ").bind(new.url.clone());
                bump.push(", size_bytes = ").bind(size).push(", updated_at = ").bind(now);
                bump.push(" WHERE id = ").bind(id.to_string()).push(" RETURNING version");
                let (version,): (i64,) = run!(bump, as (i64,), fetch_one(&mut *tx))?;
                (id, version)
            }
            None => {
                let id = SourceId::new();
                let mut insert = self.sql(
                    "INSERT INTO knowledge_sources (id, workspace_id, agent_id, name, kind, url, size_bytes, version, stage, progress, \
                     created_at, updated_at) VALUES (",
                );
                insert.bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(agent.to_string()).push(", ");
                insert.bind(name).push(", ").bind(new.kind).push(", ").bind(new.url).push(", ").bind(size);
                insert.push(", 1, 'queued', 0, ").bind(now).push(", ").bind(now).push(")");
                run!(insert, execute(&mut *tx))?;
                (id, 1)
            }
        };
        let order = IngestOrder { source_id: id, agent_id: agent, version, upload_id: upload };
        let payload = serde_json::to_value(&order).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let job = self.insert_job(&mut *tx, ws, INGEST_JOB, &payload, INGEST_ATTEMPTS).await?;
        let mut link = self.sql("UPDATE knowledge_sources SET job_id = ");
        link.bind(job.to_string()).push(" WHERE id = ").bind(id.to_string());
        run!(link, execute(&mut *tx))?;
        tx.commit().await?;
        self.get_source(ws, agent, id).await
    }

    async fn query_sources(&self, ws: WorkspaceId, agent: AgentId, id: Option<SourceId>) -> Result<Vec<KnowledgeSource>> {
        let mut sql = self.sql(&format!("SELECT {SOURCE_COLUMNS} FROM knowledge_sources WHERE deleted_at IS NULL AND workspace_id = "));
        sql.bind(ws.to_string()).push(" AND agent_id = ").bind(agent.to_string());
        if let Some(id) = id {
            sql.push(" AND id = ").bind(id.to_string());
        }
        sql.push(" ORDER BY created_at, id");
        run!(sql, as SourceRow, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn list_sources(&self, ws: WorkspaceId, agent: AgentId) -> Result<Vec<KnowledgeSource>> {
        self.query_sources(ws, agent, None).await
    }

    pub async fn get_source(&self, ws: WorkspaceId, agent: AgentId, id: SourceId) -> Result<KnowledgeSource> {
        self.query_sources(ws, agent, Some(id)).await?.pop().ok_or(StoreError::NotFound("source"))
    }

    /// Records where the ingestion of `version` stands; a newer upload or a deletion makes the
    /// call a no-op (returns `false`), so an outdated job cannot overwrite its successor's state.
    pub async fn set_source_stage(
        &self,
        ws: WorkspaceId,
        id: SourceId,
        version: i64,
        stage: SourceStage,
        progress: i64,
        error: Option<&SourceError>,
    ) -> Result<bool> {
        let mut sql = self.sql("UPDATE knowledge_sources SET stage = ");
        sql.bind(stage.as_str()).push(", progress = ").bind(progress.clamp(0, 100) as i32);
        sql.push(", error_code = ").bind(error.map(|e| e.code.clone())).push(", error_message = ").bind(error.map(|e| e.message.clone()));
        sql.push(", updated_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        sql.push(" AND version = ").bind(version).push(" AND deleted_at IS NULL");
        Ok(run!(sql, execute(&*self.writes().await?))?.rows_affected() == 1)
    }

    /// What parsing learnt about the file (its type, size and pages).
    pub async fn set_source_facts(
        &self,
        ws: WorkspaceId,
        id: SourceId,
        version: i64,
        kind: &str,
        size_bytes: i64,
        pages: Option<i64>,
    ) -> Result<()> {
        let mut sql = self.sql("UPDATE knowledge_sources SET kind = ");
        sql.bind(kind.to_string()).push(", size_bytes = ").bind(size_bytes).push(", pages = ").bind(pages);
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        sql.push(" AND version = ").bind(version);
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Makes `version` the one searches see, if it is newer than the active one and the source
    /// still exists. Returns the active version afterwards (`None`: the source was deleted).
    pub async fn activate_source_version(&self, ws: WorkspaceId, id: SourceId, version: i64, chunks: i64) -> Result<Option<i64>> {
        let now = Timestamp::now().millis();
        let mut sql = self.sql("UPDATE knowledge_sources SET active_version = ");
        sql.bind(version).push(", chunks = ").bind(chunks).push(", updated_at = ").bind(now);
        sql.push(", stage = CASE WHEN version = ").bind(version).push(" THEN 'done' ELSE stage END");
        sql.push(", progress = CASE WHEN version = ").bind(version).push(" THEN 100 ELSE progress END");
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        sql.push(" AND deleted_at IS NULL AND (active_version IS NULL OR active_version < ").bind(version).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        let mut read = self.sql("SELECT active_version FROM knowledge_sources WHERE deleted_at IS NULL AND workspace_id = ");
        read.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        Ok(run!(read, as ActiveVersion, fetch_optional(&self.pool))?.and_then(|(v,)| v))
    }

    /// The sources a search of `agent` may see, with their active versions.
    pub async fn active_sources(&self, ws: WorkspaceId, agent: AgentId) -> Result<Vec<(SourceId, i64)>> {
        let mut sql = self.sql("SELECT id, active_version FROM knowledge_sources WHERE deleted_at IS NULL AND active_version IS NOT NULL");
        sql.push(" AND workspace_id = ").bind(ws.to_string()).push(" AND agent_id = ").bind(agent.to_string());
        run!(sql, as (String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, v)| Ok((id.parse().map_err(corrupt("source id"))?, v)))
            .collect()
    }

    /// Hides a source from searches at once; its row goes with [`Store::purge_source`] once its
    /// vectors are deleted.
    pub async fn hide_source(&self, ws: WorkspaceId, agent: AgentId, id: SourceId) -> Result<()> {
        let mut sql = self.sql("UPDATE knowledge_sources SET deleted_at = ");
        sql.bind(Timestamp::now().millis()).push(" WHERE deleted_at IS NULL AND workspace_id = ").bind(ws.to_string());
        sql.push(" AND agent_id = ").bind(agent.to_string()).push(" AND id = ").bind(id.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("source"));
        }
        Ok(())
    }

    /// Hides every source of an agent (before the agent is deleted); returns their ids.
    pub async fn hide_sources_of_agent(&self, ws: WorkspaceId, agent: AgentId) -> Result<Vec<SourceId>> {
        let ids: Vec<SourceId> = self.list_sources(ws, agent).await?.into_iter().map(|s| s.id).collect();
        for id in &ids {
            self.hide_source(ws, agent, *id).await?;
        }
        Ok(ids)
    }

    pub async fn purge_source(&self, id: SourceId) -> Result<()> {
        let mut sql = self.sql("DELETE FROM knowledge_sources WHERE deleted_at IS NOT NULL AND id = ");
        sql.bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// For recovery after a crash: every hidden source still waiting for its vectors to go, and
    /// every live source with its active version (older versions' vectors may remain).
    pub async fn sources_to_reconcile(&self) -> Result<(Vec<SourceId>, Vec<(SourceId, i64)>)> {
        let sql = self.sql("SELECT id, active_version, deleted_at FROM knowledge_sources");
        let rows: Vec<ReconcileRow> = run!(sql, as ReconcileRow, fetch_all(&self.pool))?;
        let (mut hidden, mut live) = (Vec::new(), Vec::new());
        for (id, active, deleted) in rows {
            let id: SourceId = id.parse().map_err(corrupt("source id"))?;
            match (deleted, active) {
                (Some(_), _) => hidden.push(id),
                (None, Some(v)) => live.push((id, v)),
                (None, None) => {}
            }
        }
        Ok((hidden, live))
    }

    /// Sources whose ingestion job ended (failed, or dead after its last attempt) without the
    /// source saying so: marked failed with the job's error.
    pub async fn fail_orphaned_sources(&self) -> Result<u64> {
        let mut sql = self.sql(
            "UPDATE knowledge_sources SET stage = 'failed', error_code = 'ingestion_failed', error_message = \
             (SELECT COALESCE(j.last_error, 'the ingestion stopped') FROM jobs j WHERE j.id = knowledge_sources.job_id), updated_at = ",
        );
        sql.bind(Timestamp::now().millis());
        sql.push(
            " WHERE stage NOT IN ('done', 'failed') AND deleted_at IS NULL AND EXISTS (SELECT 1 FROM jobs j WHERE j.id = \
             knowledge_sources.job_id AND j.status IN ('failed', 'dead'))",
        );
        Ok(run!(sql, execute(&*self.writes().await?))?.rows_affected())
    }

    /// The ingestion order of a job's payload.
    pub fn ingest_order(payload: &Value) -> Result<IngestOrder> {
        serde_json::from_value(payload.clone()).map_err(corrupt("ingestion job payload"))
    }
}
