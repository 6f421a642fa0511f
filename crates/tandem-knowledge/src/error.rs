/// What can go wrong while embedding, indexing or searching.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    /// The embedding model or ONNX Runtime is missing or unusable; the message says which file.
    #[error("embedding model unavailable: {0}")]
    ModelUnavailable(String),
    #[error("embedding failed: {0}")]
    Embedding(String),
    #[error("vector index error: {0}")]
    Index(String),
}

impl From<qdrant_edge::OperationError> for KnowledgeError {
    fn from(e: qdrant_edge::OperationError) -> Self {
        Self::Index(e.to_string())
    }
}
