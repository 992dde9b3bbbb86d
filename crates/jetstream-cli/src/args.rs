//! Options shared by several commands, in the reference's spellings (kebab-case, with the
//! snake_case ones as aliases), and their conversion to the job library's types.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use jetstream_job::AnalysisPeriod;
use jetstream_job::{
    ConfigRepoSources, ConfigRepos, ExperimentSource, ExperimenterApi, ExperimentsFile,
    ProjectAlias, ProjectAliases, RepoOptions, RunOptions, TableName, WarehouseSpec,
};

/// Yesterday in UTC: the last day with complete data.
pub(crate) fn yesterday() -> NaiveDate {
    chrono::Utc::now().date_naive() - chrono::Duration::days(1)
}

/// A point in time in UTC: `YYYY-MM-DD` (its start), `YYYY-MM-DD HH:MM:SS`, or RFC 3339
/// (`2026-12-07T04:00:00Z`, Argo's `{{workflow.creationTimestamp}}`).
pub(crate) fn since_time(s: &str) -> Result<chrono::NaiveDateTime, String> {
    let s = s.trim();
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN));
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Ok(t);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.naive_utc())
        .map_err(|_| {
            format!(
                "expected YYYY-MM-DD, YYYY-MM-DD HH:MM:SS or an RFC 3339 time \
                 (2026-12-07T04:00:00Z), got {s:?}"
            )
        })
}

/// The reference's group options (`jetstream [GROUP OPTIONS] COMMAND`), accepted before or
/// after the command.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct LogArgs {
    /// Project of the monitoring logs table; default: the results project (the reference's
    /// `moz-fx-data-experiments` by default). On BigQuery it must be the results project; on
    /// DuckDB every dataset lives in the one results database.
    #[arg(long, alias = "log_project_id", global = true, value_name = "PROJECT")]
    pub(crate) log_project_id: Option<String>,
    /// Dataset of the monitoring logs table.
    #[arg(
        long,
        alias = "log_dataset_id",
        global = true,
        default_value = "monitoring",
        value_parser = sql_name
    )]
    pub(crate) log_dataset_id: String,
    /// The monitoring logs table.
    #[arg(long, alias = "log_table_id", global = true, default_value = "logs",
          value_parser = sql_name)]
    pub(crate) log_table_id: String,
    /// Write errors and warnings as rows of the monitoring logs table, on whichever warehouse
    /// is configured. On by default here (the errors export reads them); the reference needs
    /// this flag.
    #[arg(
        long,
        alias = "log_to_bigquery",
        global = true,
        overrides_with = "no_log_to_bigquery"
    )]
    pub(crate) log_to_bigquery: bool,
    /// Do not write log rows to the monitoring table.
    #[arg(long, alias = "no_log_to_bigquery", global = true)]
    pub(crate) no_log_to_bigquery: bool,
    /// `source` of the log rows.
    #[arg(long, alias = "log_source", global = true, default_value = "jetstream",
          value_parser = ["jetstream", "sizing", "jetstream-preview", "jetstream-testing"])]
    pub(crate) log_source: String,
    /// The reference's task-profiling table (its plugins are disabled; accepted, unused).
    #[arg(
        long,
        alias = "task_profiling_log_table_id",
        global = true,
        hide = true,
        default_value = "task_profiling_logs"
    )]
    pub(crate) task_profiling_log_table_id: String,
    /// The reference's task-monitoring table (accepted, unused).
    #[arg(
        long,
        alias = "task_monitoring_log_table_id",
        global = true,
        hide = true,
        default_value = "task_monitoring_logs"
    )]
    pub(crate) task_monitoring_log_table_id: String,
}

impl LogArgs {
    /// The defaults, for tests.
    #[cfg(test)]
    pub(crate) fn default_for_tests() -> Self {
        Self {
            log_project_id: None,
            log_dataset_id: "monitoring".into(),
            log_table_id: "logs".into(),
            log_to_bigquery: false,
            no_log_to_bigquery: false,
            log_source: "jetstream".into(),
            task_profiling_log_table_id: "task_profiling_logs".into(),
            task_monitoring_log_table_id: "task_monitoring_logs".into(),
        }
    }

    /// The logs table, `None` when logging to it is turned off.
    pub(crate) fn table(&self) -> anyhow::Result<Option<TableName>> {
        if self.no_log_to_bigquery {
            return Ok(None);
        }
        Ok(Some(
            TableName::new(&self.log_dataset_id, &self.log_table_id)
                .context("--log-dataset-id/--log-table-id")?,
        ))
    }
}

/// Where results live.
#[derive(Debug, clap::Args)]
pub(crate) struct WarehouseArgs {
    /// The warehouse: `duckdb:PATH`, `duckdb::memory:`, or `bigquery:PROJECT` (BigQuery with
    /// Application Default Credentials, or the emulator named by `BIGQUERY_EMULATOR_HOST`).
    #[arg(
        long,
        value_name = "duckdb:PATH|bigquery:PROJECT",
        default_value = "duckdb:jetstream.duckdb",
        env = "JETSTREAM_WAREHOUSE"
    )]
    pub(crate) warehouse: String,
    /// Results project (the DuckDB catalog name of the results database).
    #[arg(long, alias = "project_id", default_value = jetstream_job::DEFAULT_PROJECT)]
    pub(crate) project_id: String,
    /// Telemetry as Parquet, laid out `DIR/<project>/<dataset>/<table>.parquet` (or a folder of
    /// parts `DIR/<project>/<dataset>/<table>/*.parquet`), read as `<project>.<dataset>.<table>`.
    #[arg(long, value_name = "DIR", env = "JETSTREAM_DATA")]
    pub(crate) data: Option<PathBuf>,
    /// Memory DuckDB may use before spilling to disk, e.g. `2GB` (default: DuckDB's, 80% of
    /// the machine's memory).
    #[arg(long, value_name = "SIZE", env = "JETSTREAM_MEMORY_LIMIT", value_parser = memory_size)]
    pub(crate) memory_limit: Option<String>,
    /// Read project FROM's tables and routines from project TO (BigQuery), e.g.
    /// `mozfun=my-udfs` or `moz-fx-data-shared-prod=my-telemetry`; repeatable.
    #[arg(
        long = "project-alias",
        alias = "project_alias",
        value_name = "FROM=TO"
    )]
    pub(crate) project_aliases: Vec<ProjectAlias>,
    /// BigQuery: fail any query that would bill more than this many bytes.
    #[arg(long, alias = "maximum_bytes_billed", value_name = "BYTES")]
    pub(crate) maximum_bytes_billed: Option<u64>,
}

/// A memory size as DuckDB takes it (`512MB`, `2GB`, `1.5GiB`); the error names the variable
/// too, since the value may come from the environment.
pub(crate) fn memory_size(s: &str) -> Result<String, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let unit = unit.trim().to_ascii_uppercase();
    let units = ["", "B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB"];
    match number.parse::<f64>() {
        Ok(n) if n > 0.0 && units.contains(&unit.as_str()) => Ok(t.to_string()),
        _ => Err(format!(
            "expected a size like 512MB or 2GB (from --memory-limit or JETSTREAM_MEMORY_LIMIT), got {s:?}"
        )),
    }
}

/// A number of statistics threads; the error names the variable too.
pub(crate) fn thread_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "expected a whole number of threads from 0 (every CPU) to {MAX_THREADS} (from \
             --processes or JETSTREAM_PROCESSES), got {s:?}"
        )),
    }
}

/// A dataset or table name as BigQuery accepts them and SQL can take unquoted: letters,
/// digits and `_`, at most 1024 characters (`--dataset-id`, `--log-dataset-id`,
/// `--log-table-id`), checked before anything runs.
pub(crate) fn sql_name(s: &str) -> Result<String, String> {
    if !s.is_empty() && s.len() <= 1024 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        Ok(s.to_string())
    } else {
        Err(format!(
            "expected letters, digits and '_' (at most 1024), got {:?}",
            s.chars().take(80).collect::<String>()
        ))
    }
}

/// The most statistics threads (`--processes`): beyond, threads only contend.
pub(crate) const MAX_THREADS: usize = 256;

/// A non-negative, finite number (TiB thresholds).
pub(crate) fn non_negative(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a number of at least 0, got {s:?}")),
    }
}

impl WarehouseArgs {
    /// The arguments for `--warehouse url` and nothing else.
    pub(crate) fn with_url(url: &str) -> Self {
        Self {
            warehouse: url.to_string(),
            project_id: jetstream_job::DEFAULT_PROJECT.into(),
            data: None,
            memory_limit: None,
            project_aliases: Vec::new(),
            maximum_bytes_billed: None,
        }
    }

    pub(crate) fn spec(&self) -> anyhow::Result<WarehouseSpec> {
        Ok(WarehouseSpec {
            url: self.warehouse.clone(),
            project: self.project_id.clone(),
            aliases: ProjectAliases::new(self.project_aliases.clone())
                .context("--project-alias")?,
            maximum_bytes_billed: self.maximum_bytes_billed,
            data: self.data.clone(),
            memory_limit: self.memory_limit.clone(),
            read_only: false,
        })
    }

    /// The spec of a command that only reads the warehouse: an existing DuckDB file, opened
    /// read-only (a mistyped path is an error, not a new empty database).
    pub(crate) fn read_only_spec(&self) -> anyhow::Result<WarehouseSpec> {
        Ok(WarehouseSpec {
            read_only: true,
            ..self.spec()?
        })
    }

    /// Refuse a logs table in another project than BigQuery's results project: the log rows
    /// and the errors export go through the results warehouse.
    pub(crate) fn check_log_project(&self, log: &LogArgs) -> anyhow::Result<()> {
        let spec = self.spec()?;
        if let Some(project) = &log.log_project_id
            && spec.url.starts_with("bigquery:")
            && !log.no_log_to_bigquery
            && project != spec.results_project()
        {
            bail!(
                "--log-project-id {project} differs from the results project {}: the monitoring \
                 table must be in the results project (or pass --no-log-to-bigquery)",
                spec.results_project()
            );
        }
        Ok(())
    }
}

/// Where experiments come from: the Experimenter API or a local JSON file.
#[derive(Debug, clap::Args)]
pub(crate) struct SourceArgs {
    /// Experimenter base URL.
    #[arg(long, alias = "api_url", value_name = "URL", conflicts_with = "experiments_file",
          default_value = jetstream_job::DEFAULT_EXPERIMENTER_URL, env = "JETSTREAM_API_URL")]
    pub(crate) api_url: String,
    /// Read experiments from a JSON file (one recipe or an array) instead of the API.
    #[arg(
        long,
        alias = "experiments_file",
        value_name = "FILE.json",
        env = "JETSTREAM_EXPERIMENTS_FILE"
    )]
    pub(crate) experiments_file: Option<PathBuf>,
    /// Timeout of each API request, in seconds (1 to 3600).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub(crate) api_timeout: u64,
}

impl SourceArgs {
    pub(crate) fn source(&self) -> Box<dyn ExperimentSource> {
        match &self.experiments_file {
            Some(path) => Box::new(ExperimentsFile(path.clone())),
            None => Box::new(ExperimenterApi::new(
                &self.api_url,
                Duration::from_secs(self.api_timeout),
            )),
        }
    }

    /// The experiments (the API is asked for `slugs` only, when given).
    pub(crate) fn load(
        &self,
        slugs: &[String],
        today: NaiveDate,
    ) -> anyhow::Result<jetstream_job::Parsed> {
        Ok(self.source().experiments(slugs, today)?)
    }
}

/// Config repositories (metric-hub layout).
#[derive(Debug, clap::Args)]
pub(crate) struct ConfigArgs {
    /// Config repositories: local folders (git checkouts or not) or git URLs (cloned into the
    /// config cache; `URL#branch`, and GitHub `…/tree/<branch>/<folder>` URLs, pick a branch).
    /// Several may be given; later ones override earlier ones. Default: metric-hub's public
    /// repository (https://github.com/mozilla/metric-hub).
    #[arg(long = "config-repos", visible_alias = "config-repo",
          aliases = ["config_repos", "config_repo"], value_name = "DIR|URL",
          env = "JETSTREAM_CONFIG_REPOS", value_delimiter = ',')]
    pub(crate) config_repos: Vec<String>,
    /// Private config repositories: loaded last, their experiments' results go to the
    /// `dataset_id` of their config.
    #[arg(
        long,
        alias = "private_config_repos",
        value_name = "DIR|URL",
        env = "JETSTREAM_PRIVATE_CONFIG_REPOS",
        value_delimiter = ','
    )]
    pub(crate) private_config_repos: Vec<String>,
    /// Where clones of git URLs are kept (default: ~/.cache/jetstream/config-repos).
    #[arg(long, value_name = "DIR", env = "JETSTREAM_CONFIG_CACHE")]
    pub(crate) config_cache: Option<PathBuf>,
    /// A cached clone older than this many seconds is fetched again (when the remote cannot be
    /// reached, the cached copy is used with a warning).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 900,
        env = "JETSTREAM_CONFIG_MAX_AGE",
        value_parser = clap::value_parser!(u64).range(0..=31_536_000)
    )]
    pub(crate) config_max_age: u64,
}

impl ConfigArgs {
    pub(crate) fn repos(&self) -> ConfigRepoSources {
        let mut options = RepoOptions {
            max_age: Duration::from_secs(self.config_max_age),
            ..RepoOptions::default()
        };
        if let Some(dir) = &self.config_cache {
            options.cache_dir.clone_from(dir);
        }
        // An empty value (an empty workflow parameter, say) names no repository.
        let given = |v: &[String]| -> Vec<String> {
            v.iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        };
        ConfigRepoSources {
            public: given(&self.config_repos),
            private: given(&self.private_config_repos),
            options,
        }
    }

    /// Open the repositories (cloning or fetching what needs it; an unreachable remote with a
    /// cached copy is logged as a warning).
    pub(crate) fn open(&self) -> anyhow::Result<std::sync::Arc<ConfigRepos>> {
        Ok(std::sync::Arc::new(self.repos().open()?))
    }
}

/// The reference's `--bucket` (`none`/`null` mean no bucket).
#[derive(Debug, clap::Args)]
pub(crate) struct BucketArgs {
    /// GCS bucket of the JSON exports (`none` or `null`: no bucket). Application Default
    /// Credentials, or the emulator named by `STORAGE_EMULATOR_HOST`. A URL names any
    /// object store the build has: `gs://NAME`, `memory://`, and with jetstream-job's features
    /// `aws`/`azure` `s3://BUCKET[/PREFIX]`, `az://CONTAINER[/PREFIX]`.
    #[arg(long, value_name = "NAME")]
    pub(crate) bucket: Option<String>,
}

impl BucketArgs {
    /// The bucket, if any (`none`/`null` are no bucket, as in the reference).
    pub(crate) fn name(&self) -> Option<&str> {
        match self.bucket.as_deref() {
            Some(b) if b.eq_ignore_ascii_case("none") || b.eq_ignore_ascii_case("null") => None,
            other => other,
        }
    }
}

/// Parse analysis periods by name (`week`) or table suffix (`weekly`).
pub(crate) fn periods(names: &[String]) -> anyhow::Result<Option<Vec<AnalysisPeriod>>> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for p in names {
        let period = AnalysisPeriod::ALL
            .iter()
            .find(|x| x.as_str() == p || x.table_suffix() == p)
            .copied()
            .with_context(|| {
                format!(
                    "--analysis-periods: unknown period {p:?} (expected day, week, days28, \
                     overall, preenrollment_week, preenrollment_days28 or cumulative)"
                )
            })?;
        if !out.contains(&period) {
            out.push(period);
        }
    }
    Ok(Some(out))
}

/// The analysis options of `run`, `rerun` and `ensure-enrollments`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalysisArgs {
    #[command(flatten)]
    pub(crate) warehouse: WarehouseArgs,
    #[command(flatten)]
    pub(crate) source: SourceArgs,
    #[command(flatten)]
    pub(crate) configs: ConfigArgs,
    /// Experiments to analyse (Nimbus or Experimenter slug); default: every eligible one.
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    pub(crate) slugs: Vec<String>,
    /// A custom experiment config, merged over the defaults (one experiment slug only).
    #[arg(
        long,
        visible_alias = "i-solemnly-swear-i-am-up-to-no-good",
        alias = "config_file",
        value_name = "FILE.toml"
    )]
    pub(crate) config_file: Option<PathBuf>,
    /// Dataset of the result tables.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis",
          value_parser = crate::args::sql_name)]
    pub(crate) dataset_id: String,
    #[command(flatten)]
    pub(crate) bucket: BucketArgs,
    /// Write the JSON exports (statistics, metadata, errors) into this folder.
    #[arg(
        long,
        alias = "output_dir",
        value_name = "DIR",
        env = "JETSTREAM_OUTPUT_DIR"
    )]
    pub(crate) output_dir: Option<PathBuf>,
    /// Only these periods (repeat the option or separate by commas: day, week, days28,
    /// overall, preenrollment_week, preenrollment_days28, cumulative).
    #[arg(
        long,
        alias = "analysis_periods",
        value_delimiter = ',',
        value_name = "PERIODS"
    )]
    pub(crate) analysis_periods: Vec<String>,
    /// Threads for statistics (default: every CPU; 0 to 256).
    #[arg(long, value_name = "N", env = "JETSTREAM_PROCESSES", value_parser = thread_count)]
    pub(crate) processes: Option<usize>,
    /// `run`, `rerun`: analyse up to N experiment-dates at once on this machine (each
    /// experiment's first date first; DuckDB's memory stays bounded by `--memory-limit`;
    /// 1 to 64).
    #[arg(long, value_name = "N", default_value_t = 1, env = "JETSTREAM_PARALLEL",
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) parallel: u16,
    /// Replace the enrollments tables.
    #[arg(long, alias = "recreate_enrollments")]
    pub(crate) recreate_enrollments: bool,
    /// One metrics table per data source (the default).
    #[arg(
        long,
        alias = "discrete_metrics",
        overrides_with = "no_discrete_metrics"
    )]
    pub(crate) discrete_metrics: bool,
    /// One metrics query per (period, basis) instead of one per data source.
    #[arg(
        long,
        alias = "no_discrete_metrics",
        overrides_with = "discrete_metrics"
    )]
    pub(crate) no_discrete_metrics: bool,
    /// Recompute the statistics from the metric tables already in the warehouse, issuing no
    /// metric query (takes a value, as the reference: `--statistics-only=true`).
    #[arg(long, visible_aliases = ["stats-only", "skip-metrics"],
          aliases = ["statistics_only", "stats_only", "skip_metrics"], value_name = "BOOL",
          num_args = 1, default_value = "false",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) statistics_only: bool,
    /// Only these metrics (repeatable): their metric columns and statistics rows are
    /// recomputed, every other metric's rows are kept as they are.
    #[arg(long, alias = "metric_slug", value_name = "SLUG")]
    pub(crate) metric_slug: Vec<String>,
    /// Write every generated query to `<destination table>.sql` in this folder.
    #[arg(long, alias = "sql_output_dir", value_name = "DIR")]
    pub(crate) sql_output_dir: Option<PathBuf>,
    /// Use Glean client ids for desktop enrollments (the reference's `--use-glean-ids`).
    #[arg(long, visible_alias = "glean-only", aliases = ["use_glean_ids", "glean_only"])]
    pub(crate) use_glean_ids: bool,
    /// Seed of the resampling statistics.
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Scan every window's days of telemetry, as the reference does, instead of building the
    /// decomposable metrics' windows from daily per-client partials.
    #[arg(long, alias = "full_scan")]
    pub(crate) full_scan: bool,
    /// Recompute the partials of the newest day read and of this many days before it on each
    /// run (rows that arrive late are picked up).
    #[arg(long, value_name = "DAYS", default_value_t = jetstream_job::DEFAULT_LOOKBACK,
          conflicts_with = "full_scan")]
    pub(crate) lookback: u32,
    /// Write what the run read, per table, as JSON: `{"source_rows_read", "source_bytes_read",
    /// "tables": [{"table", "rows_read", "bytes_read", "queries"}], "own_tables": [...]}`.
    #[arg(long, alias = "cost_report", value_name = "FILE")]
    pub(crate) cost_report: Option<PathBuf>,
}

impl AnalysisArgs {
    /// `Some(flag)` when `--discrete-metrics` or `--no-discrete-metrics` was given.
    pub(crate) fn explicit_discrete(&self) -> Option<bool> {
        (self.discrete_metrics || self.no_discrete_metrics).then_some(!self.no_discrete_metrics)
    }

    /// The run options these arguments describe.
    pub(crate) fn run_options(&self, log: &LogArgs) -> anyhow::Result<RunOptions> {
        Ok(RunOptions {
            dataset: self.dataset_id.clone(),
            periods: periods(&self.analysis_periods)?,
            discrete: !self.no_discrete_metrics,
            recreate_enrollments: self.recreate_enrollments,
            seed: self.seed,
            source: log.log_source.clone(),
            statistics_only: self.statistics_only,
            metric_slugs: (!self.metric_slug.is_empty()).then(|| self.metric_slug.clone()),
            sql_output_dir: self.sql_output_dir.clone(),
            use_glean_ids: self.use_glean_ids,
            only_missing: false,
            partials: (!self.full_scan).then(|| jetstream_job::PartialsOptions::new(self.lookback)),
        })
    }
}
