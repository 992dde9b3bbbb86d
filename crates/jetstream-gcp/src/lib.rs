//! jetstream on Google Cloud.
//!
//! * [`BigQueryWarehouse`]: the [`Warehouse`](jetstream_warehouse::Warehouse) on BigQuery
//!   (jobs API through `gcp-bigquery-client`, statistics rows through load jobs).
//! * [`GcsBucket`]: the [`OutputSink`](jetstream_output::OutputSink) on a GCS bucket (JSON API,
//!   single-shot media uploads: an object appears complete or not at all).
//! * [`Credentials`]: Application Default Credentials, or none for emulators.
//! * [`webhook::post_json`]: one retried JSON POST to a webhook (alerts), its URL never shown
//!   whole.
//! * [`GoogleApis`] (tokens and the GKE lookup of the Argo cluster connection) and
//!   [`ArtifactRegistry`] (the images experiments are pinned to).
//!
//! Endpoints are found as Google's clients find them: `BIGQUERY_EMULATOR_HOST` and
//! `STORAGE_EMULATOR_HOST` (`http://HOST:PORT`) switch to an emulator, without credentials.
//! Both types are synchronous facades over a private tokio runtime, as the traits they
//! implement are synchronous (see `docs/ARCHITECTURE.md`).

pub mod auth;
mod bigquery;
mod cloud;
mod gcs;
mod retry;
mod values;
pub mod webhook;

pub use auth::{AuthError, Credentials};
pub use bigquery::{BigQueryConfig, BigQueryWarehouse};
pub use cloud::{ArtifactPath, ArtifactRegistry, GoogleApis};
pub use gcs::{GcsBucket, GcsConfig};
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
pub(crate) fn normalize_endpoint(value: &str) -> Option<String> {
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

/// A multi-threaded runtime for one facade (two workers: the work is waiting on HTTP).
pub(crate) fn runtime(what: &str) -> std::io::Result<tokio::runtime::Runtime> {
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
