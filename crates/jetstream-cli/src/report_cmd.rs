//! `report` (one self-contained HTML page per experiment) and `preview` (analyse recent days
//! of a platform as a dummy experiment, then write its report).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use chrono::{NaiveDate, Utc};
use jetstream_job::{JobBuilder, JobOptions, PreviewOptions, Report, RunOptions};

use crate::args::{ConfigArgs, LogArgs, SourceArgs, WarehouseArgs, periods};
use crate::out;
use crate::printer::Printer;

/// Arguments of `report`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    configs: ConfigArgs,
    /// Dataset of the results.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis",
          value_parser = crate::args::sql_name)]
    dataset_id: String,
    /// The experiment (Nimbus slug).
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    slug: String,
    /// The page to write (default: `<slug>.html` in the current folder).
    #[arg(long, short = 'o', value_name = "FILE.html")]
    output: Option<PathBuf>,
}

pub(crate) fn report_cmd(args: ReportArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    args.warehouse.check_log_project(log)?;
    let options = JobOptions {
        run: RunOptions {
            dataset: args.dataset_id.clone(),
            ..RunOptions::default()
        },
        log_table: log.table()?,
        processes: None,
        spool: jetstream_job::spool::spool_dir_for(&args.warehouse.warehouse),
    };
    // The (read-only) warehouse first: a mistyped path fails before anything is fetched.
    let opened = JobBuilder::new(args.warehouse.read_only_spec()?)
        .options(options)
        .config_repos(args.configs.repos())
        .open()?;
    let job = opened.job()?;
    let parsed = args
        .source
        .load(std::slice::from_ref(&args.slug), Utc::now().date_naive())?;
    let report = job.report_for(&parsed, &args.slug)?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.html", args.slug)));
    write(&report, &path)?;
    Ok(ExitCode::SUCCESS)
}

/// Write the page and say what it holds; what could not be read goes to stderr.
fn write(report: &Report, path: &Path) -> anyhow::Result<()> {
    jetstream_job::write_report(report, path)?;
    for problem in &report.problems {
        crate::err!("warning: {problem}");
    }
    let rows: usize = report.statistics.iter().map(|p| p.rows.len()).sum();
    out!(
        "wrote {} ({} statistics rows, {} logged errors and warnings)",
        path.display(),
        rows,
        report.logs.len()
    );
    Ok(())
}

/// Arguments of `preview` (the reference's, with the report written instead of a Looker link).
#[derive(Debug, clap::Args)]
pub(crate) struct PreviewArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    configs: ConfigArgs,
    /// Scratch dataset of the preview's tables and its logs table `logs_<slug>` (the
    /// reference's default; its project default `mozdata` is `--project-id mozdata` here).
    #[arg(long, alias = "dataset_id", default_value = "tmp",
          value_parser = crate::args::sql_name)]
    dataset_id: String,
    /// First analysed day (default: `--num-days` before the end).
    #[arg(long, alias = "start_date", value_name = "YYYY-MM-DD")]
    start_date: Option<NaiveDate>,
    /// Last analysed day (default: yesterday, UTC).
    #[arg(long, alias = "end_date", value_name = "YYYY-MM-DD")]
    end_date: Option<NaiveDate>,
    /// Days analysed when `--start-date` is not given (1 to 90).
    #[arg(long, alias = "num_days", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=90))]
    num_days: u32,
    /// The experiment previewed: its recipe and config when known, else a dummy experiment
    /// on `--platform` with branches `control` and `treatment`.
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    slug: String,
    /// A config for the experiment (TOML), instead of metric-hub's.
    #[arg(long, alias = "config_file", value_name = "FILE")]
    config_file: Option<PathBuf>,
    /// Periods analysed (default: day).
    #[arg(
        long,
        alias = "analysis_periods",
        value_delimiter = ',',
        value_name = "PERIODS"
    )]
    analysis_periods: Vec<String>,
    /// Write every generated query to `<destination table>.sql` in this folder.
    #[arg(long, alias = "sql_output_dir", value_name = "DIR")]
    sql_output_dir: Option<PathBuf>,
    /// Platform (`app_name`) of a dummy experiment.
    #[arg(long, default_value = "firefox_desktop")]
    platform: String,
    /// Enrol the platform's active clients (assigned to branches by a hash) instead of the
    /// experiment's enrollment events.
    #[arg(long, alias = "generate_population")]
    generate_population: bool,
    /// Percentage of the population enrolled with `--generate-population` (`sample_id < N`;
    /// 1 to 100).
    #[arg(long, alias = "population_sample_size", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=100))]
    population_sample_size: u32,
    /// Days of enrollment before the first analysed day (1 to 365).
    #[arg(long, alias = "enrollment_period", default_value_t = 3,
          value_parser = clap::value_parser!(u32).range(1..=365))]
    enrollment_period: u32,
    /// Use Glean client ids for desktop enrollments.
    #[arg(long, aliases = ["use_glean_ids", "glean-only"])]
    use_glean_ids: bool,
    /// Seed of the resampling statistics.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The report to write (default: `preview-<slug>.html` in the current folder).
    #[arg(long, short = 'o', value_name = "FILE.html")]
    output: Option<PathBuf>,
}

pub(crate) fn preview_cmd(args: PreviewArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    args.warehouse.check_log_project(log)?;
    let today = Utc::now().date_naive();
    let (start_date, end_date) =
        PreviewOptions::dates(today, args.start_date, args.end_date, args.num_days);
    if start_date > end_date {
        bail!("--start-date {start_date} is after --end-date {end_date}");
    }
    let options = PreviewOptions {
        slug: args.slug.clone(),
        start_date,
        end_date,
        platform: args.platform.clone(),
        generate_population: args.generate_population,
        population_sample_size: args.population_sample_size,
        enrollment_period: args.enrollment_period,
    };
    let parsed = args.source.load(std::slice::from_ref(&args.slug), today)?;
    let found = parsed
        .experiments
        .iter()
        .find(|e| e.normandy_slug == args.slug);
    let experiment = options.experiment(found);
    let run = RunOptions {
        seed: args.seed,
        sql_output_dir: args.sql_output_dir.clone(),
        use_glean_ids: args.use_glean_ids,
        ..RunOptions::default()
    };
    let job_options =
        options.job_options(&args.dataset_id, periods(&args.analysis_periods)?, run)?;
    let mut builder = JobBuilder::new(args.warehouse.spec()?)
        .options(job_options)
        .config_repos(args.configs.repos());
    if let Some(path) = &args.config_file {
        builder = builder.custom_config(&args.slug, path);
    }
    let opened = builder.open()?;
    let job = opened.job()?;
    out!(
        "previewing {} ({}) on {start_date}..{end_date}, enrolled {}..{}{}",
        args.slug,
        if found.is_some() {
            "its recipe"
        } else {
            "a dummy experiment"
        },
        experiment.start_date.unwrap_or(start_date),
        start_date - chrono::Duration::days(1),
        if args.generate_population {
            format!(", population sample_id < {}", args.population_sample_size)
        } else {
            String::new()
        }
    );
    let printer = Printer::new();
    let preview = job.preview(&options, &experiment, &printer)?;
    let path = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("preview-{}.html", args.slug)));
    write(&preview.report, &path)?;
    Ok(printer.finish(&preview.job))
}
