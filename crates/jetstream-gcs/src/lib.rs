//! The GCS output sink: objects of a bucket through the JSON API.
//!
//! * `put`: one single-shot media upload (`POST /upload/storage/v1/b/<bucket>/o?uploadType=media`).
//!   GCS creates the object only once the whole body has arrived, so readers see the previous
//!   object or the new one, never part of it, and a failed upload leaves the previous object.
//! * `get`: `GET /storage/v1/b/<bucket>/o/<name>?alt=media`; `modified`: the object's
//!   `updated` time; `list`: the object listing, page by page.
//!
//! Object names travel percent-encoded as one path segment (`statistics%2Fx.json`). Every
//! request is retried on 408, 429, 5xx, transport errors and timeouts ([`RetryPolicy`]);
//! other answers fail at once with the status and the server's message. Tokens are sent as a
//! bearer header and never logged.
//!
//! Module `store`: [`ObjectStoreSink`], any `object_store` store as a sink (in memory; S3 and
//! Azure behind features `aws` and `azure`), and [`sink_from_url`] (`gs://`, `memory://`,
//! `s3://`, `az://`).

use chrono::{DateTime, Utc};
use jetstream_output::{OutputError, OutputSink, check_key};
use reqwest::StatusCode;
use url::Url;

use jetstream_gcp::retry::{describe, status_message};
pub use jetstream_gcp::{Credentials, RetryPolicy};
pub use store::{ObjectStoreSink, sink_from_url};

mod store;

/// The public GCS endpoint.
const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// Which bucket, where, and how patiently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GcsConfig {
    /// The bucket name (without `gs://`).
    pub bucket: String,
    /// Base URL of the JSON API (`http://127.0.0.1:4443` for an emulator); `None` is Google's,
    /// `https://storage.googleapis.com`.
    pub endpoint: Option<String>,
    /// Retries of every request.
    pub retry: RetryPolicy,
}

impl GcsConfig {
    /// `bucket` at the emulator named by `STORAGE_EMULATOR_HOST`, else at Google; default
    /// retries.
    pub fn from_env(bucket: &str) -> Self {
        Self {
            bucket: bucket.to_string(),
            endpoint: jetstream_gcp::emulator_host(jetstream_gcp::STORAGE_EMULATOR_HOST),
            retry: RetryPolicy::default(),
        }
    }
}

/// A GCS bucket as an [`OutputSink`]: a synchronous facade over a private runtime (from async
/// code, use it inside `tokio::task::spawn_blocking`, as the BigQuery warehouse does).
pub struct GcsBucket {
    bucket: String,
    base: Url,
    retry: RetryPolicy,
    credentials: Credentials,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for GcsBucket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsBucket")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.base.as_str())
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

fn remote(location: impl Into<String>, message: impl Into<String>) -> OutputError {
    OutputError::Remote {
        location: location.into(),
        message: message.into(),
    }
}

/// Bucket names as GCS accepts them: 3 to 222 characters of lowercase letters, digits, `-`,
/// `_` and `.`, starting and ending with a letter or digit.
fn check_bucket(bucket: &str) -> Result<(), OutputError> {
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ok = (3..=222).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && edge_ok(bucket.chars().next())
        && edge_ok(bucket.chars().last());
    if ok {
        Ok(())
    } else {
        Err(remote(
            format!("gs://{bucket}"),
            "invalid bucket name: expected 3-222 lowercase letters, digits, '-', '_' or '.'",
        ))
    }
}

/// The content type of an uploaded object.
fn content_type(key: &str) -> &'static str {
    if key.ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

impl GcsBucket {
    /// A sink writing to `config.bucket` with `credentials` (anonymous: no `Authorization`
    /// header, for emulators).
    pub fn new(config: GcsConfig, credentials: Credentials) -> Result<Self, OutputError> {
        let runtime = jetstream_gcp::runtime("gcs")
            .map_err(|e| remote(format!("gs://{}", config.bucket), e.to_string()))?;
        Self::with_runtime(config, credentials, runtime)
    }

    /// The emulator named by `STORAGE_EMULATOR_HOST` (no credentials) when it is set, else
    /// Google with Application Default Credentials.
    pub fn from_env(bucket: &str) -> Result<Self, OutputError> {
        let config = GcsConfig::from_env(bucket);
        let runtime = jetstream_gcp::runtime("gcs")
            .map_err(|e| remote(format!("gs://{bucket}"), e.to_string()))?;
        let credentials = if config.endpoint.is_some() {
            Credentials::anonymous()
        } else {
            runtime
                .block_on(Credentials::application_default())
                .map_err(|e| remote(format!("gs://{bucket}"), e.to_string()))?
        };
        Self::with_runtime(config, credentials, runtime)
    }

    fn with_runtime(
        config: GcsConfig,
        credentials: Credentials,
        runtime: tokio::runtime::Runtime,
    ) -> Result<Self, OutputError> {
        check_bucket(&config.bucket)?;
        let location = format!("gs://{}", config.bucket);
        let endpoint = config.endpoint.as_deref().unwrap_or(GCS_ENDPOINT);
        let base = Url::parse(endpoint.trim_end_matches('/'))
            .map_err(|e| remote(&location, format!("endpoint {endpoint:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(remote(
                &location,
                format!("endpoint {endpoint:?}: expected an http(s) base URL"),
            ));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.retry.request_timeout)
            .build()
            .map_err(|e| remote(&location, describe(&e)))?;
        tracing::debug!(bucket = %config.bucket, endpoint = %base, ?credentials, "GCS sink");
        Ok(Self {
            bucket: config.bucket,
            base,
            retry: config.retry,
            credentials,
            client,
            runtime,
        })
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `<base>/<segments…>?<query>`, each segment percent-encoded whole (`/` → `%2F`).
    fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            // `with_runtime` checked the base can hold a path.
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Send the request `make` builds (a fresh one per attempt) until it is answered with a
    /// status not worth retrying; returns that status and the body. `location` names what
    /// the request is about in errors and logs.
    async fn call(
        &self,
        location: &str,
        make: &(dyn Fn() -> reqwest::RequestBuilder + Sync),
    ) -> Result<(StatusCode, Vec<u8>), OutputError> {
        jetstream_gcp::retry::send(&self.retry, &self.credentials, location, make)
            .await
            .map_err(|message| remote(location, message))
    }

    /// Create the bucket in `project` (emulators, tests, first set-up); an existing bucket
    /// is fine.
    pub fn create_bucket(&self, project: &str) -> Result<(), OutputError> {
        let location = format!("gs://{}", self.bucket);
        let url = self.url(&["storage", "v1", "b"], &[("project", project)]);
        let body = serde_json::json!({ "name": self.bucket }).to_string();
        let make = || {
            self.client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone())
        };
        let (status, answer) = self.runtime.block_on(self.call(&location, &make))?;
        if status.is_success() || status == StatusCode::CONFLICT {
            Ok(())
        } else {
            Err(remote(location, status_message(status, &answer)))
        }
    }

    /// The body of a GET of `url`; `None` on 404.
    fn get_optional(&self, location: &str, url: Url) -> Result<Option<Vec<u8>>, OutputError> {
        let make = || self.client.get(url.clone());
        let (status, body) = self.runtime.block_on(self.call(location, &make))?;
        match status {
            s if s.is_success() => Ok(Some(body)),
            StatusCode::NOT_FOUND => Ok(None),
            s => Err(remote(location, status_message(s, &body))),
        }
    }
}

impl OutputSink for GcsBucket {
    /// One single-shot media upload: the object appears whole or not at all.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError> {
        check_key(key)?;
        let location = self.location(key);
        let url = self.url(
            &["upload", "storage", "v1", "b", &self.bucket, "o"],
            &[("uploadType", "media"), ("name", key)],
        );
        let make = || {
            self.client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, content_type(key))
                .body(bytes.to_vec())
        };
        let (status, body) = self.runtime.block_on(self.call(&location, &make))?;
        if !status.is_success() {
            return Err(remote(location, status_message(status, &body)));
        }
        tracing::debug!(to = %location, bytes = bytes.len(), "uploaded");
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, OutputError> {
        check_key(key)?;
        let url = self.url(
            &["storage", "v1", "b", &self.bucket, "o", key],
            &[("alt", "media")],
        );
        self.get_optional(&self.location(key), url)
    }

    /// The object's `updated` time (its last upload).
    fn modified(&self, key: &str) -> Result<Option<DateTime<Utc>>, OutputError> {
        check_key(key)?;
        let location = self.location(key);
        let url = self.url(&["storage", "v1", "b", &self.bucket, "o", key], &[]);
        let Some(body) = self.get_optional(&location, url)? else {
            return Ok(None);
        };
        let object: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| remote(&location, format!("object metadata is not JSON: {e}")))?;
        let updated = object
            .get("updated")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| remote(&location, "object metadata without \"updated\""))?;
        DateTime::parse_from_rfc3339(updated)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|e| remote(&location, format!("\"updated\" {updated:?}: {e}")))
    }

    /// Every page of the listing; names that are not valid keys (written by other tools) are
    /// left out, as they could not be read back through this trait.
    fn list(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
        let location = format!("gs://{}/{prefix}*", self.bucket);
        let mut keys = Vec::new();
        let mut page: Option<String> = None;
        loop {
            let mut query = vec![("prefix", prefix)];
            if let Some(token) = &page {
                query.push(("pageToken", token.as_str()));
            }
            let url = self.url(&["storage", "v1", "b", &self.bucket, "o"], &query);
            let make = || self.client.get(url.clone());
            let (status, body) = self.runtime.block_on(self.call(&location, &make))?;
            if !status.is_success() {
                return Err(remote(&location, status_message(status, &body)));
            }
            let listing: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| remote(&location, format!("listing is not JSON: {e}")))?;
            let items = listing.get("items").and_then(serde_json::Value::as_array);
            for item in items.into_iter().flatten() {
                if let Some(name) = item.get("name").and_then(serde_json::Value::as_str)
                    && name.starts_with(prefix)
                    && check_key(name).is_ok()
                {
                    keys.push(name.to_string());
                }
            }
            page = listing
                .get("nextPageToken")
                .and_then(serde_json::Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if page.is_none() {
                break;
            }
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn location(&self, key: &str) -> String {
        format!("gs://{}/{key}", self.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(endpoint: &str) -> GcsBucket {
        GcsBucket::new(
            GcsConfig {
                bucket: "my-bucket".into(),
                endpoint: Some(endpoint.into()),
                retry: RetryPolicy::default(),
            },
            Credentials::anonymous(),
        )
        .expect("bucket")
    }

    #[test]
    fn object_names_are_one_encoded_path_segment() {
        let b = bucket("http://127.0.0.1:4443/");
        assert_eq!(
            b.url(
                &[
                    "storage",
                    "v1",
                    "b",
                    "my-bucket",
                    "o",
                    "statistics/a b+c%.json"
                ],
                &[("alt", "media")]
            )
            .as_str(),
            "http://127.0.0.1:4443/storage/v1/b/my-bucket/o/statistics%2Fa%20b+c%25.json?alt=media"
        );
        assert_eq!(
            b.url(&["upload", "o"], &[("name", "a/b c&d.json")])
                .as_str(),
            "http://127.0.0.1:4443/upload/o?name=a%2Fb+c%26d.json"
        );
        let prefixed = bucket("https://example.test/gcs");
        assert_eq!(
            prefixed.url(&["storage", "v1"], &[]).as_str(),
            "https://example.test/gcs/storage/v1"
        );
        assert_eq!(
            b.location("statistics/a.json"),
            "gs://my-bucket/statistics/a.json"
        );
    }

    #[test]
    fn configs_are_checked() {
        for bad in ["", "ab", "My-Bucket", "-bucket", "bucket-", "a/b"] {
            let err = GcsBucket::new(
                GcsConfig {
                    bucket: bad.into(),
                    endpoint: None,
                    retry: RetryPolicy::default(),
                },
                Credentials::anonymous(),
            )
            .expect_err(bad);
            assert!(err.to_string().contains("invalid bucket name"), "{err}");
        }
        let err = GcsBucket::new(
            GcsConfig {
                bucket: "ok-bucket".into(),
                endpoint: Some("mailto:x@example.test".into()),
                retry: RetryPolicy::default(),
            },
            Credentials::anonymous(),
        )
        .expect_err("not http");
        assert!(err.to_string().contains("http(s)"), "{err}");
    }

    #[test]
    fn error_messages_carry_the_status_and_the_servers_message() {
        let json = br#"{"error":{"code":403,"message":"caller does not have storage.objects.create access"}}"#;
        assert_eq!(
            status_message(StatusCode::FORBIDDEN, json),
            "HTTP 403 Forbidden: caller does not have storage.objects.create access"
        );
        assert_eq!(
            status_message(StatusCode::SERVICE_UNAVAILABLE, b""),
            "HTTP 503 Service Unavailable"
        );
        assert_eq!(
            status_message(StatusCode::NOT_FOUND, b"No such object: b/k"),
            "HTTP 404 Not Found: No such object: b/k"
        );
    }

    #[test]
    fn debug_shows_no_secrets() {
        let b = bucket("http://127.0.0.1:4443");
        let shown = format!("{b:?}");
        assert!(
            shown.contains("my-bucket") && shown.contains("anonymous"),
            "{shown}"
        );
    }
}
