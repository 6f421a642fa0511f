//! `tandem eval`: measures an agent before it is deployed. It builds a fresh knowledge base from
//! every file of a folder through the real pipeline, replays each case's customer turns through
//! the real agent (the real model), checks each turn's expectations, prints a summary and can
//! write a JSON report holding every raw outcome beside its verdict, so others can judge it.

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
};
use tandem_agent::{
    checks::fold,
    pipeline::{closest_similarity, retrieval_query, ReplyKind, Timings, TurnOutcome, RETRIEVED_PASSAGES},
    Agent, AgentProfile, Retriever, Speaker, Turn,
};
use tandem_core::Config;
use tandem_server::{agents::KnowledgeRetriever, ingest::ingest, knowledge::Knowledge};
use tandem_store::{knowledge::NewSource, Store};

#[derive(clap::Args)]
pub struct EvalArgs {
    /// The agent's profile (TOML).
    #[arg(long)]
    agent: PathBuf,
    /// Folder whose every file becomes the knowledge base.
    #[arg(long)]
    kb: PathBuf,
    /// The cases (JSON Lines).
    cases: PathBuf,
    /// Write per-case results and aggregates here, as JSON.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Run only the cases with this tag (repeatable: any of them).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Exit with status 1 when any turn fails its expectations.
    #[arg(long)]
    strict: bool,
    /// Exit with status 1 when fewer than this share of turns pass (0 to 1).
    #[arg(long)]
    min_pass_rate: Option<f64>,
    /// Only search the knowledge base for each turn (no model is started): checks `sources_any`
    /// and reports each turn's closest similarity, to choose `handoff.min_similarity` in minutes.
    #[arg(long)]
    retrieval_only: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    id: String,
    #[serde(default)]
    tags: Vec<String>,
    turns: Vec<CaseTurn>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseTurn {
    customer: String,
    #[serde(default)]
    expect: Expect,
}

/// What a turn must show; every key is optional, unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    contains_any: Option<Vec<String>>,
    not_contains: Option<Vec<String>>,
    handoff: Option<bool>,
    refuse: Option<bool>,
    lead_score_min: Option<u8>,
    lead_score_max: Option<u8>,
    language: Option<String>,
    sources_any: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
struct TurnReport {
    customer: String,
    answer: String,
    kind: tandem_agent::pipeline::ReplyKind,
    handoff: bool,
    handoff_reason: Option<tandem_agent::pipeline::HandoffReason>,
    refused: bool,
    lead_score: Option<u8>,
    language: String,
    sources: Vec<String>,
    /// The closest passage's similarity by meaning (what `handoff.min_similarity` reads).
    similarity: Option<f32>,
    latency_ms: f64,
    retrieval_ms: f64,
    llm_ms: f64,
    overhead_ms: f64,
    prompt_tokens: u32,
    completion_tokens: u32,
    passed: bool,
    failures: Vec<String>,
    /// Whether each expectation held, by key (for the aggregates).
    #[serde(skip)]
    checks: BTreeMap<&'static str, bool>,
    #[serde(skip)]
    expected_handoff: Option<bool>,
    #[serde(skip)]
    lead_error: Option<f64>,
}

#[derive(Debug, Serialize)]
struct CaseReport {
    id: String,
    tags: Vec<String>,
    passed: bool,
    turns: Vec<TurnReport>,
}

fn check(expect: &Expect, outcome: &TurnOutcome) -> (Vec<String>, BTreeMap<&'static str, bool>, Option<f64>) {
    let answer = fold(&outcome.reply);
    let mut failures = Vec::new();
    let mut checks = BTreeMap::new();
    let mut record = |key: &'static str, ok: bool, why: String| {
        checks.insert(key, ok);
        if !ok {
            failures.push(why);
        }
    };
    if let Some(any) = &expect.contains_any {
        record("contains_any", any.iter().any(|s| answer.contains(&fold(s))), format!("the answer contains none of {any:?}"));
    }
    if let Some(none) = &expect.not_contains {
        let found: Vec<&String> = none.iter().filter(|s| answer.contains(&fold(s))).collect();
        record("not_contains", found.is_empty(), format!("the answer contains {found:?}"));
    }
    if let Some(h) = expect.handoff {
        record("handoff", outcome.handoff.is_some() == h, format!("handoff expected {h}, got {}", outcome.handoff.is_some()));
    }
    if let Some(r) = expect.refuse {
        record("refuse", outcome.refused == r, format!("refusal expected {r}, got {}", outcome.refused));
    }
    let mut lead_error = None;
    if expect.lead_score_min.is_some() || expect.lead_score_max.is_some() {
        let (min, max) = (expect.lead_score_min.unwrap_or(0), expect.lead_score_max.unwrap_or(100));
        let ok = outcome.lead_score.is_some_and(|s| (min..=max).contains(&s));
        lead_error = Some(match outcome.lead_score {
            Some(s) if s < min => f64::from(min - s),
            Some(s) if s > max => f64::from(s - max),
            Some(_) => 0.0,
            None => 100.0,
        });
        record("lead_score", ok, format!("lead score expected {min}..={max}, got {:?}", outcome.lead_score));
    }
    if let Some(lang) = &expect.language {
        record("language", outcome.language.eq_ignore_ascii_case(lang), format!("language expected {lang}, got {}", outcome.language));
    }
    if let Some(sources) = &expect.sources_any {
        let got: Vec<&str> = outcome.sources.iter().map(|s| s.source.as_str()).collect();
        record("sources_any", got.iter().any(|g| sources.iter().any(|s| s == g)), format!("retrieved {got:?}, none of {sources:?}"));
    }
    (failures, checks, lead_error)
}

fn read_cases(path: &Path, tags: &[String]) -> Result<Vec<Case>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).with_context(|| format!("{} line {}", path.display(), i + 1))?;
        if case.turns.is_empty() {
            bail!("{} line {}: case `{}` has no turns", path.display(), i + 1, case.id);
        }
        if tags.is_empty() || case.tags.iter().any(|t| tags.contains(t)) {
            cases.push(case);
        }
    }
    if cases.is_empty() {
        bail!("no case to run in {} (tags {tags:?})", path.display());
    }
    Ok(cases)
}

/// Ingests every file of `dir` into a new agent of a new workspace; returns both ids.
async fn build_kb(store: &Store, knowledge: &Knowledge, dir: &Path) -> Result<(tandem_core::WorkspaceId, tandem_core::AgentId)> {
    let ws = store.create_workspace("Evaluation", None).await?.id;
    let agent = store.create_agent(ws, "evaluated agent").await?.id;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')))
        .collect();
    files.sort();
    let bar = ProgressBar::new(files.len() as u64).with_style(ProgressStyle::with_template("knowledge base {wide_bar} {pos}/{len} {msg}")?);
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        bar.set_message(name.clone());
        let bytes = std::fs::read(&file)?;
        let kind = tandem_knowledge::accept::detect(&bytes, &name).map_err(|r| anyhow::anyhow!("{name}: {r}"))?;
        let new = NewSource { name: name.clone(), kind: Some(kind.as_str().into()), url: None, bytes: Some(bytes) };
        let source = store.add_source(ws, agent, None, new, |_| Ok(())).await?;
        let job = store
            .claim_job_by_id(ws, source.job_id.context("a source has its job")?, 3_600_000)
            .await?
            .context("the ingestion job is queued")?;
        let order = Store::ingest_order(&job.payload)?;
        let result = ingest(store, knowledge, ws, &order, &|_, _| {}).await.map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        store.complete_job(&job, &result).await?;
        bar.inc(1);
    }
    bar.finish_with_message("ready");
    Ok((ws, agent))
}

/// What retrieval alone says of a turn: the passages the agent would read, and nothing else.
async fn retrieve_only(retriever: &KnowledgeRetriever, history: &[Turn], message: &str) -> Result<TurnOutcome> {
    let started = std::time::Instant::now();
    let sources = retriever.retrieve(&retrieval_query(history, message), RETRIEVED_PASSAGES).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(TurnOutcome {
        sources,
        timings: Timings { retrieval_ms: ms, total_ms: ms, overhead_ms: ms, ..Timings::default() },
        ..TurnOutcome::new(ReplyKind::NoAnswer, "")
    })
}

/// The expectations retrieval alone can meet.
fn sources_only(expect: &Expect) -> Expect {
    Expect { sources_any: expect.sources_any.clone(), ..Expect::default() }
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[(((values.len() - 1) as f64) * p).round() as usize]
}

pub async fn run(args: EvalArgs, config: &Config) -> Result<()> {
    let profile =
        AgentProfile::from_toml(&std::fs::read_to_string(&args.agent).with_context(|| format!("reading {}", args.agent.display()))?)?;
    let cases = read_cases(&args.cases, &args.tags)?;
    let scratch = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}/eval.db", scratch.path().display()), 4).await?;
    let mut kb_config = config.knowledge.clone();
    kb_config.data_dir = scratch.path().join("knowledge");
    let knowledge = Arc::new(Knowledge::open(&kb_config).map_err(|e| anyhow::anyhow!("knowledge base: {e}"))?);
    knowledge.embedder()?;
    let (ws, agent_id) = build_kb(&store, &knowledge, &args.kb).await?;

    let retriever = Arc::new(KnowledgeRetriever { knowledge: knowledge.clone(), store: store.clone(), workspace: ws, agent: agent_id });
    let model = if args.retrieval_only {
        None
    } else {
        eprintln!("starting the model...");
        let llm = tandem_llm::Llm::start(&config.llm).await.context("starting the LLM (run scripts/llm/fetch, or set llm.base_url)")?;
        let agent = Agent::new(profile, llm.client().clone(), retriever.clone());
        Some((llm, agent))
    };

    let total_turns: usize = cases.iter().map(|c| c.turns.len()).sum();
    let bar = ProgressBar::new(total_turns as u64).with_style(ProgressStyle::with_template("cases {wide_bar} {pos}/{len} {msg}")?);
    let mut reports = Vec::new();
    for case in &cases {
        bar.set_message(case.id.clone());
        let mut history: Vec<Turn> = Vec::new();
        let mut turns = Vec::new();
        for turn in &case.turns {
            let only_sources = sources_only(&turn.expect);
            let (outcome, expect) = match &model {
                Some((_, agent)) => {
                    (agent.respond(&history, &turn.customer).await.with_context(|| format!("case {}", case.id))?, &turn.expect)
                }
                None => (retrieve_only(retriever.as_ref(), &history, &turn.customer).await?, &only_sources),
            };
            let (failures, checks, lead_error) = check(expect, &outcome);
            let t = &outcome.timings;
            turns.push(TurnReport {
                customer: turn.customer.clone(),
                answer: outcome.reply.clone(),
                kind: outcome.kind,
                handoff: outcome.handoff.is_some(),
                handoff_reason: outcome.handoff.as_ref().map(|h| h.reason),
                refused: outcome.refused,
                lead_score: outcome.lead_score,
                language: outcome.language.clone(),
                sources: outcome.sources.iter().map(|s| s.source.clone()).collect(),
                similarity: closest_similarity(&outcome.sources),
                latency_ms: t.total_ms,
                retrieval_ms: t.retrieval_ms,
                llm_ms: t.assess_ms + t.answer_ms + t.translate_ms,
                overhead_ms: t.overhead_ms,
                prompt_tokens: outcome.usage.prompt_tokens,
                completion_tokens: outcome.usage.completion_tokens,
                passed: failures.is_empty(),
                failures,
                checks,
                expected_handoff: expect.handoff,
                lead_error,
            });
            history.push(Turn { speaker: Speaker::Customer, text: turn.customer.clone() });
            history.push(Turn { speaker: Speaker::Agent, text: outcome.reply.clone() });
            bar.inc(1);
        }
        let passed = turns.iter().all(|t| t.passed);
        if bar.is_hidden() {
            // No terminal (CI): one line per case, as it ends.
            eprintln!("{} {}", if passed { "pass" } else { "FAIL" }, case.id);
        }
        reports.push(CaseReport { id: case.id.clone(), tags: case.tags.clone(), passed, turns });
    }
    bar.finish_and_clear();
    if let Some((llm, _)) = model {
        llm.shutdown().await;
    }

    let summary = summarize(&reports);
    print_summary(&reports, &summary);
    if let Some(path) = &args.report {
        let report = serde_json::json!({"agent": args.agent, "kb": args.kb, "cases_file": args.cases, "tags": args.tags, "retrieval_only": args.retrieval_only, "cases": reports, "summary": summary});
        std::fs::write(path, serde_json::to_string_pretty(&report)?).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    let rate = summary["turns_pass_rate"].as_f64().unwrap_or(0.0);
    if args.strict && summary["turns_failed"].as_u64() != Some(0) {
        bail!("{} turn(s) failed their expectations (--strict)", summary["turns_failed"]);
    }
    if let Some(min) = args.min_pass_rate {
        if rate < min {
            bail!("pass rate {:.1} % is below --min-pass-rate {:.1} %", rate * 100.0, min * 100.0);
        }
    }
    Ok(())
}

fn ratio(ok: usize, all: usize) -> serde_json::Value {
    if all == 0 {
        serde_json::Value::Null
    } else {
        serde_json::json!(ok as f64 / all as f64)
    }
}

fn summarize(reports: &[CaseReport]) -> serde_json::Value {
    let turns: Vec<&TurnReport> = reports.iter().flat_map(|c| &c.turns).collect();
    let share = |key: &str| {
        let checked: Vec<bool> = turns.iter().filter_map(|t| t.checks.get(key).copied()).collect();
        ratio(checked.iter().filter(|ok| **ok).count(), checked.len())
    };
    let (mut tp, mut fp, mut fn_) = (0, 0, 0);
    for t in &turns {
        match (t.expected_handoff, t.handoff) {
            (Some(true), true) => tp += 1,
            (Some(false), true) => fp += 1,
            (Some(true), false) => fn_ += 1,
            _ => {}
        }
    }
    let lead: Vec<f64> = turns.iter().filter_map(|t| t.lead_error).collect();
    let mut latency: Vec<f64> = turns.iter().map(|t| t.latency_ms).collect();
    let mut retrieval: Vec<f64> = turns.iter().map(|t| t.retrieval_ms).filter(|v| *v > 0.0).collect();
    let mut llm: Vec<f64> = turns.iter().map(|t| t.llm_ms).collect();
    let mut overhead: Vec<f64> = turns.iter().map(|t| t.overhead_ms).collect();
    let passed = turns.iter().filter(|t| t.passed).count();
    serde_json::json!({
        "cases": reports.len(),
        "cases_passed": reports.iter().filter(|c| c.passed).count(),
        "turns": turns.len(),
        "turns_passed": passed,
        "turns_failed": turns.len() - passed,
        "turns_pass_rate": ratio(passed, turns.len()),
        "answer_fact_accuracy": share("contains_any"),
        "retrieval_hit_rate": share("sources_any"),
        "handoff_precision": ratio(tp, tp + fp),
        "handoff_recall": ratio(tp, tp + fn_),
        "refusal_correctness": share("refuse"),
        "language_correctness": share("language"),
        "lead_score_mean_error": if lead.is_empty() { serde_json::Value::Null } else { serde_json::json!(lead.iter().sum::<f64>() / lead.len() as f64) },
        "latency_ms": {
            "total": {"p50": percentile(&mut latency, 0.5), "p95": percentile(&mut latency, 0.95)},
            "retrieval": {"p50": percentile(&mut retrieval, 0.5), "p95": percentile(&mut retrieval, 0.95)},
            "llm": {"p50": percentile(&mut llm, 0.5), "p95": percentile(&mut llm, 0.95)},
            "overhead_excluding_llm": {"p50": percentile(&mut overhead, 0.5), "p95": percentile(&mut overhead, 0.95)},
        },
        "tokens": {"prompt": turns.iter().map(|t| t.prompt_tokens as u64).sum::<u64>(), "completion": turns.iter().map(|t| t.completion_tokens as u64).sum::<u64>()},
        // Agent replies are not charged; smart replies (1 per suggestion) and the writing
        // assistant (1 per reply) are, and the harness runs neither.
        "credits": 0,
    })
}

fn print_summary(reports: &[CaseReport], summary: &serde_json::Value) {
    println!("{:<40} {:>6} {:>8}  first failure", "case", "result", "closest");
    for c in reports {
        let first = c.turns.iter().flat_map(|t| &t.failures).next().cloned().unwrap_or_default();
        // The first turn's closest similarity: where a case's knowledge stands.
        let closest = c.turns.first().and_then(|t| t.similarity).map_or("-".to_string(), |s| format!("{s:.3}"));
        println!(
            "{:<40} {:>6} {:>8}  {}",
            c.id,
            if c.passed { "pass" } else { "FAIL" },
            closest,
            first.chars().take(100).collect::<String>()
        );
    }
    let pct = |k: &str| summary[k].as_f64().map_or("n/a".to_string(), |v| format!("{:.1} %", v * 100.0));
    println!();
    println!("cases passed        {}/{}", summary["cases_passed"], summary["cases"]);
    println!("turns passed        {}/{} ({})", summary["turns_passed"], summary["turns"], pct("turns_pass_rate"));
    println!("answer facts        {}", pct("answer_fact_accuracy"));
    println!("retrieval hits      {}", pct("retrieval_hit_rate"));
    println!("handoff precision   {}   recall {}", pct("handoff_precision"), pct("handoff_recall"));
    println!("refusals correct    {}", pct("refusal_correctness"));
    println!("language correct    {}", pct("language_correctness"));
    println!("lead score error    {}", summary["lead_score_mean_error"]);
    let l = &summary["latency_ms"];
    println!(
        "latency p50/p95     total {:.0}/{:.0} ms, retrieval {:.0}/{:.0} ms, LLM {:.0}/{:.0} ms, overhead {:.1}/{:.1} ms",
        l["total"]["p50"].as_f64().unwrap_or(0.0),
        l["total"]["p95"].as_f64().unwrap_or(0.0),
        l["retrieval"]["p50"].as_f64().unwrap_or(0.0),
        l["retrieval"]["p95"].as_f64().unwrap_or(0.0),
        l["llm"]["p50"].as_f64().unwrap_or(0.0),
        l["llm"]["p95"].as_f64().unwrap_or(0.0),
        l["overhead_excluding_llm"]["p50"].as_f64().unwrap_or(0.0),
        l["overhead_excluding_llm"]["p95"].as_f64().unwrap_or(0.0),
    );
    println!("tokens              {} prompt, {} completion", summary["tokens"]["prompt"], summary["tokens"]["completion"]);
}
