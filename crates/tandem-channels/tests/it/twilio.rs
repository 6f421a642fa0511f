//! Twilio SMS/MMS: `X-Twilio-Signature` against Twilio's published vectors, form posts parsed to
//! their exact events, the TwiML ack, the exact send request and Twilio's error JSON.

use std::time::Duration;

use serde_json::json;
use tandem_channels::{
    providers::twilio::Settings, settings::Provider, signature, Ack, ChannelError, ChannelSender, ChannelSettings, Content, DeliveryStatus,
    Endpoints, InboundEvent, InboundKind, MediaKind, OutboundContent, OutboundMessage, ProviderFailure, SendOutcome, Sender,
    WebhookRequest,
};
use tandem_core::ChannelKind;
use wiremock::{
    matchers::{body_string, header, method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::{fixture, headers};

const TOKEN: &str = "9f86d081884c7d659a2feaa0c55ad015";
const URL: &str = "https://tandem.example/webhooks/twilio/ch1";
const SID: &str = "ACae0d2a5c1b9e8f7a6b5c4d3e2f1a0b9c";

fn settings() -> Settings {
    Settings { account_sid: SID.into(), auth_token: TOKEN.into(), from: Some("+14155550100".into()), messaging_service_sid: None }
}

/// The documented algorithm, written out independently of the provider: URL, then each
/// parameter's name and value sorted by name, HMAC-SHA1 with the auth token, base64.
fn sign(token: &str, url: &str, body: &[u8]) -> String {
    let mut params: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap();
    params.sort();
    let data = params.iter().fold(url.to_string(), |acc, (k, v)| acc + k + v);
    signature::base64(&signature::hmac_sha1(token.as_bytes(), data.as_bytes()))
}

fn verify(token: &str, url: &str, sig: Option<&str>, body: &[u8]) -> Result<(), ChannelError> {
    let hdrs = match sig {
        Some(s) => headers(&[("X-Twilio-Signature", s), ("Content-Type", "application/x-www-form-urlencoded")]),
        None => headers(&[("Content-Type", "application/x-www-form-urlencoded")]),
    };
    let query: Vec<(String, String)> = url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut s = settings();
    s.auth_token = token.into();
    s.verify(&WebhookRequest { url, query: &query, headers: &hdrs, body })
}

fn parse(name: &str) -> Vec<InboundEvent> {
    let body = fixture("twilio", name);
    verify(TOKEN, URL, Some(&sign(TOKEN, URL, &body)), &body).expect("fixture signature");
    let hdrs = headers(&[("Content-Type", "application/x-www-form-urlencoded")]);
    settings().parse(&WebhookRequest { url: URL, query: &[], headers: &hdrs, body: &body }).unwrap_or_else(|e| panic!("{name}: {e}"))
}

// --- signatures ------------------------------------------------------------------------------

/// The worked example of Twilio's webhook security page: auth token `12345`, this URL and these
/// parameters sign to `GvWf1cFY/Q7PnoempGyD5oXAezc=`.
#[test]
fn signature_matches_twilio_security_docs_example() {
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1234&From=%2B14158675310&To=%2B18005551212";
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    assert!(verify("12345", url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), body).is_ok());
    // Order in the body does not matter: parameters are signed sorted by name.
    let shuffled = b"To=%2B18005551212&Digits=1234&From=%2B14158675310&CallSid=CA1234567890ABCDE&Caller=%2B14158675310";
    assert!(verify("12345", url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), shuffled).is_ok());
    // A changed digit, URL or token fails.
    let tampered = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675310&Digits=1235&From=%2B14158675310&To=%2B18005551212";
    assert!(matches!(verify("12345", url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), tampered), Err(ChannelError::BadSignature(_))));
    assert!(matches!(
        verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=3", Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), body),
        Err(ChannelError::BadSignature(_))
    ));
    assert!(matches!(verify("54321", url, Some("GvWf1cFY/Q7PnoempGyD5oXAezc="), body), Err(ChannelError::BadSignature(_))));
}

/// Twilio's helper libraries test the same example with `Caller`/`From` `+14158675309`.
#[test]
fn signature_matches_twilio_sdk_vector() {
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    assert!(verify("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", Some("RSOYDt4T1cUTdK1PDd93/VVr8B8="), body).is_ok());
}

/// JSON webhooks: the URL carries `bodySHA256` and is signed alone (Twilio SDKs' vector).
#[test]
fn json_body_signature_matches_twilio_sdk_vector() {
    let body = br#"{"property": "value", "boolean": true}"#;
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    assert!(verify("12345", url, Some("a9nBmqA0ju/hNViExpshrM61xv4="), body).is_ok());
    let other_body = br#"{"property": "evil", "boolean": true}"#;
    assert!(matches!(verify("12345", url, Some("a9nBmqA0ju/hNViExpshrM61xv4="), other_body), Err(ChannelError::BadSignature(_))));
}

#[test]
fn forged_or_missing_signatures_are_refused() {
    let body = fixture("twilio", "inbound_sms.form");
    assert!(verify(TOKEN, URL, Some(&sign(TOKEN, URL, &body)), &body).is_ok());
    let forged = verify(TOKEN, URL, Some(&sign("another-token", URL, &body)), &body);
    assert!(matches!(forged, Err(ChannelError::BadSignature(_))), "{forged:?}");
    // Signed for another URL (e.g. http behind a proxy) is not this request.
    let other_url = verify(TOKEN, URL, Some(&sign(TOKEN, "http://tandem.example/webhooks/twilio/ch1", &body)), &body);
    assert!(matches!(other_url, Err(ChannelError::BadSignature(_))), "{other_url:?}");
    match verify(TOKEN, URL, None, &body) {
        Err(ChannelError::BadSignature(m)) => assert!(m.contains("X-Twilio-Signature"), "{m}"),
        other => panic!("{other:?}"),
    }
}

// --- inbound ---------------------------------------------------------------------------------

fn customer() -> Sender {
    Sender { id: "+14155551234".into(), name: None, phone: Some("+14155551234".into()) }
}

#[test]
fn inbound_sms() {
    assert_eq!(
        parse("inbound_sms.form"),
        vec![InboundEvent {
            provider_event_id: "SM1f0e5c1b2a3d4e5f60718293a4b5c6d7".into(),
            kind: InboundKind::Message {
                sender: customer(),
                provider_message_id: "SM1f0e5c1b2a3d4e5f60718293a4b5c6d7".into(),
                content: Content::Text { body: "Is my order #4521 shipped?".into() },
            },
            occurred_at: None,
        }]
    );
}

#[test]
fn inbound_mms_one_event_per_media_with_the_text_as_caption() {
    let sid = "MM7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e";
    let media_url = |me: &str| format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages/{sid}/Media/{me}");
    assert_eq!(
        parse("inbound_mms.form"),
        vec![
            InboundEvent {
                provider_event_id: sid.into(),
                kind: InboundKind::Message {
                    sender: customer(),
                    provider_message_id: sid.into(),
                    content: Content::Media {
                        kind: MediaKind::Image,
                        reference: media_url("ME0a1b2c3d4e5f60718293a4b5c6d7e8f"),
                        mime_type: Some("image/jpeg".into()),
                        caption: Some("Here is the damaged box".into()),
                        filename: None,
                    },
                },
                occurred_at: None,
            },
            InboundEvent {
                provider_event_id: format!("{sid}:1"),
                kind: InboundKind::Message {
                    sender: customer(),
                    provider_message_id: format!("{sid}:1"),
                    content: Content::Media {
                        kind: MediaKind::Document,
                        reference: media_url("ME1b2c3d4e5f60718293a4b5c6d7e8f9a"),
                        mime_type: Some("application/pdf".into()),
                        caption: None,
                        filename: None,
                    },
                },
                occurred_at: None,
            },
        ]
    );
}

#[test]
fn delivered_status_callback() {
    assert_eq!(
        parse("status_delivered.form"),
        vec![InboundEvent {
            provider_event_id: "SM5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b:delivered".into(),
            kind: InboundKind::Status {
                provider_message_id: "SM5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b".into(),
                status: DeliveryStatus::Delivered,
                failure: None,
                recipient: Some("+14155551234".into()),
            },
            occurred_at: None,
        }]
    );
}

#[test]
fn undelivered_and_failed_callbacks_are_failures_with_the_error_code() {
    let failed = |sid: &str, status: &str, code: &str, title: &str| InboundEvent {
        provider_event_id: format!("{sid}:{status}"),
        kind: InboundKind::Status {
            provider_message_id: sid.into(),
            status: DeliveryStatus::Failed,
            failure: Some(ProviderFailure { code: code.into(), title: title.into() }),
            recipient: Some("+14155559876".into()),
        },
        occurred_at: None,
    };
    assert_eq!(
        parse("status_undelivered.form"),
        vec![failed("SM6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c", "undelivered", "30003", "Unreachable destination handset")]
    );
    assert_eq!(parse("status_failed.form"), vec![failed("SM7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d", "failed", "30007", "Message filtered")]);
}

#[test]
fn queued_callbacks_are_other_events() {
    assert_eq!(
        parse("status_queued.form"),
        vec![InboundEvent {
            provider_event_id: "SM8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e:queued".into(),
            kind: InboundKind::Other { event_type: "status_queued".into(), sender: None },
            occurred_at: None,
        }]
    );
}

#[test]
fn whatsapp_senders_on_twilio_keep_the_prefix_as_address() {
    let body = b"MessageSid=SM0000000000000000000000000000000a&From=whatsapp%3A%2B34612345678&To=whatsapp%3A%2B14155550100&Body=Yes&ButtonText=Yes&ButtonPayload=CONFIRM&ProfileName=Pablo&NumMedia=0";
    let events = settings().parse(&WebhookRequest { url: URL, query: &[], headers: &[], body }).unwrap();
    assert_eq!(
        events,
        vec![InboundEvent {
            provider_event_id: "SM0000000000000000000000000000000a".into(),
            kind: InboundKind::Message {
                sender: Sender { id: "whatsapp:+34612345678".into(), name: Some("Pablo".into()), phone: Some("+34612345678".into()) },
                provider_message_id: "SM0000000000000000000000000000000a".into(),
                content: Content::Button { text: "Yes".into(), payload: Some("CONFIRM".into()) },
            },
            occurred_at: None,
        }]
    );
}

#[test]
fn malformed_posts_are_refused() {
    for body in [&b"From=%2B14155551234&Body=hi"[..], b"MessageSid=SM1&Body=no+sender", b""] {
        let parsed = settings().parse(&WebhookRequest { url: URL, query: &[], headers: &[], body });
        assert!(matches!(parsed, Err(ChannelError::Malformed(_))), "{}: {parsed:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn acks_with_empty_twiml() {
    assert_eq!(
        settings().ack(),
        Ack { content_type: "text/xml", body: r#"<?xml version="1.0" encoding="UTF-8"?><Response></Response>"#.into() }
    );
}

#[test]
fn settings_need_a_sender() {
    let config = |v: serde_json::Value| v.as_object().cloned().unwrap();
    assert!(
        ChannelSettings::parse(ChannelKind::Sms, &config(json!({"account_sid": SID, "auth_token": "t", "from": "+14155550100"}))).is_ok()
    );
    assert!(ChannelSettings::parse(
        ChannelKind::Sms,
        &config(json!({"account_sid": SID, "auth_token": "t", "messaging_service_sid": "MG1"}))
    )
    .is_ok());
    let neither = ChannelSettings::parse(ChannelKind::Sms, &config(json!({"account_sid": SID, "auth_token": "t", "from": " "})));
    assert!(matches!(neither, Err(ChannelError::InvalidSettings(m)) if m.contains("messaging_service_sid")));
    let no_token = ChannelSettings::parse(ChannelKind::Sms, &config(json!({"account_sid": SID, "auth_token": "", "from": "+1415"})));
    assert!(matches!(no_token, Err(ChannelError::InvalidSettings(m)) if m.contains("auth_token")));
    assert!(!format!("{:?}", settings()).contains(TOKEN));
}

// --- outbound --------------------------------------------------------------------------------

fn outbound(content: OutboundContent) -> OutboundMessage {
    OutboundMessage { recipient: "+14155551234".into(), content, tag: None, idempotency_key: "3c5e7a9b-1d2f-4a6c-8e0b-2d4f6a8c0e1f".into() }
}

fn basic() -> String {
    format!("Basic {}", signature::base64(format!("{SID}:{TOKEN}").as_bytes()))
}

async fn send_expecting(s: Settings, msg: OutboundMessage, form: &str, status: u16, response: &str) -> SendOutcome {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/2010-04-01/Accounts/{SID}/Messages.json")))
        .and(header("authorization", basic().as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string(form))
        .respond_with(ResponseTemplate::new(status).set_body_raw(fixture("twilio", response), "application/json"))
        .expect(1)
        .mount(&server)
        .await;
    let endpoints = Endpoints { twilio: server.uri(), ..Endpoints::default() };
    ChannelSender::new(endpoints, Duration::from_secs(5)).send("ch1", &ChannelSettings::Sms(s), &msg).await
}

#[tokio::test]
async fn sends_an_sms_from_the_number() {
    let outcome = send_expecting(
        settings(),
        outbound(OutboundContent::Text { body: "Yes, it shipped this morning.".into() }),
        "To=%2B14155551234&From=%2B14155550100&Body=Yes%2C+it+shipped+this+morning.",
        201,
        "send_ok.json",
    )
    .await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("SM9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f".into()) });
}

#[tokio::test]
async fn sends_an_mms_through_a_messaging_service() {
    let s = Settings { messaging_service_sid: Some("MG9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c".into()), ..settings() };
    let msg = outbound(OutboundContent::Media {
        kind: MediaKind::Image,
        url: "https://cdn.tandem.example/m/label.png".into(),
        caption: Some("Your return label".into()),
        filename: Some("label.png".into()),
    });
    let outcome = send_expecting(
        s,
        msg,
        "To=%2B14155551234&MessagingServiceSid=MG9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c&Body=Your+return+label&MediaUrl=https%3A%2F%2Fcdn.tandem.example%2Fm%2Flabel.png",
        201,
        "send_ok.json",
    )
    .await;
    assert_eq!(outcome, SendOutcome::Sent { provider_message_id: Some("SM9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f".into()) });
}

#[tokio::test]
async fn an_invalid_number_is_a_final_failure() {
    let outcome = send_expecting(
        settings(),
        outbound(OutboundContent::Text { body: "hi".into() }),
        "To=%2B14155551234&From=%2B14155550100&Body=hi",
        400,
        "send_error_21211.json",
    )
    .await;
    assert_eq!(
        outcome,
        SendOutcome::Failed { code: "21211".into(), message: "Invalid 'To' Phone Number: +1415555".into(), retryable: false }
    );
}

#[test]
fn rate_limits_retry_unsubscribed_does_not() {
    let s = settings();
    assert_eq!(
        s.read_response(429, &fixture("twilio", "send_error_20429.json")),
        SendOutcome::Failed { code: "20429".into(), message: "Too Many Requests".into(), retryable: true }
    );
    assert_eq!(
        s.read_response(400, &fixture("twilio", "send_error_21610.json")),
        SendOutcome::Failed { code: "21610".into(), message: "Attempt to send to unsubscribed recipient".into(), retryable: false }
    );
    assert!(
        matches!(s.read_response(503, b"Service Unavailable"), SendOutcome::Failed { ref code, retryable: true, .. } if code == "http_503")
    );
    let template = outbound(OutboundContent::Template { name: "x".into(), language: "en".into(), variables: vec![] });
    assert!(matches!(s.build(&Endpoints::default(), &template, None), Err(ChannelError::Unsupported(_))));
}
