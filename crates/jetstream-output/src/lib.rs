//! Where jetstream's JSON exports go.
//!
//! [`OutputSink`] is the seam (a local folder by default, GCS later); [`LocalFolder`] writes
//! every file atomically (temporary file in the same folder, flushed, then renamed), so a
//! reader never sees half a file and a failed export leaves the previous file in place.
//! [`export`] turns statistics views into the reference's JSON files.

pub mod export;
mod local;
pub mod metadata;

pub use local::LocalFolder;

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
    /// Store `bytes` under `key`, replacing any previous content atomically.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError>;

    /// Where `key` lives, for messages (a path or URL).
    fn location(&self, key: &str) -> String;
}

/// Checks that a key is a relative path of plain components.
pub(crate) fn check_key(key: &str) -> Result<(), OutputError> {
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
