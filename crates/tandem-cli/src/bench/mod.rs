//! `tandem bench`: the performance figures of BENCHMARKS.md, measured on this machine. Each suite
//! writes its own section of the file (between `<!-- suite: NAME -->` and `<!-- end -->`), so
//! running one suite keeps the figures of the others.

mod agents;
mod channels;
mod contacts;
mod inbox;
mod knowledge;

use anyhow::Result;
use std::{fmt::Write as _, path::PathBuf};

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Suite {
    All,
    /// Contact import, filtered lists, idle server.
    Contacts,
    /// Parsing, embedding, vector search, a whole knowledge base from upload to searchable.
    Knowledge,
    /// The local model through Tandem vs direct; the answer pipeline's own cost.
    Agents,
    /// Inbound webhooks acknowledged durably.
    Channels,
    /// The shared inbox at 100,000 conversations and 2,000,000 messages.
    Inbox,
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Which figures to measure.
    #[arg(long, value_enum, default_value_t = Suite::All)]
    suite: Suite,
    /// Contacts to generate.
    #[arg(long, default_value_t = 100_000)]
    rows: usize,
    /// Requests for the latency figures.
    #[arg(long, default_value_t = 1000)]
    requests: usize,
    /// Also measure the import on this PostgreSQL server (a fresh database is created on it).
    #[arg(long, env = "TANDEM_BENCH_POSTGRES_URL")]
    postgres: Option<String>,
    /// Index sizes (chunks) for the search latency figures.
    #[arg(long, value_delimiter = ',', default_values_t = [10_000usize, 100_000])]
    search_sizes: Vec<usize>,
    /// Size of the generated knowledge base for the upload-to-searchable figure, in MB (a knowledge
    /// base takes at most 20 MB).
    #[arg(long, default_value_t = 19.5)]
    kb_mb: f64,
    /// Webhooks for the inbound figure.
    #[arg(long, default_value_t = 20_000)]
    webhooks: usize,
    /// Conversations in the inbox figures (20 messages each).
    #[arg(long, default_value_t = 100_000)]
    conversations: usize,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    output: PathBuf,
}

pub async fn run(args: BenchArgs) -> Result<()> {
    let mut report = std::fs::read_to_string(&args.output).unwrap_or_default();
    if !report.starts_with("# Benchmarks") {
        report = "# Benchmarks\n\nEvery figure comes from `tandem bench` (release build); each section says when, on what machine \
                  and with which command it was measured.\n"
            .into();
    }
    if matches!(args.suite, Suite::All | Suite::Contacts) {
        let rows = contacts::run(&args).await?;
        report = with_section(&report, "contacts", "Contacts and API", &rows, args.postgres.is_some())?;
        std::fs::write(&args.output, &report)?;
    }
    if matches!(args.suite, Suite::All | Suite::Knowledge) {
        let rows = knowledge::run(&args).await?;
        report = with_section(&report, "knowledge", "Knowledge base", &rows, false)?;
        std::fs::write(&args.output, &report)?;
    }
    if matches!(args.suite, Suite::All | Suite::Agents) {
        let rows = agents::run(&args, &knowledge::fixtures()?).await?;
        report = with_section(&report, "agents", "AI agents", &rows, false)?;
        std::fs::write(&args.output, &report)?;
    }
    if matches!(args.suite, Suite::All | Suite::Channels) {
        let rows = channels::run(&args).await?;
        report = with_section(&report, "channels", "Channels", &rows, args.postgres.is_some())?;
        std::fs::write(&args.output, &report)?;
    }
    if matches!(args.suite, Suite::All | Suite::Inbox) {
        let rows = inbox::run(&args).await?;
        report = with_section(&report, "inbox", "Shared inbox", &rows, args.postgres.is_some())?;
        std::fs::write(&args.output, &report)?;
    }
    print!("{report}");
    Ok(())
}

/// The report with the section of `suite` replaced (or added at the end).
fn with_section(report: &str, suite: &str, title: &str, rows: &str, postgres: bool) -> Result<String> {
    let (open, close) = (format!("<!-- suite: {suite} -->"), "<!-- end -->");
    let mut section = String::new();
    writeln!(section, "{open}\n## {title}\n")?;
    writeln!(section, "Measured on {}, {}.", machine(), time::OffsetDateTime::now_utc().date())?;
    let pg_note = if postgres { " with a PostgreSQL server URL (`--postgres` or `TANDEM_BENCH_POSTGRES_URL`)" } else { "" };
    let command = std::env::args().collect::<Vec<_>>().join(" ").replace(&*std::env::current_exe()?.to_string_lossy(), "tandem");
    writeln!(section, "Command: `{command}`{pg_note}\n")?;
    writeln!(section, "| what | figure | target |\n|---|---|---|")?;
    section.push_str(rows);
    section.push_str(close);
    let out = match (report.find(&open), report.find(&open).and_then(|s| report[s..].find(close).map(|e| s + e + close.len()))) {
        (Some(start), Some(end)) => format!("{}{section}{}", &report[..start], &report[end..]),
        _ => format!("{}\n{section}\n", report.trim_end()),
    };
    Ok(out)
}

/// Peak resident memory of this process since the last reset, in MiB (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    status_kib("/proc/self/status", "VmHWM:").map(|k| k as f64 / 1024.0)
}

pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn status_kib(path: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// The `p` quantile (0 to 1) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).and_then(|l| l.split(':').nth(1)).map(|s| s.trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cores} cores ({cpu}), {} build", if cfg!(debug_assertions) { "debug" } else { "release" })
}
