//! CSAT over HTTP: resolving a ticket that came from a WhatsApp conversation sends the survey
//! through the (fake) Graph API: the question while the window is open, the approved template
//! once it has closed, and nothing, with the reason, when no usable template exists. The
//! customer's reply becomes the score on the ticket and in the metrics; other replies do not.

use reqwest::Method;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use tandem_store::Backend;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, Request, Respond, ResponseTemplate,
};

use crate::{
    assert_error,
    channels::{deliver, eventually, graph_ok, now_secs, wa_text, whatsapp_channel, with_graph, PHONE_NUMBER_ID},
    json, TestApp,
};

const LATE_CUSTOMER: &str = "33611111111";

/// A text message from another WhatsApp user, as Meta sends it.
fn wa_text_from(wa_id: &str, id: &str, text: &str, at: i64) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Late Customer"}, "wa_id": wa_id}],
        "messages": [{"from": wa_id, "id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]
    }}]}]})
}

/// The Graph API's answer to a send, with a new message id each time (ids are unique per channel).
#[derive(Default)]
pub(crate) struct UniqueIds(AtomicUsize);

impl Respond for UniqueIds {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        graph_ok(&format!("wamid.OUT{}", self.0.fetch_add(1, Ordering::SeqCst)))
    }
}

/// The bodies the fake Graph API received, oldest first.
pub(crate) async fn sent(graph: &MockServer) -> Vec<Value> {
    graph.received_requests().await.unwrap_or_default().iter().map(|r| serde_json::from_slice(&r.body).unwrap()).collect()
}

async fn surveys(app: &TestApp, key: &str, ticket: &str) -> Vec<Value> {
    let (status, list) = json(app.get(&format!("/api/v1/tickets/{ticket}/csat"), key).await).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn resolved_ticket(app: &TestApp, key: &str, conversation: &str) -> String {
    let (status, ticket) =
        json(app.send(Method::POST, "/api/v1/tickets", key, json!({"conversation_id": conversation, "type": "refund"})).await).await;
    assert_eq!(status, 201, "{ticket}");
    let id = ticket["id"].as_str().unwrap().to_string();
    let (status, done) = json(app.send(Method::PATCH, &format!("/api/v1/tickets/{id}"), key, json!({"status": "resolved"})).await).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("resolved")), "{done}");
    id
}

async fn survey_flow(backend: Backend) {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).and(path(format!("/{PHONE_NUMBER_ID}/messages"))).respond_with(UniqueIds::default()).mount(&graph).await;
    let app = TestApp::spawn_with(backend, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let channel = whatsapp_channel(&app, &t).await;

    let bad = json!({"csat": {"scale": "five_point", "answer_within_hours": 0}});
    assert_error(&json(app.send(Method::PUT, "/api/v1/inbox/settings", key, bad).await).await, 422, "out_of_range");
    let settings = json!({"csat": {"scale": "five_point", "template": {"name": "csat_survey", "language": "en_US"}}});
    let (status, saved) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, settings).await).await;
    assert_eq!((status, saved["csat"]["answer_within_hours"].as_i64()), (200, Some(72)), "{saved}");

    // Inside the window: the question goes as text.
    deliver(&app, &channel, &wa_text("wamid.Q1", "My lamp arrived broken", now_secs())).await;
    let convo = eventually(10, || async {
        let (_, list) = json(app.get("/api/v1/conversations", key).await).await;
        list["items"].as_array().and_then(|items| items.first().cloned())
    })
    .await;
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let ticket = resolved_ticket(&app, key, &convo_id).await;
    let question = eventually(15, || async { sent(&graph).await.into_iter().find(|b| b["type"] == "text") }).await;
    assert!(question["text"]["body"].as_str().unwrap().contains("from 1 (very unsatisfied) to 5 (very satisfied)"), "{question}");
    let listed = surveys(&app, key, &ticket).await;
    assert_eq!((listed.len(), listed[0]["status"].as_str(), listed[0]["scale"].as_str()), (1, Some("sent"), Some("five_point")));
    let other = app.tenant("Other").await;
    assert_error(&json(app.get(&format!("/api/v1/tickets/{ticket}/csat"), &other.admin_key).await).await, 404, "not_found");

    // A reply that is not a score is left to the conversation; the next one is the answer.
    deliver(&app, &channel, &wa_text("wamid.A0", "thanks! and where is my invoice?", now_secs())).await;
    deliver(&app, &channel, &wa_text("wamid.A1", "4/5", now_secs())).await;
    let answered = eventually(10, || async {
        let list = surveys(&app, key, &ticket).await;
        (list[0]["status"] == "answered").then(|| list[0].clone())
    })
    .await;
    assert_eq!((answered["score"].as_i64(), answered["answer"].as_str()), (Some(4), Some("4/5")), "{answered}");
    let (_, events) = json(app.get(&format!("/api/v1/tickets/{ticket}/events"), key).await).await;
    let csat: Vec<&Value> = events["items"].as_array().unwrap().iter().filter(|e| e["kind"] == "csat").collect();
    assert_eq!((csat.len(), csat[0]["detail"]["score"].as_i64()), (1, Some(4)), "{events}");
    // A redelivered answer changes nothing; a later "1" is an ordinary message.
    deliver(&app, &channel, &wa_text("wamid.A1", "4/5", now_secs())).await;
    deliver(&app, &channel, &wa_text("wamid.A2", "1", now_secs())).await;
    eventually(10, || async {
        let (_, list) = json(app.get(&format!("/api/v1/conversations/{convo_id}/messages"), key).await).await;
        list["items"].as_array().unwrap().iter().any(|m| m["body"] == "1").then_some(())
    })
    .await;
    let (_, metrics) = json(app.get("/api/v1/inbox/metrics", key).await).await;
    assert_eq!(metrics["csat"], json!({"responses": 1, "satisfied": 1, "csat_percent": 100.0, "average_of_five": 4.0}), "{metrics}");
    assert_eq!(surveys(&app, key, &ticket).await[0]["score"], 4);

    // Outside the window, without an approved template: not sent, and why.
    deliver(&app, &channel, &wa_text_from(LATE_CUSTOMER, "wamid.OLD", "Hello?", now_secs() - 25 * 3600)).await;
    let late = eventually(10, || async {
        let (_, list) = json(app.get("/api/v1/conversations", key).await).await;
        list["items"].as_array().unwrap().iter().find(|c| c["id"] != convo_id.as_str()).cloned()
    })
    .await;
    let late_ticket = resolved_ticket(&app, key, late["id"].as_str().unwrap()).await;
    let listed = surveys(&app, key, &late_ticket).await;
    assert_eq!(listed[0]["status"], "not_sent", "{listed:?}");
    assert!(listed[0]["reason"].as_str().unwrap().contains("csat_survey"), "{listed:?}");

    // With the template approved, the next resolution sends it.
    let template = json!({"name": "csat_survey", "language": "en_US", "category": "utility", "body": "How did we do? Reply 1 to 5."});
    let (status, _) = json(app.send(Method::POST, &format!("/api/v1/channels/{channel}/templates"), key, template).await).await;
    assert_eq!(status, 201);
    let approved = json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": now_secs(), "changes": [{"field": "message_template_status_update", "value": {
        "event": "APPROVED", "message_template_id": 594425479261597i64, "message_template_name": "csat_survey", "message_template_language": "en_US", "reason": "NONE"}}]}]});
    deliver(&app, &channel, &approved).await;
    eventually(10, || async {
        let (_, list) = json(app.get(&format!("/api/v1/channels/{channel}/templates"), key).await).await;
        (list["items"][0]["status"] == "approved").then_some(())
    })
    .await;
    let path = format!("/api/v1/tickets/{late_ticket}");
    assert_eq!(app.send(Method::PATCH, &path, key, json!({"status": "reopened"})).await.status(), 200);
    assert_eq!(app.send(Method::PATCH, &path, key, json!({"status": "resolved"})).await.status(), 200);
    let sent_template = eventually(15, || async { sent(&graph).await.into_iter().find(|b| b["type"] == "template") }).await;
    assert_eq!(
        (sent_template["to"].as_str(), sent_template["template"]["name"].as_str()),
        (Some(LATE_CUSTOMER), Some("csat_survey")),
        "{sent_template}"
    );
    let listed = surveys(&app, key, &late_ticket).await;
    assert_eq!(listed.iter().map(|s| s["status"].as_str().unwrap()).collect::<Vec<_>>(), ["not_sent", "sent"]);
}

#[tokio::test]
async fn resolving_a_ticket_sends_the_survey_and_records_the_answer_sqlite() {
    survey_flow(Backend::Sqlite).await;
}

#[tokio::test]
async fn resolving_a_ticket_sends_the_survey_and_records_the_answer_postgres() {
    survey_flow(Backend::Postgres).await;
}
