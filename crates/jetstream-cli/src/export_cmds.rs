//! `export-statistics-to-json`, `export-metadata-to-json`, `export-experiment-logs-to-json`
//! (the reference's export commands, to a local folder) and `query`.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{NaiveDate, Utc};
use jetstream_job::{Column, Job, JobOptions, LocalFolder, RunOptions};

use crate::args::{BucketArgs, ConfigArgs, LogArgs, SourceArgs, WarehouseArgs};
use crate::out;
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
    let wh = warehouse.spec()?.open()?;
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
    };
    // A bucket, when given, takes the place of the output folder.
    let sink: Box<dyn jetstream_job::OutputSink> = match target.bucket.name() {
        Some(b) => jetstream_job::open_sink(Some(b), None)?
            .ok_or_else(|| anyhow::anyhow!("--bucket {b}: no sink"))?,
        None => Box::new(LocalFolder::new(&target.output_dir)),
    };
    let current = configs
        .as_ref()
        .map(|c| c.current().as_ref().clone())
        .unwrap_or_default();
    let mut job = Job::new(wh.as_ref(), current, options)?.with_sink(sink.as_ref());
    if let Some(repos) = configs {
        job = job.with_history(repos);
    }
    Ok(f(&job, &target.experiments.slugs))
}

/// Arguments of `export-statistics-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportStatisticsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// Dataset of the statistics tables and views.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis")]
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
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis")]
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
    let wh = args.warehouse.spec()?.open()?;
    let job = Job::new(
        wh.as_ref(),
        jetstream_job::ConfigCollection::new(),
        JobOptions::default(),
    )?;
    let cols = job.query(&args.sql)?;
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
    /// Rows logged on or after this date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    since: Option<NaiveDate>,
    /// `table` (a header line, then tab-separated rows) or `json` (an array of row objects).
    #[arg(long, default_value = "table", value_parser = ["table", "json"])]
    format: String,
}

/// `errors`: the logged errors and warnings, newest first, with their context; exit 1 when
/// an ERROR row is among them (for an alert), 0 otherwise.
#[allow(clippy::print_stderr)] // the count goes beside the rows
pub(crate) fn errors_cmd(args: ErrorsArgs, log: &LogArgs) -> anyhow::Result<ExitCode> {
    let since = args.since.unwrap_or_else(crate::args::yesterday);
    let wh = args.warehouse.spec()?.open()?;
    let options = JobOptions {
        log_table: Some(jetstream_job::TableName::new(
            &log.log_dataset_id,
            &log.log_table_id,
        )?),
        ..JobOptions::default()
    };
    let job = Job::new(wh.as_ref(), jetstream_job::ConfigCollection::new(), options)?;
    let rows = job.logged(&args.slugs, Some(since))?;
    print_columns(&rows, args.format == "json")?;
    let errors = match rows.get("log_level") {
        Some(Column::Text(levels)) => levels
            .iter()
            .filter(|l| l.as_deref() == Some("ERROR"))
            .count(),
        _ => 0,
    };
    eprintln!(
        "{errors} errors, {} warnings since {since}",
        rows.rows().saturating_sub(errors)
    );
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
        out!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    if cols.names().is_empty() {
        return Ok(());
    }
    out!("{}", cols.names().join("\t"));
    for row in 0..cols.rows() {
        let cells: Vec<String> = cols
            .columns()
            .iter()
            .map(|c| c.display(row).replace(['\t', '\n'], " "))
            .collect();
        out!("{}", cells.join("\t"));
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
