//! One experiment's analysis on one date (the reference's `Analysis.run`): for every ready
//! period and analysis basis, the metric tables, the per-segment pulls, the statistics (in
//! parallel), the counts, the `statistics_<slug>_<period>_<window>` table and the views.
//!
//! A failing data-source query, pull or statistic is isolated: it becomes one [`LogRecord`]
//! with its context (experiment, metric, statistic, period, basis, segment), the rest of the
//! run goes on, and the records are appended to the monitoring `logs` table at the end.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::NaiveDate;
use jetstream_config::enums::{AnalysisBasis, AnalysisPeriod};
use jetstream_config::resolve::{AnalysisConfiguration, Metric, Summary};
use jetstream_config::statistic::Statistic;
use jetstream_sql::naming;
use jetstream_sql::partials::{PartialsTable, SourcePartials};
use jetstream_sql::query::{
    QueryContext, identifier, metrics_query_with, partition_by_data_source,
};
use jetstream_sql::readiness::{Ready, timelimits_if_ready};
use jetstream_stats::{Context, Frame, Note, NoteLevel, Notes, Row};
use jetstream_warehouse::{
    Column, Columns, ExceptionType, LogLevel, LogRecord, TableMetadata, TableName, Warehouse,
    WarehouseError,
};
use rayon::prelude::*;

use crate::{AnalysisError, Enrollments, check_runnable, ensure_enrollments};

/// How an analysis runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Dataset of the result tables (`mozanalysis`).
    pub dataset: String,
    /// Only these periods (default: every configured one).
    pub periods: Option<Vec<AnalysisPeriod>>,
    /// One metrics table per data source (the reference CLI's default) instead of one per
    /// (period, basis).
    pub discrete: bool,
    /// Replace the enrollments table first.
    pub recreate_enrollments: bool,
    /// Seed of the resampling statistics (results are reproducible for a seed).
    pub seed: u64,
    /// `source` of the log rows (`jetstream`).
    pub source: String,
    /// Recompute the statistics from the metric tables already in the warehouse: no metric
    /// query runs; a missing metric table is a logged error naming it.
    pub statistics_only: bool,
    /// Only these metrics (plus the upstream metrics of requested derived ones): their
    /// columns are recomputed and merged into the existing metric tables, their statistics
    /// rows replace theirs in the existing statistics table, every other row is kept.
    pub metric_slugs: Option<Vec<String>>,
    /// Write every generated query to `<destination table>.sql` in this folder.
    pub sql_output_dir: Option<PathBuf>,
    /// Glean client ids instead of legacy ones (the reference's `--use-glean-ids`).
    pub use_glean_ids: bool,
    /// Only the ready windows whose statistics table does not exist yet (catch-up of a date
    /// a run missed): nothing already written is computed again.
    pub only_missing: bool,
    /// Decomposable metrics from daily per-client partials (the default), or `None`: every
    /// window scans its days (`--full-scan`, the reference's queries).
    pub partials: Option<crate::partials::PartialsOptions>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            dataset: "mozanalysis".into(),
            periods: None,
            discrete: true,
            recreate_enrollments: false,
            seed: 0,
            source: "jetstream".into(),
            statistics_only: false,
            metric_slugs: None,
            sql_output_dir: None,
            use_glean_ids: false,
            only_missing: false,
            partials: Some(crate::partials::PartialsOptions::default()),
        }
    }
}

impl RunOptions {
    /// The query context of an experiment with these options.
    pub fn query_context(
        &self,
        conf: &jetstream_config::experiment::ExperimentConfiguration,
    ) -> Result<QueryContext, AnalysisError> {
        let mut ctx = QueryContext::for_experiment(conf).map_err(|e| AnalysisError::Sql {
            slug: conf.normandy_slug().to_string(),
            message: e.to_string(),
        })?;
        ctx.use_glean_ids = Some(self.use_glean_ids);
        Ok(ctx)
    }

    /// Keep `sql`, the query of `destination`, in the SQL output folder when one is set.
    pub fn write_sql(&self, destination: &TableName, sql: &str) -> Result<(), AnalysisError> {
        let Some(dir) = &self.sql_output_dir else {
            return Ok(());
        };
        let path = dir.join(format!("{}.sql", destination.table));
        write_atomic(&path, sql).map_err(|e| AnalysisError::Output {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// Write a file through a temporary file in the same folder, flushed before the rename.
fn write_atomic(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = path.parent().unwrap_or(std::path::Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Progress of long work (the CLI draws bars; libraries can ignore it).
pub trait Progress: Sync {
    /// A stage with `total` steps begins.
    fn begin(&self, _label: &str, _total: u64) {}
    /// `n` steps are done.
    fn advance(&self, _n: u64) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// One statistics table written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeriodResult {
    /// The period.
    pub period: AnalysisPeriod,
    /// Its window index.
    pub window: usize,
    /// `statistics_<slug>_<period>_<window>`.
    pub table: TableName,
    /// Rows written.
    pub rows: u64,
}

/// What [`run_analysis`] did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Experiment slug.
    pub slug: String,
    /// Analysis date.
    pub date: NaiveDate,
    /// The enrollments step.
    pub enrollments: Enrollments,
    /// Statistics tables written, in period order.
    pub periods: Vec<PeriodResult>,
    /// Isolated failures (also appended to the logs table).
    pub errors: Vec<LogRecord>,
    /// Warnings (covariate fallbacks), appended to the logs table too.
    pub warnings: Vec<LogRecord>,
    /// Log records that could not be written to the logs table (they are in `errors` and
    /// `warnings`, and traced); a caller must report the loss.
    pub lost_logs: usize,
}

impl RunReport {
    /// Whether anything failed.
    pub fn failed(&self) -> bool {
        !self.errors.is_empty() || self.lost_logs > 0
    }
}

/// Where a failure happened.
#[derive(Debug, Clone, Default)]
pub struct LogContext {
    /// Experiment slug.
    pub experiment: Option<String>,
    /// Metric slug.
    pub metric: Option<String>,
    /// Statistic name.
    pub statistic: Option<String>,
    /// Analysis basis.
    pub analysis_basis: Option<String>,
    /// Segment.
    pub segment: Option<String>,
    /// `<period>` or `<period>_<window>`.
    pub analysis_period: Option<String>,
}

/// An `ERROR` row of the monitoring logs table.
pub fn error_record(
    source: &str,
    ctx: LogContext,
    message: String,
    exception_type: ExceptionType,
    func_name: &str,
) -> LogRecord {
    LogRecord {
        timestamp: chrono::Utc::now()
            .naive_utc()
            .with_nanosecond(0)
            .unwrap_or_default(),
        source: source.to_string(),
        experiment: ctx.experiment,
        metric: ctx.metric,
        statistic: ctx.statistic,
        analysis_basis: ctx.analysis_basis,
        segment: ctx.segment,
        analysis_period: ctx.analysis_period,
        exception: format!("{exception_type}: {message}"),
        message,
        log_level: LogLevel::Error.as_str().into(),
        filename: "jetstream_analysis::run".into(),
        func_name: func_name.to_string(),
        exception_type: Some(exception_type.as_str().into()),
    }
}

use chrono::Timelike as _;

/// Keys shared by the metric tables of one (period, basis): rows are one per enrolled client.
const METRIC_TABLE_KEYS: [&str; 6] = [
    "analysis_id",
    "branch",
    "enrollment_date",
    "num_enrollment_events",
    "analysis_window_start",
    "analysis_window_end",
];

/// The key of a metric table row: one per client and window.
const MERGE_KEYS: [&str; 4] = [
    "analysis_id",
    "branch",
    "analysis_window_start",
    "analysis_window_end",
];

/// The windows of `config`'s periods (only `periods`, when given) that are ready on `date`,
/// in the config's period order: what an analysis on `date` computes. A period without a
/// metric of any analysis basis computes nothing and is left out.
pub fn ready_windows(
    config: &AnalysisConfiguration,
    date: NaiveDate,
    periods: Option<&[AnalysisPeriod]>,
) -> Result<Vec<(AnalysisPeriod, Ready)>, AnalysisError> {
    let conf = &config.experiment;
    let mut out = Vec::new();
    for (period, summaries) in &config.metrics {
        if periods.is_some_and(|only| !only.contains(period)) {
            continue;
        }
        if summaries.iter().all(|s| s.metric.analysis_bases.is_empty()) {
            continue;
        }
        let ready = timelimits_if_ready(*period, date, conf).map_err(|e| AnalysisError::Sql {
            slug: conf.normandy_slug().to_string(),
            message: e.to_string(),
        })?;
        if let Some(ready) = ready {
            out.push((*period, ready));
        }
    }
    Ok(out)
}

/// The [`ready_windows`] of `date` (of `options.periods`) whose statistics table
/// (`<dataset>.statistics_<slug>_<period>_<window>`) does not exist: what a catch-up of
/// `date` computes.
pub fn missing_windows(
    config: &AnalysisConfiguration,
    date: NaiveDate,
    warehouse: &dyn Warehouse,
    options: &RunOptions,
) -> Result<Vec<(AnalysisPeriod, Ready)>, AnalysisError> {
    let slug = config.experiment.normandy_slug();
    let mut out = Vec::new();
    for (period, ready) in ready_windows(config, date, options.periods.as_deref())? {
        let table = TableName::new(
            &options.dataset,
            &naming::statistics_table(slug, period, ready.window_index),
        )?;
        if !warehouse.table_exists(&table)? {
            out.push((period, ready));
        }
    }
    Ok(out)
}

/// Analyse one experiment on `date`: ensure enrollments, then every ready period. Errors that
/// concern the whole experiment (not runnable, enrollments, SQL context) are returned; failures
/// of single metrics or statistics are isolated into [`RunReport::errors`] and appended to
/// `log_table` when given.
pub fn run_analysis(
    config: &AnalysisConfiguration,
    date: NaiveDate,
    warehouse: &dyn Warehouse,
    options: &RunOptions,
    log_table: Option<&TableName>,
    progress: &dyn Progress,
) -> Result<RunReport, AnalysisError> {
    let conf = &config.experiment;
    check_runnable(conf, date)?;
    let slug = conf.normandy_slug().to_string();
    let enrollments = ensure_enrollments(conf, date, warehouse, options)?;
    let mut run = Run {
        config,
        warehouse,
        options,
        progress,
        slug: slug.clone(),
        errors: Vec::new(),
        warnings: Vec::new(),
        sql: options.query_context(conf)?,
        partials: Vec::new(),
    };
    if matches!(enrollments, Enrollments::Created(_)) && options.partials.is_some() {
        // New enrollments, new clients: partials of the old ones are stale.
        crate::partials::forget(config, warehouse, &options.dataset)?;
    }
    if matches!(enrollments, Enrollments::Created(_)) {
        // Once per enrollments table: the split does not change afterwards.
        run.check_sample_ratio();
    }
    let wanted = options
        .metric_slugs
        .as_ref()
        .map(|slugs| with_upstream(config, slugs));
    let mut periods = Vec::new();
    if enrollments != Enrollments::NotReady {
        let ready_now = if options.only_missing {
            missing_windows(config, date, warehouse, options)?
        } else {
            ready_windows(config, date, options.periods.as_deref())?
        };
        run.prepare_partials(&ready_now)?;
        for (period, ready) in ready_now {
            let Some(summaries) = config.metrics.get(&period) else {
                continue;
            };
            let period = &period;
            let chosen: Vec<Summary>;
            let summaries = match &wanted {
                None => summaries.as_slice(),
                Some(wanted) => {
                    chosen = summaries
                        .iter()
                        .filter(|s| wanted.contains(&s.metric.name))
                        .cloned()
                        .collect();
                    if chosen.is_empty() {
                        tracing::warn!(experiment = %slug, period = period.as_str(),
                            "skipping the period: none of the metrics {wanted:?} is in it");
                        continue;
                    }
                    chosen.as_slice()
                }
            };
            if let Some(result) = run.period(*period, &ready, summaries)? {
                periods.push(result);
            }
        }
    }
    let errors = std::mem::take(&mut run.errors);
    let warnings = std::mem::take(&mut run.warnings);
    let all: Vec<LogRecord> = errors.iter().chain(&warnings).cloned().collect();
    let mut lost_logs = 0;
    if let (Some(table), false) = (log_table, all.is_empty())
        && let Err(e) = warehouse.append_logs(table, &all)
    {
        tracing::error!(experiment = %slug, error = %e, "could not write the logs table: {} records lost", all.len());
        lost_logs = all.len();
    }
    Ok(RunReport {
        slug,
        date,
        enrollments,
        periods,
        errors,
        warnings,
        lost_logs,
    })
}

struct Run<'a> {
    config: &'a AnalysisConfiguration,
    warehouse: &'a dyn Warehouse,
    options: &'a RunOptions,
    progress: &'a dyn Progress,
    slug: String,
    sql: QueryContext,
    /// The partials tables (`project.dataset.table`) that metric tables read.
    partials: Vec<(String, SourcePartials)>,
    errors: Vec<LogRecord>,
    warnings: Vec<LogRecord>,
}

/// The per-client columns of one (period, basis), pulled once from its metric tables.
struct BasisData {
    branches: Vec<String>,
    /// Branch code per row; `u32::MAX` for a NULL branch.
    codes: Vec<u32>,
    enrolled: Vec<bool>,
    exposed: Vec<bool>,
    segments: HashMap<String, Vec<bool>>,
    metrics: HashMap<String, Vec<f64>>,
    analysis_ids: Vec<Option<String>>,
}

/// A pre-period covariate column (`<metric>_pre`) aligned with a [`BasisData`]'s rows.
type CovariateColumn = Arc<(String, Vec<f64>)>;

/// A metrics table written (or found), its metrics' names and its data source (when
/// discrete).
type MetricTable = (TableName, Vec<String>, Option<String>);

/// A statistic's rows and the problems of single passes.
type Computed = (Vec<Row>, Vec<Note>);

/// A failed statistic: where, and why.
type Failure = Box<(LogContext, String)>;

/// One statistic of one metric on one segment.
struct Task<'s> {
    summary: &'s Summary,
    segment: String,
    /// Pre-period covariate column aligned with the rows, if adjusted.
    covariate: Option<CovariateColumn>,
}

impl Run<'_> {
    /// Compute the daily partials the windows `ready` need (unless the run scans every window
    /// or only recomputes statistics); a data source whose partials fail is logged and its
    /// metrics are computed by window queries.
    fn prepare_partials(&mut self, ready: &[(AnalysisPeriod, Ready)]) -> Result<(), AnalysisError> {
        let Some(options) = self.options.partials.as_ref() else {
            return Ok(());
        };
        if self.options.statistics_only || ready.is_empty() {
            return Ok(());
        }
        let plan = crate::partials::plan(
            self.config,
            &self.sql,
            ready,
            self.warehouse,
            &self.options.dataset,
            options,
        )?;
        let failures =
            crate::partials::execute(&[&plan], self.warehouse, &self.options.dataset, options);
        // Not an error of the results: the metrics are computed by window queries, which log
        // a broken metric as they always do. A WARNING row says why the scan was not saved.
        for f in &failures {
            let message = format!(
                "The daily partials {} of data source {} could not be computed ({}); they are \
                 computed by window queries",
                f.table, f.data_source, f.message
            );
            tracing::warn!(experiment = %self.slug, "{message}");
            let record = error_record(
                &self.options.source,
                LogContext {
                    experiment: Some(self.slug.clone()),
                    ..LogContext::default()
                },
                message,
                ExceptionType::QueryError,
                "daily_partials",
            );
            self.warnings.push(LogRecord {
                log_level: LogLevel::Warning.as_str().into(),
                ..record
            });
        }
        for s in plan.sources {
            if failures.iter().any(|f| f.table == s.table) {
                continue;
            }
            self.partials.push((self.qualified(&s.table), s.partials));
        }
        Ok(())
    }

    /// The partials tables metric queries read.
    fn partials_tables(&self) -> Vec<PartialsTable<'_>> {
        self.partials
            .iter()
            .map(|(table, partials)| PartialsTable { table, partials })
            .collect()
    }

    fn log(&mut self, ctx: LogContext, message: String, exception_type: ExceptionType, func: &str) {
        tracing::error!(
            experiment = %self.slug,
            metric = ctx.metric.as_deref().unwrap_or(""),
            statistic = ctx.statistic.as_deref().unwrap_or(""),
            basis = ctx.analysis_basis.as_deref().unwrap_or(""),
            segment = ctx.segment.as_deref().unwrap_or(""),
            period = ctx.analysis_period.as_deref().unwrap_or(""),
            "{message}"
        );
        let ctx = LogContext {
            experiment: Some(self.slug.clone()),
            ..ctx
        };
        self.errors.push(error_record(
            &self.options.source,
            ctx,
            message,
            exception_type,
            func,
        ));
    }

    /// A problem of one pass of a statistic: a warning row, or an error (a failure).
    fn note(&mut self, task: &Task<'_>, basis: AnalysisBasis, period: AnalysisPeriod, note: Note) {
        let ctx = LogContext {
            metric: Some(task.summary.metric.name.clone()),
            statistic: Some(task.summary.statistic.name().into()),
            analysis_basis: Some(basis.as_str().into()),
            segment: Some(task.segment.clone()),
            analysis_period: Some(period.as_str().into()),
            ..LogContext::default()
        };
        match note.level {
            NoteLevel::Error => self.log(
                ctx,
                note.message,
                ExceptionType::StatisticComputationException,
                "calculate_statistics",
            ),
            NoteLevel::Warning => {
                tracing::warn!(experiment = %self.slug, "{}", note.message);
                let record = error_record(
                    &self.options.source,
                    LogContext {
                        experiment: Some(self.slug.clone()),
                        ..ctx
                    },
                    note.message,
                    ExceptionType::StatisticComputationException,
                    "calculate_statistics",
                );
                self.warnings.push(LogRecord {
                    log_level: LogLevel::Warning.as_str().into(),
                    ..record
                });
            }
        }
    }

    /// Sample ratio mismatch: the enrolled (and exposed) clients per branch against the
    /// configured ratios; a mismatch (p < 0.001) is a WARNING row `SampleRatioMismatch` per
    /// basis, with the counts, the ratios and the p-value. A failed count is logged and
    /// skipped: it must not stop the analysis.
    fn check_sample_ratio(&mut self) {
        let branches = &self.config.experiment.experiment.branches;
        if branches.len() < 2 || branches.iter().any(|b| b.ratio <= 0) {
            return;
        }
        let names: Vec<String> = branches.iter().map(|b| b.slug.clone()).collect();
        let counted = self
            .table(&naming::enrollments_table(&self.slug))
            .map_err(|e| e.to_string())
            .and_then(|t| {
                branch_counts(self.warehouse, &self.qualified(&t), &names)
                    .map_err(|e| e.to_string())
            });
        let counted = match counted {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(experiment = %self.slug, "sample ratio check skipped: {e}");
                return;
            }
        };
        let ratios: Vec<f64> = branches.iter().map(|b| b.ratio as f64).collect();
        for (basis, counts) in [
            (AnalysisBasis::Enrollments, counted.enrolled),
            (AnalysisBasis::Exposures, counted.exposed),
        ] {
            let Ok(Some(test)) = jetstream_stats::srm::sample_ratio_test(&counts, &ratios) else {
                continue;
            };
            if !test.mismatch() {
                continue;
            }
            let detail: Vec<String> = branches
                .iter()
                .zip(&counts)
                .zip(&test.expected)
                .map(|((b, c), e)| format!("{} {c} (expected {e:.0}, ratio {})", b.slug, b.ratio))
                .collect();
            let message = format!(
                "Sample ratio mismatch ({} basis): {}; chi-square {:.2}, p-value {:.3e}",
                basis.as_str(),
                detail.join(", "),
                test.chi_square,
                test.p_value
            );
            tracing::warn!(experiment = %self.slug, "{message}");
            let record = error_record(
                &self.options.source,
                LogContext {
                    experiment: Some(self.slug.clone()),
                    analysis_basis: Some(basis.as_str().into()),
                    ..LogContext::default()
                },
                message,
                ExceptionType::SampleRatioMismatch,
                "check_sample_ratio",
            );
            self.warnings.push(LogRecord {
                log_level: LogLevel::Warning.as_str().into(),
                ..record
            });
        }
    }

    fn table(&self, table: &str) -> Result<TableName, AnalysisError> {
        Ok(TableName::new(&self.options.dataset, table)?)
    }

    fn qualified(&self, table: &TableName) -> String {
        format!(
            "{}.{}.{}",
            self.warehouse.project(),
            table.dataset,
            table.table
        )
    }

    fn period(
        &mut self,
        period: AnalysisPeriod,
        ready: &Ready,
        summaries: &[Summary],
    ) -> Result<Option<PeriodResult>, AnalysisError> {
        let mut rows = Vec::new();
        let mut any = false;
        for basis in AnalysisBasis::ALL {
            let of_basis: Vec<&Summary> = summaries
                .iter()
                .filter(|s| s.metric.analysis_bases.contains(basis))
                .collect();
            if of_basis.is_empty() {
                continue;
            }
            any = true;
            rows.extend(self.basis(period, ready, *basis, &of_basis)?);
        }
        if !any {
            return Ok(None);
        }
        let table = self.table(&naming::statistics_table(
            &self.slug,
            period,
            ready.window_index,
        ))?;
        let view = self.table(&naming::statistics_view(&self.slug, period))?;
        let prefix = format!(
            "statistics_{}_{}",
            naming::bq_normalize_name(&self.slug),
            period.as_str()
        );
        let recomputed: Vec<&str> = summaries.iter().map(|s| s.metric.name.as_str()).collect();
        let saved = self
            .save_statistics(&table, &rows, &recomputed)
            .and_then(|n| {
                self.warehouse
                    .publish_window_view(&view, &prefix)
                    .map(|_| n)
            });
        let n = match saved {
            Ok(n) => n,
            Err(e) => {
                // The previous table (if any) is intact: the write is atomic.
                self.log(
                    LogContext {
                        analysis_period: Some(period.as_str().into()),
                        ..LogContext::default()
                    },
                    format!("Error while saving statistics to {table}: {e}"),
                    ExceptionType::QueryError,
                    "save_statistics",
                );
                return Ok(None);
            }
        };
        tracing::info!(experiment = %self.slug, table = %table, rows = n, "statistics saved");
        Ok(Some(PeriodResult {
            period,
            window: ready.window_index,
            table,
            rows: n,
        }))
    }

    /// Write the statistics table; a `--metric-slug` run replaces only the rows of the
    /// recomputed metrics in an existing table (one atomic write), keeping every other row,
    /// the counts included.
    fn save_statistics(
        &self,
        table: &TableName,
        rows: &[Row],
        recomputed: &[&str],
    ) -> Result<u64, WarehouseError> {
        let meta = TableMetadata::now(&self.slug);
        let columns = jetstream_output::statistics_columns(rows)?;
        if self.options.metric_slugs.is_none() || !self.warehouse.table_exists(table)? {
            return self.warehouse.write_columns(table, &columns, &meta);
        }
        let partial = TableName::new(&table.dataset, &format!("{}__partial", table.table))?;
        self.warehouse.write_columns(&partial, &columns, &meta)?;
        let list: Vec<String> = recomputed
            .iter()
            .map(|m| jetstream_sql::query::string_literal(m))
            .collect();
        let merged = format!(
            "SELECT * FROM `{}` WHERE metric NOT IN ({})\nUNION ALL\nSELECT * FROM `{}` WHERE metric != 'identity'",
            self.qualified(table),
            list.join(", "),
            self.qualified(&partial)
        );
        let result = self.warehouse.write_table(table, &merged, &meta);
        if let Err(e) = self.warehouse.delete_table(&partial) {
            tracing::warn!(table = %partial, error = %e, "could not delete a scratch table");
        }
        result
    }

    /// Metric tables, pull, statistics and counts of one (period, basis).
    fn basis(
        &mut self,
        period: AnalysisPeriod,
        ready: &Ready,
        basis: AnalysisBasis,
        summaries: &[&Summary],
    ) -> Result<Vec<Row>, AnalysisError> {
        let period_window = format!("{}_{}", period.as_str(), ready.window_index);
        let groups = metric_groups(summaries, self.options.discrete);
        let tables = self.materialise(period, ready, basis, &groups, &period_window)?;
        self.publish_metrics_view(period, basis, &tables);
        if tables.is_empty() {
            return Ok(Vec::new());
        }
        let Some(data) = self.pull_for(&tables, summaries, period, basis) else {
            return Ok(Vec::new());
        };
        let mut rows = self.compute_all(period, ready, basis, summaries, &data, &period_window);
        rows.extend(self.count_segments(summaries, &data, basis));
        Ok(rows)
    }

    /// Materialise: one metrics table per group (per data source when discrete), each metric
    /// that fails on its own isolated and logged; with `statistics_only`, the tables already
    /// there. Returns the tables written (or found), with their metrics and data source.
    fn materialise(
        &mut self,
        period: AnalysisPeriod,
        ready: &Ready,
        basis: AnalysisBasis,
        groups: &[(Option<String>, Vec<&Metric>)],
        period_window: &str,
    ) -> Result<Vec<MetricTable>, AnalysisError> {
        let window = ready.window_index;
        let enrollments = self.qualified(&self.table(&naming::enrollments_table(&self.slug))?);
        let mut tables: Vec<MetricTable> = Vec::new();
        self.progress.begin(
            &format!(
                "{} {} {} metric tables",
                self.slug,
                period_window,
                basis.as_str()
            ),
            groups.len() as u64,
        );
        for (ds, ms) in groups {
            let name = self.table(&naming::metrics_table(
                &self.slug,
                basis,
                ds.as_deref(),
                period,
                window,
            ))?;
            if self.options.statistics_only {
                // No metric query: the statistics come from the table already there.
                self.progress.advance(1);
                match self.warehouse.table_exists(&name) {
                    Ok(true) => tables.push((
                        name,
                        ms.iter().map(|m| m.name.clone()).collect(),
                        ds.clone(),
                    )),
                    found => {
                        let why = match found {
                            Err(e) => format!("cannot look it up: {e}"),
                            _ => "it does not exist".to_string(),
                        };
                        let message = format!(
                            "Cannot compute only statistics for period {}; metrics table {name} \
                             (data source {}): {why}",
                            period.as_str(),
                            ds.as_deref().unwrap_or("all")
                        );
                        for m in ms {
                            self.metric_failed(
                                m,
                                basis,
                                period_window,
                                &message,
                                ExceptionType::MissingMetricTable,
                            );
                        }
                    }
                }
                continue;
            }
            let result = self.write_metrics_table(&name, ms, ready, &enrollments, basis);
            // One broken metric must not take its data source's other metrics down: find the
            // metrics that fail on their own and compute the table without them.
            let (result, ms) = match result {
                Err(failure) if ms.len() > 1 => {
                    let (good, bad) = self.isolate(ms, ready, &enrollments, basis);
                    for (m, message) in bad {
                        self.metric_failed(
                            m,
                            basis,
                            period_window,
                            &message,
                            ExceptionType::QueryError,
                        );
                    }
                    if good.is_empty() {
                        (Ok(0), good)
                    } else if good.len() == ms.len() {
                        (Err(failure), good)
                    } else {
                        let retry =
                            self.write_metrics_table(&name, &good, ready, &enrollments, basis);
                        (retry, good)
                    }
                }
                other => (other, ms.clone()),
            };
            self.progress.advance(1);
            match result {
                Ok(_) if ms.is_empty() => {}
                Ok(_) => tables.push((
                    name,
                    ms.iter().map(|m| m.name.clone()).collect(),
                    ds.clone(),
                )),
                Err((message, kind)) => {
                    for m in &ms {
                        self.metric_failed(m, basis, period_window, &message, kind);
                    }
                }
            }
        }
        Ok(tables)
    }

    /// Pull: the metric tables' columns (with client ids when a covariate needs them); a
    /// failure is logged for every summary and gives nothing.
    fn pull_for(
        &mut self,
        tables: &[MetricTable],
        summaries: &[&Summary],
        period: AnalysisPeriod,
        basis: AnalysisBasis,
    ) -> Option<BasisData> {
        let needs_ids = summaries.iter().any(|s| covariate_of(s, period).is_some());
        match self.pull(tables, needs_ids) {
            Ok(d) => Some(d),
            Err(message) => {
                for s in summaries {
                    self.log(
                        LogContext {
                            metric: Some(s.metric.name.clone()),
                            statistic: Some(s.statistic.name().into()),
                            analysis_basis: Some(basis.as_str().into()),
                            analysis_period: Some(period.as_str().into()),
                            ..LogContext::default()
                        },
                        format!("Error while reading metric tables: {message}"),
                        ExceptionType::QueryError,
                        "subset_metric_table",
                    );
                }
                None
            }
        }
    }

    /// The segments of the analysis: `all`, then the config's.
    fn segment_names(&self) -> Vec<String> {
        let mut segments = vec!["all".to_string()];
        segments.extend(
            self.config
                .experiment
                .segments
                .iter()
                .map(|s| s.name.clone()),
        );
        segments
    }

    /// The configured branch slugs.
    fn branch_slugs(&self) -> Vec<String> {
        self.config
            .experiment
            .experiment
            .branches
            .iter()
            .map(|b| b.slug.clone())
            .collect()
    }

    /// Compute: each summary × segment on the statistics threads (covariates pulled once
    /// each), its notes and failures logged.
    fn compute_all(
        &mut self,
        period: AnalysisPeriod,
        ready: &Ready,
        basis: AnalysisBasis,
        summaries: &[&Summary],
        data: &BasisData,
        period_window: &str,
    ) -> Vec<Row> {
        // Covariates: one pull of each pre-period table column, joined on (analysis_id, branch).
        let mut covariates: HashMap<(String, String), Option<CovariateColumn>> = HashMap::new();
        for s in summaries {
            let Some((cov_period, cov_metric)) = covariate_of(s, period) else {
                continue;
            };
            let key = (cov_period.as_str().to_string(), cov_metric.clone());
            if covariates.contains_key(&key) {
                continue;
            }
            let column = self.covariate(data, s, cov_period, &cov_metric, basis, period);
            covariates.insert(key, column);
        }
        let segments = self.segment_names();
        let mut tasks = Vec::new();
        for segment in &segments {
            for s in summaries {
                if !metric_available(s, data) {
                    continue; // its metric table failed, already logged
                }
                let covariate = covariate_of(s, period)
                    .and_then(|(p, m)| covariates.get(&(p.as_str().to_string(), m)).cloned())
                    .flatten();
                tasks.push(Task {
                    summary: s,
                    segment: segment.clone(),
                    covariate,
                });
            }
        }
        self.progress.begin(
            &format!(
                "{} {} {} statistics",
                self.slug,
                period_window,
                basis.as_str()
            ),
            tasks.len() as u64,
        );
        let branches = self.branch_slugs();
        let reference = self
            .config
            .experiment
            .reference_branch()
            .unwrap_or("control")
            .to_string();
        let base_ctx = Context {
            analysis_basis: basis.as_str().into(),
            reference_branch: reference,
            experiment_branches: (!branches.is_empty()).then(|| branches.clone()),
            preenrollment_period: period.is_preenrollment(),
            seed: self.options.seed,
            stream_key: period_window.to_string(),
            ..Context::new("")
        };
        let progress = self.progress;
        let length = usize::try_from(ready.analysis_length_dates).unwrap_or(1);
        let results: Vec<Result<Computed, Failure>> = tasks
            .par_iter()
            .map(|task| {
                let out = compute(task, data, basis, length, &base_ctx);
                progress.advance(1);
                out
            })
            .collect();
        let mut rows = Vec::new();
        for (task, r) in tasks.iter().zip(results) {
            match r {
                Ok((r, notes)) => {
                    rows.extend(r);
                    for note in notes {
                        self.note(task, basis, period, note);
                    }
                }
                Err(failure) => {
                    let (ctx, message) = *failure;
                    self.log(
                        LogContext {
                            analysis_period: Some(period.as_str().into()),
                            ..ctx
                        },
                        message,
                        ExceptionType::StatisticComputationException,
                        "calculate_statistics",
                    )
                }
            }
        }
        rows
    }

    /// Count: the clients per branch and segment, from the rows of the last summary whose
    /// metric is available (the reference's quirk), plus zero counts for configured branches
    /// without rows.
    fn count_segments(
        &self,
        summaries: &[&Summary],
        data: &BasisData,
        basis: AnalysisBasis,
    ) -> Vec<Row> {
        let Some(last) = summaries.iter().rev().find(|s| metric_available(s, data)) else {
            return Vec::new();
        };
        let branches = self.branch_slugs();
        let mut rows = Vec::new();
        for segment in &self.segment_names() {
            let mask = subset_mask(last, segment, data, basis);
            rows.extend(count_rows(data, &mask, &branches, segment, basis));
        }
        rows
    }

    /// Log a metric whose data-source query failed (`analysis_period` = `<period>_<window>`).
    fn metric_failed(
        &mut self,
        metric: &Metric,
        basis: AnalysisBasis,
        period_window: &str,
        message: &str,
        kind: ExceptionType,
    ) {
        self.log(
            LogContext {
                metric: Some(metric.name.clone()),
                analysis_basis: Some(basis.as_str().into()),
                analysis_period: Some(period_window.to_string()),
                ..LogContext::default()
            },
            format!("Error while computing metric {}: {message}", metric.name),
            kind,
            "calculate_metric_for_ds",
        );
    }

    /// Compute `metrics` into the metrics table `name`; on failure, the message and the kind of
    /// error (as the reference's exception type).
    fn write_metrics_table(
        &self,
        name: &TableName,
        metrics: &[&Metric],
        ready: &Ready,
        enrollments: &str,
        basis: AnalysisBasis,
    ) -> Result<u64, (String, ExceptionType)> {
        let query = metrics_query_with(
            &self.sql,
            metrics,
            &ready.time_limits,
            enrollments,
            basis,
            self.config.experiment.exposure_signal.as_ref(),
            self.options.discrete,
            &self.partials_tables(),
        )
        .map_err(|e| (e.to_string(), ExceptionType::ValueError))?;
        self.options
            .write_sql(name, &query)
            .map_err(|e| (e.to_string(), ExceptionType::OSError))?;
        let merge = self.options.metric_slugs.is_some()
            && self
                .warehouse
                .table_exists(name)
                .map_err(|e| (e.to_string(), ExceptionType::QueryError))?;
        if merge {
            return self
                .merge_metrics_table(name, &query, metrics)
                .map_err(|e| (e.to_string(), ExceptionType::QueryError));
        }
        self.warehouse
            .write_table(name, &query, &TableMetadata::now(&self.slug))
            .map_err(|e| (e.to_string(), ExceptionType::QueryError))
    }

    /// A `--metric-slug` run: compute `metrics` alone, then replace (or add) their columns in
    /// the existing table `name`, keeping every other column as it is (one atomic write).
    fn merge_metrics_table(
        &self,
        name: &TableName,
        query: &str,
        metrics: &[&Metric],
    ) -> Result<u64, AnalysisError> {
        let partial = self.table(&format!("{}__partial", name.table))?;
        let meta = TableMetadata::now(&self.slug);
        self.warehouse.write_table(&partial, query, &meta)?;
        let result = (|| {
            let old = self
                .warehouse
                .query_columns(&format!("SELECT * FROM `{}` LIMIT 0", self.qualified(name)))?;
            let fresh: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
            let sql_err = |e: jetstream_sql::query::SqlError| AnalysisError::Sql {
                slug: self.slug.clone(),
                message: e.to_string(),
            };
            let mut select = Vec::new();
            for c in old.names() {
                let col = identifier("column", c).map_err(sql_err)?;
                if fresh.contains(&c.as_str()) {
                    select.push(format!("p.{col} AS {col}"));
                } else if MERGE_KEYS.contains(&c.as_str()) {
                    select.push(col.to_string());
                } else {
                    select.push(format!("o.{col} AS {col}"));
                }
            }
            for m in &fresh {
                if !old.names().iter().any(|c| c == m) {
                    let col = identifier("metric", m).map_err(sql_err)?;
                    select.push(format!("p.{col} AS {col}"));
                }
            }
            let merged = format!(
                "SELECT {}\nFROM `{}` o\nLEFT JOIN `{}` p USING ({})",
                select.join(", "),
                self.qualified(name),
                self.qualified(&partial),
                MERGE_KEYS.join(", ")
            );
            Ok(self.warehouse.write_table(name, &merged, &meta)?)
        })();
        if let Err(e) = self.warehouse.delete_table(&partial) {
            tracing::warn!(table = %partial, error = %e, "could not delete a scratch table");
        }
        result
    }

    /// Split a failed data source's metrics into those whose query runs alone and those that
    /// fail alone (with the error), by planning each alone (`LIMIT 0`).
    fn isolate<'m>(
        &self,
        metrics: &[&'m Metric],
        ready: &Ready,
        enrollments: &str,
        basis: AnalysisBasis,
    ) -> (Vec<&'m Metric>, Vec<(&'m Metric, String)>) {
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for m in metrics {
            let probe = metrics_query_with(
                &self.sql,
                &[*m],
                &ready.time_limits,
                enrollments,
                basis,
                self.config.experiment.exposure_signal.as_ref(),
                self.options.discrete,
                &self.partials_tables(),
            )
            .map_err(|e| e.to_string())
            .and_then(|q| {
                self.warehouse
                    .query_columns(&format!("SELECT * FROM (\n{q}\n) AS probe LIMIT 0"))
                    .map_err(|e| e.to_string())
            });
            match probe {
                Ok(_) => good.push(*m),
                Err(e) => bad.push((*m, e)),
            }
        }
        (good, bad)
    }

    fn publish_metrics_view(
        &mut self,
        period: AnalysisPeriod,
        basis: AnalysisBasis,
        tables: &[MetricTable],
    ) {
        let normalized = naming::bq_normalize_name(&self.slug);
        let result = self
            .table(&naming::metrics_view(&self.slug, basis, period))
            .map_err(|e| e.to_string())
            .and_then(|view| {
                if self.options.discrete {
                    let sources: Vec<(String, Vec<String>)> = tables
                        .iter()
                        .map(|(_, metrics, ds)| {
                            (
                                format!(
                                    "{normalized}_{}_{}_{}",
                                    basis.as_str(),
                                    naming::bq_normalize_name(ds.as_deref().unwrap_or_default()),
                                    period.as_str()
                                ),
                                metrics.clone(),
                            )
                        })
                        .collect();
                    self.warehouse
                        .publish_joined_window_view(&view, &sources, &METRIC_TABLE_KEYS)
                } else {
                    self.warehouse.publish_window_view(
                        &view,
                        &format!("{normalized}_{}_{}", basis.as_str(), period.as_str()),
                    )
                }
                .map_err(|e| e.to_string())
            });
        if let Err(message) = result {
            self.log(
                LogContext {
                    analysis_basis: Some(basis.as_str().into()),
                    analysis_period: Some(period.as_str().into()),
                    ..LogContext::default()
                },
                format!("Error while publishing the metrics view: {message}"),
                ExceptionType::QueryError,
                "publish_view",
            );
        }
    }

    /// One query over the (period, basis) metric tables, joined on the client.
    fn pull(&self, tables: &[MetricTable], with_ids: bool) -> Result<BasisData, String> {
        let segments: Vec<&str> = self
            .config
            .experiment
            .segments
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let mut select = vec![
            "t0.branch AS branch".to_string(),
            "t0.enrollment_date IS NOT NULL AS __enrolled".to_string(),
            "t0.exposure_date IS NOT NULL AS __exposed".to_string(),
        ];
        if with_ids {
            select.push("t0.analysis_id AS analysis_id".into());
        }
        for s in &segments {
            let s = identifier("segment", s).map_err(|e| e.to_string())?;
            select.push(format!("t0.{s} AS {s}"));
        }
        let mut from = String::new();
        let mut seen: Vec<&str> = Vec::new();
        for (i, (table, metrics, _)) in tables.iter().enumerate() {
            for m in metrics {
                if seen.contains(&m.as_str()) {
                    continue;
                }
                seen.push(m);
                let m = identifier("metric", m).map_err(|e| e.to_string())?;
                select.push(format!("t{i}.{m} AS {m}"));
            }
            let t = format!("`{}` t{i}", self.qualified(table));
            if i == 0 {
                from = t;
            } else {
                from.push_str(&format!(
                    "\nLEFT JOIN {t} USING (analysis_id, branch, analysis_window_start, analysis_window_end)"
                ));
            }
        }
        // A fixed row order: the resampling weights are drawn per row, so results are
        // reproducible only if rows arrive in the same order whatever the scan does.
        let query = format!(
            "SELECT {}\nFROM {from}\nORDER BY t0.analysis_id, t0.branch",
            select.join(",\n    ")
        );
        let cols = self
            .warehouse
            .query_columns(&query)
            .map_err(|e| e.to_string())?;
        basis_data(&cols, &segments, &seen, with_ids)
    }

    /// The pre-period column of a covariate-adjusted summary, aligned with `data`'s rows; on a
    /// missing table or column, a warning and `None` (unadjusted, as the reference falls back).
    fn covariate(
        &mut self,
        data: &BasisData,
        summary: &Summary,
        cov_period: AnalysisPeriod,
        cov_metric: &str,
        basis: AnalysisBasis,
        period: AnalysisPeriod,
    ) -> Option<CovariateColumn> {
        let ds = if self.options.discrete {
            self.config
                .metrics
                .values()
                .flatten()
                .map(|s| &s.metric)
                .find(|m| m.name == cov_metric)
                .and_then(|m| m.data_source.as_ref())
                .or(summary.metric.data_source.as_ref())
                .map(|d| d.name.clone())
        } else {
            None
        };
        let table = naming::metrics_table(
            &self.slug,
            AnalysisBasis::Enrollments,
            ds.as_deref(),
            cov_period,
            1,
        );
        let pulled = self.table(&table).map_err(|e| e.to_string()).and_then(|t| {
            let column = identifier("metric", cov_metric).map_err(|e| e.to_string())?;
            if !self.warehouse.table_exists(&t).map_err(|e| e.to_string())? {
                return Err(format!("table {t} does not exist"));
            }
            self.warehouse
                .query_columns(&format!(
                    "SELECT analysis_id, branch, {column} FROM `{}`",
                    self.qualified(&t)
                ))
                .map_err(|e| e.to_string())
        });
        let aligned = pulled.and_then(|cols| {
            let ids = cols
                .get("analysis_id")
                .and_then(Column::as_text)
                .ok_or("no analysis_id")?;
            let branches = cols
                .get("branch")
                .and_then(Column::as_text)
                .ok_or("no branch")?;
            let values = cols
                .get(cov_metric)
                .and_then(Column::to_f64)
                .ok_or_else(|| format!("column {cov_metric} is not numeric"))?;
            let mut by_client: HashMap<(&str, &str), f64> = HashMap::with_capacity(ids.len());
            for ((id, b), v) in ids.iter().zip(branches).zip(&values) {
                if let (Some(id), Some(b)) = (id, b) {
                    by_client.insert((id.as_str(), b.as_str()), v.unwrap_or(f64::NAN));
                }
            }
            let column = data
                .analysis_ids
                .iter()
                .zip(&data.codes)
                .map(|(id, c)| {
                    let branch = data.branches.get(*c as usize).map(String::as_str);
                    match (id.as_deref(), branch) {
                        (Some(id), Some(b)) => by_client.get(&(id, b)).copied().unwrap_or(f64::NAN),
                        _ => f64::NAN,
                    }
                })
                .collect();
            Ok::<_, String>(Arc::new((format!("{cov_metric}_pre"), column)))
        });
        match aligned {
            Ok(c) => Some(c),
            Err(message) => {
                let record = error_record(
                    &self.options.source,
                    LogContext {
                        experiment: Some(self.slug.clone()),
                        metric: Some(summary.metric.name.clone()),
                        statistic: Some(summary.statistic.name().into()),
                        analysis_basis: Some(basis.as_str().into()),
                        analysis_period: Some(period.as_str().into()),
                        ..LogContext::default()
                    },
                    format!(
                        "Covariate adjustment table {table} does not exist (or {cov_metric} not found in table), falling back to unadjusted inferences: {message}"
                    ),
                    ExceptionType::CovariateMissing,
                    "_create_subset_metric_table_query_covariate",
                );
                tracing::warn!(experiment = %self.slug, "{}", record.message);
                // A warning, not a failure: it goes to the logs table, not to the exit status.
                self.warnings.push(LogRecord {
                    log_level: LogLevel::Warning.as_str().into(),
                    ..record
                });
                None
            }
        }
    }
}

/// The requested metric slugs plus the upstream metrics of requested derived metrics (as the
/// reference adds them, with a warning).
fn with_upstream(config: &AnalysisConfiguration, slugs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = slugs.to_vec();
    for s in config.metrics.values().flatten() {
        if !slugs.contains(&s.metric.name) {
            continue;
        }
        for dep in s.metric.depends_on.iter().flatten() {
            if !out.contains(&dep.name) {
                tracing::warn!(
                    "`{}` requested without all dependency metrics ... Adding `{}`",
                    s.metric.name,
                    dep.name
                );
                out.push(dep.name.clone());
            }
        }
    }
    out
}

/// Plan: the metrics with SQL of `summaries` (their own, and the upstream metrics of derived
/// ones, each once, in order), in one group, or one group per data source when `discrete`.
fn metric_groups<'m>(
    summaries: &[&'m Summary],
    discrete: bool,
) -> Vec<(Option<String>, Vec<&'m Metric>)> {
    let mut metrics: Vec<&Metric> = Vec::new();
    for s in summaries {
        let upstream: Vec<&Metric> = match &s.metric.depends_on {
            Some(deps) => deps.iter().map(|m| m.as_ref()).collect(),
            None => vec![s.metric.as_ref()],
        };
        for m in upstream {
            if m.select_expression.is_some() && !metrics.iter().any(|x| x.name == m.name) {
                metrics.push(m);
            }
        }
    }
    if discrete {
        partition_by_data_source(&metrics)
            .into_iter()
            .map(|(ds, ms)| (Some(ds.name.clone()), ms))
            .collect()
    } else if metrics.is_empty() {
        Vec::new()
    } else {
        vec![(None, metrics)]
    }
}

/// `(period, metric)` of a summary's covariate, when it applies in `period`.
fn covariate_of(s: &Summary, period: AnalysisPeriod) -> Option<(AnalysisPeriod, String)> {
    let adj = match &s.statistic {
        Statistic::LinearModelMean {
            covariate_adjustment,
            ..
        }
        | Statistic::PerClientDauImpact {
            covariate_adjustment,
            ..
        } => covariate_adjustment.as_ref()?,
        _ => return None,
    };
    if period.is_preenrollment() || period == adj.period || s.metric.depends_on.is_some() {
        return None;
    }
    Some((
        adj.period,
        adj.metric.clone().unwrap_or_else(|| s.metric.name.clone()),
    ))
}

fn upstream_names(s: &Summary) -> Vec<&str> {
    match &s.metric.depends_on {
        Some(deps) => deps.iter().map(|m| m.name.as_str()).collect(),
        None => vec![s.metric.name.as_str()],
    }
}

fn metric_available(s: &Summary, data: &BasisData) -> bool {
    upstream_names(s)
        .iter()
        .all(|m| data.metrics.contains_key(*m))
}

/// The reference's subset: the metric (or every upstream metric) not NULL, enrolled, exposed
/// for the exposures basis, in the segment.
fn subset_mask(s: &Summary, segment: &str, data: &BasisData, basis: AnalysisBasis) -> Vec<bool> {
    let columns: Vec<&Vec<f64>> = upstream_names(s)
        .iter()
        .filter_map(|m| data.metrics.get(*m))
        .collect();
    let seg = (segment != "all")
        .then(|| data.segments.get(segment))
        .flatten();
    (0..data.codes.len())
        .map(|i| {
            data.codes[i] != u32::MAX
                && data.enrolled[i]
                && (basis != AnalysisBasis::Exposures || data.exposed[i])
                && (segment == "all" || seg.is_some_and(|v| v[i]))
                && columns.iter().all(|c| !c[i].is_nan())
        })
        .collect()
}

fn compute(
    task: &Task<'_>,
    data: &BasisData,
    basis: AnalysisBasis,
    length: usize,
    base: &Context,
) -> Result<Computed, Failure> {
    let s = task.summary;
    let log_ctx = || LogContext {
        metric: Some(s.metric.name.clone()),
        statistic: Some(s.statistic.name().into()),
        analysis_basis: Some(basis.as_str().into()),
        segment: Some(task.segment.clone()),
        ..LogContext::default()
    };
    let fail = |e: String| {
        Box::new((
            log_ctx(),
            format!(
                "Error while computing statistic {} for metric {}: {e}",
                s.statistic.name(),
                s.metric.name
            ),
        ))
    };
    let mask = subset_mask(s, &task.segment, data, basis);
    let codes: Vec<u32> = data
        .codes
        .iter()
        .zip(&mask)
        .filter(|(_, k)| **k)
        .map(|(c, _)| *c)
        .collect();
    let mut frame = Frame::from_codes(&data.branches, &codes).map_err(|e| fail(e.to_string()))?;
    let pick = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .zip(&mask)
            .filter(|(_, k)| **k)
            .map(|(x, _)| *x)
            .collect()
    };
    let upstream = upstream_names(s);
    for m in &upstream {
        let values = pick(&data.metrics[*m]);
        frame = frame
            .with_column(m, values)
            .map_err(|e| fail(e.to_string()))?;
    }
    if let Some(cov) = &task.covariate {
        frame = frame
            .with_column(&cov.0, pick(&cov.1))
            .map_err(|e| fail(e.to_string()))?;
    }
    let ctx = Context {
        metric: s.metric.name.clone(),
        segment: task.segment.clone(),
        notes: Notes::default(),
        ..base.clone()
    };
    let depends_on: Vec<&str> = if s.metric.depends_on.is_some() {
        upstream
    } else {
        Vec::new()
    };
    jetstream_stats::run(
        &s.statistic,
        &s.pre_treatments,
        &frame,
        &s.metric.name,
        &depends_on,
        length,
        &ctx,
    )
    .map(|rows| (rows, ctx.notes.take()))
    .map_err(|e| fail(e.to_string()))
}

fn count_rows(
    data: &BasisData,
    mask: &[bool],
    branches: &[String],
    segment: &str,
    basis: AnalysisBasis,
) -> Vec<Row> {
    let mut counts = vec![0u64; data.branches.len()];
    for (c, k) in data.codes.iter().zip(mask) {
        if *k {
            counts[*c as usize] += 1;
        }
    }
    let mut names: Vec<&String> = data
        .branches
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(b, _)| b)
        .collect();
    for b in branches {
        if !names.contains(&b) {
            names.push(b);
        }
    }
    names.sort();
    names
        .into_iter()
        .map(|b| {
            let n = data
                .branches
                .iter()
                .position(|x| x == b)
                .map_or(0, |i| counts[i]);
            #[allow(clippy::cast_precision_loss)]
            let point = n as f64;
            Row {
                metric: "identity".into(),
                statistic: "count".into(),
                parameter: None,
                branch: b.clone(),
                comparison: None,
                comparison_to_branch: None,
                ci_width: None,
                point: Some(point),
                lower: None,
                upper: None,
                segment: segment.to_string(),
                analysis_basis: basis.as_str().into(),
                window_index: None,
            }
        })
        .collect()
}

fn basis_data(
    cols: &Columns,
    segments: &[&str],
    metrics: &[&str],
    with_ids: bool,
) -> Result<BasisData, String> {
    let labels = cols
        .get("branch")
        .and_then(Column::as_text)
        .ok_or("the metrics table has no text column branch")?;
    // Branches in sorted order, not in the order rows happen to arrive (the warehouse reads in
    // parallel): the linear models clip cumulatively per reference branch, so the order of the
    // passes must not depend on the scan for results to be reproducible.
    let mut branches: Vec<String> = labels.iter().flatten().cloned().collect();
    branches.sort();
    branches.dedup();
    let index: HashMap<&str, u32> = branches
        .iter()
        .enumerate()
        .map(|(i, b)| (b.as_str(), i as u32))
        .collect();
    let codes = labels
        .iter()
        .map(|b| {
            b.as_deref()
                .and_then(|b| index.get(b).copied())
                .unwrap_or(u32::MAX)
        })
        .collect();
    let flags = |name: &str| -> Result<Vec<bool>, String> {
        match cols.get(name) {
            Some(Column::Bool(v)) => Ok(v.iter().map(|x| x.unwrap_or(false)).collect()),
            Some(_) => Err(format!("column {name} is not boolean")),
            None => Err(format!("no column {name}")),
        }
    };
    let mut segment_flags = HashMap::new();
    for s in segments {
        segment_flags.insert((*s).to_string(), flags(s)?);
    }
    let mut metric_values = HashMap::new();
    for m in metrics {
        let values = cols
            .get(m)
            .ok_or_else(|| format!("no column {m}"))?
            .to_f64()
            .ok_or_else(|| format!("metric column {m} is not numeric or boolean"))?;
        metric_values.insert(
            (*m).to_string(),
            values.into_iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
        );
    }
    let analysis_ids = if with_ids {
        cols.get("analysis_id")
            .and_then(Column::as_text)
            .ok_or("no text column analysis_id")?
            .to_vec()
    } else {
        Vec::new()
    };
    Ok(BasisData {
        branches,
        codes,
        enrolled: flags("__enrolled")?,
        exposed: flags("__exposed")?,
        segments: segment_flags,
        metrics: metric_values,
        analysis_ids,
    })
}

/// Clients per branch of an enrollments table, aligned with `branches` (a branch without
/// clients counts 0; clients of unknown branches are left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BranchCounts {
    /// Enrolled clients.
    pub enrolled: Vec<u64>,
    /// Clients with at least one exposure event.
    pub exposed: Vec<u64>,
}

/// Count the enrolled and exposed clients of each of `branches` in the enrollments table
/// `table` (`project.dataset.table`): what the sample ratio check and the report read.
pub fn branch_counts(
    warehouse: &dyn Warehouse,
    table: &str,
    branches: &[String],
) -> Result<BranchCounts, WarehouseError> {
    let sql = format!(
        "SELECT branch, COUNT(*) AS enrolled, \
         SUM(CASE WHEN num_exposure_events > 0 THEN 1 ELSE 0 END) AS exposed \
         FROM `{table}` GROUP BY branch"
    );
    let columns = warehouse.query_columns(&sql)?;
    let names: Vec<Option<String>> = match columns.get("branch") {
        Some(Column::Text(v)) => v.clone(),
        _ => Vec::new(),
    };
    let ints = |name: &str| -> Vec<u64> {
        match columns.get(name) {
            Some(Column::Int(v)) => v
                .iter()
                .map(|x| u64::try_from(x.unwrap_or(0)).unwrap_or(0))
                .collect(),
            Some(Column::Float(v)) => v.iter().map(|x| x.unwrap_or(0.0) as u64).collect(),
            _ => vec![0; names.len()],
        }
    };
    let per_branch = |found: &[u64]| -> Vec<u64> {
        branches
            .iter()
            .map(|b| {
                names
                    .iter()
                    .zip(found)
                    .filter(|(n, _)| n.as_deref() == Some(b.as_str()))
                    .map(|(_, c)| *c)
                    .sum()
            })
            .collect()
    };
    Ok(BranchCounts {
        enrolled: per_branch(&ints("enrolled")),
        exposed: per_branch(&ints("exposed")),
    })
}

/// The simulated platform of the integration tests, for the phase tests below.
#[cfg(test)]
#[path = "../tests/simulated.rs"]
mod simulated;

#[cfg(test)]
mod phase_tests {
    use super::simulated;
    use super::*;
    use jetstream_config::resolve::DataSource;
    use jetstream_warehouse::conformance::Spy;

    fn source(name: &str) -> DataSource {
        DataSource {
            name: name.into(),
            from_expression: format!("db.{name}"),
            experiments_column_type: None,
            client_id_column: "client_id".into(),
            submission_date_column: "submission_date".into(),
            default_dataset: None,
            build_id_column: "build_id".into(),
            friendly_name: None,
            description: None,
            joins: Vec::new(),
            columns_as_dimensions: false,
            analysis_units: Vec::new(),
            group_id_column: "profile_group_id".into(),
            glean_client_id_column: None,
            legacy_client_id_column: None,
        }
    }

    fn metric(name: &str, ds: Option<&str>, depends_on: Option<Vec<Arc<Metric>>>) -> Arc<Metric> {
        Arc::new(Metric {
            name: name.into(),
            data_source: ds.map(source),
            select_expression: ds.map(|_| format!("SUM({name})")),
            friendly_name: None,
            description: None,
            bigger_is_better: true,
            analysis_bases: vec![AnalysisBasis::Enrollments],
            metric_type: "scalar".into(),
            category: None,
            depends_on,
            owner: None,
            deprecated: false,
            level: None,
            analysis_units: Vec::new(),
        })
    }

    fn summary(metric: Arc<Metric>) -> Summary {
        Summary {
            metric,
            statistic: Statistic::Count,
            pre_treatments: Vec::new(),
        }
    }

    /// The plan phase: the metrics with SQL, upstream metrics of derived ones once each, in
    /// order; one group, or one per data source when discrete.
    #[test]
    fn metric_groups_take_upstream_metrics_once_and_split_by_data_source() {
        let a = metric("a", Some("main"), None);
        let b = metric("b", Some("events"), None);
        let ratio = metric("ratio", None, Some(vec![a.clone(), b.clone()]));
        let c = metric("c", Some("main"), None);
        let summaries = [
            summary(a),
            summary(ratio.clone()),
            summary(ratio),
            summary(c),
        ];
        let refs: Vec<&Summary> = summaries.iter().collect();
        let names = |g: &(Option<String>, Vec<&Metric>)| -> (Option<String>, Vec<String>) {
            (g.0.clone(), g.1.iter().map(|m| m.name.clone()).collect())
        };
        let one: Vec<_> = metric_groups(&refs, false).iter().map(names).collect();
        assert_eq!(
            one,
            [(None, vec!["a".into(), "b".into(), "c".into()])],
            "the derived metric brings b, once; it has no SQL of its own"
        );
        let split: Vec<_> = metric_groups(&refs, true).iter().map(names).collect();
        assert_eq!(
            split,
            [
                (Some("main".into()), vec!["a".into(), "c".into()]),
                (Some("events".into()), vec!["b".into()]),
            ]
        );
        assert!(metric_groups(&[], false).is_empty());
        assert!(metric_groups(&[], true).is_empty());
    }

    /// A simulated experiment's overall window, its enrollments made, and a run over `spy`.
    struct Phases {
        config: AnalysisConfiguration,
        ready: Ready,
        options: RunOptions,
    }

    fn phases(sim: &simulated::Sim) -> Phases {
        let config = simulated::config(&sim.report, jetstream_simulate::EXPERIMENT_A, |t| t);
        let date = sim.report.experiments[0].end_date;
        let options = RunOptions {
            periods: Some(vec![AnalysisPeriod::Overall]),
            ..RunOptions::default()
        };
        ensure_enrollments(&config.experiment, date, &sim.wh, &options).expect("enrollments");
        let (_, ready) = ready_windows(&config, date, Some(&[AnalysisPeriod::Overall]))
            .expect("windows")
            .remove(0);
        Phases {
            config,
            ready,
            options,
        }
    }

    fn run_on<'a>(p: &'a Phases, spy: &'a Spy<'a>) -> Run<'a> {
        Run {
            config: &p.config,
            warehouse: spy,
            options: &p.options,
            progress: &NoProgress,
            slug: p.config.experiment.normandy_slug().to_string(),
            sql: p.options.query_context(&p.config.experiment).expect("sql"),
            partials: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The materialise phase of the overall window, enrollments basis.
    fn materialise_overall(
        run: &mut Run<'_>,
        p: &Phases,
        groups: &[(Option<String>, Vec<&Metric>)],
    ) -> Vec<MetricTable> {
        let basis = AnalysisBasis::Enrollments;
        run.materialise(
            AnalysisPeriod::Overall,
            &p.ready,
            basis,
            groups,
            "overall_1",
        )
        .expect("materialise")
    }

    fn overall(p: &Phases) -> Vec<&Summary> {
        p.config.metrics[&AnalysisPeriod::Overall].iter().collect()
    }

    /// Materialise writes one metrics table per group, named as `naming` says; pull reads
    /// them; compute gives rows for every summary and segment; count gives each branch's
    /// enrolled clients — and nothing is logged.
    #[test]
    fn the_phases_write_read_compute_and_count_on_a_spy_warehouse() {
        let sim = simulated::sim(300, 5, &[]);
        let p = phases(&sim);
        let spy = Spy::new(&sim.wh);
        let mut run = run_on(&p, &spy);
        let summaries = overall(&p);
        let basis = AnalysisBasis::Enrollments;
        let groups = metric_groups(&summaries, p.options.discrete);
        let tables = materialise_overall(&mut run, &p, &groups);
        let names: Vec<String> = tables.iter().map(|t| t.0.table.clone()).collect();
        let expected: Vec<String> = groups
            .iter()
            .map(|(ds, _)| {
                naming::metrics_table(&run.slug, basis, ds.as_deref(), AnalysisPeriod::Overall, 1)
            })
            .collect();
        assert_eq!(names, expected, "one table per group, in order");
        assert_eq!(spy.written(), expected, "each written once, nothing else");

        let data = run
            .pull_for(&tables, &summaries, AnalysisPeriod::Overall, basis)
            .expect("pulled");
        let reads = spy.reads();
        for table in &names {
            assert!(
                reads.iter().any(|sql| sql.contains(table.as_str())),
                "{table} is read: {reads:?}"
            );
        }
        let enrolled = sim.report.experiments[0].enrolled.values().sum::<u64>();
        assert_eq!(
            data.codes.len() as u64,
            enrolled,
            "one row per enrolled client"
        );

        let rows = run.compute_all(
            AnalysisPeriod::Overall,
            &p.ready,
            basis,
            &summaries,
            &data,
            "overall_1",
        );
        for s in &summaries {
            assert!(
                rows.iter().any(|r| r.metric == s.metric.name),
                "{} has rows",
                s.metric.name
            );
        }
        let counts = run.count_segments(&summaries, &data, basis);
        let all: f64 = counts
            .iter()
            .filter(|r| r.segment == "all")
            .filter_map(|r| r.point)
            .sum();
        assert_eq!(
            all as u64, enrolled,
            "the counts add up to the enrolled clients"
        );
        assert!(run.errors.is_empty(), "{:?}", run.errors);
        assert_eq!(
            spy.written().len(),
            expected.len(),
            "compute and count write nothing"
        );
    }

    /// A metric whose query fails is isolated and logged alone: its group's table is written
    /// without it; a failing read logs one error per summary and gives no data.
    #[test]
    fn a_failing_metric_is_isolated_and_a_failing_read_is_logged_per_summary() {
        let sim = simulated::sim(200, 6, &[]);
        let p = phases(&sim);
        let summaries = overall(&p);
        let basis = AnalysisBasis::Enrollments;
        let groups = metric_groups(&summaries, p.options.discrete);
        let (victim_group, victim) = groups
            .iter()
            .find_map(|(ds, ms)| (ms.len() > 1).then(|| (ds.clone(), ms[0])))
            .expect("a group of several metrics");
        let needle = victim.select_expression.clone().expect("SQL");
        assert_eq!(
            groups
                .iter()
                .flat_map(|(_, ms)| ms.iter())
                .filter(|m| m.select_expression.as_deref() == Some(needle.as_str()))
                .count(),
            1,
            "the injected failure hits one metric"
        );
        let mut spy = Spy::new(&sim.wh);
        spy.refuse_sql_containing = Some(needle);
        let mut run = run_on(&p, &spy);
        let tables = materialise_overall(&mut run, &p, &groups);
        let (_, kept, _) = tables
            .iter()
            .find(|t| t.2 == victim_group)
            .expect("the group's table is still written");
        assert!(!kept.contains(&victim.name), "{kept:?}");
        assert_eq!(run.errors.len(), 1, "{:?}", run.errors);
        let e = &run.errors[0];
        assert_eq!(e.metric.as_deref(), Some(victim.name.as_str()));
        assert_eq!(e.exception_type.as_deref(), Some("QueryError"));
        assert_eq!(e.analysis_period.as_deref(), Some("overall_1"));

        let table = tables[0].0.table.clone();
        let mut spy = Spy::new(&sim.wh);
        spy.refuse_sql_containing = Some(table);
        let mut run = run_on(&p, &spy);
        assert!(
            run.pull_for(&tables, &summaries, AnalysisPeriod::Overall, basis)
                .is_none()
        );
        assert_eq!(run.errors.len(), summaries.len(), "one error per summary");
        assert!(
            run.errors
                .iter()
                .all(|e| e.message.starts_with("Error while reading metric tables"))
        );
    }
}
