//! Analysis windows, readiness and table names of jetstream analyses (pure).
//!
//! - [`alias`]: `--project-alias FROM=TO`, reading project `FROM`'s tables and routines from `TO`.
//! - [`decompose`]: which metric SQL is rebuilt from daily per-client partials (sqlparser),
//!   and the expression that recombines them.
//! - [`partials`]: daily per-client partials — one scan of a data source's days for every
//!   experiment that reads it — and windows built from them.
//! - [`time_limits`]: mozanalysis `TimeLimits` (`for_ts`, `for_single_analysis_window`).
//! - [`readiness`]: which period's newest window closes on a date, and its index.
//! - [`naming`]: table and view names derived from slugs.
//! - [`preview`]: the generated population of a preview (enrollments sampled from a platform's
//!   active clients).
//! - [`query`]: enrollments, exposures, segments, metrics and per-segment subset SQL
//!   (BigQuery dialect), with slugs escaped and identifiers checked.
//!
//! ```
//! use jetstream_sql::time_limits::TimeLimits;
//! let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
//! let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-03-01"), "weekly", 8)?;
//! assert_eq!(t.analysis_windows.len(), 7);
//! assert_eq!(t.last_date_data_required, d("2019-02-25"));
//! # Ok::<(), jetstream_sql::time_limits::TimeLimitsError>(())
//! ```

pub mod alias;
pub mod decompose;
pub mod naming;
pub mod partials;
pub mod preview;
pub mod query;
pub mod readiness;
pub mod time_limits;

pub use alias::{AliasError, ProjectAlias, ProjectAliases};
