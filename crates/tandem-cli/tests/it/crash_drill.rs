//! The crash drill: 10,000 LINE webhooks (a fifth of them delivered twice, as providers retry)
//! while people's replies flow out, and `tandem serve` killed with SIGKILL four times mid-run and
//! restarted. At the end every inbound message is stored exactly once and every outbound message
//! was accepted by the (fake) LINE API exactly once. LINE is the provider here because its push API
//! deduplicates a resent request by `X-Line-Retry-Key`, which is what makes "exactly once" possible
//! across a crash between the provider's answer and our record of it; for providers without such
//! a key Tandem sends at most once (see the channels' send job). Loopback only, bounded in time.

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::{
    collections::{HashMap, HashSet},
    process::{Child, Command},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};
use tandem_core::{ChannelKind, Role};
use tandem_store::{Page, Store};
use wiremock::{matchers::method, Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "line-channel-secret";
const MESSAGES: usize = 10_000;
const USERS: usize = 50;

/// LINE's push endpoint: accepts a retry key once, answers 409 to the same key again.
#[derive(Clone, Default)]
struct FakeLine {
    accepted: Arc<Mutex<HashMap<String, usize>>>,
    duplicates: Arc<AtomicUsize>,
}

impl Respond for FakeLine {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let key = request.headers.get("x-line-retry-key").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let mut accepted = self.accepted.lock().unwrap();
        let sent = json!({"sentMessages": [{"id": format!("line-{key}"), "quoteToken": "q"}]});
        if accepted.contains_key(&key) {
            self.duplicates.fetch_add(1, Ordering::Relaxed);
            let mut body = sent;
            body["message"] = json!("The retry key is already accepted");
            return ResponseTemplate::new(409).set_body_json(body);
        }
        accepted.insert(key, 1);
        ResponseTemplate::new(200).set_body_json(sent)
    }
}

fn line_webhook(i: usize, now_ms: i64) -> (Vec<u8>, String) {
    let body = serde_json::to_vec(&json!({"destination": "U8e742f61d673b39c7fff3cecb7536ef0", "events": [{
        "type": "message", "message": {"type": "text", "id": format!("{}", 500_000_000_000u64 + i as u64), "text": format!("Question number {i}")},
        "webhookEventId": format!("01DRILL{i:019}"), "deliveryContext": {"isRedelivery": false}, "timestamp": now_ms,
        "source": {"type": "user", "userId": format!("U{:032x}", i % USERS)}, "replyToken": "r", "mode": "active"}]}))
    .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    (body, base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

struct Serve {
    db: String,
    data: std::path::PathBuf,
    port: u16,
    line: String,
}

impl Serve {
    fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_tandem"))
            .arg("serve")
            .env("TANDEM_DATABASE__URL", &self.db)
            .env("TANDEM_SERVER__BIND", format!("127.0.0.1:{}", self.port))
            .env("TANDEM_KNOWLEDGE__DATA_DIR", &self.data)
            .env("TANDEM_LLM__ENABLED", "false")
            .env("TANDEM_CHANNELS__LINE_URL", &self.line)
            .env("TANDEM_WORKERS__POLL_INTERVAL_MS", "20")
            // A killed worker's jobs are taken over two seconds later.
            .env("TANDEM_WORKERS__LEASE_SECONDS", "2")
            .env("TANDEM_LOG__FILTER", "error")
            .env_remove("TANDEM_CONFIG")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "tandem serve did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_replies_survive_sigkill_exactly_once() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/drill.db", dir.path().display());
    let store = Store::connect(&db, 2).await.unwrap();
    let ws = store.create_workspace("Drill", Some("FR")).await.unwrap().id;
    let (_, key) = store.create_api_key(ws, "drill", Role::Admin).await.unwrap();
    let settings = json!({"channel_secret": SECRET, "channel_access_token": "line-token"});
    let channel = store.create_channel(ws, ChannelKind::Line, "LINE", settings.as_object().cloned().unwrap()).await.unwrap();
    store.close().await;

    let line = MockServer::start().await;
    let fake = FakeLine::default();
    Mock::given(method("POST")).respond_with(fake.clone()).mount(&line).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let serve = Serve { db: db.clone(), data: dir.path().join("knowledge"), port, line: line.uri() };
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let child = Arc::new(Mutex::new(serve.start()));
    wait_ready(&client, &base).await;

    // Deliveries: every message once, a fifth of them again later; a refused or unanswered
    // delivery is retried, as providers do.
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let mut order: Vec<usize> = (0..MESSAGES).collect();
    order.extend((0..MESSAGES).step_by(5));
    let order = Arc::new(order);
    let next = Arc::new(AtomicUsize::new(0));
    let url = Arc::new(format!("{base}/webhooks/line/{}", channel.id));
    let mut senders = Vec::new();
    for _ in 0..8 {
        let (client, order, next, url) = (client.clone(), order.clone(), next.clone(), url.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else { return };
                let (body, signature) = line_webhook(i, now_ms);
                let deadline = Instant::now() + Duration::from_secs(120);
                loop {
                    let sent = client
                        .post(url.as_str())
                        .header("content-type", "application/json")
                        .header("x-line-signature", &signature)
                        .body(body.clone())
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if sent.is_ok_and(|r| r.status().is_success()) {
                        break;
                    }
                    assert!(Instant::now() < deadline, "webhook {i} never acknowledged");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }

    // People reply while the webhooks flow: each attempt has its own text, and an attempt whose
    // answer was lost in a crash is not repeated (whether it was queued is read from the store).
    let stop = Arc::new(AtomicBool::new(false));
    let replier = {
        let (client, base, key, stop) = (client.clone(), base.clone(), key.clone(), stop.clone());
        tokio::spawn(async move {
            let mut attempts = 0usize;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Ok(list) = client.get(format!("{base}/api/v1/conversations?limit=50")).bearer_auth(&key).send().await else { continue };
                let Ok(list) = list.json::<Value>().await else { continue };
                let Some(items) = list["items"].as_array().filter(|i| !i.is_empty()).cloned() else { continue };
                let convo = items[attempts % items.len()]["id"].as_str().unwrap().to_string();
                attempts += 1;
                let _ = client
                    .post(format!("{base}/api/v1/conversations/{convo}/messages"))
                    .bearer_auth(&key)
                    .json(&json!({"body": format!("Reply attempt {attempts}")}))
                    .send()
                    .await;
            }
            attempts
        })
    };

    // Four SIGKILLs mid-run, each followed by a restart on the same database.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        {
            let mut c = child.lock().unwrap();
            c.kill().unwrap();
            c.wait().unwrap();
            *c = serve.start();
        }
        wait_ready(&client, &base).await;
    }
    for s in senders {
        s.await.unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reply_attempts = replier.await.unwrap();

    // Let the worker finish, then count.
    let store = Store::connect(&db, 2).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let (inbound, outbound) = loop {
        let mut inbound = Vec::new();
        let mut outbound = Vec::new();
        let convos = store.list_conversations(ws, &Default::default(), Page::new(Some(500), Some(0))).await.unwrap().items;
        for c in &convos {
            let mut offset = 0;
            loop {
                let page = store.list_messages(ws, c.id, Page::new(Some(500), Some(offset))).await.unwrap();
                let n = page.items.len() as i64;
                for m in page.items {
                    if m.direction == tandem_core::MessageDirection::Inbound {
                        inbound.push(m);
                    } else {
                        outbound.push(m);
                    }
                }
                if n < 500 {
                    break;
                }
                offset += n;
            }
        }
        let settled = store.inbound_backlog(ws).await.unwrap() == 0
            && outbound.iter().all(|m| m.status != tandem_core::MessageStatus::Queued)
            && inbound.len() >= MESSAGES;
        if settled {
            break (inbound, outbound);
        }
        assert!(
            Instant::now() < deadline,
            "not settled: {} inbound, {} outbound still queued",
            inbound.len(),
            outbound.iter().filter(|m| m.status == tandem_core::MessageStatus::Queued).count()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    child.lock().unwrap().kill().unwrap();

    assert_eq!(store.count_inbound_events(ws, channel.id).await.unwrap(), MESSAGES as i64, "each webhook event stored once");
    let ids: HashSet<_> = inbound.iter().map(|m| m.provider_message_id.clone()).collect();
    assert_eq!((inbound.len(), ids.len()), (MESSAGES, MESSAGES), "each customer message stored exactly once");
    assert!(outbound.len() > 20, "replies flowed during the drill ({} of {reply_attempts} attempts queued)", outbound.len());
    let accepted = fake.accepted.lock().unwrap().clone();
    for m in &outbound {
        assert_eq!(m.status, tandem_core::MessageStatus::Sent, "{m:?}");
        assert_eq!(accepted.get(&m.id.to_string()), Some(&1), "sent exactly once: {m:?}");
    }
    assert_eq!(accepted.len(), outbound.len(), "the fake accepted nothing we do not know of");
    eprintln!(
        "crash drill: {MESSAGES} messages (+{} redeliveries), {} replies ({} resends deduplicated by LINE), 4 SIGKILLs, {:.1} s",
        MESSAGES / 5,
        outbound.len(),
        fake.duplicates.load(Ordering::Relaxed),
        started.elapsed().as_secs_f64()
    );
}
