//! The agents suite of `tandem bench`, on the real local model (llama-server, supervised by
//! Tandem as in production):
//!
//! - time to first token and generation speed streamed through Tandem's client against the same
//!   request sent straight to llama-server;
//! - the answer pipeline's own cost (retrieval, prompt building, checks: everything but waiting
//!   for the model) over customer turns on the demo knowledge base.

use anyhow::{Context, Result};
use futures::StreamExt;
use std::{
    fmt::Write as _,
    sync::Arc,
    time::{Duration, Instant},
};
use tandem_agent::{Agent, AgentProfile};
use tandem_core::Config;
use tandem_llm::{ChatMessage, ChatRequest, StreamEvent};

use super::{percentile, BenchArgs};

const PROMPT: &str = "Context: Returns are accepted within 30 days of delivery, in the original packaging; refunds reach the card \
                      used within 5 working days. Question: explain the return policy to a customer in three sentences.";

/// Time to first token and tokens/s of one streamed request sent straight to llama-server.
async fn direct(base_url: &str) -> Result<(f64, f64)> {
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 96, "temperature": 0.0,
        "stream": true, "stream_options": {"include_usage": true}});
    let started = Instant::now();
    let response = reqwest::Client::new().post(format!("{base_url}/chat/completions")).json(&body).send().await?.error_for_status()?;
    let mut stream = response.bytes_stream();
    let (mut first, mut tokens, mut buffer) = (None, 0u32, String::new());
    while let Some(piece) = stream.next().await {
        buffer.push_str(&String::from_utf8_lossy(&piece?));
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let Some(data) = line.trim().strip_prefix("data: ") else { continue };
            if data == "[DONE]" {
                continue;
            }
            let chunk: serde_json::Value = serde_json::from_str(data)?;
            if chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()) && first.is_none() {
                first = Some(started.elapsed());
            }
            if let Some(n) = chunk["usage"]["completion_tokens"].as_u64() {
                tokens = n as u32;
            }
        }
    }
    let total = started.elapsed();
    let first = first.context("llama-server streamed no text")?;
    Ok((first.as_secs_f64() * 1000.0, f64::from(tokens.saturating_sub(1)) / (total - first).as_secs_f64()))
}

/// The same request through Tandem's client.
async fn through_tandem(client: &tandem_llm::LlmClient) -> Result<(f64, f64)> {
    let request = ChatRequest::new(vec![ChatMessage::user(PROMPT)]).max_tokens(96).temperature(0.0);
    let mut stream = client.stream(request).await?;
    while let Some(event) = stream.next().await {
        if let StreamEvent::Done(summary) = event? {
            let first = summary.time_to_first_token.context("no text came back")?;
            return Ok((first.as_secs_f64() * 1000.0, summary.tokens_per_second().context("too few tokens")?));
        }
    }
    anyhow::bail!("the stream ended without a summary")
}

pub async fn run(args: &BenchArgs, dir: &std::path::Path) -> Result<String> {
    let config = Config::default();
    let llm = tandem_llm::Llm::start(&config.llm).await.context("starting llama-server (run scripts/llm/fetch)")?;
    let client = llm.client().clone();
    let base = client.base_url().to_string();
    // Warm up the server (first request loads caches), then alternate, best of five each: the
    // figures compare the two paths, not the machine's noise.
    direct(&base).await?;
    let (mut d_ttft, mut d_tps, mut t_ttft, mut t_tps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let (a, b) = direct(&base).await?;
        d_ttft.push(a);
        d_tps.push(b);
        let (a, b) = through_tandem(&client).await?;
        t_ttft.push(a);
        t_tps.push(b);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        percentile(&v, 0.5)
    };
    let (dt, dp, tt, tp) = (median(d_ttft), median(d_tps), median(t_ttft), median(t_tps));

    // The pipeline's own cost on real turns.
    let scratch = tempfile::tempdir()?;
    let store = tandem_store::Store::connect(&format!("sqlite://{}/bench.db", scratch.path().display()), 4).await?;
    let mut kb = config.knowledge.clone();
    kb.data_dir = scratch.path().join("knowledge");
    let knowledge = Arc::new(tandem_server::knowledge::Knowledge::open(&kb).map_err(|e| anyhow::anyhow!("{e}"))?);
    let ws = store.create_workspace("Bench", None).await?.id;
    let agent_id = store.create_agent(ws, "bench").await?.id;
    for name in ["faq.txt", "stores.csv", "price-list-and-policies.pdf"] {
        let bytes = std::fs::read(dir.join("demo").join(name))?;
        let new = tandem_store::knowledge::NewSource { name: name.into(), kind: None, url: None, bytes: Some(bytes) };
        let source = store.add_source(ws, agent_id, None, new, |_| Ok(())).await?;
        let job = store.claim_job_by_id(ws, source.job_id.context("job")?, 3_600_000).await?.context("queued")?;
        let order = tandem_store::Store::ingest_order(&job.payload)?;
        tandem_server::ingest::ingest(&store, &knowledge, ws, &order, &|_, _| {}).await.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    }
    let profile_text = std::fs::read_to_string(dir.join("../../eval/lumen-agent.toml"))?;
    let retriever =
        tandem_server::agents::KnowledgeRetriever { knowledge: knowledge.clone(), store: store.clone(), workspace: ws, agent: agent_id };
    let agent = Agent::new(AgentProfile::from_toml(&profile_text)?, client.clone(), Arc::new(retriever));
    let questions = [
        "Is there a discount code for new customers?",
        "What's the address of your Lyon showroom?",
        "How much does the ORBE table lamp cost?",
        "Quels sont les horaires d'ouverture du showroom de Lyon ?",
        "Acceptez-vous les paiements par chèque ?",
        "Do you sell gift cards, and how long are they valid?",
    ];
    let turns = questions.len().min(args.requests.max(1));
    let (mut overhead, mut retrieval, mut llm_ms) = (Vec::new(), Vec::new(), Vec::new());
    for q in questions.iter().take(turns) {
        let outcome = agent.respond(&[], q).await?;
        overhead.push(outcome.timings.overhead_ms);
        retrieval.push(outcome.timings.retrieval_ms);
        llm_ms.push(outcome.timings.assess_ms + outcome.timings.answer_ms + outcome.timings.translate_ms);
    }
    for v in [&mut overhead, &mut retrieval, &mut llm_ms] {
        v.sort_by(f64::total_cmp);
    }
    llm.shutdown().await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let mut md = String::new();
    writeln!(md, "| time to first token, streamed straight from llama-server (Qwen2.5-Coder-1.5B Q4_K_M, -t 2; median of 5) | {dt:.0} ms | reference |")?;
    writeln!(md, "| the same request through Tandem's LLM client | {tt:.0} ms ({:.2}× the direct speed) | ≥ 0.9× |", dt / tt)?;
    writeln!(md, "| generation speed, straight / through Tandem | {dp:.1} / {tp:.1} tokens/s ({:.2}×) | ≥ 0.9× |", tp / dp)?;
    writeln!(
        md,
        "| answer pipeline overhead excluding the model's time (retrieval, prompts, checks), {turns} real turns on the demo KB | p50 {:.1} ms (retrieval p50 {:.1} ms; the model took p50 {:.0} ms) | p50 ≤ 30 ms |",
        percentile(&overhead, 0.5),
        percentile(&retrieval, 0.5),
        percentile(&llm_ms, 0.5)
    )?;
    Ok(md)
}
