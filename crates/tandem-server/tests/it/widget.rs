//! The website chat widget: its websocket protocol driven by a raw client, then the real script
//! in headless Chromium on a page served on loopback, both against the real server. The AI agent
//! stays out (its turn is tested in `agents`); replies come from staff through the API, which is
//! the same outbound path the agent's replies take.

use futures::{FutureExt, SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tandem_store::Backend;
use tokio::net::TcpStream;
use tokio_tungstenite::{
    tungstenite::{client::IntoClientRequest, Error as WsError, Message},
    MaybeTlsStream, WebSocketStream,
};

use crate::{
    channels::{eventually, the_conversation},
    json, Tenant, TestApp,
};

/// Every wait of these tests ends within this.
const WAIT: Duration = Duration::from_secs(20);
const SHOP: &str = "http://shop.test";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn widget_channel(app: &TestApp, t: &Tenant, config: Value) -> String {
    let (status, ch) = json(
        app.send(Method::POST, "/api/v1/channels", &t.admin_key, json!({"kind": "widget", "name": "Website", "config": config})).await,
    )
    .await;
    assert_eq!(status, 201, "{ch}");
    ch["id"].as_str().unwrap().to_string()
}

/// Opens the channel's socket as a page of `origin` would.
async fn open(app: &TestApp, channel: &str, origin: Option<&str>) -> Result<Socket, WsError> {
    let mut req = format!("ws://{}/widget/{channel}/ws", app.server.addr()).into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut().insert("origin", o.parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.map(|(socket, _)| socket)
}

async fn send(socket: &mut Socket, frame: Value) {
    socket.send(Message::Text(frame.to_string().into())).await.unwrap();
}

/// The next JSON frame.
async fn next(socket: &mut Socket) -> Value {
    loop {
        let frame = tokio::time::timeout(WAIT, socket.next()).await.expect("a frame within 20 s").expect("the socket is open").unwrap();
        match frame {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

/// Asserts that no JSON frame arrives for `ms` milliseconds.
async fn quiet(socket: &mut Socket, ms: u64) {
    if let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(Duration::from_millis(ms), socket.next()).await {
        panic!("unexpected frame {text}");
    }
}

/// Opens a socket and says hello with `visitor`; returns it with the server's hello.
async fn greet(app: &TestApp, channel: &str, visitor: Option<&str>) -> (Socket, Value) {
    let mut socket = open(app, channel, Some(SHOP)).await.expect("the socket opens");
    send(&mut socket, json!({"type": "hello", "visitor": visitor})).await;
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    (socket, hello)
}

async fn messages(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let (status, list) = json(app.get(&format!("/api/v1/conversations/{conversation}/messages"), key).await).await;
    assert_eq!(status, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

fn handshake_status(e: WsError) -> u16 {
    match e {
        WsError::Http(resp) => resp.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    }
}

async fn protocol(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let other = app.tenant("Other").await;
    let config = json!({"allowed_origins": [SHOP], "title": "Lumen support", "greeting": "Hello! How can we help?"});
    let channel = widget_channel(&app, &t, config).await;

    // The script: JavaScript, cached, revalidated by its ETag; unknown channels have none.
    let resp = app.request(Method::GET, &format!("/widget/{channel}/widget.js"), None).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    assert!(headers["cache-control"].to_str().unwrap().contains("max-age="), "{headers:?}");
    let etag = headers["etag"].to_str().unwrap().to_string();
    assert!(resp.text().await.unwrap().contains("attachShadow"));
    let resp = app.request(Method::GET, &format!("/widget/{channel}/widget.js"), None).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(resp.status(), 304);
    let resp = app.request(Method::GET, &format!("/widget/{}/widget.js", tandem_core::ChannelId::new()), None).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let resp = app.request(Method::GET, "/widget/not-an-id/widget.js", None).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    // Pages of other sites, and clients that name no site, are refused before the upgrade; a
    // plain GET is not a websocket.
    assert_eq!(handshake_status(open(&app, &channel, Some("https://evil.test")).await.expect_err("refused")), 403);
    assert_eq!(handshake_status(open(&app, &channel, None).await.expect_err("refused")), 403);
    let (status, body) =
        json(app.request(Method::GET, &format!("/widget/{channel}/ws"), None).header("origin", SHOP).send().await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("websocket_required")), "{body}");

    // Nothing but a hello first.
    let mut socket = open(&app, &channel, Some(SHOP)).await.unwrap();
    send(&mut socket, json!({"type": "message", "client_id": uuid::Uuid::new_v4(), "text": "hi"})).await;
    assert_eq!(next(&mut socket).await["code"], "hello_required");

    // A new visitor gets a token, the channel's title and greeting, and no history.
    send(&mut socket, json!({"type": "hello", "visitor": null})).await;
    let hello = next(&mut socket).await;
    assert_eq!(hello["type"], "hello", "{hello}");
    let token = hello["visitor"].as_str().unwrap().to_string();
    assert!(token.starts_with("tdm_wv_") && token.len() > 40, "{token}");
    assert_eq!((hello["title"].as_str(), hello["greeting"].as_str()), (Some("Lumen support"), Some("Hello! How can we help?")));
    assert_eq!(hello["messages"], json!([]));

    // Bad frames are answered, and the socket stays open.
    socket.send(Message::Text("not json".into())).await.unwrap();
    assert_eq!(next(&mut socket).await["code"], "bad_frame");
    send(&mut socket, json!({"type": "subscribe"})).await;
    assert_eq!(next(&mut socket).await["code"], "bad_frame");
    socket.send(Message::Binary(vec![1u8, 2, 3].into())).await.unwrap();
    assert_eq!(next(&mut socket).await["code"], "bad_frame");
    send(&mut socket, json!({"type": "message", "client_id": "twelve", "text": "hi"})).await;
    assert_eq!(next(&mut socket).await["code"], "invalid_client_id");
    let long = uuid::Uuid::new_v4().to_string();
    send(&mut socket, json!({"type": "message", "client_id": long, "text": "é".repeat(4001)})).await;
    let error = next(&mut socket).await;
    assert_eq!(
        (error["type"].as_str(), error["code"].as_str(), error["client_id"].as_str()),
        (Some("error"), Some("too_long"), Some(&*long))
    );
    send(&mut socket, json!({"type": "message", "client_id": uuid::Uuid::new_v4(), "text": "   "})).await;
    assert_eq!(next(&mut socket).await["code"], "empty_message");
    send(&mut socket, json!({"type": "hello", "visitor": null})).await;
    assert_eq!(next(&mut socket).await["code"], "bad_frame");

    // The visitor writes; the message is stored, then comes back once the inbox has it. The same
    // client_id again (a resend after a reconnect) stores nothing more.
    let client_id = uuid::Uuid::new_v4().to_string();
    let frame = json!({"type": "message", "client_id": client_id, "text": "  Do you ship to Lyon?  "});
    send(&mut socket, frame.clone()).await;
    assert_eq!(next(&mut socket).await, json!({"type": "ack", "client_id": client_id}));
    let echo = next(&mut socket).await;
    assert_eq!((echo["type"].as_str(), echo["direction"].as_str()), (Some("message"), Some("inbound")), "{echo}");
    assert_eq!((echo["body"].as_str(), echo["client_id"].as_str()), (Some("Do you ship to Lyon?"), Some(&*client_id)));
    assert!(echo["id"].is_string() && echo["created_at"].is_string(), "{echo}");
    send(&mut socket, frame).await;
    assert_eq!(next(&mut socket).await["type"], "ack");
    quiet(&mut socket, 1000).await;

    // It is in the inbox, once, from a contact known by the visitor's address on the channel.
    let convo = the_conversation(&app, &t.admin_key).await;
    assert_eq!(convo["channel_id"], channel.as_str());
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let inbox = messages(&app, &t.admin_key, &convo_id).await;
    assert_eq!(inbox.len(), 1, "{inbox:?}");
    assert_eq!((inbox[0]["direction"].as_str(), inbox[0]["body"].as_str()), (Some("inbound"), Some("Do you ship to Lyon?")));
    assert_eq!(inbox[0]["id"], echo["id"]);
    assert_eq!(app.store().count_inbound_events(t.id, channel.parse().unwrap()).await.unwrap(), 1);

    // Staff answer in the inbox; the reply reaches the visitor's socket, and is marked sent.
    let (status, sent) = json(
        app.send(Method::POST, &format!("/api/v1/conversations/{convo_id}/messages"), &t.staff_key, json!({"body": "Yes, in 2 days."}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let reply = next(&mut socket).await;
    assert_eq!(
        (reply["type"].as_str(), reply["direction"].as_str(), reply["body"].as_str()),
        (Some("message"), Some("outbound"), Some("Yes, in 2 days."))
    );
    assert_eq!(reply["id"], sent["id"]);
    assert!(reply.get("client_id").is_none(), "{reply}");
    eventually(20, || async {
        messages(&app, &t.admin_key, &convo_id).await.into_iter().find(|m| m["id"] == sent["id"] && m["status"] == "sent")
    })
    .await;

    // Another page load: the same token brings the conversation back, oldest first, and the
    // reconnected socket keeps receiving.
    drop(socket);
    let (mut again, hello) = greet(&app, &channel, Some(&token)).await;
    assert_eq!(hello["visitor"], token.as_str());
    let history: Vec<(&str, &str)> =
        hello["messages"].as_array().unwrap().iter().map(|m| (m["direction"].as_str().unwrap(), m["body"].as_str().unwrap())).collect();
    assert_eq!(history, [("inbound", "Do you ship to Lyon?"), ("outbound", "Yes, in 2 days.")]);
    assert_eq!(hello["messages"][0]["client_id"], client_id.as_str());
    let (status, _) = json(
        app.send(Method::POST, &format!("/api/v1/conversations/{convo_id}/messages"), &t.staff_key, json!({"body": "Anything else?"}))
            .await,
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(next(&mut again).await["body"], "Anything else?");
    quiet(&mut again, 700).await;

    // A token this channel does not know, or one of another channel, makes a new visitor.
    let (_, hello) = greet(&app, &channel, Some("tdm_wv_forged")).await;
    assert!(hello["visitor"] != token.as_str() && hello["messages"] == json!([]), "{hello}");
    let open_channel = widget_channel(&app, &t, json!({})).await;
    let (_, hello) = greet(&app, &open_channel, Some(&token)).await;
    assert!(hello["visitor"] != token.as_str() && hello["messages"] == json!([]), "{hello}");
    assert_eq!((hello["title"].clone(), hello["greeting"].clone()), (Value::Null, Value::Null));
    // A visitor who never wrote was never stored: their token is not known next time.
    let silent = hello["visitor"].as_str().unwrap().to_string();
    let (_, hello) = greet(&app, &open_channel, Some(&silent)).await;
    assert_ne!(hello["visitor"], silent.as_str());

    // Another workspace sees none of it.
    let (_, list) = json(app.get("/api/v1/conversations", &other.admin_key).await).await;
    assert_eq!(list["items"], json!([]));
    let (status, _) = json(app.get(&format!("/api/v1/conversations/{convo_id}"), &other.admin_key).await).await;
    assert_eq!(status, 404);
    let (status, _) = json(app.get(&format!("/api/v1/conversations/{convo_id}/messages"), &other.admin_key).await).await;
    assert_eq!(status, 404);

    // The server stops with a socket open: the socket is told to come back, and the visitor
    // finds the conversation on the server that takes over.
    let app = tokio::time::timeout(WAIT, app.restart(|_| {})).await.expect("the server stops within 20 s with a widget socket open");
    let close = loop {
        match tokio::time::timeout(WAIT, again.next()).await.expect("a close frame within 20 s") {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.map(|c| u16::from(c.code)), Some(1012));
    let (_, hello) = greet(&app, &channel, Some(&token)).await;
    assert_eq!((hello["visitor"].as_str(), hello["messages"].as_array().map(Vec::len)), (Some(&*token), Some(3)));
}

#[tokio::test]
async fn widget_visitors_talk_over_the_socket_and_land_in_the_inbox_sqlite() {
    protocol(Backend::Sqlite).await;
}

#[tokio::test]
async fn widget_visitors_talk_over_the_socket_and_land_in_the_inbox_postgres() {
    protocol(Backend::Postgres).await;
}

// ---- The browser test ------------------------------------------------------------------------

pub(crate) const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const SHADOW: &str = "shadow-6066-11e4-a52e-4f735466cecf";

/// chromedriver in a process group of its own, so that Chromium goes with it.
pub(crate) struct Chromedriver {
    child: std::process::Child,
    base: String,
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: signals the process group this test started; nothing else is in it.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }
}

/// The chromedriver binary, or None when it is missing and the run said browsers may be skipped.
pub(crate) fn chromedriver_binary() -> Option<String> {
    let path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    if std::path::Path::new(&path).is_file() {
        return Some(path);
    }
    if std::env::var_os("TANDEM_SKIP_BROWSER").is_some() {
        return None;
    }
    panic!("{path} is missing: run scripts/browser/ensure (installs chromium and chromium-driver), or set TANDEM_SKIP_BROWSER to skip");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) async fn start_chromedriver(path: &str) -> Chromedriver {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let child = std::process::Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    let driver = Chromedriver { child, base: format!("http://127.0.0.1:{port}") };
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(resp) = http.get(format!("{}/status", driver.base)).send().await {
            if resp.json::<Value>().await.is_ok_and(|s| s["value"]["ready"] == true) {
                return driver;
            }
        }
        assert!(Instant::now() < deadline, "chromedriver did not get ready within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A W3C WebDriver session, spoken over plain HTTP.
pub(crate) struct Browser {
    http: reqwest::Client,
    session: String,
}

impl Browser {
    pub(crate) async fn new(driver: &Chromedriver, profile: &std::path::Path) -> Self {
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                         format!("--user-data-dir={}", profile.display())],
            },
        }}});
        let resp: Value = http.post(format!("{}/session", driver.base)).json(&caps).send().await.unwrap().json().await.unwrap();
        let session = resp["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {resp}")).to_string();
        Self { http, session: format!("{}/session/{session}", driver.base) }
    }

    /// One command; its `value`, or a panic with WebDriver's error.
    pub(crate) async fn cmd(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        self.try_cmd(method, path, body).await.unwrap_or_else(|answer| panic!("WebDriver {path}: {answer}"))
    }

    /// One command; its `value`, or WebDriver's error answer.
    pub(crate) async fn try_cmd(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, Value> {
        let mut rb = self.http.request(method, format!("{}{path}", self.session));
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let ok = resp.status().is_success();
        let answer: Value = resp.json().await.unwrap();
        if ok {
            Ok(answer["value"].clone())
        } else {
            Err(answer)
        }
    }

    pub(crate) async fn exec(&self, script: &str) -> Value {
        self.cmd(Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await
    }

    /// Waits for `script` to return something other than null or false.
    pub(crate) async fn until(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.exec(script).await;
            if !(v.is_null() || v == false) {
                return v;
            }
            assert!(Instant::now() < deadline, "timed out after 20 s waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// An element of the widget's shadow root, as WebDriver sees it (clicks hit-test it).
    async fn widget_element(&self, css: &str) -> String {
        let host = self.cmd(Method::POST, "/element", Some(json!({"using": "css selector", "value": "[data-tandem-widget]"}))).await;
        let shadow = self.cmd(Method::GET, &format!("/element/{}/shadow", host[ELEMENT].as_str().unwrap()), None).await;
        let el = self
            .cmd(
                Method::POST,
                &format!("/shadow/{}/element", shadow[SHADOW].as_str().unwrap()),
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        el[ELEMENT].as_str().unwrap().to_string()
    }

    async fn click(&self, css: &str) {
        let el = self.widget_element(css).await;
        self.cmd(Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await;
    }

    async fn type_in(&self, css: &str, text: &str) {
        let el = self.widget_element(css).await;
        self.cmd(Method::POST, &format!("/element/{el}/value"), Some(json!({"text": text}))).await;
    }

    pub(crate) async fn close(&self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

/// Serves `html` to every request on 127.0.0.1 (a business's page).
async fn serve_page(listener: tokio::net::TcpListener, html: String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { return };
        let html = html.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut read = 0;
            while !buf[..read].windows(4).any(|w| w == b"\r\n\r\n") && read < buf.len() {
                match conn.read(&mut buf[read..]).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
            }
            let (status, body) = if buf.starts_with(b"GET / ") { ("200 OK", html) } else { ("404 Not Found", String::new()) };
            let head = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

/// What the widget shows: `[direction, text, pending]` for each message, greeting aside.
const SHOWN: &str = r#"
const host = document.querySelector('[data-tandem-widget]');
if (!host || !host.shadowRoot) return null;
return Array.from(host.shadowRoot.querySelectorAll('.msg:not(.greeting)'))
  .map(li => [li.dataset.direction, li.textContent, li.classList.contains('pending')]);
"#;

async fn browser_scenario(app: &TestApp, browser: &Browser) {
    let t = app.tenant("Lumen").await;
    let page = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_url = format!("http://{}/", page.local_addr().unwrap());
    let origin = page_url.trim_end_matches('/').to_string();
    let config = json!({"allowed_origins": [origin], "title": "Lumen support", "greeting": "Hello! How can we help?"});
    let channel = widget_channel(app, &t, config).await;
    // The page's own styles would hide every button, list and text box, and paint everything red:
    // none of it may reach the widget.
    let html = format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Lumen lamps</title>
<style>button, textarea, ol, li, section {{ display: none !important; }} * {{ color: red !important; font-size: 40px; }}</style></head>
<body><h1>Lumen lamps</h1><p>Brass and black desk lamps.</p>
<script src="{}/widget/{channel}/widget.js" async></script></body></html>"#,
        app.base
    );
    let server = tokio::spawn(serve_page(page, html));

    browser.cmd(Method::POST, "/url", Some(json!({"url": page_url}))).await;
    browser.until("the widget's bubble", "const h = document.querySelector('[data-tandem-widget]'); return !!(h && h.shadowRoot && h.shadowRoot.querySelector('.bubble'));").await;
    let label = browser
        .exec("return document.querySelector('[data-tandem-widget]').shadowRoot.querySelector('.bubble').getAttribute('aria-label');")
        .await;
    assert_eq!(label, "Open chat");

    // The visitor opens the chat: the channel's title and greeting, then writes.
    browser.click(".bubble").await;
    browser
        .until(
            "the title",
            "return document.querySelector('[data-tandem-widget]').shadowRoot.querySelector('h2').textContent === 'Lumen support';",
        )
        .await;
    let greeting =
        browser.exec("return document.querySelector('[data-tandem-widget]').shadowRoot.querySelector('.greeting').textContent;").await;
    assert_eq!(greeting, "Hello! How can we help?");
    let style = browser
        .exec("const s = getComputedStyle(document.querySelector('[data-tandem-widget]').shadowRoot.querySelector('.panel')); return [s.color, s.fontSize];")
        .await;
    assert_eq!(style, json!(["rgb(31, 35, 40)", "15px"]), "the page's CSS reached the widget");
    browser.type_in("textarea", "Do you ship to Lyon?").await;
    browser.click(".send").await;

    // It lands in the inbox.
    let convo = the_conversation(app, &t.admin_key).await;
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let inbox = eventually(20, || async {
        let list = messages(app, &t.admin_key, &convo_id).await;
        (!list.is_empty()).then_some(list)
    })
    .await;
    assert_eq!((inbox[0]["direction"].as_str(), inbox[0]["body"].as_str()), (Some("inbound"), Some("Do you ship to Lyon?")));
    let mine = json!([["inbound", "Do you ship to Lyon?", false]]);
    browser
        .until("the message confirmed", &format!("const shown = (() => {{ {SHOWN} }})(); return JSON.stringify(shown) === '{mine}';"))
        .await;

    // Staff answer; the page shows it.
    let (status, sent) = json(
        app.send(Method::POST, &format!("/api/v1/conversations/{convo_id}/messages"), &t.staff_key, json!({"body": "Yes, in 2 days."}))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{sent}");
    let both = json!([["inbound", "Do you ship to Lyon?", false], ["outbound", "Yes, in 2 days.", false]]);
    let wanted = format!("const shown = (() => {{ {SHOWN} }})(); return JSON.stringify(shown) === '{both}' ? shown : null;");
    browser.until("the reply in the page", &wanted).await;
    let token = browser.exec(&format!("return JSON.parse(localStorage.getItem('tandem-widget:{channel}')).visitor;")).await;
    assert!(token.as_str().is_some_and(|t| t.starts_with("tdm_wv_")), "{token}");

    // Another page load: the same visitor, the conversation still there.
    browser.cmd(Method::POST, "/refresh", Some(json!({}))).await;
    browser.until("the conversation after a reload", &wanted).await;
    let again = browser.exec(&format!("return JSON.parse(localStorage.getItem('tandem-widget:{channel}')).visitor;")).await;
    assert_eq!(again, token);
    let (_, list) = json(app.get("/api/v1/conversations", &t.admin_key).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "still one conversation: {list}");
    server.abort();
}

#[tokio::test]
async fn the_widget_script_chats_from_a_web_page_in_headless_chromium_and_keeps_the_conversation_across_page_loads() {
    let Some(chromedriver) = chromedriver_binary() else { return };
    let app = TestApp::spawn().await;
    let driver = start_chromedriver(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::new(&driver, profile.path()).await;
    // The browser is closed even when an assertion fails.
    let outcome = std::panic::AssertUnwindSafe(browser_scenario(&app, &browser)).catch_unwind().await;
    browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// When the widget channel has an agent, the agent answers the visitor on the same socket (the
/// model is an OpenAI-compatible fake here; the real model's turn is tested in `agents`).
#[tokio::test]
async fn the_channels_agent_answers_a_widget_visitor_on_the_socket() {
    let llm = crate::agents::provider().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.llm.enabled = true;
        c.llm.base_url = Some(format!("{}/v1", llm.uri()));
    })
    .await;
    let t = app.tenant("Lumen").await;
    let channel = widget_channel(&app, &t, json!({"allowed_origins": [SHOP]})).await;
    let (_, agent) = json(app.send(Method::POST, "/api/v1/agents", &t.admin_key, json!({"name": "Lumen assistant"})).await).await;
    let set = app.send(Method::PUT, &format!("/api/v1/channels/{channel}/agent"), &t.admin_key, json!({"agent_id": agent["id"]})).await;
    assert_eq!(set.status(), 204);
    let (mut socket, _) = greet(&app, &channel, None).await;
    send(&mut socket, json!({"type": "message", "client_id": uuid::Uuid::new_v4(), "text": "When does my order ship?"})).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let frame = next(&mut socket).await;
        if frame["type"] == "message" && frame["direction"] == "outbound" {
            assert!(!frame["body"].as_str().unwrap().is_empty(), "{frame}");
            break;
        }
        assert!(Instant::now() < deadline, "no answer from the agent");
    }
    let convo = the_conversation(&app, &t.admin_key).await;
    let msgs = messages(&app, &t.admin_key, convo["id"].as_str().unwrap()).await;
    let reply = msgs.iter().find(|m| m["direction"] == "outbound").unwrap();
    assert_eq!(reply["author"], "agent", "{reply}");
}
