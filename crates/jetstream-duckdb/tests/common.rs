//! Fixtures shared by the integration tests.

use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDate;
use jetstream_config::ConfigCollection;

/// The metric-hub snapshot vendored in `fixtures/`, loaded once per test binary.
pub(crate) fn configs() -> &'static ConfigCollection {
    static C: OnceLock<ConfigCollection> = OnceLock::new();
    C.get_or_init(|| {
        ConfigCollection::load_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub"),
        )
        .expect("metric-hub")
    })
}

/// `YYYY-MM-DD` to a date.
pub(crate) fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}
