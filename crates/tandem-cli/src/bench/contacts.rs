//! The contacts suite of `tandem bench`:
//!
//! - import of N generated contacts from CSV into SQLite (and PostgreSQL when `--postgres` is given),
//!   with the import's peak RSS;
//! - the filtered contact list (custom property + label) over HTTP at N contacts: p50/p99;
//! - the RSS of an idle `tandem serve`.

use anyhow::{Context, Result};
use std::{fmt::Write as _, time::Instant};

use super::{peak_rss_mib, percentile, reset_peak_rss, status_kib, BenchArgs};
use tandem_core::{Config, PropertyKind, Role};
use tandem_store::{import::ImportOptions, Store};

fn generate_csv(rows: usize) -> Vec<u8> {
    let plans = ["Free", "Pro AI", "Premium"];
    let industries = ["Tech", "Retail", "Health", "Travel", "Food"];
    let mut out = String::with_capacity(rows * 110);
    out.push_str("First name,Last name,Email,Phone,Company,Plan,Industry,Tags\n");
    for i in 0..rows {
        let tags = if i % 10 == 0 { "VIP;Customer" } else { "Customer" };
        let _ = writeln!(
            out,
            "First{i},Last{i},person{i}@example.com,+336{:08},Company {},{},{},{tags}",
            10_000_000 + i,
            i % 5000,
            plans[i % 3],
            industries[i % 5]
        );
    }
    out.into_bytes()
}

async fn prepare(store: &Store) -> Result<tandem_core::WorkspaceId> {
    let ws = store.create_workspace("Bench", Some("FR")).await?.id;
    store
        .create_property(ws, "plan", "Plan", PropertyKind::SingleSelect, vec!["Free".into(), "Pro AI".into(), "Premium".into()], false)
        .await?;
    store.create_property(ws, "industry", "Industry", PropertyKind::Text, vec![], false).await?;
    Ok(ws)
}

fn import_options() -> ImportOptions {
    ImportOptions { mapping: [("Tags".to_string(), "labels".to_string())].into(), ..Default::default() }
}

async fn time_import(store: &Store, csv: &[u8]) -> Result<(tandem_core::WorkspaceId, f64, usize, Option<f64>)> {
    let ws = prepare(store).await?;
    reset_peak_rss();
    let start = Instant::now();
    let report = store.import_contacts(ws, csv.to_vec(), &import_options(), &|_, _| {}).await?;
    let secs = start.elapsed().as_secs_f64();
    anyhow::ensure!(report.failed == 0, "bench import had {} failed rows", report.failed);
    Ok((ws, secs, report.created, peak_rss_mib()))
}

async fn idle_serve_rss() -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("serve")
        .env("TANDEM_DATABASE__URL", format!("sqlite://{}/idle.db", dir.path().display()))
        .env("TANDEM_SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("TANDEM_LOG__FILTER", "warn")
        .kill_on_drop(true)
        .spawn()?;
    let client = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/readyz");
    for _ in 0..100 {
        if client.get(&url).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // A few requests, then let it settle: what an idle server holds.
    for _ in 0..20 {
        client.get(&url).send().await?;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let pid = child.id().context("serve exited")?;
    let rss = status_kib(&format!("/proc/{pid}/status"), "VmRSS:").context("reading serve's RSS")? as f64 / 1024.0;
    child.kill().await?;
    Ok(rss)
}

/// Runs the suite and returns its table rows.
pub async fn run(args: &BenchArgs) -> Result<String> {
    let csv = generate_csv(args.rows);
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = Store::connect(&url, 8).await?;
    eprintln!("importing {} contacts into SQLite...", args.rows);
    let (ws, sqlite_secs, created, sqlite_rss) = time_import(&store, &csv).await?;
    anyhow::ensure!(created == args.rows, "expected {} contacts, created {created}", args.rows);

    let pg = match &args.postgres {
        Some(admin) => {
            eprintln!("importing {} contacts into PostgreSQL...", args.rows);
            let db = create_pg_database(admin).await?;
            let pg_store = Store::connect(&db, 8).await?;
            let (_, secs, _, rss) = time_import(&pg_store, &csv).await?;
            pg_store.close().await;
            Some((secs, rss))
        }
        None => None,
    };

    eprintln!("measuring the filtered contact list over HTTP...");
    let (_, key) = store.create_api_key(ws, "bench", Role::Admin).await?;
    store.close().await;
    let mut config = Config::default();
    config.database.url = url;
    config.server.bind = "127.0.0.1:0".into();
    config.workers.enabled = false;
    let server = tandem_server::Server::start(config).await?;
    let client = reqwest::Client::new();
    let list_url = format!("http://{}/api/v1/contacts?where=plan:eq:Premium&where=industry:eq:Tech&label=VIP&limit=50", server.addr());
    let first: serde_json::Value = client.get(&list_url).bearer_auth(&key).send().await?.error_for_status()?.json().await?;
    let matched = first["items"].as_array().map_or(0, Vec::len);
    let mut latencies = Vec::with_capacity(args.requests);
    for _ in 0..args.requests {
        let start = Instant::now();
        let resp = client.get(&list_url).bearer_auth(&key).send().await?;
        anyhow::ensure!(resp.status().is_success(), "list answered {}", resp.status());
        resp.bytes().await?;
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    server.shutdown().await;

    eprintln!("measuring an idle `tandem serve`...");
    let idle = idle_serve_rss().await?;

    let fmt_rss = |r: Option<f64>| r.map_or("n/a".to_string(), |v| format!("{v:.0} MiB"));
    let mut md = String::new();
    writeln!(
        md,
        "| import {} contacts from CSV into SQLite | {sqlite_secs:.2} s ({:.0} rows/s) | ≤ 10 s |",
        args.rows,
        args.rows as f64 / sqlite_secs
    )?;
    writeln!(md, "| peak RSS of the process during that import | {} | ≤ 200 MB |", fmt_rss(sqlite_rss))?;
    match pg {
        Some((secs, rss)) => {
            writeln!(
                md,
                "| import {} contacts from CSV into PostgreSQL | {secs:.2} s ({:.0} rows/s) | reported |",
                args.rows,
                args.rows as f64 / secs
            )?;
            writeln!(md, "| peak RSS during the PostgreSQL import | {} | ≤ 200 MB |", fmt_rss(rss))?;
        }
        None => writeln!(md, "| import into PostgreSQL | not measured (no `--postgres`) | reported |")?,
    }
    writeln!(
        md,
        "| `GET /api/v1/contacts?where=plan:eq:Premium&where=industry:eq:Tech&label=VIP&limit=50` at {} contacts ({} requests, one client, loopback; {matched} rows a page) | p50 {:.2} ms, p99 {:.2} ms | p99 ≤ 20 ms |",
        args.rows,
        args.requests,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99)
    )?;
    writeln!(md, "| RSS of an idle `tandem serve` (SQLite, no models) | {idle:.0} MiB | ≤ 100 MB |")?;
    Ok(md)
}

async fn create_pg_database(admin: &str) -> Result<String> {
    Ok(tandem_store::create_postgres_database(admin, &format!("tandem_bench_{}", std::process::id())).await?)
}
