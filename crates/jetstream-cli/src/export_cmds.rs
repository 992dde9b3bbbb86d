//! `jetstream export-statistics-to-json` and `export-experiment-logs-to-json`: the reference's
//! export commands, writing to a local folder (the default sink) from the DuckDB warehouse.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use chrono::NaiveDate;
use jetstream_output::LocalFolder;
use jetstream_output::export::{export_errors, export_statistics};
use jetstream_warehouse::{DuckDbWarehouse, TableName, Warehouse as _};

use crate::out;

/// Results project when none is given (the reference's default).
const DEFAULT_PROJECT: &str = "moz-fx-data-experiments";

/// Where results live: `duckdb:PATH` (a database file) or `duckdb::memory:`.
#[derive(Debug, clap::Args)]
pub(crate) struct WarehouseArgs {
    /// The warehouse: `duckdb:PATH`.
    #[arg(
        long,
        value_name = "duckdb:PATH",
        default_value = "duckdb:jetstream.duckdb"
    )]
    warehouse: String,
    /// Results project (the DuckDB catalog name of the results database).
    #[arg(long, alias = "project_id", default_value = DEFAULT_PROJECT)]
    project_id: String,
    /// Telemetry as Parquet, laid out `DIR/<project>/<dataset>/<table>.parquet` (or a folder of
    /// parts `DIR/<project>/<dataset>/<table>/*.parquet`), read as `<project>.<dataset>.<table>`.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Memory DuckDB may use before spilling to disk, e.g. `2GB` (default: DuckDB's, 80% of
    /// the machine's memory; `JETSTREAM_MEMORY_LIMIT` too).
    #[arg(long, value_name = "SIZE")]
    memory_limit: Option<String>,
}

impl WarehouseArgs {
    /// The arguments for `--warehouse spec` and nothing else.
    pub(crate) fn with_path(spec: &str) -> Self {
        Self {
            warehouse: spec.to_string(),
            project_id: DEFAULT_PROJECT.into(),
            data: None,
            memory_limit: None,
        }
    }

    pub(crate) fn open(&self) -> anyhow::Result<DuckDbWarehouse> {
        let Some(path) = self.warehouse.strip_prefix("duckdb:") else {
            bail!(
                "--warehouse {:?}: expected duckdb:PATH (BigQuery is not available in this build)",
                self.warehouse
            );
        };
        let wh = if path == ":memory:" {
            DuckDbWarehouse::in_memory(&self.project_id)
        } else {
            DuckDbWarehouse::open(std::path::Path::new(path), &self.project_id)
        };
        let wh = wh.with_context(|| format!("opening --warehouse {}", self.warehouse))?;
        let limit = self
            .memory_limit
            .clone()
            .or_else(|| std::env::var("JETSTREAM_MEMORY_LIMIT").ok());
        if let Some(limit) = limit {
            wh.set_memory_limit(&limit)
                .with_context(|| format!("--memory-limit {limit:?}"))?;
        }
        if let Some(dir) = &self.data {
            let tables = wh
                .attach_parquet_dir(dir)
                .with_context(|| format!("reading --data {}", dir.display()))?;
            tracing::info!(count = tables.len(), dir = %dir.display(), "parquet tables exposed");
        }
        // In BigQuery `mozdata` holds views of `moz-fx-data-shared-prod`: either project's
        // name finds a table given under the other.
        for (from, to) in [
            ("moz-fx-data-shared-prod", "mozdata"),
            ("mozdata", "moz-fx-data-shared-prod"),
        ] {
            wh.mirror_catalog(from, to)
                .with_context(|| format!("linking {from} tables under {to}"))?;
        }
        Ok(wh)
    }
}

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
    /// Folder receiving the files (`statistics/`, `errors/`).
    #[arg(long, value_name = "DIR", default_value = "jetstream-output")]
    output_dir: PathBuf,
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

pub(crate) fn export_statistics_cmd(args: ExportStatisticsArgs) -> anyhow::Result<ExitCode> {
    let wh = args.warehouse.open()?;
    let sink = LocalFolder::new(&args.target.output_dir);
    let mut failed = false;
    for slug in &args.target.experiments.slugs {
        match export_statistics(&wh, &sink, &args.dataset_id, slug) {
            Ok(keys) if keys.is_empty() => {
                out!("{slug}: no statistics views in {}", args.dataset_id);
            }
            Ok(keys) => {
                for key in keys {
                    out!("{slug}: {}", args.target.output_dir.join(key).display());
                }
            }
            Err(e) => {
                failed = true;
                tracing::error!(experiment = %slug, error = %e, "export failed");
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("error: {slug}: {e}");
                }
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Arguments of `export-experiment-logs-to-json`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExportLogsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    /// Dataset of the monitoring logs table.
    #[arg(long, alias = "log_dataset_id", default_value = "monitoring")]
    log_dataset_id: String,
    /// The monitoring logs table.
    #[arg(long, alias = "log_table_id", default_value = "logs")]
    log_table_id: String,
    /// The analysis date: errors logged from its start (00:00 UTC) on are exported.
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: NaiveDate,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn export_logs_cmd(args: ExportLogsArgs) -> anyhow::Result<ExitCode> {
    let wh = args.warehouse.open()?;
    let sink = LocalFolder::new(&args.target.output_dir);
    let logs = TableName::new(&args.log_dataset_id, &args.log_table_id)
        .context("--log-dataset-id/--log-table-id")?;
    let start = args.date.and_time(chrono::NaiveTime::MIN);
    for slug in &args.target.experiments.slugs {
        // As the reference's command: no enrollment end, so the window starts at the date.
        let (key, n) = export_errors(&wh, &sink, &logs, slug, start, None)
            .with_context(|| format!("exporting the errors of {slug}"))?;
        out!(
            "{slug}: {n} errors → {}",
            args.target.output_dir.join(key).display()
        );
    }
    Ok(ExitCode::SUCCESS)
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

/// Run a query on the warehouse and print the result as tab-separated values.
pub(crate) fn query_cmd(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let wh = args.warehouse.open()?;
    let cols = wh.query_columns(&args.sql)?;
    if args.format == "json" {
        let rows: Vec<serde_json::Value> = (0..cols.rows())
            .map(|row| {
                let object = cols
                    .names()
                    .iter()
                    .zip(cols.columns())
                    .map(|(n, c)| (n.clone(), c.json(row)))
                    .collect();
                serde_json::Value::Object(object)
            })
            .collect();
        out!("{}", serde_json::to_string(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    out!("{}", cols.names().join("\t"));
    for row in 0..cols.rows() {
        let cells: Vec<String> = cols.columns().iter().map(|c| c.display(row)).collect();
        out!("{}", cells.join("\t"));
    }
    Ok(ExitCode::SUCCESS)
}

/// A result cell as JSON.
trait CellJson {
    fn json(&self, row: usize) -> serde_json::Value;
}

impl CellJson for jetstream_warehouse::Column {
    fn json(&self, row: usize) -> serde_json::Value {
        use jetstream_warehouse::Column;
        use serde_json::Value;
        let cell = match self {
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
                Some(Value::String(self.display(row))).filter(|s| s != "NULL")
            }
        };
        cell.unwrap_or(Value::Null)
    }
}
