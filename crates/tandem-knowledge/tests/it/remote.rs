//! The remote backend (qdrant-client over gRPC) against a server speaking Qdrant's protocol with
//! Qdrant's engine behind it (`tandem_knowledge::test_qdrant`): it must rank, filter, version and
//! delete exactly as the embedded backend does.

use std::time::Duration;
use tandem_knowledge::{
    index::{ActiveSource, KnowledgeIndex, RemoteConfig},
    lexical,
    test_qdrant::TestQdrant,
};

use crate::{
    embedder,
    retrieval::{active, index_source, SOURCES},
};

fn remote(server: &TestQdrant, collection: &str, api_key: Option<&str>) -> Result<KnowledgeIndex, tandem_knowledge::KnowledgeError> {
    KnowledgeIndex::connect(&RemoteConfig {
        url: server.url.clone(),
        api_key: api_key.map(str::to_string),
        collection: collection.into(),
        timeout: Duration::from_secs(10),
    })
}

/// (source, text, score) of each hit, best first.
fn results(index: &KnowledgeIndex, ws: &str, agent: &str, active: &[ActiveSource], q: &str, k: usize) -> Vec<(String, String, f32)> {
    let dense = embedder().embed_query(q).unwrap();
    index
        .search(ws, agent, active, dense, &lexical::query_vector(q), k)
        .unwrap()
        .into_iter()
        .map(|h| (h.record.source_id, h.record.text, h.score))
        .collect()
}

#[test]
fn the_remote_backend_ranks_exactly_as_the_embedded_one() {
    let server = TestQdrant::start(None);
    let remote = remote(&server, "tandem_chunks", None).unwrap();
    assert_eq!(remote.kind(), "qdrant");
    let dir = tempfile::tempdir().unwrap();
    let embedded = KnowledgeIndex::open(dir.path()).unwrap();
    for (name, text) in SOURCES {
        index_source(&embedded, "support", name, 1, text);
        index_source(&remote, "support", name, 1, text);
    }
    let all = active(&SOURCES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let questions = [
        "How much does express delivery cost?",
        "Can I return a lamp I bought three weeks ago?",
        "What is the price of the LX-450?",
        "When is the showroom open?",
        "Combien coûte la livraison express ?",
        "Comment nettoyer le laiton ?",
        "Quelle est la durée de la garantie ?",
    ];
    for q in questions {
        let (here, there) = (results(&embedded, "ws", "support", &all, q, 5), results(&remote, "ws", "support", &all, q, 5));
        assert_eq!(here.len(), 5, "{q}");
        let names = |r: &[(String, String, f32)]| r.iter().map(|(s, t, _)| (s.clone(), t.clone())).collect::<Vec<_>>();
        assert_eq!(names(&here), names(&there), "{q}");
        for ((_, _, a), (_, _, b)) in here.iter().zip(&there) {
            assert!((a - b).abs() < 1e-6, "{q}: scores {a} and {b}");
        }
    }
    // Another agent, or another workspace with the same agent name, sees none of it.
    assert!(results(&remote, "ws", "sales", &all, "warranty", 5).is_empty());
    assert!(results(&remote, "other-ws", "support", &all, "warranty", 5).is_empty());
    // Only the sources named active are searched.
    let shipping_only = active(&["shipping.md"]);
    let hits = results(&remote, "ws", "support", &shipping_only, "warranty on LED bulbs", 5);
    assert!(!hits.is_empty() && hits.iter().all(|(s, _, _)| s == "shipping.md"), "{hits:?}");
}

#[test]
fn versions_and_deletions_go_through_to_the_server_and_outlive_the_client() {
    let server = TestQdrant::start(None);
    let v1 = [ActiveSource { source_id: "policy".into(), version: 1 }];
    let v2 = [ActiveSource { source_id: "policy".into(), version: 2 }];
    let v3 = [ActiveSource { source_id: "policy".into(), version: 3 }];
    let q = "How many days to return?";
    {
        let index = remote(&server, "kb", None).unwrap();
        index_source(&index, "support", "policy", 1, "# Returns\n\nReturns are accepted within 30 days.");
        index_source(&index, "support", "policy", 2, "# Returns\n\nReturns are accepted within 60 days.");
        let texts =
            |active: &[ActiveSource]| results(&index, "ws", "support", active, q, 5).into_iter().map(|(_, t, _)| t).collect::<Vec<_>>();
        assert_eq!(texts(&v1), ["# Returns\n\nReturns are accepted within 30 days."]);
        assert_eq!(texts(&v2), ["# Returns\n\nReturns are accepted within 60 days."]);
        index.delete_source("policy", Some(2)).unwrap();
        assert!(texts(&v1).is_empty());
        assert_eq!(texts(&v2).len(), 1);
    }
    // A new client (another replica, or a restart) finds the collection and its points.
    let index = remote(&server, "kb", None).unwrap();
    assert_eq!(results(&index, "ws", "support", &v2, q, 5).len(), 1);
    index_source(&index, "support", "policy", 3, "# Returns\n\nReturns are accepted within 90 days.");
    index.delete_versions_below("policy", 3).unwrap();
    assert!(results(&index, "ws", "support", &v2, q, 5).is_empty());
    assert_eq!(results(&index, "ws", "support", &v3, q, 5).len(), 1);
    index.delete_source("policy", None).unwrap();
    assert!(results(&index, "ws", "support", &v3, q, 5).is_empty());
    // Collections are separate knowledge bases.
    let other = remote(&server, "kb_other", None).unwrap();
    index_source(&other, "support", "policy", 3, "# Returns\n\nReturns are accepted within 90 days.");
    assert!(results(&index, "ws", "support", &v3, q, 5).is_empty());
    assert_eq!(results(&other, "ws", "support", &v3, q, 5).len(), 1);
}

#[test]
fn an_unreachable_or_refusing_server_is_a_clear_error() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = KnowledgeIndex::connect(&RemoteConfig {
        url: format!("http://127.0.0.1:{port}"),
        api_key: None,
        collection: "kb".into(),
        timeout: Duration::from_secs(2),
    })
    .err()
    .expect("no server, no index");
    let message = err.to_string();
    assert!(message.contains(&format!("Qdrant at http://127.0.0.1:{port}")), "{message}");

    let server = TestQdrant::start(Some("s3cret"));
    let message = remote(&server, "kb", Some("wrong")).err().expect("a wrong key is refused").to_string();
    assert!(message.contains("API key"), "{message}");
    assert!(remote(&server, "kb", None).is_err());
    let index = remote(&server, "kb", Some("s3cret")).unwrap();
    index_source(&index, "support", "policy", 1, "# Returns\n\nReturns are accepted within 30 days.");
    assert_eq!(results(&index, "ws", "support", &active(&["policy"]), "return", 5).len(), 1);

    // A server gone after the start: each call fails with the reason, none hangs or panics.
    drop(server);
    let dense = embedder().embed_query("return").unwrap();
    let err = index.search("ws", "support", &active(&["policy"]), dense, &lexical::query_vector("return"), 5).expect_err("no server");
    assert!(err.to_string().contains("Qdrant search"), "{err}");
    assert!(index.delete_source("policy", None).is_err());
}
