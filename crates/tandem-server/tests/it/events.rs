//! Live inbox events over server-sent events: a new WhatsApp message, a status change, a reply
//! and its delivery reach the workspace's subscribers; another workspace hears nothing of them;
//! Staff hear only of conversations they may see; on PostgreSQL an event raised on one replica
//! reaches a subscriber of another (LISTEN/NOTIFY).

use std::{pin::Pin, time::Duration};

use futures::{Stream, StreamExt};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};
use tandem_core::{MessageDirection, Role};
use tandem_store::Backend;
use wiremock::{
    matchers::{method, path},
    Mock, MockServer,
};

use crate::{
    channels::{deliver, graph_ok, now_secs, wa_text, whatsapp_channel, with_graph, PHONE_NUMBER_ID},
    json,
    tickets::{conversation, message, person, team},
    TestApp,
};

/// One open `GET /api/v1/events`.
pub(crate) struct Events {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<Vec<u8>>> + Send>>,
    buffer: String,
}

impl Events {
    pub(crate) async fn open(request: RequestBuilder) -> Self {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Self { body: Box::pin(resp.bytes_stream().map(|chunk| chunk.map(|b| b.to_vec()))), buffer: String::new() }
    }

    /// The next event (its name and data), or None when none comes within `secs`.
    pub(crate) async fn next(&mut self, secs: u64) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
                match (field("event:"), field("data:")) {
                    (Some(event), Some(data)) => return Some((event, serde_json::from_str(&data).unwrap_or(Value::String(data)))),
                    _ => continue, // a keep-alive comment
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next `kind` event about `conversation`, skipping the others.
    pub(crate) async fn next_about(&mut self, kind: &str, conversation: &str, secs: u64) -> Value {
        loop {
            let (event, data) = self.next(secs).await.unwrap_or_else(|| panic!("no {kind} about {conversation} within {secs} s"));
            if data["conversation_id"] == conversation && event == kind {
                assert_eq!(data["kind"], kind, "the event's name is its kind");
                return data;
            }
        }
    }
}

async fn the_only_conversation(app: &TestApp, key: &str) -> String {
    crate::channels::eventually(10, || async {
        let (_, list) = json(app.get("/api/v1/conversations", key).await).await;
        list["items"].as_array().and_then(|items| items.first()).map(|c| c["id"].as_str().unwrap().to_string())
    })
    .await
}

#[tokio::test]
async fn inbox_events_reach_the_workspace_live_and_staff_hear_only_what_they_see() {
    let graph = MockServer::start().await;
    Mock::given(method("POST")).and(path(format!("/{PHONE_NUMBER_ID}/messages"))).respond_with(graph_ok("wamid.REPLY")).mount(&graph).await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let other = app.tenant("Other").await;
    let staff = person(&app, &t, "staff", Role::Staff).await;
    let sales = team(&app, &t, "Sales", &[staff.id]).await;
    let channel = whatsapp_channel(&app, &t).await;

    let mut admin = Events::open(app.request(Method::GET, "/api/v1/events", Some(&t.admin_key))).await;
    let mut outsider = Events::open(app.request(Method::GET, "/api/v1/events", Some(&other.admin_key))).await;
    let mut seller = Events::open(staff.client.get(format!("{}/api/v1/events", app.base))).await;

    // A customer writes: the message appears without a reload.
    deliver(&app, &channel, &wa_text("wamid.LIVE1", "Is the Orbe lamp in stock?", now_secs())).await;
    let convo = the_only_conversation(&app, &t.admin_key).await;
    let data = admin.next_about("message.created", &convo, 10).await;
    assert_eq!(data["workspace_id"], t.id.to_string());

    // Status and assignment changes, a reply and its delivery.
    let (status, _) =
        json(app.send(Method::PATCH, &format!("/api/v1/conversations/{convo}"), &t.admin_key, json!({"status": "pending"})).await).await;
    assert_eq!(status, 200);
    admin.next_about("conversation.updated", &convo, 10).await;
    let reply = json!({"body": "Yes, 4 left."});
    let (status, sent) = json(app.send(Method::POST, &format!("/api/v1/conversations/{convo}/messages"), &t.admin_key, reply).await).await;
    assert_eq!(status, 201, "{sent}");
    assert_eq!(admin.next_about("message.created", &convo, 10).await["message_id"], sent["id"]);
    assert_eq!(admin.next_about("message.status", &convo, 10).await["message_id"], sent["id"], "the reply was sent");

    // Staff do not hear of a conversation outside their team; they hear of their team's.
    let (_, mine) = conversation(&app, &t, "Mia", None).await;
    app.store().update_conversation(t.id, mine, None, None, Some(Some(sales))).await.unwrap();
    message(&app, &t, mine, MessageDirection::Inbound, "Hello from my team's customer").await;
    let (event, data) = seller.next(10).await.expect("an event for the team's conversation");
    assert_eq!((event.as_str(), data["conversation_id"].as_str()), ("conversation.updated", Some(mine.to_string().as_str())), "{data}");

    // Another workspace heard nothing of this one: its first event is about its own conversation.
    let (_, theirs) = conversation(&app, &other, "Olga", None).await;
    message(&app, &other, theirs, MessageDirection::Inbound, "Hi").await;
    let (_, data) = outsider.next(10).await.expect("an event of the other workspace");
    assert_eq!(
        (data["workspace_id"].as_str(), data["conversation_id"].as_str()),
        (Some(other.id.to_string().as_str()), Some(theirs.to_string().as_str()))
    );

    // Without credentials: no stream.
    let anonymous = app.request(Method::GET, "/api/v1/events", None).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn on_postgresql_an_event_on_one_replica_reaches_subscribers_of_another() {
    let graph = MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Postgres, |c| with_graph(c, &graph)).await;
    // Another process on the same database (each replica keeps its own embedded vector index).
    let index = tempfile::tempdir().unwrap();
    let mut replica_config = app.config.clone();
    replica_config.knowledge.data_dir = index.path().to_path_buf();
    let replica = tandem_server::Server::start(replica_config).await.expect("a second replica starts");
    let t = app.tenant("Lumen").await;
    let channel = whatsapp_channel(&app, &t).await;

    let on_replica = app.client.get(format!("http://{}/api/v1/events", replica.addr())).bearer_auth(&t.admin_key);
    let mut far = Events::open(on_replica).await;
    let mut near = Events::open(app.request(Method::GET, "/api/v1/events", Some(&t.admin_key))).await;

    deliver(&app, &channel, &wa_text("wamid.FAN1", "Do you deliver to Lyon?", now_secs())).await;
    let convo = the_only_conversation(&app, &t.admin_key).await;
    let heard = far.next_about("message.created", &convo, 15).await; // on the other replica
    assert_eq!(near.next_about("message.created", &convo, 15).await["message_id"], heard["message_id"]);

    let patch = json!({"status": "snoozed"});
    let (status, _) = json(app.send(Method::PATCH, &format!("/api/v1/conversations/{convo}"), &t.admin_key, patch).await).await;
    assert_eq!(status, 200);
    // Each subscriber hears each change once: nothing repeats the message before the update.
    loop {
        let (event, data) = near.next(15).await.expect("the update");
        assert!(!(event == "message.created" && data["message_id"] == heard["message_id"]), "heard twice: {data}");
        if event == "conversation.updated" && data["conversation_id"] == convo.as_str() {
            break;
        }
    }
    assert_eq!(far.next_about("conversation.updated", &convo, 15).await["conversation_id"], convo.as_str());
    // Stopping a replica ends its event streams instead of waiting on them.
    tokio::time::timeout(Duration::from_secs(10), replica.shutdown()).await.expect("shutdown ends the open event streams");
    assert!(far.next(5).await.is_none(), "the stream ended");
}
