//! Parsing in a child process. The child (`tandem parse-worker FILE NAME MAX_PAGES`, which calls
//! [`worker_main`]) gets an address-space limit before it starts and a wall-time limit while it
//! runs; it catches panics itself and answers one JSON line on stdout. A stack overflow, an abort
//! on a huge allocation, an endless loop or the memory limit kill only the child: the caller gets
//! one [`ParseError`] and goes on.

use serde::{Deserialize, Serialize};
use std::{
    io::Read,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use super::{Document, ParseError};

/// How to start the parser and what it may use.
#[derive(Debug, Clone)]
pub struct Isolation {
    /// The program and the arguments before the file's (e.g. `tandem`, `["parse-worker"]`).
    pub program: PathBuf,
    pub args: Vec<String>,
    pub timeout: Duration,
    /// Address-space limit of the child, in bytes.
    pub memory_bytes: u64,
}

impl Isolation {
    /// This very program, run as `SELF parse-worker`.
    pub fn current_exe(timeout: Duration, memory_bytes: u64) -> std::io::Result<Self> {
        Ok(Self { program: std::env::current_exe()?, args: vec!["parse-worker".into()], timeout, memory_bytes })
    }
}

/// What the child prints.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Answer {
    Document(Document),
    Error(ParseError),
}

/// Largest answer read back from the child (a 20 MB source cannot need more).
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// Parses the file at `path` in a child process.
pub fn parse_isolated(isolation: &Isolation, path: &Path, name: &str, max_pages: usize) -> Result<Document, ParseError> {
    let mut command = Command::new(&isolation.program);
    command.args(&isolation.args).arg(path).arg(name).arg(max_pages.to_string());
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // Only our own worker: no inherited RUST_LOG noise on stdout, no backtraces to collect.
    command.env_remove("RUST_BACKTRACE");
    // pdf_oxide's cap on one inflated stream (its default is 256 MB).
    command.env("PDF_OXIDE_MAX_DECOMPRESS_MB", "64");
    limit_memory(&mut command, isolation.memory_bytes);
    let mut child = command.spawn().map_err(|e| ParseError::Crashed(format!("cannot start {}: {e}", isolation.program.display())))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        stdout.take(MAX_ANSWER_BYTES).read_to_end(&mut buf).map(|_| buf)
    });
    let err = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.take(64 * 1024).read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() >= isolation.timeout => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(ParseError::Timeout(isolation.timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(ParseError::Crashed(e.to_string())),
        }
    };
    let answer = out.join().ok().and_then(Result::ok).unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if let Some(kib) = stderr.lines().rev().find_map(|l| l.strip_prefix(PEAK_LINE)?.trim().parse::<u64>().ok()) {
        LARGEST_CHILD_KIB.fetch_max(kib, std::sync::atomic::Ordering::Relaxed);
    }
    if let Ok(answer) = serde_json::from_slice::<Answer>(&answer) {
        return match answer {
            Answer::Document(d) => Ok(d),
            Answer::Error(e) => Err(e),
        };
    }
    let mb = isolation.memory_bytes / (1024 * 1024);
    if stderr.contains("memory allocation") || stderr.contains("out of memory") || stderr.contains("capacity overflow") {
        return Err(ParseError::OutOfMemory(mb));
    }
    tracing::warn!(%status, stderr = %stderr.chars().rev().take(2000).collect::<String>().chars().rev().collect::<String>(), "parser died");
    Err(ParseError::Crashed(describe(status)))
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            let name = match signal {
                6 => "aborted",
                9 => "killed",
                11 => "segmentation fault, e.g. a stack overflow",
                _ => "signal",
            };
            return format!("{name}, signal {signal}");
        }
    }
    format!("exit status {}", status.code().unwrap_or(-1))
}

#[cfg(unix)]
fn limit_memory(command: &mut Command, bytes: u64) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls are allowed; setrlimit is one, and
    // the closure allocates nothing.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            libc::setrlimit(libc::RLIMIT_CORE, &no_core);
            Ok(())
        });
    }
}

#[cfg(not(unix))]
fn limit_memory(_command: &mut Command, _bytes: u64) {}

/// What the child writes on stderr last: its own peak resident memory, in KiB. The kernel's
/// `RUSAGE_CHILDREN` cannot tell it: a child's high-water mark counts the parent's memory it
/// shared between fork and exec.
const PEAK_LINE: &str = "tandem-parse-worker peak_rss_kib=";

static LARGEST_CHILD_KIB: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The largest peak resident memory a parser child of this process reported, in bytes (0 before
/// the first parse, or where `/proc` is missing).
pub fn largest_child_peak_rss_bytes() -> u64 {
    LARGEST_CHILD_KIB.load(std::sync::atomic::Ordering::Relaxed) * 1024
}

/// This process's peak resident memory since exec (`VmHWM`), in KiB.
fn own_peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The child's side: parses `file` and prints one JSON answer on stdout (the protocol with
/// [`parse_isolated`]). Returns the process exit code.
pub fn worker_main(file: &Path, name: &str, max_pages: usize) -> i32 {
    let answer = match std::fs::read(file) {
        Err(e) => Answer::Error(ParseError::Damaged(format!("cannot read {}: {e}", file.display()))),
        Ok(bytes) => match std::panic::catch_unwind(|| super::parse(&bytes, name, max_pages)) {
            Ok(Ok(doc)) => Answer::Document(doc),
            Ok(Err(e)) => Answer::Error(e),
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                Answer::Error(ParseError::Crashed(format!("the parser panicked: {what}")))
            }
        },
    };
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer(&mut stdout, &answer).and_then(|_| stdout.flush().map_err(serde_json::Error::io));
    if let Some(kib) = own_peak_rss_kib() {
        let _ = writeln!(std::io::stderr(), "{PEAK_LINE}{kib}");
    }
    match written {
        Ok(()) => 0,
        Err(_) => 1,
    }
}
