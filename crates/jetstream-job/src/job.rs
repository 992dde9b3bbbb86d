//! The daily job: experiments × dates over a warehouse, with exports.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use jetstream_analysis::{
    AnalysisError, Enrollments, LogContext, Progress, RunOptions, RunReport, ensure_enrollments,
    error_record, run_analysis,
};
use jetstream_config::ConfigCollection;
use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::{AnalysisConfiguration, resolve_experiment};
use jetstream_config::spec::{AnalysisSpec, ExperimentSpec};
use jetstream_experimenter::Parsed;
use jetstream_experimenter::select::{ConfigOverrides, Decision, daily_selection, with_slug};
use jetstream_output::OutputSink;
use jetstream_sql::naming;
use jetstream_stats::Row;
use jetstream_warehouse::{
    Columns, ExceptionType, LogLevel, LogRecord, QueryUsage, TableMetadata, TableName, Warehouse,
};

use crate::{ConfigHistory, JobError};

/// How the job runs.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// How each analysis runs (dataset, periods, discrete metrics, partial reruns, seed).
    pub run: RunOptions,
    /// The monitoring table that receives log rows; `None`: not written.
    pub log_table: Option<TableName>,
    /// Threads for the statistics (default: every CPU).
    pub processes: Option<usize>,
    /// Where log rows the monitoring table refuses are kept until a later run delivers them
    /// (a folder of this warehouse's: see [`crate::spool`]); `None`: such rows are lost (and
    /// counted as failures).
    pub spool: Option<std::path::PathBuf>,
}

impl Default for JobOptions {
    fn default() -> Self {
        Self {
            run: RunOptions::default(),
            log_table: TableName::new("monitoring", "logs").ok(),
            processes: None,
            spool: None,
        }
    }
}

/// Something that happened during the job, for the caller to show.
#[derive(Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// A requested slug is not among the experiments.
    NotFound {
        /// The slug.
        slug: &'a str,
    },
    /// A recipe could not be read.
    Unreadable {
        /// Its slug.
        slug: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// An experiment is not analysed (on a date, or at all).
    Skipped {
        /// Experiment.
        slug: &'a str,
        /// The date, when the reason is the date's.
        date: Option<NaiveDate>,
        /// Why.
        reason: &'a str,
    },
    /// One analysis (experiment × date) finished; its report lists tables and isolated failures.
    Analysed(&'a RunReport),
    /// An experiment failed (config, enrollments, SQL) on a date or as a whole.
    Failed {
        /// Experiment.
        slug: &'a str,
        /// The date, if the failure is a date's.
        date: Option<NaiveDate>,
        /// The error.
        message: &'a str,
    },
    /// Result tables of an experiment were deleted before a rerun.
    Deleted {
        /// Experiment.
        slug: &'a str,
        /// How many tables and views.
        count: usize,
    },
    /// The enrollments step of `ensure-enrollments`.
    Enrollments {
        /// Experiment.
        slug: &'a str,
        /// What happened.
        outcome: &'a Enrollments,
    },
    /// A file was exported.
    Exported {
        /// Experiment.
        slug: &'a str,
        /// Where it went.
        location: String,
        /// For an errors file: how many errors.
        errors: Option<usize>,
    },
    /// An interrupted rerun is completed by this run: its dates, for the windows still
    /// missing.
    Resumed {
        /// Experiment.
        slug: &'a str,
        /// When the interrupted rerun began.
        started: DateTime<Utc>,
        /// Its dates.
        dates: usize,
    },
    /// An export failed.
    ExportFailed {
        /// Experiment.
        slug: &'a str,
        /// `statistics`, `metadata` or `errors`.
        what: &'static str,
        /// The error.
        message: String,
    },
}

/// Receives the job's events and progress (the CLI prints them; a library can ignore them).
pub trait Observer: Progress {
    /// Something happened.
    fn event(&self, _event: &Event<'_>) {}
}

/// Ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}
impl Observer for Quiet {}

/// How one experiment fared in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Analysed (or exported) without failure.
    Ok,
    /// Not analysed on any date (not runnable, ended, skipped by config).
    Skipped,
    /// Something failed (the rest still ran).
    Failed,
}

/// What a job did.
#[derive(Debug, Clone, Default)]
pub struct JobReport {
    /// Analyses (experiment × date) that ran.
    pub analyses: usize,
    /// Statistics tables written.
    pub tables: usize,
    /// Experiments or dates skipped.
    pub skipped: usize,
    /// Failures (isolated metrics and statistics, experiments, exports).
    pub failures: usize,
    /// The worst outcome per experiment, by slug.
    pub experiments: BTreeMap<String, Outcome>,
    /// What the warehouse's queries cost per experiment (BigQuery: bytes processed, slot
    /// time; zero on DuckDB).
    pub usage: BTreeMap<String, QueryUsage>,
}

impl JobReport {
    /// Whether nothing failed.
    pub fn success(&self) -> bool {
        self.failures == 0
    }

    /// Add `other`'s counts, outcomes and usage to this report.
    pub fn merge(&mut self, other: JobReport) {
        self.analyses += other.analyses;
        self.tables += other.tables;
        self.skipped += other.skipped;
        self.failures += other.failures;
        for (slug, outcome) in other.experiments {
            self.mark(&slug, outcome);
        }
        for (slug, usage) in other.usage {
            self.usage.entry(slug).or_default().add(&usage);
        }
    }

    pub(crate) fn mark(&mut self, slug: &str, outcome: Outcome) {
        let entry = self.experiments.entry(slug.to_string()).or_insert(outcome);
        // Ok beats Skipped (analysed on some date); Failed beats both.
        *entry = match (*entry, outcome) {
            (Outcome::Failed, _) | (_, Outcome::Failed) => Outcome::Failed,
            (Outcome::Ok, _) | (_, Outcome::Ok) => Outcome::Ok,
            _ => Outcome::Skipped,
        };
    }

    pub(crate) fn fail(&mut self, slug: &str) {
        self.failures += 1;
        self.mark(slug, Outcome::Failed);
    }
}

/// The daily job over one warehouse: select the experiments of a date, resolve their configs,
/// analyse experiments × dates, export, rerun. The CLI, an Argo pod and other tools all run
/// this same code.
pub struct Job<'a> {
    pub(crate) warehouse: &'a dyn Warehouse,
    pub(crate) sink: Option<&'a dyn OutputSink>,
    pub(crate) configs: ConfigCollection,
    history: Option<Arc<dyn ConfigHistory>>,
    custom: Option<(String, AnalysisSpec)>,
    pub(crate) options: JobOptions,
    pool: rayon::ThreadPool,
    /// Analyses (experiment × date) at once.
    parallel: usize,
    /// Log rows of the job itself (skips, failures), written in batches: one load per
    /// selection and per analysed experiment (BigQuery limits load jobs per table and day).
    pending_logs: std::sync::Mutex<Vec<LogRecord>>,
    /// The reruns this job marked (slug → start, last date): their heartbeat moves with
    /// every date analysed ([`crate::reruns`]).
    pub(crate) owned_reruns: std::sync::Mutex<BTreeMap<String, (DateTime<Utc>, NaiveDate)>>,
}

impl<'a> Job<'a> {
    /// A job over `warehouse` with these configs.
    pub fn new(
        warehouse: &'a dyn Warehouse,
        configs: ConfigCollection,
        options: JobOptions,
    ) -> Result<Self, JobError> {
        let pool = Self::thread_pool(options.processes, 1)?;
        Ok(Self {
            warehouse,
            sink: None,
            configs,
            history: None,
            custom: None,
            options,
            pool,
            parallel: 1,
            pending_logs: std::sync::Mutex::new(Vec::new()),
            owned_reruns: std::sync::Mutex::new(BTreeMap::new()),
        })
    }

    /// The threads analyses run on: `processes` (default: one per CPU) for the statistics,
    /// plus one per further analysis running at once (an analysis holds its thread while it
    /// waits on the warehouse).
    fn thread_pool(
        processes: Option<usize>,
        parallel: usize,
    ) -> Result<rayon::ThreadPool, JobError> {
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let base = processes.filter(|n| *n > 0).unwrap_or(cpus);
        rayon::ThreadPoolBuilder::new()
            .num_threads(base + parallel.max(1) - 1)
            .build()
            .map_err(|e| JobError::Runtime {
                what: "statistics threads".into(),
                message: e.to_string(),
            })
    }

    /// Run up to `n` analyses (experiment × date) at once on this machine (`--parallel N`;
    /// default 1). They share the statistics threads (`processes`).
    pub fn with_parallelism(mut self, n: usize) -> Result<Self, JobError> {
        self.parallel = n.max(1);
        self.pool = Self::thread_pool(self.options.processes, self.parallel)?;
        Ok(self)
    }

    /// Pin each experiment's configs to its first analysis (the creation of its enrollments
    /// table), as the reference: `history` gives the configs as they were then. Reruns adopt
    /// the current configs (and mark the experiment analysed now).
    pub fn with_history(mut self, history: Arc<dyn ConfigHistory>) -> Self {
        self.history = Some(history);
        self
    }

    /// Export JSON (statistics, metadata, errors) to `sink` after the analyses.
    pub fn with_sink(mut self, sink: &'a dyn OutputSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Analyse `slug` with this config instead of its metric-hub one (`--config-file`).
    pub fn with_custom_config(mut self, slug: &str, spec: AnalysisSpec) -> Self {
        self.custom = Some((slug.to_string(), spec));
        self
    }

    /// Run `f` on the job's threads.
    pub(crate) fn install<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }

    /// The configs.
    pub fn configs(&self) -> &ConfigCollection {
        &self.configs
    }

    /// The options.
    pub fn options(&self) -> &JobOptions {
        &self.options
    }

    /// The warehouse.
    pub fn warehouse(&self) -> &dyn Warehouse {
        self.warehouse
    }

    /// The output sink of the JSON exports, when one is set.
    pub fn sink(&self) -> Option<&dyn OutputSink> {
        self.sink
    }

    /// The selection overrides of an experiment's config (`skip`, dates, enrollment period).
    pub fn overrides(&self, e: &Experiment) -> ConfigOverrides {
        overrides_of(self.spec_for(&e.normandy_slug))
    }

    pub(crate) fn spec_for(&self, slug: &str) -> Option<&AnalysisSpec> {
        match &self.custom {
            Some((s, spec)) if s == slug => Some(spec),
            _ => self.configs.spec_for_experiment(slug),
        }
    }

    /// Resolve an experiment's analysis config with the current configs.
    pub fn resolve_current(
        &self,
        experiment: &Experiment,
    ) -> Result<AnalysisConfiguration, JobError> {
        self.resolve_in(experiment, &self.configs)
    }

    fn resolve_in(
        &self,
        experiment: &Experiment,
        configs: &ConfigCollection,
    ) -> Result<AnalysisConfiguration, JobError> {
        let slug = &experiment.normandy_slug;
        let spec = match &self.custom {
            Some((s, spec)) if s == slug => Some(spec),
            _ => configs.spec_for_experiment(slug),
        };
        resolve_experiment(experiment, spec, configs).map_err(|e| JobError::Config {
            what: format!("the config of {slug}"),
            message: e.to_string(),
        })
    }

    /// When an experiment's enrollments table was written (`None`: not analysed yet): the
    /// anchor of image pinning and of the discrete-metrics default.
    pub fn first_analysed(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<Option<DateTime<Utc>>, JobError> {
        let table = self.enrollments_table_of(config)?;
        Ok(self
            .warehouse()
            .table_metadata(&table)?
            .map(|m| m.last_updated))
    }

    /// Resolve an experiment's analysis config with the configs as they were at its first
    /// analysis (when a history is set and the experiment has an enrollments table; a
    /// `--config-file` of the experiment is used as given).
    pub fn resolve(&self, experiment: &Experiment) -> Result<AnalysisConfiguration, JobError> {
        let current = self.resolve_current(experiment)?;
        let Some(history) = &self.history else {
            return Ok(current);
        };
        let slug = &experiment.normandy_slug;
        if self.custom.as_ref().is_some_and(|(s, _)| s == slug) {
            return Ok(current);
        }
        let Some(first) = self.first_analysed(&current)? else {
            return Ok(current);
        };
        let Some(pinned) = history.as_of(first)? else {
            return Ok(current);
        };
        tracing::info!(
            experiment = %slug,
            first_analysed = %first,
            versions = ?pinned.versions,
            "configs as of the first analysis (a rerun adopts the current ones)"
        );
        self.resolve_in(experiment, &pinned)
    }

    /// Buffer one row for the monitoring table (when configured); see `flush_logs`.
    /// An experiment (or one of its dates) failed: counted, shown to the observer, and
    /// logged as an ERROR row of `kind`.
    pub(crate) fn fail_logged(
        &self,
        report: &mut JobReport,
        observer: &dyn Observer,
        slug: &str,
        date: Option<NaiveDate>,
        message: &str,
        kind: ExceptionType,
    ) {
        failed(report, observer, slug, date, message);
        self.log(slug, message, kind, LogLevel::Error, report);
    }

    pub(crate) fn log(
        &self,
        slug: &str,
        message: &str,
        kind: ExceptionType,
        level: LogLevel,
        report: &mut JobReport,
    ) {
        if self.options.log_table.is_none() {
            return;
        }
        let mut record = error_record(
            &self.options.run.source,
            LogContext {
                experiment: Some(slug.to_string()),
                ..LogContext::default()
            },
            message.to_string(),
            kind,
            "run",
        );
        record.log_level = level.as_str().into();
        match self.pending_logs.lock() {
            Ok(mut pending) => pending.push(record),
            Err(_) => {
                tracing::error!(experiment = %slug, "log buffer unavailable: row lost");
                report.failures += 1;
            }
        }
    }

    /// Write the buffered log rows in one append; rows that cannot be written are failures.
    pub(crate) fn flush_logs(&self, report: &mut JobReport) {
        let records = match self.pending_logs.lock() {
            Ok(mut pending) => std::mem::take(&mut *pending),
            Err(_) => return,
        };
        let Some(table) = &self.options.log_table else {
            return;
        };
        if records.is_empty() {
            return;
        }
        if let Err(e) = self.warehouse.append_logs(table, &records) {
            tracing::error!(rows = records.len(), error = %e, "could not write the logs table");
            report.failures += records.len();
            self.spill(&records);
        }
    }

    /// The spool of the monitoring table, when both are configured.
    pub(crate) fn spool(&self) -> Option<crate::spool::LogSpool> {
        let dir = self.options.spool.as_ref()?;
        let table = self.options.log_table.as_ref()?;
        Some(crate::spool::LogSpool::new(
            dir,
            self.warehouse.project(),
            table,
        ))
    }

    /// Keep log rows the monitoring table refused in the spool (the next run delivers them);
    /// without a spool they are lost, and said so.
    pub(crate) fn spill(&self, records: &[LogRecord]) {
        match self.spool().map(|s| s.spill(records)) {
            Some(Ok(path)) => tracing::error!(
                rows = records.len(),
                file = %path.display(),
                "log rows kept in the spool; the next run delivers them"
            ),
            Some(Err(e)) => tracing::error!(
                rows = records.len(),
                "log rows lost: the spool cannot be written: {e}"
            ),
            None => tracing::error!(rows = records.len(), "log rows lost (no spool configured)"),
        }
    }

    /// Deliver the rows a refused write left in the spool (before a run writes new ones); a
    /// batch still refused stays, and counts as a failure of this run.
    pub(crate) fn deliver_spool(&self, report: &mut JobReport) {
        let (Some(spool), Some(table)) = (self.spool(), &self.options.log_table) else {
            return;
        };
        let (delivered, waiting) = spool.deliver(self.warehouse, table);
        if delivered > 0 {
            tracing::warn!(
                rows = delivered,
                "log rows of an earlier run delivered from the spool"
            );
        }
        report.failures += waiting;
    }

    /// The experiments a daily run on `date` analyses, resolved; skips and failures are
    /// reported to `observer` and counted in `report`.
    pub fn select(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<AnalysisConfiguration> {
        for (slug, reason) in &parsed.rejected {
            // As the reference: a recipe that cannot be read is logged and skipped; the other
            // experiments of the day run.
            tracing::warn!(experiment = %slug, "unreadable recipe: {reason}");
            observer.event(&Event::Unreadable { slug, reason });
            report.skipped += 1;
            report.mark(slug, Outcome::Skipped);
            let message = format!("unreadable recipe: {reason}");
            self.log(
                slug,
                &message,
                ExceptionType::InvalidRecipe,
                LogLevel::Error,
                report,
            );
        }
        let (decisions, unknown) =
            daily_selection(&parsed.experiments, date, slugs, |e| self.overrides(e));
        for slug in &unknown {
            // A requested experiment whose recipe was rejected is a failure (with its reason,
            // reported above), not "not found".
            report.fail(slug);
            if !parsed.rejected.iter().any(|(s, _)| s == slug) {
                observer.event(&Event::NotFound { slug });
            }
        }
        let mut configs = Vec::new();
        for d in decisions {
            let slug = d.experiment.normandy_slug.clone();
            if let Err(why) = d.verdict {
                skipped(report, observer, &slug, Some(date), &why.to_string());
                continue;
            }
            match self.resolve(&d.experiment) {
                Ok(config) => configs.push(config),
                Err(e) => {
                    let message = e.to_string();
                    self.fail_logged(
                        report,
                        observer,
                        &slug,
                        None,
                        &message,
                        ExceptionType::ConfigError,
                    );
                }
            }
        }
        self.without_conflicts(parsed, configs, observer, report)
    }

    /// Leave out (as failures) experiments whose slugs normalise to the same table names as
    /// another experiment's (`a-b` and `a_b` would write each other's tables).
    fn without_conflicts(
        &self,
        parsed: &Parsed,
        configs: Vec<AnalysisConfiguration>,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<AnalysisConfiguration> {
        let by_name = conflicts(parsed);
        let selected = configs
            .into_iter()
            .filter(|c| {
                let slug = c.experiment.normandy_slug();
                let norm = naming::bq_normalize_name(slug);
                match by_name.get(&norm) {
                    Some(slugs) => {
                        let message = if slugs.iter().all(|s| s == slug) {
                            format!(
                                "{} recipes have the slug {slug}: none of them is analysed \
                                 until the duplicate is resolved (their results would mix)",
                                slugs.len()
                            )
                        } else {
                            format!(
                                "experiments {} all write tables named {norm}: none of them is \
                                 analysed until the conflict is resolved",
                                slugs.join(", ")
                            )
                        };
                        self.fail_logged(
                            report,
                            observer,
                            slug,
                            None,
                            &message,
                            ExceptionType::SlugConflict,
                        );
                        false
                    }
                    _ => true,
                }
            })
            .collect();
        self.flush_logs(report);
        selected
    }

    /// The experiments named by `slugs`, resolved with their pinned configs (ensure-enrollments,
    /// exports).
    pub fn select_slugs(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<AnalysisConfiguration> {
        self.select_slugs_with(parsed, slugs, true, observer, report)
    }

    /// The experiments named by `slugs`, resolved with the current configs (reruns).
    pub fn select_slugs_current(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<AnalysisConfiguration> {
        self.select_slugs_with(parsed, slugs, false, observer, report)
    }

    fn select_slugs_with(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        pinned: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<AnalysisConfiguration> {
        let mut configs = Vec::new();
        for slug in slugs {
            let Some(experiment) = with_slug(&parsed.experiments, slug) else {
                match parsed.rejected.iter().find(|(s, _)| s == slug) {
                    Some((_, reason)) => failed(
                        report,
                        observer,
                        slug,
                        None,
                        &format!("unreadable recipe: {reason}"),
                    ),
                    None => {
                        report.fail(slug);
                        observer.event(&Event::NotFound { slug });
                    }
                }
                continue;
            };
            let resolved = if pinned {
                self.resolve(experiment)
            } else {
                self.resolve_current(experiment)
            };
            match resolved {
                Ok(c) => configs.push(c),
                Err(e) => {
                    failed(report, observer, slug, None, &e.to_string());
                }
            }
        }
        self.without_conflicts(parsed, configs, observer, report)
    }

    /// The dataset an experiment's results go to: the shared one, or a private experiment's
    /// own `dataset_id`.
    pub fn dataset_of(&self, config: &AnalysisConfiguration) -> Result<String, JobError> {
        self.dataset_for(config.experiment.normandy_slug(), &config.experiment.spec)
    }

    /// The dataset of experiment `slug` by its current config alone (no recipe needed).
    pub fn dataset_of_slug(&self, slug: &str) -> Result<String, JobError> {
        match self.spec_for(slug) {
            Some(spec) => self.dataset_for(slug, &spec.experiment),
            None => self.dataset_for(slug, &ExperimentSpec::default()),
        }
    }

    fn dataset_for(&self, slug: &str, spec: &ExperimentSpec) -> Result<String, JobError> {
        let what = || format!("the config of {slug}");
        let dataset = if spec.is_private {
            spec.dataset_id.clone().ok_or_else(|| JobError::Config {
                what: what(),
                message: "a private experiment needs `dataset_id` in its [experiment] section"
                    .into(),
            })?
        } else {
            self.options.run.dataset.clone()
        };
        // Dataset names reach SQL as parts of table names: only what BigQuery allows.
        let valid = !dataset.is_empty()
            && dataset
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(JobError::Config {
                what: if spec.is_private {
                    format!("{}: experiment.dataset_id", what())
                } else {
                    "--dataset-id".into()
                },
                message: format!("{dataset:?} is not a dataset name (letters, digits, '_')"),
            });
        }
        Ok(dataset)
    }

    /// The run options of an experiment: the job's, in the experiment's dataset.
    pub(crate) fn run_options_for(
        &self,
        config: &AnalysisConfiguration,
    ) -> Result<RunOptions, JobError> {
        Ok(RunOptions {
            dataset: self.dataset_of(config)?,
            ..self.options.run.clone()
        })
    }

    /// Analyse `config` on each date; failures are reported and logged, never fatal.
    pub fn analyse(
        &self,
        config: &AnalysisConfiguration,
        dates: &[NaiveDate],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        self.analyse_dates(config, dates, false, observer, report);
    }

    /// [`Job::analyse`]; with `only_missing`, only the ready windows without a statistics
    /// table (a catch-up).
    fn analyse_dates(
        &self,
        config: &AnalysisConfiguration,
        dates: &[NaiveDate],
        only_missing: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let slug = config.experiment.normandy_slug().to_string();
        let mut options = match self.run_options_for(config) {
            Ok(o) => o,
            Err(e) => {
                failed(report, observer, &slug, None, &e.to_string());
                return;
            }
        };
        options.only_missing |= only_missing;
        let before = self.warehouse.usage();
        for date in dates {
            self.analyse_date(config, *date, &mut options, observer, report);
        }
        self.flush_logs(report);
        self.add_usage(&slug, &before, report);
    }

    /// Count the warehouse's usage since `before` for `slug` (approximate when analyses run
    /// in parallel: the warehouse counts for all of them).
    fn add_usage(&self, slug: &str, before: &QueryUsage, report: &mut JobReport) {
        let cost = self.warehouse.usage().since(before);
        if cost.queries > 0 {
            tracing::info!(
                experiment = %slug,
                queries = cost.queries,
                bytes_processed = cost.bytes_processed,
                slot_ms = cost.slot_millis,
                "warehouse usage"
            );
            report.usage.entry(slug.to_string()).or_default().add(&cost);
        }
    }

    /// Analyse `config` on `date`: whether its enrollments table is in place afterwards (the
    /// analysis ran, and the enrollment period was over), and the periods it wrote.
    fn analyse_date(
        &self,
        config: &AnalysisConfiguration,
        date: NaiveDate,
        options: &mut RunOptions,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> DateOutcome {
        let slug = config.experiment.normandy_slug().to_string();
        let result = self.pool.install(|| {
            run_analysis(
                config,
                date,
                self.warehouse,
                options,
                self.options.log_table.as_ref(),
                observer,
            )
        });
        match result {
            Ok(r) => {
                // Enrollments are recreated once per job: on the first date they are ready.
                if matches!(r.enrollments, Enrollments::Created(_)) {
                    options.recreate_enrollments = false;
                }
                if r.lost_logs > 0 {
                    let rows: Vec<LogRecord> =
                        r.errors.iter().chain(&r.warnings).cloned().collect();
                    self.spill(&rows);
                }
                self.rerun_heartbeat(config);
                report.analyses += 1;
                report.tables += r.periods.len();
                report.failures += r.errors.len() + r.lost_logs;
                report.mark(
                    &slug,
                    if r.errors.is_empty() && r.lost_logs == 0 {
                        Outcome::Ok
                    } else {
                        Outcome::Failed
                    },
                );
                observer.event(&Event::Analysed(&r));
                DateOutcome {
                    enrollments: r.enrollments != Enrollments::NotReady,
                    periods: r.periods.iter().map(|p| p.period).collect(),
                }
            }
            Err(AnalysisError::NotRunnable(why)) => {
                tracing::info!(experiment = %slug, %date, "skipped: {why}");
                let reason = why.to_string();
                skipped(report, observer, &slug, Some(date), &reason);
                self.log(
                    &slug,
                    &reason,
                    why.exception_type(),
                    LogLevel::Warning,
                    report,
                );
                DateOutcome::default()
            }
            Err(e) => {
                let message = e.to_string();
                self.fail_logged(
                    report,
                    observer,
                    &slug,
                    Some(date),
                    &message,
                    ExceptionType::AnalysisException,
                );
                DateOutcome::default()
            }
        }
    }

    /// Analyse every experiment of `plan` on its dates, up to [`Job::with_parallelism`]
    /// analyses at once. Each experiment's dates run one by one until its enrollments table is
    /// in place (created, or recreated once if asked, by the first date it is ready on, as in
    /// the serial run); its other dates then
    /// run in parallel with everything else, as the Argo workflow does. The statistics are
    /// those of the serial run: each date writes its own window tables.
    pub fn analyse_all(
        &self,
        plan: &[(&AnalysisConfiguration, Vec<NaiveDate>)],
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        self.analyse_plan(plan, false, observer, report);
    }

    /// [`Job::analyse_all`]; with `only_missing`, each date only for its ready windows
    /// without a statistics table (a catch-up).
    pub(crate) fn analyse_plan(
        &self,
        plan: &[(&AnalysisConfiguration, Vec<NaiveDate>)],
        only_missing: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) {
        let work: usize = plan.iter().map(|(_, d)| d.len()).sum();
        if self.parallel <= 1 || work <= 1 {
            for (config, dates) in plan {
                self.analyse_dates(config, dates, only_missing, observer, report);
            }
            return;
        }
        // The analyses run on their own pool of `parallel` threads (each holds its thread
        // while it waits on the warehouse; the statistics go to the job's pool). A task that
        // makes later dates ready spawns them into the same scope, first in first out.
        let workers = match rayon::ThreadPoolBuilder::new()
            .num_threads(self.parallel.min(work))
            .thread_name(|i| format!("jetstream-analysis-{i}"))
            .build()
        {
            Ok(pool) => pool,
            Err(e) => {
                tracing::warn!("no analysis threads ({e}): the analyses run one by one");
                for (config, dates) in plan {
                    self.analyse_dates(config, dates, only_missing, observer, report);
                }
                return;
            }
        };
        let reports = std::sync::Mutex::new(Vec::new());
        let ctx = TaskContext {
            job: self,
            plan,
            only_missing,
            observer,
            reports: &reports,
        };
        workers.scope_fifo(|scope| {
            for i in 0..plan.len() {
                let ctx = &ctx;
                scope.spawn_fifo(move |scope| ctx.run(scope, Task::Head(i)));
            }
        });
        let reports = reports
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for r in reports {
            report.merge(r);
        }
        self.flush_logs(report);
    }

    /// One task of [`Job::analyse_all`]; returns the tasks it makes ready.
    fn run_task(
        &self,
        plan: &[(&AnalysisConfiguration, Vec<NaiveDate>)],
        task: Task,
        only_missing: bool,
        observer: &dyn Observer,
        report: &mut JobReport,
    ) -> Vec<Task> {
        let (config, dates) = &plan[task.index()];
        let slug = config.experiment.normandy_slug().to_string();
        let before = self.warehouse.usage();
        let mut more = Vec::new();
        match task {
            Task::Head(i) => {
                let mut options = match self.run_options_for(config) {
                    Ok(o) => o,
                    Err(e) => {
                        failed(report, observer, &slug, None, &e.to_string());
                        return more;
                    }
                };
                options.only_missing |= only_missing;
                // Later dates read what the first ones write: the enrollments, and the
                // pre-enrollment metric tables (covariates of linear_model_mean).
                let mut pending: Vec<AnalysisPeriod> = config
                    .metrics
                    .keys()
                    .copied()
                    .filter(|p| p.is_preenrollment())
                    .filter(|p| options.periods.as_ref().is_none_or(|only| only.contains(p)))
                    .collect();
                let mut enrolled = false;
                for (k, date) in dates.iter().enumerate() {
                    let outcome = self.analyse_date(config, *date, &mut options, observer, report);
                    enrolled |= outcome.enrollments;
                    pending.retain(|p| !outcome.periods.contains(p));
                    if enrolled && pending.is_empty() {
                        more = dates[k + 1..]
                            .iter()
                            .map(|d| Task::Date(i, *d, Box::new(options.clone())))
                            .collect();
                        break;
                    }
                }
            }
            Task::Date(_, date, mut options) => {
                self.analyse_date(config, date, &mut options, observer, report);
            }
        }
        self.add_usage(&slug, &before, report);
        more
    }

    /// The daily run: every experiment live on `date` (or ended the day before), or only
    /// `slugs`, analysed on `date`, then exported. [`Job::run_daily_with`] adds catch-up
    /// dates and the data check.
    pub fn run_daily(
        &self,
        parsed: &Parsed,
        date: NaiveDate,
        slugs: &[String],
        observer: &dyn Observer,
    ) -> JobReport {
        self.run_daily_with(
            parsed,
            date,
            slugs,
            &crate::DailyOptions::default(),
            observer,
        )
    }

    /// The tables of experiment `slug` in `dataset` (those whose description is the slug),
    /// with their metadata.
    pub fn experiment_tables(
        &self,
        dataset: &str,
        slug: &str,
    ) -> Result<Vec<(TableName, TableMetadata)>, JobError> {
        experiment_tables(self.warehouse, dataset, slug)
    }

    /// Mark every table of `slug` as written at `when` (the reference's `touch_tables`); how
    /// many there were.
    pub fn touch_experiment(
        &self,
        dataset: &str,
        slug: &str,
        when: DateTime<Utc>,
    ) -> Result<usize, JobError> {
        let tables = self.experiment_tables(dataset, slug)?;
        for (table, _) in &tables {
            self.warehouse.touch_table(table, when)?;
        }
        Ok(tables.len())
    }

    /// Create the enrollments tables of `slugs` (kept once created, unless recreated).
    pub fn ensure_enrollments(
        &self,
        parsed: &Parsed,
        slugs: &[String],
        date: NaiveDate,
        observer: &dyn Observer,
    ) -> JobReport {
        let mut report = JobReport::default();
        for config in self.select_slugs(parsed, slugs, observer, &mut report) {
            let slug = config.experiment.normandy_slug().to_string();
            let options = match self.run_options_for(&config) {
                Ok(o) => o,
                Err(e) => {
                    failed(&mut report, observer, &slug, None, &e.to_string());
                    continue;
                }
            };
            match ensure_enrollments(&config.experiment, date, self.warehouse, &options) {
                Ok(outcome) => {
                    report.mark(&slug, Outcome::Ok);
                    observer.event(&Event::Enrollments {
                        slug: &slug,
                        outcome: &outcome,
                    });
                }
                Err(AnalysisError::NotRunnable(why)) => {
                    skipped(&mut report, observer, &slug, Some(date), &why.to_string());
                }
                Err(e) => failed(&mut report, observer, &slug, Some(date), &e.to_string()),
            }
        }
        report
    }

    /// Run a query (BigQuery dialect) on the warehouse.
    pub fn query(&self, sql: &str) -> Result<Columns, JobError> {
        Ok(self.warehouse.query_columns(sql)?)
    }

    /// The headline rows of an experiment: the overall relative uplift of each metric's mean
    /// against `control`, all clients, enrollments basis, by metric and branch.
    pub fn headline(&self, config: &AnalysisConfiguration) -> Result<Vec<Row>, JobError> {
        let slug = config.experiment.normandy_slug();
        let view = naming::statistics_view(slug, AnalysisPeriod::Overall);
        let sql = format!(
            "SELECT {} FROM `{}.{}.{view}`
             WHERE statistic = 'mean' AND comparison = 'relative_uplift' AND segment = 'all'
               AND analysis_basis = 'enrollments' AND comparison_to_branch = 'control'
             ORDER BY metric, branch",
            Row::FIELDS.join(", "),
            self.warehouse.project(),
            self.dataset_of(config)?
        );
        Ok(jetstream_output::statistics_rows(
            &view,
            &self.query(&sql)?,
        )?)
    }
}

/// Count a skip of `slug` and tell the observer.
fn skipped(
    report: &mut JobReport,
    observer: &dyn Observer,
    slug: &str,
    date: Option<NaiveDate>,
    reason: &str,
) {
    report.skipped += 1;
    report.mark(slug, Outcome::Skipped);
    observer.event(&Event::Skipped { slug, date, reason });
}

/// Count a failure of `slug` and tell the observer.
pub(crate) fn failed(
    report: &mut JobReport,
    observer: &dyn Observer,
    slug: &str,
    date: Option<NaiveDate>,
    message: &str,
) {
    report.fail(slug);
    observer.event(&Event::Failed {
        slug,
        date,
        message,
    });
}

/// Recipes whose tables would be another's, by normalised name: slugs that normalise to the
/// same table names (`a-b`, `a_b`), and a slug given by more than one recipe. Only names with
/// more than one recipe are listed; none of their experiments is analysed.
pub(crate) fn conflicts(parsed: &Parsed) -> BTreeMap<String, Vec<String>> {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &parsed.experiments {
        by_name
            .entry(naming::bq_normalize_name(&e.normandy_slug))
            .or_default()
            .push(e.normandy_slug.clone());
    }
    by_name.retain(|_, slugs| slugs.len() > 1);
    by_name
}

/// The selection overrides a config sets (`skip`, dates, enrollment period).
fn overrides_of(spec: Option<&AnalysisSpec>) -> ConfigOverrides {
    match spec {
        Some(s) => ConfigOverrides {
            skip: s.experiment.skip,
            end_date: s.experiment.end_date,
            start_date: s.experiment.start_date,
            enrollment_period: s.experiment.enrollment_period,
        },
        None => ConfigOverrides::default(),
    }
}

/// The daily selection on `date` (the reference's rule, with the configs' overrides): a
/// decision per experiment, and the requested slugs that are not among the experiments.
pub fn selection(
    parsed: &Parsed,
    date: NaiveDate,
    slugs: &[String],
    configs: &ConfigCollection,
) -> (Vec<Decision>, Vec<String>) {
    daily_selection(&parsed.experiments, date, slugs, |e| {
        overrides_of(configs.spec_for_experiment(&e.normandy_slug))
    })
}

/// Delete an experiment's result tables before a rerun (the reference's
/// `delete_experiment_tables`, without its prefix and regex pitfalls): the window tables
/// (metrics and statistics) whose recorded description is `slug` and whose name is one of
/// `slug`'s window tables of a selected period (`None`: every period), the scratch tables of an
/// interrupted partial run, and the views of those periods. Tables of other experiments —
/// `x-v2` next to `x`, whatever their names — are never touched. The enrollments table is not
/// deleted here: a rerun that recreates it replaces it atomically when the new one is ready.
/// Returns how many tables and views were deleted.
pub fn delete_experiment_tables(
    warehouse: &dyn Warehouse,
    dataset: &str,
    slug: &str,
    periods: Option<&[AnalysisPeriod]>,
) -> Result<usize, JobError> {
    let selected = |p: AnalysisPeriod| periods.is_none_or(|only| only.contains(&p));
    let norm = naming::bq_normalize_name(slug);
    let mut deleted = 0;
    for (table, _) in experiment_tables(warehouse, dataset, slug)? {
        let doomed = match naming::window_table_period(slug, &table.table) {
            Some(period) => selected(period),
            // Scratch tables of an interrupted write, and the daily partials (a rerun
            // computes them again, in one pass over the experiment's days).
            None => {
                periods.is_none()
                    && ((table.table.ends_with("__partial")
                        && (table.table.starts_with(&format!("{norm}_"))
                            || table.table.starts_with(&format!("statistics_{norm}_"))))
                        || table.table.starts_with(&format!("{norm}_partials_")))
            }
        };
        if doomed {
            warehouse.delete_table(&table)?;
            deleted += 1;
        }
    }
    for period in AnalysisPeriod::ALL.iter().copied().filter(|p| selected(*p)) {
        let mut views = vec![naming::statistics_view(slug, period)];
        views.extend(
            AnalysisBasis::ALL
                .iter()
                .map(|b| naming::metrics_view(slug, *b, period)),
        );
        for view in views {
            let name = TableName::new(dataset, &view)?;
            if warehouse.table_exists(&name)? {
                warehouse.delete_table(&name)?;
                deleted += 1;
            }
        }
    }
    Ok(deleted)
}

/// The tables of experiment `slug` in `dataset`: those whose description is the slug (the
/// names of two experiments' tables can share a prefix), with their metadata.
pub fn experiment_tables(
    warehouse: &dyn Warehouse,
    dataset: &str,
    slug: &str,
) -> Result<Vec<(TableName, TableMetadata)>, JobError> {
    let norm = naming::bq_normalize_name(slug);
    let mut out = Vec::new();
    for table in warehouse.list_tables(dataset, "")? {
        if !table.table.contains(norm.as_str()) {
            continue;
        }
        if let Some(m) = warehouse.table_metadata(&table)?
            && m.description == slug
        {
            out.push((table, m));
        }
    }
    Ok(out)
}

/// A unit of [`Job::analyse_all`]: an experiment's first dates (until one runs), or one later
/// date with the experiment's options.
enum Task {
    Head(usize),
    Date(usize, NaiveDate, Box<RunOptions>),
}

impl Task {
    fn index(&self) -> usize {
        match self {
            Task::Head(i) | Task::Date(i, ..) => *i,
        }
    }
}

/// What the tasks of [`Job::analyse_all`] share.
struct TaskContext<'j, 'a, 'p> {
    job: &'j Job<'a>,
    plan: &'p [(&'p AnalysisConfiguration, Vec<NaiveDate>)],
    only_missing: bool,
    observer: &'p dyn Observer,
    reports: &'p std::sync::Mutex<Vec<JobReport>>,
}

impl TaskContext<'_, '_, '_> {
    /// Run `task`, keep its report, and spawn the tasks it makes ready. A panic fails the
    /// experiment; the other tasks go on.
    fn run<'s>(&'s self, scope: &rayon::ScopeFifo<'s>, task: Task) {
        let mut local = JobReport::default();
        let slug = self.plan[task.index()].0.experiment.normandy_slug();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.job.run_task(
                self.plan,
                task,
                self.only_missing,
                self.observer,
                &mut local,
            )
        }));
        match run {
            Ok(more) => {
                for t in more {
                    scope.spawn_fifo(move |scope| self.run(scope, t));
                }
            }
            Err(_) => {
                local.fail(slug);
                tracing::error!(experiment = %slug, "the analysis panicked");
            }
        }
        self.reports
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(local);
    }
}

/// What one analysis date left in place (see [`Job::analyse_all`]).
#[derive(Default)]
struct DateOutcome {
    enrollments: bool,
    periods: Vec<AnalysisPeriod>,
}
