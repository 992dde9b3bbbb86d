//! Integration tests of the config crate over the real metric-hub configs vendored in `fixtures/`.

mod fixtures;
mod golden;
mod negative;
mod properties;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use jetstream_config::ConfigCollection;

/// The real metric-hub checkout shipped with the reference material.
pub(crate) fn metric_hub() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub")
}

/// The loaded collection, shared by the tests.
pub(crate) fn configs() -> &'static ConfigCollection {
    static C: OnceLock<ConfigCollection> = OnceLock::new();
    C.get_or_init(|| {
        let dir = metric_hub();
        assert!(dir.is_dir(), "missing fixture folder {}", dir.display());
        ConfigCollection::load_dir(&dir).expect("load metric-hub")
    })
}
