//! The knowledge base with the real model (multilingual e5, ONNX Runtime) and the real Qdrant
//! engine. Model files come from `scripts/models/fetch`; `scripts/test` exports their paths.

mod embedding;
mod parsing;
mod quality;
mod remote;
mod retrieval;

use std::sync::{Arc, OnceLock};
use tandem_knowledge::embed::{Embedder, EmbedderConfig};

/// One model for the whole test binary: loading it takes seconds.
pub fn embedder() -> Arc<Embedder> {
    static EMBEDDER: OnceLock<Arc<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let config = EmbedderConfig::from_env().expect("run the tests with ./scripts/test, which fetches the model and sets its paths");
            Arc::new(Embedder::load(&config).expect("the embedding model loads"))
        })
        .clone()
}

pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}
