//! WeChat Official Account (plaintext mode): SHA-1 query signature, echostr handshake, XML
//! messages, customer-service sends with a cached access token.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::wechat::{self, Settings},
    settings::Provider,
    ChannelError, ChannelSender, ChannelSettings, Content, Endpoints, InboundEvent, InboundKind, MediaKind, OutboundContent,
    OutboundMessage, SendOutcome, Sender, WebhookRequest,
};
use tandem_core::{ChannelKind, Timestamp};
use wiremock::{
    matchers::{body_json, header, method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const APP_ID: &str = "wx5f3a9c2e8b1d4a70";
const APP_SECRET: &str = "3e9b0c1d2a4f6e8d7c5b3a1f0e2d4c6b";
const TOKEN: &str = "tandemServerToken2024";
const OPENID: &str = "oR5GjjgvB6W0bPd0j2x4N8cYc1qA";
const URL: &str = "https://tandem.example/webhooks/wechat/ch1";

fn settings_with(token: &str) -> Settings {
    let config = json!({ "app_id": APP_ID, "app_secret": APP_SECRET, "token": token });
    match ChannelSettings::parse(ChannelKind::Wechat, config.as_object().expect("object")).expect("valid settings") {
        ChannelSettings::Wechat(s) => s,
        other => panic!("parsed as {:?}", other.kind()),
    }
}

fn settings() -> Settings {
    settings_with(TOKEN)
}

fn query(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The query WeChat adds to every POST, signed with [`TOKEN`].
fn signed_query(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let (timestamp, nonce) = ("1718000001", "1487261385");
    let sig = wechat::expected_signature(TOKEN, timestamp, nonce);
    let mut q = query(&[("signature", &sig), ("timestamp", timestamp), ("nonce", nonce), ("openid", OPENID)]);
    q.extend(query(extra));
    q
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("wechat", name);
    let q = signed_query(&[]);
    let hdrs = headers(&[("Content-Type", "text/xml")]);
    let req = WebhookRequest { url: URL, query: &q, headers: &hdrs, body: &body };
    let s = settings();
    s.verify(&req).expect("signature accepted");
    s.parse(&req).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn openid() -> Sender {
    Sender { id: OPENID.into(), name: None, phone: None }
}

fn message(id: &str, content: Content, seconds: i64) -> InboundEvent {
    InboundEvent {
        provider_event_id: id.into(),
        kind: InboundKind::Message { sender: openid(), provider_message_id: id.into(), content },
        occurred_at: Some(Timestamp::from_millis(seconds * 1000)),
    }
}

#[test]
fn settings_need_all_three_credentials() {
    for config in [
        json!({ "app_id": "", "app_secret": APP_SECRET, "token": TOKEN }),
        json!({ "app_id": APP_ID, "app_secret": " ", "token": TOKEN }),
        json!({ "app_id": APP_ID, "app_secret": APP_SECRET, "token": "" }),
        json!({ "app_id": APP_ID, "app_secret": APP_SECRET }),
        json!({ "app_id": APP_ID, "app_secret": APP_SECRET, "token": TOKEN, "encoding_aes_key": "k" }),
    ] {
        let err = ChannelSettings::parse(ChannelKind::Wechat, config.as_object().expect("object")).expect_err("refused");
        assert!(matches!(err, ChannelError::InvalidSettings(_)), "{config}: {err:?}");
    }
    let debug = format!("{:?}", settings());
    assert!(debug.contains(APP_ID) && !debug.contains(APP_SECRET) && !debug.contains(TOKEN), "{debug}");
}

/// wechatpy's vector (`tests/test_utils.py`, `test_check_signature_should_ok`): token `test`,
/// timestamp `1410685589`, nonce `test`.
#[test]
fn the_handshake_answers_echostr_for_the_published_vector() {
    let s = settings_with("test");
    assert_eq!(wechat::expected_signature("test", "1410685589", "test"), "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff");
    let hdrs = headers(&[]);
    let handshake = |pairs: &[(&str, &str)]| {
        let q = query(pairs);
        s.handshake(&WebhookRequest { url: URL, query: &q, headers: &hdrs, body: b"" })
    };
    let good = [
        ("signature", "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff"),
        ("echostr", "7260483958726163001"),
        ("timestamp", "1410685589"),
        ("nonce", "test"),
    ];
    assert_eq!(handshake(&good).expect("accepted"), "7260483958726163001");
    let mut forged = good;
    forged[0].1 = "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe";
    assert!(matches!(handshake(&forged), Err(ChannelError::BadSignature(_))));
    match handshake(&good[1..]) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("`signature`"), "{m}"),
        other => panic!("missing signature: {other:?}"),
    }
    assert!(matches!(handshake(&[good[0], good[2], good[3]]), Err(ChannelError::Malformed(_))));
}

#[test]
fn a_post_signed_with_another_token_is_refused() {
    let body = fixture("wechat", "text.xml");
    let q = signed_query(&[]);
    let hdrs = headers(&[]);
    let req = WebhookRequest { url: URL, query: &q, headers: &hdrs, body: &body };
    assert!(settings().verify(&req).is_ok());
    match settings_with("someOtherToken").verify(&req) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("does not match"), "{m}"),
        other => panic!("{other:?}"),
    }
    let no_nonce: Vec<_> = q.into_iter().filter(|(k, _)| k != "nonce").collect();
    match settings().verify(&WebhookRequest { url: URL, query: &no_nonce, headers: &hdrs, body: &body }) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("`nonce`"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn text_image_and_voice_messages() {
    assert_eq!(parse("text.xml"), vec![message("24612384571234567", Content::Text { body: "你好，我的订单还没到".into() }, 1718000000)]);
    assert_eq!(
        parse("image.xml"),
        vec![message(
            "24612384571234568",
            Content::Media {
                kind: MediaKind::Image,
                reference: "Kx7m1uRTyN5o3QFz2c9JpWbVd8aLhE4sGt6yUiOq0Xw".into(),
                mime_type: None,
                caption: None,
                filename: None,
            },
            1718000060
        )]
    );
    assert_eq!(
        parse("voice.xml"),
        vec![message(
            "24612384571234569",
            Content::Media {
                kind: MediaKind::Audio,
                reference: "vM3dia_QpLz9r0T2xYb8kC7eN1fG4hJ6sA5uW".into(),
                mime_type: Some("audio/amr".into()),
                caption: Some("我想退货".into()),
                filename: None,
            },
            1718000120
        )]
    );
}

#[test]
fn locations_links_and_unknown_message_types() {
    assert_eq!(
        parse("location.xml"),
        vec![message(
            "24612384571234570",
            Content::Location {
                latitude: 23.134521, longitude: 113.358803, name: None, address: Some("广州市天河区天河路".into())
            },
            1718000180
        )]
    );
    assert_eq!(
        parse("link.xml"),
        vec![message(
            "24612384571234571",
            Content::Text { body: "订单详情\n订单 4471\nhttps://shop.example/orders/4471".into() },
            1718000240
        )]
    );
    assert_eq!(
        parse("miniprogrampage.xml"),
        vec![message("24612384571234572", Content::Unsupported { description: "miniprogrampage".into() }, 1718000480)]
    );
}

#[test]
fn events_are_keyed_by_user_time_and_event() {
    assert_eq!(
        parse("event_subscribe.xml"),
        vec![InboundEvent {
            provider_event_id: format!("{OPENID}:1718000300:subscribe"),
            kind: InboundKind::Other { event_type: "subscribe".into(), sender: Some(openid()) },
            occurred_at: Some(Timestamp::from_millis(1718000300000)),
        }]
    );
    let click = format!("{OPENID}:1718000360:CLICK");
    assert_eq!(
        parse("event_click.xml"),
        vec![message(&click, Content::Button { text: "CONTACT_AGENT".into(), payload: Some("CONTACT_AGENT".into()) }, 1718000360)]
    );
    assert_eq!(
        parse("event_template_finished.xml"),
        vec![InboundEvent {
            provider_event_id: format!("{OPENID}:1718000420:TEMPLATESENDJOBFINISH"),
            kind: InboundKind::Other { event_type: "templatesendjobfinish".into(), sender: Some(openid()) },
            occurred_at: Some(Timestamp::from_millis(1718000420000)),
        }]
    );
}

#[test]
fn encrypted_mode_is_refused_clearly() {
    let s = settings();
    let hdrs = headers(&[]);
    let body = fixture("wechat", "encrypted.xml");
    let aes = signed_query(&[("encrypt_type", "aes"), ("msg_signature", "5d197aaffba7e9b25a30732f161a50dee96bd5fa")]);
    match s.parse(&WebhookRequest { url: URL, query: &aes, headers: &hdrs, body: &body }) {
        Err(ChannelError::Unsupported(m)) => assert!(m.contains("plaintext"), "{m}"),
        other => panic!("{other:?}"),
    }
    // The same body without the query flag is refused too.
    let plain = signed_query(&[]);
    assert!(matches!(s.parse(&WebhookRequest { url: URL, query: &plain, headers: &hdrs, body: &body }), Err(ChannelError::Unsupported(_))));
}

#[test]
fn malformed_bodies_are_refused() {
    let s = settings();
    let q = signed_query(&[]);
    let hdrs = headers(&[]);
    for body in [
        &b"{\"MsgType\":\"text\"}"[..],
        b"<xml><FromUserName>o1</FromUserName><CreateTime>1</CreateTime></xml>",
        b"<xml><MsgType>text</MsgType><Content>no sender</Content></xml>",
        b"<xml><FromUserName>o1</FromUserName",
        b"\xff\xfe<xml/>",
    ] {
        let req = WebhookRequest { url: URL, query: &q, headers: &hdrs, body };
        assert!(matches!(s.parse(&req), Err(ChannelError::Malformed(_))), "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn the_ack_is_a_plain_success() {
    let ack = ChannelSettings::Wechat(settings()).ack();
    assert_eq!((ack.content_type, ack.body.as_str()), ("text/plain", "success"));
}

fn text(body: &str) -> OutboundMessage {
    OutboundMessage {
        recipient: OPENID.into(),
        content: OutboundContent::Text { body: body.into() },
        tag: None,
        idempotency_key: "0f8fad5b-d9cb-469f-a165-70867728950e".into(),
    }
}

async fn mount_token(server: &MockServer, token_body: Vec<u8>, times: u64) {
    Mock::given(method("GET"))
        .and(path("/cgi-bin/token"))
        .and(query_param("grant_type", "client_credential"))
        .and(query_param("appid", APP_ID))
        .and(query_param("secret", APP_SECRET))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(token_body))
        .expect(times)
        .mount(server)
        .await;
}

#[tokio::test]
async fn the_token_is_fetched_once_and_reused() {
    let server = MockServer::start().await;
    mount_token(&server, fixture("wechat", "token.json"), 1).await;
    for body in ["您的订单今天发货", "还有其他问题吗？"] {
        Mock::given(method("POST"))
            .and(path("/cgi-bin/message/custom/send"))
            .and(query_param("access_token", "ACCESS_TOKEN_87_rGqf3Tz0wX"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!({ "touser": OPENID, "msgtype": "text", "text": { "content": body } })))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("wechat", "sent.json")))
            .expect(1)
            .mount(&server)
            .await;
    }
    let sender = ChannelSender::new(Endpoints { wechat: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let channel = ChannelSettings::Wechat(settings());
    assert_eq!(sender.send("ch1", &channel, &text("您的订单今天发货")).await, SendOutcome::Sent { provider_message_id: None });
    assert_eq!(sender.send("ch1", &channel, &text("还有其他问题吗？")).await, SendOutcome::Sent { provider_message_id: None });
}

#[tokio::test]
async fn an_expired_token_is_retryable_and_refetched() {
    let server = MockServer::start().await;
    mount_token(&server, fixture("wechat", "token.json"), 2).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/custom/send"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("wechat", "error_42001.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/custom/send"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("wechat", "sent.json")))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { wechat: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let channel = ChannelSettings::Wechat(settings());
    assert_eq!(
        sender.send("ch1", &channel, &text("a")).await,
        SendOutcome::Failed {
            code: "42001".into(),
            message: "access_token expired rid: 6676b3f1-1d2e8c4b-3a9f0e23".into(),
            retryable: true
        }
    );
    assert_eq!(sender.send("ch1", &channel, &text("a")).await, SendOutcome::Sent { provider_message_id: None });
}

#[tokio::test]
async fn past_48_hours_the_send_fails_for_good() {
    let server = MockServer::start().await;
    mount_token(&server, fixture("wechat", "token.json"), 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/custom/send"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(fixture("wechat", "error_45015.json")))
        .expect(1)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { wechat: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    assert_eq!(
        sender.send("ch1", &ChannelSettings::Wechat(settings()), &text("late")).await,
        SendOutcome::Failed {
            code: "45015".into(),
            message: "response out of time limit or subscription is canceled rid: 6676b3f1-1d2e8c4b-3a9f0e22".into(),
            retryable: false,
        }
    );
}

#[tokio::test]
async fn a_token_error_stops_the_send() {
    let server = MockServer::start().await;
    mount_token(&server, fixture("wechat", "token_error.json"), 1).await;
    Mock::given(method("POST"))
        .and(path("/cgi-bin/message/custom/send"))
        .respond_with(ResponseTemplate::new(200))
        .expect(0)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { wechat: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    assert_eq!(
        sender.send("ch1", &ChannelSettings::Wechat(settings()), &text("x")).await,
        SendOutcome::Failed { code: "40013".into(), message: "invalid appid rid: 6676b3f1-1d2e8c4b-3a9f0e21".into(), retryable: false }
    );
}

#[test]
fn token_answers_are_read() {
    assert_eq!(wechat::read_token(200, &fixture("wechat", "token.json")), Ok(("ACCESS_TOKEN_87_rGqf3Tz0wX".into(), 7200)));
    assert!(matches!(
        wechat::read_token(200, br#"{"errcode":-1,"errmsg":"system error"}"#),
        Err(SendOutcome::Failed { retryable: true, .. })
    ));
    assert!(matches!(wechat::read_token(503, b""), Err(SendOutcome::Failed { retryable: true, .. })));
    let req = settings().token_request(&Endpoints::default());
    assert_eq!(req.url, format!("https://api.weixin.qq.com/cgi-bin/token?grant_type=client_credential&appid={APP_ID}&secret={APP_SECRET}"));
}

#[test]
fn media_templates_and_a_missing_token_are_refused() {
    let s = settings();
    let media = OutboundMessage {
        content: OutboundContent::Media { kind: MediaKind::Image, url: "https://cdn.example/a.jpg".into(), caption: None, filename: None },
        ..text("")
    };
    assert!(matches!(s.build(&Endpoints::default(), &media, Some("T")), Err(ChannelError::Unsupported(_))));
    let template = OutboundMessage {
        content: OutboundContent::Template { name: "t".into(), language: "zh_CN".into(), variables: vec![] },
        ..text("")
    };
    assert!(matches!(s.build(&Endpoints::default(), &template, Some("T")), Err(ChannelError::Unsupported(_))));
    assert!(matches!(s.build(&Endpoints::default(), &text("hi"), None), Err(ChannelError::InvalidSettings(_))));
    assert!(matches!(s.read_response(200, br#"{"errcode":-1,"errmsg":"system error"}"#), SendOutcome::Failed { retryable: true, .. }));
    assert!(matches!(
        s.read_response(200, br#"{"errcode":45047,"errmsg":"out of response count limit"}"#),
        SendOutcome::Failed { retryable: false, .. }
    ));
}
