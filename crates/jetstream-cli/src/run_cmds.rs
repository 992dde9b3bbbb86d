//! `jetstream run`, `rerun`, `simulate` and `demo`: argument parsing and printing around the
//! job library (`jetstream_job`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, Utc};
use jetstream_job::argo::{SubmitOptions, SubmitOutcome, WorkflowKind};
use jetstream_job::simulate::{SimOptions, SimulationRequest, write_simulation};
use jetstream_job::{
    ExperimentSource as _, ImageChoice, Job, JobBuilder, JobOptions, WarehouseSpec,
};

use crate::args::{AnalysisArgs, LogArgs, WarehouseArgs, yesterday};
use crate::out;
use crate::printer::Printer;

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The analysis date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<NaiveDate>,
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    #[command(flatten)]
    pub(crate) daily: DailyArgs,
    /// Analyse only the ready windows that have no statistics table yet (what --catch-up
    /// does for earlier dates; the workflow's catch-up steps pass `--only-missing=true`).
    #[arg(long, alias = "only_missing", value_name = "BOOL", num_args = 0..=1,
          default_value = "false", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) only_missing: bool,
}

/// How a daily run (`run`, `run-argo`) chooses its dates.
#[derive(Debug, clap::Args)]
pub(crate) struct DailyArgs {
    /// Also analyse the dates of the last DAYS (before the run's date) whose ready windows
    /// have no statistics table yet — a day the run missed (cluster down, data late) — for
    /// those windows only: nothing already written is computed again (0 to 90).
    #[arg(long, alias = "catch_up", value_name = "DAYS", default_value_t = 0,
          env = "JETSTREAM_CATCH_UP",
          value_parser = clap::value_parser!(u32).range(0..=i64::from(jetstream_job::MAX_CATCH_UP_DAYS)))]
    pub(crate) catch_up: u32,
    /// Before analysing a date, check that each source table its queries read has rows for
    /// that date, waiting up to SECONDS for them (0: check once). When the deadline passes,
    /// an experiment whose data is missing is not analysed on that date and an ERROR row
    /// UpstreamDataMissing names the tables (exit 1). Without the option: no check.
    #[arg(long, alias = "wait_for_data", value_name = "SECONDS",
          env = "JETSTREAM_WAIT_FOR_DATA",
          value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub(crate) wait_for_data: Option<u64>,
    /// Complete the interrupted reruns of the selected experiments (their dates, the windows
    /// still missing only): the default; a workflow's pods pass `--complete-reruns=false`,
    /// since their planner did.
    #[arg(long, alias = "complete_reruns", value_name = "BOOL", num_args = 0..=1,
          default_value = "true", default_missing_value = "true",
          value_parser = clap::builder::BoolishValueParser::new())]
    pub(crate) complete_reruns: bool,
}

impl DailyArgs {
    /// The job's daily options.
    pub(crate) fn options(&self) -> jetstream_job::DailyOptions {
        jetstream_job::DailyOptions {
            catch_up: self.catch_up,
            wait_for_data: self.wait_for_data.map(std::time::Duration::from_secs),
            complete_reruns: self.complete_reruns,
        }
    }
}

/// Arguments of `rerun`.
#[derive(Debug, clap::Args)]
pub(crate) struct RerunArgs {
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// Analyse up to this date instead of yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    until: Option<NaiveDate>,
    /// Run the rerun as an Argo workflow on the cluster (delete the tables here, then one pod
    /// per experiment-date).
    #[arg(long)]
    argo: bool,
    #[command(flatten)]
    pub(crate) argo_args: ArgoArgs,
}

/// Build the job the arguments describe and hand it to `f` with its experiments.
fn with_job<T>(
    args: &AnalysisArgs,
    log: &LogArgs,
    f: impl FnOnce(&Job<'_>, &jetstream_job::Parsed) -> T,
) -> anyhow::Result<T> {
    with_job_and(args, log, true, false, |_| {}, f)
}

/// [`with_job`], reading the experiments only when `experiments` (a command given slugs that
/// needs nothing of their recipes does not depend on Experimenter), the warehouse read-only
/// when `read_only` (a command that only reads), with the run options as
/// `tweak` leaves them.
fn with_job_and<T>(
    args: &AnalysisArgs,
    log: &LogArgs,
    experiments: bool,
    read_only: bool,
    tweak: impl FnOnce(&mut jetstream_job::RunOptions),
    f: impl FnOnce(&Job<'_>, &jetstream_job::Parsed) -> T,
) -> anyhow::Result<T> {
    args.warehouse.check_log_project(log)?;
    if args.config_file.is_some() && args.slugs.len() != 1 {
        bail!("--config-file needs exactly one --experiment-slug");
    }
    // The experiments first (a file's size is checked before it is read), then the configs
    // (no repository given: metric-hub's public one — an analysis without any config would
    // silently compute nothing but counts), then the warehouse.
    let parsed = if experiments {
        args.source.load(&args.slugs, Utc::now().date_naive())?
    } else {
        jetstream_job::Parsed {
            experiments: Vec::new(),
            rejected: Vec::new(),
        }
    };
    let spec = if read_only {
        args.warehouse.read_only_spec()?
    } else {
        args.warehouse.spec()?
    };
    let mut run = args.run_options(log)?;
    tweak(&mut run);
    let options = JobOptions {
        run,
        log_table: log.table()?,
        processes: args.processes,
        spool: jetstream_job::spool::spool_dir_for(&args.warehouse.warehouse),
    };
    let mut builder = JobBuilder::new(spec)
        .options(options)
        .config_repos(args.configs.repos())
        .sink(args.bucket.name(), args.output_dir.as_deref())
        .parallel(usize::from(args.parallel));
    if let Some(path) = &args.config_file {
        builder = builder.custom_config(&args.slugs[0], path);
    }
    let opened = builder.open()?;
    let job = opened.job()?;
    let before = job.table_reads();
    let out = f(&job, &parsed);
    let cost = job.cost_report(&before);
    if !cost.tables.is_empty() || !cost.own_tables.is_empty() {
        out!("{}", cost.summary());
    }
    if let Some(path) = &args.cost_report {
        cost.write(path)
            .with_context(|| format!("cannot write the cost report {}", path.display()))?;
    }
    Ok(out)
}

pub(crate) fn run_cmd(args: RunArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let date = args.date.unwrap_or_else(yesterday);
    let printer = Printer::new();
    let daily = args.daily.options();
    with_job_and(
        &args.analysis,
        log,
        true,
        false,
        |run| run.only_missing = args.only_missing,
        |job, parsed| {
            let report = job.run_daily_with(parsed, date, &args.analysis.slugs, &daily, &printer);
            printer.finish(&report)
        },
    )
}

pub(crate) fn rerun_cmd(args: RerunArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    if args.analysis.slugs.is_empty() {
        bail!("rerun needs at least one --experiment-slug");
    }
    let until = args.until.unwrap_or_else(yesterday);
    if args.argo {
        return rerun_argo(&args, until, log);
    }
    if args.argo_args.dry_run {
        bail!("--dry-run needs --argo: a local rerun has no workflow to print");
    }
    let printer = Printer::new();
    with_job(&args.analysis, log, |job, parsed| {
        let report = job.rerun(parsed, &args.analysis.slugs, until, &printer);
        printer.finish(&report)
    })
}

/// `rerun-config-changed`: rerun the experiments whose configs changed after their results
/// were written (with `--dry-run`, print their slugs, one per line, and change nothing).
pub(crate) fn rerun_changed_cmd(args: RerunArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let today = Utc::now().date_naive();
    let until = args.until.unwrap_or_else(yesterday);
    if args.argo && !args.argo_args.dry_run {
        return with_argo_job(
            &args.analysis,
            &args.argo_args,
            true,
            log,
            |job, parsed, choice| {
                let (slugs, unchecked) = changed_slugs(job, parsed, today);
                if slugs.is_empty() {
                    out!("no experiment has configs newer than its results");
                    return Ok(failure_if(unchecked));
                }
                let code = submit_rerun(job, parsed, &slugs, until, choice, &args)?;
                Ok(if unchecked { ExitCode::FAILURE } else { code })
            },
        );
    }
    let printer = Printer::new();
    let dry_run = args.argo_args.dry_run;
    with_job_and(
        &args.analysis,
        log,
        true,
        dry_run,
        |_| {},
        |job, parsed| {
            let (slugs, unchecked) = changed_slugs(job, parsed, today);
            if args.argo_args.dry_run {
                for slug in &slugs {
                    out!("{slug}");
                }
                return failure_if(unchecked);
            }
            if slugs.is_empty() {
                out!("no experiment has configs newer than its results");
                return failure_if(unchecked);
            }
            let report = job.rerun(parsed, &slugs, until, &printer);
            let code = printer.finish(&report);
            if unchecked { ExitCode::FAILURE } else { code }
        },
    )
}

fn failure_if(failed: bool) -> ExitCode {
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The slugs whose configs changed after their results (each reason on stderr), and whether
/// some experiment could not be checked.
fn changed_slugs(
    job: &Job<'_>,
    parsed: &jetstream_job::Parsed,
    today: NaiveDate,
) -> (Vec<String>, bool) {
    let changes = job.config_changes(parsed, today);
    for c in &changes.changed {
        for reason in &c.reasons {
            crate::err!("{}: {reason}", c.slug);
        }
    }
    for (slug, error) in &changes.errors {
        crate::err!("error: cannot check {slug}: {error}");
    }
    (
        changes.changed.into_iter().map(|c| c.slug).collect(),
        !changes.errors.is_empty(),
    )
}

/// Arguments of `rerun-skip`.
#[derive(Debug, clap::Args)]
pub(crate) struct RerunSkipArgs {
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// The reference's worker count, accepted for its command line (tables are marked one
    /// after another).
    #[arg(long, short = 'p', hide = true,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024))]
    parallelism: Option<usize>,
}

/// `rerun-skip`: mark experiments up to date without rerunning them (every table's
/// `last_updated` becomes now); without slugs, those `rerun-config-changed` would rerun.
pub(crate) fn rerun_skip_cmd(args: RerunSkipArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let _ = args.parallelism;
    let today = Utc::now().date_naive();
    let by_slug = !args.analysis.slugs.is_empty();
    with_job_and(
        &args.analysis,
        log,
        !by_slug,
        false,
        |_| {},
        |job, parsed| {
            let (slugs, mut failed) = if by_slug {
                (args.analysis.slugs.clone(), false)
            } else {
                changed_slugs(job, parsed, today)
            };
            for (slug, marked) in job.mark_up_to_date(&slugs) {
                match marked {
                    Ok(0) => {
                        crate::err!("warning: {slug} has no tables in the dataset: nothing to mark")
                    }
                    Ok(n) => out!("{slug}: {n} tables marked up to date"),
                    Err(e) => {
                        crate::err!("error: {slug}: {e}");
                        failed = true;
                    }
                }
            }
            failure_if(failed)
        },
    )
}

/// Arguments of `ensure-enrollments`.
#[derive(Debug, clap::Args)]
pub(crate) struct EnsureEnrollmentsArgs {
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// The date whose DAY time limits bound the enrollment query (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
}

pub(crate) fn ensure_enrollments_cmd(
    args: EnsureEnrollmentsArgs,
    log: &LogArgs,
) -> anyhow::Result<ExitCode> {
    if args.analysis.slugs.is_empty() {
        bail!("ensure-enrollments needs at least one --experiment-slug");
    }
    let date = args.date.unwrap_or_else(yesterday);
    let printer = Printer::new();
    with_job(&args.analysis, log, |job, parsed| {
        let report = job.ensure_enrollments(parsed, &args.analysis.slugs, date, &printer);
        crate::printer::exit_code(&report)
    })
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
    /// next to the experiments file, a metric-hub layout for `--config-repos`).
    #[arg(long, value_name = "DIR")]
    config_dir: Option<PathBuf>,
    /// Clients (1 to 1,000,000,000).
    #[arg(long, default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    clients: u64,
    /// First date of data (experiments start a week later).
    #[arg(long, value_name = "YYYY-MM-DD", default_value = "2026-01-01")]
    start_date: NaiveDate,
    /// Days of data (21 to 3,660).
    #[arg(long, default_value_t = 28, value_parser = clap::value_parser!(u32).range(21..=3660))]
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
    #[arg(long, value_name = "SIZE", env = "JETSTREAM_MEMORY_LIMIT",
          value_parser = crate::args::memory_size)]
    memory_limit: Option<String>,
    /// Add N more experiments, copies of the two desktop ones under slugs ending `-copy-K`
    /// (more experiments for load and `--parallel` tests).
    #[arg(long, default_value_t = 0, value_name = "N",
          value_parser = clap::value_parser!(u32).range(0..=100))]
    copies: u32,
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

pub(crate) fn simulate_cmd(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let options = sim_options(&args)?;
    let config_dir = args.config_dir.clone().unwrap_or_else(|| {
        args.experiments_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("jetstream")
    });
    let written = write_simulation(&SimulationRequest {
        options: options.clone(),
        warehouse: args.warehouse.clone(),
        memory_limit: args.memory_limit.clone(),
        parquet: args.output.clone().filter(|_| args.format == "parquet"),
        experiments_file: args.experiments_file.clone(),
        config_dir,
        copies: args.copies,
    })?;
    let report = &written.report;
    for (table, rows) in &report.tables {
        out!("{table}: {rows} rows");
    }
    for f in &written.parquet_files {
        out!("wrote {}", f.display());
    }
    out!("wrote {}", written.experiments_file.display());
    for f in &written.config_files {
        out!("wrote {}", f.display());
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
    /// Folder for the demo's database, recipes, configs, JSON exports and HTML reports.
    #[arg(long, default_value = "jetstream-demo", value_name = "DIR")]
    output_dir: PathBuf,
    /// Clients to simulate (1 to 1,000,000,000).
    #[arg(long, default_value_t = 20_000,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    clients: u64,
    /// Seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

pub(crate) fn demo_cmd(args: DemoArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.output_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join("jetstream.duckdb");
    // A fresh database each time: stale tables of an earlier demo must not survive.
    for stale in [db.clone(), dir.join("jetstream.duckdb.wal")] {
        match std::fs::remove_file(&stale) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", stale.display()));
            }
            _ => {}
        }
    }
    let sources = dir.join("jetstream.duckdb.sources");
    match std::fs::remove_dir_all(&sources) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing {}", sources.display()));
        }
        _ => {}
    }
    let recipes = dir.join("experiments.json");
    let lifts = [("active_hours_sum", 0.10), ("sap", 0.05)];
    out!(
        "simulating {} clients with planted lifts: active hours +10%, searches +5% ...",
        args.clients
    );
    let url = format!("duckdb:{}", db.display());
    let sim = SimulateArgs {
        warehouse: url.clone(),
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
        copies: 0,
    };
    let last = sim.start_date + chrono::Duration::days(i64::from(sim.days) - 1);
    simulate_cmd(sim)?;
    let exports = dir.join("exports");
    let parsed = jetstream_job::ExperimentsFile(recipes).experiments(&[], last)?;
    let options = JobOptions {
        log_table: log.table()?,
        spool: jetstream_job::spool::spool_dir_for(&url),
        ..JobOptions::default()
    };
    let opened = JobBuilder::new(WarehouseArgs::with_url(&url).spec()?)
        .options(options)
        .config_repos(jetstream_job::ConfigRepoSources::folders(&[
            dir.join("configs")
        ]))
        .sink(None, Some(&exports))
        .open()?;
    let job = opened.job()?;
    let printer = Printer::new();
    let slugs: Vec<String> = parsed
        .experiments
        .iter()
        .map(|e| e.normandy_slug.clone())
        .collect();
    out!(
        "analysing {} on every date up to {last} ...",
        slugs.join(", ")
    );
    let report = job.rerun(&parsed, &slugs, last, &printer);
    let code = printer.finish(&report);
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
    let mut report = jetstream_job::JobReport::default();
    let mut pages = Vec::new();
    for config in job.select_slugs(&parsed, &slugs, &printer, &mut report) {
        let slug = config.experiment.normandy_slug().to_string();
        let page = dir.join("reports").join(format!("{slug}.html"));
        jetstream_job::write_report(&job.report(&config)?, &page)?;
        pages.push(page);
        let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{:+.1}%", v * 100.0));
        for row in job.headline(&config)? {
            out!(
                "{:<30} {:<16} {:<12} {:>9} {:>9} {:>9}",
                slug,
                row.metric,
                row.branch,
                pct(row.point),
                pct(row.lower),
                pct(row.upper)
            );
        }
    }
    out!("");
    out!("planted: active_hours +10.0%, search_count +5.0%; every other metric 0");
    out!("database: {}", db.display());
    out!("JSON exports: {}", exports.display());
    for page in pages {
        out!("report: {}", page.display());
    }
    Ok(code)
}

/// Arguments of `run-argo`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgoArgs {
    /// The analysis date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub(crate) date: Option<NaiveDate>,
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    #[command(flatten)]
    pub(crate) daily: DailyArgs,
    #[command(flatten)]
    pub(crate) argo: ArgoArgs,
}

/// How a workflow is built, submitted and watched (`run-argo`, `rerun --argo`).
#[derive(Debug, clap::Args)]
pub(crate) struct ArgoArgs {
    /// Container image, without tag (a bare name is `gcr.io/moz-fx-data-experiments/NAME`).
    #[arg(long, default_value = "gcr.io/moz-fx-data-experiments/jetstream")]
    pub(crate) image: String,
    /// Image tag, digest (`sha256:…`) or `latest` (the newest image, by digest). Without it,
    /// each experiment runs on the image that first analysed it (Artifact Registry).
    #[arg(
        long,
        alias = "image_version",
        value_name = "TAG|sha256:DIGEST|latest",
        env = "JETSTREAM_IMAGE_VERSION"
    )]
    pub(crate) image_version: Option<String>,
    /// Memory requested per container, in GB (1–60; `16`, `16G`, `16Gi`).
    #[arg(long, alias = "memory_request", default_value = "16", value_parser = memory_gb)]
    pub(crate) memory_request: u32,
    /// Print the rendered Argo Workflow (YAML) on stdout; submit nothing, delete nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Follow the workflow until it finishes and report failed steps (the default).
    #[arg(long, alias = "monitor_status", overrides_with = "no_monitor_status")]
    pub(crate) monitor_status: bool,
    /// Return once the workflow is created.
    #[arg(long, alias = "no_monitor_status", overrides_with = "monitor_status")]
    pub(crate) no_monitor_status: bool,
    /// Seconds between status reads while following the workflow (at least 0.01).
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS", value_parser = seconds)]
    pub(crate) monitor_interval: f64,
    /// How long an unreachable Kubernetes API server is waited for while following the
    /// workflow, in minutes.
    #[arg(long, default_value_t = 30.0, value_name = "MINUTES", value_parser = minutes)]
    pub(crate) api_patience: f64,
    /// Accepted for the reference's command line: a followed workflow that failed always
    /// exits non-zero.
    #[arg(long, alias = "return_status")]
    pub(crate) return_status: bool,
}

/// Where the Kubernetes cluster of the workflows is.
#[derive(Debug, clap::Args)]
pub(crate) struct ClusterArgs {
    /// Kubernetes namespace of the workflows.
    #[arg(long, default_value = jetstream_job::argo::DEFAULT_NAMESPACE)]
    pub(crate) namespace: String,
    /// Zone (or region) of the GKE cluster [default: us-central1-a]. Given explicitly (or with
    /// --cluster-id), the GKE cluster is looked up even when KUBECONFIG is set or in a pod.
    #[arg(long)]
    pub(crate) zone: Option<String>,
    /// Name of the GKE cluster, in the results project [default: jetstream].
    #[arg(long, alias = "cluster_id")]
    pub(crate) cluster_id: Option<String>,
    /// Address of the cluster's API server (with --cluster-cert; else KUBECONFIG, the
    /// in-cluster account, or the GKE lookup).
    #[arg(
        long,
        alias = "cluster_ip",
        value_name = "IP",
        requires = "cluster_cert"
    )]
    pub(crate) cluster_ip: Option<String>,
    /// The API server's CA certificate: base64 PEM (as GKE gives it) or a PEM file.
    #[arg(
        long,
        alias = "cluster_cert",
        value_name = "CERT",
        requires = "cluster_ip"
    )]
    pub(crate) cluster_cert: Option<String>,
}

impl ClusterArgs {
    /// How to reach the cluster: `--cluster-ip`/`--cluster-cert`, else `KUBECONFIG` or the
    /// in-cluster account, else the GKE cluster (`--cluster-id`, `--zone`) of `project`.
    pub(crate) fn options(&self, project: &str) -> jetstream_job::argo::ClusterOptions {
        let explicit_gke = self.cluster_id.is_some() || self.zone.is_some();
        let gke = jetstream_job::argo::GkeCluster {
            project: project.to_string(),
            zone: self.zone.clone().unwrap_or_else(|| "us-central1-a".into()),
            cluster_id: self
                .cluster_id
                .clone()
                .unwrap_or_else(|| "jetstream".into()),
        };
        let mut cluster = jetstream_job::argo::ClusterOptions::from_env(gke);
        cluster.namespace.clone_from(&self.namespace);
        cluster.cluster_ip.clone_from(&self.cluster_ip);
        cluster.cluster_cert.clone_from(&self.cluster_cert);
        cluster.prefer_gke = explicit_gke;
        cluster
    }
}

/// A polling interval in seconds, at least 0.01.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!("expected 0.01 to 3600 seconds, got {s:?}")),
    }
}

/// A patience in minutes, from 0.01 to a day.
fn minutes(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.01..=1440.0).contains(&v) => Ok(v),
        _ => Err(format!("expected 0.01 to 1440 minutes, got {s:?}")),
    }
}

/// `16`, `16G`, `16GB`, `16Gi` → 16, within 1–60.
fn memory_gb(s: &str) -> Result<u32, String> {
    let digits = s.trim_end_matches(['G', 'B', 'i', 'g', 'b']);
    match digits.parse::<u32>() {
        Ok(n) if (1..=60).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 60 GB (e.g. 16 or 16Gi), got {s:?}")),
    }
}

/// The reference's restrictions on Argo runs.
fn check_argo(analysis: &AnalysisArgs) -> anyhow::Result<()> {
    Ok(jetstream_job::argo::check_argo_options(
        analysis.config_file.is_some(),
        &analysis.metric_slug,
        &analysis.configs.repos().specs(),
    )?)
}

/// A job for planning a workflow: over the real warehouse when images or discrete modes
/// depend on when experiments were first analysed, or the plan reads it (`reads`: catch-up,
/// the data check), else over a scratch database (a dry run with a fixed image and an explicit
/// flag touches nothing).
fn with_argo_job<T>(
    analysis: &AnalysisArgs,
    argo: &ArgoArgs,
    reads: bool,
    log: &LogArgs,
    f: impl FnOnce(&Job<'_>, &jetstream_job::Parsed, &ImageChoice) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    check_argo(analysis)?;
    let choice = ImageChoice::new(
        &jetstream_job::argo::image_name(&argo.image)?,
        argo.image_version.as_deref(),
    );
    let spec = analysis.warehouse.spec()?;
    let history = jetstream_job::argo::needs_history(&choice, analysis.explicit_discrete());
    let warehouse = if history || reads || !argo.dry_run {
        // A dry run reads the history only.
        WarehouseSpec {
            read_only: argo.dry_run,
            ..spec.clone()
        }
    } else {
        let mut scratch = WarehouseSpec::new("duckdb::memory:");
        scratch.project = spec.results_project().to_string();
        scratch
    };
    let parsed = analysis
        .source
        .load(&analysis.slugs, Utc::now().date_naive())?;
    let options = JobOptions {
        run: analysis.run_options(log)?,
        log_table: if argo.dry_run { None } else { log.table()? },
        processes: Some(1),
        spool: jetstream_job::spool::spool_dir_for(&analysis.warehouse.warehouse),
    };
    let mut builder = JobBuilder::new(warehouse)
        .options(options)
        .config_repos(analysis.configs.repos());
    if !argo.dry_run {
        // The follower exports the errors of the failed steps it logs (as the exit handler
        // does).
        builder = builder.sink(analysis.bucket.name(), analysis.output_dir.as_deref());
    }
    let opened = builder.open()?;
    f(&opened.job()?, &parsed, &choice)
}

/// Turn `plan` into a workflow; print it (`--dry-run`) or submit it, follow it, report.
#[allow(clippy::too_many_arguments)]
fn submit_plan(
    job: &Job<'_>,
    parsed: &jetstream_job::Parsed,
    plan: &jetstream_job::argo::Plan,
    choice: &ImageChoice,
    analysis: &AnalysisArgs,
    argo: &ArgoArgs,
    kind: WorkflowKind,
    mut report: jetstream_job::JobReport,
) -> anyhow::Result<ExitCode> {
    let options = SubmitOptions {
        kind,
        image: choice.clone(),
        explicit_discrete: analysis.explicit_discrete(),
        bucket: analysis.bucket.name().map(str::to_string),
        memory_request_gb: argo.memory_request,
        config_repos: analysis.configs.repos().specs(),
        dry_run: argo.dry_run,
        submission: jetstream_job::argo::Submission {
            cluster: argo
                .cluster
                .options(analysis.warehouse.spec()?.results_project()),
            monitor: (!argo.no_monitor_status)
                .then(|| std::time::Duration::from_secs_f64(argo.monitor_interval)),
            patience: std::time::Duration::from_secs_f64(argo.api_patience * 60.0),
        },
    };
    let services = jetstream_job::argo::ArgoServices::google(choice)?;
    let printer = Printer::new();
    let outcome = job.submit_plan(
        parsed,
        plan,
        &options,
        &services,
        &Printer::on_stderr(),
        &printer,
        &printer,
        &mut report,
    )?;
    let code = crate::printer::exit_code(&report);
    match outcome {
        SubmitOutcome::Empty => {
            tracing::warn!(
                skipped = report.skipped,
                failed = report.failures,
                "no experiment to analyse: no workflow"
            );
            Ok(code)
        }
        SubmitOutcome::DryRun {
            yaml,
            experiments,
            experiment_dates,
        } => {
            // Stdout carries the manifest only; skips and failures go to the log (stderr).
            tracing::warn!(
                experiments,
                experiment_dates,
                skipped = report.skipped,
                failed = report.failures,
                "workflow"
            );
            crate::out_doc!("{yaml}");
            Ok(code)
        }
        SubmitOutcome::Submitted { submitted, logged } => {
            let Some(status) = submitted.status else {
                return Ok(code);
            };
            for step in &status.failed_steps {
                out!("failed: {step}");
            }
            match logged {
                Some(Ok(logged)) if logged.written > 0 => out!(
                    "{}: {} failed steps logged to the monitoring table",
                    status.name,
                    logged.written
                ),
                Some(Err(e)) => {
                    tracing::error!("could not log the failed steps: {e}");
                    report.failures += 1;
                }
                _ => {}
            }
            let code = crate::printer::exit_code(&report);
            if let Some(why) = &status.steps_unknown {
                out!("{}: the steps could not be read ({why})", status.name);
            }
            if status.succeeded() {
                out!("{} succeeded", status.name);
                Ok(code)
            } else {
                let why = if status.message.is_empty() {
                    String::new()
                } else {
                    format!(": {}", status.message)
                };
                out!(
                    "{} {} with {} failed steps{why}",
                    status.name,
                    status.phase,
                    status.failed_steps.len()
                );
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

pub(crate) fn run_argo_cmd(args: RunArgoArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let date = args.date.unwrap_or_else(yesterday);
    let reads = args.daily.catch_up > 0 || args.daily.wait_for_data.is_some();
    with_argo_job(
        &args.analysis,
        &args.argo,
        reads,
        log,
        |job, parsed, choice| {
            let mut report = jetstream_job::JobReport::default();
            let plan = job.daily_plan(
                parsed,
                date,
                &args.analysis.slugs,
                &args.daily.options(),
                &Printer::on_stderr(),
                &mut report,
            );
            submit_plan(
                job,
                parsed,
                &plan,
                choice,
                &args.analysis,
                &args.argo,
                WorkflowKind::Daily {
                    date,
                    slugs: args.analysis.slugs.clone(),
                },
                report,
            )
        },
    )
}

/// The rerun of `slugs` up to `until` as a workflow: planned, then submitted and followed.
fn submit_rerun(
    job: &Job<'_>,
    parsed: &jetstream_job::Parsed,
    slugs: &[String],
    until: NaiveDate,
    choice: &ImageChoice,
    args: &RerunArgs,
) -> anyhow::Result<ExitCode> {
    let mut report = jetstream_job::JobReport::default();
    let plan = job.rerun_plan(parsed, slugs, until, &Printer::on_stderr(), &mut report);
    submit_plan(
        job,
        parsed,
        &plan,
        choice,
        &args.analysis,
        &args.argo_args,
        WorkflowKind::Rerun,
        report,
    )
}

fn rerun_argo(args: &RerunArgs, until: NaiveDate, log: &LogArgs) -> anyhow::Result<ExitCode> {
    with_argo_job(
        &args.analysis,
        &args.argo_args,
        false,
        log,
        |job, parsed, choice| submit_rerun(job, parsed, &args.analysis.slugs, until, choice, args),
    )
}
