//! The vector index: Qdrant's engine embedded in-process (qdrant-edge), on disk, with a dense
//! vector (embeddings) and a sparse one (lexical terms, IDF applied by Qdrant) per chunk.
//!
//! Versions make source updates atomic: a new version of a source is indexed beside the old one,
//! and searches only see the versions the caller names as active (the store holds which one is).
//! Flipping the active version in the store switches every search at once; the old version's points
//! are deleted afterwards. At no moment does a search see both versions, or neither.

use ordered_float::OrderedFloat;
use qdrant_edge::{
    Condition, CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldCondition,
    FieldIndexOperations, Filter, Fusion, Match, Modifier, NamedQuery, PayloadFieldSchema, PayloadSchemaType, PointId,
    PointInsertOperations, PointOperations, PointStruct, PrefetchBuilder, QueryEnum, QueryRequestBuilder, Range, ScoringQuery,
    UpdateOperation, ValueVariants, Vector, VectorInternal, Vectors, WithPayloadInterface,
};
use serde::{Deserialize, Serialize};
use std::path::Path;

use crate::{lexical::SparseVector, KnowledgeError};

const DENSE: &str = "dense";
const LEXICAL: &str = "lexical";
/// RRF's k: 60 is the usual constant (Cormack et al.); ranks beyond ~60 barely count.
const RRF_K: usize = 60;
/// Nearest passages by meaning that every result list holds.
const DENSE_GUARANTEE: usize = 2;

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
}

/// The source versions a search may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSource {
    pub source_id: String,
    pub version: i64,
}

pub struct KnowledgeIndex {
    shard: EdgeShard,
}

fn keyword(field: &str, value: &str) -> Condition {
    Condition::Field(FieldCondition::new_match(
        field.try_into().expect("static field name"),
        Match::new_value(ValueVariants::String(value.to_string())),
    ))
}

fn integer(field: &str, value: i64) -> Condition {
    Condition::Field(FieldCondition::new_match(
        field.try_into().expect("static field name"),
        Match::new_value(ValueVariants::Integer(value)),
    ))
}

/// A stable point id for (source, version, chunk), so re-indexing the same chunk overwrites it
/// (64-bit FNV-1a of the three).
fn point_id(source_id: &str, version: i64, chunk: usize) -> PointId {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("{source_id}/{version}/{chunk}").bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    PointId::NumId(h)
}

impl KnowledgeIndex {
    /// Opens the index in `dir`, creating it (and its payload indexes) when new.
    pub fn open(dir: &Path) -> Result<Self, KnowledgeError> {
        std::fs::create_dir_all(dir).map_err(|e| KnowledgeError::Index(format!("{}: {e}", dir.display())))?;
        let config = EdgeConfigBuilder::new()
            .vector(DENSE, EdgeVectorParamsBuilder::new(crate::embed::DIMENSION, Distance::Cosine).build())
            .sparse_vector(LEXICAL, EdgeSparseVectorParamsBuilder::new().modifier(Modifier::Idf).build())
            .build();
        let fresh = std::fs::read_dir(dir).map(|mut d| d.next().is_none()).unwrap_or(true);
        let shard = if fresh { EdgeShard::new(dir, config)? } else { EdgeShard::load(dir, Some(config))? };
        let index = Self { shard };
        if fresh {
            for (field, kind) in [
                ("workspace_id", PayloadSchemaType::Keyword),
                ("agent_id", PayloadSchemaType::Keyword),
                ("source_id", PayloadSchemaType::Keyword),
                ("version", PayloadSchemaType::Integer),
            ] {
                index.shard.update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: field.try_into().expect("static field name"),
                    field_schema: Some(PayloadFieldSchema::FieldType(kind)),
                })))?;
            }
        }
        Ok(index)
    }

    /// Adds (or replaces) chunks with their dense and lexical vectors.
    pub fn upsert(&self, chunks: Vec<(ChunkRecord, Vec<f32>, SparseVector)>) -> Result<(), KnowledgeError> {
        let mut points = Vec::with_capacity(chunks.len());
        for (record, dense, sparse) in chunks {
            let id = point_id(&record.source_id, record.version, record.chunk);
            let payload = serde_json::to_value(&record).map_err(|e| KnowledgeError::Index(e.to_string()))?;
            let vectors =
                Vectors::new_named([(DENSE, Vector::new_dense(dense)), (LEXICAL, Vector::new_sparse(sparse.indices, sparse.values)?)]);
            points.push(PointStruct::new(id, vectors, payload).into());
        }
        self.shard.update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(points))))?;
        Ok(())
    }

    /// Deletes every version of a source except `keep` (all of them when `None`).
    pub fn delete_source(&self, source_id: &str, keep: Option<i64>) -> Result<(), KnowledgeError> {
        let mut filter = Filter::new_must(keyword("source_id", source_id));
        if let Some(v) = keep {
            filter.must_not = Some(vec![integer("version", v)]);
        }
        self.shard.update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter)))?;
        Ok(())
    }

    /// Deletes the versions of a source older than `version` (a newer one, being indexed at the
    /// same moment, is left alone).
    pub fn delete_versions_below(&self, source_id: &str, version: i64) -> Result<(), KnowledgeError> {
        let older = Condition::Field(FieldCondition::new_range(
            "version".try_into().expect("static field name"),
            Range { lt: Some(OrderedFloat(version as f64)), gt: None, gte: None, lte: None },
        ));
        let filter = Filter { must: Some(vec![keyword("source_id", source_id), older]), ..Filter::new() };
        self.shard.update(UpdateOperation::PointOperation(PointOperations::DeletePointsByFilter(filter)))?;
        Ok(())
    }

    /// Builds the HNSW graph and compacts segments; call after large ingestions.
    pub fn optimize(&self) -> Result<(), KnowledgeError> {
        self.shard.optimize()?;
        Ok(())
    }

    /// Makes everything written so far durable.
    pub fn flush(&self) -> Result<(), KnowledgeError> {
        self.shard.flush()?;
        Ok(())
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
        let versions: Vec<Condition> = active
            .iter()
            .map(|a| {
                Condition::Filter(Filter {
                    must: Some(vec![keyword("source_id", &a.source_id), integer("version", a.version)]),
                    ..Filter::new()
                })
            })
            .collect();
        let filter = Filter {
            must: Some(vec![keyword("workspace_id", workspace_id), keyword("agent_id", agent_id)]),
            should: Some(versions),
            ..Filter::new()
        };
        let candidates = (limit * 4).max(20);
        let named = |using: &str, query: VectorInternal| {
            ScoringQuery::Vector(QueryEnum::Nearest(NamedQuery { query, using: Some(using.to_string()) }))
        };
        // The closest passage by meaning always makes the list: a question in one language whose
        // answer is written in another matches no term, and fusion alone would rank it below
        // passages that match the question's words moderately in both rankings.
        // At most half the list is given to the guarantee, so that a short list (limit 2) still
        // starts with the fused ranking's best.
        let guaranteed = DENSE_GUARANTEE.min(limit / 2);
        let nearest = QueryRequestBuilder::new(guaranteed)
            .query(named(DENSE, VectorInternal::from(dense.clone())))
            .filter(filter.clone())
            .with_payload(WithPayloadInterface::Bool(true))
            .build();
        let mut request = QueryRequestBuilder::new(limit)
            .add_prefetch(PrefetchBuilder::new(candidates).query(named(DENSE, VectorInternal::from(dense))).filter(filter.clone()).build())
            .query(ScoringQuery::Fusion(Fusion::Rrf { k: RRF_K, weights: None }))
            .with_payload(WithPayloadInterface::Bool(true));
        if !lexical.indices.is_empty() {
            let sparse = Vector::new_sparse(lexical.indices.clone(), lexical.values.clone())?;
            request = request.add_prefetch(PrefetchBuilder::new(candidates).query(named(LEXICAL, sparse.into())).filter(filter).build());
        }
        let mut points = self.shard.query(request.build())?;
        let nearest = if guaranteed == 0 { vec![] } else { self.shard.query(nearest)? };
        for mut near in nearest {
            if points.iter().any(|p| p.id == near.id) {
                continue;
            }
            if points.len() >= limit {
                points.pop();
            }
            // Ranked last, with the lowest fused score of the list.
            near.score = points.last().map_or(near.score, |p| p.score);
            points.push(near);
        }
        points
            .into_iter()
            .map(|p| {
                let payload = p.payload.ok_or_else(|| KnowledgeError::Index("a point came back without payload".into()))?;
                let value = serde_json::to_value(payload.0).map_err(|e| KnowledgeError::Index(e.to_string()))?;
                let record: ChunkRecord =
                    serde_json::from_value(value).map_err(|e| KnowledgeError::Index(format!("unreadable payload: {e}")))?;
                Ok(Hit { record, score: p.score })
            })
            .collect()
    }
}
