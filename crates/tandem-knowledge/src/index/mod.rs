//! The vector index: a dense vector (embeddings) and a sparse one (lexical terms, IDF applied by
//! Qdrant) per chunk, in the Qdrant engine. Two backends behave the same:
//!
//! - [`edge`]: Qdrant's engine embedded in-process (qdrant-edge), on disk: the default;
//! - [`remote`]: a Qdrant server or cluster over gRPC (qdrant-client), for deployments that run
//!   several Tandem replicas against one index.
//!
//! Both only answer two plain questions: the nearest points to one vector within a filter, and
//! the records of some points. Everything else — which versions a search may see, the fusion of
//! the two rankings, the passage kept by meaning — is decided here, once, so that the two
//! backends cannot drift apart.
//!
//! Versions make source updates atomic: a new version of a source is indexed beside the old one,
//! and searches only see the versions the caller names as active (the store holds which one is).
//! Flipping the active version in the store switches every search at once; the old version's points
//! are deleted afterwards. At no moment does a search see both versions, or neither.

mod edge;
mod fusion;
mod remote;

use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::{lexical::SparseVector, KnowledgeError};

pub use remote::RemoteConfig;

pub(crate) const DENSE: &str = "dense";
pub(crate) const LEXICAL: &str = "lexical";
/// The payload field searches filter on: `{source_id}@{version}`, one keyword per source version.
pub(crate) const SOURCE_VERSION: &str = "source_version";
/// The payload fields searches and deletions filter on, each with a payload index.
pub(crate) const INDEXED_FIELDS: [(&str, FieldKind); 5] = [
    ("workspace_id", FieldKind::Keyword),
    ("agent_id", FieldKind::Keyword),
    ("source_id", FieldKind::Keyword),
    ("version", FieldKind::Integer),
    (SOURCE_VERSION, FieldKind::Keyword),
];

/// What is stored with each chunk.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkRecord {
    pub workspace_id: String,
    pub agent_id: String,
    pub source_id: String,
    pub source_name: String,
    pub version: i64,
    /// Position of the chunk in its source.
    pub chunk: usize,
    /// Page (`p. 3`), sheet and row (`Prices!12`), or section, when the source has them.
    pub location: Option<String>,
    pub text: String,
}

/// A search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub record: ChunkRecord,
    /// Fused rank score (higher is better; comparable within one search only).
    pub score: f32,
    /// Cosine similarity of the query and the chunk by meaning (-1 to 1), when the chunk was
    /// among the nearest by meaning: unlike the fused score, it says how close the best passage
    /// is, so that an agent can tell a question its knowledge does not cover.
    pub similarity: Option<f32>,
}

/// The source versions a search may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSource {
    pub source_id: String,
    pub version: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Keyword,
    Integer,
}

/// The chunks one search may see: one agent of one workspace, active source versions only.
///
/// Source ids are unique across workspaces and agents (the store's), so the active versions alone
/// select the agent's chunks: one indexed condition per point is what keeps a search within a few
/// milliseconds at 100,000 chunks (adding the workspace and the agent doubled the time). The
/// workspace and agent of every hit are checked again before it is returned.
pub(crate) struct Scope<'a> {
    pub workspace_id: &'a str,
    pub agent_id: &'a str,
    pub active: &'a [ActiveSource],
}

impl Scope<'_> {
    /// The `source_version` keywords of the active versions.
    pub fn source_versions(&self) -> Vec<String> {
        self.active.iter().map(|a| source_version(&a.source_id, a.version)).collect()
    }
}

pub(crate) fn source_version(source_id: &str, version: i64) -> String {
    format!("{source_id}@{version}")
}

/// The stored payload of a chunk: its record, and the keyword searches filter on.
pub(crate) fn payload_of(record: &ChunkRecord) -> Result<serde_json::Value, KnowledgeError> {
    let mut payload = serde_json::to_value(record).map_err(|e| KnowledgeError::Index(e.to_string()))?;
    if let Some(map) = payload.as_object_mut() {
        map.insert(SOURCE_VERSION.into(), source_version(&record.source_id, record.version).into());
    }
    Ok(payload)
}

/// The points of a source a deletion removes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Doomed<'a> {
    /// Every version except `keep` (all of them when `None`).
    AllBut { source_id: &'a str, keep: Option<i64> },
    /// The versions older than `version`.
    Below { source_id: &'a str, version: i64 },
}

/// A query vector, with the named vector it is compared with.
pub(crate) enum Probe<'a> {
    Dense(&'a [f32]),
    Lexical(&'a SparseVector),
}

/// A chunk ready to be stored: its point id, record and vectors.
pub(crate) struct Point {
    pub id: u64,
    pub record: ChunkRecord,
    pub dense: Vec<f32>,
    pub lexical: SparseVector,
}

/// A stable point id for (source, version, chunk), so re-indexing the same chunk overwrites it
/// (64-bit FNV-1a of the three).
fn point_id(source_id: &str, version: i64, chunk: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{source_id}/{version}/{chunk}").bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

enum Backend {
    Edge(edge::EdgeIndex),
    Remote(remote::RemoteIndex),
}

pub struct KnowledgeIndex {
    backend: Backend,
}

impl KnowledgeIndex {
    /// Opens the embedded index in `dir`, creating it (and its payload indexes) when new.
    pub fn open(dir: &Path) -> Result<Self, KnowledgeError> {
        Ok(Self { backend: Backend::Edge(edge::EdgeIndex::open(dir)?) })
    }

    /// Connects to a Qdrant server, creating the collection (and its payload indexes) when it
    /// does not exist yet, and checking it has the vectors this index needs when it does.
    pub fn connect(config: &RemoteConfig) -> Result<Self, KnowledgeError> {
        Ok(Self { backend: Backend::Remote(remote::RemoteIndex::connect(config)?) })
    }

    /// `embedded` or `qdrant`, for logs and health reports.
    pub fn kind(&self) -> &'static str {
        match &self.backend {
            Backend::Edge(_) => "embedded",
            Backend::Remote(_) => "qdrant",
        }
    }

    /// Adds (or replaces) chunks with their dense and lexical vectors.
    pub fn upsert(&self, chunks: Vec<(ChunkRecord, Vec<f32>, SparseVector)>) -> Result<(), KnowledgeError> {
        if chunks.is_empty() {
            return Ok(());
        }
        let points = chunks
            .into_iter()
            .map(|(record, dense, lexical)| Point { id: point_id(&record.source_id, record.version, record.chunk), record, dense, lexical })
            .collect();
        match &self.backend {
            Backend::Edge(b) => b.upsert(points),
            Backend::Remote(b) => b.upsert(points),
        }
    }

    fn delete(&self, doomed: Doomed<'_>) -> Result<(), KnowledgeError> {
        match &self.backend {
            Backend::Edge(b) => b.delete(doomed),
            Backend::Remote(b) => b.delete(doomed),
        }
    }

    /// Deletes every version of a source except `keep` (all of them when `None`).
    pub fn delete_source(&self, source_id: &str, keep: Option<i64>) -> Result<(), KnowledgeError> {
        self.delete(Doomed::AllBut { source_id, keep })
    }

    /// Deletes the versions of a source older than `version` (a newer one, being indexed at the
    /// same moment, is left alone).
    pub fn delete_versions_below(&self, source_id: &str, version: i64) -> Result<(), KnowledgeError> {
        self.delete(Doomed::Below { source_id, version })
    }

    /// Builds the HNSW graph and compacts segments; call after large ingestions. A Qdrant server
    /// optimises on its own.
    pub fn optimize(&self) -> Result<(), KnowledgeError> {
        match &self.backend {
            Backend::Edge(b) => b.optimize(),
            Backend::Remote(_) => Ok(()),
        }
    }

    /// Makes everything written so far durable (a Qdrant server's writes already are: they are
    /// acknowledged once in its write-ahead log).
    pub fn flush(&self) -> Result<(), KnowledgeError> {
        match &self.backend {
            Backend::Edge(b) => b.flush(),
            Backend::Remote(_) => Ok(()),
        }
    }

    fn nearest(&self, probe: Probe<'_>, scope: &Scope<'_>, limit: usize) -> Result<Vec<(u64, f32)>, KnowledgeError> {
        match &self.backend {
            Backend::Edge(b) => b.nearest(probe, scope, limit),
            Backend::Remote(b) => b.nearest(probe, scope, limit),
        }
    }

    /// The best `limit` chunks of one agent's active sources for a query, dense and lexical
    /// rankings fused by reciprocal rank.
    pub fn search(
        &self,
        workspace_id: &str,
        agent_id: &str,
        active: &[ActiveSource],
        dense: Vec<f32>,
        lexical: &SparseVector,
        limit: usize,
    ) -> Result<Vec<Hit>, KnowledgeError> {
        if active.is_empty() || limit == 0 {
            return Ok(vec![]);
        }
        let scope = Scope { workspace_id, agent_id, active };
        let candidates = fusion::candidates(limit);
        // The two rankings are independent: on the two cores at once, a search costs the slower
        // of the two queries instead of their sum.
        // A thread that cannot be started (the process is out of threads) runs inline instead.
        let (by_meaning, by_terms) = std::thread::scope(|threads| {
            let by_terms = (!lexical.indices.is_empty())
                .then(|| std::thread::Builder::new().spawn_scoped(threads, || self.nearest(Probe::Lexical(lexical), &scope, candidates)));
            let by_meaning = self.nearest(Probe::Dense(&dense), &scope, candidates);
            let by_terms = match by_terms {
                None => Ok(vec![]),
                Some(Ok(handle)) => handle.join().unwrap_or_else(|_| Err(KnowledgeError::Index("the lexical query panicked".into()))),
                Some(Err(_)) => self.nearest(Probe::Lexical(lexical), &scope, candidates),
            };
            (by_meaning, by_terms)
        });
        let (by_meaning, by_terms) = (by_meaning?, by_terms?);
        let ranked = fusion::fuse(&by_meaning, &by_terms, limit);
        let ids: Vec<u64> = ranked.iter().map(|(id, _)| *id).collect();
        let mut records = match &self.backend {
            Backend::Edge(b) => b.records(&ids)?,
            Backend::Remote(b) => b.records(&ids)?,
        };
        ranked
            .into_iter()
            .filter_map(|(id, score)| {
                // A point deleted between the two calls (its source replaced) is left out.
                let at = records.iter().position(|(rid, _)| *rid == id)?;
                let (_, record) = records.swap_remove(at);
                let similarity = by_meaning.iter().find(|(dense_id, _)| *dense_id == id).map(|(_, s)| *s);
                Some(Hit { record, score, similarity })
            })
            .filter(|hit| hit.record.workspace_id == workspace_id && hit.record.agent_id == agent_id)
            .map(Ok)
            .collect()
    }
}

/// Reads a stored payload back into its record.
pub(crate) fn record_from_json(value: serde_json::Value) -> Result<ChunkRecord, KnowledgeError> {
    serde_json::from_value(value).map_err(|e| KnowledgeError::Index(format!("unreadable payload: {e}")))
}
