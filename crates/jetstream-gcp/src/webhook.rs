//! One JSON POST to a webhook (the alert of `jetstream errors --notify`: Slack's incoming
//! webhooks and anything that takes `{"text": …}`), through this crate's retried HTTP exchange.
//!
//! A webhook URL is a credential: its path is the secret. Nothing here prints it whole —
//! errors and logs name [`redact`]ed URLs only, and reqwest's errors are stripped of theirs.

use std::time::Duration;

use crate::RetryPolicy;
use crate::retry::{Attempt, describe, retry, retryable_status, status_message};

/// Why a POST failed; its text names the host, never the URL's path or query.
#[derive(Debug, thiserror::Error)]
#[error("notification to {target} failed: {message}")]
pub struct WebhookError {
    /// The redacted URL (`https://host/…`).
    pub target: String,
    /// What went wrong (the last attempt's status and answer, or the transport error).
    pub message: String,
}

/// `scheme://host[:port]/…`: what may be shown of a webhook URL (its path and query are the
/// secret part). Text that is not a URL shows as `<invalid URL>`.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or_default();
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            let more = if u.path().len() > 1 || u.query().is_some() {
                "/…"
            } else {
                ""
            };
            format!("{}://{host}{port}{more}", u.scheme())
        }
        Err(_) => "<invalid URL>".into(),
    }
}

/// POST `body` as JSON to `url`, retried (with `policy`'s backoff and per-request deadline) on
/// connection failures, timeouts, 408, 429 and 5xx; another non-2xx answer fails at once.
/// Only `http` and `https` URLs are accepted.
pub fn post_json(
    url: &str,
    body: &serde_json::Value,
    policy: &RetryPolicy,
) -> Result<(), WebhookError> {
    let target = redact(url);
    let fail = |message: String| WebhookError {
        target: target.clone(),
        message,
    };
    let parsed = url::Url::parse(url).map_err(|e| fail(format!("not a URL ({e})")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail(format!(
            "expected an http or https URL, got scheme {:?}",
            parsed.scheme()
        )));
    }
    // One process-wide crypto provider for rustls (before any client); twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(policy.request_timeout)
        .build()
        .map_err(|e| fail(describe(&e.without_url())))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(format!("no runtime: {e}")))?;
    let on_timeout = |d: Duration| format!("no answer within {d:?}");
    runtime
        .block_on(retry(policy, &target, on_timeout, || {
            let request = client.post(parsed.clone()).json(body);
            async move {
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => return Attempt::Retry(describe(&e.without_url())),
                };
                let status = response.status();
                let answer = response.bytes().await.unwrap_or_default();
                if status.is_success() {
                    Attempt::Done(Ok(()))
                } else if retryable_status(status.as_u16()) {
                    Attempt::Retry(status_message(status, &answer))
                } else {
                    Attempt::Done(Err(status_message(status, &answer)))
                }
            }
        }))
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scheme_and_host_are_shown() {
        assert_eq!(
            redact("https://hooks.slack.com/services/T0/B0/s3cr3t"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(
            redact("http://127.0.0.1:8080/hook?token=x"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(redact("https://example.test"), "https://example.test");
        assert_eq!(redact("s3cr3t"), "<invalid URL>");
    }

    #[test]
    fn other_schemes_are_refused_without_showing_the_url() {
        let e = post_json(
            "file:///etc/s3cr3t",
            &serde_json::json!({}),
            &RetryPolicy::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("http or https"), "{e}");
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}
