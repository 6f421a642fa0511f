//! Media downloads, each provider's documented way, against fakes.

use std::time::Duration;
use tandem_channels::{media::MediaError, ChannelSender, ChannelSettings, Endpoints};
use tandem_core::ChannelKind;
use wiremock::{
    matchers::{header, method, path, query_param},
    Mock, MockServer, ResponseTemplate,
};

fn settings(kind: ChannelKind, config: serde_json::Value) -> ChannelSettings {
    ChannelSettings::parse(kind, config.as_object().unwrap()).unwrap()
}

#[tokio::test]
async fn telegram_media_is_found_with_get_file_then_downloaded() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bot123456:ABC-DEF/getFile"))
        .and(query_param("file_id", "AgACAgQAAxkBAAIC"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"ok": true, "result": {"file_id": "AgACAgQAAxkBAAIC", "file_unique_id": "u", "file_size": 5, "file_path": "photos/file_7.jpg"}})))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/file/bot123456:ABC-DEF/photos/file_7.jpg"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "image/jpeg").set_body_bytes(b"jpeg!".to_vec()))
        .expect(2)
        .mount(&server)
        .await;
    let sender = ChannelSender::new(Endpoints { telegram: server.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let s = settings(ChannelKind::Telegram, serde_json::json!({"bot_token": "123456:ABC-DEF", "secret_token": "s3cret"}));
    let got = sender.download(&s, "AgACAgQAAxkBAAIC", 1024).await.unwrap();
    assert_eq!((got.bytes.as_slice(), got.mime_type.as_deref()), (&b"jpeg!"[..], Some("image/jpeg")));
    // A file over the limit is refused rather than read whole.
    assert_eq!(sender.download(&s, "AgACAgQAAxkBAAIC", 3).await, Err(MediaError::TooLarge(3)));
}

#[tokio::test]
async fn line_media_comes_from_the_content_host_with_the_channel_token() {
    let data = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/bot/message/468789577898262530/content"))
        .and(header("authorization", "Bearer line-token"))
        .respond_with(ResponseTemplate::new(200).insert_header("content-type", "audio/m4a").set_body_bytes(b"m4a".to_vec()))
        .expect(1)
        .mount(&data)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/bot/message/gone/content"))
        .respond_with(ResponseTemplate::new(404).set_body_json(serde_json::json!({"message": "Not found"})))
        .mount(&data)
        .await;
    Mock::given(method("GET")).and(path("/v2/bot/message/busy/content")).respond_with(ResponseTemplate::new(503)).mount(&data).await;
    let sender = ChannelSender::new(Endpoints { line_data: data.uri(), ..Endpoints::default() }, Duration::from_secs(5));
    let s = settings(ChannelKind::Line, serde_json::json!({"channel_secret": "secret", "channel_access_token": "line-token"}));
    assert_eq!(sender.download(&s, "468789577898262530", 1024).await.unwrap().bytes, b"m4a");
    assert!(matches!(sender.download(&s, "gone", 1024).await, Err(MediaError::Gone(_))));
    assert!(matches!(sender.download(&s, "busy", 1024).await, Err(MediaError::Transient(_))));
}
