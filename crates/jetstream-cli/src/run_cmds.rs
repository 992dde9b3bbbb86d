//! `jetstream run`, `rerun`, `simulate` and `demo`: the daily analysis on the embedded
//! warehouse, and synthetic data to try it on.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jetstream_analysis::{
    AnalysisError, LogContext, Progress, RunOptions, error_record, run_analysis,
};
use jetstream_config::ConfigCollection;
use jetstream_config::collection::{FileKind, ParsedFile, parse_file};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::{AnalysisConfiguration, resolve_experiment};
use jetstream_config::spec::AnalysisSpec;
use jetstream_experimenter::select::{daily_selection, with_slug};
use jetstream_output::LocalFolder;
use jetstream_output::export::{export_errors, export_statistics};
use jetstream_output::metadata::export_metadata;
use jetstream_simulate::{SimOptions, simulate};
use jetstream_warehouse::{DuckDbWarehouse, TableName, Warehouse};

use crate::experiments_cmd::{SourceArgs, config_overrides};
use crate::export_cmds::WarehouseArgs;
use crate::out;

/// Options shared by `run` and `rerun`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnalysisArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Experiments to analyse (Nimbus or Experimenter slug); default: every eligible one.
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    slugs: Vec<String>,
    /// A metric-hub checkout (definitions, defaults, outcomes, `jetstream/<slug>.toml`).
    #[arg(long, alias = "config_repo", value_name = "DIR")]
    config_repo: Option<PathBuf>,
    /// A custom experiment config, merged over the defaults (one experiment slug only).
    #[arg(long, alias = "config_file", value_name = "FILE.toml")]
    config_file: Option<PathBuf>,
    /// Dataset of the result tables.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis")]
    dataset_id: String,
    /// The monitoring logs table (`dataset.table`).
    #[arg(long, default_value = "monitoring.logs", value_name = "DATASET.TABLE")]
    log_table: String,
    /// Write the JSON exports (statistics, metadata, errors) into this folder.
    #[arg(long, alias = "output_dir", value_name = "DIR")]
    output_dir: Option<PathBuf>,
    /// Only these periods (comma-separated: day, week, days28, overall, preenrollment_week,
    /// preenrollment_days28).
    #[arg(
        long,
        alias = "analysis_periods",
        value_delimiter = ',',
        value_name = "PERIODS"
    )]
    analysis_periods: Vec<String>,
    /// Threads for statistics (default: every CPU; `JETSTREAM_PROCESSES` too).
    #[arg(long, value_name = "N")]
    processes: Option<usize>,
    /// Replace the enrollments tables.
    #[arg(long, alias = "recreate_enrollments")]
    recreate_enrollments: bool,
    /// One metrics query per (period, basis) instead of one per data source.
    #[arg(long)]
    no_discrete_metrics: bool,
    /// Seed of the resampling statistics.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The analysis date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    #[command(flatten)]
    analysis: AnalysisArgs,
}

/// Arguments of `rerun`.
#[derive(Debug, clap::Args)]
pub(crate) struct RerunArgs {
    #[command(flatten)]
    analysis: AnalysisArgs,
    /// Analyse up to this date instead of yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    until: Option<NaiveDate>,
}

fn yesterday() -> NaiveDate {
    Utc::now().date_naive() - chrono::Duration::days(1)
}

/// Progress bars on stderr, hidden when it is not a terminal.
struct Bars {
    bar: ProgressBar,
}

impl Bars {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:50!} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        Self { bar }
    }
}

impl Progress for Bars {
    fn begin(&self, label: &str, total: u64) {
        self.bar.reset();
        self.bar.set_length(total);
        self.bar.set_position(0);
        self.bar.set_message(label.to_string());
    }
    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }
}

/// Everything an analysis needs, loaded once.
struct Session {
    warehouse: DuckDbWarehouse,
    configs: ConfigCollection,
    custom: Option<AnalysisSpec>,
    experiments: Vec<Experiment>,
    options: RunOptions,
    log_table: TableName,
    output: Option<PathBuf>,
    pool: rayon::ThreadPool,
}

impl AnalysisArgs {
    fn session(&self, today: NaiveDate) -> anyhow::Result<Session> {
        if self.config_file.is_some() && self.slugs.len() != 1 {
            bail!("--config-file needs exactly one --experiment-slug");
        }
        let configs = match &self.config_repo {
            Some(dir) => ConfigCollection::load_dir(dir)
                .with_context(|| format!("loading config repository {}", dir.display()))?,
            None => ConfigCollection::new(),
        };
        let custom = match &self.config_file {
            Some(path) => Some(custom_spec(path, &self.slugs[0])?),
            None => None,
        };
        let parsed = self.source.load(&self.slugs, today)?;
        for (slug, reason) in &parsed.rejected {
            tracing::warn!(experiment = %slug, "unreadable recipe: {reason}");
        }
        let periods = if self.analysis_periods.is_empty() {
            None
        } else {
            Some(
                self.analysis_periods
                    .iter()
                    .map(|p| {
                        AnalysisPeriod::ALL
                            .iter()
                            .find(|x| x.as_str() == p || x.table_suffix() == p)
                            .copied()
                            .with_context(|| format!("--analysis-periods: unknown period {p:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?,
            )
        };
        let (log_dataset, log_name) = self
            .log_table
            .split_once('.')
            .with_context(|| format!("--log-table {:?}: expected DATASET.TABLE", self.log_table))?;
        let mut builder = rayon::ThreadPoolBuilder::new();
        let from_env = std::env::var("JETSTREAM_PROCESSES")
            .ok()
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(n) = self.processes.or(from_env).filter(|n| *n > 0) {
            builder = builder.num_threads(n);
        }
        Ok(Session {
            warehouse: self.warehouse.open()?,
            configs,
            custom,
            experiments: parsed.experiments,
            options: RunOptions {
                dataset: self.dataset_id.clone(),
                periods,
                discrete: !self.no_discrete_metrics,
                recreate_enrollments: self.recreate_enrollments,
                seed: self.seed,
                source: "jetstream".into(),
            },
            log_table: TableName::new(log_dataset, log_name).context("--log-table")?,
            output: self.output_dir.clone(),
            pool: builder.build().context("starting the statistics threads")?,
        })
    }
}

/// A `--config-file` as the experiment's spec.
pub(crate) fn custom_spec(path: &Path, slug: &str) -> anyhow::Result<AnalysisSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let report = parse_file(
        &text,
        FileKind::Experiment {
            slug: slug.to_string(),
        },
        path,
    );
    if let Some(e) = report.errors.first() {
        bail!("{e}");
    }
    match report.parsed {
        Some(ParsedFile::Experiment(Some(spec))) => Ok(spec),
        _ => bail!("{} is not a jetstream experiment config", path.display()),
    }
}

/// Outcome counts of a session.
#[derive(Default)]
struct Tally {
    analyses: usize,
    tables: usize,
    failures: usize,
    skipped: usize,
}

impl Session {
    fn resolve(&self, experiment: &Experiment) -> anyhow::Result<AnalysisConfiguration> {
        let spec = self
            .custom
            .as_ref()
            .or_else(|| self.configs.spec_for_experiment(&experiment.normandy_slug));
        resolve_experiment(experiment, spec, &self.configs)
            .with_context(|| format!("resolving the config of {}", experiment.normandy_slug))
    }

    fn log_failure(&self, slug: &str, message: String, kind: &str, level: &str) {
        let mut record = error_record(
            "jetstream",
            LogContext {
                experiment: Some(slug.to_string()),
                ..LogContext::default()
            },
            message,
            kind,
            "run",
        );
        record.log_level = level.to_string();
        if let Err(e) = self.warehouse.append_logs(&self.log_table, &[record]) {
            tracing::error!(experiment = %slug, error = %e, "could not write the logs table");
        }
    }

    /// Analyse `config` on each date; failures are reported and logged, never fatal.
    fn analyse(&self, config: &AnalysisConfiguration, dates: &[NaiveDate], tally: &mut Tally) {
        let slug = config.experiment.normandy_slug().to_string();
        let bars = Bars::new();
        for date in dates {
            let result = self.pool.install(|| {
                run_analysis(
                    config,
                    *date,
                    &self.warehouse,
                    &self.options,
                    Some(&self.log_table),
                    &bars,
                )
            });
            match result {
                Ok(report) => {
                    tally.analyses += 1;
                    tally.tables += report.periods.len();
                    tally.failures += report.errors.len();
                    for p in &report.periods {
                        out!("{slug} {date}: {} ({} rows)", p.table, p.rows);
                    }
                    for e in &report.errors {
                        out!(
                            "{slug} {date}: FAILED {} {} {} {}: {}",
                            e.metric.as_deref().unwrap_or("-"),
                            e.statistic.as_deref().unwrap_or("-"),
                            e.analysis_basis.as_deref().unwrap_or("-"),
                            e.segment.as_deref().unwrap_or("-"),
                            e.message
                        );
                    }
                }
                Err(AnalysisError::NotRunnable(why)) => {
                    tally.skipped += 1;
                    tracing::info!(experiment = %slug, %date, "skipped: {why}");
                    self.log_failure(&slug, why.to_string(), why.exception_type(), "WARNING");
                }
                Err(e) => {
                    tally.failures += 1;
                    out!("{slug} {date}: FAILED: {e}");
                    self.log_failure(&slug, e.to_string(), "AnalysisException", "ERROR");
                }
            }
        }
        bars.bar.finish_and_clear();
    }

    /// The JSON exports of the analysed experiments.
    fn export(
        &self,
        configs: &[AnalysisConfiguration],
        started: chrono::DateTime<Utc>,
        tally: &mut Tally,
    ) {
        let Some(dir) = &self.output else { return };
        let sink = LocalFolder::new(dir);
        for config in configs {
            let slug = config.experiment.normandy_slug();
            let mut fail = |what: &str, e: &dyn std::fmt::Display| {
                tally.failures += 1;
                out!("{slug}: FAILED exporting {what}: {e}");
            };
            match export_statistics(&self.warehouse, &sink, &self.options.dataset, slug) {
                Ok(keys) => {
                    for k in keys {
                        out!("{slug}: {}", dir.join(k).display());
                    }
                }
                Err(e) => fail("statistics", &e),
            }
            match export_metadata(config, &self.configs, &sink, Some(started)) {
                Ok(Some(k)) => out!("{slug}: {}", dir.join(k).display()),
                Ok(None) => {}
                Err(e) => fail("metadata", &e),
            }
            match export_errors(
                &self.warehouse,
                &sink,
                &self.log_table,
                slug,
                started.naive_utc(),
                config.experiment.experiment.enrollment_end_date,
            ) {
                Ok((k, n)) => out!("{slug}: {n} errors → {}", dir.join(k).display()),
                Err(e) => fail("errors", &e),
            }
        }
    }
}

fn exit(tally: &Tally) -> ExitCode {
    out!(
        "{} analyses, {} statistics tables, {} skipped, {} failures",
        tally.analyses,
        tally.tables,
        tally.skipped,
        tally.failures
    );
    if tally.failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

pub(crate) fn run_cmd(args: RunArgs) -> anyhow::Result<ExitCode> {
    let started = Utc::now();
    let date = args.date.unwrap_or_else(yesterday);
    let session = args.analysis.session(Utc::now().date_naive())?;
    let overrides = |e: &Experiment| config_overrides(Some(&session.configs), e);
    let (decisions, unknown) =
        daily_selection(&session.experiments, date, &args.analysis.slugs, overrides);
    let mut tally = Tally::default();
    for slug in unknown {
        tally.failures += 1;
        out!("{slug}: not found among the experiments");
    }
    let mut configs = Vec::new();
    for d in decisions {
        let slug = d.experiment.normandy_slug.clone();
        if let Err(why) = d.verdict {
            tally.skipped += 1;
            out!("{slug}: skipped on {date}: {why}");
            continue;
        }
        match session.resolve(&d.experiment) {
            Ok(config) => {
                session.analyse(&config, &[date], &mut tally);
                configs.push(config);
            }
            Err(e) => {
                tally.failures += 1;
                out!("{slug}: FAILED: {e:#}");
                session.log_failure(&slug, format!("{e:#}"), "ConfigError", "ERROR");
            }
        }
    }
    session.export(&configs, started, &mut tally);
    Ok(exit(&tally))
}

/// Every date an experiment can be analysed on, up to `until`.
fn analysis_dates(config: &AnalysisConfiguration, until: NaiveDate) -> Vec<NaiveDate> {
    let conf = &config.experiment;
    let Some(start) = conf.start_date() else {
        return Vec::new();
    };
    let last = conf.end_date().map_or(until, |end| end.min(until));
    start.iter_days().take_while(|d| *d <= last).collect()
}

pub(crate) fn rerun_cmd(args: RerunArgs) -> anyhow::Result<ExitCode> {
    let started = Utc::now();
    if args.analysis.slugs.is_empty() {
        bail!("rerun needs at least one --experiment-slug");
    }
    let until = args.until.unwrap_or_else(yesterday);
    let session = args.analysis.session(Utc::now().date_naive())?;
    let mut tally = Tally::default();
    let mut configs = Vec::new();
    for slug in &args.analysis.slugs {
        let Some(experiment) = with_slug(&session.experiments, slug) else {
            tally.failures += 1;
            out!("{slug}: not found among the experiments");
            continue;
        };
        let config = match session.resolve(experiment) {
            Ok(c) => c,
            Err(e) => {
                tally.failures += 1;
                out!("{slug}: FAILED: {e:#}");
                continue;
            }
        };
        let deleted = delete_experiment_tables(
            &session.warehouse,
            &session.options.dataset,
            config.experiment.normandy_slug(),
            session.options.recreate_enrollments,
        )?;
        out!("{slug}: deleted {deleted} result tables");
        let dates = analysis_dates(&config, until);
        session.analyse(&config, &dates, &mut tally);
        configs.push(config);
    }
    session.export(&configs, started, &mut tally);
    Ok(exit(&tally))
}

/// Delete an experiment's metric and statistics tables and views (and its enrollments table
/// with `enrollments`), as the reference's `delete_experiment_tables`.
fn delete_experiment_tables(
    warehouse: &dyn Warehouse,
    dataset: &str,
    slug: &str,
    enrollments: bool,
) -> anyhow::Result<usize> {
    let normalized = jetstream_sql::naming::bq_normalize_name(slug);
    let enrollments_table = jetstream_sql::naming::enrollments_table(slug);
    let mut deleted = 0;
    for prefix in [
        format!("{normalized}_"),
        format!("statistics_{normalized}_"),
    ] {
        // DuckDB binds views lazily: dropping a table under a view is fine.
        for t in warehouse.list_tables(dataset, &prefix)? {
            warehouse.delete_table(&t)?;
            deleted += 1;
        }
    }
    if enrollments {
        warehouse.delete_table(&TableName::new(dataset, &enrollments_table)?)?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Arguments of `simulate`.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Where the telemetry goes (`duckdb:PATH`); with `--format parquet`, only a scratch space.
    #[arg(
        long,
        default_value = "duckdb:jetstream.duckdb",
        value_name = "duckdb:PATH"
    )]
    warehouse: String,
    /// Write the experiments' recipes (Experimenter v8 shape) to this file.
    #[arg(long, alias = "experiments_file", value_name = "OUT.json")]
    experiments_file: PathBuf,
    /// Write the experiments' configs (`<slug>.toml`) into this folder (default: `jetstream/`
    /// next to the experiments file, a metric-hub layout for `--config-repo`).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Clients.
    #[arg(long, default_value_t = 10_000)]
    clients: u64,
    /// First date of data (experiments start a week later).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2026-01-01")]
    start_date: NaiveDate,
    /// Days of data (at least 21).
    #[arg(long, default_value_t = 28)]
    days: u32,
    /// Seed: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// A planted relative lift in the treatment branches, `COLUMN=LIFT` (repeatable). Columns:
    /// active_hours_sum, scalar_parent_browser_engagement_total_uri_count_sum, sap, ad_click,
    /// is_dau, is_default_browser.
    #[arg(long, value_name = "COLUMN=LIFT")]
    effect: Vec<String>,
    /// `duckdb` (tables in the warehouse) or `parquet` (files under `--output`).
    #[arg(long, default_value = "duckdb", value_parser = ["duckdb", "parquet"])]
    format: String,
    /// With `--format parquet`: the data folder (`DIR/<project>/<dataset>/<table>.parquet`).
    #[arg(long, value_name = "DIR", required_if_eq("format", "parquet"))]
    output: Option<PathBuf>,
    /// Memory DuckDB may use before spilling to disk, e.g. `4GB` (default: DuckDB's).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

fn sim_options(args: &SimulateArgs) -> anyhow::Result<SimOptions> {
    let mut effects = BTreeMap::new();
    for e in &args.effect {
        let (c, l) = SimOptions::parse_effect(e)?;
        effects.insert(c, l);
    }
    Ok(SimOptions {
        clients: args.clients,
        start: args.start_date,
        days: args.days,
        seed: args.seed,
        effects,
    })
}

/// Write `text` to `path` through a temporary file (a failed write keeps the old file).
fn write_atomic(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn simulate_cmd(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let options = sim_options(&args)?;
    let wh = if args.format == "parquet" {
        DuckDbWarehouse::in_memory("moz-fx-data-experiments")?
    } else {
        WarehouseArgs::with_path(&args.warehouse).open()?
    };
    if let Some(limit) = &args.memory_limit {
        wh.set_memory_limit(limit)
            .with_context(|| format!("--memory-limit {limit:?}"))?;
    }
    let report = simulate(&wh, &options)?;
    for (table, rows) in &report.tables {
        out!("{table}: {rows} rows");
    }
    if let Some(dir) = args.output.as_ref().filter(|_| args.format == "parquet") {
        for f in jetstream_simulate::export_parquet(&wh, dir)? {
            out!("wrote {}", f.display());
        }
    }
    write_atomic(
        &args.experiments_file,
        &serde_json::to_string_pretty(&jetstream_simulate::recipes(&report))?,
    )?;
    out!("wrote {}", args.experiments_file.display());
    let config_dir = args.config_dir.clone().unwrap_or_else(|| {
        args.experiments_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("jetstream")
    });
    for (slug, toml) in jetstream_simulate::configs() {
        let path = config_dir.join(format!("{slug}.toml"));
        write_atomic(&path, &toml)?;
        out!("wrote {}", path.display());
    }
    for e in &report.experiments {
        let counts: Vec<String> = e.enrolled.iter().map(|(b, n)| format!("{b} {n}")).collect();
        out!(
            "{}: {} to {} (enrollment until {}); enrolled: {}",
            e.slug,
            e.start_date,
            e.end_date,
            e.enrollment_end_date,
            counts.join(", ")
        );
    }
    if !options.effects.is_empty() {
        let lifts: Vec<String> = options
            .effects
            .iter()
            .map(|(c, l)| format!("{c} {:+.1}%", l * 100.0))
            .collect();
        out!(
            "planted lifts in the treatment branches: {}",
            lifts.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Folder for the demo's database, recipes, configs and JSON exports.
    #[arg(long, default_value = "jetstream-demo", value_name = "DIR")]
    output_dir: PathBuf,
    /// Clients to simulate.
    #[arg(long, default_value_t = 20_000)]
    clients: u64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn demo_cmd(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join("jetstream.duckdb");
    for stale in [db.clone(), dir.join("jetstream.duckdb.wal")] {
        let _ = std::fs::remove_file(stale);
    }
    let _ = std::fs::remove_dir_all(dir.join("jetstream.duckdb.sources"));
    let recipes = dir.join("experiments.json");
    let lifts = [("active_hours_sum", 0.10), ("sap", 0.05)];
    out!(
        "simulating {} clients with planted lifts: active hours +10%, searches +5% ...",
        args.clients
    );
    let sim = SimulateArgs {
        warehouse: format!("duckdb:{}", db.display()),
        experiments_file: recipes.clone(),
        config_dir: Some(dir.join("configs").join("jetstream")),
        clients: args.clients,
        start_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default(),
        days: 28,
        seed: args.seed,
        effect: lifts.iter().map(|(c, l)| format!("{c}={l}")).collect(),
        format: "duckdb".into(),
        output: None,
        memory_limit: None,
    };
    let start = sim.start_date;
    let days = sim.days;
    simulate_cmd(sim)?;
    let exports = dir.join("exports");
    let analysis = AnalysisArgs {
        warehouse: WarehouseArgs::with_path(&format!("duckdb:{}", db.display())),
        source: SourceArgs::from_file(recipes),
        slugs: Vec::new(),
        config_repo: Some(dir.join("configs")),
        config_file: None,
        dataset_id: "mozanalysis".into(),
        log_table: "monitoring.logs".into(),
        output_dir: Some(exports.clone()),
        analysis_periods: Vec::new(),
        processes: None,
        recreate_enrollments: false,
        no_discrete_metrics: false,
        seed: 0,
    };
    let last = start + chrono::Duration::days(i64::from(days) - 1);
    let session = analysis.session(last)?;
    let mut tally = Tally::default();
    let mut configs = Vec::new();
    for experiment in &session.experiments {
        let config = session.resolve(experiment)?;
        let dates = analysis_dates(&config, last);
        out!(
            "analysing {} on {} dates ...",
            experiment.normandy_slug,
            dates.len()
        );
        session.analyse(&config, &dates, &mut tally);
        configs.push(config);
    }
    session.export(&configs, Utc::now(), &mut tally);
    out!("");
    out!("headline results (overall, all clients, enrollments basis):");
    out!(
        "{:<30} {:<16} {:<12} {:>9} {:>9} {:>9}",
        "experiment",
        "metric",
        "branch",
        "uplift",
        "lower",
        "upper"
    );
    for config in &configs {
        let slug = config.experiment.normandy_slug();
        let view = jetstream_sql::naming::statistics_view(slug, AnalysisPeriod::Overall);
        let sql = format!(
            "SELECT metric, branch, point, lower, upper FROM `{}.{}.{view}`
             WHERE statistic = 'mean' AND comparison = 'relative_uplift' AND segment = 'all'
               AND analysis_basis = 'enrollments' AND comparison_to_branch = 'control'
             ORDER BY metric, branch",
            session.warehouse.project(),
            session.options.dataset
        );
        let cols = session.warehouse.query_columns(&sql)?;
        let text = |n: &str| {
            cols.get(n)
                .and_then(|c| c.as_text())
                .unwrap_or_default()
                .to_vec()
        };
        let num = |n: &str| {
            cols.get(n)
                .and_then(jetstream_warehouse::Column::to_f64)
                .unwrap_or_default()
        };
        let (metrics, branches) = (text("metric"), text("branch"));
        let (point, lower, upper) = (num("point"), num("lower"), num("upper"));
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:+.1}%", v * 100.0));
        for i in 0..metrics.len() {
            out!(
                "{:<30} {:<16} {:<12} {:>9} {:>9} {:>9}",
                slug,
                metrics[i].as_deref().unwrap_or("-"),
                branches[i].as_deref().unwrap_or("-"),
                pct(point.get(i).copied().flatten()),
                pct(lower.get(i).copied().flatten()),
                pct(upper.get(i).copied().flatten())
            );
        }
    }
    out!("");
    out!("planted: active_hours +10.0%, search_count +5.0%; every other metric 0");
    out!("database: {}", db.display());
    out!("JSON exports: {}", exports.display());
    Ok(exit(&tally))
}
