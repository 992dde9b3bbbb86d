//! `jetstream run`, `rerun`, `simulate` and `demo`: argument parsing and printing around the
//! job library (`jetstream_job`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::{NaiveDate, Utc};
use jetstream_job::{
    ConfigSource as _, ExperimentSource as _, Job, JobOptions, LocalFolder, OutputSink as _,
    custom_config,
};
use jetstream_simulate::{SimOptions, simulate};

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
}

/// Arguments of `rerun`.
#[derive(Debug, clap::Args)]
pub(crate) struct RerunArgs {
    #[command(flatten)]
    pub(crate) analysis: AnalysisArgs,
    /// Analyse up to this date instead of yesterday.
    #[arg(long, value_name = "YYYY-MM-DD")]
    until: Option<NaiveDate>,
    /// Accepted for the reference's command line; the exit status always reports failures.
    #[arg(long, alias = "return_status", hide = true)]
    return_status: bool,
}

/// Build the job the arguments describe and hand it to `f` with its experiments.
fn with_job<T>(
    args: &AnalysisArgs,
    log: &LogArgs,
    analyses: bool,
    f: impl FnOnce(&Job<'_>, &jetstream_job::Parsed) -> T,
) -> anyhow::Result<T> {
    args.warehouse.check_log_project(log)?;
    if args.config_file.is_some() && args.slugs.len() != 1 {
        bail!("--config-file needs exactly one --experiment-slug");
    }
    // An analysis without any config would silently compute nothing but counts.
    if analyses
        && args.configs.config_repos.is_empty()
        && args.configs.private_config_repos.is_empty()
        && args.config_file.is_none()
    {
        bail!(
            "no analysis configs: pass --config-repos DIR (a metric-hub checkout, e.g. a clone of \
             github.com/mozilla/metric-hub) or --config-file FILE.toml with one --experiment-slug"
        );
    }
    let configs = args.configs.load()?;
    let parsed = args.source.load(&args.slugs, Utc::now().date_naive())?;
    let warehouse = args.warehouse.spec()?.open()?;
    let options = JobOptions {
        run: args.run_options(log)?,
        log_table: log.table()?,
        processes: args.processes,
    };
    let sink = jetstream_job::open_sink(args.bucket.name(), args.output_dir.as_deref())?;
    let mut job = Job::new(warehouse.as_ref(), configs, options)?;
    if let Some(sink) = &sink {
        job = job.with_sink(sink.as_ref());
    }
    if let Some(path) = &args.config_file {
        job = job.with_custom_config(&args.slugs[0], custom_config(path, &args.slugs[0])?);
    }
    Ok(f(&job, &parsed))
}

pub(crate) fn run_cmd(args: RunArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let date = args.date.unwrap_or_else(yesterday);
    let printer = Printer::new();
    with_job(&args.analysis, log, true, |job, parsed| {
        let report = job.run_daily(parsed, date, &args.analysis.slugs, &printer);
        printer.finish(&report)
    })
}

pub(crate) fn rerun_cmd(args: RerunArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    if args.analysis.slugs.is_empty() {
        bail!("rerun needs at least one --experiment-slug");
    }
    let until = args.until.unwrap_or_else(yesterday);
    let printer = Printer::new();
    with_job(&args.analysis, log, true, |job, parsed| {
        let report = job.rerun(parsed, &args.analysis.slugs, until, &printer);
        printer.finish(&report)
    })
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
    with_job(&args.analysis, log, false, |job, parsed| {
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
    /// Clients.
    #[arg(long, default_value_t = 10_000)]
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
    let mut spec = jetstream_job::WarehouseSpec::new(if args.format == "parquet" {
        "duckdb::memory:"
    } else {
        &args.warehouse
    });
    spec.memory_limit = args.memory_limit.clone();
    let wh = spec.open_duckdb()?;
    let report = simulate(&wh, &options)?;
    for (table, rows) in &report.tables {
        out!("{table}: {rows} rows");
    }
    if let Some(dir) = args.output.as_ref().filter(|_| args.format == "parquet") {
        for f in jetstream_simulate::export_parquet(&wh, dir)? {
            out!("wrote {}", f.display());
        }
    }
    let sink = LocalFolder::new(args.experiments_file.parent().unwrap_or(Path::new(".")));
    let name = args
        .experiments_file
        .file_name()
        .context("--experiments-file names no file")?
        .to_string_lossy()
        .into_owned();
    sink.put(
        &name,
        serde_json::to_string_pretty(&jetstream_simulate::recipes(&report))?.as_bytes(),
    )?;
    out!("wrote {}", args.experiments_file.display());
    let config_dir = args.config_dir.clone().unwrap_or_else(|| {
        args.experiments_file
            .parent()
            .unwrap_or(Path::new("."))
            .join("jetstream")
    });
    let configs = LocalFolder::new(&config_dir);
    for (slug, toml) in jetstream_simulate::configs() {
        let key = format!("{slug}.toml");
        configs.put(&key, toml.as_bytes())?;
        out!("wrote {}", config_dir.join(key).display());
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
    };
    let last = sim.start_date + chrono::Duration::days(i64::from(sim.days) - 1);
    simulate_cmd(sim)?;
    let exports = dir.join("exports");
    let warehouse = WarehouseArgs::with_url(&url).spec()?.open()?;
    let configs = jetstream_job::LocalConfigRepos {
        public: vec![dir.join("configs")],
        private: Vec::new(),
    };
    let parsed = jetstream_job::ExperimentsFile(recipes).experiments(&[], last)?;
    let options = JobOptions {
        log_table: log.table()?,
        ..JobOptions::default()
    };
    let sink = LocalFolder::new(&exports);
    let job = Job::new(warehouse.as_ref(), configs.configs()?, options)?.with_sink(&sink);
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
    for config in job.select_slugs(&parsed, &slugs, &printer, &mut report) {
        let slug = config.experiment.normandy_slug().to_string();
        let cols = job.headline(&config)?;
        let text = |n: &str| {
            cols.get(n)
                .and_then(|c| c.as_text())
                .unwrap_or_default()
                .to_vec()
        };
        let num = |n: &str| {
            cols.get(n)
                .and_then(jetstream_job::Column::to_f64)
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
    /// Container image, without tag.
    #[arg(long, default_value = "gcr.io/moz-fx-data-experiments/jetstream")]
    pub(crate) image: String,
    /// Image tag, or digest (`sha256:…`).
    #[arg(long, alias = "image_version", default_value = "latest")]
    pub(crate) image_version: String,
    /// Memory requested per container, in GB (1–60; `16`, `16G`, `16Gi`).
    #[arg(long, alias = "memory_request", default_value = "16", value_parser = memory_gb)]
    pub(crate) memory_request: u32,
    /// Print the rendered Argo Workflow (YAML) on stdout and submit nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

/// `16`, `16G`, `16GB`, `16Gi` → 16, within 1–60.
fn memory_gb(s: &str) -> Result<u32, String> {
    let digits = s.trim_end_matches(['G', 'B', 'i', 'g', 'b']);
    match digits.parse::<u32>() {
        Ok(n) if (1..=60).contains(&n) => Ok(n),
        _ => Err(format!("expected 1 to 60 GB (e.g. 16 or 16Gi), got {s:?}")),
    }
}

pub(crate) fn run_argo_cmd(args: RunArgoArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    if args.analysis.config_file.is_some() {
        bail!(
            "--config-file cannot be used with Argo: the containers read the config repositories"
        );
    }
    if !args.analysis.metric_slug.is_empty() {
        bail!("--metric-slug cannot be used with Argo");
    }
    if !args.dry_run {
        bail!(
            "submitting to a cluster is not available yet: pass --dry-run to print the workflow \
             (e.g. `jetstream run-argo --dry-run … | argo submit -`)"
        );
    }
    let date = args.date.unwrap_or_else(yesterday);
    let spec = args.analysis.warehouse.spec()?;
    let project = spec.results_project().to_string();
    let image = if args.image_version.starts_with("sha256:") {
        format!("{}@{}", args.image, args.image_version)
    } else {
        format!("{}:{}", args.image, args.image_version)
    };
    let configs = args.analysis.configs.load()?;
    let parsed = args
        .analysis
        .source
        .load(&args.analysis.slugs, Utc::now().date_naive())?;
    // The selection reads recipes and configs only: no warehouse is touched.
    let scratch = jetstream_job::WarehouseSpec::new("duckdb::memory:").open()?;
    let options = JobOptions {
        run: args.analysis.run_options(log)?,
        log_table: None,
        processes: Some(1),
    };
    let job = Job::new(scratch.as_ref(), configs, options)?;
    // Stdout carries the manifest only; skips and failures go to the log (stderr).
    let mut report = jetstream_job::JobReport::default();
    let items = job.daily_workflow(
        &parsed,
        date,
        &args.analysis.slugs,
        &image,
        &jetstream_job::Quiet,
        &mut report,
    );
    tracing::warn!(
        experiments = items.len(),
        skipped = report.skipped,
        failed = report.failures,
        "workflow for {date}"
    );
    let mut params = jetstream_job::WorkflowParams::new(&project, items);
    params.dataset_id.clone_from(&args.analysis.dataset_id);
    params.bucket = args.analysis.bucket.name().map(str::to_string);
    params.analysis_periods = (!args.analysis.analysis_periods.is_empty())
        .then(|| args.analysis.analysis_periods.clone());
    params.statistics_only = args.analysis.statistics_only;
    params.memory_request_gb = args.memory_request;
    let manifest = jetstream_job::render_workflow(jetstream_job::RUN_TEMPLATE, &params)?;
    out!("{}", jetstream_job::workflow_yaml(&manifest)?);
    Ok(crate::printer::exit_code(&report))
}
