//! Around the thread: internal notes written in a conversation (shown to the team, heard live,
//! never sent), files attached to a reply and sent by their public link, the contact panel's
//! activity, shared media and lists, and the inbox list's preview of the latest message.

use reqwest::Method;
use serde_json::{json, Value};
use tandem_core::Role;
use tandem_store::Backend;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer,
};

use crate::{
    assert_error,
    channels::{deliver, eventually, graph_ok, now_secs, the_conversation, wa_text, whatsapp_channel, with_graph, PHONE_NUMBER_ID},
    events::Events,
    json,
    tickets::person,
    TestApp,
};

/// The Graph API requests whose body mentions `needle`.
async fn graph_requests_with(graph: &MockServer, needle: &str) -> Vec<Value> {
    graph
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains(needle))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

async fn around_the_thread(backend: Backend) {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).and(path(format!("/{PHONE_NUMBER_ID}/messages"))).respond_with(graph_ok("wamid.OUT")).mount(&graph).await;
    let app = TestApp::spawn_with(backend, |c| {
        with_graph(c, &graph);
        c.channels.max_media_bytes = 64 * 1024;
    })
    .await;
    let t = app.tenant("Lumen").await;
    let other = app.tenant("Other").await;
    let key = &t.admin_key;
    let outsider = person(&app, &t, "outsider", Role::Staff).await;
    let channel = whatsapp_channel(&app, &t).await;
    let mut live = Events::open(app.request(Method::GET, "/api/v1/events", Some(key))).await;
    deliver(&app, &channel, &wa_text("wamid.P1", "My Orbe lamp flickers", now_secs())).await;
    let convo = the_conversation(&app, key).await;
    let (id, contact) = (convo["id"].as_str().unwrap().to_string(), convo["contact_id"].as_str().unwrap().to_string());
    let notes = format!("/api/v1/conversations/{id}/notes");

    // An internal note: stored on the conversation and its contact, heard live, never sent.
    let (s, note) = json(app.send(Method::POST, &notes, key, json!({"body": "  Loyal customer: offer a free bulb  "})).await).await;
    assert_eq!(s, 201, "{note}");
    assert_eq!((note["body"].as_str(), note["conversation_id"].as_str()), (Some("Loyal customer: offer a free bulb"), Some(id.as_str())));
    assert_eq!(note["contact_id"], contact.as_str());
    let heard = live.next_about("note.created", &id, 10).await;
    assert_eq!(heard["note_id"], note["id"]);
    let (_, listed) = json(app.get(&notes, key).await).await;
    assert_eq!(listed["items"].as_array().map(Vec::len), Some(1), "{listed}");
    let (_, on_contact) = json(app.get(&format!("/api/v1/contacts/{contact}/notes"), key).await).await;
    assert_eq!(on_contact["items"][0]["conversation_id"], id.as_str(), "{on_contact}");
    assert!(graph_requests_with(&graph, "free bulb").await.is_empty(), "a note never reaches the customer");
    assert_error(&json(app.send(Method::POST, &notes, key, json!({"body": "  "})).await).await, 422, "invalid_body");
    assert_error(&json(app.send(Method::POST, &notes, &other.admin_key, json!({"body": "hi"})).await).await, 404, "not_found");
    assert_error(&json(app.get(&notes, &other.admin_key).await).await, 404, "not_found");
    let (s, _) = crate::tickets::call(&app, &outsider, Method::GET, &format!("/api/v1/conversations/{id}/notes"), None).await;
    assert_eq!(s, 404, "Staff outside the conversation's team do not read its notes");

    // A file attached to the reply goes out by its public link, which serves the bytes.
    let invoice: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let upload = |name: &str, mime: &str, bytes: Vec<u8>, k: &str| {
        app.request(Method::POST, &format!("/api/v1/conversations/{id}/attachments?filename={name}"), Some(k))
            .header("content-type", mime)
            .body(bytes)
            .send()
    };
    let (s, file) = json(upload("invoice-1042.pdf", "application/pdf", invoice.clone(), key).await.unwrap()).await;
    assert_eq!(s, 201, "{file}");
    assert_eq!(
        (file["kind"].as_str(), file["size"].as_u64(), file["mime_type"].as_str()),
        (Some("document"), Some(20_000), Some("application/pdf"))
    );
    assert!(file.get("token").is_none(), "the link's secret is not shown");
    let media =
        json!({"media": {"kind": "document", "upload_id": file["upload_id"], "filename": "invoice-1042.pdf", "caption": "Your invoice"}});
    let (s, sent) = json(app.send(Method::POST, &format!("/api/v1/conversations/{id}/messages"), key, media.clone()).await).await;
    assert_eq!(s, 201, "{sent}");
    let request = eventually(10, || async { graph_requests_with(&graph, "invoice-1042.pdf").await.pop() }).await;
    assert_eq!(request["type"], "document", "{request}");
    assert_eq!(
        (request["document"]["filename"].as_str(), request["document"]["caption"].as_str()),
        (Some("invoice-1042.pdf"), Some("Your invoice"))
    );
    let link = request["document"]["link"].as_str().unwrap().to_string();
    assert!(link.starts_with(&format!("{}/media/att_", app.base)), "{link}");
    let fetched = reqwest::get(&link).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["content-type"], "application/pdf");
    assert_eq!(fetched.headers()["x-content-type-options"], "nosniff");
    let policy = fetched.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(policy.contains("sandbox") && policy.contains("default-src 'none'"), "a sent file never runs on our origin: {policy}");
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), invoice, "the provider fetches the very file");
    assert_eq!(reqwest::get(format!("{}/media/att_nothing-here", app.base)).await.unwrap().status(), 404);
    // Limits and mistakes.
    let (s, big) = json(upload("big.bin", "application/octet-stream", vec![7; 65 * 1024], key).await.unwrap()).await;
    assert_error(&(s, big), 413, "too_large");
    assert_error(&json(upload("empty.txt", "text/plain", vec![], key).await.unwrap()).await, 422, "empty_file");
    assert_error(&json(upload("..%2Fescape", "text/plain", vec![1], key).await.unwrap()).await, 422, "invalid_filename");
    assert_error(&json(upload("x.pdf", "application/pdf", vec![1], &other.admin_key).await.unwrap()).await, 404, "not_found");
    let both = json!({"media": {"kind": "document", "upload_id": file["upload_id"], "url": "https://example.com/x.pdf"}});
    assert_error(
        &json(app.send(Method::POST, &format!("/api/v1/conversations/{id}/messages"), key, both).await).await,
        400,
        "invalid_media",
    );
    // Another workspace cannot send this workspace's file from its own conversation.
    let (_, theirs) = crate::tickets::conversation(&app, &other, "Olga", None).await;
    let stolen = app.send(Method::POST, &format!("/api/v1/conversations/{theirs}/messages"), &other.admin_key, media).await;
    assert_error(&json(stolen).await, 404, "not_found");

    // The contact panel: shared media, lists, activity.
    let (_, shared) = json(app.get(&format!("/api/v1/contacts/{contact}/media"), key).await).await;
    let item = &shared["items"][0];
    assert_eq!(
        (item["kind"].as_str(), item["direction"].as_str(), item["url"].as_str()),
        (Some("document"), Some("outbound"), Some(link.as_str())),
        "{shared}"
    );
    assert_eq!(shared["items"].as_array().map(Vec::len), Some(1), "text messages are not media: {shared}");
    let (_, list) = json(app.send(Method::POST, "/api/v1/lists", key, json!({"name": "Spring promo"})).await).await;
    let members = format!("/api/v1/lists/{}/members", list["id"].as_str().unwrap());
    assert_eq!(app.send(Method::POST, &members, key, json!({"contact_ids": [contact]})).await.status(), 200);
    let (_, lists) = json(app.get(&format!("/api/v1/contacts/{contact}/lists"), key).await).await;
    assert_eq!(
        (lists["items"][0]["name"].as_str(), lists["items"][0]["member_count"].as_i64()),
        (Some("Spring promo"), Some(1)),
        "{lists}"
    );
    let (s, ticket) =
        json(app.send(Method::POST, "/api/v1/tickets", key, json!({"conversation_id": id, "subject": "Flickering lamp"})).await).await;
    assert_eq!(s, 201, "{ticket}");
    let ticket_path = format!("/api/v1/tickets/{}", ticket["id"].as_str().unwrap());
    assert_eq!(app.send(Method::PATCH, &ticket_path, key, json!({"status": "resolved"})).await.status(), 200);
    let (_, activity) = json(app.get(&format!("/api/v1/contacts/{contact}/activity"), key).await).await;
    let kinds: Vec<&str> = activity["items"].as_array().unwrap().iter().map(|a| a["kind"].as_str().unwrap()).collect();
    for kind in ["conversation.started", "note.added", "ticket.created", "ticket.resolved"] {
        assert!(kinds.contains(&kind), "{kind} in {activity}");
    }
    assert_eq!(kinds[0], "ticket.resolved", "newest first: {activity}");
    let resolved = activity["items"].as_array().unwrap().iter().find(|a| a["kind"] == "ticket.resolved").unwrap();
    assert_eq!(
        (resolved["text"].as_str(), resolved["conversation_id"].as_str()),
        (Some("Ticket resolved: Flickering lamp"), Some(id.as_str()))
    );
    let (s, hidden) = crate::tickets::call(&app, &outsider, Method::GET, &format!("/api/v1/contacts/{contact}/activity"), None).await;
    assert_eq!(s, 200);
    assert!(
        hidden["items"].as_array().unwrap().iter().all(|a| a["kind"] == "note.added"),
        "Staff see no history of conversations and tickets they may not see: {hidden}"
    );
    for section in ["activity", "media", "lists"] {
        assert_error(&json(app.get(&format!("/api/v1/contacts/{contact}/{section}"), &other.admin_key).await).await, 404, "not_found");
    }

    // The inbox list previews the latest message.
    let (_, inbox) = json(app.get("/api/v1/inbox/conversations", key).await).await;
    let ours = inbox["items"].as_array().unwrap().iter().find(|c| c["id"] == id.as_str()).unwrap();
    let by = format!("api_key:{}", app.store().list_api_keys(t.id).await.unwrap().iter().find(|k| k.role == Role::Admin).unwrap().id);
    assert_eq!(ours["last_message"], json!({"direction": "outbound", "author": by, "body": "[document] Your invoice"}), "{ours}");
}

#[tokio::test]
async fn notes_attachments_and_the_contact_panel_sqlite() {
    around_the_thread(Backend::Sqlite).await;
}

#[tokio::test]
async fn notes_attachments_and_the_contact_panel_postgres() {
    around_the_thread(Backend::Postgres).await;
}
