//! Experimenter: which experiments exist, with which branches, dates and platform.
//!
//! - [`recipe`]: Experimenter payloads (v8 API / Nimbus recipes, legacy v1) →
//!   [`jetstream_config::experiment::Experiment`], pure.
//! - [`select`]: the daily selection rule and rerun dates, pure.
//! - `client` (feature `client`, on by default): the HTTP client (reqwest + tokio) with
//!   timeouts and retries.
//!
//! ```
//! let recipe = r#"{"slug": "my-exp", "appName": "fenix", "appId": "org.mozilla.firefox",
//!   "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
//!   "startDate": "2024-01-01", "endDate": null, "proposedEnrollment": 7,
//!   "referenceBranch": "control",
//!   "bucketConfig": {"randomizationUnit": "nimbus_id", "namespace": "n", "start": 0, "count": 100, "total": 10000}}"#;
//! let today = chrono::NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
//! let experiments = jetstream_experimenter::recipe::parse_recipes(recipe, today)?;
//! assert_eq!(experiments[0].normandy_slug, "my-exp");
//! assert_eq!(experiments[0].status.as_deref(), Some("Live"));
//! # Ok::<(), jetstream_experimenter::recipe::RecipeError>(())
//! ```

#[cfg(feature = "client")]
pub mod client;
pub mod recipe;
pub mod select;

pub use recipe::{Parsed, RecipeError, parse_payload, parse_recipes};

/// The largest payload of recipes read, from the API or a file (Experimenter's whole v8 list
/// is a few tens of MB): beyond, the read is refused with the size instead of exhausting
/// memory.
pub const MAX_PAYLOAD_BYTES: u64 = 512 << 20;
