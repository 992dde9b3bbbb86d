//! jetstream's Google Cloud basics, shared by its Google clients.
//!
//! * [`Credentials`]: Application Default Credentials, or none for emulators.
//! * [`retry`]: one [`RetryPolicy`] (attempts, backoff, per-request timeout) and the retried
//!   `send` every Google client of jetstream goes through.
//! * [`webhook::post_json`]: one retried JSON POST to a webhook (alerts), its URL never shown
//!   whole.
//! * Endpoints as Google's clients find them: `BIGQUERY_EMULATOR_HOST` and
//!   `STORAGE_EMULATOR_HOST` (`http://HOST:PORT`) switch to an emulator, without credentials.
//!
//! The clients are crates of their own, so each user builds only what it uses:
//! `jetstream-bigquery` (the warehouse), `jetstream-gcs` (the output sink) and `jetstream-gke`
//! (GKE and Artifact Registry for the Argo runs). They are synchronous facades over a private
//! tokio runtime ([`runtime`]), as the traits they implement are synchronous (see
//! `docs/ARCHITECTURE.md`).

pub mod auth;
pub mod retry;
pub mod webhook;

pub use auth::{AuthError, Credentials};
pub use retry::RetryPolicy;

/// Environment variable naming a BigQuery emulator (`http://HOST:PORT`).
pub const BIGQUERY_EMULATOR_HOST: &str = "BIGQUERY_EMULATOR_HOST";
/// Environment variable naming a GCS emulator (`http://HOST:PORT`).
pub const STORAGE_EMULATOR_HOST: &str = "STORAGE_EMULATOR_HOST";

/// The emulator named by environment variable `var`, as a base URL without a trailing slash
/// (`HOST:PORT` gets `http://`); `None` when unset or empty.
pub fn emulator_host(var: &str) -> Option<String> {
    let value = std::env::var(var).ok()?;
    normalize_endpoint(&value)
}

/// `HOST:PORT` → `http://HOST:PORT`; trailing slashes dropped; empty → `None`.
pub fn normalize_endpoint(value: &str) -> Option<String> {
    let value = value.trim().trim_end_matches('/');
    if value.is_empty() {
        return None;
    }
    Some(if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    })
}

/// A multi-threaded runtime for one facade (two workers: the work is waiting on HTTP), with
/// rustls' ring provider installed.
pub fn runtime(what: &str) -> std::io::Result<tokio::runtime::Runtime> {
    // One process-wide crypto provider for rustls; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(format!("jetstream-{what}"))
        .enable_all()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_normalized() {
        assert_eq!(
            normalize_endpoint("127.0.0.1:9050/").as_deref(),
            Some("http://127.0.0.1:9050")
        );
        assert_eq!(
            normalize_endpoint("https://example.test").as_deref(),
            Some("https://example.test")
        );
        assert_eq!(normalize_endpoint("  "), None);
    }
}
