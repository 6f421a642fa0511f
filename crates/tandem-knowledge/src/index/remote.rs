//! The remote backend: a Qdrant server or cluster over gRPC (qdrant-client), one collection.
//!
//! The index's operations are blocking (the embedded engine's are), and they are called from
//! blocking tasks as well as from async handlers; the client runs on a small runtime of its own so
//! that both work, with nothing blocking on a runtime it needs to make progress.

use qdrant_client::{
    qdrant::{
        Condition, CreateCollectionBuilder, CreateFieldIndexCollectionBuilder, DeletePointsBuilder, Distance, FieldType, Filter,
        GetPointsBuilder, KeywordIndexParamsBuilder, Modifier, PointId, PointStruct, Query, QueryPointsBuilder, Range,
        SparseVectorParamsBuilder, SparseVectorsConfigBuilder, UpsertPointsBuilder, Vector, VectorInput, VectorParamsBuilder,
        VectorsConfigBuilder,
    },
    Payload, Qdrant, QdrantError,
};
use std::{future::Future, time::Duration};

use super::{
    payload_of, record_from_json, ChunkRecord, Doomed, FieldKind, Point, Probe, Scope, DENSE, INDEXED_FIELDS, LEXICAL, SOURCE_VERSION,
};
use crate::KnowledgeError;

/// Where the Qdrant server is, and which collection holds the chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteConfig {
    /// gRPC address, e.g. `http://qdrant:6334`.
    pub url: String,
    pub api_key: Option<String>,
    pub collection: String,
    /// Per request.
    pub timeout: Duration,
}

pub(super) struct RemoteIndex {
    client: Qdrant,
    collection: String,
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

fn keyword(field: &str, value: &str) -> Condition {
    Condition::matches(field, value.to_string())
}

fn integer(field: &str, value: i64) -> Condition {
    Condition::matches(field, value)
}

fn scope_filter(scope: &Scope<'_>) -> Filter {
    Filter::must([Condition::matches(SOURCE_VERSION, scope.source_versions())])
}

fn doomed_filter(doomed: Doomed<'_>) -> Filter {
    match doomed {
        Doomed::AllBut { source_id, keep } => Filter {
            must: vec![keyword("source_id", source_id)],
            must_not: keep.map(|v| vec![integer("version", v)]).unwrap_or_default(),
            ..Default::default()
        },
        Doomed::Below { source_id, version } => Filter::must([
            keyword("source_id", source_id),
            Condition::range("version", Range { lt: Some(version as f64), ..Default::default() }),
        ]),
    }
}

fn numeric(id: Option<PointId>) -> Result<u64, KnowledgeError> {
    use qdrant_client::qdrant::point_id::PointIdOptions;
    match id.and_then(|id| id.point_id_options) {
        Some(PointIdOptions::Num(n)) => Ok(n),
        other => Err(KnowledgeError::Index(format!("unexpected point id {other:?}"))),
    }
}

impl RemoteIndex {
    pub(super) fn connect(config: &RemoteConfig) -> Result<Self, KnowledgeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("qdrant-client")
            .enable_all()
            .build()
            .map_err(|e| KnowledgeError::Index(format!("cannot start the Qdrant client: {e}")))?;
        let client = {
            let _inside = runtime.enter();
            let mut builder =
                Qdrant::from_url(&config.url).timeout(config.timeout).connect_timeout(config.timeout).skip_compatibility_check();
            if let Some(key) = &config.api_key {
                builder = builder.api_key(key.clone());
            }
            builder.build().map_err(|e| KnowledgeError::Index(format!("Qdrant at {}: {e}", config.url)))?
        };
        let index = Self { client, collection: config.collection.clone(), runtime: Some(runtime) };
        index.ensure_collection().map_err(|e| match e {
            KnowledgeError::Index(reason) => KnowledgeError::Index(format!("Qdrant at {}: {reason}", config.url)),
            other => other,
        })?;
        Ok(index)
    }

    /// Runs one client call on the client's runtime and waits for it.
    fn call<T, F>(&self, what: &str, call: impl FnOnce(Qdrant, String) -> F) -> Result<T, KnowledgeError>
    where
        F: Future<Output = Result<T, QdrantError>> + Send + 'static,
        T: Send + 'static,
    {
        let runtime = self.runtime.as_ref().ok_or_else(|| KnowledgeError::Index("the Qdrant client is closed".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let future = call(self.client.clone(), self.collection.clone());
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv()
            .map_err(|_| KnowledgeError::Index("the Qdrant client stopped".into()))?
            .map_err(|e| KnowledgeError::Index(format!("Qdrant {what}: {e}")))
    }

    /// Creates the collection with its two named vectors and payload indexes when it is missing.
    /// Replicas starting together may race to create it: losing that race is fine.
    fn ensure_collection(&self) -> Result<(), KnowledgeError> {
        if !self.call("collection check", |c, name| async move { c.collection_exists(name).await })? {
            let created = self.call("collection creation", |c, name| async move {
                let mut dense = VectorsConfigBuilder::default();
                dense.add_named_vector_params(DENSE, VectorParamsBuilder::new(crate::embed::DIMENSION as u64, Distance::Cosine));
                let mut sparse = SparseVectorsConfigBuilder::default();
                sparse.add_named_vector_params(LEXICAL, SparseVectorParamsBuilder::default().modifier(Modifier::Idf));
                c.create_collection(CreateCollectionBuilder::new(name).vectors_config(dense).sparse_vectors_config(sparse)).await
            });
            if let Err(e) = created {
                if !self.call("collection check", |c, name| async move { c.collection_exists(name).await })? {
                    return Err(e);
                }
            }
        }
        for (field, kind) in INDEXED_FIELDS {
            let kind = match kind {
                FieldKind::Keyword => FieldType::Keyword,
                FieldKind::Integer => FieldType::Integer,
            };
            self.call("payload index creation", move |c, name| async move {
                let mut index = CreateFieldIndexCollectionBuilder::new(name, field, kind).wait(true);
                if field == "agent_id" {
                    // Every search is one agent's: the server keeps its points together.
                    index = index.field_index_params(KeywordIndexParamsBuilder::default().is_tenant(true));
                }
                c.create_field_index(index).await
            })?;
        }
        Ok(())
    }

    pub(super) fn upsert(&self, points: Vec<Point>) -> Result<(), KnowledgeError> {
        let mut batch = Vec::with_capacity(points.len());
        for p in points {
            let payload = Payload::try_from(payload_of(&p.record)?).map_err(|e| KnowledgeError::Index(e.to_string()))?;
            let vectors = std::collections::HashMap::from([
                (DENSE.to_string(), Vector::new_dense(p.dense)),
                (LEXICAL.to_string(), Vector::new_sparse(p.lexical.indices, p.lexical.values)),
            ]);
            batch.push(PointStruct::new(p.id, vectors, payload));
        }
        self.call("upsert", |c, name| async move { c.upsert_points(UpsertPointsBuilder::new(name, batch).wait(true)).await })?;
        Ok(())
    }

    pub(super) fn delete(&self, doomed: Doomed<'_>) -> Result<(), KnowledgeError> {
        let filter = doomed_filter(doomed);
        self.call("delete", |c, name| async move { c.delete_points(DeletePointsBuilder::new(name).points(filter).wait(true)).await })?;
        Ok(())
    }

    pub(super) fn nearest(&self, probe: Probe<'_>, scope: &Scope<'_>, limit: usize) -> Result<Vec<(u64, f32)>, KnowledgeError> {
        let (using, input) = match probe {
            Probe::Dense(v) => (DENSE, VectorInput::new_dense(v.to_vec())),
            Probe::Lexical(s) => (LEXICAL, VectorInput::new_sparse(s.indices.clone(), s.values.clone())),
        };
        let filter = scope_filter(scope);
        let response = self.call("search", move |c, name| async move {
            c.query(QueryPointsBuilder::new(name).query(Query::new_nearest(input)).using(using).filter(filter).limit(limit as u64)).await
        })?;
        response.result.into_iter().map(|p| Ok((numeric(p.id)?, p.score))).collect()
    }

    pub(super) fn records(&self, ids: &[u64]) -> Result<Vec<(u64, ChunkRecord)>, KnowledgeError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let ids: Vec<PointId> = ids.iter().map(|id| PointId::from(*id)).collect();
        let response =
            self.call("retrieve", |c, name| async move { c.get_points(GetPointsBuilder::new(name, ids).with_payload(true)).await })?;
        response
            .result
            .into_iter()
            .map(|p| Ok((numeric(p.id)?, record_from_json(serde_json::Value::from(Payload::from(p.payload)))?)))
            .collect()
    }
}

impl Drop for RemoteIndex {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which is not allowed inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
