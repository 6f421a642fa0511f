use serde::Deserialize;
use tandem_knowledge::{
    embed::{Embedder, EmbedderConfig, ModelFamily},
    KnowledgeError,
};

use crate::{cosine, embedder};

#[derive(Deserialize)]
struct Reference {
    text: String,
    embedding: Vec<f32>,
}

/// Our converted, quantised model run through fastembed matches the reference engine's embeddings.
#[test]
fn converted_model_matches_reference_embeddings() {
    let refs: Vec<Reference> = serde_json::from_str(include_str!("../../../../fixtures/embeddings/e5_reference.json")).unwrap();
    assert!(refs.len() >= 8);
    let texts: Vec<String> = refs.iter().map(|r| r.text.clone()).collect();
    let ours = embedder().embed_verbatim(&texts).unwrap();
    for (r, v) in refs.iter().zip(&ours) {
        assert_eq!(v.len(), 384);
        let c = cosine(&r.embedding, v);
        assert!(c >= 0.99, "cosine {c} for {:?}", r.text);
    }
}

/// A French question lands nearer the English passage that answers it than an unrelated one.
#[test]
fn cross_lingual_similarity() {
    let e = embedder();
    let q = e.embed_query("Combien de temps dure la garantie ?").unwrap();
    let p = e.embed_passages(&["Every lamp carries a 5-year warranty.".into(), "Parcels leave the workshop the same day.".into()]).unwrap();
    assert!(cosine(&q, &p[0]) > cosine(&q, &p[1]) + 0.05, "{} vs {}", cosine(&q, &p[0]), cosine(&q, &p[1]));
}

#[test]
fn missing_runtime_or_model_is_an_error_not_a_panic() {
    let bad_dir = EmbedderConfig {
        model_dir: "/nonexistent/model".into(),
        family: ModelFamily::E5,
        onnxruntime: EmbedderConfig::from_env().unwrap().onnxruntime,
    };
    let err = Embedder::load(&bad_dir).err().expect("a missing model is refused");
    assert!(matches!(&err, KnowledgeError::ModelUnavailable(m) if m.contains("/nonexistent/model/tokenizer.json")), "{err}");
}
