//! Retries with exponential backoff, shared by the BigQuery and GCS clients.

use std::future::Future;
use std::time::Duration;

/// How often and how patiently a retryable failure is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included); at least 1.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled after each retry.
    pub initial_backoff: Duration,
    /// Upper bound of one wait.
    pub max_backoff: Duration,
    /// Deadline of one HTTP request (connect, send, answer).
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    /// Six attempts, 1 s doubling up to 32 s, 120 s per request (Google's client defaults).
    fn default() -> Self {
        Self {
            max_attempts: 6,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(32),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The backoff between attempts: exponential from `initial_backoff`, doubling up to
    /// `max_backoff`, plus up to as much again of random jitter (parallel workers drift
    /// apart); `max_attempts - 1` retries.
    pub fn backoff(&self) -> backon::ExponentialBuilder {
        backon::ExponentialBuilder::new()
            .with_min_delay(self.initial_backoff)
            .with_max_delay(self.max_backoff)
            .with_jitter()
            .with_max_times(self.max_attempts.max(1) as usize - 1)
    }

    /// The wait before poll number `n` (0-based) of a running job: the same exponential
    /// steps, without jitter, bounded by `max_backoff`.
    pub fn poll_wait(&self, n: u32) -> Duration {
        self.initial_backoff
            .saturating_mul(2u32.saturating_pow(n.min(20)))
            .min(self.max_backoff.max(self.initial_backoff))
    }
}

/// What one attempt gave.
#[derive(Debug)]
pub enum Attempt<T, E> {
    /// Done (success or a failure not worth retrying).
    Done(Result<T, E>),
    /// A failure that may pass: retried while attempts remain.
    Retry(E),
}

/// A failed attempt, and whether it is worth another.
enum Failure<E> {
    Final(E),
    Transient(E),
}

impl<E> Failure<E> {
    fn into_inner(self) -> E {
        match self {
            Failure::Final(e) | Failure::Transient(e) => e,
        }
    }
}

/// Run `attempt` until it is done or the attempts run out ([`RetryPolicy::backoff`]); each
/// attempt is bounded by the request timeout (`on_timeout` builds that error). Retries are
/// logged at WARN with `what`.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    what: &str,
    on_timeout: impl Fn(Duration) -> E,
    mut attempt: F,
) -> Result<T, E>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T, E>>,
{
    use backon::Retryable as _;
    let timeout = policy.request_timeout;
    let once = || {
        let next = attempt();
        let on_timeout = &on_timeout;
        async move {
            match tokio::time::timeout(timeout, next).await {
                Ok(Attempt::Done(Ok(v))) => Ok(v),
                Ok(Attempt::Done(Err(e))) => Err(Failure::Final(e)),
                Ok(Attempt::Retry(e)) => Err(Failure::Transient(e)),
                Err(_) => Err(Failure::Transient(on_timeout(timeout))),
            }
        }
    };
    once.retry(policy.backoff())
        .sleep(tokio::time::sleep)
        .when(|f| matches!(f, Failure::Transient(_)))
        .notify(|f, wait| {
            if let Failure::Transient(e) = f {
                tracing::warn!(%what, wait_ms = wait.as_millis() as u64, error = %e, "retrying");
            }
        })
        .await
        .map_err(Failure::into_inner)
}

/// An error with its causes, `: `-separated (reqwest puts the useful part in the sources).
pub fn describe(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// HTTP statuses worth retrying: 408, 429 and 5xx.
pub fn retryable_status(status: u16) -> bool {
    status == 408 || status == 429 || (500..600).contains(&status)
}

/// `HTTP 403 Forbidden: <the server's error.message>` (GCS errors are
/// `{"error": {"code": 403, "message": "..."}}`; other bodies are quoted, shortened).
pub fn status_message(status: reqwest::StatusCode, body: &[u8]) -> String {
    let head = format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let head = head.trim_end();
    let from_json = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string));
    let detail = from_json.unwrap_or_else(|| {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        let mut short: String = text.chars().take(300).collect();
        if short.len() < text.len() {
            short.push('…');
        }
        short
    });
    if detail.is_empty() {
        head.to_string()
    } else {
        format!("{head}: {detail}")
    }
}

/// Send the request `make` builds (a fresh one per attempt, with a bearer token from
/// `credentials` unless anonymous) until it is answered with a status not worth retrying;
/// returns that status and the body. Errors are messages; `location` names the target in logs.
pub async fn send(
    policy: &RetryPolicy,
    credentials: &crate::Credentials,
    location: &str,
    make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
) -> Result<(reqwest::StatusCode, Vec<u8>), String> {
    let on_timeout = |d: Duration| format!("no complete answer within {d:?}");
    retry(policy, location, on_timeout, || async move {
        let token = match credentials.token().await {
            Ok(token) => token,
            Err(e) => return Attempt::Retry(e.to_string()),
        };
        let mut request = make();
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        let status = response.status();
        let body = match response.bytes().await {
            Ok(body) => body.to_vec(),
            Err(e) => return Attempt::Retry(describe(&e)),
        };
        if retryable_status(status.as_u16()) {
            Attempt::Retry(status_message(status, &body))
        } else {
            Attempt::Done(Ok((status, body)))
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        use backon::BackoffBuilder as _;
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            request_timeout: Duration::from_secs(1),
        };
        assert_eq!(p.poll_wait(0), Duration::from_millis(100));
        assert_eq!(p.poll_wait(1), Duration::from_millis(200));
        assert_eq!(p.poll_wait(5), Duration::from_millis(350));
        assert_eq!(p.poll_wait(u32::MAX), Duration::from_millis(350));
        // Retries: one wait fewer than attempts, each a step plus at most as much jitter.
        let waits: Vec<Duration> = p.backoff().build().collect();
        assert_eq!(waits.len(), 4);
        for (w, step) in waits.iter().zip([100, 200, 350, 350]) {
            // (backon computes in f32: a few nanoseconds either way)
            let (low, high) = (step - 1, 2 * step + 1);
            let ms = w.as_secs_f64() * 1000.0;
            assert!(
                ms >= f64::from(low) && ms <= f64::from(high),
                "{w:?} for {step} ms"
            );
        }
    }

    #[test]
    fn retryable_statuses() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s), "{s}");
        }
        for s in [200, 400, 401, 403, 404, 409] {
            assert!(!retryable_status(s), "{s}");
        }
    }

    #[tokio::test]
    async fn retries_until_done_and_gives_up() {
        let p = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            request_timeout: Duration::from_secs(1),
        };
        let mut calls = 0;
        let r: Result<u32, String> = retry(
            &p,
            "t",
            |_| "timeout".to_string(),
            || {
                calls += 1;
                let c = calls;
                async move {
                    if c < 3 {
                        Attempt::Retry(format!("fail {c}"))
                    } else {
                        Attempt::Done(Ok(c))
                    }
                }
            },
        )
        .await;
        assert_eq!(r, Ok(3));
        let mut calls = 0;
        let r: Result<u32, String> = retry(
            &p,
            "t",
            |_| "timeout".to_string(),
            || {
                calls += 1;
                let c = calls;
                async move { Attempt::Retry(format!("fail {c}")) }
            },
        )
        .await;
        assert_eq!(
            r,
            Err("fail 3".to_string()),
            "the last error after 3 attempts"
        );
        let slow = RetryPolicy {
            request_timeout: Duration::from_millis(5),
            ..p
        };
        let r: Result<u32, String> = retry(
            &slow,
            "t",
            |d| format!("timed out after {d:?}"),
            || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Attempt::Done(Ok(1))
            },
        )
        .await;
        assert_eq!(r, Err("timed out after 5ms".to_string()));
    }
}
