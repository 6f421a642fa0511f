//! One ingestion: a source version goes fetch → parse (isolated) → chunk → embed → index, then
//! becomes the version searches see, and older versions' vectors are deleted. Every stage is
//! written to the source row with a percentage. Re-running a version (after a crash) redoes it
//! from the start and overwrites the same points, so an interrupted job simply runs again.

use std::sync::Arc;

use serde_json::json;
use tandem_core::WorkspaceId;
use tandem_knowledge::{
    accept,
    chunk::{self, Piece},
    fetch,
    index::ChunkRecord,
    lexical,
    parse::{isolate::parse_isolated, Document, ParseError},
    KnowledgeError,
};
use tandem_store::{
    knowledge::{IngestOrder, SourceError, SourceStage},
    Store, StoreError,
};

use crate::knowledge::{Knowledge, KnowledgeFailure};

/// How an ingestion ended badly.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The source cannot be ingested as it is (recorded on the source; no retry helps).
    #[error("{}: {}", .0.code, .0.message)]
    Refused(SourceError),
    /// Something that may pass on a retry (database, index, model).
    #[error(transparent)]
    Transient(#[from] KnowledgeFailure),
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        Self::Transient(e.into())
    }
}

impl From<KnowledgeError> for IngestError {
    fn from(e: KnowledgeError) -> Self {
        Self::Transient(e.into())
    }
}

fn refusal(code: &str, message: impl Into<String>) -> IngestError {
    IngestError::Refused(SourceError { code: code.into(), message: message.into() })
}

impl From<ParseError> for IngestError {
    fn from(e: ParseError) -> Self {
        refusal(e.code(), e.to_string())
    }
}

/// How long the points of a replaced version outlive the switch (searches take milliseconds).
const OLD_VERSION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Chunks embedded per step (a progress update each).
const EMBED_STEP: usize = 32;

/// Ingests one source version; `progress` hears every stage change (and may renew a job lease).
/// A refusal is recorded on the source before it is returned.
pub async fn ingest(
    store: &Store,
    knowledge: &Knowledge,
    ws: WorkspaceId,
    order: &IngestOrder,
    progress: &(dyn Fn(SourceStage, i64) + Send + Sync),
) -> Result<serde_json::Value, IngestError> {
    let outcome = run(store, knowledge, ws, order, progress).await;
    if let Err(IngestError::Refused(e)) = &outcome {
        store.set_source_stage(ws, order.source_id, order.version, SourceStage::Failed, 0, Some(e)).await?;
        progress(SourceStage::Failed, 0);
        tracing::info!(source = %order.source_id, code = %e.code, "source refused: {}", e.message);
    }
    if let Some(upload) = &order.upload_id {
        if !matches!(outcome, Err(IngestError::Transient(_))) {
            store.delete_upload(ws, upload).await?;
        }
    }
    outcome
}

async fn run(
    store: &Store,
    knowledge: &Knowledge,
    ws: WorkspaceId,
    order: &IngestOrder,
    progress: &(dyn Fn(SourceStage, i64) + Send + Sync),
) -> Result<serde_json::Value, IngestError> {
    let stage = |s: SourceStage, pct: i64| async move {
        let current = store.set_source_stage(ws, order.source_id, order.version, s, pct, None).await?;
        progress(s, pct);
        Ok::<bool, IngestError>(current)
    };
    let embedder = knowledge.embedder()?;
    let source = match store.get_source(ws, order.agent_id, order.source_id).await {
        Ok(s) => s,
        Err(StoreError::NotFound(_)) => return Ok(json!({"skipped": "the source was deleted"})),
        Err(e) => return Err(e.into()),
    };
    if source.version != order.version {
        return Ok(json!({"skipped": "a newer version was uploaded"}));
    }

    // Bytes: the upload, or the page behind the URL (checked against the limits once its size is known).
    let (bytes, name) = match (&order.upload_id, &source.url) {
        (Some(upload), _) => (store.load_upload(ws, upload).await?.1, source.name.clone()),
        (None, Some(url)) => {
            stage(SourceStage::Fetching, 2).await?;
            let others: Vec<u64> =
                store.list_sources(ws, order.agent_id).await?.iter().filter(|s| s.id != source.id).map(|s| s.size_bytes as u64).collect();
            let mut policy = knowledge.fetch.clone();
            policy.max_bytes = knowledge.limits.max_total_bytes.saturating_sub(others.iter().sum());
            let page = fetch::fetch(url, &policy).await.map_err(|e| refusal(e.code(), e.to_string()))?;
            accept::check_limits(&others, page.bytes.len() as u64, &knowledge.limits).map_err(|r| refusal(r.code(), r.to_string()))?;
            (page.bytes, page.url)
        }
        (None, None) => return Err(StoreError::Corrupt("a source with neither file nor URL".into()).into()),
    };

    stage(SourceStage::Parsing, 5).await?;
    let document = parse(knowledge, order, &name, bytes.clone()).await?;
    store
        .set_source_facts(ws, order.source_id, order.version, document.kind.as_str(), bytes.len() as i64, document.pages.map(|p| p as i64))
        .await?;

    stage(SourceStage::Chunking, 20).await?;
    let pieces: Vec<Piece> = chunk::split_document(&document);
    if pieces.is_empty() {
        return Err(refusal("no_extractable_text", "no text was found in the source"));
    }

    stage(SourceStage::Embedding, 25).await?;
    let mut dense = Vec::with_capacity(pieces.len());
    for (i, step) in pieces.chunks(EMBED_STEP).enumerate() {
        let texts: Vec<String> = step.iter().map(|p| p.text.clone()).collect();
        let model = Arc::clone(&embedder);
        let vectors = tokio::task::spawn_blocking(move || model.embed_passages(&texts))
            .await
            .map_err(|e| KnowledgeError::Embedding(format!("embedding task failed: {e}")))??;
        dense.extend(vectors);
        let done = ((i + 1) * EMBED_STEP).min(pieces.len());
        if !stage(SourceStage::Embedding, 25 + (60 * done / pieces.len()) as i64).await? {
            return Ok(json!({"skipped": "the source changed while it was embedded"}));
        }
    }

    stage(SourceStage::Indexing, 88).await?;
    let (ws_id, agent_id, source_id) = (ws.to_string(), order.agent_id.to_string(), order.source_id.to_string());
    let points = pieces
        .iter()
        .zip(dense)
        .map(|(piece, vector)| {
            let record = ChunkRecord {
                workspace_id: ws_id.clone(),
                agent_id: agent_id.clone(),
                source_id: source_id.clone(),
                source_name: source.name.clone(),
                version: order.version,
                chunk: piece.number,
                location: piece.location.clone(),
                text: piece.text.clone(),
            };
            (record, vector, lexical::passage_vector(&piece.text))
        })
        .collect::<Vec<_>>();
    let index = knowledge.index.clone();
    let id = source_id.clone();
    tokio::task::spawn_blocking(move || {
        index.upsert(points)?;
        index.flush()
    })
    .await
    .map_err(|e| KnowledgeError::Index(format!("indexing task failed: {e}")))??;

    // The switch: one UPDATE in the store. Older versions' points go a little later: a search
    // that read the store just before the switch still finds the version it asked for (deleting
    // at once, it would find neither). A crash before then leaves them to `Knowledge::reconcile`.
    let active = store.activate_source_version(ws, order.source_id, order.version, pieces.len() as i64).await?;
    // Weak: a stopped server lets its index go (and its lock) without waiting for this.
    let index = Arc::downgrade(&knowledge.index);
    tokio::spawn(async move {
        tokio::time::sleep(OLD_VERSION_GRACE).await;
        let Some(index) = index.upgrade() else { return };
        let deleted = match active {
            Some(v) => index.delete_versions_below(&id, v),
            None => index.delete_source(&id, None),
        };
        if let Err(e) = deleted {
            tracing::warn!(source = %id, error = %e, "old versions stay until the next reconciliation");
        }
    });
    progress(SourceStage::Done, 100);
    tracing::info!(source = %order.source_id, version = order.version, chunks = pieces.len(), "source indexed");
    Ok(json!({"chunks": pieces.len(), "pages": document.pages, "kind": document.kind.as_str()}))
}

/// Parses in the isolated child, through a scratch file it can read.
async fn parse(knowledge: &Knowledge, order: &IngestOrder, name: &str, bytes: Vec<u8>) -> Result<Document, IngestError> {
    // Refuse by type before starting a process for it.
    accept::detect(&bytes, name).map_err(ParseError::from)?;
    let path = knowledge.scratch.join(format!("{}-{}", order.source_id, order.version));
    std::fs::write(&path, &bytes).map_err(|e| KnowledgeError::Index(format!("{}: {e}", path.display())))?;
    let (isolation, name, max_pages, file) = (knowledge.isolation.clone(), name.to_string(), knowledge.limits.max_pages, path.clone());
    let parsed = tokio::task::spawn_blocking(move || parse_isolated(&isolation, &file, &name, max_pages))
        .await
        .map_err(|e| KnowledgeError::Index(format!("parse task failed: {e}")));
    let _ = std::fs::remove_file(&path);
    Ok(parsed??)
}
