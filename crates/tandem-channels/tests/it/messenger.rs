//! Messenger: handshake, `X-Hub-Signature-256`, each fixture parsed to its exact events, the
//! exact Send API requests (with and without the HUMAN_AGENT tag) and Graph API errors.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::messenger::Settings, settings::Provider, signature, ChannelError, ChannelSender, ChannelSettings, Content, DeliveryStatus,
    Endpoints, InboundEvent, InboundKind, MediaKind, MessageTag, OutboundContent, OutboundMessage, SendOutcome, Sender, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const SECRET: &str = "messenger-app-secret";
const PSID: &str = "6945214398845663";

fn settings() -> Settings {
    Settings {
        page_id: "107517405442937".into(),
        page_access_token: "EAAPage-test-token".into(),
        app_secret: SECRET.into(),
        verify_token: "tandem-verify".into(),
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mac = signature::hmac_sha256(secret.as_bytes(), body);
    format!("sha256={}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn request<'a>(hdrs: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest { url: "https://tandem.example/webhooks/messenger/ch1", query: &[], headers: hdrs, body }
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("messenger", name);
    let hdrs = headers(&[("X-Hub-Signature-256", &sign(SECRET, &body))]);
    settings().verify(&request(&hdrs, &body)).expect("fixture signature");
    settings().parse(&request(&hdrs, &body)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn customer() -> Sender {
    Sender { id: PSID.into(), name: None, phone: None }
}

fn at(ms: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(ms))
}

fn message(id: &str, content: Content, ms: i64) -> InboundEvent {
    InboundEvent {
        provider_event_id: id.into(),
        kind: InboundKind::Message { sender: customer(), provider_message_id: id.into(), content },
        occurred_at: at(ms),
    }
}

// --- handshake and signature -----------------------------------------------------------------

#[test]
fn handshake_answers_the_challenge_only_for_our_token() {
    let q = |token: &str| -> Vec<(String, String)> {
        [("hub.mode", "subscribe"), ("hub.verify_token", token), ("hub.challenge", "CHALLENGE_ACCEPTED")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let ok = q("tandem-verify");
    let req = WebhookRequest { url: "https://tandem.example/webhooks/messenger/ch1", query: &ok, headers: &[], body: b"" };
    assert_eq!(settings().handshake(&req).unwrap(), "CHALLENGE_ACCEPTED");
    let bad = q("tandem-verify ");
    let req = WebhookRequest { url: "https://tandem.example/webhooks/messenger/ch1", query: &bad, headers: &[], body: b"" };
    assert!(matches!(settings().handshake(&req), Err(ChannelError::BadSignature(_))));
}

#[test]
fn signatures_are_checked_against_the_app_secret() {
    let body = fixture("messenger", "text.json");
    let good = headers(&[("X-Hub-Signature-256", &sign(SECRET, &body))]);
    assert!(settings().verify(&request(&good, &body)).is_ok());

    let forged = headers(&[("X-Hub-Signature-256", &sign("not-the-secret", &body))]);
    assert!(matches!(settings().verify(&request(&forged, &body)), Err(ChannelError::BadSignature(_))));

    // The legacy SHA-1 header alone is not enough.
    let sha1_only = headers(&[("X-Hub-Signature", "sha1=0123456789abcdef0123456789abcdef01234567")]);
    match settings().verify(&request(&sha1_only, &body)) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("X-Hub-Signature-256"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// --- inbound ---------------------------------------------------------------------------------

#[test]
fn text_and_quick_reply_from_batched_entries() {
    assert_eq!(
        parse("text.json"),
        vec![
            message(
                "m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P",
                Content::Text { body: "Hi! Is the store open on Sunday?".into() },
                1718271960117,
            ),
            message(
                "m_9cD1oE4Yc3QpX6bU2Jc0sUdP1kq4l7tE6g7m3gC2bXo9yKf8sQ1wZ3vR5nT0aH4jL6pM8rN2",
                Content::Button { text: "Talk to a person".into(), payload: Some("HANDOFF_HUMAN".into()) },
                1718271974803,
            ),
        ]
    );
}

#[test]
fn attachments_one_event_each() {
    let media = |kind, url: &str| Content::Media { kind, reference: url.into(), mime_type: None, caption: None, filename: None };
    let two = "m_Fv3x8yR1qE2wT5uI7oP9aS1dF3gH5jK7lZ9xC1vB3nM5qW7eR9tY1uI3oP5aS7dF9gH1jK3l";
    let link = "m_Lnk9Pr3v13wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWx";
    assert_eq!(
        parse("attachments.json"),
        vec![
            message(
                two,
                media(MediaKind::Image, "https://scontent.xx.fbcdn.net/v/t1.15752-9/448123_1.jpg?_nc_cat=1&oh=abc"),
                1718272100120
            ),
            message(
                &format!("{two}:1"),
                media(MediaKind::Image, "https://scontent.xx.fbcdn.net/v/t1.15752-9/448124_2.jpg?_nc_cat=1&oh=def"),
                1718272100120
            ),
            message(
                "m_Qa1Ws2Ed3Rf4Tg5Yh6Uj7Ik8Ol9Pz0Xc1Vb2Nm3Lk4Jh5Gf6Ds7Ap8Oi9Uy0Tr1Ew2Qa3Zx",
                media(MediaKind::Document, "https://cdn.fbsbx.com/v/t59.2708-21/receipt.pdf?_nc_cat=104&oh=ghi"),
                1718272130450,
            ),
            message(
                "m_St1ck3rXyZ0aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVw",
                media(MediaKind::Sticker, "https://scontent.xx.fbcdn.net/v/t39.1997-6/39178562_1505197616293642_n.png"),
                1718272140000,
            ),
            message(link, Content::Text { body: "https://shop.example/p/blue-mug".into() }, 1718272150000),
            message(&format!("{link}:1"), Content::Unsupported { description: "shared link: Blue mug | Shop".into() }, 1718272150000),
        ]
    );
}

#[test]
fn postback_is_a_button() {
    assert_eq!(
        parse("postback.json"),
        vec![message(
            "m_P0stb4ckAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz",
            Content::Button { text: "Track my order".into(), payload: Some("TRACK_ORDER".into()) },
            1718272200777,
        )]
    );
}

#[test]
fn delivery_is_one_status_per_mid_and_read_a_watermark_event() {
    let delivered = |mid: &str| InboundEvent {
        provider_event_id: format!("{mid}:delivered"),
        kind: InboundKind::Status {
            provider_message_id: mid.into(),
            status: DeliveryStatus::Delivered,
            failure: None,
            recipient: Some(PSID.into()),
        },
        occurred_at: at(1718272300050),
    };
    assert_eq!(
        parse("receipts.json"),
        vec![
            delivered("m_AG5Hz2U_reply_one_1718272290000"),
            delivered("m_AG5Hz2U_reply_two_1718272295000"),
            InboundEvent {
                provider_event_id: format!("read:{PSID}:1718272309500"),
                kind: InboundKind::Other { event_type: "read".into(), sender: Some(customer()) },
                occurred_at: at(1718272310000),
            },
        ]
    );
}

#[test]
fn echoes_of_our_sends_are_other_events() {
    assert_eq!(
        parse("echo.json"),
        vec![InboundEvent {
            provider_event_id: "m_AG5Hz2U_reply_one_1718272290000:echo".into(),
            kind: InboundKind::Other { event_type: "echo".into(), sender: Some(customer()) },
            occurred_at: at(1718272400100),
        }]
    );
}

#[test]
fn optins_are_other_and_reactions_unsupported_messages() {
    assert_eq!(
        parse("unknown.json"),
        vec![
            InboundEvent {
                provider_event_id: format!("optin:{PSID}:1718272500000"),
                kind: InboundKind::Other { event_type: "optin".into(), sender: Some(customer()) },
                occurred_at: at(1718272500000),
            },
            message(
                &format!("reaction:{PSID}:1718272510000"),
                Content::Unsupported { description: "reaction \u{2764}\u{fe0f}".into() },
                1718272510000
            ),
        ]
    );
}

#[test]
fn malformed_bodies_are_refused() {
    for body in [
        &b"{"[..],
        br#"{"object":"instagram","entry":[]}"#,
        br#"{"object":"page","entry":[{"messaging":[{"recipient":{"id":"1"},"timestamp":1,"message":{"mid":"m_1","text":"hi"}}]}]}"#,
        br#"{"object":"page","entry":[{"messaging":[{"sender":{"id":"1"},"timestamp":1,"message":{"text":"no mid"}}]}]}"#,
        br#"{"object":"page","entry":"nope"}"#,
    ] {
        let parsed = settings().parse(&request(&[], body));
        assert!(matches!(parsed, Err(ChannelError::Malformed(_))), "{}: {parsed:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn settings_are_checked() {
    let config = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let good = json!({"page_id": "1075", "page_access_token": "t", "app_secret": "s", "verify_token": "v"});
    assert!(ChannelSettings::parse(ChannelKind::Messenger, &config(good)).is_ok());
    let blank = json!({"page_id": "", "page_access_token": "t", "app_secret": "s", "verify_token": "v"});
    assert!(
        matches!(ChannelSettings::parse(ChannelKind::Messenger, &config(blank)), Err(ChannelError::InvalidSettings(m)) if m.contains("page_id"))
    );
    assert!(!format!("{:?}", settings()).contains("EAAPage-test-token"));
}

// --- outbound --------------------------------------------------------------------------------

fn outbound(content: OutboundContent, tag: Option<MessageTag>) -> OutboundMessage {
    OutboundMessage { recipient: PSID.into(), content, tag, idempotency_key: "5b0f3b9e-2f43-4f5c-9d4c-0f6c1b2a3d4e".into() }
}

async fn send_expecting(msg: OutboundMessage, expected: serde_json::Value) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/107517405442937/messages"))
        .and(header("authorization", "Bearer EAAPage-test-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("messenger", "send_ok.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Messenger(settings()), &msg).await
}

fn sent() -> SendOutcome {
    SendOutcome::Sent { provider_message_id: Some("m_AG5Hz2U_reply_three_1718272600000".into()) }
}

#[tokio::test]
async fn a_reply_in_the_window_is_a_response() {
    let msg = outbound(OutboundContent::Text { body: "We open at 10 on Sundays.".into() }, None);
    let expected = json!({
        "recipient": { "id": PSID },
        "messaging_type": "RESPONSE",
        "message": { "text": "We open at 10 on Sundays." }
    });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[tokio::test]
async fn a_human_agent_reply_carries_the_tag() {
    let msg = outbound(OutboundContent::Text { body: "Sorry for the wait, I've refunded it.".into() }, Some(MessageTag::HumanAgent));
    let expected = json!({
        "recipient": { "id": PSID },
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": { "text": "Sorry for the wait, I've refunded it." }
    });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[tokio::test]
async fn attachments_go_by_url() {
    let msg = outbound(
        OutboundContent::Media {
            kind: MediaKind::Document,
            url: "https://cdn.tandem.example/m/receipt.pdf".into(),
            caption: None,
            filename: Some("receipt.pdf".into()),
        },
        None,
    );
    let expected = json!({
        "recipient": { "id": PSID },
        "messaging_type": "RESPONSE",
        "message": { "attachment": { "type": "file", "payload": { "url": "https://cdn.tandem.example/m/receipt.pdf" } } }
    });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[test]
fn templates_and_captions_are_refused() {
    let template = outbound(OutboundContent::Template { name: "x".into(), language: "en".into(), variables: vec![] }, None);
    assert!(matches!(settings().build(&Endpoints::default(), &template, None), Err(ChannelError::Unsupported(_))));
    let captioned = outbound(
        OutboundContent::Media {
            kind: MediaKind::Image,
            url: "https://cdn.tandem.example/a.jpg".into(),
            caption: Some("look".into()),
            filename: None,
        },
        None,
    );
    assert!(matches!(settings().build(&Endpoints::default(), &captioned, None), Err(ChannelError::Unsupported(_))));
}

#[tokio::test]
async fn outside_the_window_is_a_final_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/107517405442937/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(fixture("messenger", "send_error_window.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    let msg = outbound(OutboundContent::Text { body: "hello again".into() }, None);
    let outcome = ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Messenger(settings()), &msg).await;
    assert_eq!(
        outcome,
        SendOutcome::Failed {
            code: "10".into(),
            message: "(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview".into(),
            retryable: false,
        }
    );
}

#[test]
fn temporary_failures_and_rate_limits_are_retryable() {
    let s = settings();
    let failed = |status: u16, body: &[u8]| match s.read_response(status, body) {
        SendOutcome::Failed { code, retryable, .. } => (code, retryable),
        other => panic!("{other:?}"),
    };
    assert_eq!(failed(400, &fixture("messenger", "send_error_temporary.json")), ("1200".into(), true));
    assert_eq!(
        failed(400, br#"{"error":{"message":"(#613) Calls to this api have exceeded the rate limit.","code":613}}"#),
        ("613".into(), true)
    );
    assert_eq!(failed(400, br#"{"error":{"message":"(#551) This person isn't available right now.","code":551}}"#), ("551".into(), false));
    assert_eq!(
        failed(400, br#"{"error":{"message":"(#100) No matching user found","code":100,"error_subcode":2018001}}"#),
        ("100".into(), false)
    );
}
