//! Jetstream analysis configs in metric-hub layout: parse, merge, template, resolve, validate.
//!
//! A metric-hub checkout holds:
//!
//! | path | kind |
//! |---|---|
//! | `jetstream/<slug>.toml` | experiment config ([`spec::AnalysisSpec`]) |
//! | `jetstream/outcomes/<platform>/<slug>.toml` | outcome ([`spec::OutcomeSpec`]) |
//! | `jetstream/defaults/<platform or type>.toml` | defaults ([`spec::AnalysisSpec`]) |
//! | `definitions/<platform>.toml`, `jetstream/definitions/<platform>.toml` | definitions ([`spec::DefinitionSpec`]) |
//! | `definitions/functions.toml`, `jetstream/definitions/functions.toml` | Jinja functions |
//!
//! Reading is two-staged: TOML becomes the raw [`spec`] types (every error names the file, the
//! key path, the value and the line; unknown nested keys are warnings, unknown top-level keys
//! errors), and [`resolve`] turns a spec plus an [`experiment::Experiment`] into a concrete
//! [`resolve::AnalysisConfiguration`]: for every analysis period, the metrics with their data
//! source, rendered SQL, statistics and pre-treatments.
//!
//! This crate does no network IO; [`collection::ConfigCollection::load_dir`] reads local files.
//!
//! ```
//! use jetstream_config::collection::{ConfigCollection, FileKind, parse_file};
//! use jetstream_config::experiment::Experiment;
//! use jetstream_config::resolve::resolve_experiment;
//! use std::path::Path;
//!
//! let mut configs = ConfigCollection::new();
//! configs.add(parse_file(
//!     r#"
//!     [metrics.active_hours]
//!     select_expression = "{{agg_sum('active_hours_sum')}}"
//!     data_source = "clients_daily"
//!     [data_sources.clients_daily]
//!     from_expression = "mozdata.telemetry.clients_daily"
//!     "#,
//!     FileKind::Definitions { platform: "firefox_desktop".into() },
//!     Path::new("definitions/firefox_desktop.toml"),
//! ));
//! configs.add(parse_file(
//!     "[functions.agg_sum]\ndefinition = \"COALESCE(SUM({select_expr}), 0)\"\n",
//!     FileKind::Functions,
//!     Path::new("definitions/functions.toml"),
//! ));
//! let experiment_config = parse_file(
//!     "[metrics]\nweekly = ['active_hours']\n[metrics.active_hours.statistics.bootstrap_mean]\n",
//!     FileKind::Experiment { slug: "my-test".into() },
//!     Path::new("jetstream/my-test.toml"),
//! );
//! configs.add(experiment_config);
//!
//! let start = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
//! let experiment = Experiment::dummy("my-test", "firefox_desktop", start);
//! let resolved = resolve_experiment(&experiment, configs.spec_for_experiment("my-test"), &configs)?;
//! let weekly = &resolved.metrics[&jetstream_config::enums::AnalysisPeriod::Week];
//! assert_eq!(weekly[0].metric.select_expression.as_deref(), Some("COALESCE(SUM(active_hours_sum), 0)"));
//! assert_eq!(weekly[0].statistic.name(), "bootstrap_mean");
//! # Ok::<(), jetstream_config::error::ConfigError>(())
//! ```

pub mod collection;
pub mod enums;
pub mod error;
pub mod experiment;
mod json;
pub mod platform;
pub mod resolve;
pub mod spec;
pub mod statistic;
pub mod template;
mod tree;
pub mod validate;

pub use collection::ConfigCollection;
pub use error::{ConfigError, ErrorKind};
