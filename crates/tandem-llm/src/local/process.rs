//! One `llama-server` child: how it is launched, where its output goes, and how we tell it is up.

use crate::error::LocalServerError;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Lines of the child's output kept for error messages.
const LOG_TAIL: usize = 40;

/// Everything needed to (re)start the same server.
#[derive(Debug, Clone)]
pub(crate) struct Launch {
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub health_url: String,
    pub startup_timeout: Duration,
}

/// The last lines the server wrote, across restarts.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogTail(Arc<Mutex<VecDeque<String>>>);

impl LogTail {
    fn push(&self, line: String) {
        let mut lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if lines.len() == LOG_TAIL {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    pub fn text(&self) -> String {
        let lines = self.0.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

impl Launch {
    /// Starts the child with its output piped into tracing (debug), never to our stdout; it is
    /// killed if its handle is dropped.
    pub fn spawn(&self, log: &LogTail) -> Result<Child, LocalServerError> {
        let mut command = Command::new(&self.binary);
        #[cfg(target_os = "linux")]
        // SAFETY: prctl is async-signal-safe and allocates nothing. It makes the kernel kill the
        // server when Tandem dies, even by SIGKILL, so no model is left running orphaned.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .args(&self.args)
            // Idle OpenMP threads sleep instead of spinning: on a machine whose cores Tandem
            // shares (embeddings, parsing), spinning threads cut generation from ~15 to ~2 tokens/s
            // (measured on 2 cores with another build running).
            .env("OMP_WAIT_POLICY", "PASSIVE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| LocalServerError::Spawn { binary: self.binary.clone(), source })?;
        let pid = child.id().unwrap_or_default();
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pump(out, pid, log.clone()));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pump(err, pid, log.clone()));
        }
        tracing::info!(pid, binary = %self.binary.display(), args = ?self.args, "llama-server started");
        Ok(child)
    }
}

async fn pump(stream: impl AsyncRead + Unpin, pid: u32, log: LogTail) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        tracing::debug!(target: "tandem_llm::llama_server", pid, "{line}");
        log.push(line);
    }
}

/// `GET /health` answered 200 within `timeout` (503 while the model loads).
pub(crate) async fn healthy(http: &reqwest::Client, url: &str, timeout: Duration) -> bool {
    matches!(http.get(url).timeout(timeout).send().await, Ok(r) if r.status().is_success())
}
