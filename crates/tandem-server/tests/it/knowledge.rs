//! Knowledge bases over HTTP: the demo business sources (files and a page served on loopback)
//! ingested by the real pipeline (isolated parser, e5 embeddings, embedded Qdrant), progress over
//! SSE, searches with citations, hostile files, limits, atomic replacement, deletion, tenancy and
//! recovery after a crash.

use futures::StreamExt;
use reqwest::{
    multipart::{Form, Part},
    Method,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tandem_knowledge::test_qdrant::TestQdrant;
use tandem_store::Backend;

use crate::{assert_error, json, TestApp};

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/kb/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn file_form(name: &str, bytes: Vec<u8>) -> Form {
    Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()))
}

async fn create_agent(app: &TestApp, key: &str, name: &str) -> String {
    let (status, agent) = json(app.send(Method::POST, "/api/v1/agents", key, json!({"name": name})).await).await;
    assert_eq!(status, 201, "{agent}");
    agent["id"].as_str().unwrap().to_string()
}

async fn upload(app: &TestApp, key: &str, agent: &str, form: Form) -> (u16, Value) {
    json(app.request(Method::POST, &format!("/api/v1/agents/{agent}/knowledge/sources"), Some(key)).multipart(form).send().await.unwrap())
        .await
}

/// Waits until the source's ingestion is done or failed and returns the source.
async fn settled(app: &TestApp, key: &str, agent: &str, source: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, s) = json(app.get(&format!("/api/v1/agents/{agent}/knowledge/sources/{source}"), key).await).await;
        assert_eq!(status, 200, "{s}");
        if s["stage"] == "done" || s["stage"] == "failed" {
            return s;
        }
        assert!(Instant::now() < deadline, "ingestion did not finish: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn search(app: &TestApp, key: &str, agent: &str, query: &str, limit: usize) -> Vec<Value> {
    let (status, body) = json(
        app.send(Method::POST, &format!("/api/v1/agents/{agent}/knowledge/search"), key, json!({"query": query, "limit": limit})).await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["results"].as_array().unwrap().clone()
}

/// Serves `about.html` on a loopback port, as a business's web site would.
async fn serve_page() -> String {
    let page = String::from_utf8(fixture("demo/about.html")).unwrap();
    let app = axum::Router::new().route("/about", axum::routing::get(move || async move { axum::response::Html(page) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/about")
}

#[tokio::test]
async fn demo_sources_are_ingested_with_progress_and_searches_cite_them() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.server.max_body_bytes = 8 * 1024 * 1024).await;
    let t = app.tenant("Lumen").await;
    let agent = create_agent(&app, &t.admin_key, "Lumen support").await;

    let mut ids = Vec::new();
    for name in ["price-list-and-policies.pdf", "tarifs-et-conditions.pdf", "catalogue.xlsx", "stores.csv", "faq.txt"] {
        let (status, source) = upload(&app, &t.admin_key, &agent, file_form(name, fixture(&format!("demo/{name}")))).await;
        assert_eq!((status, source["stage"].as_str()), (202, Some("queued")), "{source}");
        ids.push(source["id"].as_str().unwrap().to_string());
    }
    let url = serve_page().await;
    let (status, web) = upload(&app, &t.admin_key, &agent, Form::new().text("url", url.clone())).await;
    assert_eq!((status, web["url"].as_str()), (202, Some(url.as_str())), "{web}");
    ids.push(web["id"].as_str().unwrap().to_string());

    // Progress of the first source as server-sent events: stages in order, percentages rising, ends at done.
    let events = app
        .request(Method::GET, &format!("/api/v1/agents/{agent}/knowledge/sources/{}/events", ids[0]), Some(&t.staff_key))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut body = String::new();
    let mut stream = events.bytes_stream();
    while let Some(piece) = tokio::time::timeout(Duration::from_secs(180), stream.next()).await.expect("events keep coming") {
        body.push_str(&String::from_utf8_lossy(&piece.unwrap()));
    }
    let updates: Vec<Value> =
        body.lines().filter_map(|l| l.strip_prefix("data: ")).map(|d| serde_json::from_str(d).unwrap()).collect::<Vec<Value>>();
    let stages: Vec<&str> = updates.iter().map(|u| u["stage"].as_str().unwrap()).collect();
    let order = ["queued", "fetching", "parsing", "chunking", "embedding", "indexing", "done"];
    let ranks: Vec<usize> = stages.iter().map(|s| order.iter().position(|o| o == s).unwrap()).collect();
    assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "stages out of order: {stages:?}");
    assert_eq!(stages.last(), Some(&"done"), "{stages:?}");
    let percents: Vec<i64> = updates.iter().map(|u| u["progress"].as_i64().unwrap()).collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]) && percents.last() == Some(&100), "{percents:?}");

    for id in &ids {
        let s = settled(&app, &t.staff_key, &agent, id).await;
        assert_eq!(s["stage"], "done", "{s}");
        assert!(s["chunks"].as_i64().unwrap() > 0 && s["active_version"] == 1, "{s}");
    }
    let (_, list) = json(app.get(&format!("/api/v1/agents/{agent}/knowledge/sources"), &t.staff_key).await).await;
    let kinds: Vec<&str> = list["items"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["pdf", "pdf", "xlsx", "csv", "text", "html"]);
    assert_eq!(list["items"][0]["pages"], 5);

    // Citations: source name, page or rows, text.
    let hits = search(&app, &t.staff_key, &agent, "What is the trade price of the CLOCHE pendant?", 5).await;
    let hit = hits.iter().find(|h| h["text"].as_str().unwrap().contains("140.96")).expect("the price list page is found");
    assert_eq!(hit["source_name"], "price-list-and-policies.pdf");
    assert!(hit["location"].as_str().unwrap().starts_with("p. "), "{hit}");
    let hits = search(&app, &t.staff_key, &agent, "Quel est le programme pour les professionnels, Lumen Pro ?", 5).await;
    assert!(hits.iter().any(|h| h["source_name"] == url.as_str()), "{hits:?}");
    let hits = search(&app, &t.staff_key, &agent, "SP-114", 3).await;
    assert!(hits[0]["location"].as_str().unwrap().starts_with("Spare parts, rows"), "{:?}", hits[0]);
}

#[tokio::test]
async fn hostile_sources_fail_with_their_reason_and_the_server_keeps_serving() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.server.max_body_bytes = 8 * 1024 * 1024;
        c.knowledge.parse_timeout_seconds = 20;
        c.knowledge.parse_memory_mb = 1024;
    })
    .await;
    let t = app.tenant("Lumen").await;

    // Refused at the door, from the bytes.
    let agent = create_agent(&app, &t.admin_key, "door").await;
    assert_error(&upload(&app, &t.admin_key, &agent, file_form("empty.txt", vec![])).await, 422, "empty_source");
    let archive = upload(&app, &t.admin_key, &agent, file_form("archive-named.pdf", fixture("hostile/archive-named.pdf"))).await;
    assert_error(&archive, 422, "unsupported_source");
    assert!(archive.1["error"]["message"].as_str().unwrap().contains("ZIP archive"));

    // Accepted, then refused by the isolated parser with the reason.
    let cases: &[(&str, &[&str])] = &[
        ("encrypted.pdf", &["encrypted_pdf"]),
        ("many-pages.pdf", &["too_many_pages"]),
        ("image-only.pdf", &["no_extractable_text"]),
        ("nested-bomb.pdf", &["parser_crashed", "damaged_file", "no_extractable_text"]),
        ("inflate-bomb.pdf", &["no_extractable_text", "damaged_file", "parse_out_of_memory"]),
        ("zip-bomb.xlsx", &["file_too_complex"]),
        ("xfd1048576.xlsx", &["file_too_complex"]),
    ];
    let agent = create_agent(&app, &t.admin_key, "hostile").await;
    let mut sources = Vec::new();
    for (name, _) in cases {
        let (status, s) = upload(&app, &t.admin_key, &agent, file_form(name, fixture(&format!("hostile/{name}")))).await;
        assert_eq!(status, 202, "{name}: {s}");
        sources.push(s["id"].as_str().unwrap().to_string());
    }
    // A truncated file and a page tree that loops: read what can be read, or refuse as damaged.
    let other = create_agent(&app, &t.admin_key, "damaged").await;
    let mut damaged = Vec::new();
    for name in ["truncated.pdf", "parent-cycle.pdf"] {
        let (_, s) = upload(&app, &t.admin_key, &other, file_form(name, fixture(&format!("hostile/{name}")))).await;
        damaged.push((name, s["id"].as_str().unwrap().to_string()));
    }
    for ((name, codes), id) in cases.iter().zip(&sources) {
        let s = settled(&app, &t.staff_key, &agent, id).await;
        let code = s["error"]["code"].as_str().unwrap_or("none");
        assert!(s["stage"] == "failed" && codes.contains(&code), "{name}: {s}");
        assert!(!s["error"]["message"].as_str().unwrap().is_empty());
    }
    for (name, id) in damaged {
        let s = settled(&app, &t.staff_key, &other, &id).await;
        assert!(s["stage"] == "done" || s["error"]["code"] == "damaged_file", "{name}: {s}");
    }
    let many = json(app.get(&format!("/api/v1/agents/{agent}/knowledge/sources/{}", sources[1]), &t.staff_key).await).await.1;
    assert_eq!(many["error"]["message"], "the PDF has 1001 pages; a knowledge base takes at most 1000 pages per file");

    // Still serving, and still ingesting good files.
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().status(), 200);
    let good = create_agent(&app, &t.admin_key, "good").await;
    let (_, s) = upload(&app, &t.admin_key, &good, file_form("faq.txt", fixture("demo/faq.txt"))).await;
    assert_eq!(settled(&app, &t.staff_key, &good, s["id"].as_str().unwrap()).await["stage"], "done");
    assert!(!search(&app, &t.staff_key, &good, "discount code", 3).await.is_empty());
}

#[tokio::test]
async fn limits_say_which_and_urls_to_private_addresses_are_refused() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.knowledge.max_total_bytes = 50_000).await;
    let t = app.tenant("Lumen").await;
    let agent = create_agent(&app, &t.admin_key, "limits").await;
    for i in 0..10 {
        let (status, s) =
            upload(&app, &t.admin_key, &agent, file_form(&format!("note{i}.txt"), format!("Note {i}: opening hours.").into())).await;
        assert_eq!(status, 202, "{s}");
    }
    let eleventh = upload(&app, &t.admin_key, &agent, file_form("note10.txt", b"one more".to_vec())).await;
    assert_error(&eleventh, 422, "too_many_sources");

    let other = create_agent(&app, &t.admin_key, "size").await;
    assert_eq!(upload(&app, &t.admin_key, &other, file_form("a.txt", vec![b'a'; 30_000])).await.0, 202);
    let big = upload(&app, &t.admin_key, &other, file_form("b.txt", vec![b'b'; 30_000])).await;
    assert_error(&big, 413, "knowledge_base_too_large");
    assert!(big.1["error"]["message"].as_str().unwrap().contains("0.1 MB"), "{}", big.1);

    // Staff cannot change a knowledge base; bad forms are explained.
    assert_error(&upload(&app, &t.staff_key, &other, file_form("c.txt", b"x".to_vec())).await, 403, "forbidden");
    assert_error(&upload(&app, &t.admin_key, &other, Form::new().text("url", "ftp://example.com/a")).await, 422, "invalid_url");
    assert_error(&upload(&app, &t.admin_key, &other, Form::new().text("note", "x")).await, 400, "invalid_form");

    // Without the test-only permission, loopback pages are refused when fetched.
    let strict = app.restart(|c| c.knowledge.allow_private_urls = false).await;
    let third = create_agent(&strict, &t.admin_key, "web").await;
    let (_, s) = upload(&strict, &t.admin_key, &third, Form::new().text("url", serve_page().await)).await;
    let s = settled(&strict, &t.staff_key, &third, s["id"].as_str().unwrap()).await;
    assert_eq!((s["stage"].as_str(), s["error"]["code"].as_str()), (Some("failed"), Some("private_address")), "{s}");
}

/// With `qdrant`, the vectors go to that server instead of the embedded engine.
async fn replace_then_delete(backend: Backend, qdrant: Option<&TestQdrant>) {
    let url = qdrant.map(|q| q.url.clone());
    let app = TestApp::spawn_with(backend, |c| c.knowledge.qdrant_url = url).await;
    let t = app.tenant("Lumen").await;
    let agent = create_agent(&app, &t.admin_key, "policy").await;
    let text = |days: u32| format!("# Returns\n\nReturns are accepted within {days} days of delivery.").into_bytes();
    let (_, s) = upload(&app, &t.admin_key, &agent, file_form("returns.md", text(30))).await;
    let id = s["id"].as_str().unwrap().to_string();
    assert_eq!(settled(&app, &t.staff_key, &agent, &id).await["stage"], "done");

    // While version 2 is indexed, every search sees exactly one version: 30 days, then 60 days.
    let watcher = {
        let (client, base, key, agent) = (app.client.clone(), app.base.clone(), t.staff_key.clone(), agent.clone());
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let body: Value = client
                    .post(format!("{base}/api/v1/agents/{agent}/knowledge/search"))
                    .bearer_auth(&key)
                    .json(&json!({"query": "How many days do I have to return an order?", "limit": 5}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let texts: Vec<String> =
                    body["results"].as_array().unwrap().iter().map(|h| h["text"].as_str().unwrap().to_string()).collect();
                let versions: Vec<u32> =
                    [30, 60].into_iter().filter(|d| texts.iter().any(|t| t.contains(&format!("within {d} days")))).collect();
                let last = versions == [60];
                seen.push(versions);
                if last {
                    break;
                }
            }
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let replaced = json(
        app.request(Method::PUT, &format!("/api/v1/agents/{agent}/knowledge/sources/{id}"), Some(&t.admin_key))
            .multipart(file_form("returns.md", text(60)))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (replaced.0, replaced.1["version"].as_i64(), replaced.1["active_version"].as_i64()),
        (202, Some(2), Some(1)),
        "{}",
        replaced.1
    );
    let s = settled(&app, &t.staff_key, &agent, &id).await;
    assert_eq!((s["stage"].as_str(), s["active_version"].as_i64()), (Some("done"), Some(2)));
    let seen = watcher.await.unwrap();
    assert!(seen.iter().all(|v| v.len() == 1), "a search saw both versions or neither: {seen:?}");
    assert_eq!(seen.first().unwrap(), &[30], "{seen:?}");
    assert_eq!(seen.last().unwrap(), &[60], "{seen:?}");
    let first_new = seen.iter().position(|v| v == &[60]).unwrap();
    assert!(seen[first_new..].iter().all(|v| v == &[60]), "went back to the old version: {seen:?}");

    // Deleting removes it from searches and from the list.
    let del =
        app.request(Method::DELETE, &format!("/api/v1/agents/{agent}/knowledge/sources/{id}"), Some(&t.admin_key)).send().await.unwrap();
    assert_eq!(del.status(), 204);
    assert!(search(&app, &t.staff_key, &agent, "How many days do I have to return an order?", 5).await.is_empty());
    assert_error(&json(app.get(&format!("/api/v1/agents/{agent}/knowledge/sources/{id}"), &t.staff_key).await).await, 404, "not_found");
    // Nothing went to the embedded engine when a server was configured.
    assert_eq!(app.config.knowledge.data_dir.join("index").exists(), qdrant.is_none());
}

#[tokio::test]
async fn replacing_a_source_is_atomic_and_deleting_removes_it_sqlite() {
    replace_then_delete(Backend::Sqlite, None).await;
}

#[tokio::test]
async fn replacing_a_source_is_atomic_and_deleting_removes_it_postgres() {
    replace_then_delete(Backend::Postgres, None).await;
}

/// The scale deployment's combination: PostgreSQL, and the vectors on a Qdrant server.
#[tokio::test]
async fn replacing_a_source_is_atomic_and_deleting_removes_it_postgres_and_a_qdrant_server() {
    let qdrant = TestQdrant::start(None);
    replace_then_delete(Backend::Postgres, Some(&qdrant)).await;
}

#[tokio::test]
async fn another_workspace_sees_nothing_of_a_knowledge_base() {
    let app = TestApp::spawn().await;
    let (a, b) = (app.tenant("Lumen").await, app.tenant("Other").await);
    let agent = create_agent(&app, &a.admin_key, "private").await;
    let (_, s) = upload(&app, &a.admin_key, &agent, file_form("faq.txt", fixture("demo/faq.txt"))).await;
    let source = s["id"].as_str().unwrap();
    assert_eq!(settled(&app, &a.staff_key, &agent, source).await["stage"], "done");
    for path in [
        format!("/api/v1/agents/{agent}"),
        format!("/api/v1/agents/{agent}/knowledge/sources"),
        format!("/api/v1/agents/{agent}/knowledge/sources/{source}"),
        format!("/api/v1/agents/{agent}/knowledge/sources/{source}/events"),
    ] {
        assert_error(&json(app.get(&path, &b.admin_key).await).await, 404, "not_found");
    }
    let probe =
        json(app.send(Method::POST, &format!("/api/v1/agents/{agent}/knowledge/search"), &b.admin_key, json!({"query": "discount"})).await)
            .await;
    assert_error(&probe, 404, "not_found");
    assert_error(&upload(&app, &b.admin_key, &agent, file_form("x.txt", b"hello".to_vec())).await, 404, "not_found");
    let del = app
        .request(Method::DELETE, &format!("/api/v1/agents/{agent}/knowledge/sources/{source}"), Some(&b.admin_key))
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), 404);
    assert_eq!(json(app.get("/api/v1/agents", &b.admin_key).await).await.1["items"], json!([]));
    assert!(!search(&app, &a.staff_key, &agent, "discount code", 3).await.is_empty(), "the owner still finds it");
}

#[tokio::test]
async fn an_ingestion_cut_by_a_crash_finishes_after_restart() {
    // No worker: the job waits in the queue.
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.workers.enabled = false).await;
    let t = app.tenant("Lumen").await;
    let agent = create_agent(&app, &t.admin_key, "crash").await;
    let (_, s) = upload(&app, &t.admin_key, &agent, file_form("faq.txt", fixture("demo/faq.txt"))).await;
    let id = s["id"].as_str().unwrap().to_string();
    // A worker claims it, gets as far as embedding, and dies: its lease runs out.
    let job = app.store().claim_job(1).await.unwrap().expect("the ingestion job is queued");
    assert_eq!(job.kind, "knowledge.ingest");
    let order = tandem_store::Store::ingest_order(&job.payload).unwrap();
    app.store().set_source_stage(t.id, order.source_id, 1, tandem_store::knowledge::SourceStage::Embedding, 40, None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let app = app.restart(|c| c.workers.enabled = true).await;
    let s = settled(&app, &t.staff_key, &agent, &id).await;
    assert_eq!((s["stage"].as_str(), s["progress"].as_i64()), (Some("done"), Some(100)), "{s}");
    let (_, job) = json(app.get(&format!("/api/v1/jobs/{}", job.id), &t.staff_key).await).await;
    assert_eq!((job["status"].as_str(), job["attempts"].as_i64()), (Some("succeeded"), Some(2)), "{job}");
    assert!(!search(&app, &t.staff_key, &agent, "discount code", 3).await.is_empty());
}
