//! When to try again and how long to wait. Retried: 429 (rate limit), 5xx (llama-server answers
//! 503 while it loads the model) and failures to reach the server at all (refused, or a pooled
//! connection reset by a restarted server). Not retried: other 4xx (the same request fails the
//! same way) and timeouts (the caller's time is already spent).

use crate::error::LlmError;
use rand::Rng;
use std::time::Duration;

/// No wait grows beyond this, whatever the attempt or a `Retry-After` header says.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// The outcome of one failed attempt.
#[derive(Debug)]
pub(crate) enum Failure {
    Retryable { error: LlmError, retry_after: Option<Duration> },
    Fatal(LlmError),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub initial: Duration,
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first): `initial × 2^retry`, capped, with
    /// "equal jitter" (half fixed, half random) so that clients that failed together do not all
    /// come back together. A server's `Retry-After` is honoured when longer.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let base = self.initial.saturating_mul(1u32 << retry.min(16)).min(MAX_DELAY);
        let half = base / 2;
        let jitter = Duration::from_nanos(rand::thread_rng().gen_range(0..=half.as_nanos() as u64));
        let delay = half + jitter;
        match retry_after {
            Some(after) => delay.max(after.min(MAX_DELAY)),
            None => delay,
        }
    }
}

/// Classifies a non-success HTTP status.
pub(crate) fn status_failure(code: u16, body: String, retry_after: Option<Duration>) -> Failure {
    if code == 400 {
        if let Some(overflow) = crate::wire::context_overflow(&body) {
            return Failure::Fatal(overflow);
        }
    }
    let error = LlmError::Status { code, body };
    if code == 429 || (500..600).contains(&code) {
        Failure::Retryable { error, retry_after }
    } else {
        Failure::Fatal(error)
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from model servers and ignored).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_with_jitter_within_bounds_and_honours_retry_after() {
        let backoff = Backoff { initial: Duration::from_millis(100) };
        for retry in 0..4 {
            let base = Duration::from_millis(100 * (1 << retry));
            for _ in 0..50 {
                let d = backoff.delay(retry, None);
                assert!(d >= base / 2 && d <= base, "retry {retry}: {d:?} outside [{:?}, {base:?}]", base / 2);
            }
        }
        assert!(backoff.delay(30, None) <= MAX_DELAY);
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(backoff.delay(0, Some(Duration::from_secs(3600))), MAX_DELAY);
    }

    #[test]
    fn only_rate_limits_and_server_errors_are_retried() {
        for code in [429, 500, 502, 503] {
            assert!(matches!(status_failure(code, String::new(), None), Failure::Retryable { .. }), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(matches!(status_failure(code, String::new(), None), Failure::Fatal(LlmError::Status { .. })), "{code}");
        }
    }
}
