use tandem_knowledge::{
    chunk,
    index::{ActiveSource, ChunkRecord, KnowledgeIndex},
    lexical,
};

use crate::embedder;

pub const SOURCES: &[(&str, &str)] = &[
    ("shipping.md", include_str!("../../../../fixtures/kb/lumen/shipping.md")),
    ("returns.md", include_str!("../../../../fixtures/kb/lumen/returns.md")),
    ("warranty.md", include_str!("../../../../fixtures/kb/lumen/warranty.md")),
    ("products.md", include_str!("../../../../fixtures/kb/lumen/products.md")),
    ("contact.md", include_str!("../../../../fixtures/kb/lumen/contact.md")),
    ("livraison_fr.md", include_str!("../../../../fixtures/kb/lumen/livraison_fr.md")),
    ("retours_fr.md", include_str!("../../../../fixtures/kb/lumen/retours_fr.md")),
    ("entretien_fr.md", include_str!("../../../../fixtures/kb/lumen/entretien_fr.md")),
];

pub fn index_source(index: &KnowledgeIndex, agent: &str, name: &str, version: i64, text: &str) {
    let chunks = chunk::split(text);
    let texts: Vec<String> = chunks.iter().map(|c| c.indexed_text()).collect();
    let dense = embedder().embed_passages(&texts).unwrap();
    let points = chunks
        .iter()
        .zip(dense)
        .map(|(c, d)| {
            let record = ChunkRecord {
                workspace_id: "ws".into(),
                agent_id: agent.into(),
                source_id: name.into(),
                source_name: name.into(),
                version,
                chunk: c.number,
                location: c.headings.last().cloned(),
                text: c.indexed_text(),
            };
            (record, d, lexical::passage_vector(&c.indexed_text()))
        })
        .collect();
    index.upsert(points).unwrap();
}

fn search(index: &KnowledgeIndex, agent: &str, active: &[ActiveSource], q: &str, k: usize) -> Vec<String> {
    let dense = embedder().embed_query(q).unwrap();
    index.search("ws", agent, active, dense, &lexical::query_vector(q), k).unwrap().into_iter().map(|h| h.record.source_id).collect()
}

pub fn active(names: &[&str]) -> Vec<ActiveSource> {
    names.iter().map(|n| ActiveSource { source_id: n.to_string(), version: 1 }).collect()
}

/// Each question's answer source is among the first three results.
#[test]
fn questions_in_english_and_french_find_their_answer() {
    let dir = tempfile::tempdir().unwrap();
    let index = KnowledgeIndex::open(dir.path()).unwrap();
    for (name, text) in SOURCES {
        index_source(&index, "support", name, 1, text);
    }
    let all = active(&SOURCES.iter().map(|(n, _)| *n).collect::<Vec<_>>());
    let cases: &[(&str, &[&str])] = &[
        ("How much does express delivery cost?", &["shipping.md", "livraison_fr.md"]),
        ("Do you ship to Switzerland?", &["shipping.md", "livraison_fr.md"]),
        ("Can I return a lamp I bought three weeks ago?", &["returns.md", "retours_fr.md"]),
        ("How long is the warranty on LED bulbs?", &["warranty.md"]),
        ("Is a broken glass shade covered?", &["warranty.md"]),
        ("What is the price of the LX-450?", &["products.md"]),
        ("Which socket do your lamps use?", &["products.md"]),
        ("When is the showroom open?", &["contact.md"]),
        ("Do hotels get a discount?", &["contact.md"]),
        ("Quel est le délai de livraison en France ?", &["livraison_fr.md", "shipping.md"]),
        ("Combien coûte la livraison express ?", &["livraison_fr.md", "shipping.md"]),
        ("Puis-je retourner une lampe sur mesure ?", &["retours_fr.md", "returns.md"]),
        ("Sous combien de jours suis-je remboursé ?", &["retours_fr.md", "returns.md"]),
        ("Comment nettoyer le laiton ?", &["entretien_fr.md"]),
        ("Quelle est la durée de la garantie ?", &["warranty.md"]),
        ("Quel est le numéro de téléphone du service client ?", &["contact.md"]),
    ];
    let mut misses = Vec::new();
    for (q, expected) in cases {
        let top = search(&index, "support", &all, q, 3);
        if !top.iter().any(|s| expected.contains(&s.as_str())) {
            misses.push(format!("{q} -> {top:?}"));
        }
    }
    assert!(misses.is_empty(), "{} of {} missed:\n{}", misses.len(), cases.len(), misses.join("\n"));
    // Each hit found by meaning carries its cosine similarity, which (unlike the fused score)
    // tells a covered question from one the knowledge does not touch.
    let closest = |q: &str| {
        let hits = index.search("ws", "support", &all, embedder().embed_query(q).unwrap(), &lexical::query_vector(q), 5).unwrap();
        assert!(hits.iter().all(|h| h.similarity.is_none_or(|s| (-1.0..=1.0001).contains(&s))), "{q}");
        hits.iter().filter_map(|h| h.similarity).reduce(f32::max).unwrap()
    };
    let (covered, uncovered) = (closest("How long is the warranty on LED bulbs?"), closest("Who won the 1998 football world cup?"));
    assert!(covered > uncovered + 0.03, "covered {covered}, uncovered {uncovered}");
    // Another agent's search sees none of it.
    assert!(search(&index, "sales", &all, "warranty", 5).is_empty());
}

/// A new version is invisible until activated; then the old one disappears; both survive a reopen.
#[test]
fn versions_switch_atomically_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    {
        let index = KnowledgeIndex::open(dir.path()).unwrap();
        index_source(&index, "support", "policy", 1, "# Returns\n\nReturns are accepted within 30 days.");
        index_source(&index, "support", "policy", 2, "# Returns\n\nReturns are accepted within 60 days.");
        let v1 = [ActiveSource { source_id: "policy".into(), version: 1 }];
        let v2 = [ActiveSource { source_id: "policy".into(), version: 2 }];
        let texts = |active: &[ActiveSource]| -> Vec<String> {
            let q = "How many days to return?";
            index
                .search("ws", "support", active, embedder().embed_query(q).unwrap(), &lexical::query_vector(q), 5)
                .unwrap()
                .into_iter()
                .map(|h| h.record.text)
                .collect()
        };
        assert_eq!(texts(&v1), ["# Returns\n\nReturns are accepted within 30 days."]);
        assert_eq!(texts(&v2), ["# Returns\n\nReturns are accepted within 60 days."]);
        index.delete_source("policy", Some(2)).unwrap();
        assert!(texts(&v1).is_empty());
        index.flush().unwrap();
    }
    let index = KnowledgeIndex::open(dir.path()).unwrap();
    let v2 = [ActiveSource { source_id: "policy".into(), version: 2 }];
    let q = "return days";
    let hits = index.search("ws", "support", &v2, embedder().embed_query(q).unwrap(), &lexical::query_vector(q), 5).unwrap();
    assert_eq!(hits.len(), 1);
    index.delete_source("policy", None).unwrap();
    assert!(index.search("ws", "support", &v2, embedder().embed_query(q).unwrap(), &lexical::query_vector(q), 5).unwrap().is_empty());
}

/// An index written before searches filtered on `source_version` (its points lack the field) is
/// still searched right: by source and version, as then.
#[test]
fn an_index_from_before_source_version_still_finds_its_chunks() {
    use qdrant_edge::{
        CreateIndex, Distance, EdgeConfigBuilder, EdgeShard, EdgeSparseVectorParamsBuilder, EdgeVectorParamsBuilder, FieldIndexOperations,
        Modifier, PayloadFieldSchema, PayloadSchemaType, PointId, PointInsertOperations, PointOperations, PointStruct, UpdateOperation,
        Vector, Vectors,
    };
    let dir = tempfile::tempdir().unwrap();
    let text = "# Returns\n\nReturns are accepted within 30 days.";
    {
        let config = EdgeConfigBuilder::new()
            .vector("dense", EdgeVectorParamsBuilder::new(tandem_knowledge::embed::DIMENSION, Distance::Cosine).build())
            .sparse_vector("lexical", EdgeSparseVectorParamsBuilder::new().modifier(Modifier::Idf).build())
            .build();
        let shard = EdgeShard::new(dir.path(), config).unwrap();
        for (field, kind) in [
            ("workspace_id", PayloadSchemaType::Keyword),
            ("agent_id", PayloadSchemaType::Keyword),
            ("source_id", PayloadSchemaType::Keyword),
            ("version", PayloadSchemaType::Integer),
        ] {
            shard
                .update(UpdateOperation::FieldIndexOperation(FieldIndexOperations::CreateIndex(CreateIndex {
                    field_name: field.try_into().unwrap(),
                    field_schema: Some(PayloadFieldSchema::FieldType(kind)),
                })))
                .unwrap();
        }
        let payload = serde_json::json!({"workspace_id": "ws", "agent_id": "support", "source_id": "policy", "source_name": "policy",
            "version": 1, "chunk": 0, "location": null, "text": text});
        let sparse = lexical::passage_vector(text);
        let vectors = Vectors::new_named([
            ("dense", Vector::new_dense(embedder().embed_passages(&[text.to_string()]).unwrap().remove(0))),
            ("lexical", Vector::new_sparse(sparse.indices, sparse.values).unwrap()),
        ]);
        shard
            .update(UpdateOperation::PointOperation(PointOperations::UpsertPoints(PointInsertOperations::PointsList(vec![
                PointStruct::new(PointId::NumId(7), vectors, payload).into(),
            ]))))
            .unwrap();
        shard.flush().unwrap();
    }
    let index = KnowledgeIndex::open(dir.path()).unwrap();
    assert_eq!(search(&index, "support", &active(&["policy"]), "How many days to return?", 5), ["policy"]);
    assert!(search(&index, "support", &[ActiveSource { source_id: "policy".into(), version: 2 }], "return", 5).is_empty());
    assert!(search(&index, "sales", &active(&["policy"]), "return", 5).is_empty());
}
