//! The daily job of jetstream as a library.
//!
//! Everything around one analysis: select the experiments of a date
//! ([`Job::run_daily`]), resolve their configs, analyse experiments × dates, export the JSON
//! files, rerun (delete, then analyse every date: [`Job::rerun`], the reference's date rule in
//! [`Job::rerun_dates`]), ensure enrollments, and open the warehouse a spec names
//! ([`WarehouseSpec`]); on Argo, the same selections become one workflow (`argo`). The warehouse, the output sink, the experiment source and the config
//! source are traits ([`jetstream_warehouse::Warehouse`], [`jetstream_output::OutputSink`],
//! [`ExperimentSource`], [`ConfigSource`]), so the CLI, an Argo pod and another Rust tool run
//! the very same code; `examples/daily.rs` shows the whole API in a few lines.
//!
//! ```no_run
//! use jetstream_job::{ConfigSource, ExperimentSource, ExperimentsFile, Job, JobOptions,
//!     ConfigRepoSources, Quiet, WarehouseSpec};
//! let warehouse = WarehouseSpec::new("duckdb:jetstream.duckdb").open()?;
//! let configs = ConfigRepoSources::folders(&["metric-hub"]).configs()?;
//! let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 28).unwrap();
//! let experiments = ExperimentsFile("experiments.json".into()).experiments(&[], date)?;
//! let job = Job::new(warehouse.as_ref(), configs, JobOptions::default())?;
//! let report = job.run_daily(&experiments, date, &[], &Quiet);
//! assert!(report.success());
//! # Ok::<(), jetstream_job::JobError>(())
//! ```

pub mod alert;
#[cfg(feature = "argo")]
pub mod argo;
mod builder;
mod changes;
mod cost;
mod daily;
mod dry_run;
mod exports;
mod job;
mod preview;
mod report;
pub mod reruns;
#[cfg(feature = "simulate")]
pub mod simulate;
mod sources;
pub mod spool;
pub mod statistics;
pub mod validate;
mod warehouse_spec;

// Backends are features: `duckdb` (default), `bigquery`, `gcs`, `argo`, and `http` (default:
// the Experimenter API client and webhook alerts). `WarehouseSpec` opens the schemes of the
// backends enabled ([`Registry`]).

pub use builder::{JobBuilder, OpenedJob};
pub use changes::{ConfigChange, ConfigChanges};
pub use cost::{CostReport, TableCost};
pub use daily::{DailyOptions, MAX_CATCH_UP_DAYS, Plan, PlanItem};
pub use dry_run::QueryCheck;
pub use jetstream_analysis::partials::{DEFAULT_LOOKBACK, PartialsOptions};
pub use jetstream_analysis::{Enrollments, NoProgress, Progress, RunOptions, RunReport};
#[cfg(feature = "argo")]
pub use jetstream_argo::{
    ExperimentItem, ImageChoice, ImageRegistry, RUN_TEMPLATE, WorkflowParams,
    render as render_workflow, to_yaml as workflow_yaml,
};
#[cfg(feature = "bigquery")]
pub use jetstream_bigquery::BigQueryWarehouse;
pub use jetstream_config::ConfigCollection;
pub use jetstream_config::enums::AnalysisPeriod;
#[cfg(feature = "duckdb")]
pub use jetstream_duckdb::DuckDbWarehouse;
#[cfg(feature = "http")]
pub use jetstream_experimenter::client::DEFAULT_BASE_URL as DEFAULT_EXPERIMENTER_URL;
pub use jetstream_experimenter::select::{Decision, with_slug};
pub use jetstream_experimenter::{MAX_PAYLOAD_BYTES, Parsed, parse_recipes};
#[cfg(feature = "gcs")]
pub use jetstream_gcs::GcsBucket;
pub use jetstream_output::{LocalFolder, OutputError, OutputSink};
pub use jetstream_report::{Report, render as render_report};
pub use jetstream_repos::{ConfigRepos, Location, METRIC_HUB_REPO, RepoOptions, RepoSpec};
pub use jetstream_sql::alias::{AliasError, ProjectAlias, ProjectAliases};
pub use jetstream_stats::{Comparison, Row};
pub use jetstream_warehouse::QueryUsage;
pub use jetstream_warehouse::{
    Column, Columns, ExceptionType, LogLevel, TableName, TableReads, Warehouse, WarehouseError,
};
pub use job::{
    Event, Job, JobOptions, JobReport, Observer, Outcome, Quiet, delete_experiment_tables,
    experiment_tables, selection,
};
pub use preview::{Preview, PreviewOptions};
pub use report::write_report;
#[cfg(feature = "http")]
pub use sources::ExperimenterApi;
pub use sources::{
    ConfigHistory, ConfigRepoSources, ConfigSource, ExperimentSource, ExperimentsFile,
    custom_config,
};
pub use warehouse_spec::{Backend, DEFAULT_PROJECT, OpenFn, Registry, WarehouseSpec, open_sink};

/// A boxed error from a library the job composes (the Experimenter client, a recipe parser,
/// a backend), kept as the [`std::error::Error::source`] of a [`JobError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the job could not start or an experiment could not be prepared. Each variant names what
/// it concerns (a file, an option, an experiment's config) and keeps the cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// An option (of the command line, or of a library call) is unusable, or options conflict.
    #[error("{option}: {message}")]
    Option {
        /// The option (`--config-file`, `--bucket b and --output-dir d`).
        option: String,
        /// What is wrong.
        message: String,
    },
    /// A config (a file, a repository, an experiment's resolved config) is unusable.
    #[error("{what}: {message}")]
    Config {
        /// Which config (`the config of my-slug`, a file).
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A config repository could not be cloned, fetched or read.
    #[error("{what}: {source}")]
    Repo {
        /// What was asked of it.
        what: String,
        /// git's or the file system's error.
        #[source]
        source: jetstream_repos::RepoError,
    },
    /// Experiments could not be fetched or read (the Experimenter API, a recipes file).
    #[error("{what}: {source}")]
    Fetch {
        /// Where from (`Experimenter at URL`, a file).
        what: String,
        /// The client's or the parser's error.
        #[source]
        source: BoxError,
    },
    /// A file or folder could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// The file and what was done to it.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A warehouse or an output sink could not be opened (or set up: memory limit, Parquet
    /// folder).
    #[error("{what}: {source}")]
    Open {
        /// What (`warehouse duckdb:x.duckdb`, `--bucket b`).
        what: String,
        /// The backend's error.
        #[source]
        source: BoxError,
    },
    /// An alert could not be delivered.
    #[error("{what}: {source}")]
    Notify {
        /// Where to (`--notify`).
        what: String,
        /// The delivery's error.
        #[source]
        source: BoxError,
    },
    /// An input file's data is unusable (a CSV file's cells, a missing column).
    #[error("{what}: {message}")]
    Data {
        /// The file.
        what: String,
        /// What is wrong, with the line and column when known.
        message: String,
    },
    /// A statistic could not be computed.
    #[error("{what}: {source}")]
    Stats {
        /// Which (`bootstrap_mean on active_hours`).
        what: String,
        /// The statistics' error.
        #[source]
        source: jetstream_stats::StatsError,
    },
    /// The job's own machinery (its thread pool) could not start.
    #[error("{what}: {message}")]
    Runtime {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] OutputError),
    /// The Kubernetes cluster refused or failed a call.
    #[cfg(feature = "argo")]
    #[error(transparent)]
    Cluster(Box<jetstream_argo::ClusterError>),
    /// An image for the workflow could not be chosen.
    #[cfg(feature = "argo")]
    #[error("{what}: {message}")]
    Image {
        /// Which image (`the image of my-slug`).
        what: String,
        /// Why.
        message: String,
    },
    /// The workflow could not be rendered.
    #[cfg(feature = "argo")]
    #[error(transparent)]
    Workflow(#[from] jetstream_argo::ArgoError),
    /// A cloud service around the cluster (Google's APIs, the image registry) failed.
    #[cfg(feature = "argo")]
    #[error(transparent)]
    Cloud(#[from] jetstream_argo::CloudError),
}

#[cfg(feature = "argo")]
impl From<jetstream_argo::ClusterError> for JobError {
    fn from(e: jetstream_argo::ClusterError) -> Self {
        Self::Cluster(Box::new(e))
    }
}
