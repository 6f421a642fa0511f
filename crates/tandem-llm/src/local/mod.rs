//! The local model server: Tandem starts llama.cpp's `llama-server` on loopback, waits until it is
//! healthy, restarts it when it dies or stops answering, and stops it with Tandem.

mod process;

use crate::config::LocalServerConfig;
use crate::error::LocalServerError;
use process::{healthy, Launch, LogTail};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::process::Child;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

/// How often the supervisor looks whether the child has exited.
const POLL: Duration = Duration::from_millis(200);
/// How often, and how patiently, a running server's `/health` is checked; this many failures in
/// a row mean it hangs and is restarted. Generous: a loaded 2-core machine answers slowly.
const HEALTH_INTERVAL: Duration = Duration::from_secs(10);
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
const HEALTH_FAILURES: u32 = 3;
/// Waits between restart attempts: doubling from the first to the last, and back to the first
/// once a server has stayed up for `STABLE`.
const RESTART_FIRST: Duration = Duration::from_millis(500);
const RESTART_MAX: Duration = Duration::from_secs(30);
const STABLE: Duration = Duration::from_secs(60);
/// How long `Drop` waits for the killed child to be reaped.
const DROP_WAIT: Duration = Duration::from_secs(5);

/// What the supervisor knows about the server right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerStatus {
    /// The running child's process id.
    pub pid: Option<u32>,
    /// It answered `/health` since it was (re)started and has not died since.
    pub healthy: bool,
    /// Successful restarts since `start`.
    pub restarts: u32,
}

pub struct LocalServer {
    shared: Arc<Shared>,
    supervisor: Option<JoinHandle<()>>,
    base_url: String,
    port: u16,
}

struct Shared {
    launch: Launch,
    log: LogTail,
    http: reqwest::Client,
    /// The current child. Never held across an await.
    child: Mutex<Option<Child>>,
    /// Set under the `child` lock, so that no child is spawned once it is set.
    stopping: AtomicBool,
    wake: Notify,
    status: watch::Sender<ServerStatus>,
}

impl LocalServer {
    /// Starts `llama-server` and returns once it answers `/health`, or fails with why (a missing
    /// binary or model names its path and says to run `scripts/llm/fetch`).
    pub async fn start(config: &LocalServerConfig) -> Result<Self, LocalServerError> {
        let binary = resolve(config.binary.as_ref(), "llama-server binary", "binary", "LLAMA_SERVER")?;
        if !binary.is_file() {
            return Err(LocalServerError::BinaryMissing(binary));
        }
        let model = resolve(config.model.as_ref(), "LLM model", "model", "TANDEM_LLM_MODEL")?;
        if !model.is_file() {
            return Err(LocalServerError::ModelMissing(model));
        }
        let port = match config.port {
            0 => free_port()?,
            port => port,
        };
        let mut args: Vec<String> = vec![
            "-m".into(),
            model.display().to_string(),
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "-t".into(),
            config.threads.to_string(),
            "-c".into(),
            config.context_tokens.to_string(),
            "--no-webui".into(),
        ];
        args.extend(config.extra_args.iter().cloned());
        let launch =
            Launch { binary, args, health_url: format!("http://127.0.0.1:{port}/health"), startup_timeout: config.startup_timeout() };
        let (status, _) = watch::channel(ServerStatus { pid: None, healthy: false, restarts: 0 });
        let shared = Arc::new(Shared {
            launch,
            log: LogTail::default(),
            http: reqwest::Client::new(),
            child: Mutex::new(None),
            stopping: AtomicBool::new(false),
            wake: Notify::new(),
            status,
        });
        let started = Instant::now();
        shared.launch().await?;
        tracing::info!(port, startup_ms = started.elapsed().as_millis() as u64, "llama-server healthy");
        let supervisor = tokio::spawn(supervise(shared.clone()));
        Ok(Self { shared, supervisor: Some(supervisor), base_url: format!("http://127.0.0.1:{port}/v1"), port })
    }

    /// The OpenAI-compatible endpoint, `http://127.0.0.1:PORT/v1`; the same across restarts.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn status(&self) -> ServerStatus {
        *self.shared.status.borrow()
    }

    /// Changes of [`ServerStatus`] as the supervisor sees them.
    pub fn subscribe(&self) -> watch::Receiver<ServerStatus> {
        self.shared.status.subscribe()
    }

    /// Waits until the server is healthy (again, after a restart).
    pub async fn wait_healthy(&self, timeout: Duration) -> Result<(), LocalServerError> {
        let mut status = self.shared.status.subscribe();
        let waited = tokio::time::timeout(timeout, async { status.wait_for(|s| s.healthy).await.map(|_| ()) }).await;
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(LocalServerError::Stopped),
            Err(_) => Err(LocalServerError::StartupTimeout { after: timeout, log: self.shared.log.text() }),
        }
    }

    /// Stops supervising, kills the server and waits for it to exit.
    pub async fn shutdown(mut self) {
        let child = self.shared.stop();
        if let Some(supervisor) = self.supervisor.take() {
            // It notices `stopping` within one poll or one health request.
            if tokio::time::timeout(HEALTH_TIMEOUT + POLL, supervisor).await.is_err() {
                tracing::warn!("llama-server supervisor did not stop in time");
            }
        }
        if let Some(mut child) = child {
            let pid = child.id();
            let _ = child.start_kill();
            match child.wait().await {
                Ok(status) => tracing::info!(pid, %status, "llama-server stopped"),
                Err(error) => tracing::warn!(pid, %error, "llama-server killed; waiting for it failed"),
            }
        }
    }
}

impl Drop for LocalServer {
    /// Kills the server and waits (briefly, blocking) for it to exit, so that a dropped server
    /// never outlives its owner.
    fn drop(&mut self) {
        let child = self.shared.stop();
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.abort();
        }
        let Some(mut child) = child else { return };
        let pid = child.id();
        let _ = child.start_kill();
        let deadline = Instant::now() + DROP_WAIT;
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                _ => break,
            }
        }
        tracing::info!(pid, "llama-server stopped (dropped)");
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Option<Child>> {
        self.child.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Marks the server as stopping and hands over the child, if any.
    fn stop(&self) -> Option<Child> {
        let child = {
            let mut guard = self.lock();
            self.stopping.store(true, Ordering::SeqCst);
            guard.take()
        };
        self.wake.notify_one();
        self.status.send_modify(|s| {
            s.healthy = false;
            s.pid = None;
        });
        child
    }

    /// Spawns a child and waits for its `/health`; on failure the child is killed.
    async fn launch(&self) -> Result<(), LocalServerError> {
        let pid = {
            let mut guard = self.lock();
            if self.stopping() {
                return Err(LocalServerError::Stopped);
            }
            let child = self.launch.spawn(&self.log)?;
            let pid = child.id();
            *guard = Some(child);
            pid
        };
        self.status.send_modify(|s| {
            s.pid = pid;
            s.healthy = false;
        });
        let deadline = Instant::now() + self.launch.startup_timeout;
        loop {
            if let Some(status) = self.exit_status() {
                return Err(LocalServerError::Exited { status, log: self.log.text() });
            }
            if self.stopping() {
                return Err(LocalServerError::Stopped);
            }
            if healthy(&self.http, &self.launch.health_url, Duration::from_secs(1)).await {
                self.status.send_modify(|s| s.healthy = true);
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill().await;
                return Err(LocalServerError::StartupTimeout { after: self.launch.startup_timeout, log: self.log.text() });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `Some(how)` when the current child has exited (it is then taken out).
    fn exit_status(&self) -> Option<String> {
        let mut guard = self.lock();
        let exited = match guard.as_mut()?.try_wait() {
            Ok(None) => return None,
            Ok(Some(status)) => status.to_string(),
            Err(e) => format!("unknown ({e})"),
        };
        *guard = None;
        Some(exited)
    }

    async fn kill(&self) {
        let child = self.lock().take();
        if let Some(mut child) = child {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }
}

/// Watches the child until `stopping`: restarts it when it exits or stops answering `/health`.
async fn supervise(shared: Arc<Shared>) {
    let mut up_since = Instant::now();
    let mut last_check = Instant::now();
    let mut failed_checks = 0;
    let mut wait = RESTART_FIRST;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = shared.wake.notified() => {}
        }
        if shared.stopping() {
            return;
        }
        let dead = if let Some(status) = shared.exit_status() {
            tracing::warn!(%status, log = %shared.log.text(), "llama-server exited; restarting it");
            true
        } else if last_check.elapsed() >= HEALTH_INTERVAL {
            last_check = Instant::now();
            if healthy(&shared.http, &shared.launch.health_url, HEALTH_TIMEOUT).await {
                failed_checks = 0;
                false
            } else {
                failed_checks += 1;
                tracing::warn!(failed_checks, "llama-server did not answer /health");
                failed_checks >= HEALTH_FAILURES
            }
        } else {
            false
        };
        if !dead {
            if up_since.elapsed() >= STABLE {
                wait = RESTART_FIRST;
            }
            continue;
        }
        shared.status.send_modify(|s| {
            s.healthy = false;
            s.pid = None;
        });
        shared.kill().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shared.wake.notified() => {}
            }
            if shared.stopping() {
                return;
            }
            match shared.launch().await {
                Ok(()) => {
                    shared.status.send_modify(|s| s.restarts += 1);
                    tracing::info!(pid = ?shared.status.borrow().pid, "llama-server restarted and healthy");
                    break;
                }
                Err(LocalServerError::Stopped) => return,
                Err(error) => {
                    wait = (wait * 2).min(RESTART_MAX);
                    tracing::error!(%error, retry_in_ms = wait.as_millis() as u64, "llama-server restart failed");
                }
            }
        }
        up_since = Instant::now();
        last_check = Instant::now();
        failed_checks = 0;
        wait = (wait * 2).min(RESTART_MAX);
    }
}

fn resolve(configured: Option<&PathBuf>, what: &'static str, key: &'static str, env: &'static str) -> Result<PathBuf, LocalServerError> {
    configured
        .cloned()
        .or_else(|| std::env::var_os(env).filter(|v| !v.is_empty()).map(PathBuf::from))
        .ok_or(LocalServerError::NotConfigured { what, key, env })
}

/// A port free now; the server binds it a moment later (a race we accept on loopback).
fn free_port() -> Result<u16, LocalServerError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(LocalServerError::Port)?;
    listener.local_addr().map(|a| a.port()).map_err(LocalServerError::Port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_comes_from_the_config_then_the_environment_else_says_how_to_get_one() {
        let configured = PathBuf::from("/opt/llama-server");
        assert_eq!(resolve(Some(&configured), "x", "binary", "TANDEM_LLM_TEST_NEVER_SET").unwrap(), configured);
        let error = resolve(None, "llama-server binary", "binary", "TANDEM_LLM_TEST_NEVER_SET").unwrap_err().to_string();
        assert!(
            error.contains("llm.local.binary") && error.contains("TANDEM_LLM_TEST_NEVER_SET") && error.contains("scripts/llm/fetch"),
            "{error}"
        );
    }
}
