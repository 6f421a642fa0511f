//! Viber REST bot API: X-Viber-Content-Signature, callbacks, send_message requests.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::viber::Settings, settings::Provider, signature, ChannelError, ChannelSender, ChannelSettings, Content, DeliveryStatus,
    Endpoints, InboundEvent, InboundKind, MediaKind, OutboundContent, OutboundMessage, ProviderFailure, SendOutcome, Sender, SharedContact,
    WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const TOKEN: &str = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9";
const URL: &str = "https://tandem.example/webhooks/viber/ch1";
const USER: &str = "01234567890A=";

fn settings_from(config: serde_json::Value) -> Settings {
    match ChannelSettings::parse(ChannelKind::Viber, config.as_object().expect("object")).expect("valid settings") {
        ChannelSettings::Viber(s) => s,
        other => panic!("parsed as {:?}", other.kind()),
    }
}

fn settings() -> Settings {
    settings_from(json!({ "auth_token": TOKEN, "sender_name": "Loja Tandem", "sender_avatar": "https://cdn.example/avatar.png" }))
}

fn sign(body: &[u8]) -> String {
    hex::encode(signature::hmac_sha256(TOKEN.as_bytes(), body))
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("viber", name);
    let sig = sign(&body);
    let hdrs = headers(&[("X-Viber-Content-Signature", &sig), ("Content-Type", "application/json")]);
    let req = WebhookRequest { url: URL, query: &[], headers: &hdrs, body: &body };
    let s = settings();
    s.verify(&req).expect("signature accepted");
    s.parse(&req).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn one(name: &str) -> InboundEvent {
    let mut events = parse(name);
    assert_eq!(events.len(), 1, "{name}");
    events.remove(0)
}

fn john() -> Sender {
    Sender { id: USER.into(), name: Some("John McClane".into()), phone: None }
}

fn content_of(name: &str) -> Content {
    match one(name).kind {
        InboundKind::Message { content, .. } => content,
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn settings_need_a_token_and_a_short_sender_name() {
    for config in [
        json!({ "auth_token": "", "sender_name": "Loja" }),
        json!({ "auth_token": TOKEN, "sender_name": "" }),
        json!({ "auth_token": TOKEN, "sender_name": "A name far longer than Viber's 28" }),
        json!({ "auth_token": TOKEN }),
        json!({ "auth_token": TOKEN, "sender_name": "Loja", "webhook": "x" }),
    ] {
        let err = ChannelSettings::parse(ChannelKind::Viber, config.as_object().expect("object")).expect_err("refused");
        assert!(matches!(err, ChannelError::InvalidSettings(_)), "{config}: {err:?}");
    }
    // The avatar is optional.
    let s = settings_from(json!({ "auth_token": TOKEN, "sender_name": "Loja" }));
    assert_eq!(s.sender_avatar, None);
    assert!(!format!("{s:?}").contains(TOKEN));
}

/// The vector of Viber's Python bot SDK (`tests/api/test_api.py`, `test_verify_signature`).
#[test]
fn the_sdk_signature_vector_is_accepted_and_parsed() {
    let s = settings_from(json!({ "auth_token": "44dafb7e0f40021e-61a47a1e6778d187-f2c5a676a07050b3", "sender_name": "testbot" }));
    let body = br#"{"event":"webhook","timestamp":4977069964384421269,"message_token":1478683725125}"#;
    let good = headers(&[("X-Viber-Content-Signature", "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ef")]);
    let req = WebhookRequest { url: URL, query: &[], headers: &good, body };
    assert!(s.verify(&req).is_ok());
    assert_eq!(
        s.parse(&req).expect("parsed"),
        vec![InboundEvent {
            provider_event_id: "1478683725125:webhook".into(),
            kind: InboundKind::Other { event_type: "webhook".into(), sender: None },
            occurred_at: Some(Timestamp::from_millis(4977069964384421269)),
        }]
    );
    let bad = headers(&[("X-Viber-Content-Signature", "d21b343448c8aee33b8e93768ef6ceb64a6ba6163099973a2b8bd028fea510ee")]);
    assert!(matches!(s.verify(&WebhookRequest { url: URL, query: &[], headers: &bad, body }), Err(ChannelError::BadSignature(_))));
}

#[test]
fn forged_or_missing_signatures_are_refused() {
    let s = settings();
    let body = fixture("viber", "message_text.json");
    let forged_sig = sign(b"{\"event\":\"message\"}");
    for (hdrs, needle) in [
        (headers(&[("X-Viber-Content-Signature", &forged_sig)]), "does not match"),
        (headers(&[("X-Viber-Content-Signature", "not hex")]), "does not match"),
        (headers(&[]), "X-Viber-Content-Signature"),
    ] {
        match s.verify(&WebhookRequest { url: URL, query: &[], headers: &hdrs, body: &body }) {
            Err(ChannelError::BadSignature(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_text_message_is_keyed_by_its_token() {
    assert_eq!(
        one("message_text.json"),
        InboundEvent {
            provider_event_id: "4912661846655238145".into(),
            kind: InboundKind::Message {
                sender: john(),
                provider_message_id: "4912661846655238145".into(),
                content: Content::Text { body: "Where is my order?".into() },
            },
            occurred_at: Some(Timestamp::from_millis(1457764197627)),
        }
    );
}

#[test]
fn pictures_files_and_stickers_are_media_by_url() {
    assert_eq!(
        content_of("message_picture.json"),
        Content::Media {
            kind: MediaKind::Image,
            reference: "https://dl-media.viber.com/5/media/2/short/any/sig/image/0x0/95e0/5688fdffdaa81d2a1e64b9e1db3b3a4c4e6e7d8c9b0a1f2e3d4c5b6a7f8e9d0.jpg"
                .into(),
            mime_type: None,
            caption: Some("The box arrived like this".into()),
            filename: Some("IMG_2041.jpg".into()),
        }
    );
    assert_eq!(
        content_of("message_file.json"),
        Content::Media {
            kind: MediaKind::Document,
            reference: "https://dl-media.viber.com/5/share/2/long/any/sig/file/invoice.pdf".into(),
            mime_type: None,
            caption: None,
            filename: Some("invoice.pdf".into()),
        }
    );
    assert_eq!(
        content_of("message_sticker.json"),
        Content::Media {
            kind: MediaKind::Sticker,
            reference: "https://viber.com/stickers/46105.png".into(),
            mime_type: None,
            caption: None,
            filename: None,
        }
    );
}

#[test]
fn contacts_and_locations() {
    assert_eq!(
        content_of("message_contact.json"),
        Content::Contacts { contacts: vec![SharedContact { name: "Holly Gennero".into(), phones: vec!["+12025550123".into()] }] }
    );
    assert_eq!(
        content_of("message_location.json"),
        Content::Location { latitude: 34.0553, longitude: -118.2497, name: None, address: Some("Nakatomi Plaza, Century City".into()) }
    );
}

#[test]
fn receipts_are_keyed_by_token_and_event() {
    let status = |status, failure| InboundKind::Status {
        provider_message_id: "5741311803571721087".into(),
        status,
        failure,
        recipient: Some(USER.into()),
    };
    assert_eq!(
        one("delivered.json"),
        InboundEvent {
            provider_event_id: "5741311803571721087:delivered".into(),
            kind: status(DeliveryStatus::Delivered, None),
            occurred_at: Some(Timestamp::from_millis(1457764203627)),
        }
    );
    let seen = one("seen.json");
    assert_eq!(seen.provider_event_id, "5741311803571721087:seen");
    assert_eq!(seen.kind, status(DeliveryStatus::Read, None));
    let failed = one("failed.json");
    assert_eq!(failed.provider_event_id, "5741311803571721088:failed");
    assert_eq!(
        failed.kind,
        InboundKind::Status {
            provider_message_id: "5741311803571721088".into(),
            status: DeliveryStatus::Failed,
            failure: Some(ProviderFailure { code: "failed".into(), title: "failure description".into() }),
            recipient: Some(USER.into()),
        }
    );
}

#[test]
fn subscriptions_conversations_and_unknown_events_are_other() {
    let other = |name: &str, event: &str, sender: Option<Sender>, token: &str| {
        let e = one(name);
        assert_eq!(e.provider_event_id, format!("{token}:{event}"), "{name}");
        assert_eq!(e.kind, InboundKind::Other { event_type: event.into(), sender }, "{name}");
    };
    other("subscribed.json", "subscribed", Some(john()), "4912661846655238151");
    other("unsubscribed.json", "unsubscribed", Some(Sender { id: USER.into(), name: None, phone: None }), "4912661846655238152");
    other("conversation_started.json", "conversation_started", Some(john()), "4912661846655238153");
    other("client_status.json", "client_status", Some(Sender { id: USER.into(), name: None, phone: None }), "4912661846655238154");
}

#[test]
fn malformed_bodies_are_refused() {
    let s = settings();
    for body in [
        &b"event=message"[..],
        br#"{"timestamp":1}"#,
        br#"{"event":"message","message_token":1,"message":{"type":"text","text":"no sender"}}"#,
        br#"{"event":"delivered","user_id":"u"}"#,
    ] {
        let sig = sign(body);
        let hdrs = headers(&[("X-Viber-Content-Signature", &sig)]);
        let req = WebhookRequest { url: URL, query: &[], headers: &hdrs, body };
        assert!(matches!(s.parse(&req), Err(ChannelError::Malformed(_))), "{}", String::from_utf8_lossy(body));
    }
}

fn outbound(content: OutboundContent) -> OutboundMessage {
    OutboundMessage { recipient: USER.into(), content, tag: None, idempotency_key: "0f8fad5b-d9cb-469f-a165-70867728950e".into() }
}

async fn send_expecting(expected: serde_json::Value, reply: Vec<u8>, msg: &OutboundMessage) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/send_message"))
        .and(header("x-viber-auth-token", TOKEN))
        .and(header("content-type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(reply))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { viber: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    sender.send("ch1", &ChannelSettings::Viber(settings()), msg).await
}

#[tokio::test]
async fn a_text_goes_with_the_sender_and_min_api_version() {
    let outcome = send_expecting(
        json!({
            "receiver": USER,
            "min_api_version": 1,
            "sender": { "name": "Loja Tandem", "avatar": "https://cdn.example/avatar.png" },
            "type": "text",
            "text": "Your order ships today."
        }),
        fixture("viber", "sent.json"),
        &outbound(OutboundContent::Text { body: "Your order ships today.".into() }),
    )
    .await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("5741311803571721087".into()) });
}

#[tokio::test]
async fn an_image_is_a_picture_message() {
    let outcome = send_expecting(
        json!({
            "receiver": USER,
            "min_api_version": 1,
            "sender": { "name": "Loja Tandem", "avatar": "https://cdn.example/avatar.png" },
            "type": "picture",
            "text": "",
            "media": "https://cdn.example/label.jpg"
        }),
        fixture("viber", "sent.json"),
        &outbound(OutboundContent::Media {
            kind: MediaKind::Image,
            url: "https://cdn.example/label.jpg".into(),
            caption: None,
            filename: None,
        }),
    )
    .await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("5741311803571721087".into()) });
}

#[tokio::test]
async fn an_unsubscribed_receiver_is_a_final_failure() {
    let outcome = send_expecting(
        json!({ "receiver": USER, "min_api_version": 1, "sender": { "name": "Loja Tandem", "avatar": "https://cdn.example/avatar.png" }, "type": "text", "text": "hi" }),
        fixture("viber", "error_not_subscribed.json"),
        &outbound(OutboundContent::Text { body: "hi".into() }),
    )
    .await;
    assert_eq!(outcome, SendOutcome::Failed { code: "6".into(), message: "notSubscribed".into(), retryable: false });
}

#[test]
fn documents_go_as_a_link_and_templates_are_refused() {
    let s = settings_from(json!({ "auth_token": TOKEN, "sender_name": "Loja" }));
    let doc = outbound(OutboundContent::Media {
        kind: MediaKind::Document,
        url: "https://cdn.example/nf.pdf".into(),
        caption: Some("Your invoice".into()),
        filename: Some("nf.pdf".into()),
    });
    let req = s.build(&Endpoints::default(), &doc, None).expect("request");
    assert_eq!(req.url, "https://chatapi.viber.com/pa/send_message");
    let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(
        body,
        json!({ "receiver": USER, "min_api_version": 1, "sender": { "name": "Loja" }, "type": "text", "text": "Your invoice\nhttps://cdn.example/nf.pdf" })
    );
    let template = outbound(OutboundContent::Template { name: "t".into(), language: "en".into(), variables: vec![] });
    assert!(matches!(s.build(&Endpoints::default(), &template, None), Err(ChannelError::Unsupported(_))));
}

#[test]
fn rate_limits_and_server_errors_are_retryable() {
    let s = settings();
    assert_eq!(
        s.read_response(200, &fixture("viber", "error_too_many_requests.json")),
        SendOutcome::Failed { code: "12".into(), message: "tooManyRequests".into(), retryable: true }
    );
    assert!(matches!(s.read_response(503, b""), SendOutcome::Failed { retryable: true, ref code, .. } if code == "503"));
    assert!(matches!(
        s.read_response(200, br#"{"status":2,"status_message":"invalidAuthToken"}"#),
        SendOutcome::Failed { retryable: false, ref code, .. } if code == "2"
    ));
}
