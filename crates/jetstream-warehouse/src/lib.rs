//! The warehouse seam: where jetstream's queries run and its result tables live.
//!
//! [`Warehouse`] is what the analysis run needs from a warehouse — run a query into a named
//! table (atomically replacing it), create views, read result columns, keep table metadata
//! (description = experiment slug, `last_updated`, schema version) and delete tables. Queries
//! are always given in BigQuery dialect (what `jetstream-sql` generates and what metric-hub
//! definitions are written in); each backend translates as it needs.
//!
//! This crate is only the seam: the trait, its value types, a typed error
//! ([`WarehouseError`]: kind, retryable, source), the pieces backends share ([`backend`]) and
//! the conformance suite every backend runs (feature `conformance`). The backends live in
//! their own crates — `jetstream-duckdb` (the embedded default) and `jetstream-bigquery` — so
//! a crate that only needs the trait never builds DuckDB or an HTTP client.

pub mod backend;
mod columns;
#[cfg(feature = "conformance")]
pub mod conformance;

use chrono::{DateTime, NaiveDateTime, Utc};

pub use columns::{Column, Columns};

/// Columns of the monitoring `logs` table, in order.
pub const LOG_COLUMNS: [&str; 14] = [
    "timestamp",
    "source",
    "experiment",
    "metric",
    "statistic",
    "analysis_basis",
    "segment",
    "analysis_period",
    "message",
    "log_level",
    "exception",
    "filename",
    "func_name",
    "exception_type",
];

/// Schema version written into the metadata of every table jetstream creates (the reference's
/// `schema_version` label of statistics tables).
pub const SCHEMA_VERSION: u32 = 4;

/// A table (or view) of the results dataset: `<dataset>.<table>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TableName {
    /// Dataset (BigQuery) or schema (DuckDB).
    pub dataset: String,
    /// Table name, normally from `jetstream_sql::naming`.
    pub table: String,
}

impl TableName {
    /// A table name; both parts must be non-empty and free of control characters (they are
    /// always quoted when they reach SQL).
    pub fn new(dataset: &str, table: &str) -> Result<Self, WarehouseError> {
        for part in [dataset, table] {
            if part.is_empty() || part.chars().any(char::is_control) {
                return Err(WarehouseError::invalid_name(format!("{dataset}.{table}")));
            }
        }
        Ok(Self {
            dataset: dataset.to_string(),
            table: table.to_string(),
        })
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.dataset, self.table)
    }
}

/// The window tables `<table_prefix>_<n>` among `tables`, sorted by window number `n` (digits
/// only: look-alikes such as `<table_prefix>_1_backup` are left out). Backends and exports
/// filter a listing (`Warehouse::list_tables(dataset, "<table_prefix>_")`) with it.
pub fn window_tables(
    tables: impl IntoIterator<Item = TableName>,
    table_prefix: &str,
) -> Vec<(u64, TableName)> {
    let start = format!("{table_prefix}_");
    let mut windows: Vec<(u64, TableName)> = tables
        .into_iter()
        .filter_map(|t| {
            let n = t.table.strip_prefix(&start)?;
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then(|| n.parse().ok())
                .flatten()
                .map(|n| (n, t))
        })
        .collect();
    windows.sort();
    windows
}

/// A query on one line, cut after 300 characters, for error messages.
pub fn sql_excerpt(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

/// Metadata kept with every result table (BigQuery: description and labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableMetadata {
    /// The experiment slug the table belongs to.
    pub description: String,
    /// When the table was last written.
    pub last_updated: DateTime<Utc>,
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
}

impl TableMetadata {
    /// Metadata for a table of `slug` written now.
    pub fn now(slug: &str) -> Self {
        Self {
            description: slug.to_string(),
            last_updated: Utc::now(),
            schema_version: SCHEMA_VERSION,
        }
    }
}

mod error;
pub use error::{BoxError, WarehouseError, WarehouseErrorKind};
mod log_kinds;
pub use log_kinds::{ExceptionType, LogLevel};

/// One row of the monitoring `logs` table (the reference's `BigQueryLogHandler` schema): an
/// error or warning of an analysis with its context.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogRecord {
    /// When it happened (UTC, second precision).
    pub timestamp: NaiveDateTime,
    /// `jetstream` (or `jetstream-preview`, `sizing`).
    pub source: String,
    /// Experiment slug.
    pub experiment: Option<String>,
    /// Metric slug.
    pub metric: Option<String>,
    /// Statistic name.
    pub statistic: Option<String>,
    /// `enrollments` / `exposures`.
    pub analysis_basis: Option<String>,
    /// Segment name.
    pub segment: Option<String>,
    /// `<period>` or `<period>_<window>`.
    pub analysis_period: Option<String>,
    /// The message.
    pub message: String,
    /// `ERROR`, `WARNING`, ...
    pub log_level: String,
    /// The error text (`"None"` when there is none, as the reference writes it).
    pub exception: String,
    /// The source file (here: the Rust module) that logged it.
    pub filename: String,
    /// The operation that logged it.
    pub func_name: String,
    /// The kind of error (e.g. `StatisticComputationException`), if any.
    pub exception_type: Option<String>,
}

/// What the analysis run needs from a warehouse.
pub trait Warehouse: Send + Sync {
    /// Run a statement (BigQuery dialect) for its effect.
    fn execute(&self, sql: &str) -> Result<(), WarehouseError>;

    /// Run `query` into `name`, replacing the table atomically: if anything fails, the previous
    /// table (and its metadata) is left intact. Returns the number of rows written.
    fn write_table(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError>;

    /// Write `columns` as table `name`, replacing it atomically as [`Warehouse::write_table`]
    /// (statistics rows computed outside the warehouse). Returns the number of rows.
    fn write_columns(
        &self,
        name: &TableName,
        columns: &Columns,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError>;

    /// Run `query` into `name` only if the table does not exist yet (enrollment tables are
    /// created once). Returns whether it was created.
    fn create_table_if_absent(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<bool, WarehouseError> {
        if self.table_exists(name)? {
            return Ok(false);
        }
        self.write_table(name, query, metadata)?;
        Ok(true)
    }

    /// Replace the rows of `name` whose `date_column` is one of `dates` by the rows of `query`
    /// (which only has rows of those dates), creating the table from the query's columns when
    /// absent: date-partitioned on `date_column` and clustered by `cluster_by` where the
    /// warehouse has those (BigQuery). The query reads result tables, not telemetry (the daily
    /// partials copied from a shared scan). Where the warehouse has transactions (DuckDB) the
    /// replacement is atomic; elsewhere a failure can leave the dates without rows, which a
    /// caller that keeps a marker row per date (the partials) sees as not computed. Returns the
    /// number of rows written.
    fn replace_partitions(
        &self,
        name: &TableName,
        date_column: &str,
        dates: &[chrono::NaiveDate],
        query: &str,
        cluster_by: &[&str],
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError>;

    /// Whether a table or view of that name exists.
    fn table_exists(&self, name: &TableName) -> Result<bool, WarehouseError>;

    /// Create or replace a view.
    fn create_view(&self, name: &TableName, query: &str) -> Result<(), WarehouseError>;

    /// Publish `view` over the window tables `<table_prefix>_<n>` of its dataset, with their
    /// window number as `window_index` (the reference's wildcard view
    /// `SELECT *, CAST(REGEXP_EXTRACT(_TABLE_SUFFIX, r'[0-9]+$') AS INT64) AS window_index
    /// FROM <prefix>_*`). Returns how many window tables it covers; with none, no view is
    /// published and `Ok(0)` is returned.
    fn publish_window_view(
        &self,
        view: &TableName,
        table_prefix: &str,
    ) -> Result<usize, WarehouseError>;

    /// Publish `view` as the FULL OUTER JOIN, on `keys` and `window_index`, of the window tables
    /// of each source `(table_prefix, metric columns)` (the reference's discrete metrics view:
    /// one table per data source). The first source also gives `exposure_date` and
    /// `num_exposure_events`. Sources without window tables are left out; returns how many
    /// were joined (with none, no view is published).
    fn publish_joined_window_view(
        &self,
        view: &TableName,
        sources: &[(String, Vec<String>)],
        keys: &[&str],
    ) -> Result<usize, WarehouseError>;

    /// The results project: metric queries name tables `` `<project>.<dataset>.<table>` ``.
    fn project(&self) -> &str;

    /// Drop a table or view (and its metadata); no error when absent.
    fn delete_table(&self, name: &TableName) -> Result<(), WarehouseError>;

    /// The tables and views of `dataset` whose names start with `prefix`, sorted.
    fn list_tables(&self, dataset: &str, prefix: &str) -> Result<Vec<TableName>, WarehouseError>;

    /// Metadata of a table jetstream wrote, if any.
    fn table_metadata(&self, name: &TableName) -> Result<Option<TableMetadata>, WarehouseError>;

    /// Set the `last_updated` of a table to `when`, keeping its rows and other metadata (the
    /// reference's `touch_tables`: an experiment marked up to date). Whether the table had
    /// metadata to update (`false`: no such table).
    fn touch_table(&self, name: &TableName, when: DateTime<Utc>) -> Result<bool, WarehouseError>;

    /// Plan `query` (BigQuery dialect) without running it: a BigQuery dry run, DuckDB's
    /// `EXPLAIN`. A query that cannot run fails with the warehouse's message (a missing column,
    /// say); otherwise the bytes it would read, as the warehouse estimates them.
    fn dry_run(&self, query: &str) -> Result<u64, WarehouseError>;

    /// Run a query (BigQuery dialect) and return its result as columns.
    fn query_columns(&self, query: &str) -> Result<Columns, WarehouseError>;

    /// Append rows to a logs table (created with the monitoring schema when absent).
    fn append_logs(&self, table: &TableName, records: &[LogRecord]) -> Result<(), WarehouseError>;

    /// What the queries run so far cost, summed since the warehouse was opened (zero for
    /// backends that do not bill).
    fn usage(&self) -> QueryUsage {
        QueryUsage::default()
    }

    /// What the queries that wrote tables read, per table (`project.dataset.table`), summed
    /// since the warehouse was opened: rows from DuckDB's profiler, bytes from BigQuery's job
    /// statistics. Empty where the warehouse does not say.
    fn table_reads(&self) -> TableReads {
        TableReads::default()
    }
}

/// What was read from one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableRead {
    /// Rows scanned (DuckDB; 0 where unknown).
    pub rows_read: u64,
    /// Bytes processed (BigQuery; 0 where unknown).
    pub bytes_read: u64,
    /// Queries that read it.
    pub queries: u64,
}

/// Reads per table, `project.dataset.table` → [`TableRead`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableReads(pub std::collections::BTreeMap<String, TableRead>);

impl TableReads {
    /// Count a read of `table`.
    pub fn add(&mut self, table: &str, rows: u64, bytes: u64) {
        let e = self.0.entry(table.to_string()).or_default();
        e.rows_read += rows;
        e.bytes_read += bytes;
        e.queries += 1;
    }

    /// `self - earlier`, per table (what was read in between).
    pub fn since(&self, earlier: &TableReads) -> TableReads {
        let mut out = std::collections::BTreeMap::new();
        for (t, r) in &self.0 {
            let before = earlier.0.get(t).copied().unwrap_or_default();
            let d = TableRead {
                rows_read: r.rows_read.saturating_sub(before.rows_read),
                bytes_read: r.bytes_read.saturating_sub(before.bytes_read),
                queries: r.queries.saturating_sub(before.queries),
            };
            if d != TableRead::default() {
                out.insert(t.clone(), d);
            }
        }
        TableReads(out)
    }
}

/// Cost of queries: jobs run, bytes processed and slot time (BigQuery's billing measures).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryUsage {
    /// Query jobs run.
    pub queries: u64,
    /// Bytes processed.
    pub bytes_processed: u64,
    /// Slot time, milliseconds.
    pub slot_millis: u64,
}

impl QueryUsage {
    /// `self - earlier`, per field (saturating): the cost of what ran in between.
    pub fn since(&self, earlier: &QueryUsage) -> QueryUsage {
        QueryUsage {
            queries: self.queries.saturating_sub(earlier.queries),
            bytes_processed: self.bytes_processed.saturating_sub(earlier.bytes_processed),
            slot_millis: self.slot_millis.saturating_sub(earlier.slot_millis),
        }
    }

    /// Add `other` to this usage.
    pub fn add(&mut self, other: &QueryUsage) {
        self.queries += other.queries;
        self.bytes_processed += other.bytes_processed;
        self.slot_millis += other.slot_millis;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_are_flat_and_short() {
        assert_eq!(sql_excerpt("SELECT\n  1"), "SELECT 1");
        assert_eq!(sql_excerpt(&"x ".repeat(400)).chars().count(), 301);
    }

    #[test]
    fn window_tables_are_numbered_suffixes_only() {
        let names = [
            "s_week_10",
            "s_week_2",
            "s_week_1_backup",
            "s_week_",
            "s_weekly",
            "s_week_x",
        ]
        .map(|t| TableName::new("d", t).unwrap());
        let windows: Vec<(u64, String)> = window_tables(names, "s_week")
            .into_iter()
            .map(|(n, t)| (n, t.table))
            .collect();
        assert_eq!(windows, [(2, "s_week_2".into()), (10, "s_week_10".into())]);
    }
}
