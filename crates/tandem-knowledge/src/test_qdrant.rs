//! A Qdrant server for tests, where no real one can be run: Qdrant's gRPC wire protocol (the
//! service definitions generated in qdrant-client, the same the client speaks) in front of
//! Qdrant's own engine (qdrant-edge), one shard per collection, in a temporary directory.
//!
//! It answers the calls the remote backend makes — collection exists/create, payload index
//! creation, upsert, delete by filter or ids, get, and nearest-vector queries with filters — the
//! way the server does, requires the API key when given one, and refuses everything else with
//! `UNIMPLEMENTED`. What it cannot show: a real server's clustering, its optimiser running on its
//! own, or differences between server versions.
//!
//! Compiled only with the `test-qdrant` feature.

use ::qdrant_client::qdrant::{
    collections_server::{Collections, CollectionsServer},
    condition::ConditionOneOf,
    points_selector::PointsSelectorOneOf,
    points_server::{Points, PointsServer},
    query::Variant as QueryVariant,
    r#match::MatchValue,
    vector::Vector as VectorKind,
    vector_input::Variant as InputVariant,
    vectors::VectorsOptions,
    vectors_config::Config as VectorsConfigKind,
    with_payload_selector::SelectorOptions,
    *,
};
use qdrant_edge as edge;
use std::{
    collections::HashMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};
use tonic::{Request, Response, Status};

type Shards = Arc<Mutex<HashMap<String, Arc<edge::EdgeShard>>>>;

/// A running test server; stops when dropped.
pub struct TestQdrant {
    /// `http://127.0.0.1:PORT`, for [`crate::index::RemoteConfig::url`].
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl TestQdrant {
    /// Starts a server on a free loopback port, on a thread (and runtime) of its own; with
    /// `api_key`, calls without that key are refused as the server refuses them.
    pub fn start(api_key: Option<&str>) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let root = dir.path().to_path_buf();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr: SocketAddr = listener.local_addr().expect("its address");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let key = api_key.map(str::to_string);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let incoming = Box::pin(futures::stream::unfold(listener, |l| async move { Some((l.accept().await.map(|(s, _)| s), l)) }));
                let shards: Shards = Arc::default();
                let check = move |request: Request<()>| -> Result<Request<()>, Status> {
                    match &key {
                        Some(k) if request.metadata().get("api-key").and_then(|v| v.to_str().ok()) != Some(k.as_str()) => {
                            Err(Status::unauthenticated("Must provide an API key or an Authorization bearer token"))
                        }
                        _ => Ok(request),
                    }
                };
                let service = Service { root, shards };
                let server = tonic::transport::Server::builder()
                    .add_service(CollectionsServer::with_interceptor(service.clone(), check.clone()))
                    .add_service(PointsServer::with_interceptor(service, check))
                    .serve_with_incoming(incoming);
                // Stopping drops the server and then the runtime, which closes the clients'
                // connections (a graceful shutdown would wait for them to hang up).
                tokio::select! {
                    served = server => served.expect("the test Qdrant server runs"),
                    _ = stopped => {}
                }
            });
        });
        Self { url: format!("http://{addr}"), stop: Some(stop), thread: Some(thread), _dir: dir }
    }
}

impl Drop for TestQdrant {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[derive(Clone)]
struct Service {
    root: PathBuf,
    shards: Shards,
}

fn invalid(what: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("Wrong input: {what}"))
}

fn engine(e: edge::OperationError) -> Status {
    Status::internal(e.to_string())
}

fn unused(method: &str) -> Status {
    Status::unimplemented(format!("{method} is not served by the test Qdrant server"))
}

fn done() -> PointsOperationResponse {
    PointsOperationResponse {
        result: Some(UpdateResult { operation_id: Some(0), status: UpdateStatus::Completed as i32 }),
        ..Default::default()
    }
}

impl Service {
    fn shard(&self, name: &str) -> Result<Arc<edge::EdgeShard>, Status> {
        self.shards
            .lock()
            .expect("shards")
            .get(name)
            .cloned()
            .ok_or_else(|| Status::not_found(format!("Collection `{name}` doesn't exist!")))
    }

    /// Runs an engine call off the async threads, as the server does.
    async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, Status> + Send + 'static) -> Result<T, Status> {
        tokio::task::spawn_blocking(f).await.map_err(|e| Status::internal(e.to_string()))?
    }
}

fn point_id(id: Option<PointId>) -> Result<edge::PointId, Status> {
    match id.and_then(|id| id.point_id_options) {
        Some(point_id::PointIdOptions::Num(n)) => Ok(edge::PointId::NumId(n)),
        Some(point_id::PointIdOptions::Uuid(u)) => u.parse().map(edge::PointId::Uuid).map_err(invalid),
        None => Err(invalid("point without id")),
    }
}

fn grpc_id(id: edge::PointId) -> PointId {
    match id {
        edge::PointId::NumId(n) => n.into(),
        edge::PointId::Uuid(u) => u.to_string().into(),
    }
}

#[allow(deprecated)]
fn vector(v: Vector) -> Result<edge::Vector, Status> {
    match v.vector {
        Some(VectorKind::Dense(d)) => Ok(edge::Vector::new_dense(d.data)),
        Some(VectorKind::Sparse(s)) => edge::Vector::new_sparse(s.indices, s.values).map_err(engine),
        Some(_) => Err(invalid("only dense and sparse vectors are served")),
        // The form before 1.16: values in `data`, and `indices` for a sparse vector.
        None => match v.indices {
            Some(indices) => edge::Vector::new_sparse(indices.data, v.data).map_err(engine),
            None => Ok(edge::Vector::new_dense(v.data)),
        },
    }
}

fn condition(c: Condition) -> Result<edge::Condition, Status> {
    match c.condition_one_of {
        Some(ConditionOneOf::Filter(f)) => Ok(edge::Condition::Filter(filter(f)?)),
        Some(ConditionOneOf::Field(f)) => {
            let key: edge::JsonPath = f.key.as_str().try_into().map_err(|_| invalid(format!("bad key {}", f.key)))?;
            if let Some(m) = f.r#match {
                let value = match m.match_value {
                    Some(MatchValue::Keyword(s)) => edge::ValueVariants::String(s),
                    Some(MatchValue::Integer(i)) => edge::ValueVariants::Integer(i),
                    Some(MatchValue::Boolean(b)) => edge::ValueVariants::Bool(b),
                    Some(MatchValue::Keywords(any)) => {
                        return Ok(edge::Condition::Field(edge::FieldCondition::new_match(key, edge::Match::from(any.strings))));
                    }
                    _ => return Err(invalid("only keyword(s), integer and boolean matches are served")),
                };
                Ok(edge::Condition::Field(edge::FieldCondition::new_match(key, edge::Match::new_value(value))))
            } else if let Some(r) = f.range {
                let of = |v: Option<f64>| v.map(ordered_float::OrderedFloat);
                Ok(edge::Condition::Field(edge::FieldCondition::new_range(
                    key,
                    edge::Range { lt: of(r.lt), gt: of(r.gt), gte: of(r.gte), lte: of(r.lte) },
                )))
            } else {
                Err(invalid("only match and range field conditions are served"))
            }
        }
        _ => Err(invalid("only field and filter conditions are served")),
    }
}

fn conditions(list: Vec<Condition>) -> Result<Option<Vec<edge::Condition>>, Status> {
    if list.is_empty() {
        return Ok(None);
    }
    list.into_iter().map(condition).collect::<Result<Vec<_>, _>>().map(Some)
}

fn filter(f: Filter) -> Result<edge::Filter, Status> {
    if f.min_should.is_some() {
        return Err(invalid("min_should is not served"));
    }
    Ok(edge::Filter { must: conditions(f.must)?, should: conditions(f.should)?, must_not: conditions(f.must_not)?, ..edge::Filter::new() })
}

fn with_payload(selector: Option<WithPayloadSelector>) -> bool {
    matches!(selector.and_then(|s| s.selector_options), Some(SelectorOptions::Enable(true)))
}

fn grpc_payload(payload: Option<edge::Payload>) -> Result<HashMap<String, Value>, Status> {
    let Some(payload) = payload else { return Ok(HashMap::new()) };
    let json = serde_json::to_value(payload.0).map_err(|e| Status::internal(e.to_string()))?;
    Ok(::qdrant_client::Payload::try_from(json).map_err(|e| Status::internal(e.to_string()))?.into())
}

#[tonic::async_trait]
impl Collections for Service {
    async fn collection_exists(&self, request: Request<CollectionExistsRequest>) -> Result<Response<CollectionExistsResponse>, Status> {
        let name = request.into_inner().collection_name;
        let exists = self.shards.lock().expect("shards").contains_key(&name);
        Ok(Response::new(CollectionExistsResponse { result: Some(CollectionExists { exists }), time: 0.0 }))
    }

    async fn create(&self, request: Request<CreateCollection>) -> Result<Response<CollectionOperationResponse>, Status> {
        let request = request.into_inner();
        let name = request.collection_name;
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(invalid(format!("bad collection name {name:?}")));
        }
        let mut config = edge::EdgeConfigBuilder::new();
        match request.vectors_config.and_then(|v| v.config) {
            Some(VectorsConfigKind::ParamsMap(map)) => {
                for (vector_name, params) in map.map {
                    let distance = match Distance::try_from(params.distance) {
                        Ok(Distance::Cosine) => edge::Distance::Cosine,
                        Ok(Distance::Dot) => edge::Distance::Dot,
                        Ok(Distance::Euclid) => edge::Distance::Euclid,
                        _ => return Err(invalid("unsupported distance")),
                    };
                    config = config.vector(vector_name, edge::EdgeVectorParamsBuilder::new(params.size as usize, distance).build());
                }
            }
            _ => return Err(invalid("only named dense vectors are served")),
        }
        for (vector_name, params) in request.sparse_vectors_config.map(|s| s.map).unwrap_or_default() {
            let mut sparse = edge::EdgeSparseVectorParamsBuilder::new();
            if params.modifier == Some(Modifier::Idf as i32) {
                sparse = sparse.modifier(edge::Modifier::Idf);
            }
            config = config.sparse_vector(vector_name, sparse.build());
        }
        let dir = self.root.join(&name);
        let shards = self.shards.clone();
        Self::blocking(move || {
            let mut shards = shards.lock().expect("shards");
            if shards.contains_key(&name) {
                return Err(Status::already_exists(format!("Wrong input: Collection `{name}` already exists!")));
            }
            std::fs::create_dir_all(&dir).map_err(|e| Status::internal(e.to_string()))?;
            let shard = edge::EdgeShard::new(&dir, config.build()).map_err(engine)?;
            shards.insert(name, Arc::new(shard));
            Ok(())
        })
        .await?;
        Ok(Response::new(CollectionOperationResponse { result: true, time: 0.0 }))
    }

    async fn get(&self, _: Request<GetCollectionInfoRequest>) -> Result<Response<GetCollectionInfoResponse>, Status> {
        Err(unused("get"))
    }
    async fn list(&self, _: Request<ListCollectionsRequest>) -> Result<Response<ListCollectionsResponse>, Status> {
        Err(unused("list"))
    }
    async fn update(&self, _: Request<UpdateCollection>) -> Result<Response<CollectionOperationResponse>, Status> {
        Err(unused("update"))
    }
    async fn delete(&self, _: Request<DeleteCollection>) -> Result<Response<CollectionOperationResponse>, Status> {
        Err(unused("delete"))
    }
    async fn update_aliases(&self, _: Request<ChangeAliases>) -> Result<Response<CollectionOperationResponse>, Status> {
        Err(unused("update_aliases"))
    }
    async fn list_collection_aliases(&self, _: Request<ListCollectionAliasesRequest>) -> Result<Response<ListAliasesResponse>, Status> {
        Err(unused("list_collection_aliases"))
    }
    async fn list_aliases(&self, _: Request<ListAliasesRequest>) -> Result<Response<ListAliasesResponse>, Status> {
        Err(unused("list_aliases"))
    }
    async fn collection_cluster_info(
        &self,
        _: Request<CollectionClusterInfoRequest>,
    ) -> Result<Response<CollectionClusterInfoResponse>, Status> {
        Err(unused("collection_cluster_info"))
    }
    async fn update_collection_cluster_setup(
        &self,
        _: Request<UpdateCollectionClusterSetupRequest>,
    ) -> Result<Response<UpdateCollectionClusterSetupResponse>, Status> {
        Err(unused("update_collection_cluster_setup"))
    }
    async fn create_shard_key(&self, _: Request<CreateShardKeyRequest>) -> Result<Response<CreateShardKeyResponse>, Status> {
        Err(unused("create_shard_key"))
    }
    async fn delete_shard_key(&self, _: Request<DeleteShardKeyRequest>) -> Result<Response<DeleteShardKeyResponse>, Status> {
        Err(unused("delete_shard_key"))
    }
    async fn list_shard_keys(&self, _: Request<ListShardKeysRequest>) -> Result<Response<ListShardKeysResponse>, Status> {
        Err(unused("list_shard_keys"))
    }
}

#[tonic::async_trait]
impl Points for Service {
    async fn upsert(&self, request: Request<UpsertPoints>) -> Result<Response<PointsOperationResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.collection_name)?;
        let mut points = Vec::with_capacity(request.points.len());
        for p in request.points {
            let id = point_id(p.id)?;
            let vectors = match p.vectors.and_then(|v| v.vectors_options) {
                Some(VectorsOptions::Vectors(named)) => {
                    let named = named.vectors.into_iter().map(|(n, v)| Ok((n, vector(v)?))).collect::<Result<Vec<_>, Status>>()?;
                    edge::Vectors::new_named(named)
                }
                _ => return Err(invalid("only named vectors are served")),
            };
            let payload = serde_json::Value::from(::qdrant_client::Payload::from(p.payload));
            points.push(edge::PointStruct::new(id, vectors, payload).into());
        }
        Self::blocking(move || {
            shard
                .update(edge::UpdateOperation::PointOperation(edge::PointOperations::UpsertPoints(
                    edge::PointInsertOperations::PointsList(points),
                )))
                .map_err(engine)
        })
        .await?;
        Ok(Response::new(done()))
    }

    async fn delete(&self, request: Request<DeletePoints>) -> Result<Response<PointsOperationResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.collection_name)?;
        let operation = match request.points.and_then(|p| p.points_selector_one_of) {
            Some(PointsSelectorOneOf::Filter(f)) => edge::PointOperations::DeletePointsByFilter(filter(f)?),
            Some(PointsSelectorOneOf::Points(list)) => {
                edge::PointOperations::DeletePoints { ids: list.ids.into_iter().map(|id| point_id(Some(id))).collect::<Result<_, _>>()? }
            }
            None => return Err(invalid("no points selected")),
        };
        Self::blocking(move || shard.update(edge::UpdateOperation::PointOperation(operation)).map_err(engine)).await?;
        Ok(Response::new(done()))
    }

    async fn get(&self, request: Request<GetPoints>) -> Result<Response<GetResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.collection_name)?;
        let ids = request.ids.into_iter().map(|id| point_id(Some(id))).collect::<Result<Vec<_>, _>>()?;
        let payload = with_payload(request.with_payload);
        let records = Self::blocking(move || {
            shard
                .retrieve(edge::RetrieveRequestBuilder::new(ids).with_payload(edge::WithPayloadInterface::Bool(payload)).build())
                .map_err(engine)
        })
        .await?;
        let result = records
            .into_iter()
            .map(|r| Ok(RetrievedPoint { id: Some(grpc_id(r.id)), payload: grpc_payload(r.payload)?, ..Default::default() }))
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(GetResponse { result, ..Default::default() }))
    }

    async fn create_field_index(&self, request: Request<CreateFieldIndexCollection>) -> Result<Response<PointsOperationResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.collection_name)?;
        let kind = match request.field_type.map(FieldType::try_from) {
            Some(Ok(FieldType::Keyword)) => edge::PayloadSchemaType::Keyword,
            Some(Ok(FieldType::Integer)) => edge::PayloadSchemaType::Integer,
            _ => return Err(invalid("only keyword and integer indexes are served")),
        };
        let field: edge::JsonPath = request.field_name.as_str().try_into().map_err(|_| invalid("bad field name"))?;
        Self::blocking(move || {
            shard
                .update(edge::UpdateOperation::FieldIndexOperation(edge::FieldIndexOperations::CreateIndex(edge::CreateIndex {
                    field_name: field,
                    field_schema: Some(edge::PayloadFieldSchema::FieldType(kind)),
                })))
                .map_err(engine)
        })
        .await?;
        Ok(Response::new(done()))
    }

    async fn query(&self, request: Request<QueryPoints>) -> Result<Response<QueryResponse>, Status> {
        let request = request.into_inner();
        let shard = self.shard(&request.collection_name)?;
        if !request.prefetch.is_empty() {
            return Err(invalid("prefetch is not served"));
        }
        let input = match request.query.and_then(|q| q.variant) {
            Some(QueryVariant::Nearest(input)) => input,
            _ => return Err(invalid("only nearest queries are served")),
        };
        let query: edge::VectorInternal = match input.variant {
            Some(InputVariant::Dense(d)) => edge::VectorInternal::from(d.data),
            Some(InputVariant::Sparse(s)) => edge::Vector::new_sparse(s.indices, s.values).map_err(engine)?.into(),
            _ => return Err(invalid("only dense and sparse query vectors are served")),
        };
        let mut builder = edge::QueryRequestBuilder::new(request.limit.unwrap_or(10) as usize)
            .query(edge::ScoringQuery::Vector(edge::QueryEnum::Nearest(edge::NamedQuery { query, using: request.using })))
            .with_payload(edge::WithPayloadInterface::Bool(with_payload(request.with_payload)));
        if let Some(f) = request.filter {
            builder = builder.filter(filter(f)?);
        }
        let request = builder.build();
        let points = Self::blocking(move || shard.query(request).map_err(engine)).await?;
        let result = points
            .into_iter()
            .map(|p| {
                Ok(ScoredPoint {
                    id: Some(grpc_id(p.id)),
                    score: p.score,
                    version: p.version,
                    payload: grpc_payload(p.payload)?,
                    ..Default::default()
                })
            })
            .collect::<Result<_, Status>>()?;
        Ok(Response::new(QueryResponse { result, ..Default::default() }))
    }

    async fn update_vectors(&self, _: Request<UpdatePointVectors>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("update_vectors"))
    }
    async fn delete_vectors(&self, _: Request<DeletePointVectors>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("delete_vectors"))
    }
    async fn set_payload(&self, _: Request<SetPayloadPoints>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("set_payload"))
    }
    async fn overwrite_payload(&self, _: Request<SetPayloadPoints>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("overwrite_payload"))
    }
    async fn delete_payload(&self, _: Request<DeletePayloadPoints>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("delete_payload"))
    }
    async fn clear_payload(&self, _: Request<ClearPayloadPoints>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("clear_payload"))
    }
    async fn delete_field_index(&self, _: Request<DeleteFieldIndexCollection>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("delete_field_index"))
    }
    async fn create_vector_name(&self, _: Request<CreateVectorNameRequest>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("create_vector_name"))
    }
    async fn delete_vector_name(&self, _: Request<DeleteVectorNameRequest>) -> Result<Response<PointsOperationResponse>, Status> {
        Err(unused("delete_vector_name"))
    }
    async fn search(&self, _: Request<SearchPoints>) -> Result<Response<SearchResponse>, Status> {
        Err(unused("search"))
    }
    async fn search_batch(&self, _: Request<SearchBatchPoints>) -> Result<Response<SearchBatchResponse>, Status> {
        Err(unused("search_batch"))
    }
    async fn search_groups(&self, _: Request<SearchPointGroups>) -> Result<Response<SearchGroupsResponse>, Status> {
        Err(unused("search_groups"))
    }
    async fn scroll(&self, _: Request<ScrollPoints>) -> Result<Response<ScrollResponse>, Status> {
        Err(unused("scroll"))
    }
    async fn recommend(&self, _: Request<RecommendPoints>) -> Result<Response<RecommendResponse>, Status> {
        Err(unused("recommend"))
    }
    async fn recommend_batch(&self, _: Request<RecommendBatchPoints>) -> Result<Response<RecommendBatchResponse>, Status> {
        Err(unused("recommend_batch"))
    }
    async fn recommend_groups(&self, _: Request<RecommendPointGroups>) -> Result<Response<RecommendGroupsResponse>, Status> {
        Err(unused("recommend_groups"))
    }
    async fn discover(&self, _: Request<DiscoverPoints>) -> Result<Response<DiscoverResponse>, Status> {
        Err(unused("discover"))
    }
    async fn discover_batch(&self, _: Request<DiscoverBatchPoints>) -> Result<Response<DiscoverBatchResponse>, Status> {
        Err(unused("discover_batch"))
    }
    async fn count(&self, _: Request<CountPoints>) -> Result<Response<CountResponse>, Status> {
        Err(unused("count"))
    }
    async fn update_batch(&self, _: Request<UpdateBatchPoints>) -> Result<Response<UpdateBatchResponse>, Status> {
        Err(unused("update_batch"))
    }
    async fn query_batch(&self, _: Request<QueryBatchPoints>) -> Result<Response<QueryBatchResponse>, Status> {
        Err(unused("query_batch"))
    }
    async fn query_groups(&self, _: Request<QueryPointGroups>) -> Result<Response<QueryGroupsResponse>, Status> {
        Err(unused("query_groups"))
    }
    async fn facet(&self, _: Request<FacetCounts>) -> Result<Response<FacetResponse>, Status> {
        Err(unused("facet"))
    }
    async fn search_matrix_pairs(&self, _: Request<SearchMatrixPoints>) -> Result<Response<SearchMatrixPairsResponse>, Status> {
        Err(unused("search_matrix_pairs"))
    }
    async fn search_matrix_offsets(&self, _: Request<SearchMatrixPoints>) -> Result<Response<SearchMatrixOffsetsResponse>, Status> {
        Err(unused("search_matrix_offsets"))
    }
}
