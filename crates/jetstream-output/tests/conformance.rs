//! The sink conformance suite (`jetstream_output::conformance`) on a local folder.

use chrono::{DateTime, Utc};
use jetstream_output::{LocalFolder, OutputError, OutputSink};

/// A local folder (absent until the first put) in a scratch folder removed when the case
/// ends.
struct Scratch(
    LocalFolder,
    #[allow(dead_code)] jetstream_test_support::Scratch,
);

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
    let scratch = jetstream_test_support::scratch("sink-conformance");
    Box::new(Scratch(LocalFolder::new(scratch.join("out")), scratch))
}

jetstream_output::sink_conformance!(fresh);
