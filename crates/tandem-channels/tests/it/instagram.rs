//! Instagram messaging (Messenger Platform): `object: instagram` webhooks parsed to their exact
//! events, `X-Hub-Signature-256`, and the exact send requests.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::instagram::Settings, settings::Provider, signature, ChannelError, ChannelSender, ChannelSettings, Content, DeliveryStatus,
    Endpoints, InboundEvent, InboundKind, MediaKind, MessageTag, OutboundContent, OutboundMessage, SendOutcome, Sender, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const SECRET: &str = "instagram-app-secret";
const IGSID: &str = "1135412280842154";

fn settings() -> Settings {
    Settings {
        account_id: "17841405822304914".into(),
        access_token: "EAAInsta-test-token".into(),
        app_secret: SECRET.into(),
        verify_token: "tandem-verify".into(),
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mac = signature::hmac_sha256(secret.as_bytes(), body);
    format!("sha256={}", mac.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn request<'a>(hdrs: &'a [(String, String)], body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest { url: "https://tandem.example/webhooks/instagram/ch1", query: &[], headers: hdrs, body }
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("instagram", name);
    let hdrs = headers(&[("X-Hub-Signature-256", &sign(SECRET, &body))]);
    settings().verify(&request(&hdrs, &body)).expect("fixture signature");
    settings().parse(&request(&hdrs, &body)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn customer() -> Sender {
    Sender { id: IGSID.into(), name: None, phone: None }
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

const MID_TEXT: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzQ5OTo=";
const MID_OURS: &str = "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzkwMDo=";

#[test]
fn handshake_and_signature() {
    let q: Vec<(String, String)> = [("hub.mode", "subscribe"), ("hub.verify_token", "tandem-verify"), ("hub.challenge", "987654")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let req = WebhookRequest { url: "https://tandem.example/webhooks/instagram/ch1", query: &q, headers: &[], body: b"" };
    assert_eq!(settings().handshake(&req).unwrap(), "987654");

    let body = fixture("instagram", "text.json");
    let good = headers(&[("X-Hub-Signature-256", &sign(SECRET, &body))]);
    assert!(settings().verify(&request(&good, &body)).is_ok());
    let forged = headers(&[("X-Hub-Signature-256", &sign("messenger-app-secret", &body))]);
    assert!(matches!(settings().verify(&request(&forged, &body)), Err(ChannelError::BadSignature(_))));
    assert!(matches!(settings().verify(&request(&[], &body)), Err(ChannelError::BadSignature(m)) if m.contains("X-Hub-Signature-256")));
}

#[test]
fn text_and_quick_reply() {
    assert_eq!(
        parse("text.json"),
        vec![
            message(MID_TEXT, Content::Text { body: "Do you ship to Portugal?".into() }, 1718280000123),
            message(
                "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwMDo=",
                Content::Button { text: "Yes please".into(), payload: Some("SHIPPING_YES".into()) },
                1718280010456,
            ),
        ]
    );
}

#[test]
fn media_and_story_mentions() {
    assert_eq!(
        parse("media.json"),
        vec![
            message(
                "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwMTo=",
                Content::Media {
                    kind: MediaKind::Video,
                    reference: "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=17972618150739841&signature=AbC".into(),
                    mime_type: None,
                    caption: None,
                    filename: None,
                },
                1718280100700,
            ),
            message(
                "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwMjo=",
                Content::Unsupported {
                    description: "story mention: https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=18034985722012345&signature=DeF"
                        .into(),
                },
                1718280120000,
            ),
        ]
    );
}

#[test]
fn read_receipts_name_the_message_and_echoes_deletions_are_other() {
    assert_eq!(
        parse("events.json"),
        vec![
            InboundEvent {
                provider_event_id: format!("{MID_OURS}:read"),
                kind: InboundKind::Status {
                    provider_message_id: MID_OURS.into(),
                    status: DeliveryStatus::Read,
                    failure: None,
                    recipient: Some(IGSID.into()),
                },
                occurred_at: at(1718280200100),
            },
            message(
                "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwMzo=",
                Content::Button { text: "What are your opening hours?".into(), payload: Some("ICEBREAKER_HOURS".into()) },
                1718280210000,
            ),
            InboundEvent {
                provider_event_id: "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwMDo=:deleted".into(),
                kind: InboundKind::Other { event_type: "message_deleted".into(), sender: Some(customer()) },
                occurred_at: at(1718280220000),
            },
            InboundEvent {
                provider_event_id: format!("{MID_OURS}:echo"),
                kind: InboundKind::Other { event_type: "echo".into(), sender: Some(customer()) },
                occurred_at: at(1718280230000),
            },
        ]
    );
}

#[test]
fn comments_referrals_and_unsupported_messages_are_kept() {
    let events = parse("unknown.json");
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(events[0].kind, InboundKind::Other { event_type: "comments".into(), sender: None });
    assert!(events[0].provider_event_id.starts_with("comments:"), "{}", events[0].provider_event_id);
    assert_eq!(events[0].occurred_at, at(1718280300000));
    assert_eq!(
        events[1],
        InboundEvent {
            provider_event_id: format!("referral:{IGSID}:1718280309000"),
            kind: InboundKind::Other { event_type: "referral".into(), sender: Some(customer()) },
            occurred_at: at(1718280309000),
        }
    );
    assert_eq!(
        events[2],
        message(
            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzUwNDo=",
            Content::Unsupported { description: "unsupported message".into() },
            1718280311000,
        )
    );
}

#[test]
fn malformed_bodies_are_refused() {
    for body in [&b"[]"[..], br#"{"object":"page","entry":[]}"#, br#"{"object":"instagram","entry":[{"messaging":[{"timestamp":1}]}]}"#] {
        let parsed = settings().parse(&request(&[], body));
        assert!(matches!(parsed, Err(ChannelError::Malformed(_))), "{}: {parsed:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn settings_are_checked() {
    let config = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let good = json!({"account_id": "1784", "access_token": "t", "app_secret": "s", "verify_token": "v"});
    assert!(ChannelSettings::parse(ChannelKind::Instagram, &config(good)).is_ok());
    let blank = json!({"account_id": "1784", "access_token": "t", "app_secret": "", "verify_token": "v"});
    assert!(
        matches!(ChannelSettings::parse(ChannelKind::Instagram, &config(blank)), Err(ChannelError::InvalidSettings(m)) if m.contains("app_secret"))
    );
    let messenger_shaped = json!({"page_id": "1784", "page_access_token": "t", "app_secret": "s", "verify_token": "v"});
    assert!(matches!(ChannelSettings::parse(ChannelKind::Instagram, &config(messenger_shaped)), Err(ChannelError::InvalidSettings(_))));
}

// --- outbound --------------------------------------------------------------------------------

fn outbound(content: OutboundContent, tag: Option<MessageTag>) -> OutboundMessage {
    OutboundMessage { recipient: IGSID.into(), content, tag, idempotency_key: "8c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f".into() }
}

async fn send_expecting(msg: OutboundMessage, expected: serde_json::Value) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17841405822304914/messages"))
        .and(header("authorization", "Bearer EAAInsta-test-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("instagram", "send_ok.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Instagram(settings()), &msg).await
}

fn sent() -> SendOutcome {
    SendOutcome::Sent {
        provider_message_id: Some(
            "aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0OjM0MDI4MjM2Njg0MTcxMDMwMTI0NDI1OTk4MDQ1NjQ4NzQ3MzkwMTo=".into(),
        ),
    }
}

#[tokio::test]
async fn sends_text() {
    let msg = outbound(OutboundContent::Text { body: "Yes, we ship to Portugal.".into() }, None);
    let expected = json!({ "recipient": { "id": IGSID }, "message": { "text": "Yes, we ship to Portugal." } });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[tokio::test]
async fn sends_an_image_by_url() {
    let msg = outbound(
        OutboundContent::Media {
            kind: MediaKind::Image,
            url: "https://cdn.tandem.example/m/map.png".into(),
            caption: None,
            filename: None,
        },
        None,
    );
    let expected = json!({
        "recipient": { "id": IGSID },
        "message": { "attachment": { "type": "image", "payload": { "url": "https://cdn.tandem.example/m/map.png" } } }
    });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[tokio::test]
async fn a_human_agent_reply_is_tagged() {
    let msg = outbound(OutboundContent::Text { body: "Following up on your order.".into() }, Some(MessageTag::HumanAgent));
    let expected = json!({
        "recipient": { "id": IGSID },
        "messaging_type": "MESSAGE_TAG",
        "tag": "HUMAN_AGENT",
        "message": { "text": "Following up on your order." }
    });
    assert_eq!(send_expecting(msg, expected).await, sent());
}

#[test]
fn templates_are_whatsapp_only() {
    let msg = outbound(OutboundContent::Template { name: "x".into(), language: "en".into(), variables: vec!["a".into()] }, None);
    assert!(matches!(settings().build(&Endpoints::default(), &msg, None), Err(ChannelError::Unsupported(_))));
}

#[tokio::test]
async fn errors_keep_the_graph_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/17841405822304914/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(fixture("instagram", "send_error_window.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    let msg = outbound(OutboundContent::Text { body: "hi".into() }, None);
    let outcome = ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Instagram(settings()), &msg).await;
    assert_eq!(
        outcome,
        SendOutcome::Failed {
            code: "10".into(),
            message: "(#10) This message is sent outside of allowed window.".into(),
            retryable: false
        }
    );
    let limited = settings().read_response(
        400,
        br#"{"error":{"message":"(#80002) There have been too many calls to this Instagram account.","code":80002,"is_transient":false}}"#,
    );
    assert!(matches!(limited, SendOutcome::Failed { ref code, retryable: true, .. } if code == "80002"), "{limited:?}");
}
