//! The shared inbox's web UI (`/inbox`) in headless Chromium against the real server: a person
//! logs in, a WhatsApp customer writes (a signed webhook) and the conversation shows up live,
//! the person takes it over from the AI agent, sends a smart reply, writes an internal note (in
//! the thread, never sent), sends a photo (by its public link), snoozes the conversation and wakes
//! it, opens a ticket (whose missed SLA rings the notifications bell) and resolves it (the
//! contact panel's history shows it), and the satisfaction survey goes out. The Graph API and the
//! model are faked at their HTTP boundary (wiremock), as in `channels`, `csat` and `agents`.
//!
//! The AI agent's own turn needs the embedding model and is tested in `agents`; here its state
//! on the conversation (handed off, with its reason, lead score and decisions) is written
//! through the store exactly as a turn writes it, and the channel has no agent, so nothing but
//! the person's actions reaches the Graph API.
//!
//! A screenshot of each main step lands in `target/screenshots/inbox/NN-step.png`.

use base64::Engine;
use futures::FutureExt;
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use tandem_core::{ConversationId, Role};
use tandem_store::{
    agent_runtime::{AgentStatus, NewAgentState, NewDecision},
    users::NewUser,
    Backend,
};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer,
};

use crate::{
    channels::{deliver, eventually, now_secs, the_conversation, wa_text, whatsapp_channel, with_graph, PHONE_NUMBER_ID},
    csat::{sent, UniqueIds},
    json,
    widget::{chromedriver_binary, start_chromedriver, Browser, ELEMENT},
    TestApp, PASSWORD,
};

const CUSTOMER_TEXT: &str = "Hello, my Orbe lamp arrived with a cracked shade. Can you help?";
/// The first suggestion of the fake model (`agents::provider`).
const SUGGESTION: &str = "Sure, it costs 129 EUR.";
const NOTE_TEXT: &str = "Photo of the crack received on WhatsApp; replacement shade approved by Lea.";
const PHOTO_CAPTION: &str = "Here is the replacement shade, shipping today.";
/// A 1×1 PNG.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63,
    0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d, 0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44,
    0xae, 0x42, 0x60, 0x82,
];
const TICKET_SUBJECT: &str = "Cracked lampshade on arrival";
/// Part of the built-in five-point survey question (see `csat`).
const SURVEY_WORDS: &str = "from 1 (very unsatisfied) to 5 (very satisfied)";

/// A CSS selector or a text as a JavaScript string literal.
fn js(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Where screenshots go: `target/screenshots/inbox`, beside the test binary's `target/<profile>`.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).expect("the test binary lives in target/<profile>/deps");
    let dir = target.join("screenshots").join("inbox");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The inbox page as a person uses it: elements found by `data-testid`, clicked and typed into
/// through WebDriver (so they must be visible and enabled, as for a person), waits with a deadline.
struct InboxPage<'a> {
    browser: &'a Browser,
    shots: PathBuf,
}

impl InboxPage<'_> {
    async fn element(&self, css: &str) -> String {
        let el = self.browser.cmd(Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        el[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {el}")).to_string()
    }

    /// Chooses a file in an `<input type=file>` (hidden behind its button, as WebDriver allows).
    async fn attach(&self, css: &str, file: &std::path::Path) {
        let el = self.element(css).await;
        self.browser.cmd(Method::POST, &format!("/element/{el}/value"), Some(json!({"text": file.display().to_string()}))).await;
    }

    async fn element_attr(&self, css: &str, attr: &str) -> String {
        let script = format!("return document.querySelector({}).getAttribute({});", js(css), js(attr));
        self.browser.exec(&script).await.as_str().unwrap_or_default().to_string()
    }

    async fn until_visible(&self, css: &str) {
        let script =
            format!("const el = document.querySelector({}); return !!el && el.getClientRects().length > 0 && !el.disabled;", js(css));
        self.browser.until(&format!("{css} to be visible and enabled"), &script).await;
    }

    async fn until_hidden(&self, css: &str) {
        let script = format!("const el = document.querySelector({}); return !el || el.getClientRects().length === 0;", js(css));
        self.browser.until(&format!("{css} to be hidden"), &script).await;
    }

    /// Clicks the element; when a live update re-rendered it between finding and clicking (a
    /// stale element), finds it again, as a person would click the new one.
    async fn click(&self, css: &str) {
        for _ in 0..5 {
            self.until_visible(css).await;
            let el = self.element(css).await;
            match self.browser.try_cmd(Method::POST, &format!("/element/{el}/click"), Some(json!({}))).await {
                Ok(_) => return,
                Err(e) if e["value"]["error"] == "stale element reference" => continue,
                Err(e) => panic!("WebDriver click on {css}: {e}"),
            }
        }
        panic!("{css} kept being re-rendered before it could be clicked");
    }

    async fn type_in(&self, css: &str, text: &str) {
        self.until_visible(css).await;
        let el = self.element(css).await;
        self.browser.cmd(Method::POST, &format!("/element/{el}/clear"), Some(json!({}))).await;
        self.browser.cmd(Method::POST, &format!("/element/{el}/value"), Some(json!({"text": text}))).await;
    }

    /// Picks an option of a `<select>` by clicking it, as a person would (an option of a closed
    /// list has no box of its own, so only the list is waited for).
    async fn choose(&self, select: &str, value: &str) {
        self.until_visible(select).await;
        let option = self.element(&format!("{select} option[value={}]", js(value))).await;
        self.browser.cmd(Method::POST, &format!("/element/{option}/click"), Some(json!({}))).await;
        let chosen = self.value(select).await;
        assert_eq!(chosen, value, "{select}");
    }

    /// Fails with the banner's text if the page shows an error (a step that should have worked).
    async fn no_error(&self, step: &str) {
        let shown = self
            .browser
            .exec("const b = document.querySelector('[data-testid=error-banner]'); return b.hidden ? null : b.textContent.trim();")
            .await;
        assert!(shown.is_null(), "the page shows an error after {step}: {shown}");
    }

    async fn text(&self, css: &str) -> String {
        let v =
            self.browser.exec(&format!("const el = document.querySelector({}); return el ? el.textContent.trim() : null;", js(css))).await;
        v.as_str().unwrap_or_else(|| panic!("no element {css}")).to_string()
    }

    async fn value(&self, css: &str) -> String {
        let v = self.browser.exec(&format!("return document.querySelector({}).value;", js(css))).await;
        v.as_str().unwrap().to_string()
    }

    async fn until_text(&self, css: &str, wanted: &str) {
        let script =
            format!("const el = document.querySelector({}); return !!el && el.textContent.trim().includes({});", js(css), js(wanted));
        self.browser.until(&format!("{css} to show {wanted:?}"), &script).await;
    }

    async fn until_attr(&self, css: &str, attr: &str, wanted: &str) {
        let script =
            format!("const el = document.querySelector({}); return !!el && el.getAttribute({}) === {};", js(css), js(attr), js(wanted));
        self.browser.until(&format!("{css} to have {attr}={wanted:?}"), &script).await;
    }

    /// Saves the page as `NN-step.png`.
    async fn shot(&self, name: &str) {
        let png = self.browser.cmd(Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), bytes).unwrap();
    }
}

/// The text messages the fake Graph API was asked to send, oldest first.
async fn graph_texts(graph: &MockServer) -> Vec<String> {
    sent(graph).await.iter().filter(|b| b["type"] == "text").filter_map(|b| b["text"]["body"].as_str().map(str::to_string)).collect()
}

async fn scenario(app: &TestApp, graph: &MockServer, browser: &Browser) {
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let channel = whatsapp_channel(app, &t).await;
    let (status, settings) =
        json(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"csat": {"scale": "five_point"}})).await).await;
    assert_eq!(status, 200, "{settings}");
    let camille = app
        .store()
        .create_user(
            t.id,
            NewUser {
                email: "camille@lumen.io".parse().unwrap(),
                name: "Camille Martin".into(),
                password: PASSWORD.into(),
                role: Role::Admin,
            },
        )
        .await
        .unwrap();
    let page = InboxPage { browser, shots: screenshot_dir() };
    browser.cmd(Method::POST, "/window/rect", Some(json!({"width": 1440, "height": 900}))).await;

    // Logging in.
    browser.cmd(Method::POST, "/url", Some(json!({"url": format!("{}/inbox", app.base)}))).await;
    page.until_visible("[data-testid=login-form]").await;
    page.shot("01-login").await;
    page.type_in("[data-testid=login-email]", "camille@lumen.io").await;
    page.type_in("[data-testid=login-password]", PASSWORD).await;
    page.click("[data-testid=login-submit]").await;
    page.until_text("[data-testid=me-name]", "Camille Martin").await;
    page.until_attr("[data-testid=live-status]", "data-state", "live").await;
    page.until_visible("[data-testid=list-empty]").await;
    assert_eq!(page.text("[data-testid=workspace-name]").await, "Lumen");
    page.no_error("logging in").await;
    page.shot("02-inbox").await;

    // A customer writes on WhatsApp: the conversation appears without a reload, with a preview.
    browser.exec("window.__sameDocument = true; return true;").await;
    deliver(app, &channel, &wa_text("wamid.UI1", CUSTOMER_TEXT, now_secs())).await;
    let arrived = format!(
        r#"return [...document.querySelectorAll('[data-testid=conversation-item]')].some(item =>
             item.querySelector('[data-testid=conversation-item-name]').textContent === 'Sheena Nelson'
             && item.querySelector('[data-testid=conversation-item-preview]').textContent.includes({})
             && item.dataset.unread === 'true');"#,
        js(CUSTOMER_TEXT)
    );
    browser.until("the new conversation in the list, live", &arrived).await;
    assert_eq!(browser.exec("return window.__sameDocument === true;").await, true, "the page was reloaded");
    let convo = the_conversation(app, key).await;
    let convo_id = convo["id"].as_str().unwrap().to_string();
    let item = format!("[data-testid=conversation-item][data-conversation-id=\"{convo_id}\"]");
    page.shot("03-new-message-live").await;

    // The AI agent answered and handed off, as its turn records it; the list hears of it.
    let store = app.store();
    let conversation: ConversationId = convo_id.parse().unwrap();
    let agent = store.create_agent(t.id, "Lumen assistant").await.unwrap().id;
    for (step, outcome, reason) in
        [("review", "score 72, Negative", "complex request: false"), ("handoff", "customer_request", "the customer asks for a person")]
    {
        store.log_decision(t.id, agent, Some(conversation), NewDecision { step, outcome, reason }).await.unwrap();
    }
    let handed_off = NewAgentState {
        agent,
        status: AgentStatus::HandedOff,
        handoff: Some(("customer_request", None)),
        lead_score: Some(72),
        summary: Some("The Orbe lamp arrived with a cracked shade; the customer wants a replacement."),
    };
    store.set_conversation_agent(t.id, conversation, handed_off).await.unwrap();
    page.until_attr(&item, "data-agent-status", "handed_off").await;

    // Opening it: the thread, the agent's decision and the window.
    page.click(&item).await;
    page.until_text("[data-testid=message][data-direction=inbound] [data-testid=message-body]", CUSTOMER_TEXT).await;
    assert_eq!(page.text("[data-testid=conversation-title]").await, "Sheena Nelson");
    page.until_attr("[data-testid=agent-status]", "data-status", "handed_off").await;
    assert_eq!(page.text("[data-testid=agent-handoff-reason]").await, "The customer asked for a person");
    page.until_attr("[data-testid=agent-lead-score]", "data-score", "72").await;
    page.until_attr("[data-testid=window-state]", "data-state", "open").await;
    page.until_text("[data-testid=contact-phone]", "+16505551234").await;
    page.no_error("opening the conversation").await;
    page.shot("04-conversation").await;

    // Taking it over from the AI agent.
    page.click("[data-testid=take-over]").await;
    page.until_text("[data-testid=conversation-assignee]", "Camille Martin").await;
    page.until_hidden("[data-testid=take-over]").await;
    let (_, now) = json(app.get(&format!("/api/v1/conversations/{convo_id}"), key).await).await;
    assert_eq!(now["assignee_user_id"], camille.id.to_string(), "{now}");
    page.no_error("taking over").await;
    page.shot("05-taken-over").await;

    // Smart replies: three suggestions for three credits; one fills the box, then goes out.
    page.click("[data-testid=smart-replies-request]").await;
    browser.until("three suggestions", "return document.querySelectorAll('[data-testid=smart-reply-chip]').length === 3;").await;
    page.until_text("[data-testid=smart-replies-credits]", "3 credits used").await;
    page.shot("06-smart-replies").await;
    page.click("[data-testid=smart-reply-chip]").await;
    assert_eq!(page.value("[data-testid=reply-input]").await, SUGGESTION);
    page.click("[data-testid=reply-send]").await;
    eventually(20, || async { graph_texts(graph).await.iter().any(|body| body == SUGGESTION).then_some(()) }).await;
    let delivered = format!(
        r#"return [...document.querySelectorAll('[data-testid=message][data-direction=outbound][data-author-kind=human]')].some(m =>
             m.querySelector('[data-testid=message-body]').textContent === {} && m.dataset.status === 'sent');"#,
        js(SUGGESTION)
    );
    browser.until("the reply shown as sent", &delivered).await;
    assert_eq!(page.value("[data-testid=reply-input]").await, "", "the box is emptied once sent");
    page.no_error("sending the smart reply").await;
    page.shot("07-reply-sent").await;

    // An internal note: in the thread as a note, kept on the contact, never sent.
    page.click("[data-testid=composer-mode-note]").await;
    page.type_in("[data-testid=note-input]", NOTE_TEXT).await;
    page.click("[data-testid=note-save]").await;
    page.until_text("[data-testid=thread-note] [data-testid=note-body]", NOTE_TEXT).await;
    let (_, in_conversation) = json(app.get(&format!("/api/v1/conversations/{convo_id}/notes"), key).await).await;
    assert_eq!(in_conversation["items"][0]["body"], NOTE_TEXT, "{in_conversation}");
    let as_message =
        format!("return [...document.querySelectorAll('[data-testid=message]')].some(m => m.textContent.includes({}));", js(NOTE_TEXT));
    assert_eq!(browser.exec(&as_message).await, false, "a note is not shown as a message");
    let (_, notes) = json(app.get(&format!("/api/v1/contacts/{}/notes", convo["contact_id"].as_str().unwrap()), key).await).await;
    assert_eq!(notes["items"][0]["body"], NOTE_TEXT, "{notes}");
    let (_, messages) = json(app.get(&format!("/api/v1/conversations/{convo_id}/messages"), key).await).await;
    assert!(!messages["items"].as_array().unwrap().iter().any(|m| m["body"] == NOTE_TEXT), "{messages}");
    page.shot("08-internal-note").await;

    // A photo attached to a reply goes out by its public link, and shows in the contact panel.
    page.click("[data-testid=composer-mode-reply]").await;
    page.type_in("[data-testid=reply-input]", PHOTO_CAPTION).await;
    let photo_dir = tempfile::tempdir().unwrap();
    let photo = photo_dir.path().join("replacement-shade.png");
    std::fs::write(&photo, PNG).unwrap();
    page.attach("[data-testid=attach-input]", &photo).await;
    let request = eventually(20, || async { sent(graph).await.into_iter().find(|b| b["type"] == "image") }).await;
    assert_eq!(request["image"]["caption"], PHOTO_CAPTION, "{request}");
    let link = request["image"]["link"].as_str().unwrap();
    let fetched = reqwest::get(link).await.unwrap();
    assert_eq!(fetched.headers()["content-type"], "image/png");
    assert_eq!(fetched.bytes().await.unwrap().as_ref(), PNG, "the provider fetches the very file");
    page.until_visible("[data-testid=contact-media] [data-testid=contact-media-item][data-kind=image]").await;
    page.until_text("[data-testid=item-preview]", "You: [image]").await;
    page.no_error("attaching a photo").await;
    page.shot("09-attachment-sent").await;

    // Snoozed for an hour: the header and the list say until when; waking it opens it again.
    page.click("[data-testid=snooze-button]").await;
    page.click("[data-testid=snooze-option][data-choice=\"1h\"]").await;
    page.until_visible("[data-testid=snoozed-until]").await;
    page.until_visible(&format!("{item} [data-testid=conversation-item-snoozed]")).await;
    let (_, snoozed) = json(app.get(&format!("/api/v1/conversations/{convo_id}"), key).await).await;
    assert_eq!(snoozed["status"], "snoozed", "{snoozed}");
    let until = tandem_core::Timestamp::try_from(snoozed["snoozed_until"].as_str().unwrap().to_string()).unwrap();
    let ahead = until.millis() - tandem_core::Timestamp::now().millis();
    assert!((3_500_000..=3_600_000).contains(&ahead), "snoozed for an hour: {snoozed}");
    page.shot("10-snoozed").await;
    page.click("[data-testid=snooze-wake]").await;
    page.until_hidden("[data-testid=snoozed-until]").await;
    let (_, woken) = json(app.get(&format!("/api/v1/conversations/{convo_id}"), key).await).await;
    assert_eq!((woken["status"].as_str(), woken["snoozed_until"].is_null()), (Some("open"), true), "{woken}");
    page.no_error("snoozing").await;

    // A ticket from the conversation.
    page.click("[data-testid=ticket-create]").await;
    page.type_in("[data-testid=ticket-subject]", TICKET_SUBJECT).await;
    page.choose("[data-testid=ticket-type]", "refund").await;
    page.choose("[data-testid=ticket-priority]", "high").await;
    page.click("[data-testid=ticket-submit]").await;
    page.until_text("[data-testid=ticket-card] [data-testid=ticket-card-subject]", TICKET_SUBJECT).await;
    page.until_attr("[data-testid=ticket-card] [data-testid=ticket-csat]", "data-state", "pending").await;
    let (_, tickets) = json(app.get(&format!("/api/v1/tickets?conversation_id={convo_id}"), key).await).await;
    let ticket = &tickets["items"][0];
    assert_eq!(
        (ticket["subject"].as_str(), ticket["type"].as_str(), ticket["priority"].as_str(), ticket["conversation_id"].as_str()),
        (Some(TICKET_SUBJECT), Some("refund"), Some("high"), Some(convo_id.as_str())),
        "{tickets}"
    );
    page.no_error("creating the ticket").await;
    page.shot("11-ticket-created").await;

    // A month later nobody has worked the ticket: its SLA escalates and the bell says so.
    let escalated = store.escalate_tickets(t.id, tandem_core::Timestamp::now().plus_millis(30 * 86_400_000)).await.unwrap();
    assert!(!escalated.is_empty(), "the high-priority ticket is overdue");
    // Any change to the conversation makes the page read its notifications again.
    let pending = app.send(Method::PATCH, &format!("/api/v1/conversations/{convo_id}"), key, json!({"status": "pending"})).await;
    assert_eq!(pending.status(), 200);
    browser
        .until(
            "the unread count",
            "const c = document.querySelector('[data-testid=notifications-count]'); return !!c && c.dataset.count !== '0';",
        )
        .await;
    let unread: i64 = page.element_attr("[data-testid=notifications-count]", "data-count").await.parse().unwrap();
    page.click("[data-testid=notifications-button]").await;
    page.until_text("[data-testid=notification-item][data-read=false] [data-testid=notification-text]", TICKET_SUBJECT).await;
    page.shot("12-notification").await;
    page.click("[data-testid=notification-item][data-read=false]").await;
    page.until_attr("[data-testid=notifications-count]", "data-count", &(unread - 1).to_string()).await;
    page.no_error("reading a notification").await;

    // Resolving it sends the satisfaction survey through WhatsApp.
    page.click("[data-testid=ticket-card] [data-testid=ticket-resolve]").await;
    page.until_text("[data-testid=ticket-card] [data-testid=ticket-status]", "Resolved").await;
    page.until_attr("[data-testid=ticket-card] [data-testid=ticket-csat]", "data-state", "sent").await;
    eventually(20, || async { graph_texts(graph).await.into_iter().find(|body| body.contains(SURVEY_WORDS)) }).await;
    browser.until("the survey in the thread", "return !!document.querySelector('[data-testid=message][data-author-kind=survey]');").await;
    page.until_visible("[data-testid=contact-activity-item][data-kind=\"ticket.resolved\"]").await;
    page.no_error("resolving the ticket").await;
    page.shot("13-ticket-resolved-csat").await;

    // Only the reply and the survey went to WhatsApp: never the note.
    let texts = graph_texts(graph).await;
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(!texts.iter().any(|body| body.contains(NOTE_TEXT)), "{texts:?}");
    assert!(!sent(graph).await.iter().any(|b| b.to_string().contains("replacement shade approved")));

    // An error of the API is shown with its code.
    page.type_in("[data-testid=contact-field][data-field=email]", "not an e-mail").await;
    page.click("[data-testid=contact-save]").await;
    page.until_visible("[data-testid=error-banner]").await;
    assert_eq!(page.text("[data-testid=error-code]").await, "invalid_email");
    page.shot("14-error-banner").await;
    page.click("[data-testid=error-dismiss]").await;
    page.until_hidden("[data-testid=error-banner]").await;

    // Logging out ends the session.
    page.click("[data-testid=logout]").await;
    page.until_visible("[data-testid=login-form]").await;
    let me = browser.exec("return fetch('/api/v1/me').then(r => r.status);").await;
    assert_eq!(me, 401);
    page.shot("15-logged-out").await;
}

#[tokio::test]
async fn a_person_works_a_whatsapp_conversation_in_the_inbox_ui_in_headless_chromium() {
    let Some(chromedriver) = chromedriver_binary() else {
        eprintln!("skipped: chromedriver is missing and TANDEM_SKIP_BROWSER is set (scripts/browser/ensure installs it)");
        return;
    };
    let graph = MockServer::start().await;
    Mock::given(method("POST")).and(path(format!("/{PHONE_NUMBER_ID}/messages"))).respond_with(UniqueIds::default()).mount(&graph).await;
    let llm = crate::agents::provider().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        with_graph(c, &graph);
        c.llm.enabled = true;
        c.llm.base_url = Some(format!("{}/v1", llm.uri()));
    })
    .await;
    let driver = start_chromedriver(&chromedriver).await;
    let profile = tempfile::tempdir().unwrap();
    let browser = Browser::new(&driver, profile.path()).await;
    // The browser is closed even when an assertion fails.
    let outcome = std::panic::AssertUnwindSafe(scenario(&app, &graph, &browser)).catch_unwind().await;
    browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The page and its two files, with their types, revalidation and the page's policy; no
/// browser needed.
#[tokio::test]
async fn the_inbox_page_and_its_assets_are_served_with_a_strict_policy() {
    let app = TestApp::spawn().await;
    for (path, content_type, needle) in [
        ("/inbox", "text/html; charset=utf-8", "data-testid=\"login-form\""),
        ("/inbox/inbox.js", "text/javascript; charset=utf-8", "new EventSource("),
        ("/inbox/inbox.css", "text/css; charset=utf-8", "--accent"),
    ] {
        let resp = app.request(Method::GET, path, None).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(headers["content-type"], content_type, "{path}");
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert!(resp.text().await.unwrap().contains(needle), "{path}");
    }
    let resp = app.request(Method::GET, "/inbox", None).send().await.unwrap();
    let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
    for directive in ["default-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'"] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    // Without a session the API refuses, and the page shows the login form (the script asks /me).
    let (status, me) = json(app.request(Method::GET, "/api/v1/me", None).send().await.unwrap()).await;
    assert_eq!((status, me["error"]["code"].as_str()), (401, Some("unauthenticated")), "{me}");
}
