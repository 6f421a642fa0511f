//! WhatsApp Cloud API: handshake, `X-Hub-Signature-256`, every fixture parsed to its exact events,
//! the exact send requests and the reading of Graph API errors.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    inbound::SharedContact, providers::whatsapp::Settings, settings::Provider, signature, ChannelError, ChannelSender, ChannelSettings,
    Content, DeliveryStatus, Endpoints, InboundEvent, InboundKind, MediaKind, MessageTag, OutboundContent, OutboundMessage,
    ProviderFailure, SendOutcome, Sender, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const SECRET: &str = "whatsapp-app-secret";

fn settings() -> Settings {
    Settings {
        phone_number_id: "106540352242922".into(),
        access_token: "EAAG-test-token".into(),
        app_secret: SECRET.into(),
        verify_token: "tandem-verify".into(),
        waba_id: Some("102290129340398".into()),
    }
}

fn sign(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex(&signature::hmac_sha256(secret.as_bytes(), body)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("whatsapp", name);
    let hdrs = headers(&[("X-Hub-Signature-256", &sign(SECRET, &body)), ("Content-Type", "application/json")]);
    let req = WebhookRequest { url: "https://tandem.example/webhooks/whatsapp/ch1", query: &[], headers: &hdrs, body: &body };
    settings().verify(&req).expect("fixture signature");
    settings().parse(&req).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn sheena() -> Sender {
    Sender { id: "16505551234".into(), name: Some("Sheena Nelson".into()), phone: Some("+16505551234".into()) }
}

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(seconds * 1000))
}

fn message(id: &str, sender: Sender, content: Content, seconds: i64) -> InboundEvent {
    InboundEvent {
        provider_event_id: id.into(),
        kind: InboundKind::Message { sender, provider_message_id: id.into(), content },
        occurred_at: at(seconds),
    }
}

// --- handshake and signature -----------------------------------------------------------------

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn handshake(pairs: &[(&str, &str)]) -> Result<String, ChannelError> {
    let q = query(pairs);
    settings().handshake(&WebhookRequest { url: "https://tandem.example/webhooks/whatsapp/ch1", query: &q, headers: &[], body: b"" })
}

#[test]
fn handshake_echoes_the_challenge_for_our_verify_token() {
    let answer = handshake(&[("hub.mode", "subscribe"), ("hub.verify_token", "tandem-verify"), ("hub.challenge", "1158201444")]);
    assert_eq!(answer.unwrap(), "1158201444");
}

#[test]
fn handshake_refuses_a_wrong_token_or_mode() {
    let wrong_token = handshake(&[("hub.mode", "subscribe"), ("hub.verify_token", "guess"), ("hub.challenge", "1158201444")]);
    assert!(matches!(wrong_token, Err(ChannelError::BadSignature(_))), "{wrong_token:?}");
    let wrong_mode = handshake(&[("hub.mode", "unsubscribe"), ("hub.verify_token", "tandem-verify"), ("hub.challenge", "1")]);
    assert!(matches!(wrong_mode, Err(ChannelError::BadSignature(_))), "{wrong_mode:?}");
    let no_token = handshake(&[("hub.mode", "subscribe"), ("hub.challenge", "1")]);
    assert!(matches!(no_token, Err(ChannelError::BadSignature(_))), "{no_token:?}");
    let no_challenge = handshake(&[("hub.mode", "subscribe"), ("hub.verify_token", "tandem-verify")]);
    assert!(matches!(no_challenge, Err(ChannelError::Malformed(_))), "{no_challenge:?}");
}

fn verify_with(secret: &str, signature_header: Option<&str>, body: &[u8]) -> Result<(), ChannelError> {
    let hdrs = match signature_header {
        Some(s) => headers(&[("X-Hub-Signature-256", s)]),
        None => headers(&[("Content-Type", "application/json")]),
    };
    let mut s = settings();
    s.app_secret = secret.into();
    s.verify(&WebhookRequest { url: "https://tandem.example/webhooks/whatsapp/ch1", query: &[], headers: &hdrs, body })
}

/// Meta publishes no vector for `X-Hub-Signature-256`; GitHub's webhooks use the identical scheme
/// (same header, `sha256=` + hex HMAC-SHA256 of the raw body) and publish this one.
#[test]
fn signature_matches_the_published_x_hub_signature_256_vector() {
    let ok = verify_with(
        "It's a Secret to Everybody",
        Some("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"),
        b"Hello, World!",
    );
    assert!(ok.is_ok(), "{ok:?}");
    // Upper-case hex is the same digest.
    let upper = verify_with(
        "It's a Secret to Everybody",
        Some("sha256=757107EA0EB2509FC211221CCE984B8A37570B6D7586C22C46F4379C8B043E17"),
        b"Hello, World!",
    );
    assert!(upper.is_ok(), "{upper:?}");
}

#[test]
fn forged_tampered_or_missing_signatures_are_refused() {
    let body = fixture("whatsapp", "text.json");
    assert!(verify_with(SECRET, Some(&sign(SECRET, &body)), &body).is_ok());

    let forged = verify_with(SECRET, Some(&sign("another-secret", &body)), &body);
    assert!(matches!(forged, Err(ChannelError::BadSignature(_))), "{forged:?}");

    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let tampered = verify_with(SECRET, Some(&sign(SECRET, &body)), &tampered);
    assert!(matches!(tampered, Err(ChannelError::BadSignature(_))), "{tampered:?}");

    let no_prefix = verify_with(SECRET, Some(&sign(SECRET, &body)[7..]), &body);
    assert!(matches!(no_prefix, Err(ChannelError::BadSignature(_))), "{no_prefix:?}");

    match verify_with(SECRET, None, &body) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("X-Hub-Signature-256"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// --- inbound ---------------------------------------------------------------------------------

#[test]
fn text_message() {
    assert_eq!(
        parse("text.json"),
        vec![message(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            sheena(),
            Content::Text { body: "Does it come in another color?".into() },
            1749416383,
        )]
    );
}

#[test]
fn media_messages_across_batched_entries() {
    let pablo = Sender { id: "34612345678".into(), name: Some("Pablo Morales".into()), phone: Some("+34612345678".into()) };
    assert_eq!(
        parse("media.json"),
        vec![
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQjBEMEMxNzg1NjI5NDQ2MEUA",
                sheena(),
                Content::Media {
                    kind: MediaKind::Image,
                    reference: "1003383421387256".into(),
                    mime_type: Some("image/jpeg".into()),
                    caption: Some("This one, in blue".into()),
                    filename: None,
                },
                1749416400,
            ),
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ1QTk4ODg0QjNGMjJEQUJGMTIA",
                sheena(),
                Content::Media {
                    kind: MediaKind::Audio,
                    reference: "1386391535737766".into(),
                    mime_type: Some("audio/ogg; codecs=opus".into()),
                    caption: None,
                    filename: None,
                },
                1749416405,
            ),
            message(
                "wamid.HBgLMzQ2MTIzNDU2NzgVAgASGBRBQkNERUYwMTIzNDU2Nzg5QUJDRAA=",
                pablo.clone(),
                Content::Media {
                    kind: MediaKind::Document,
                    reference: "2154719518341923".into(),
                    mime_type: Some("application/pdf".into()),
                    caption: Some("Invoice for May".into()),
                    filename: Some("invoice-2025-05.pdf".into()),
                },
                1749416410,
            ),
            message(
                "wamid.HBgLMzQ2MTIzNDU2NzgVAgASGBRTVElDS0VSMDEyMzQ1Njc4OUFCQ0QA",
                pablo,
                Content::Media {
                    kind: MediaKind::Sticker,
                    reference: "1228540898378436".into(),
                    mime_type: Some("image/webp".into()),
                    caption: None,
                    filename: None,
                },
                1749416412,
            ),
        ]
    );
}

#[test]
fn location_and_contacts() {
    let events = parse("location_contacts.json");
    assert_eq!(
        events,
        vec![
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0TE9DQVRJT04wMTIzNDU2Nzg5AA==",
                sheena(),
                Content::Location {
                    latitude: 37.483307,
                    longitude: -122.148981,
                    name: Some("Meta Headquarters".into()),
                    address: Some("1 Hacker Way, Menlo Park, CA 94025".into()),
                },
                1749416500,
            ),
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0Q09OVEFDVFMwMTIzNDU2Nzg5AA==",
                sheena(),
                Content::Contacts {
                    contacts: vec![
                        SharedContact {
                            name: "Barbara J. Johnson".into(),
                            phones: vec!["+1 (940) 555-1234".into(), "+1 (650) 555-1234".into()],
                        },
                        SharedContact { name: "Ana Ruiz".into(), phones: vec![] },
                    ],
                },
                1749416510,
            ),
        ]
    );
}

#[test]
fn button_list_and_template_replies_are_buttons_and_reactions_unsupported() {
    assert_eq!(
        parse("replies.json"),
        vec![
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0QlVUVE9OUkVQTFkwMTIzNDU2NwA=",
                sheena(),
                Content::Button { text: "Change".into(), payload: Some("change-button".into()) },
                1749416600,
            ),
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0TElTVFJFUExZMDEyMzQ1Njc4OQA=",
                sheena(),
                Content::Button { text: "Priority Mail Express".into(), payload: Some("priority_express".into()) },
                1749416610,
            ),
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0VEVNUExBVEVCVVRUT04wMTIzNAA=",
                sheena(),
                Content::Button { text: "Unsubscribe from Promos".into(), payload: Some("Unsubscribe from Promos".into()) },
                1749416620,
            ),
            message(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0UkVBQ1RJT04wMTIzNDU2Nzg5AA==",
                sheena(),
                Content::Unsupported { description: "reaction \u{1f44d}".into() },
                1749416630,
            ),
        ]
    );
}

#[test]
fn sent_delivered_read_statuses_keyed_by_message_and_status() {
    let wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA";
    let status = |s: &str, status: DeliveryStatus, seconds: i64| InboundEvent {
        provider_event_id: format!("{wamid}:{s}"),
        kind: InboundKind::Status { provider_message_id: wamid.into(), status, failure: None, recipient: Some("16505551234".into()) },
        occurred_at: at(seconds),
    };
    assert_eq!(
        parse("statuses.json"),
        vec![
            status("sent", DeliveryStatus::Sent, 1750263773),
            status("delivered", DeliveryStatus::Delivered, 1750263775),
            status("read", DeliveryStatus::Read, 1750263790),
        ]
    );
}

#[test]
fn failed_statuses_carry_the_error_code_and_title() {
    let failed = |wamid: &str, code: &str, title: &str, seconds: i64| InboundEvent {
        provider_event_id: format!("{wamid}:failed"),
        kind: InboundKind::Status {
            provider_message_id: wamid.into(),
            status: DeliveryStatus::Failed,
            failure: Some(ProviderFailure { code: code.into(), title: title.into() }),
            recipient: Some("16505551234".into()),
        },
        occurred_at: at(seconds),
    };
    assert_eq!(
        parse("status_failed.json"),
        vec![
            failed("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", "131047", "Re-engagement message", 1750264000),
            failed(
                "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJEOTQ1QzRCRjE2MzJFMUY3NjgA",
                "131056",
                "(Business Account, Consumer Account) pair rate limit hit",
                1750264001
            ),
        ]
    );
}

#[test]
fn template_status_updates() {
    assert_eq!(
        parse("template_status.json"),
        vec![
            InboundEvent {
                provider_event_id: "template:1689556908129832:en_US:APPROVED:1749500000".into(),
                kind: InboundKind::TemplateStatus {
                    name: "order_confirmation".into(),
                    language: Some("en_US".into()),
                    status: "APPROVED".into(),
                    reason: None,
                },
                occurred_at: at(1749500000),
            },
            InboundEvent {
                provider_event_id: "template:1689556908129833:es:REJECTED:1749500100".into(),
                kind: InboundKind::TemplateStatus {
                    name: "summer_sale".into(),
                    language: Some("es".into()),
                    status: "REJECTED".into(),
                    reason: Some("INCORRECT_CATEGORY".into()),
                },
                occurred_at: at(1749500100),
            },
        ]
    );
}

#[test]
fn unknown_fields_and_message_types_are_kept_not_refused() {
    let events = parse("unknown.json");
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].kind, InboundKind::Other { event_type: "phone_number_quality_update".into(), sender: None });
    assert_eq!(events[0].occurred_at, at(1749600000));
    assert!(events[0].provider_event_id.starts_with("phone_number_quality_update:"), "{}", events[0].provider_event_id);
    // Stable: the same body gives the same key.
    assert_eq!(parse("unknown.json")[0].provider_event_id, events[0].provider_event_id);
    assert_eq!(
        events[1],
        message(
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQ0VU5TVVBQT1JURUQwMTIzNDU2NwA=",
            sheena(),
            Content::Unsupported { description: "unsupported message".into() },
            1749600010,
        )
    );
}

#[test]
fn malformed_bodies_are_refused() {
    let s = settings();
    for body in [
        &b"not json"[..],
        br#"{"object":"page","entry":[]}"#,
        br#"{"entry":[]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"id":"wamid.x","type":"text"}]}}]}]}"#,
        br#"{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.x","status":"read","timestamp":"soon"}]}}]}]}"#,
    ] {
        let req = WebhookRequest { url: "https://tandem.example/webhooks/whatsapp/ch1", query: &[], headers: &[], body };
        let parsed = s.parse(&req);
        assert!(matches!(parsed, Err(ChannelError::Malformed(_))), "{}: {parsed:?}", String::from_utf8_lossy(body));
    }
}

// --- settings --------------------------------------------------------------------------------

#[test]
fn settings_need_every_credential_and_no_unknown_field() {
    let config = |v: serde_json::Value| v.as_object().cloned().unwrap();
    let good = json!({"phone_number_id": "1065", "access_token": "t", "app_secret": "s", "verify_token": "v"});
    assert!(ChannelSettings::parse(ChannelKind::Whatsapp, &config(good)).is_ok());
    let blank = json!({"phone_number_id": "1065", "access_token": " ", "app_secret": "s", "verify_token": "v"});
    assert!(
        matches!(ChannelSettings::parse(ChannelKind::Whatsapp, &config(blank)), Err(ChannelError::InvalidSettings(m)) if m.contains("access_token"))
    );
    let extra = json!({"phone_number_id": "1065", "access_token": "t", "app_secret": "s", "verify_token": "v", "token": "x"});
    assert!(matches!(ChannelSettings::parse(ChannelKind::Whatsapp, &config(extra)), Err(ChannelError::InvalidSettings(_))));
    let missing = json!({"phone_number_id": "1065", "access_token": "t", "verify_token": "v"});
    assert!(matches!(ChannelSettings::parse(ChannelKind::Whatsapp, &config(missing)), Err(ChannelError::InvalidSettings(_))));
    // Secrets stay out of logs.
    let debug = format!("{:?}", settings());
    assert!(!debug.contains("EAAG-test-token") && !debug.contains(SECRET), "{debug}");
}

// --- outbound --------------------------------------------------------------------------------

fn outbound(content: OutboundContent) -> OutboundMessage {
    OutboundMessage { recipient: "16505551234".into(), content, tag: None, idempotency_key: "0e5f3a52-7d1c-4a8e-9a51-3f1f0b3c9d10".into() }
}

/// Sends `msg` to a fake Graph API expecting exactly `expected` as the body, once.
async fn send_expecting(msg: OutboundMessage, expected: serde_json::Value) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/106540352242922/messages"))
        .and(header("authorization", "Bearer EAAG-test-token"))
        .and(header("content-type", "application/json"))
        .and(body_json(expected))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture("whatsapp", "send_ok.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Whatsapp(settings()), &msg).await
}

fn sent() -> SendOutcome {
    SendOutcome::Sent { provider_message_id: Some("wamid.HBgLMTY1MDUwNzY1MjAVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA".into()) }
}

#[tokio::test]
async fn sends_text_without_link_preview() {
    let mut msg = outbound(OutboundContent::Text { body: "Yes, in blue and green.".into() });
    // The Messenger tag means nothing here.
    msg.tag = Some(MessageTag::HumanAgent);
    let outcome = send_expecting(
        msg,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "text",
            "text": { "preview_url": false, "body": "Yes, in blue and green." }
        }),
    )
    .await;
    assert_eq!(outcome, sent());
}

#[tokio::test]
async fn sends_an_image_by_link_with_its_caption() {
    let msg = outbound(OutboundContent::Media {
        kind: MediaKind::Image,
        url: "https://cdn.tandem.example/m/blue.jpg".into(),
        caption: Some("The blue one".into()),
        filename: Some("blue.jpg".into()),
    });
    let outcome = send_expecting(
        msg,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "image",
            "image": { "link": "https://cdn.tandem.example/m/blue.jpg", "caption": "The blue one" }
        }),
    )
    .await;
    assert_eq!(outcome, sent());
}

#[tokio::test]
async fn sends_a_document_with_its_filename() {
    let msg = outbound(OutboundContent::Media {
        kind: MediaKind::Document,
        url: "https://cdn.tandem.example/m/inv.pdf".into(),
        caption: Some("Your invoice".into()),
        filename: Some("invoice-2025-05.pdf".into()),
    });
    let outcome = send_expecting(
        msg,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "document",
            "document": { "link": "https://cdn.tandem.example/m/inv.pdf", "caption": "Your invoice", "filename": "invoice-2025-05.pdf" }
        }),
    )
    .await;
    assert_eq!(outcome, sent());
}

#[tokio::test]
async fn sends_a_template_with_body_variables() {
    let msg = outbound(OutboundContent::Template {
        name: "order_update".into(),
        language: "en_US".into(),
        variables: vec!["Sheena".into(), "#4521".into()],
    });
    let outcome = send_expecting(
        msg,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "template",
            "template": {
                "name": "order_update",
                "language": { "code": "en_US" },
                "components": [{
                    "type": "body",
                    "parameters": [{ "type": "text", "text": "Sheena" }, { "type": "text", "text": "#4521" }]
                }]
            }
        }),
    )
    .await;
    assert_eq!(outcome, sent());
}

#[tokio::test]
async fn a_template_without_variables_has_no_components() {
    let msg = outbound(OutboundContent::Template { name: "hello_world".into(), language: "en_US".into(), variables: vec![] });
    let outcome = send_expecting(
        msg,
        json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "16505551234",
            "type": "template",
            "template": { "name": "hello_world", "language": { "code": "en_US" } }
        }),
    )
    .await;
    assert_eq!(outcome, sent());
}

#[test]
fn audio_and_stickers_take_no_caption() {
    let msg = outbound(OutboundContent::Media {
        kind: MediaKind::Audio,
        url: "https://cdn.tandem.example/m/a.ogg".into(),
        caption: Some("listen".into()),
        filename: None,
    });
    let built = settings().build(&Endpoints::default(), &msg, None);
    assert!(matches!(built, Err(ChannelError::Unsupported(_))), "{built:?}");
    let plain = outbound(OutboundContent::Media {
        kind: MediaKind::Sticker,
        url: "https://cdn.tandem.example/s.webp".into(),
        caption: None,
        filename: None,
    });
    let built = settings().build(&Endpoints::default(), &plain, None).unwrap();
    assert_eq!(built.url, "https://graph.facebook.com/v21.0/106540352242922/messages");
    let body: serde_json::Value = serde_json::from_slice(&built.body).unwrap();
    assert_eq!(body["type"], "sticker");
    assert_eq!(body["sticker"], json!({ "link": "https://cdn.tandem.example/s.webp" }));
}

#[tokio::test]
async fn a_graph_error_becomes_a_failure_with_its_code() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v21.0/106540352242922/messages"))
        .respond_with(ResponseTemplate::new(400).set_body_raw(fixture("whatsapp", "send_error_131047.json"), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { graph: format!("{}/v21.0", server.uri()), ..Endpoints::default() };
    let outcome = ChannelSender::new(endpoints, Duration::from_secs(5))
        .send("ch1", &ChannelSettings::Whatsapp(settings()), &outbound(OutboundContent::Text { body: "hi".into() }))
        .await;
    assert_eq!(
        outcome,
        SendOutcome::Failed {
            code: "131047".into(),
            message: "(#131047) Re-engagement message: Message failed to send because more than 24 hours have passed since the customer last replied to this number.".into(),
            retryable: false,
        }
    );
}

#[test]
fn rate_limits_and_outages_are_retryable_bad_tokens_are_not() {
    let s = settings();
    let failed = |status: u16, body: &[u8]| match s.read_response(status, body) {
        SendOutcome::Failed { code, retryable, .. } => (code, retryable),
        other => panic!("{other:?}"),
    };
    assert_eq!(failed(400, &fixture("whatsapp", "send_error_130429.json")), ("130429".into(), true));
    assert_eq!(failed(401, &fixture("whatsapp", "send_error_190.json")), ("190".into(), false));
    assert_eq!(
        failed(400, br#"{"error":{"message":"(#131056) pair rate limit hit","type":"OAuthException","code":131056}}"#),
        ("131056".into(), true)
    );
    assert_eq!(failed(400, br#"{"error":{"message":"(#131026) Message undeliverable","code":131026}}"#), ("131026".into(), false));
    assert_eq!(failed(400, br#"{"error":{"message":"(#80007) Rate limit issues","code":80007}}"#), ("80007".into(), true));
    assert_eq!(failed(400, br#"{"error":{"message":"(#4) Application request limit reached","code":4}}"#), ("4".into(), true));
    assert_eq!(failed(500, br#"{"error":{"message":"(#131000) Something went wrong","code":131000}}"#), ("131000".into(), true));
    assert_eq!(failed(502, b"<html>Bad Gateway</html>"), ("http_502".into(), true));
    assert_eq!(failed(400, b""), ("http_400".into(), false));
}
