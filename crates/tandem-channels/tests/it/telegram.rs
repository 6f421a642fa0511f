//! Telegram Bot API: secret-token header, Update parsing, sendMessage/sendPhoto requests.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::telegram::Settings, settings::Provider, ChannelError, ChannelSender, ChannelSettings, Content, Endpoints, InboundEvent,
    InboundKind, MediaKind, OutboundContent, OutboundMessage, SendOutcome, Sender, SharedContact, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const BOT_TOKEN: &str = "7000000001:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
const SECRET: &str = "tandem_webhook-Secret_42";

fn settings() -> Settings {
    let config = json!({ "bot_token": BOT_TOKEN, "secret_token": SECRET });
    match ChannelSettings::parse(ChannelKind::Telegram, config.as_object().expect("object")).expect("valid settings") {
        ChannelSettings::Telegram(s) => s,
        other => panic!("parsed as {:?}", other.kind()),
    }
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("telegram", name);
    let hdrs = headers(&[("X-Telegram-Bot-Api-Secret-Token", SECRET), ("Content-Type", "application/json")]);
    let req = WebhookRequest { url: "https://tandem.example/webhooks/telegram/ch1", query: &[], headers: &hdrs, body: &body };
    let s = settings();
    s.verify(&req).expect("secret token accepted");
    s.parse(&req).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ana() -> Sender {
    Sender { id: "1111111".into(), name: Some("Ana Silva".into()), phone: None }
}

fn at(seconds: i64) -> Option<Timestamp> {
    Some(Timestamp::from_millis(seconds * 1000))
}

#[test]
fn settings_need_both_credentials_and_a_valid_secret() {
    for config in [
        json!({ "bot_token": "", "secret_token": SECRET }),
        json!({ "bot_token": BOT_TOKEN, "secret_token": " " }),
        json!({ "bot_token": BOT_TOKEN, "secret_token": "has spaces and !" }),
        json!({ "bot_token": BOT_TOKEN }),
        json!({ "bot_token": BOT_TOKEN, "secret_token": SECRET, "extra": 1 }),
    ] {
        let err = ChannelSettings::parse(ChannelKind::Telegram, config.as_object().expect("object")).expect_err("refused");
        assert!(matches!(err, ChannelError::InvalidSettings(_)), "{config}: {err:?}");
    }
    // Debug output must not leak the token.
    assert!(!format!("{:?}", settings()).contains("AAHdq"));
}

#[test]
fn the_secret_token_header_must_match() {
    let body = fixture("telegram", "text.json");
    let s = settings();
    let check = |pairs: &[(&str, &str)]| {
        let hdrs = headers(pairs);
        s.verify(&WebhookRequest { url: "https://tandem.example/webhooks/telegram/ch1", query: &[], headers: &hdrs, body: &body })
    };
    assert!(check(&[("X-Telegram-Bot-Api-Secret-Token", SECRET)]).is_ok());
    match check(&[("X-Telegram-Bot-Api-Secret-Token", "tandem_webhook-Secret_43")]) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("does not match"), "{m}"),
        other => panic!("forged secret: {other:?}"),
    }
    match check(&[]) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("X-Telegram-Bot-Api-Secret-Token"), "{m}"),
        other => panic!("missing header: {other:?}"),
    }
    // Telegram has no GET handshake.
    let hdrs = headers(&[]);
    let req = WebhookRequest { url: "https://tandem.example/webhooks/telegram/ch1", query: &[], headers: &hdrs, body: b"" };
    assert!(matches!(s.handshake(&req), Err(ChannelError::NoHandshake)));
}

#[test]
fn a_text_message_is_keyed_by_chat_and_message_id() {
    assert_eq!(
        parse("text.json"),
        vec![InboundEvent {
            provider_event_id: "1111111:1365".into(),
            kind: InboundKind::Message {
                sender: ana(),
                provider_message_id: "1365".into(),
                content: Content::Text { body: "Olá, meu pedido não chegou".into() },
            },
            occurred_at: at(1718000000),
        }]
    );
}

#[test]
fn a_photo_keeps_the_largest_size_and_its_caption() {
    let events = parse("photo.json");
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].provider_event_id, "1111111:1366");
    let InboundKind::Message { content, sender, .. } = &events[0].kind else { panic!("{:?}", events[0].kind) };
    assert_eq!(sender, &ana());
    assert_eq!(
        content,
        &Content::Media {
            kind: MediaKind::Image,
            reference: "AgACAgQAAxkBAAIBMWZ-large".into(),
            mime_type: None,
            caption: Some("Caixa amassada".into()),
            filename: None,
        }
    );
}

#[test]
fn documents_and_voice_notes_are_media_by_file_id() {
    let InboundKind::Message { content, sender, .. } = &parse("document.json")[0].kind else { panic!() };
    assert_eq!(sender.name.as_deref(), Some("Ana"));
    assert_eq!(
        content,
        &Content::Media {
            kind: MediaKind::Document,
            reference: "BQACAgQAAxkBAAIBMmZ-doc".into(),
            mime_type: Some("application/pdf".into()),
            caption: None,
            filename: Some("nota-fiscal.pdf".into()),
        }
    );
    let InboundKind::Message { content, .. } = &parse("voice.json")[0].kind else { panic!() };
    assert_eq!(
        content,
        &Content::Media {
            kind: MediaKind::Audio,
            reference: "AwACAgQAAxkBAAIBM2Z-voice".into(),
            mime_type: Some("audio/ogg".into()),
            caption: None,
            filename: None,
        }
    );
}

#[test]
fn locations_and_contacts() {
    let InboundKind::Message { content, .. } = &parse("location.json")[0].kind else { panic!() };
    assert_eq!(content, &Content::Location { latitude: -23.55052, longitude: -46.633308, name: None, address: None });

    let InboundKind::Message { content, sender, .. } = &parse("contact.json")[0].kind else { panic!() };
    assert_eq!(
        content,
        &Content::Contacts { contacts: vec![SharedContact { name: "Ana Silva".into(), phones: vec!["+5511987654321".into()] }] }
    );
    // Her own contact: the phone number is hers.
    assert_eq!(sender.phone.as_deref(), Some("+5511987654321"));
}

#[test]
fn an_edit_is_a_new_event_not_a_duplicate_of_the_original() {
    let events = parse("edited_message.json");
    assert_eq!(events[0].provider_event_id, "1111111:1365:edited:1718000400");
    assert_eq!(events[0].occurred_at, at(1718000400));
    let InboundKind::Message { content, provider_message_id, .. } = &events[0].kind else { panic!() };
    assert_eq!(provider_message_id, "1365");
    assert_eq!(content, &Content::Text { body: "Olá, meu pedido 4471 não chegou".into() });
}

#[test]
fn a_callback_query_is_a_button_keyed_by_its_id() {
    assert_eq!(
        parse("callback_query.json"),
        vec![InboundEvent {
            provider_event_id: "4382bfdwdsb323b2d9".into(),
            kind: InboundKind::Message {
                sender: ana(),
                provider_message_id: "4382bfdwdsb323b2d9".into(),
                content: Content::Button { text: "Sim, falar com atendente".into(), payload: Some("handoff".into()) },
            },
            occurred_at: None,
        }]
    );
}

#[test]
fn other_updates_and_contents_are_kept_not_refused() {
    assert_eq!(
        parse("my_chat_member.json"),
        vec![InboundEvent {
            provider_event_id: "update:10008".into(),
            kind: InboundKind::Other { event_type: "my_chat_member".into(), sender: Some(ana()) },
            occurred_at: at(1718000600),
        }]
    );
    let InboundKind::Message { content, .. } = &parse("poll.json")[0].kind else { panic!() };
    assert_eq!(content, &Content::Unsupported { description: "poll".into() });
}

#[test]
fn malformed_bodies_are_refused() {
    let s = settings();
    let hdrs = headers(&[("X-Telegram-Bot-Api-Secret-Token", SECRET)]);
    for body in [&b"not json"[..], br#"{"message":{"text":"no update id"}}"#, br#"{"update_id":1,"message":{"message_id":"x"}}"#] {
        let req = WebhookRequest { url: "https://tandem.example/webhooks/telegram/ch1", query: &[], headers: &hdrs, body };
        assert!(matches!(s.parse(&req), Err(ChannelError::Malformed(_))), "{}", String::from_utf8_lossy(body));
    }
}

fn text(recipient: &str, body: &str) -> OutboundMessage {
    OutboundMessage {
        recipient: recipient.into(),
        content: OutboundContent::Text { body: body.into() },
        tag: None,
        idempotency_key: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
    }
}

#[tokio::test]
async fn send_message_posts_chat_id_and_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/sendMessage")))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({ "chat_id": 1111111, "text": "Seu pedido sai hoje." })))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("telegram", "sent.json")))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { telegram: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let outcome = sender.send("ch1", &ChannelSettings::Telegram(settings()), &text("1111111", "Seu pedido sai hoje.")).await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("1373".into()) });
}

#[tokio::test]
async fn a_photo_goes_to_send_photo_with_its_caption() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/sendPhoto")))
        .and(body_json(json!({ "chat_id": 1111111, "photo": "https://cdn.example/label.png", "caption": "Sua etiqueta" })))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "ok": true, "result": { "message_id": 1374 } })))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { telegram: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let msg = OutboundMessage {
        content: OutboundContent::Media {
            kind: MediaKind::Image,
            url: "https://cdn.example/label.png".into(),
            caption: Some("Sua etiqueta".into()),
            filename: None,
        },
        ..text("1111111", "")
    };
    let outcome = sender.send("ch1", &ChannelSettings::Telegram(settings()), &msg).await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("1374".into()) });
}

#[test]
fn documents_go_to_send_document_and_templates_are_refused() {
    let s = settings();
    let msg = OutboundMessage {
        content: OutboundContent::Media {
            kind: MediaKind::Document,
            url: "https://cdn.example/nf.pdf".into(),
            caption: None,
            filename: Some("nf.pdf".into()),
        },
        ..text("@loja_canal", "")
    };
    let req = s.build(&Endpoints::default(), &msg, None).expect("request");
    assert_eq!(req.url, format!("https://api.telegram.org/bot{BOT_TOKEN}/sendDocument"));
    let body: serde_json::Value = serde_json::from_slice(&req.body).expect("json");
    assert_eq!(body, json!({ "chat_id": "@loja_canal", "document": "https://cdn.example/nf.pdf" }));

    let template = OutboundMessage {
        content: OutboundContent::Template { name: "order_update".into(), language: "pt_BR".into(), variables: vec![] },
        ..text("1111111", "")
    };
    assert!(matches!(s.build(&Endpoints::default(), &template, None), Err(ChannelError::Unsupported(_))));
}

#[tokio::test]
async fn a_blocked_bot_is_a_final_failure() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT_TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(403).set_body_bytes(fixture("telegram", "error_blocked.json")))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { telegram: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let outcome = sender.send("ch1", &ChannelSettings::Telegram(settings()), &text("1111111", "oi")).await;
    assert_eq!(
        outcome,
        SendOutcome::Failed { code: "403".into(), message: "Forbidden: bot was blocked by the user".into(), retryable: false }
    );
}

#[test]
fn rate_limits_and_server_errors_are_retryable() {
    let s = settings();
    assert_eq!(
        s.read_response(429, &fixture("telegram", "error_rate_limited.json")),
        SendOutcome::Failed { code: "429".into(), message: "Too Many Requests: retry after 17".into(), retryable: true }
    );
    assert!(
        matches!(s.read_response(502, b"<html>Bad Gateway</html>"), SendOutcome::Failed { retryable: true, ref code, .. } if code == "502")
    );
    assert!(matches!(
        s.read_response(400, br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#),
        SendOutcome::Failed { retryable: false, ref code, .. } if code == "400"
    ));
}
