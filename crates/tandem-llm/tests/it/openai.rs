//! The client against a fake OpenAI-compatible server that checks what we send and answers in the
//! exact wire format (JSON completions; SSE chunks ending in `data: [DONE]`).

use crate::config_for;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::num::NonZeroU64;
use std::time::{Duration, Instant};
use tandem_llm::{ChatMessage, ChatRequest, FinishReason, LlmClient, LlmError, StreamEvent};
use wiremock::matchers::{body_json, body_partial_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PATH: &str = "/v1/chat/completions";

fn completion(text: &str) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1_700_000_000, "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 4, "total_tokens": 25}
    })
}

fn question() -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("Answer from the context only."),
        ChatMessage::user("Context: Returns are accepted within 30 days. Question: How many days do I have to return?"),
    ])
    .max_tokens(64)
    .temperature(0.0)
}

fn sse(events: &[Value]) -> String {
    let mut body = String::new();
    for event in events {
        body.push_str(&format!("data: {event}\n\n"));
    }
    body.push_str(": keep-alive ping\n\n");
    body.push_str("data: [DONE]\n\n");
    body
}

fn chunk(delta: Value, finish: Option<&str>) -> Value {
    json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "test-model",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
}

fn event_stream(body: String) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body, "text/event-stream")
}

async fn requests(server: &MockServer) -> usize {
    server.received_requests().await.unwrap_or_default().len()
}

#[tokio::test]
async fn complete_sends_the_openai_request_and_reads_the_answer() {
    let server = MockServer::start().await;
    let mut config = config_for(&server.uri());
    config.api_key = Some("sk-test".into());
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(header("authorization", "Bearer sk-test"))
        .and(body_json(json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "Answer from the context only."},
                {"role": "user", "content": "Context: Returns are accepted within 30 days. Question: How many days do I have to return?"}
            ],
            "max_tokens": 64,
            "temperature": 0.0
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("30 days.")))
        .expect(1)
        .mount(&server)
        .await;
    let client = LlmClient::new(&config).unwrap();
    let response = client.complete(question()).await.unwrap();
    assert_eq!(response.text, "30 days.");
    assert_eq!((response.prompt_tokens, response.completion_tokens, response.usage_estimated), (21, 4, false));
    assert_eq!(response.finish_reason, FinishReason::Stop);
    assert_eq!(response.attempts, 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_until_success() {
    let server = MockServer::start().await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(429).set_body_string("slow down")).up_to_n_times(1).mount(&server).await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(503).set_body_string("loading model")).up_to_n_times(1).mount(&server).await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(200).set_body_json(completion("ok"))).mount(&server).await;
    let response = LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await.unwrap();
    assert_eq!(response.text, "ok");
    assert_eq!(response.attempts, 3);
    assert_eq!(requests(&server).await, 3);
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_the_last_status() {
    let server = MockServer::start().await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(503).set_body_string("overloaded")).mount(&server).await;
    match LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await {
        Err(LlmError::Status { code: 503, body }) => assert_eq!(body, "overloaded"),
        other => panic!("expected Status 503, got {other:?}"),
    }
    assert_eq!(requests(&server).await, 3, "one attempt and max_retries = 2 retries");
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let server = MockServer::start().await;
    let body = json!({"error": {"code": 400, "message": "temperature must be positive", "type": "invalid_request_error"}});
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(400).set_body_json(&body)).mount(&server).await;
    match LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await {
        Err(LlmError::Status { code: 400, body }) => assert!(body.contains("temperature must be positive"), "{body}"),
        other => panic!("expected Status 400, got {other:?}"),
    }
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn llama_servers_context_error_is_a_context_overflow_and_not_retried() {
    let server = MockServer::start().await;
    let body = json!({"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 4096,
        "message": "request (5000 tokens) exceeds the available context size (4096 tokens), try increasing it"}});
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(400).set_body_json(&body)).mount(&server).await;
    match LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await {
        Err(LlmError::ContextOverflow { prompt_tokens: Some(5000), context_tokens: Some(4096) }) => {}
        other => panic!("expected ContextOverflow, got {other:?}"),
    }
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(200).set_body_json(completion("ok"))).mount(&server).await;
    let started = Instant::now();
    let response = LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await.unwrap();
    assert_eq!(response.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}, less than Retry-After", started.elapsed());
}

#[tokio::test]
async fn a_slow_server_times_out_without_retry() {
    let server = MockServer::start().await;
    Mock::given(path(PATH))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("late")).set_delay(Duration::from_secs(4)))
        .mount(&server)
        .await;
    let mut config = config_for(&server.uri());
    config.request_timeout_seconds = NonZeroU64::new(1).unwrap();
    let started = Instant::now();
    match LlmClient::new(&config).unwrap().complete(question()).await {
        Err(LlmError::Timeout(after)) => assert_eq!(after, Duration::from_secs(1)),
        other => panic!("expected Timeout, got {other:?}"),
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500), "took {elapsed:?}");
    assert_eq!(requests(&server).await, 1);
}

#[tokio::test]
async fn an_unreachable_server_is_unavailable_after_every_retry() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    match LlmClient::new(&config_for(&format!("http://127.0.0.1:{port}"))).unwrap().complete(question()).await {
        Err(LlmError::Unavailable { url, attempts, reason }) => {
            assert_eq!(url, format!("http://127.0.0.1:{port}/v1/chat/completions"));
            assert_eq!(attempts, 3);
            assert!(!reason.is_empty());
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_usage_is_estimated_and_said_so() {
    let server = MockServer::start().await;
    let mut body = completion("Thirty days.");
    body.as_object_mut().unwrap().remove("usage");
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(200).set_body_json(body)).mount(&server).await;
    let response = LlmClient::new(&config_for(&server.uri())).unwrap().complete(question()).await.unwrap();
    assert!(response.usage_estimated);
    assert_eq!(response.prompt_tokens, tandem_llm::tokens::estimate_prompt(&question().messages));
    assert_eq!(response.completion_tokens, tandem_llm::tokens::estimate_tokens("Thirty days."));
}

#[tokio::test]
async fn a_stream_yields_the_deltas_then_usage_and_time_to_first_token() {
    let server = MockServer::start().await;
    let body = sse(&[
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(json!({"content": "You have"}), None),
        chunk(json!({"content": " 30"}), None),
        chunk(json!({"content": " days."}), None),
        chunk(json!({}), Some("stop")),
        json!({"id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "test-model",
               "choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 4, "total_tokens": 34}}),
    ]);
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_partial_json(json!({"stream": true, "stream_options": {"include_usage": true}, "max_tokens": 64})))
        .respond_with(event_stream(body))
        .expect(1)
        .mount(&server)
        .await;
    let mut stream = LlmClient::new(&config_for(&server.uri())).unwrap().stream(question()).await.unwrap();
    let mut deltas = Vec::new();
    let mut summary = None;
    while let Some(item) = stream.next().await {
        match item.unwrap() {
            StreamEvent::Delta(delta) => deltas.push(delta),
            StreamEvent::Done(done) => summary = Some(done),
        }
    }
    assert_eq!(deltas, ["You have", " 30", " days."]);
    let summary = summary.expect("a Done item ends the stream");
    assert_eq!((summary.prompt_tokens, summary.completion_tokens, summary.usage_estimated), (30, 4, false));
    assert_eq!(summary.finish_reason, FinishReason::Stop);
    let ttft = summary.time_to_first_token.expect("a first token");
    assert!(ttft <= summary.latency);
}

#[tokio::test]
async fn a_stream_is_retried_before_its_first_byte() {
    let server = MockServer::start().await;
    Mock::given(path(PATH)).respond_with(ResponseTemplate::new(503)).up_to_n_times(1).mount(&server).await;
    Mock::given(path(PATH))
        .respond_with(event_stream(sse(&[chunk(json!({"content": "30"}), None), chunk(json!({}), Some("length"))])))
        .mount(&server)
        .await;
    let (text, summary) =
        LlmClient::new(&config_for(&server.uri())).unwrap().stream(question()).await.unwrap().collect_text().await.unwrap();
    assert_eq!(text, "30");
    assert_eq!(summary.attempts, 2);
    assert_eq!(summary.finish_reason, FinishReason::Length);
    assert!(summary.usage_estimated, "this server sent no usage");
}

#[tokio::test]
async fn an_error_event_mid_stream_ends_it_with_that_error() {
    let server = MockServer::start().await;
    let body = format!(
        "data: {}\n\ndata: {}\n\n",
        chunk(json!({"content": "You"}), None),
        json!({"error": {"code": 500, "message": "slot crashed", "type": "server_error"}})
    );
    Mock::given(path(PATH)).respond_with(event_stream(body)).mount(&server).await;
    let mut stream = LlmClient::new(&config_for(&server.uri())).unwrap().stream(question()).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(StreamEvent::Delta(d))) if d == "You"));
    match stream.next().await {
        Some(Err(LlmError::Status { code: 500, body })) => assert!(body.contains("slot crashed")),
        other => panic!("expected the server's error, got {other:?}"),
    }
    assert!(stream.next().await.is_none(), "nothing after an error");
}

#[tokio::test]
async fn a_stream_cut_before_it_finished_is_an_error_not_a_short_answer() {
    let server = MockServer::start().await;
    let body = format!("data: {}\n\n", chunk(json!({"content": "You have"}), None));
    Mock::given(path(PATH)).respond_with(event_stream(body)).mount(&server).await;
    match LlmClient::new(&config_for(&server.uri())).unwrap().stream(question()).await.unwrap().collect_text().await {
        Err(LlmError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct LeadScore {
    score: u8,
    reason: String,
}

fn lead_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 100},
            "reason": {"type": "string"}
        },
        "required": ["score", "reason"],
        "additionalProperties": false
    })
}

fn lead_request() -> ChatRequest {
    ChatRequest::new(vec![ChatMessage::system("Score the lead."), ChatMessage::user("We have 500 seats and want to buy this month.")])
        .max_tokens(64)
        .temperature(0.0)
}

#[tokio::test]
async fn complete_json_sends_the_exact_json_schema_request_and_returns_the_typed_value() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(PATH))
        .and(body_json(json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "Score the lead."},
                {"role": "user", "content": "We have 500 seats and want to buy this month."}
            ],
            "max_tokens": 64,
            "temperature": 0.0,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "LeadScore", "schema": lead_schema(), "strict": true}
            }
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(r#"{"score": 85, "reason": "large team, buying now"}"#)))
        .expect(1)
        .mount(&server)
        .await;
    let structured =
        LlmClient::new(&config_for(&server.uri())).unwrap().complete_json::<LeadScore>(lead_request(), lead_schema()).await.unwrap();
    assert_eq!(structured.value, LeadScore { score: 85, reason: "large team, buying now".into() });
    assert_eq!(structured.response.prompt_tokens, 21);
}

#[tokio::test]
async fn output_that_is_not_valid_for_the_schema_or_the_type_is_invalid_output() {
    let cases = [
        ("The lead looks good!", "not JSON"),
        (r#"{"score": 150, "reason": "huge"}"#, "/score"),
        (r#"{"score": 50}"#, "reason"),
        (r#"{"score": 50, "reason": "ok", "extra": 1}"#, "extra"),
        (r#"{"score": 5"#, "not JSON"),
    ];
    for (output, expected) in cases {
        let server = MockServer::start().await;
        Mock::given(path(PATH)).respond_with(ResponseTemplate::new(200).set_body_json(completion(output))).mount(&server).await;
        let result = LlmClient::new(&config_for(&server.uri())).unwrap().complete_json::<LeadScore>(lead_request(), lead_schema()).await;
        match result {
            Err(LlmError::InvalidOutput { reason, raw }) => {
                assert!(reason.contains(expected), "{output}: reason {reason:?} should mention {expected:?}");
                assert_eq!(raw, output);
            }
            other => panic!("{output}: expected InvalidOutput, got {other:?}"),
        }
        assert_eq!(requests(&server).await, 1, "invalid output is not retried");
    }
}

#[tokio::test]
async fn an_invalid_schema_is_refused_before_anything_is_sent() {
    let server = MockServer::start().await;
    let result = LlmClient::new(&config_for(&server.uri()))
        .unwrap()
        .complete_json::<LeadScore>(lead_request(), json!({"type": "no-such-type"}))
        .await;
    assert!(matches!(result, Err(LlmError::InvalidSchema(_))), "{result:?}");
    assert_eq!(requests(&server).await, 0);
}

#[test]
fn a_bad_base_url_is_a_config_error() {
    let mut config = config_for("http://x");
    config.base_url = Some("ftp://example.com/v1".into());
    assert!(matches!(LlmClient::new(&config), Err(LlmError::Config(_))));
    config.base_url = None;
    assert!(matches!(LlmClient::new(&config), Err(LlmError::Config(_))));
}
