//! The sink conformance suite (`jetstream_output::conformance`) on a local folder.

use chrono::{DateTime, Utc};
use jetstream_output::{LocalFolder, OutputError, OutputSink};

/// A local folder removed when the case ends.
struct Scratch(LocalFolder);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.0.root());
    }
}

impl OutputSink for Scratch {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError> {
        self.0.put(key, bytes)
    }
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, OutputError> {
        self.0.get(key)
    }
    fn modified(&self, key: &str) -> Result<Option<DateTime<Utc>>, OutputError> {
        self.0.modified(key)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
        self.0.list(prefix)
    }
    fn location(&self, key: &str) -> String {
        self.0.location(key)
    }
}

/// A fresh, absent folder per case (cases run in parallel); created by the first put.
fn fresh() -> Box<dyn OutputSink> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "jetstream-sink-conformance-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    Box::new(Scratch(LocalFolder::new(dir)))
}

jetstream_output::sink_conformance!(fresh);
