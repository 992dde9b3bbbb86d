//! `export-statistics-to-json`, `export-metadata-to-json`, `export-experiment-logs-to-json`
//! (the reference's export commands, to a local folder) and `query`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use jetstream_job::{Column, Job, JobBuilder, JobOptions, RunOptions};

use crate::args::{BucketArgs, ConfigArgs, LogArgs, SourceArgs, WarehouseArgs};
use crate::printer::{Printer, exit_code};

/// The experiments a command works on (at least one).
#[derive(Debug, clap::Args)]
pub(crate) struct SlugArgs {
    /// Experiments (Nimbus or Experimenter slug).
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG",
        required = true
    )]
    pub(crate) slugs: Vec<String>,
}

/// Which experiments to export, and where to.
#[derive(Debug, clap::Args)]
pub(crate) struct TargetArgs {
    #[command(flatten)]
    experiments: SlugArgs,
    /// Folder receiving the files (`statistics/`, `metadata/`, `errors/`).
    #[arg(
        long,
        alias = "output_dir",
        value_name = "DIR",
        default_value = "jetstream-output",
        env = "JETSTREAM_OUTPUT_DIR"
    )]
    output_dir: PathBuf,
    #[command(flatten)]
    bucket: BucketArgs,
}

/// A job for the export commands (no configs needed unless given).
fn export_job<T>(
    warehouse: &WarehouseArgs,
    dataset: &str,
    log: &LogArgs,
    target: &TargetArgs,
    configs: Option<std::sync::Arc<jetstream_job::ConfigRepos>>,
    f: impl FnOnce(&Job<'_>, &[String]) -> T,
) -> anyhow::Result<T> {
    warehouse.check_log_project(log)?;
    let options = JobOptions {
        run: RunOptions {
            dataset: dataset.to_string(),
            ..RunOptions::default()
        },
        log_table: Some(jetstream_job::TableName::new(
            &log.log_dataset_id,
            &log.log_table_id,
        )?),
        processes: None,
        spool: jetstream_job::spool::spool_dir_for(&warehouse.warehouse),
    };
    let mut builder = JobBuilder::new(warehouse.read_only_spec()?).options(options);
    // A bucket, when given, takes the place of the output folder.
    builder = match target.bucket.name() {
        Some(b) => builder.sink(Some(b), None),
        None => builder.sink(None, Some(&target.output_dir)),
    };
    if let Some(repos) = configs {
        builder = builder.opened_config_repos(repos);
    }
    let opened = builder.open()?;
    let job = opened.job()?;
    Ok(f(&job, &target.experiments.slugs))
}

/// Arguments of `export-statistics-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportStatisticsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// Dataset of the statistics tables and views.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis",
          value_parser = crate::args::sql_name)]
    dataset_id: String,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn export_statistics_cmd(
    args: ExportStatisticsArgs,
    log: &LogArgs,
) -> anyhow::Result<ExitCode> {
    let printer = Printer::new();
    export_job(
        &args.warehouse,
        &args.dataset_id,
        log,
        &args.target,
        None,
        |job, slugs| exit_code(&job.export_statistics(slugs, &printer)),
    )
}

/// Arguments of `export-metadata-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportMetadataArgs {
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
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn export_metadata_cmd(
    args: ExportMetadataArgs,
    log: &LogArgs,
) -> anyhow::Result<ExitCode> {
    let configs = args.configs.open()?;
    let parsed = args
        .source
        .load(&args.target.experiments.slugs, Utc::now().date_naive())?;
    let printer = Printer::new();
    export_job(
        &args.warehouse,
        &args.dataset_id,
        log,
        &args.target,
        Some(configs),
        |job, slugs| exit_code(&job.export_metadata(&parsed, slugs, &printer)),
    )
}

/// Arguments of `export-experiment-logs-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportLogsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// The analysis date: errors logged from its start (00:00 UTC) on are exported.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: NaiveDate,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn export_logs_cmd(args: ExportLogsArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let printer = Printer::new();
    export_job(
        &args.warehouse,
        "mozanalysis",
        log,
        &args.target,
        None,
        |job, slugs| exit_code(&job.export_logs(slugs, args.date, &printer)),
    )
}

/// When the run began, and the oldest log row its errors exports keep.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportWindowArgs {
    /// When the run began (RFC 3339, e.g. Argo's `{{workflow.creationTimestamp}}`; default:
    /// now): metadata's `analysis_start_time` and the start of the errors' window (the
    /// reference's: since the start of the analysis week).
    #[arg(long, alias = "analysis_start_time", value_name = "TIMESTAMP",
          value_parser = crate::args::since_time)]
    analysis_start_time: Option<chrono::NaiveDateTime>,
    /// Leave log rows older than this out of the errors exports (a rerun's start: none of
    /// the rows of the results it replaced). Empty: no such bound.
    #[arg(long, alias = "errors_since", value_name = "TIMESTAMP")]
    errors_since: Option<String>,
}

impl ExportWindowArgs {
    /// `(started, errors_since)`.
    fn window(&self) -> anyhow::Result<(chrono::DateTime<Utc>, Option<chrono::DateTime<Utc>>)> {
        let started = self
            .analysis_start_time
            .map_or_else(Utc::now, |t| t.and_utc());
        let since = match self.errors_since.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(t) => Some(
                crate::args::since_time(t)
                    .map_err(|e| anyhow::anyhow!("--errors-since: {e}"))?
                    .and_utc(),
            ),
        };
        Ok((started, since))
    }
}

/// Arguments of `export-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportAllArgs {
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
    #[command(flatten)]
    window: ExportWindowArgs,
    #[command(flatten)]
    target: TargetArgs,
}

/// `export-to-json`: statistics, metadata and errors of experiments (what `run` exports after
/// its analyses; the workflow's export step, once all of an experiment's dates are done).
pub(crate) fn export_all_cmd(args: ExportAllArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let (started, since) = args.window.window()?;
    let configs = args.configs.open()?;
    let parsed = args
        .source
        .load(&args.target.experiments.slugs, Utc::now().date_naive())?;
    let printer = Printer::new();
    export_job(
        &args.warehouse,
        &args.dataset_id,
        log,
        &args.target,
        Some(configs),
        |job, slugs| exit_code(&job.export_experiments(&parsed, slugs, started, since, &printer)),
    )
}

/// Arguments of `log-workflow-failures`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogFailuresArgs {
    /// The workflow (its name: Argo's `{{workflow.name}}`).
    #[arg(long, value_name = "NAME")]
    workflow: String,
    #[command(flatten)]
    cluster: crate::run_cmds::ClusterArgs,
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Which experiments are private (their errors never go to the shared bucket).
    #[command(flatten)]
    configs: ConfigArgs,
    /// Dataset of the results.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis",
          value_parser = crate::args::sql_name)]
    dataset_id: String,
    #[command(flatten)]
    window: ExportWindowArgs,
    /// Folder receiving the errors files again (`errors/`), unless a bucket is given.
    #[arg(
        long,
        alias = "output_dir",
        value_name = "DIR",
        env = "JETSTREAM_OUTPUT_DIR"
    )]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    bucket: BucketArgs,
}

/// `log-workflow-failures`: the workflow's exit handler. One ERROR row per step that failed
/// for good (`PodOOMKilled`, `PodEvicted`, `ImagePullFailed`, `DeadlineExceeded`,
/// `StepFailed`) into the monitoring table — once, however often it runs — then the errors of
/// those experiments exported again. Exit 0 when the rows are in the table.
pub(crate) fn log_failures_cmd(args: LogFailuresArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    args.warehouse.check_log_project(log)?;
    let (started, since) = args.window.window()?;
    let spec = args.warehouse.spec()?;
    let google = std::sync::Arc::new(jetstream_job::argo::GoogleApis::application_default()?);
    let status = jetstream_job::argo::workflow_status(
        &args.cluster.options(spec.results_project()),
        google,
        &args.workflow,
    )?;
    // The recipes give the errors' weekly window (their enrollment ends); without them (the
    // API down), the window starts at the workflow's creation: the rows are logged anyway.
    let slugs: Vec<String> = status
        .failed_steps
        .iter()
        .filter_map(|s| s.parameters.get("slug").cloned())
        .collect();
    let none = || jetstream_job::Parsed {
        experiments: Vec::new(),
        rejected: Vec::new(),
    };
    let parsed = if slugs.is_empty() {
        none()
    } else {
        args.source
            .load(&slugs, Utc::now().date_naive())
            .unwrap_or_else(|e| {
                tracing::warn!("the recipes could not be read ({e:#}): errors since {started}");
                none()
            })
    };
    let options = JobOptions {
        run: RunOptions {
            dataset: args.dataset_id.clone(),
            source: log.log_source.clone(),
            ..RunOptions::default()
        },
        log_table: log.table()?,
        processes: None,
        spool: jetstream_job::spool::spool_dir_for(&args.warehouse.warehouse),
    };
    // The configs say which experiments are private; without them the rows are still written,
    // but no errors object is exported (a private experiment's must not reach the bucket).
    let mut builder = JobBuilder::new(spec).options(options);
    match args.configs.open() {
        Ok(repos) => {
            builder = builder
                .configs(repos.current().as_ref().clone())
                .sink(args.bucket.name(), args.output_dir.as_deref());
        }
        Err(e) => {
            tracing::error!("the configs cannot be read ({e:#}): no errors object is exported");
        }
    }
    let opened = builder.open()?;
    let job = opened.job()?;
    let printer = Printer::new();
    let mut report = jetstream_job::JobReport::default();
    let logged =
        job.log_workflow_failures(&status, &parsed, started, since, &printer, &mut report)?;
    crate::err!(
        "workflow {} {}: {} failed steps logged ({} already there){}",
        status.name,
        status.phase,
        logged.written,
        logged.already,
        if logged.experiments.is_empty() {
            String::new()
        } else {
            format!(
                "; errors exported again for {}",
                logged.experiments.join(", ")
            )
        }
    );
    Ok(exit_code(&report))
}

/// Arguments of `query`.
#[derive(Debug, clap::Args)]
pub(crate) struct QueryArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// The query (BigQuery dialect, as the metric definitions are written).
    sql: String,
    /// `tsv` (a header line, then tab-separated rows) or `json` (an array of row objects).
    #[arg(long, default_value = "tsv", value_parser = ["tsv", "json"])]
    format: String,
}

/// Run a query on the warehouse and print the result as tab-separated values or JSON.
pub(crate) fn query_cmd(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let opened = JobBuilder::new(args.warehouse.read_only_spec()?).open()?;
    let cols = opened.job()?.query(&args.sql)?;
    print_columns(&cols, args.format == "json")?;
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `errors`.
#[derive(Debug, clap::Args)]
pub(crate) struct ErrorsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// Only these experiments (default: every one).
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    slugs: Vec<String>,
    /// Rows logged at or after this date (its start) or time (RFC 3339, e.g. Argo's
    /// `{{workflow.creationTimestamp}}`), UTC (default: the start of yesterday).
    #[arg(long, value_name = "YYYY-MM-DD|TIMESTAMP", value_parser = crate::args::since_time)]
    since: Option<chrono::NaiveDateTime>,
    /// `table` (a header line, then tab-separated rows) or `json` (an array of row objects).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
    /// Post a short alert (counts, the experiments with errors, the first messages; Slack's
    /// `{"text": …}`) to this webhook when there are ERROR rows (warnings alone page no one).
    /// Without a value, the URL comes from JETSTREAM_NOTIFY_URL (keep it there: the URL is a
    /// secret, and only its host is ever printed). Retried on connection failures, timeouts,
    /// 429 and 5xx. With --notify the exit status is the alert's: 0 when it was delivered (or
    /// nothing needed saying), 1 when it could not be.
    #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    notify: Option<String>,
}

/// `errors`: the logged errors and warnings, newest first, with their context; exit 1 when
/// an ERROR row is among them (for an alert), 0 otherwise; with `--notify`, the alert is
/// posted and the exit status says whether it was delivered.
pub(crate) fn errors_cmd(args: ErrorsArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let since = args
        .since
        .unwrap_or_else(|| crate::args::yesterday().and_time(chrono::NaiveTime::MIN));
    // Checked before anything is read: a missing URL is a mistake of the command line.
    let notify = match args.notify.as_deref() {
        None => None,
        Some("") => Some(
            std::env::var("JETSTREAM_NOTIFY_URL")
                .ok()
                .filter(|u| !u.trim().is_empty())
                .context("--notify needs a URL: give it, or set JETSTREAM_NOTIFY_URL")?,
        ),
        Some(url) => Some(url.to_string()),
    };
    let options = JobOptions {
        log_table: Some(jetstream_job::TableName::new(
            &log.log_dataset_id,
            &log.log_table_id,
        )?),
        // `errors` shows the rows a refused write left in the spool too.
        spool: jetstream_job::spool::spool_dir_for(&args.warehouse.warehouse),
        ..JobOptions::default()
    };
    let opened = JobBuilder::new(args.warehouse.read_only_spec()?)
        .options(options)
        .open()?;
    let rows = opened.job()?.logged(&args.slugs, Some(since))?;
    print_columns(&rows, args.format == "json")?;
    let errors = jetstream_job::alert::error_rows(&rows).len();
    crate::err!(
        "{errors} errors, {} warnings since {since}",
        rows.rows().saturating_sub(errors)
    );
    if let Some(url) = notify {
        let target = jetstream_job::alert::redacted(&url);
        // RFC 3339: what `--since` takes back (the alert quotes the command to run).
        let since_text = since
            .and_utc()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let Some(alert) = jetstream_job::alert::alert(&rows, &since_text) else {
            crate::err!("no ERROR rows: nothing sent to {target}");
            return Ok(ExitCode::SUCCESS);
        };
        // The exit status is the alert's: a notification that cannot be delivered fails.
        return Ok(
            match jetstream_job::alert::notify(&url, &alert, 4, std::time::Duration::from_secs(10))
            {
                Ok(()) => {
                    crate::err!("alert sent to {target} ({} errors)", alert.errors);
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    crate::err!("error: {e}");
                    ExitCode::FAILURE
                }
            },
        );
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Print columns as a JSON array of row objects, or a header and tab-separated rows.
fn print_columns(cols: &jetstream_job::Columns, json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<serde_json::Value> = (0..cols.rows())
            .map(|row| {
                let object = cols
                    .names()
                    .iter()
                    .zip(cols.columns())
                    .map(|(n, c)| (n.clone(), json_cell(c, row)))
                    .collect();
                serde_json::Value::Object(object)
            })
            .collect();
        crate::out_doc!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    if cols.names().is_empty() {
        return Ok(());
    }
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells
            .iter()
            .map(|c| crate::escape_controls(&c.replace(['\t', '\n'], " ")).into_owned())
            .collect();
        crate::out_doc!("{}", cells.join("\t"));
    };
    line(cols.names().to_vec());
    for row in 0..cols.rows() {
        line(cols.columns().iter().map(|c| c.display(row)).collect());
    }
    Ok(())
}

/// A result cell as JSON.
fn json_cell(column: &Column, row: usize) -> serde_json::Value {
    use serde_json::Value;
    let cell = match column {
        Column::Bool(v) => v.get(row).copied().flatten().map(Value::Bool),
        Column::Int(v) => v.get(row).copied().flatten().map(Value::from),
        Column::Float(v) => v
            .get(row)
            .copied()
            .flatten()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Column::Text(v) => v.get(row).cloned().flatten().map(Value::String),
        Column::Date(_) | Column::Timestamp(_) => {
            Some(Value::String(column.display(row))).filter(|s| s != "NULL")
        }
    };
    cell.unwrap_or(Value::Null)
}
