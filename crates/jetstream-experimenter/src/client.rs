//! The Experimenter v8 API client: timeouts, retries with exponential backoff, clear errors.
//!
//! `GET {base}/api/v8/experiments/` returns an array of recipes; `GET
//! {base}/api/v8/experiments/{slug}/` one recipe. Every request carries `User-Agent: jetstream`
//! and a per-request timeout. Connection errors, timeouts, 429 and 5xx are retried with
//! exponential backoff; other 4xx are not (404 on a slug is [`FetchError::NotFound`]). A recipe
//! that cannot be read is reported with its slug and skipped; the others are returned.

use std::time::Duration;

use chrono::NaiveDate;

use crate::recipe::{Parsed, RecipeError, parse_payload};

/// The public Experimenter host.
pub const DEFAULT_BASE_URL: &str = "https://experimenter.services.mozilla.com";

/// Client settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL, without `/api/...`.
    pub base_url: String,
    /// Timeout of each request (connect + body).
    pub timeout: Duration,
    /// Attempts per request (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubles after each retry.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
    /// The largest answer read (default [`crate::MAX_PAYLOAD_BYTES`]): beyond, the request
    /// fails with the size instead of buffering it.
    pub max_bytes: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: Duration::from_secs(30),
            attempts: 3,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_bytes: crate::MAX_PAYLOAD_BYTES,
        }
    }
}

/// Why experiments could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server did not answer in time.
    #[error("GET {url}: no response within {timeout:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// The connection failed.
    #[error("GET {url}: connection failed: {message}")]
    Connection {
        /// The URL.
        url: String,
        /// The transport's message.
        message: String,
    },
    /// The experiment does not exist.
    #[error("experiment {slug:?} not found (GET {url} answered 404)")]
    NotFound {
        /// The slug asked for.
        slug: String,
        /// The URL.
        url: String,
    },
    /// The answer is larger than [`crate::MAX_PAYLOAD_BYTES`].
    #[error("GET {url}: the answer is {size} bytes or more: at most {limit} are read")]
    TooLarge {
        /// The URL.
        url: String,
        /// Its size, or what was read before giving up.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// An HTTP error status.
    #[error("GET {url}: HTTP {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The body is not a recipe payload.
    #[error("GET {url}: {source}")]
    Payload {
        /// The URL.
        url: String,
        /// The parse error.
        source: RecipeError,
    },
    /// Every attempt failed; the last error is kept.
    #[error("gave up after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: Box<FetchError>,
    },
    /// A slug that cannot stand for one path segment (empty, `.` or `..`).
    #[error("{slug:?} is not an experiment slug")]
    InvalidSlug {
        /// The slug asked for.
        slug: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl FetchError {
    fn retryable(&self) -> bool {
        match self {
            FetchError::Timeout { .. } | FetchError::Connection { .. } => true,
            FetchError::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// Experimenter API client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    /// `config.base_url`, parsed.
    base: url::Url,
}

impl Client {
    /// A client for `config`.
    pub fn new(config: ClientConfig) -> Result<Self, FetchError> {
        // One process-wide crypto provider for rustls; installing twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = url::Url::parse(&config.base_url).map_err(|e| {
            FetchError::Client(format!("invalid base URL {:?}: {e}", config.base_url))
        })?;
        if base.cannot_be_a_base() {
            return Err(FetchError::Client(format!(
                "invalid base URL {:?}: not a hierarchical URL",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .user_agent("jetstream")
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .build()
            .map_err(|e| FetchError::Client(e.to_string()))?;
        Ok(Self { http, config, base })
    }

    /// The base URL followed by `segments`, each percent-encoded as one path segment, and a
    /// trailing slash. A base URL with a path (`https://host/prefix`) keeps it, with or
    /// without its trailing slash.
    fn url(&self, segments: &[&str]) -> String {
        let mut url = self.base.clone();
        // `new` rejected the URLs without path segments (`mailto:...`), so this always holds.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments).push("");
        }
        url.into()
    }

    async fn get_once(&self, url: &str) -> Result<(u16, String), FetchError> {
        let classify = |e: reqwest::Error| {
            if e.is_timeout() {
                FetchError::Timeout {
                    url: url.to_string(),
                    timeout: self.config.timeout,
                }
            } else {
                FetchError::Connection {
                    url: url.to_string(),
                    message: error_chain(&e),
                }
            }
        };
        let mut resp = self.http.get(url).send().await.map_err(classify)?;
        let status = resp.status().as_u16();
        // Read in chunks up to the limit: an endless or huge answer is refused, not buffered.
        let limit = self.config.max_bytes;
        let too_big = |size: u64| FetchError::TooLarge {
            url: url.to_string(),
            size,
            limit,
        };
        if let Some(size) = resp.content_length().filter(|n| *n > limit) {
            return Err(too_big(size));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(classify)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(too_big(bytes.len() as u64));
            }
        }
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }

    /// GET with retries (exponential backoff on timeouts, connection errors, 429 and 5xx);
    /// returns the body of a 2xx response.
    async fn get(&self, url: &str, slug: Option<&str>) -> Result<String, FetchError> {
        use backon::Retryable as _;
        let attempts = self.config.attempts.max(1);
        let once = || async {
            match self.get_once(url).await? {
                (status, body) if (200..300).contains(&status) => Ok(body),
                (404, _) if slug.is_some() => Err(FetchError::NotFound {
                    slug: slug.unwrap_or_default().to_string(),
                    url: url.to_string(),
                }),
                (status, body) => Err(FetchError::Status {
                    url: url.to_string(),
                    status,
                    body: body.chars().take(200).collect(),
                }),
            }
        };
        let backoff = backon::ExponentialBuilder::new()
            .with_min_delay(self.config.initial_backoff)
            .with_max_delay(self.config.max_backoff)
            .with_max_times(attempts as usize - 1);
        once.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(FetchError::retryable)
            .notify(|e, wait| {
                tracing::warn!(%url, error = %e, ?wait, "Experimenter request failed; retrying");
            })
            .await
            .map_err(|e| {
                if e.retryable() {
                    // a failure that may pass, on the last attempt
                    FetchError::RetriesExhausted {
                        attempts,
                        last: Box::new(e),
                    }
                } else {
                    e
                }
            })
    }

    /// All experiments; recipes that cannot be read are in [`Parsed::rejected`] (and logged).
    pub async fn experiments(&self, today: NaiveDate) -> Result<Parsed, FetchError> {
        let url = self.url(&["api", "v8", "experiments"]);
        let body = self.get(&url, None).await?;
        let parsed =
            parse_payload(&body, today).map_err(|source| FetchError::Payload { url, source })?;
        for (slug, reason) in &parsed.rejected {
            tracing::warn!(experiment = %slug, %reason, "skipping an unreadable Experimenter recipe");
        }
        Ok(parsed)
    }

    /// One experiment by slug.
    pub async fn experiment(&self, slug: &str, today: NaiveDate) -> Result<Parsed, FetchError> {
        // URL parsers drop `.` and `..` segments, which would ask for another resource.
        if matches!(slug, "" | "." | "..") {
            return Err(FetchError::InvalidSlug {
                slug: slug.to_string(),
            });
        }
        let url = self.url(&["api", "v8", "experiments", slug]);
        let body = self.get(&url, Some(slug)).await?;
        parse_payload(&body, today).map_err(|source| FetchError::Payload { url, source })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Blocking wrapper for callers without an async runtime.
pub fn fetch_blocking(
    config: ClientConfig,
    slugs: &[String],
    today: NaiveDate,
) -> Result<Parsed, FetchError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| FetchError::Client(e.to_string()))?;
    runtime.block_on(async {
        let client = Client::new(config)?;
        if slugs.is_empty() {
            return client.experiments(today).await;
        }
        let mut all = Parsed::default();
        for s in slugs {
            match client.experiment(s, today).await {
                Ok(p) => {
                    all.experiments.extend(p.experiments);
                    all.rejected.extend(p.rejected);
                }
                // An unknown slug is reported and the others are still fetched.
                Err(FetchError::NotFound { slug, .. }) => {
                    tracing::warn!(%slug, "slug provided but not found in Experimenter; skipping");
                    all.rejected
                        .push((slug, "not found in Experimenter".into()));
                }
                Err(FetchError::InvalidSlug { slug }) => {
                    tracing::warn!(%slug, "not an experiment slug; skipping");
                    all.rejected.push((slug, "not an experiment slug".into()));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(all)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base_url: &str) -> Client {
        Client::new(ClientConfig {
            base_url: base_url.to_string(),
            ..ClientConfig::default()
        })
        .expect("client")
    }

    #[test]
    fn base_urls_with_or_without_a_trailing_slash() {
        for base in ["https://example.org", "https://example.org/"] {
            assert_eq!(
                client(base).url(&["api", "v8", "experiments"]),
                "https://example.org/api/v8/experiments/"
            );
        }
        for base in [
            "http://127.0.0.1:8080/prefix",
            "http://127.0.0.1:8080/prefix/",
        ] {
            assert_eq!(
                client(base).url(&["api", "v8", "experiments", "my-slug"]),
                "http://127.0.0.1:8080/prefix/api/v8/experiments/my-slug/"
            );
        }
    }

    #[test]
    fn a_slug_is_one_encoded_path_segment() {
        let url =
            client("https://example.org").url(&["api", "v8", "experiments", "a/b?c#d e-é_~.x"]);
        assert_eq!(
            url,
            "https://example.org/api/v8/experiments/a%2Fb%3Fc%23d%20e-%C3%A9_~.x/"
        );
        let parsed = url::Url::parse(&url).expect("url");
        assert_eq!(parsed.query(), None);
        assert_eq!(parsed.fragment(), None);
        let segments: Vec<&str> = parsed.path_segments().expect("segments").collect();
        assert_eq!(
            segments,
            [
                "api",
                "v8",
                "experiments",
                "a%2Fb%3Fc%23d%20e-%C3%A9_~.x",
                ""
            ]
        );
    }

    #[test]
    fn dot_segments_are_not_slugs() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // No server listens there: the slugs are refused before any request.
        let client = client("http://127.0.0.1:9");
        let today = NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
        for slug in ["", ".", ".."] {
            let e = runtime
                .block_on(client.experiment(slug, today))
                .expect_err(slug);
            assert!(matches!(e, FetchError::InvalidSlug { .. }), "{e}");
        }
    }

    #[test]
    fn an_invalid_base_url_is_an_error() {
        for base in [
            "not a url",
            "experimenter.example.org",
            "mailto:someone@example.org",
        ] {
            let e = Client::new(ClientConfig {
                base_url: base.to_string(),
                ..ClientConfig::default()
            })
            .expect_err(base);
            assert!(e.to_string().contains("invalid base URL"), "{e}");
        }
    }
}
