//! `tandem kb`: fill and query an agent's knowledge base from the command line, through the same
//! pipeline as the server (isolated parser, embeddings, the embedded index), with a progress bar.

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::{path::PathBuf, sync::Arc};
use tandem_core::{AgentId, Config, WorkspaceId};
use tandem_knowledge::accept;
use tandem_server::{
    ingest::{ingest, IngestError},
    knowledge::Knowledge,
};
use tandem_store::{
    knowledge::{NewSource, SourceStage},
    Store, StoreError,
};

#[derive(Subcommand)]
pub enum KbCommand {
    /// Create an agent (its knowledge base starts empty); prints its id.
    CreateAgent {
        #[arg(long)]
        workspace: WorkspaceId,
        name: String,
    },
    /// Add files or web pages to an agent's knowledge base, with a progress bar per source.
    Ingest {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        agent: AgentId,
        /// Files to add (PDF, xlsx, xls, ods, CSV, text, Markdown, HTML).
        files: Vec<PathBuf>,
        /// Web pages or Google Docs/Sheets links to add.
        #[arg(long = "url")]
        urls: Vec<String>,
    },
    /// List an agent's sources and where their ingestion stands.
    Sources {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        agent: AgentId,
    },
    /// Search an agent's knowledge base.
    Search {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long)]
        agent: AgentId,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        query: String,
    },
}

/// Ends a source's bar with `message`; without a terminal (bars hidden), prints it as a line.
fn say(bar: &ProgressBar, ok: bool, message: String) {
    if bar.is_hidden() {
        eprintln!("{}: {message}", bar.prefix());
    }
    if ok {
        bar.finish_with_message(message);
    } else {
        bar.abandon_with_message(message);
    }
}

fn open_knowledge(config: &Config) -> Result<Arc<Knowledge>> {
    Ok(Arc::new(Knowledge::open(&config.knowledge).map_err(|e| anyhow!("knowledge base: {e}"))?))
}

pub async fn run(command: KbCommand, store: &Store, config: &Config) -> Result<()> {
    match command {
        KbCommand::CreateAgent { workspace, name } => {
            let agent = store.create_agent(workspace, &name).await?;
            println!("{}", agent.id);
        }
        KbCommand::Sources { workspace, agent } => {
            for s in store.list_sources(workspace, agent).await? {
                let error = s.error.map(|e| format!("{}: {}", e.code, e.message)).unwrap_or_default();
                println!("{}\t{}\t{}\t{}%\t{}\t{}", s.id, s.name, s.stage.as_str(), s.progress, s.chunks.unwrap_or(0), error);
            }
        }
        KbCommand::Search { workspace, agent, limit, query } => {
            let knowledge = open_knowledge(config)?;
            for hit in knowledge.search(store, workspace, agent, &query, limit).await? {
                let r = hit.record;
                println!("{:.4}\t{}\t{}", hit.score, r.source_name, r.location.unwrap_or_default());
                println!("    {}", r.text.replace('\n', "\n    "));
            }
        }
        KbCommand::Ingest { workspace, agent, files, urls } => {
            if files.is_empty() && urls.is_empty() {
                bail!("name at least one file or --url");
            }
            let knowledge = open_knowledge(config)?;
            knowledge.embedder()?;
            let mut sources = Vec::new();
            for file in &files {
                let bytes = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
                let name = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into_owned());
                let kind = accept::detect(&bytes, &name).map_err(|r| anyhow!("{name}: {r}"))?;
                sources.push(NewSource { name, kind: Some(kind.as_str().into()), url: None, bytes: Some(bytes) });
            }
            for url in &urls {
                let parsed = tandem_knowledge::fetch::prepare(url).map_err(|e| anyhow!("{e}"))?;
                sources.push(NewSource { name: url.clone(), kind: None, url: Some(parsed.to_string()), bytes: None });
            }
            let bars = MultiProgress::new();
            let style = ProgressStyle::with_template("{prefix:30!} {wide_bar} {pos:>3}% {msg}")?;
            let mut failed = 0;
            for new in sources {
                let bar = bars.add(ProgressBar::new(100).with_style(style.clone()).with_prefix(new.name.clone()));
                let size = new.bytes.as_ref().map_or(0, |b| b.len() as u64);
                let limits = knowledge.limits;
                let source = match store
                    .add_source(workspace, agent, None, new, |others| {
                        accept::check_limits(others, size, &limits).map_err(|r| StoreError::invalid("file", r.code(), r.to_string()))
                    })
                    .await
                {
                    Ok(s) => s,
                    Err(e) => {
                        say(&bar, false, format!("refused: {e}"));
                        failed += 1;
                        continue;
                    }
                };
                let job_id = source.job_id.context("a new source has its job")?;
                // Run the job here rather than leave it to a server's worker.
                let Some(job) = store.claim_job_by_id(workspace, job_id, 3_600_000).await? else {
                    say(&bar, true, "queued for the server's worker".into());
                    continue;
                };
                let order = Store::ingest_order(&job.payload)?;
                let progress = {
                    let bar = bar.clone();
                    move |stage: SourceStage, pct: i64| {
                        bar.set_position(pct as u64);
                        bar.set_message(stage.as_str());
                    }
                };
                match ingest(store, &knowledge, workspace, &order, &progress).await {
                    Ok(result) => {
                        store.complete_job(&job, &result).await?;
                        say(&bar, true, format!("done, {} chunks", result["chunks"]));
                    }
                    Err(e) => {
                        store.fail_job(&job, &e.to_string(), matches!(e, IngestError::Transient(_))).await?;
                        say(&bar, false, format!("failed: {e}"));
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} source(s) could not be added");
            }
        }
    }
    Ok(())
}
