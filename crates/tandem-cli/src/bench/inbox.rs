//! The inbox suite of `tandem bench`: the shared inbox at 100,000 conversations and 2,000,000
//! messages (`--conversations`, 20 messages each). Measured over HTTP on loopback, one client:
//! the inbox list (the default view, and filtered by status), opening a conversation (the
//! conversation and its messages), a search by contact name (20 searches: it also looks the word
//! up in the messages' full-text index) and a search by words of the messages (20 searches, two
//! words, one of them in half of all messages). On SQLite, and on PostgreSQL with `--postgres`.

use anyhow::Result;
use std::{fmt::Write as _, time::Instant};
use tandem_core::{ChannelKind, Config, Role};
use tandem_store::Store;

use super::{percentile, BenchArgs};

const MESSAGES_PER_CONVERSATION: usize = 20;

struct Measured {
    seed_s: f64,
    list: (f64, f64),
    filtered: (f64, f64),
    open: (f64, f64),
    search: (f64, f64),
    text_search: (f64, f64),
}

async fn timed(client: &reqwest::Client, key: &str, urls: &[String], requests: usize) -> Result<(f64, f64)> {
    let mut latencies = Vec::with_capacity(requests);
    for i in 0..requests {
        let url = &urls[i % urls.len()];
        let start = Instant::now();
        let resp = client.get(url).bearer_auth(key).send().await?;
        anyhow::ensure!(resp.status().is_success(), "{url} answered {}", resp.status());
        resp.bytes().await?;
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(f64::total_cmp);
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

async fn measure(url: &str, conversations: usize, requests: usize) -> Result<Measured> {
    let store = Store::connect(url, 8).await?;
    let ws = store.create_workspace("Bench inbox", Some("FR")).await?.id;
    let channel = store.create_channel(ws, ChannelKind::Widget, "Site", Default::default()).await?.id;
    eprintln!("writing {conversations} conversations and {} messages...", conversations * MESSAGES_PER_CONVERSATION);
    let started = Instant::now();
    let ids = store.seed_inbox(ws, channel, conversations, MESSAGES_PER_CONVERSATION).await?;
    let seed_s = started.elapsed().as_secs_f64();
    let (_, key) = store.create_api_key(ws, "bench", Role::Admin).await?;
    store.close().await;

    let mut config = Config::default();
    config.database.url = url.to_string();
    config.server.bind = "127.0.0.1:0".into();
    config.workers.enabled = false;
    let server = tandem_server::Server::start(config).await?;
    let base = format!("http://{}/api/v1", server.addr());
    let client = reqwest::Client::new();
    // Conversations spread over the whole inbox, not only the newest.
    let sample: Vec<_> = ids.iter().step_by((ids.len() / 200).max(1)).collect();
    let list = timed(&client, &key, &[format!("{base}/inbox/conversations?limit=50")], requests).await?;
    let filtered = timed(&client, &key, &[format!("{base}/inbox/conversations?status=pending&limit=50")], requests).await?;
    let opens: Vec<String> = sample.iter().map(|id| format!("{base}/conversations/{id}")).collect();
    let threads: Vec<String> = sample.iter().map(|id| format!("{base}/conversations/{id}/messages?limit=50")).collect();
    let open_one = timed(&client, &key, &opens, requests).await?;
    let thread = timed(&client, &key, &threads, requests).await?;
    let searches: Vec<String> = (0..20).map(|i| format!("{base}/inbox/conversations?q=Customer{}&limit=50", i * 4999)).collect();
    let search = timed(&client, &key, &searches, 20).await?;
    let n = ids.len();
    let texts: Vec<String> = (0..20).map(|i| format!("{base}/inbox/conversations?q=order%20{}&limit=50", (i * 4999) % n)).collect();
    // The search finds what it is asked for (conversation 4999 and those whose number starts so).
    let found: serde_json::Value = client.get(&texts[1]).bearer_auth(&key).send().await?.json().await?;
    anyhow::ensure!(found["items"].as_array().is_some_and(|i| !i.is_empty()), "the message search found nothing: {found}");
    let text_search = timed(&client, &key, &texts, 20).await?;
    server.shutdown().await;
    // Opening a conversation is both requests.
    Ok(Measured { seed_s, list, filtered, open: (open_one.0 + thread.0, open_one.1 + thread.1), search, text_search })
}

pub async fn run(args: &BenchArgs) -> Result<String> {
    let n = args.conversations;
    let dir = tempfile::tempdir()?;
    let mut rows = vec![("SQLite", measure(&format!("sqlite://{}/bench.db", dir.path().display()), n, args.requests).await?)];
    if let Some(admin) = &args.postgres {
        let url = tandem_store::create_postgres_database(admin, &format!("tandem_bench_inbox_{}", std::process::id())).await?;
        rows.push(("PostgreSQL", measure(&url, n, args.requests).await?));
    }
    let mut md = String::new();
    let m = n * MESSAGES_PER_CONVERSATION;
    let verdict = |p99: f64| if p99 <= 50.0 { "met" } else { "missed" };
    for (db, r) in &rows {
        writeln!(md, "| write {n} conversations and {m} messages in bulk, {db} | {:.1} s | reported |", r.seed_s)?;
        writeln!(
            md,
            "| inbox list, newest first, 50 a page, {db} | p50 {:.2} ms, p99 {:.2} ms ({}) | p99 ≤ 50 ms |",
            r.list.0,
            r.list.1,
            verdict(r.list.1)
        )?;
        writeln!(
            md,
            "| inbox list filtered by status, {db} | p50 {:.2} ms, p99 {:.2} ms ({}) | p99 ≤ 50 ms |",
            r.filtered.0,
            r.filtered.1,
            verdict(r.filtered.1)
        )?;
        writeln!(
            md,
            "| open a conversation (it, then its {MESSAGES_PER_CONVERSATION} messages: two requests, p50 and p99 of each summed), {db} | p50 {:.2} ms, p99 {:.2} ms ({}) | p99 ≤ 50 ms |",
            r.open.0,
            r.open.1,
            verdict(r.open.1)
        )?;
        writeln!(
            md,
            "| search the inbox by contact name (the word is also looked up in message text), {db} | p50 {:.2} ms, p99 {:.2} ms | reported |",
            r.search.0, r.search.1
        )?;
        writeln!(
            md,
            "| search the inbox by message words (`order 4999`: `order` is in half of all messages), {db} | p50 {:.2} ms, p99 {:.2} ms | reported |",
            r.text_search.0, r.text_search.1
        )?;
    }
    Ok(md)
}
