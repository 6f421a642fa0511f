//! The `tandem` command: run the server, administer workspaces and API keys, import contacts,
//! measure performance.

mod bench;
mod demo;
mod eval;
mod kb;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::{collections::BTreeMap, path::PathBuf};
use tandem_core::{Config, Role, WorkspaceId};
use tandem_store::{import::ImportOptions, users::NewUser, Store};

#[derive(Parser)]
#[command(name = "tandem", version, about = "Omnichannel inbox, CRM and AI agents")]
struct Cli {
    /// TOML configuration file; `TANDEM_*` environment variables override it.
    #[arg(long, short, global = true, env = "TANDEM_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and its workers.
    Serve {
        /// Create a demo workspace (admin login, API key, sample contacts) if the database has none.
        #[arg(long)]
        demo: bool,
    },
    /// Manage workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manage API keys.
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Manage contacts.
    Contacts {
        #[command(subcommand)]
        command: ContactsCommand,
    },
    /// Agents' knowledge bases: add sources, follow ingestion, search.
    Kb {
        #[command(subcommand)]
        command: kb::KbCommand,
    },
    /// Measure an agent on cases replayed through the real pipeline and model.
    Eval(eval::EvalArgs),
    /// Measure performance and write BENCHMARKS.md.
    Bench(bench::BenchArgs),
    /// Parse one file and print it as JSON (the isolated parser the server starts; not for people).
    #[command(hide = true)]
    ParseWorker { file: PathBuf, name: String, max_pages: usize },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Create a workspace, optionally with its first admin.
    Create {
        name: String,
        /// Two-letter country for phone numbers written without `+`.
        #[arg(long)]
        country: Option<String>,
        #[arg(long, requires = "admin_password")]
        admin_email: Option<String>,
        #[arg(long, env = "TANDEM_ADMIN_PASSWORD")]
        admin_password: Option<String>,
    },
    /// List workspaces.
    List,
}

#[derive(Subcommand)]
enum ApikeyCommand {
    /// Create an API key; it is printed once.
    Create {
        #[arg(long)]
        workspace: WorkspaceId,
        #[arg(long, default_value = "cli")]
        name: String,
        #[arg(long, default_value = "admin")]
        role: Role,
    },
}

#[derive(Subcommand)]
enum ContactsCommand {
    /// Import contacts from a CSV or xlsx file, with a progress bar.
    Import {
        file: PathBuf,
        #[arg(long)]
        workspace: WorkspaceId,
        /// Column mapping `Header=field,Other=custom_key` (`labels` and `ignore` are targets too).
        #[arg(long)]
        map: Option<String>,
        /// Check and report without writing.
        #[arg(long)]
        dry_run: bool,
        /// Country for phone numbers without `+`.
        #[arg(long)]
        country: Option<String>,
    },
}

fn parse_map(raw: &str) -> Result<BTreeMap<String, String>> {
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((h, f)) if !h.trim().is_empty() && !f.trim().is_empty() => Ok((h.trim().to_string(), f.trim().to_string())),
            _ => bail!("`{pair}` is not Header=field"),
        })
        .collect()
}

fn init_tracing(config: &Config) {
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.filter));
    if config.log.format == "json" {
        fmt().json().with_env_filter(filter).init();
    } else {
        fmt().with_env_filter(filter).init();
    }
}

async fn open_store(config: &Config) -> Result<Store> {
    Store::connect(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", config.database.url))
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Command::ParseWorker { file, name, max_pages } = &cli.command {
        std::process::exit(tandem_knowledge::parse::isolate::worker_main(file, name, *max_pages));
    }
    let config = Config::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
    match cli.command {
        Command::Serve { demo } => {
            init_tracing(&config);
            if demo {
                demo::ensure(&open_store(&config).await?, &config).await?;
            }
            tandem_server::serve(config).await?;
        }
        Command::Workspace { command } => {
            let store = open_store(&config).await?;
            match command {
                WorkspaceCommand::Create { name, country, admin_email, admin_password } => {
                    let ws = store.create_workspace(&name, country.as_deref()).await?;
                    println!("workspace {} ({})", ws.id, ws.name);
                    if let (Some(email), Some(password)) = (admin_email, admin_password) {
                        let user = store
                            .create_user(ws.id, NewUser { email: email.parse()?, name: "Admin".into(), password, role: Role::Admin })
                            .await?;
                        println!("admin {} ({})", user.id, user.email);
                    }
                }
                WorkspaceCommand::List => {
                    for ws in store.list_workspaces().await? {
                        println!("{}\t{}\t{}", ws.id, ws.name, ws.default_country.unwrap_or_default());
                    }
                }
            }
        }
        Command::Apikey { command: ApikeyCommand::Create { workspace, name, role } } => {
            let store = open_store(&config).await?;
            store.get_workspace(workspace).await?;
            let (key, secret) = store.create_api_key(workspace, &name, role).await?;
            eprintln!("API key {} ({}, {}). Keep it now: it is not shown again.", key.id, key.name, key.role);
            println!("{secret}");
        }
        Command::Contacts { command: ContactsCommand::Import { file, workspace, map, dry_run, country } } => {
            let store = open_store(&config).await?;
            let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let options = ImportOptions {
                mapping: map.as_deref().map(parse_map).transpose()?.unwrap_or_default(),
                dry_run,
                default_country: country,
            };
            let bar = ProgressBar::new(0);
            bar.set_style(ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, eta {eta})",
            )?);
            let progress = {
                let bar = bar.clone();
                move |done: usize, total: usize| {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
            };
            let report = store.import_contacts(workspace, bytes, &options, &progress).await?;
            bar.finish();
            println!(
                "{}rows {}, created {}, updated {}, merged {}, failed {}",
                if dry_run { "dry run: " } else { "" },
                report.total_rows,
                report.created,
                report.updated,
                report.merged,
                report.failed
            );
            for issue in &report.issues {
                println!("row {}\t{}\t{}\t{}", issue.row, issue.column.as_deref().unwrap_or("-"), issue.code, issue.message);
            }
        }
        Command::Kb { command } => kb::run(command, &open_store(&config).await?, &config).await?,
        Command::Eval(args) => eval::run(args, &config).await?,
        Command::Bench(args) => bench::run(args).await?,
        Command::ParseWorker { .. } => unreachable!("handled before the runtime work starts"),
    }
    Ok(())
}
