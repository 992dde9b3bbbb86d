//! The statistics export: each statistics view of an experiment becomes
//! `statistics/<view>.json`, a JSON array of row objects as the reference (and Experimenter)
//! read them — keys in the reference's order, NULL fields omitted, `window_index` as a string
//! (BigQuery's INT64 export), numbers as numbers (the nimbus `Statistics` schema).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_sql::naming;
use jetstream_sql::query::string_literal;
use jetstream_warehouse::{Column, Columns, TableName, Warehouse};
use serde_json::{Map, Number, Value};

use crate::{OutputError, OutputSink, statistics_rows};

fn format_err(what: &str, message: String) -> OutputError {
    OutputError::Format {
        what: what.to_string(),
        message,
    }
}

/// One cell of a logs row as JSON (NULL, and non-finite numbers, as `null`).
fn cell(column: &Column, row: usize) -> Value {
    let number = |x: f64| Number::from_f64(x).map(Value::Number);
    match column {
        Column::Float(v) => v[row].and_then(number),
        Column::Int(v) => v[row].map(|i| Value::Number(i.into())),
        Column::Bool(v) => v[row].map(Value::Bool),
        Column::Text(v) => v[row].clone().map(Value::String),
        Column::Date(v) => v[row].map(|d| Value::String(d.to_string())),
        Column::Timestamp(v) => v[row].map(|t| Value::String(iso_utc(t))),
    }
    .unwrap_or(Value::Null)
}

/// The JSON array of a statistics view's rows (compact, as the reference writes it): each
/// row's serde form ([`jetstream_stats::Row`], keys in the reference's order) with the three
/// changes the export schema asks for — NULL (and non-finite) fields left out, `parameter` as a
/// number, `window_index` as a string (BigQuery's INT64 export).
pub fn statistics_json(what: &str, columns: &Columns) -> Result<String, OutputError> {
    let err = |message: String| format_err(what, message);
    let rows = statistics_rows(what, columns)?;
    let mut out = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(fields) = serde_json::to_value(row).map_err(|e| err(e.to_string()))?
        else {
            unreachable!("a Row serializes as an object");
        };
        let mut object = Map::new();
        for (key, value) in fields {
            let value = match (key.as_str(), value) {
                (_, Value::Null) => continue,
                ("parameter", Value::String(s)) => {
                    let n = s
                        .parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .ok_or_else(|| err(format!("row {i}: parameter {s:?} is not a number")))?;
                    Value::Number(n)
                }
                ("window_index", Value::Number(n)) => Value::String(n.to_string()),
                (_, value) => value,
            };
            object.insert(key, value);
        }
        out.push(Value::Object(object));
    }
    serde_json::to_string(&out).map_err(|e| err(e.to_string()))
}

/// Dataset and table names reach SQL inside backticks: only plain names are accepted.
fn check_name(what: &str, name: &str) -> Result<(), OutputError> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format_err(
            name,
            format!("{what} name {name:?} must be letters, digits, '_' or '-'"),
        ));
    }
    Ok(())
}

/// What [`export_statistics`] did with each statistics view that exists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatisticsExport {
    /// Keys written.
    pub written: Vec<String>,
    /// Keys left as they were: their object is at least as new as every window table of the
    /// view.
    pub unchanged: Vec<String>,
    /// Keys not replaced because the view has fewer windows than the published object (an
    /// interrupted rerun deleted some): the key and why.
    pub refused: Vec<(String, String)>,
}

/// How [`export_statistics`] treats what is already published.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportPolicy {
    /// Write every view, even those whose window tables are older than their object.
    pub force: bool,
    /// Replace an object by a view with fewer windows (a rerun that completed, up to an earlier
    /// date). Otherwise such a view is refused: published results never shrink because a rerun
    /// was interrupted after deleting tables.
    pub allow_fewer_windows: bool,
}

impl ExportPolicy {
    /// The policy of a complete rerun: its views replace the published objects even with fewer
    /// windows (a rerun up to an earlier date).
    pub const COMPLETE_RERUN: Self = Self {
        force: false,
        allow_fewer_windows: true,
    };
}

impl StatisticsExport {
    /// No statistics view was found (nothing written, nothing unchanged).
    pub fn is_empty(&self) -> bool {
        self.written.is_empty() && self.unchanged.is_empty() && self.refused.is_empty()
    }
}

/// The newest `last_updated` of the window tables `statistics_<slug>_<period>_<n>` of
/// `dataset` — the tables the period's statistics view covers (see
/// [`Warehouse::publish_window_view`]). `None` when there is none, or when one of them has no
/// metadata (its age is unknown).
fn newest_window_update(
    warehouse: &dyn Warehouse,
    dataset: &str,
    slug: &str,
    period: AnalysisPeriod,
) -> Result<Option<DateTime<Utc>>, jetstream_warehouse::WarehouseError> {
    let prefix = format!(
        "statistics_{}_{}",
        naming::bq_normalize_name(slug),
        period.as_str()
    );
    let listed = warehouse.list_tables(dataset, &format!("{prefix}_"))?;
    let mut newest: Option<DateTime<Utc>> = None;
    for (_, table) in jetstream_warehouse::window_tables(listed, &prefix) {
        match warehouse.table_metadata(&table)? {
            Some(meta) => newest = newest.max(Some(meta.last_updated)),
            None => return Ok(None),
        }
    }
    Ok(newest)
}

/// Export every statistics view of `slug` in `dataset` to `statistics/<view>.json`.
///
/// As the reference, a view is written only when there is no object under its key yet, or
/// when one of its window tables was updated (`last_updated`) after the object was
/// ([`OutputSink::modified`]); otherwise it is reported as unchanged (logged at INFO). When
/// the window tables' age is unknown (no metadata), the view is written. `force` writes every
/// view regardless.
///
/// Views that do not exist (periods not analysed yet) are skipped; a failing view does not
/// stop the others — the first error is returned after all were tried. A view with fewer
/// windows than its published object is not written (see [`ExportPolicy`]).
pub fn export_statistics(
    warehouse: &dyn Warehouse,
    sink: &dyn OutputSink,
    dataset: &str,
    slug: &str,
    policy: ExportPolicy,
) -> Result<StatisticsExport, OutputError> {
    let force = policy.force;
    check_name("dataset", dataset)?;
    let mut export = StatisticsExport::default();
    let mut first_error = None;
    for period in AnalysisPeriod::ALL {
        let view = naming::statistics_view(slug, *period);
        let result = (|| {
            let name = TableName::new(dataset, &view).map_err(|source| OutputError::Warehouse {
                what: view.clone(),
                source,
            })?;
            let wh = |source| OutputError::Warehouse {
                what: name.to_string(),
                source,
            };
            if !warehouse.table_exists(&name).map_err(wh)? {
                return Ok(None);
            }
            let key = format!("statistics/{view}.json");
            if !force && let Some(exported) = sink.modified(&key)? {
                let updated =
                    newest_window_update(warehouse, dataset, slug, *period).map_err(wh)?;
                if let Some(updated) = updated.filter(|u| *u <= exported) {
                    tracing::info!(
                        view = %name,
                        to = %sink.location(&key),
                        %exported,
                        tables_updated = %updated,
                        "statistics unchanged since the last export: not exported again"
                    );
                    return Ok(Some((key, Some(String::new()))));
                }
            }
            let columns = warehouse
                .query_columns(&format!("SELECT * FROM `{dataset}.{view}`"))
                .map_err(wh)?;
            let json = statistics_json(&name.to_string(), &columns)?;
            if !policy.allow_fewer_windows
                && let Some(old) = sink.get(&key)?
            {
                let (before, now) = (windows_of(&old), windows_of(json.as_bytes()));
                if now < before {
                    let why = format!(
                        "{} has {now} windows where the published {} has {before}: not \
                         replaced (an interrupted rerun? it is completed by the next run, or \
                         rerun the experiment)",
                        name,
                        sink.location(&key)
                    );
                    tracing::error!("{why}");
                    return Ok(Some((key, Some(why))));
                }
            }
            sink.put(&key, json.as_bytes())?;
            tracing::info!(view = %name, rows = columns.rows(), to = %sink.location(&key), "exported statistics");
            Ok(Some((key, None)))
        })();
        match result {
            Ok(Some((key, None))) => export.written.push(key),
            Ok(Some((key, Some(why)))) if why.is_empty() => export.unchanged.push(key),
            Ok(Some((key, Some(why)))) => export.refused.push((key, why)),
            Ok(None) => {}
            Err(e) => {
                tracing::error!(view = %view, error = %e, "statistics export failed");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(export),
    }
}

/// The distinct `window_index` values of an exported statistics array (0 when it does not
/// parse: anything replaces an unreadable object).
fn windows_of(json: &[u8]) -> usize {
    let Ok(Value::Array(rows)) = serde_json::from_slice::<Value>(json) else {
        return 0;
    };
    rows.iter()
        .filter_map(|r| r.get("window_index").map(Value::to_string))
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// `YYYY-MM-DDTHH:MM:SSZ` (pydantic's rendering of a UTC timestamp).
fn iso_utc(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Keys of an exported error, in the nimbus `AnalysisError` order (all present, NULL as null).
pub const ERROR_FIELDS: [&str; 13] = [
    "analysis_basis",
    "source",
    "exception",
    "exception_type",
    "experiment",
    "filename",
    "func_name",
    "log_level",
    "message",
    "metric",
    "segment",
    "statistic",
    "timestamp",
];

/// Error types never exported (the reference's `SKIP_ERROR_TYPES`).
pub const SKIPPED_ERROR_TYPES: [&str; 2] = ["EndedException", "EnrollmentNotCompleteException"];

/// Start of the error window: the latest `enrollment_end + 1 day + k weeks` before
/// `analysis_start` (or `analysis_start` itself), floored to the minute.
pub fn weekly_analysis_start(
    analysis_start: NaiveDateTime,
    enrollment_end: Option<NaiveDate>,
) -> NaiveDateTime {
    let mut start = analysis_start;
    if let Some(end) = enrollment_end {
        let first = (end + TimeDelta::days(1)).and_time(chrono::NaiveTime::MIN);
        if first < analysis_start {
            let weeks = (analysis_start - first).num_seconds().saturating_sub(1) / (7 * 86_400);
            start = first + TimeDelta::weeks(weeks);
        }
    }
    start
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(start)
}

/// Export the logged errors of `slug` since [`weekly_analysis_start`] to `errors/errors_<slug>.json`,
/// as the reference: rows ordered by time, skipped error types and rows without an error type
/// left out (the reference's `exception_type != ...` filter drops NULLs too). Rows before
/// `not_before` are left out too (a rerun's start: the rows of the results it replaced).
/// Returns the key and the number of errors.
pub fn export_errors(
    warehouse: &dyn Warehouse,
    sink: &dyn OutputSink,
    logs: &TableName,
    slug: &str,
    analysis_start: NaiveDateTime,
    enrollment_end: Option<NaiveDate>,
    not_before: Option<NaiveDateTime>,
) -> Result<(String, usize), OutputError> {
    check_name("dataset", &logs.dataset)?;
    check_name("table", &logs.table)?;
    let what = logs.to_string();
    let weekly = weekly_analysis_start(analysis_start, enrollment_end);
    // Log rows carry whole seconds: a row of the same second as `not_before` is kept.
    let since = not_before.map_or(weekly, |t| t.with_nanosecond(0).unwrap_or(t).max(weekly));
    let skipped: Vec<String> = SKIPPED_ERROR_TYPES
        .iter()
        .map(|t| format!(" AND exception_type != {}", string_literal(t)))
        .collect();
    let sql = format!(
        "SELECT * FROM `{}.{}` WHERE experiment = {} AND timestamp >= CAST('{}' AS TIMESTAMP){} ORDER BY timestamp ASC",
        logs.dataset,
        logs.table,
        string_literal(slug),
        since.format("%Y-%m-%d %H:%M:%S"),
        skipped.concat()
    );
    let warehouse_err = |source| OutputError::Warehouse {
        what: what.clone(),
        source,
    };
    // No logs table yet: nothing was ever logged, an empty errors file.
    let columns = if warehouse.table_exists(logs).map_err(warehouse_err)? {
        warehouse.query_columns(&sql).map_err(warehouse_err)?
    } else {
        Columns::default()
    };
    let mut rows = Vec::with_capacity(columns.rows());
    for row in 0..columns.rows() {
        let mut object = Map::new();
        for field in ERROR_FIELDS {
            let value = match columns.get(field) {
                Some(column) => cell(column, row),
                None => Value::Null,
            };
            object.insert(field.to_string(), value);
        }
        rows.push(Value::Object(object));
    }
    let json = serde_json::to_string(&rows).map_err(|e| format_err(&what, e.to_string()))?;
    let key = format!("errors/errors_{}.json", naming::bq_normalize_name(slug));
    sink.put(&key, json.as_bytes())?;
    Ok((key, rows.len()))
}
