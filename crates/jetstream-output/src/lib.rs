//! Where jetstream's JSON exports go.
//!
//! [`OutputSink`] is the seam (a local folder by default, a GCS bucket in `jetstream-gcs`);
//! [`LocalFolder`] writes every file atomically (temporary file in the same folder, flushed,
//! then renamed), so a reader never sees half a file and a failed export leaves the previous
//! file in place. [`export`] turns statistics views into the reference's JSON files.
//!
//! With feature `conformance`, module `conformance` holds the behaviour every sink must have,
//! run by each sink's tests through `sink_conformance!`.

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod export;
mod local;
pub mod metadata;
pub mod rows;

pub use local::LocalFolder;
pub use rows::{statistics_columns, statistics_rows};

use chrono::{DateTime, Utc};

/// Why an output could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// A key that is not a plain relative path (`a/b.json`).
    #[error("invalid output key {0:?}: expected a relative path without `..`")]
    InvalidKey(String),
    /// Writing failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// Reading (a file, its modification time, a folder listing) failed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file or folder.
        path: String,
        /// The IO error.
        source: std::io::Error,
    },
    /// A remote store (a GCS bucket) refused or failed a request, after any retries.
    #[error("{location}: {message}")]
    Remote {
        /// The object or listing concerned (`gs://bucket/key`).
        location: String,
        /// What the store answered: the HTTP status and reason, or the transport error.
        message: String,
    },
    /// Reading the warehouse failed.
    #[error("export of {what}: {source}")]
    Warehouse {
        /// The view or table being exported.
        what: String,
        /// The warehouse error.
        source: jetstream_warehouse::WarehouseError,
    },
    /// A statistics table lacks a column the export format needs.
    #[error("export of {what}: {message}")]
    Format {
        /// The view or table being exported.
        what: String,
        /// What is wrong.
        message: String,
    },
}

/// A place that stores exported files under keys like `statistics/statistics_<slug>_weekly.json`.
pub trait OutputSink: Send + Sync {
    /// Store `bytes` under `key`, replacing any previous content atomically: readers see the
    /// previous content or the new one, never part of it.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError>;

    /// The content stored under `key`; `None` when there is none.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, OutputError>;

    /// When `key` was last written; `None` when there is nothing under it.
    fn modified(&self, key: &str) -> Result<Option<DateTime<Utc>>, OutputError>;

    /// The keys starting with `prefix` (a plain string prefix, `""` for all), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, OutputError>;

    /// Where `key` lives, for messages (a path or URL).
    fn location(&self, key: &str) -> String;
}

/// Checks that a key is a relative path of plain components (`a/b.json`: no empty, `.` or
/// `..` component, no leading `/`, no `\`). Every sink refuses other keys with
/// [`OutputError::InvalidKey`].
pub fn check_key(key: &str) -> Result<(), OutputError> {
    let ok = !key.is_empty()
        && !key.starts_with('/')
        && key
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
    if ok {
        Ok(())
    } else {
        Err(OutputError::InvalidKey(key.to_string()))
    }
}
