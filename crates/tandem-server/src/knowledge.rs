//! The knowledge-base service of a running Tandem: the vector index, the embedding model, the
//! isolated parser and the limits, opened once from configuration and shared by the HTTP
//! handlers, the ingestion worker and the CLI.

use std::{path::PathBuf, sync::Arc, time::Duration};

use tandem_core::{config::KnowledgeConfig, AgentId, WorkspaceId};
use tandem_knowledge::{
    accept::Limits,
    embed::{Embedder, EmbedderConfig, ModelFamily},
    fetch::FetchPolicy,
    index::{ActiveSource, ChunkRecord, Hit, KnowledgeIndex, RemoteConfig},
    lexical,
    parse::isolate::Isolation,
    KnowledgeError,
};
use tandem_store::Store;

#[derive(Debug, thiserror::Error)]
pub enum KnowledgeFailure {
    /// The embedding model cannot be used; knowledge bases are read-only until it can.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Knowledge(#[from] KnowledgeError),
    #[error(transparent)]
    Store(#[from] tandem_store::StoreError),
}

pub struct Knowledge {
    pub index: Arc<KnowledgeIndex>,
    embedder: Result<Arc<Embedder>, String>,
    pub isolation: Isolation,
    pub limits: Limits,
    pub fetch: FetchPolicy,
    /// Where sources are written for the parser child to read.
    pub scratch: PathBuf,
}

impl Knowledge {
    /// Opens the index (fails: the data directory is unusable) and loads the embedding model (a
    /// failure is kept and reported by every call that needs it, so the rest of Tandem runs).
    pub fn open(config: &KnowledgeConfig) -> Result<Self, KnowledgeFailure> {
        let index = Arc::new(match &config.qdrant_url {
            Some(url) => KnowledgeIndex::connect(&RemoteConfig {
                url: url.clone(),
                api_key: config.qdrant_api_key.clone(),
                collection: config.qdrant_collection.clone(),
                timeout: Duration::from_secs(config.qdrant_timeout_seconds.max(1)),
            })?,
            None => KnowledgeIndex::open(&config.data_dir.join("index"))?,
        });
        tracing::info!(index = index.kind(), "knowledge index ready");
        let scratch = config.data_dir.join("scratch");
        std::fs::create_dir_all(&scratch).map_err(|e| KnowledgeError::Index(format!("{}: {e}", scratch.display())))?;
        let embedder = embedder_config(config).and_then(|c| shared_embedder(&c)).map_err(|e| e.to_string());
        if let Err(e) = &embedder {
            tracing::warn!(error = %e, "knowledge bases are unavailable until the embedding model loads");
        }
        let timeout = Duration::from_secs(config.parse_timeout_seconds.max(1));
        let memory = config.parse_memory_mb.max(64) * 1024 * 1024;
        let isolation = match &config.parser_program {
            Some(program) => Isolation { program: program.clone(), args: vec!["parse-worker".into()], timeout, memory_bytes: memory },
            None => Isolation::current_exe(timeout, memory).map_err(|e| KnowledgeError::Index(format!("cannot find this program: {e}")))?,
        };
        let limits = Limits { max_sources: config.max_sources, max_total_bytes: config.max_total_bytes, max_pages: config.max_pages };
        let fetch = FetchPolicy {
            max_bytes: config.max_total_bytes,
            timeout: Duration::from_secs(config.fetch_timeout_seconds.max(1)),
            max_redirects: 5,
            allow_private: config.allow_private_urls,
        };
        Ok(Self { index, embedder, isolation, limits, fetch, scratch })
    }

    pub fn embedder(&self) -> Result<Arc<Embedder>, KnowledgeFailure> {
        self.embedder.clone().map_err(KnowledgeFailure::Unavailable)
    }

    /// The best `limit` chunks of an agent's knowledge base for `query` (only active versions),
    /// corrections from people's feedback first among them.
    pub async fn search(
        &self,
        store: &Store,
        ws: WorkspaceId,
        agent: AgentId,
        query: &str,
        limit: usize,
    ) -> Result<Vec<Hit>, KnowledgeFailure> {
        let embedder = self.embedder()?;
        let mut active: Vec<ActiveSource> = store
            .active_sources(ws, agent)
            .await?
            .into_iter()
            .map(|(id, version)| ActiveSource { source_id: id.to_string(), version })
            .collect();
        active.push(ActiveSource { source_id: corrections_source(agent), version: CORRECTIONS_VERSION });
        let (index, query) = (self.index.clone(), query.to_string());
        let mut hits = tokio::task::spawn_blocking(move || {
            let dense = embedder.embed_query(&query)?;
            index.search(&ws.to_string(), &agent.to_string(), &active, dense, &lexical::query_vector(&query), limit)
        })
        .await
        .map_err(|e| KnowledgeError::Index(format!("search task failed: {e}")))??;
        let corrections = corrections_source(agent);
        hits.sort_by_key(|h| h.record.source_id != corrections);
        Ok(hits)
    }

    /// Teaches an agent what it should have answered: the question and the correction become one
    /// passage of its knowledge base (replacing an earlier correction of the same answer).
    pub async fn add_correction(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        answer_id: &str,
        question: &str,
        correction: &str,
    ) -> Result<(), KnowledgeFailure> {
        let embedder = self.embedder()?;
        let text = format!("Question: {question}\nAnswer: {correction}");
        let record = ChunkRecord {
            workspace_id: ws.to_string(),
            agent_id: agent.to_string(),
            source_id: corrections_source(agent),
            source_name: CORRECTIONS_NAME.into(),
            version: CORRECTIONS_VERSION,
            chunk: answer_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)) as usize,
            location: Some(format!("answer {answer_id}")),
            text,
        };
        let index = self.index.clone();
        tokio::task::spawn_blocking(move || {
            let dense = embedder.embed_passages(std::slice::from_ref(&record.text))?.remove(0);
            let sparse = lexical::passage_vector(&record.text);
            index.upsert(vec![(record, dense, sparse)])?;
            index.flush()
        })
        .await
        .map_err(|e| KnowledgeError::Index(format!("correction task failed: {e}")))??;
        Ok(())
    }

    /// After a crash: removes the vectors of deleted sources and of versions no longer active,
    /// and marks sources whose ingestion job gave up as failed. The store is the truth.
    pub async fn reconcile(&self, store: &Store) -> Result<(), KnowledgeFailure> {
        let failed = store.fail_orphaned_sources().await?;
        let (hidden, live) = store.sources_to_reconcile().await?;
        for id in &hidden {
            self.index.delete_source(&id.to_string(), None)?;
            store.purge_source(*id).await?;
        }
        for (id, active) in &live {
            self.index.delete_versions_below(&id.to_string(), *active)?;
        }
        self.index.flush()?;
        tracing::info!(purged = hidden.len(), checked = live.len(), failed, "knowledge index reconciled with the store");
        Ok(())
    }
}

/// Corrections live in the index as one always-active pseudo-source per agent.
const CORRECTIONS_VERSION: i64 = 1;
pub const CORRECTIONS_NAME: &str = "Corrections from feedback";

pub fn corrections_source(agent: AgentId) -> String {
    format!("corrections-{agent}")
}

/// One loaded model per model directory in the process (the CLI and tests open several services).
fn shared_embedder(config: &EmbedderConfig) -> Result<Arc<Embedder>, KnowledgeError> {
    static LOADED: std::sync::Mutex<Vec<(PathBuf, Arc<Embedder>)>> = std::sync::Mutex::new(Vec::new());
    let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, e)) = loaded.iter().find(|(dir, _)| *dir == config.model_dir) {
        return Ok(e.clone());
    }
    let embedder = Arc::new(Embedder::load(config)?);
    loaded.push((config.model_dir.clone(), embedder.clone()));
    Ok(embedder)
}

fn embedder_config(config: &KnowledgeConfig) -> Result<EmbedderConfig, KnowledgeError> {
    let (family, env) = match config.model.as_str() {
        "e5" => (ModelFamily::E5, "TANDEM_E5_DIR"),
        "minilm" => (ModelFamily::MiniLm, "TANDEM_MINILM_DIR"),
        other => return Err(KnowledgeError::ModelUnavailable(format!("unknown embedding model `{other}` (e5 or minilm)"))),
    };
    let from_env = |name: &str| {
        std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
            KnowledgeError::ModelUnavailable(format!("{name} is not set and no path is configured: run scripts/models/fetch"))
        })
    };
    let model_dir = match &config.model_dir {
        Some(dir) => dir.clone(),
        None => from_env(env)?,
    };
    let onnxruntime = match &config.onnxruntime {
        Some(lib) => lib.clone(),
        None => from_env("ORT_DYLIB_PATH")?,
    };
    Ok(EmbedderConfig { model_dir, family, onnxruntime })
}
