//! Channels over HTTP with the providers faked at their HTTP boundary: WhatsApp webhooks verified,
//! stored once and turned into contacts, conversations and messages; replies sent to the fake
//! Graph API within the window; receipts, templates, retries and refusals.

use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha256;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tandem_core::Config;
use tandem_store::Backend;
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::{assert_error, json, Tenant, TestApp};

pub const APP_SECRET: &str = "meta-app-secret";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const CUSTOMER: &str = "16505551234";

pub fn with_graph(c: &mut Config, graph: &MockServer) {
    c.channels.graph_url = graph.uri();
    c.channels.send_timeout_ms = 1000;
}

/// A WhatsApp channel whose Graph API is the fake.
pub async fn whatsapp_channel(app: &TestApp, t: &Tenant) -> String {
    let config = json!({"phone_number_id": PHONE_NUMBER_ID, "access_token": "EAAG-test-token", "app_secret": APP_SECRET, "verify_token": "verify-me"});
    let (status, ch) = json(
        app.send(Method::POST, "/api/v1/channels", &t.admin_key, json!({"kind": "whatsapp", "name": "Sales", "config": config})).await,
    )
    .await;
    assert_eq!(status, 201, "{ch}");
    assert_eq!(ch["config"]["app_secret"], "********", "secrets never come back");
    ch["id"].as_str().unwrap().to_string()
}

pub fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A WhatsApp Cloud API `messages` webhook with one text message, as Meta sends it.
pub fn wa_text(id: &str, text: &str, at: i64) -> Value {
    wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}],
        "messages": [{"from": CUSTOMER, "id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]
    }))
}

fn wa_status(id: &str, status: &str, errors: Option<Value>) -> Value {
    let mut s = json!({"id": id, "status": status, "timestamp": now_secs().to_string(), "recipient_id": CUSTOMER});
    if let Some(e) = errors {
        s["errors"] = e;
    }
    wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "statuses": [s]
    }))
}

fn wa_change(value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}]})
}

pub fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Posts a webhook body with the given signature header (None: no header).
pub async fn post_webhook(app: &TestApp, channel: &str, body: &[u8], signature: Option<&str>) -> (u16, Value) {
    let mut rb = app
        .request(Method::POST, &format!("/webhooks/whatsapp/{channel}"), None)
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature {
        rb = rb.header("x-hub-signature-256", s);
    }
    json(rb.send().await.unwrap()).await
}

pub async fn deliver(app: &TestApp, channel: &str, payload: &Value) {
    let body = serde_json::to_vec(payload).unwrap();
    let (status, answer) = post_webhook(app, channel, &body, Some(&sign(&body))).await;
    assert_eq!(status, 200, "{answer}");
}

/// Polls `check` until it returns Some, for up to `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The only conversation of the tenant, once the inbound job has created it.
pub async fn the_conversation(app: &TestApp, key: &str) -> Value {
    eventually(10, || async {
        let (_, list) = json(app.get("/api/v1/conversations", key).await).await;
        list["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await
}

async fn messages(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let (_, list) = json(app.get(&format!("/api/v1/conversations/{conversation}/messages"), key).await).await;
    list["items"].as_array().unwrap().clone()
}

async fn message_with_status(app: &TestApp, key: &str, conversation: &str, body: &str, status: &str) -> Value {
    eventually(15, || async { messages(app, key, conversation).await.into_iter().find(|m| m["body"] == body && m["status"] == status) })
        .await
}

pub fn graph_ok(wamid: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "messaging_product": "whatsapp", "contacts": [{"input": CUSTOMER, "wa_id": CUSTOMER}], "messages": [{"id": wamid}]
    }))
}

fn text_request(body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, "type": "text", "text": {"preview_url": false, "body": body}})
}

async fn whatsapp_inbound_reply_and_receipts(backend: Backend) {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(backend, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;

    // Meta's subscription handshake.
    let url = format!("/webhooks/whatsapp/{channel}?hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444");
    let resp = app.request(Method::GET, &url, None).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.text().await.unwrap()), (200, "1158201444".to_string()));
    let url = format!("/webhooks/whatsapp/{channel}?hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1158201444");
    assert_eq!(app.request(Method::GET, &url, None).send().await.unwrap().status(), 403);

    // A customer writes; Meta delivers twice (it retries until it gets a 200 in time).
    let payload = wa_text("wamid.IN1", "Does it come in another color?", now_secs());
    deliver(&app, &channel, &payload).await;
    deliver(&app, &channel, &payload).await;
    let convo = the_conversation(&app, &t.admin_key).await;
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let inbound = eventually(10, || async {
        let list = messages(&app, &t.admin_key, &convo_id).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let inbound_again = messages(&app, &t.admin_key, &convo_id).await;
    assert_eq!(inbound_again.len(), 1, "a redelivered webhook stores nothing new: {inbound_again:?}");
    assert_eq!(inbound[0]["body"], "Does it come in another color?");
    assert_eq!(inbound[0]["provider_message_id"], "wamid.IN1");
    let ws = t.id;
    let channel_id = channel.parse().unwrap();
    assert_eq!(app.store().count_inbound_events(ws, channel_id).await.unwrap(), 1);
    let (_, contact) = json(app.get(&format!("/api/v1/contacts/{}", convo["contact_id"].as_str().unwrap()), &t.admin_key).await).await;
    assert_eq!((contact["first_name"].as_str(), contact["last_name"].as_str()), (Some("Sheena"), Some("Nelson")));
    assert_eq!(contact["phone"], format!("+{CUSTOMER}"));
    let (_, window) = json(app.get(&format!("/api/v1/conversations/{convo_id}/window"), &t.admin_key).await).await;
    assert_eq!(window["window"]["state"], "open", "{window}");

    // A person answers: the exact Cloud API request reaches the fake Graph API once.
    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .and(body_json(text_request("Yes, in brass and in black.")))
        .respond_with(graph_ok("wamid.OUT1"))
        .expect(1)
        .mount(&graph)
        .await;
    let (status, sent) = json(
        app.send(
            Method::POST,
            &format!("/api/v1/conversations/{convo_id}/messages"),
            &t.staff_key,
            json!({"body": "Yes, in brass and in black."}),
        )
        .await,
    )
    .await;
    assert_eq!((status, sent["status"].as_str()), (201, Some("queued")), "{sent}");
    let out = message_with_status(&app, &t.admin_key, &convo_id, "Yes, in brass and in black.", "sent").await;
    assert_eq!(out["provider_message_id"], "wamid.OUT1");

    // Receipts move it forward, never back.
    deliver(&app, &channel, &wa_status("wamid.OUT1", "delivered", None)).await;
    message_with_status(&app, &t.admin_key, &convo_id, "Yes, in brass and in black.", "delivered").await;
    deliver(&app, &channel, &wa_status("wamid.OUT1", "read", None)).await;
    message_with_status(&app, &t.admin_key, &convo_id, "Yes, in brass and in black.", "read").await;
    deliver(&app, &channel, &wa_status("wamid.OUT1", "delivered", None)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    message_with_status(&app, &t.admin_key, &convo_id, "Yes, in brass and in black.", "read").await;
    graph.verify().await;
}

#[tokio::test]
async fn a_whatsapp_message_is_stored_once_answered_through_the_graph_api_and_its_receipts_applied_sqlite() {
    whatsapp_inbound_reply_and_receipts(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_whatsapp_message_is_stored_once_answered_through_the_graph_api_and_its_receipts_applied_postgres() {
    whatsapp_inbound_reply_and_receipts(Backend::Postgres).await;
}

#[tokio::test]
async fn webhooks_that_cannot_be_trusted_or_read_are_refused_and_nothing_is_stored() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        with_graph(c, &graph);
        c.channels.max_webhook_bytes = 4096;
    })
    .await;
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;
    let body = serde_json::to_vec(&wa_text("wamid.X", "hello", now_secs())).unwrap();

    assert_error(&post_webhook(&app, &channel, &body, None).await, 401, "invalid_signature");
    let forged = sign(b"another body");
    assert_error(&post_webhook(&app, &channel, &body, Some(&forged)).await, 401, "invalid_signature");
    let unknown = tandem_core::ChannelId::new().to_string();
    assert_error(&post_webhook(&app, &unknown, &body, Some(&sign(&body))).await, 404, "unknown_channel");
    assert_error(&post_webhook(&app, "not-an-id", &body, Some(&sign(&body))).await, 404, "unknown_channel");
    let wrong_provider = app
        .request(Method::POST, &format!("/webhooks/telegram/{channel}"), None)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(&json(wrong_provider).await, 404, "unknown_channel");
    let as_form = app
        .request(Method::POST, &format!("/webhooks/whatsapp/{channel}"), None)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-hub-signature-256", sign(&body))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_error(&json(as_form).await, 400, "unsupported_content_type");
    let big = vec![b' '; 5000];
    assert_error(&post_webhook(&app, &channel, &big, Some(&sign(&big))).await, 413, "payload_too_large");
    let broken = b"{\"object\": \"whatsapp_business_account\", \"entry\": [".to_vec();
    assert_error(&post_webhook(&app, &channel, &broken, Some(&sign(&broken))).await, 400, "malformed_body");

    let ws = t.id;
    assert_eq!(app.store().count_inbound_events(ws, channel.parse().unwrap()).await.unwrap(), 0);
    let (_, list) = json(app.get("/api/v1/conversations", &t.admin_key).await).await;
    assert_eq!(list["items"], json!([]));

    // An event type Tandem does not handle is stored and acknowledged, never an error.
    let odd = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "account_alerts", "value": {"entity_type": "WABA"}}]}]});
    deliver(&app, &channel, &odd).await;

    // Another workspace cannot see this channel's templates or conversations' windows.
    let other = app.tenant("Other").await;
    let (status, _) = json(app.get(&format!("/api/v1/channels/{channel}/templates"), &other.admin_key).await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn outside_the_24_hour_window_only_an_approved_template_goes() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;
    // The customer's message was written 25 hours ago (a late delivery does not reopen the window).
    deliver(&app, &channel, &wa_text("wamid.OLD", "Hello?", now_secs() - 25 * 3600)).await;
    let convo = the_conversation(&app, &t.admin_key).await;
    let convo_id = convo["id"].as_str().unwrap();
    let (_, window) = json(app.get(&format!("/api/v1/conversations/{convo_id}/window"), &t.admin_key).await).await;
    assert_eq!(window["window"], json!({"state": "closed", "template_required": true}), "{window}");
    let messages_path = format!("/api/v1/conversations/{convo_id}/messages");
    let say = |body: Value| app.send(Method::POST, &messages_path, &t.staff_key, body);
    assert_error(&json(say(json!({"body": "Sorry for the delay"})).await).await, 422, "template_required");

    // A template must be registered and approved by Meta first.
    let template =
        json!({"name": "order_update", "language": "en_US", "category": "utility", "body": "Hello {{1}}, your order {{2}} has shipped."});
    let (status, created) =
        json(app.send(Method::POST, &format!("/api/v1/channels/{channel}/templates"), &t.admin_key, template).await).await;
    assert_eq!((status, created["status"].as_str(), created["variables"].as_i64()), (201, Some("pending"), Some(2)), "{created}");
    let send_template = json!({"template": {"name": "order_update", "language": "en_US", "variables": ["Sheena", "A-1042"]}});
    assert_error(&json(say(send_template.clone()).await).await, 422, "template_not_approved");
    let approved = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": now_secs(), "changes": [{"field": "message_template_status_update", "value": {
        "event": "APPROVED", "message_template_id": 594425479261596i64, "message_template_name": "order_update", "message_template_language": "en_US", "reason": "NONE"}}]}]});
    deliver(&app, &channel, &approved).await;
    eventually(10, || async {
        let (_, list) = json(app.get(&format!("/api/v1/channels/{channel}/templates"), &t.admin_key).await).await;
        (list["items"][0]["status"] == "approved").then_some(())
    })
    .await;
    assert_error(
        &json(say(json!({"template": {"name": "order_update", "language": "en_US", "variables": ["Sheena"]}})).await).await,
        422,
        "template_variables",
    );

    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, "type": "template",
            "template": {"name": "order_update", "language": {"code": "en_US"}, "components": [{"type": "body", "parameters": [{"type": "text", "text": "Sheena"}, {"type": "text", "text": "A-1042"}]}]}})))
        .respond_with(graph_ok("wamid.TPL"))
        .expect(1)
        .mount(&graph)
        .await;
    let (status, msg) = json(say(send_template).await).await;
    assert_eq!((status, msg["body"].as_str()), (201, Some("Hello Sheena, your order A-1042 has shipped.")), "{msg}");
    message_with_status(&app, &t.admin_key, convo_id, "Hello Sheena, your order A-1042 has shipped.", "sent").await;
    graph.verify().await;
}

#[tokio::test]
async fn sends_are_retried_on_provider_errors_failed_on_refusals_and_never_repeated_after_a_timeout() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;
    deliver(&app, &channel, &wa_text("wamid.IN", "Hi", now_secs())).await;
    let convo = the_conversation(&app, &t.admin_key).await;
    let convo_id = convo["id"].as_str().unwrap();
    let messages_path = format!("/api/v1/conversations/{convo_id}/messages");
    let say = |body: &str| app.send(Method::POST, &messages_path, &t.staff_key, json!({"body": body}));
    let to = |text: &str| Mock::given(method("POST")).and(path(format!("/{PHONE_NUMBER_ID}/messages"))).and(body_json(text_request(text)));

    // A 500 then a success: sent once, on the second attempt.
    to("after a hiccup")
        .respond_with(ResponseTemplate::new(500).set_body_json(
            json!({"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "A1"}}),
        ))
        .up_to_n_times(1)
        .expect(1)
        .mount(&graph)
        .await;
    to("after a hiccup").respond_with(graph_ok("wamid.RETRY")).expect(1).mount(&graph).await;
    // The customer's window closed at Meta (131047): failed with the code, not retried.
    to("too late")
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "(#131047) Re-engagement message", "type": "OAuthException", "code": 131047, "error_data": {"messaging_product": "whatsapp", "details": "Message failed to send because more than 24 hours have passed since the customer last replied to this number."}, "fbtrace_id": "A2"}})))
        .expect(1)
        .mount(&graph)
        .await;
    // No answer in time (the send timeout is 1 s): the provider may have taken it, so it is not
    // sent again.
    to("slow").respond_with(graph_ok("wamid.SLOW").set_delay(Duration::from_secs(3))).expect(1).mount(&graph).await;

    for text in ["after a hiccup", "too late", "slow"] {
        assert_eq!(say(text).await.status(), 201);
    }
    let retried = message_with_status(&app, &t.admin_key, convo_id, "after a hiccup", "sent").await;
    assert_eq!(retried["provider_message_id"], "wamid.RETRY");
    let refused = message_with_status(&app, &t.admin_key, convo_id, "too late", "failed").await;
    assert!(refused["error"].as_str().unwrap().starts_with("131047"), "{refused}");
    let slow = message_with_status(&app, &t.admin_key, convo_id, "slow", "failed").await;
    assert!(slow["error"].as_str().unwrap().starts_with("unknown_outcome"), "{slow}");
    tokio::time::sleep(Duration::from_secs(4)).await;
    graph.verify().await;
}

#[tokio::test]
async fn a_customers_photo_is_kept_by_tandem_and_media_goes_out_by_link() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;
    let photo = b"\xff\xd8\xff\xe0 a small JPEG".to_vec();
    Mock::given(method("GET"))
        .and(path("/1037543291543636"))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "messaging_product": "whatsapp", "url": format!("{}/whatsapp_business/attachments/?mid=1037543291543636", graph.uri()),
            "mime_type": "image/jpeg", "sha256": "e5f2", "file_size": photo.len(), "id": "1037543291543636"})))
        .expect(1)
        .mount(&graph)
        .await;
    Mock::given(method("GET"))
        .and(path("/whatsapp_business/attachments/"))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "image/jpeg").set_body_bytes(photo.clone()))
        .expect(1)
        .mount(&graph)
        .await;
    let image = wa_change(json!({
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": CUSTOMER}],
        "messages": [{"from": CUSTOMER, "id": "wamid.IMG", "timestamp": now_secs().to_string(), "type": "image",
            "image": {"caption": "This lamp, in blue?", "mime_type": "image/jpeg", "sha256": "e5f2", "id": "1037543291543636"}}]
    }));
    deliver(&app, &channel, &image).await;
    let convo = the_conversation(&app, &t.admin_key).await;
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let msg = eventually(15, || async {
        messages(&app, &t.admin_key, &convo_id).await.into_iter().find(|m| m["content"]["stored"]["upload_id"].is_string())
    })
    .await;
    assert_eq!(msg["body"], "[image] This lamp, in blue?");
    assert_eq!(msg["content"]["type"], "media", "{msg}");
    let resp = app
        .request(Method::GET, &format!("/api/v1/messages/{}/media", msg["id"].as_str().unwrap()), Some(&t.staff_key))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), photo);
    let other = app.tenant("Other").await;
    let (status, _) = json(app.get(&format!("/api/v1/messages/{}/media", msg["id"].as_str().unwrap()), &other.admin_key).await).await;
    assert_eq!(status, 404, "another workspace cannot read the file");

    Mock::given(method("POST"))
        .and(path(format!("/{PHONE_NUMBER_ID}/messages")))
        .and(body_json(json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": CUSTOMER, "type": "image",
            "image": {"link": "https://cdn.lumen.example/blue-arc.jpg", "caption": "Here it is in blue"}})))
        .respond_with(graph_ok("wamid.MEDIA"))
        .expect(1)
        .mount(&graph)
        .await;
    let reply = json!({"media": {"kind": "image", "url": "https://cdn.lumen.example/blue-arc.jpg", "caption": "Here it is in blue"}});
    let (status, sent) =
        json(app.send(Method::POST, &format!("/api/v1/conversations/{convo_id}/messages"), &t.staff_key, reply).await).await;
    assert_eq!(status, 201, "{sent}");
    message_with_status(&app, &t.admin_key, &convo_id, "[image] Here it is in blue", "sent").await;
    graph.verify().await;
}

fn fixture(provider: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/channels/{provider}/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hmac256(key: &str, body: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Every provider over HTTP: its real-shaped text webhook, signed its way, is stored once even
/// when delivered twice, becomes a message in the inbox, and a forged one is refused.
#[tokio::test]
async fn every_provider_is_verified_and_deduplicated_over_http() {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    // (kind, provider segment, config, fixture, content type)
    let cases = [
        (
            "whatsapp",
            "whatsapp",
            json!({"phone_number_id": PHONE_NUMBER_ID, "access_token": "t", "app_secret": "meta-secret", "verify_token": "v"}),
            fixture("whatsapp", "text.json"),
            "application/json",
        ),
        (
            "messenger",
            "messenger",
            json!({"page_id": "1", "page_access_token": "t", "app_secret": "meta-secret", "verify_token": "v"}),
            fixture("messenger", "text.json"),
            "application/json",
        ),
        (
            "instagram",
            "instagram",
            json!({"account_id": "1", "access_token": "t", "app_secret": "meta-secret", "verify_token": "v"}),
            fixture("instagram", "text.json"),
            "application/json",
        ),
        (
            "telegram",
            "telegram",
            json!({"bot_token": "123456:ABC", "secret_token": "tg-secret"}),
            fixture("telegram", "text.json"),
            "application/json",
        ),
        (
            "line",
            "line",
            json!({"channel_secret": "line-secret", "channel_access_token": "t"}),
            fixture("line", "text.json"),
            "application/json",
        ),
        (
            "viber",
            "viber",
            json!({"auth_token": "viber-token", "sender_name": "Lumen"}),
            fixture("viber", "message_text.json"),
            "application/json",
        ),
        (
            "wechat",
            "wechat",
            json!({"app_id": "wx1", "app_secret": "s", "token": "wechat-token"}),
            fixture("wechat", "text.xml"),
            "text/xml",
        ),
        (
            "sms",
            "twilio",
            json!({"account_sid": "ACae0d2a5c1b9e8f7a6b5c4d3e2f1a0b9c", "auth_token": "twilio-token", "from": "+14155550100"}),
            fixture("twilio", "inbound_sms.form"),
            "application/x-www-form-urlencoded",
        ),
    ];
    for (kind, provider, config, body, content_type) in cases {
        let (status, ch) =
            json(app.send(Method::POST, "/api/v1/channels", &t.admin_key, json!({"kind": kind, "name": kind, "config": config})).await)
                .await;
        assert_eq!(status, 201, "{ch}");
        let id = ch["id"].as_str().unwrap().to_string();
        let (_, hook) = json(app.get(&format!("/api/v1/channels/{id}/webhook"), &t.admin_key).await).await;
        let webhook = hook["webhook_url"].as_str().unwrap().to_string();
        assert_eq!(webhook, format!("{}/webhooks/{provider}/{id}", app.base));
        let mut url = webhook.clone();
        let mut headers: Vec<(&str, String)> = vec![];
        match provider {
            "whatsapp" | "messenger" | "instagram" => {
                headers.push(("x-hub-signature-256", format!("sha256={}", hex::encode(hmac256("meta-secret", &body)))))
            }
            "telegram" => headers.push(("x-telegram-bot-api-secret-token", "tg-secret".into())),
            "line" => headers.push(("x-line-signature", b64(&hmac256("line-secret", &body)))),
            "viber" => headers.push(("x-viber-content-signature", hex::encode(hmac256("viber-token", &body)))),
            "wechat" => {
                let (timestamp, nonce) = ("1718000000", "3829113");
                let mut parts = ["wechat-token", timestamp, nonce];
                parts.sort();
                let signature = hex::encode(Sha1::digest(parts.concat().as_bytes()));
                url = format!("{webhook}?signature={signature}&timestamp={timestamp}&nonce={nonce}");
            }
            "twilio" => {
                let mut params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
                params.sort();
                let signed: String = params.iter().map(|(k, v)| format!("{k}{v}")).collect();
                let mut mac = Hmac::<sha1::Sha1>::new_from_slice(b"twilio-token").unwrap();
                mac.update(format!("{url}{signed}").as_bytes());
                headers.push(("x-twilio-signature", b64(&mac.finalize().into_bytes())));
            }
            _ => unreachable!(),
        }
        let post = |forge: bool| {
            let mut rb = app.client.post(&url).header("content-type", content_type).body(if forge {
                [&body[..], b" "].concat()
            } else {
                body.clone()
            });
            for (k, v) in &headers {
                rb = rb.header(*k, if forge && provider == "telegram" { "guess".to_string() } else { v.clone() });
            }
            rb.send()
        };
        let forged = post(true).await.unwrap();
        if provider == "wechat" {
            // WeChat signs the query, not the body: a changed body with a valid query passes the
            // check, and is then read as what it is.
            assert!(forged.status().is_success() || forged.status() == 400, "{provider}: {}", forged.status());
        } else {
            assert_error(&json(forged).await, 401, "invalid_signature");
        }
        let channel_id = id.parse().unwrap();
        let mut counts = vec![];
        for _ in 0..2 {
            let resp = post(false).await.unwrap();
            assert_eq!(resp.status(), 200, "{provider}: {}", resp.text().await.unwrap());
            counts.push(app.store().count_inbound_events(t.id, channel_id).await.unwrap());
        }
        assert!(counts[0] >= 1 && counts[1] == counts[0], "{provider}: the second delivery stores nothing: {counts:?}");
        let convo = eventually(10, || async {
            let (_, list) = json(app.get(&format!("/api/v1/conversations?channel_id={id}"), &t.admin_key).await).await;
            list["items"].as_array().and_then(|i| i.first().cloned())
        })
        .await;
        // Every event of the fixture is processed (some are not messages: receipts, follows).
        eventually(10, || async { (app.store().inbound_backlog(t.id).await.unwrap() == 0).then_some(()) }).await;
        let msgs = messages(&app, &t.admin_key, convo["id"].as_str().unwrap()).await;
        let ids: std::collections::HashSet<_> = msgs.iter().map(|m| m["provider_message_id"].to_string()).collect();
        assert!(!msgs.is_empty() && msgs.len() as i64 <= counts[0] && ids.len() == msgs.len(), "{provider}: {msgs:?}");
        assert!(!msgs[0]["body"].as_str().unwrap().is_empty(), "{provider}: {msgs:?}");
    }
}

/// Messenger: past 24 hours a person may still answer for 7 days, tagged HUMAN_AGENT; after
/// that the window is closed for everyone.
#[tokio::test]
async fn messenger_replies_after_24_hours_carry_the_human_agent_tag_until_7_days() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let config = json!({"page_id": "107517405442937", "page_access_token": "EAAP-page", "app_secret": APP_SECRET, "verify_token": "v"});
    let (_, ch) = json(
        app.send(Method::POST, "/api/v1/channels", &t.admin_key, json!({"kind": "messenger", "name": "Page", "config": config})).await,
    )
    .await;
    let channel = ch["id"].as_str().unwrap().to_string();
    let written = |psid: &str, mid: &str, hours_ago: i64| {
        let ts = (now_secs() - hours_ago * 3600) * 1000;
        json!({"object": "page", "entry": [{"id": "107517405442937", "time": ts, "messaging": [{
            "sender": {"id": psid}, "recipient": {"id": "107517405442937"}, "timestamp": ts, "message": {"mid": mid, "text": "Any news?"}}]}]})
    };
    let post = |payload: Value| {
        let body = serde_json::to_vec(&payload).unwrap();
        let signature = sign(&body);
        app.request(Method::POST, &format!("/webhooks/messenger/{channel}"), None)
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signature)
            .body(body)
            .send()
    };
    assert_eq!(post(written("6945214398845663", "m_recent_30h", 30)).await.unwrap().status(), 200);
    assert_eq!(post(written("7001", "m_old_8d", 8 * 24)).await.unwrap().status(), 200);
    let convos: Vec<String> = eventually(10, || async {
        let (_, list) = json(app.get("/api/v1/conversations", &t.admin_key).await).await;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        (items.len() == 2).then(|| items.iter().map(|i| i["id"].as_str().unwrap().to_string()).collect())
    })
    .await;
    let mut by_state = std::collections::HashMap::new();
    for c in &convos {
        let (_, w) = json(app.get(&format!("/api/v1/conversations/{c}/window"), &t.admin_key).await).await;
        by_state.insert(w["window"]["state"].as_str().unwrap().to_string(), c.clone());
    }
    let (tagged, closed) = (by_state["human_agent_only"].clone(), by_state["closed"].clone());

    Mock::given(method("POST"))
        .and(path("/107517405442937/messages"))
        .and(header("authorization", "Bearer EAAP-page"))
        .and(body_json(json!({"recipient": {"id": "6945214398845663"}, "message": {"text": "Sorry for the wait: it ships today."},
            "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"recipient_id": "6945214398845663", "message_id": "m_OUT"})))
        .expect(1)
        .mount(&graph)
        .await;
    let say = |c: &str, body: &str| {
        let path = format!("/api/v1/conversations/{c}/messages");
        let body = json!({"body": body});
        let (app, key) = (&app, t.staff_key.clone());
        async move { app.send(Method::POST, &path, &key, body).await }
    };
    assert_eq!(say(&tagged, "Sorry for the wait: it ships today.").await.status(), 201);
    message_with_status(&app, &t.admin_key, &tagged, "Sorry for the wait: it ships today.", "sent").await;
    assert_error(&json(say(&closed, "Hello again").await).await, 422, "window_closed");
    graph.verify().await;
}
