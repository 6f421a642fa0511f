//! The real llama-server with the real model, as `scripts/llm/fetch` provides them
//! (`eval "$(scripts/llm/fetch)"` sets `LLAMA_SERVER` and `TANDEM_LLM_MODEL`). One scenario, in
//! order, because each server holds ~2 GB and both cores: start, answer, structured output,
//! stream, token estimates, budget, restart after a kill, shutdown, drop.

use serde::Deserialize;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tandem_llm::tokens::estimate_prompt;
use tandem_llm::{ChatMessage, ChatRequest, LlmClient, LlmConfig, LlmError, LocalServer, LocalServerConfig};

/// The binary and model, or `None` (with a line saying so) when `TANDEM_SKIP_LLM=1`.
fn assets() -> Option<(PathBuf, PathBuf)> {
    let binary = std::env::var_os("LLAMA_SERVER").filter(|v| !v.is_empty());
    let model = std::env::var_os("TANDEM_LLM_MODEL").filter(|v| !v.is_empty());
    match (binary, model) {
        (Some(binary), Some(model)) => Some((binary.into(), model.into())),
        _ if std::env::var("TANDEM_SKIP_LLM").as_deref() == Ok("1") => {
            eprintln!("skipping the real llama-server tests: TANDEM_SKIP_LLM=1");
            None
        }
        _ => panic!(
            "LLAMA_SERVER and TANDEM_LLM_MODEL are not set: run `eval \"$(scripts/llm/fetch)\"` first \
             (it builds llama-server and downloads the model), or set TANDEM_SKIP_LLM=1 to skip these tests"
        ),
    }
}

fn local_config(binary: PathBuf, model: PathBuf) -> LocalServerConfig {
    LocalServerConfig { binary: Some(binary), model: Some(model), ..LocalServerConfig::default() }
}

fn grounded() -> ChatRequest {
    ChatRequest::new(vec![
        ChatMessage::system("You are a support agent. Answer briefly, using only the context."),
        ChatMessage::user("Context: Returns are accepted within 30 days. Question: How many days do I have to return?"),
    ])
    .max_tokens(48)
    .temperature(0.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReturnWindow {
    days: u32,
    grounded_in_context: bool,
}

fn pid_alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.split(") ").nth(1).is_some_and(|rest| rest.starts_with('Z')),
        Err(_) => false,
    }
}

async fn health(port: u16) -> Option<u16> {
    let url = format!("http://127.0.0.1:{port}/health");
    reqwest::Client::new().get(url).timeout(Duration::from_secs(2)).send().await.ok().map(|r| r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llama_server_serves_supervises_and_stops() {
    let Some((binary, model)) = assets() else { return };
    let local = local_config(binary, model);

    // Start and health.
    let started = Instant::now();
    let server = LocalServer::start(&local).await.expect("llama-server starts");
    let startup = started.elapsed();
    assert_eq!(health(server.port()).await, Some(200));
    let first_pid = server.status().pid.expect("a running child");
    assert!(server.status().healthy);
    eprintln!("measured: startup {:.2}s", startup.as_secs_f64());

    let config = LlmConfig { request_timeout_seconds: std::num::NonZeroU64::new(300).unwrap(), ..LlmConfig::default() };
    let client = LlmClient::with_base_url(&config, server.base_url()).unwrap();

    // A grounded answer.
    let answer = client.complete(grounded()).await.expect("an answer");
    assert!(answer.text.contains("30"), "answer: {:?}", answer.text);
    assert!(!answer.usage_estimated && answer.prompt_tokens > 20 && answer.completion_tokens > 0);
    eprintln!(
        "measured: complete {} prompt + {} completion tokens in {:.2}s: {:?}",
        answer.prompt_tokens,
        answer.completion_tokens,
        answer.latency.as_secs_f64(),
        answer.text
    );

    // Structured output, constrained by the schema.
    let schema = json!({
        "type": "object",
        "properties": {"days": {"type": "integer", "minimum": 0}, "grounded_in_context": {"type": "boolean"}},
        "required": ["days", "grounded_in_context"],
        "additionalProperties": false
    });
    let request = ChatRequest::new(vec![
        ChatMessage::system("Extract the return window from the context as JSON."),
        ChatMessage::user("Context: Returns are accepted within 30 days. Question: How many days do I have to return?"),
    ])
    .max_tokens(64)
    .temperature(0.0);
    let structured = client.complete_json::<ReturnWindow>(request, schema).await.expect("valid typed JSON");
    assert_eq!(structured.value.days, 30, "{:?}", structured.response.text);
    eprintln!("measured: json_schema {:?} (grounded: {})", structured.response.text, structured.value.grounded_in_context);

    // Streaming.
    let (text, summary) = client.stream(grounded()).await.expect("a stream").collect_text().await.expect("a whole stream");
    assert!(text.contains("30"), "streamed: {text:?}");
    let ttft = summary.time_to_first_token.expect("a first token");
    assert!(!summary.usage_estimated && summary.completion_tokens > 1);
    eprintln!(
        "measured: stream ttft {:.3}s, {} tokens in {:.2}s, {:.1} tokens/s after the first",
        ttft.as_secs_f64(),
        summary.completion_tokens,
        summary.latency.as_secs_f64(),
        summary.tokens_per_second().unwrap_or_default()
    );
    // A longer answer to a prompt the server has not cached, for honest speed numbers.
    let explain = ChatRequest::new(vec![
        ChatMessage::system("You are a support agent for an online shop."),
        ChatMessage::user(
            "Context: Returns are accepted within 30 days of delivery. Items must be unused and in their original packaging. \
             Refunds are paid to the original payment method within 5 business days. \
             Question: Explain the return policy to a customer in three sentences.",
        ),
    ])
    .max_tokens(96)
    .temperature(0.0);
    let (text, summary) = client.stream(explain).await.expect("a stream").collect_text().await.expect("a whole stream");
    assert!(summary.completion_tokens > 20, "a longer answer: {text:?}");
    eprintln!(
        "measured: stream (uncached prompt of {} tokens) ttft {:.3}s, {} tokens in {:.2}s, {:.1} tokens/s after the first",
        summary.prompt_tokens,
        summary.time_to_first_token.expect("a first token").as_secs_f64(),
        summary.completion_tokens,
        summary.latency.as_secs_f64(),
        summary.tokens_per_second().unwrap_or_default()
    );

    // Our conservative estimate is never below the model's own count of the same prompt.
    let samples = [
        ("en", "Our premium plan costs 49 euros per month and includes unlimited agents, three knowledge bases and priority support by e-mail."),
        ("fr", "Notre offre premium coûte 49 euros par mois et comprend des agents illimités, trois bases de connaissances et une assistance prioritaire."),
        ("zh", "我们的高级套餐每月四十九欧元，包括无限数量的智能客服、三个知识库以及优先的电子邮件支持服务。"),
        ("th", "แพ็กเกจพรีเมียมของเราราคาเดือนละ 49 ยูโร รวมเอเจนต์ไม่จำกัด ฐานความรู้สามแห่ง และการสนับสนุนทางอีเมลแบบเร่งด่วน"),
    ];
    for (language, text) in samples {
        let messages = vec![ChatMessage::system("Answer in one word."), ChatMessage::user(text)];
        let estimate = estimate_prompt(&messages);
        let counted = client.complete(ChatRequest::new(messages).max_tokens(1)).await.expect("a one-token answer").prompt_tokens;
        assert!(estimate >= counted, "{language}: estimate {estimate} < the model's {counted}");
        eprintln!(
            "measured: tokens {language}: model {counted}, our estimate {estimate} ({:+.0}%)",
            100.0 * (f64::from(estimate) / f64::from(counted) - 1.0)
        );
    }

    // A prompt planned by the budget is accepted; one far past the context is a typed error.
    let chunks: Vec<String> =
        (0..80).map(|i| format!("[{i}] Our store opens at {} am and closes at {} pm on weekdays.", 7 + i % 3, 5 + i % 4)).collect();
    let fixed = vec![ChatMessage::system("Answer from the chunks."), ChatMessage::user("When does the store open?")];
    let plan = tandem_llm::PromptBudget::new(1024, 16).plan(&fixed, &chunks, &[]).unwrap();
    assert!(!plan.chunks_dropped.is_empty(), "the test must overflow the 1024-token budget");
    let kept: Vec<&str> = plan.chunks_kept.iter().map(|&i| chunks[i].as_str()).collect();
    let messages = vec![fixed[0].clone(), ChatMessage::user(kept.join("\n\n")), fixed[1].clone()];
    let counted = client.complete(ChatRequest::new(messages).max_tokens(16)).await.expect("the planned prompt fits").prompt_tokens;
    assert!(counted <= plan.prompt_tokens && counted + 16 <= 1024, "planned {}, model counted {counted}", plan.prompt_tokens);
    eprintln!("measured: budget planned {} tokens for a 1024 context, model counted {counted}", plan.prompt_tokens);
    let huge = ChatRequest::new(vec![ChatMessage::user("word ".repeat(6000))]).max_tokens(8);
    match client.complete(huge).await {
        Err(LlmError::ContextOverflow { prompt_tokens, context_tokens }) => {
            assert!(prompt_tokens.unwrap_or_default() > 4096 && context_tokens == Some(4096), "{prompt_tokens:?} {context_tokens:?}");
        }
        other => panic!("expected ContextOverflow, got {other:?}"),
    }

    // Killed, it is restarted on the same port and answers again.
    let status = std::process::Command::new("kill").args(["-9", &first_pid.to_string()]).status().unwrap();
    assert!(status.success());
    let killed = Instant::now();
    let mut status = server.subscribe();
    let restarted = *tokio::time::timeout(Duration::from_secs(120), status.wait_for(|s| s.restarts >= 1 && s.healthy))
        .await
        .expect("restarted within two minutes")
        .expect("still supervised");
    assert!(restarted.restarts >= 1 && restarted.pid.is_some() && restarted.pid != Some(first_pid), "{restarted:?}");
    eprintln!("measured: restart after kill -9 in {:.2}s", killed.elapsed().as_secs_f64());
    let again = client.complete(grounded()).await.expect("an answer after the restart");
    assert!(again.text.contains("30"), "answer: {:?}", again.text);

    // Shutdown stops it and waits for it.
    let (pid, port) = (restarted.pid.unwrap(), server.port());
    server.shutdown().await;
    assert!(!pid_alive(pid), "llama-server {pid} still runs after shutdown");
    assert_eq!(health(port).await, None, "nothing listens on {port} any more");

    // Dropping a server stops it too.
    let dropped = LocalServer::start(&local).await.expect("a second server starts");
    let pid = dropped.status().pid.unwrap();
    drop(dropped);
    assert!(!pid_alive(pid), "llama-server {pid} still runs after drop");
}
