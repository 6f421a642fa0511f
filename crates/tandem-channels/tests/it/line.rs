//! LINE Messaging API: X-Line-Signature, webhook events, push requests with X-Line-Retry-Key.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::line::Settings, settings::Provider, signature, ChannelError, ChannelSender, ChannelSettings, Content, Endpoints,
    InboundEvent, InboundKind, MediaKind, OutboundContent, OutboundMessage, SendOutcome, Sender, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const SECRET: &str = "8c9a3b2f1e0d4c5b6a7f8e9d0c1b2a3f";
const ACCESS_TOKEN: &str = "ywTe0R7mOvyBl1lEkNb9dYzN+DY/w1ZzOjN4WnV8aGs=";
const URL: &str = "https://tandem.example/webhooks/line/ch1";
const USER: &str = "U4af4980629a0f4ab8c0a2b6e0f5c1d2e";
const RETRY_KEY: &str = "123e4567-e89b-12d3-a456-426614174000";

fn settings_with(secret: &str) -> Settings {
    let config = json!({ "channel_secret": secret, "channel_access_token": ACCESS_TOKEN });
    match ChannelSettings::parse(ChannelKind::Line, config.as_object().expect("object")).expect("valid settings") {
        ChannelSettings::Line(s) => s,
        other => panic!("parsed as {:?}", other.kind()),
    }
}

fn settings() -> Settings {
    settings_with(SECRET)
}

fn sign(body: &[u8]) -> String {
    signature::base64(&signature::hmac_sha256(SECRET.as_bytes(), body))
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("line", name);
    let sig = sign(&body);
    let hdrs = headers(&[("X-Line-Signature", &sig), ("Content-Type", "application/json; charset=utf-8")]);
    let req = WebhookRequest { url: URL, query: &[], headers: &hdrs, body: &body };
    let s = settings();
    s.verify(&req).expect("signature accepted");
    s.parse(&req).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn user() -> Sender {
    Sender { id: USER.into(), name: None, phone: None }
}

fn message(id: &str, content: Content, at: i64) -> InboundEvent {
    InboundEvent {
        provider_event_id: id.into(),
        kind: InboundKind::Message { sender: user(), provider_message_id: id.into(), content },
        occurred_at: Some(Timestamp::from_millis(at)),
    }
}

#[test]
fn settings_need_both_credentials() {
    for config in [
        json!({ "channel_secret": "", "channel_access_token": ACCESS_TOKEN }),
        json!({ "channel_secret": SECRET, "channel_access_token": "  " }),
        json!({ "channel_secret": SECRET }),
        json!({ "channel_secret": SECRET, "channel_access_token": ACCESS_TOKEN, "channel_id": "1" }),
    ] {
        let err = ChannelSettings::parse(ChannelKind::Line, config.as_object().expect("object")).expect_err("refused");
        assert!(matches!(err, ChannelError::InvalidSettings(_)), "{config}: {err:?}");
    }
    assert!(!format!("{:?}", settings()).contains(SECRET));
}

/// The vector of LINE's own Node.js SDK (`test/validate-signature.spec.ts`).
#[test]
fn the_sdk_signature_vector_is_accepted() {
    let s = settings_with("test_secret");
    let body = br#"{"hello":"world"}"#;
    let check = |sig: &str| {
        let hdrs = headers(&[("X-Line-Signature", sig)]);
        s.verify(&WebhookRequest { url: URL, query: &[], headers: &hdrs, body })
    };
    assert!(check("t7Hn4ZDHqs6e+wdvI5TyQIvzie0DmMUmuXEBqyyE/tM=").is_ok());
    assert!(matches!(check("t7Hn4ZDHqs6e+wdvi5TyQivzie0DmMUmuXEBqyyE/tM="), Err(ChannelError::BadSignature(_))));
}

#[test]
fn forged_or_missing_signatures_are_refused() {
    let s = settings();
    let body = fixture("line", "text.json");
    let other_sig = sign(b"{\"destination\":\"x\",\"events\":[]}");
    let forged = headers(&[("X-Line-Signature", &other_sig)]);
    match s.verify(&WebhookRequest { url: URL, query: &[], headers: &forged, body: &body }) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("does not match"), "{m}"),
        other => panic!("forged: {other:?}"),
    }
    // Signed with another channel's secret.
    let wrong_key = settings_with("another-channel-secret");
    let sig = sign(&body);
    let hdrs = headers(&[("X-Line-Signature", &sig)]);
    assert!(matches!(
        wrong_key.verify(&WebhookRequest { url: URL, query: &[], headers: &hdrs, body: &body }),
        Err(ChannelError::BadSignature(_))
    ));
    let none = headers(&[]);
    match s.verify(&WebhookRequest { url: URL, query: &[], headers: &none, body: &body }) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("X-Line-Signature"), "{m}"),
        other => panic!("missing: {other:?}"),
    }
}

#[test]
fn a_text_message_is_keyed_by_its_message_id() {
    assert_eq!(
        parse("text.json"),
        vec![message("468789577898262530", Content::Text { body: "こんにちは、注文の状況を教えてください".into() }, 1692251666727)]
    );
}

#[test]
fn media_are_referenced_by_message_id() {
    let media = |kind, reference: &str, filename: Option<&str>| Content::Media {
        kind,
        reference: reference.into(),
        mime_type: None,
        caption: None,
        filename: filename.map(Into::into),
    };
    assert_eq!(
        parse("media.json"),
        vec![
            message("354718705033693859", media(MediaKind::Image, "354718705033693859", None), 1692251667000),
            message("325708", media(MediaKind::Document, "325708", Some("invoice.pdf")), 1692251668000),
            // In a group the user id is still the sender.
            message(
                "325709",
                Content::Location {
                    latitude: 35.67966,
                    longitude: 139.73669,
                    name: Some("my location".into()),
                    address: Some("1-3 Kioicho, Chiyoda-ku, Tokyo, 102-8282, Japan".into()),
                },
                1692251669000
            ),
            message("1501597916", Content::Unsupported { description: "sticker".into() }, 1692251670000),
        ]
    );
}

#[test]
fn a_postback_is_a_button_keyed_by_the_webhook_event_id() {
    let data = "action=handoff&order=4471";
    assert_eq!(
        parse("postback.json"),
        vec![message("01H810YECXQQZ37VAXPF6H9E6Y", Content::Button { text: data.into(), payload: Some(data.into()) }, 1692251671000)]
    );
}

#[test]
fn follows_and_unknown_events_are_other() {
    let other = |id: &str, t: &str, at: i64| InboundEvent {
        provider_event_id: id.into(),
        kind: InboundKind::Other { event_type: t.into(), sender: Some(user()) },
        occurred_at: Some(Timestamp::from_millis(at)),
    };
    assert_eq!(
        parse("follow.json"),
        vec![
            other("01H810YECXQQZ37VAXPF6H9E6Z", "follow", 1692251672000),
            other("01H810YECXQQZ37VAXPF6H9E70", "unfollow", 1692251673000),
            other("01H810YECXQQZ37VAXPF6H9E71", "membership", 1692251674000),
        ]
    );
}

#[test]
fn the_console_verify_request_has_no_events() {
    assert_eq!(parse("verify.json"), vec![]);
}

#[test]
fn malformed_bodies_are_refused() {
    let s = settings();
    for body in [&b"<xml/>"[..], br#"{"destination":"U1"}"#, br#"{"events":[{"timestamp":1}]}"#, br#"{"events":{}}"#] {
        let sig = sign(body);
        let hdrs = headers(&[("X-Line-Signature", &sig)]);
        let req = WebhookRequest { url: URL, query: &[], headers: &hdrs, body };
        assert!(matches!(s.parse(&req), Err(ChannelError::Malformed(_))), "{}", String::from_utf8_lossy(body));
    }
}

fn outbound(content: OutboundContent) -> OutboundMessage {
    OutboundMessage { recipient: USER.into(), content, tag: None, idempotency_key: RETRY_KEY.into() }
}

async fn push_server(expected: serde_json::Value, status: u16, reply: Vec<u8>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/bot/message/push"))
        .and(header("authorization", format!("Bearer {ACCESS_TOKEN}").as_str()))
        .and(header("x-line-retry-key", RETRY_KEY))
        .and(header("content-type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(status).set_body_bytes(reply))
        .expect(1)
        .mount(&server)
        .await;
    server
}

async fn send(server: &MockServer, msg: &OutboundMessage) -> SendOutcome {
    let sender = ChannelSender::new(Endpoints { line: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    sender.send("ch1", &ChannelSettings::Line(settings()), msg).await
}

#[tokio::test]
async fn a_text_is_pushed_with_the_retry_key() {
    let server = push_server(
        json!({ "to": USER, "messages": [{ "type": "text", "text": "ご注文は本日発送します" }] }),
        200,
        fixture("line", "sent.json"),
    )
    .await;
    let outcome = send(&server, &outbound(OutboundContent::Text { body: "ご注文は本日発送します".into() })).await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("461230966842064897".into()) });
}

#[tokio::test]
async fn an_image_carries_its_preview_and_its_caption_follows_as_text() {
    let url = "https://cdn.example/label.jpg";
    let server = push_server(
        json!({ "to": USER, "messages": [
            { "type": "image", "originalContentUrl": url, "previewImageUrl": url },
            { "type": "text", "text": "配送ラベル" }
        ] }),
        200,
        fixture("line", "sent.json"),
    )
    .await;
    let msg =
        outbound(OutboundContent::Media {
            kind: MediaKind::Image, url: url.into(), caption: Some("配送ラベル".into()), filename: None
        });
    assert_eq!(send(&server, &msg).await, SendOutcome::Sent { provider_message_id: Some("461230966842064897".into()) });
}

#[tokio::test]
async fn an_already_accepted_retry_key_counts_as_sent() {
    let server =
        push_server(json!({ "to": USER, "messages": [{ "type": "text", "text": "again" }] }), 409, fixture("line", "conflict_409.json"))
            .await;
    let outcome = send(&server, &outbound(OutboundContent::Text { body: "again".into() })).await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("461230966842064897".into()) });
}

#[test]
fn a_document_goes_as_a_link_and_templates_are_refused() {
    let s = settings();
    let req = s
        .build(
            &Endpoints::default(),
            &outbound(OutboundContent::Media {
                kind: MediaKind::Document,
                url: "https://cdn.example/nf.pdf".into(),
                caption: None,
                filename: Some("nf.pdf".into()),
            }),
            None,
        )
        .expect("request");
    assert_eq!(req.url, "https://api.line.me/v2/bot/message/push");
    let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(body, json!({ "to": USER, "messages": [{ "type": "text", "text": "nf.pdf\nhttps://cdn.example/nf.pdf" }] }));
    let template = outbound(OutboundContent::Template { name: "t".into(), language: "ja".into(), variables: vec![] });
    assert!(matches!(s.build(&Endpoints::default(), &template, None), Err(ChannelError::Unsupported(_))));
}

#[tokio::test]
async fn a_bad_request_is_a_final_failure_with_its_details() {
    let server =
        push_server(json!({ "to": USER, "messages": [{ "type": "text", "text": "x" }] }), 400, fixture("line", "error_400.json")).await;
    assert_eq!(
        send(&server, &outbound(OutboundContent::Text { body: "x".into() })).await,
        SendOutcome::Failed {
            code: "400".into(),
            message: "The request body has 1 error(s) (to: must be specified)".into(),
            retryable: false
        }
    );
}

#[test]
fn rate_limits_retry_but_the_monthly_quota_does_not() {
    let s = settings();
    assert_eq!(
        s.read_response(429, &fixture("line", "error_429_quota.json")),
        SendOutcome::Failed { code: "429".into(), message: "You have reached your monthly limit.".into(), retryable: false }
    );
    assert_eq!(
        s.read_response(429, br#"{"message":"Too many requests"}"#),
        SendOutcome::Failed { code: "429".into(), message: "Too many requests".into(), retryable: true }
    );
    assert!(matches!(s.read_response(500, b""), SendOutcome::Failed { retryable: true, ref code, .. } if code == "500"));
    assert!(matches!(s.read_response(401, br#"{"message":"Authentication failed"}"#), SendOutcome::Failed { retryable: false, .. }));
}
