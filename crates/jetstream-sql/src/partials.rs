//! Daily per-client partials: the SQL that computes them (one scan of a data source's days for
//! every experiment that reads it) and the SQL that builds a window's metric from them.
//!
//! A partials table holds, per client (`analysis_id`, `enrollment_date` of the experiment's
//! enrollments) and day (`submission_date`), the inner aggregates of the experiment's
//! decomposable metrics ([`crate::decompose`]) over that day's rows of the data source, with
//! the window query's join and day-0 filter applied. Each computed day also has one row with a
//! NULL `analysis_id`: the marker that the day was computed (a day without rows is computed
//! too). A window's value is the metric's expression over the partials of the days in the
//! window; a client without a row in the window gets the metric's value on an all-NULL row, as
//! the window query's `LEFT JOIN` gives it.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use jetstream_config::resolve::{DataSource, ExposureSignal, Metric};

use crate::decompose::{Decomposed, day_expressions, decompose_in};
use crate::query::{
    QueryContext, SqlError, branch_expr_for, data_source_from, from_expr, identifier,
    rendered_expression, string_literal, table_ref,
};

/// What a partials table holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// The inner aggregates of decomposable metrics (the window query's join and day-0 filter
    /// applied).
    Metrics,
    /// The experiment's exposure signal: per client and day, the rows of the signal's data
    /// source (read as the signal query reads it: no app dataset, no day-0 filter) that meet
    /// `select`.
    Exposure {
        /// The signal's boolean expression.
        select: String,
    },
}

/// The partial columns of one experiment's decomposable metrics on one data source, or of its
/// exposure signal.
#[derive(Debug, Clone)]
pub struct SourcePartials {
    /// The data source.
    pub data_source: DataSource,
    /// Per decomposable metric, its decomposition (none for an exposure signal).
    pub metrics: BTreeMap<String, Decomposed>,
    /// What the partials are of.
    pub kind: Kind,
}

impl SourcePartials {
    /// The decomposable metrics of `metrics` that read `ds` (the others keep their window
    /// query), with their expressions rendered for the experiment of `ctx`.
    pub fn of(
        ctx: &QueryContext,
        ds: &DataSource,
        metrics: &[&Metric],
    ) -> Result<SourcePartials, SqlError> {
        let days = day_expressions(&data_source_from(ctx, ds)?, &ds.submission_date_column);
        let mut decomposed = BTreeMap::new();
        for m in metrics {
            if m.data_source.as_ref().is_none_or(|d| d.name != ds.name) {
                continue;
            }
            let Some(expr) = rendered_expression(ctx, m)? else {
                continue;
            };
            if let Ok(d) = decompose_in(&expr, &days) {
                decomposed.insert(m.name.clone(), d);
            }
        }
        Ok(SourcePartials {
            data_source: ds.clone(),
            metrics: decomposed,
            kind: Kind::Metrics,
        })
    }

    /// The partials of an exposure signal: the count of its rows per client and day.
    pub fn exposure(signal: &ExposureSignal) -> SourcePartials {
        SourcePartials {
            data_source: signal.data_source.clone(),
            metrics: BTreeMap::new(),
            kind: Kind::Exposure {
                select: signal.select_expression.clone(),
            },
        }
    }

    /// Whether these are the partials of `signal`.
    pub fn is_exposure_of(&self, signal: &ExposureSignal) -> bool {
        matches!(&self.kind, Kind::Exposure { select }
            if *select == signal.select_expression && self.data_source == signal.data_source)
    }

    /// The partial columns, `(name, SQL)`, sorted by name and each once. An exposure
    /// signal's one column, `x_<hash>`, holds the SQL of its condition.
    pub fn columns(&self) -> Vec<(String, String)> {
        if let Kind::Exposure { select } = &self.kind {
            return vec![(exposure_column(select), select.clone())];
        }
        let mut columns = BTreeMap::new();
        for d in self.metrics.values() {
            for p in &d.partials {
                columns.insert(p.column(), p.sql.clone());
            }
        }
        columns.into_iter().collect()
    }
}

/// The column of an exposure signal's partials: `x_<hash of its condition>`.
fn exposure_column(select: &str) -> String {
    format!("x_{:016x}", crate::decompose::fnv1a(select.as_bytes()))
}

/// The FROM expression partials of `kind` read `ds` through: the app's dataset for metrics,
/// none for an exposure signal (as its query reads it).
fn source_from(ctx: &QueryContext, ds: &DataSource, kind: &Kind) -> Result<String, SqlError> {
    match kind {
        Kind::Metrics => data_source_from(ctx, ds),
        Kind::Exposure { .. } => from_expr(ds, None),
    }
}

/// What experiments must share to be served by one partials query over `ds`: the kind of
/// partials, the data source, its FROM expression and the client id column.
pub fn source_key(ctx: &QueryContext, partials: &SourcePartials) -> Result<String, SqlError> {
    let ds = &partials.data_source;
    let kind = match partials.kind {
        Kind::Metrics => "metrics",
        Kind::Exposure { .. } => "exposure",
    };
    Ok(format!(
        "{kind}\n{}\n{}\n{}\n{}",
        ds.name,
        source_from(ctx, ds, &partials.kind)?,
        ctx.id_column_of(ds),
        ds.submission_date_column
    ))
}

/// One experiment's share of a partials query.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The experiment's slug.
    pub slug: &'a str,
    /// Its enrollments table, `project.dataset.table`.
    pub enrollments_table: String,
    /// The days to compute.
    pub dates: Vec<NaiveDate>,
}

/// The column of a partials query's result that names the experiment of a row.
pub const EXPERIMENT: &str = "jetstream_experiment";

/// The key columns of a partials table, before the partial columns.
pub const KEYS: [&str; 3] = ["analysis_id", "enrollment_date", "submission_date"];

/// The partials of `columns` (name, SQL) of `kind` from `ds` for `targets`, in one query over
/// the source's days: [`EXPERIMENT`], the [`KEYS`] and the columns, plus the marker row of
/// each target's day. `ctx` gives the client id column and the app's dataset, which the
/// targets share (callers group experiments by [`source_key`]).
pub fn partials_query(
    ctx: &QueryContext,
    ds: &DataSource,
    kind: &Kind,
    targets: &[Target<'_>],
    columns: &[(String, String)],
) -> Result<String, SqlError> {
    let (Some(first), Some(last)) = (
        targets.iter().flat_map(|t| &t.dates).min(),
        targets.iter().flat_map(|t| &t.dates).max(),
    ) else {
        return Err(SqlError::Unsupported(
            "a partials query without dates".into(),
        ));
    };
    let id = ctx.id_column_of(ds);
    let sd = &ds.submission_date_column;
    let mut selected = Vec::new();
    let mut nulls = Vec::new();
    let from = source_from(ctx, ds, kind)?;
    let (relation, id, sd, day0) = match kind {
        Kind::Metrics => {
            for (name, sql) in columns {
                let name = identifier("partial", name)?;
                selected.push(format!("{sql} AS {name}"));
                nulls.push(format!("NULL AS {name}"));
            }
            let day0 = match branch_expr_for(ds, &format!("e.{EXPERIMENT}")) {
                Some(branch) => {
                    format!("\n        AND (ds.{sd} != e.enrollment_date OR {branch} IS NOT NULL)")
                }
                None => String::new(),
            };
            (from, id, sd.as_str(), day0)
        }
        Kind::Exposure { .. } => {
            // The signal's condition is evaluated on its source alone (as in its query), then
            // its rows are counted per client and day.
            let mut conditions = Vec::new();
            let mut flags = Vec::new();
            for (name, sql) in columns {
                let name = identifier("partial", name)?;
                flags.push(format!("({sql}) AS {name}"));
                conditions.push(format!("({sql})"));
                selected.push(format!("CAST(COUNTIF(ds.{name}) AS INT64) AS {name}"));
                nulls.push(format!("CAST(NULL AS INT64) AS {name}"));
            }
            let relation = format!(
                "(
        SELECT
            {id} AS analysis_id,
            {sd} AS submission_date,
            {flags}
        FROM {from}
        WHERE {sd} BETWEEN '{first}' AND '{last}'
            AND ({conditions})
    )",
                flags = flags.join(",\n            "),
                conditions = conditions.join(" OR "),
                first = first.format("%Y-%m-%d"),
                last = last.format("%Y-%m-%d"),
            );
            (relation, "analysis_id", "submission_date", String::new())
        }
    };
    let mut clients = Vec::new();
    let mut days = Vec::new();
    let mut markers = Vec::new();
    for t in targets {
        let slug = string_literal(t.slug);
        clients.push(format!(
            "SELECT DISTINCT {slug} AS {EXPERIMENT}, analysis_id, enrollment_date FROM {}",
            table_ref(&t.enrollments_table)?
        ));
        let list: Vec<String> = t
            .dates
            .iter()
            .map(|d| format!("DATE '{}'", d.format("%Y-%m-%d")))
            .collect();
        days.push(format!(
            "(e.{EXPERIMENT} = {slug} AND ds.{sd} IN ({}))",
            list.join(", ")
        ));
        for d in &list {
            markers.push(format!(
                "SELECT {slug} AS {EXPERIMENT}, {d} AS submission_date"
            ));
        }
    }
    let comma = if selected.is_empty() { "" } else { ",\n    " };
    // The experiments' clients are the only other relation in scope of the metrics' SQL (as
    // the enrollments are in the window query): no other name can make a column ambiguous.
    Ok(format!(
        "WITH clients AS (
    {clients}
)
SELECT
    e.{EXPERIMENT},
    e.analysis_id,
    e.enrollment_date,
    ds.{sd} AS submission_date{comma}{selected}
FROM clients e
    JOIN {from} ds
        ON ds.{id} = e.analysis_id
        AND ds.{sd} BETWEEN '{first}' AND '{last}'
        AND ({days}){day0}
GROUP BY 1, 2, 3, 4
UNION ALL
SELECT
    {EXPERIMENT},
    CAST(NULL AS STRING) AS analysis_id,
    CAST(NULL AS DATE) AS enrollment_date,
    submission_date{comma}{nulls}
FROM (
    {markers}
)",
        clients = clients.join("\n    UNION ALL\n    "),
        days = days.join("\n            OR "),
        selected = selected.join(",\n    "),
        nulls = nulls.join(",\n    "),
        markers = markers.join("\n    UNION ALL\n    "),
        from = relation,
        first = first.format("%Y-%m-%d"),
        last = last.format("%Y-%m-%d"),
    ))
}

/// One experiment's rows of a partials query's result `scratch`: the [`KEYS`] and `columns`.
pub fn experiment_rows(
    scratch: &str,
    slug: &str,
    columns: &[(String, String)],
) -> Result<String, SqlError> {
    let mut select: Vec<String> = KEYS.iter().map(|k| k.to_string()).collect();
    for (name, _) in columns {
        select.push(identifier("partial", name)?.to_string());
    }
    Ok(format!(
        "SELECT {} FROM {} WHERE {EXPERIMENT} = {}",
        select.join(", "),
        table_ref(scratch)?,
        string_literal(slug)
    ))
}

/// The days whose partials a table holds (its marker rows).
pub fn computed_days(table: &str) -> Result<String, SqlError> {
    Ok(format!(
        "SELECT DISTINCT submission_date FROM {} WHERE analysis_id IS NULL",
        table_ref(table)?
    ))
}

/// The partials of one data source that a metrics query reads: the table and its metrics.
#[derive(Debug, Clone, Copy)]
pub struct PartialsTable<'a> {
    /// `project.dataset.table`.
    pub table: &'a str,
    /// What it holds.
    pub partials: &'a SourcePartials,
}

/// The `SELECT` of a data source's decomposable metrics over its partials table, in place of
/// [`crate::query::data_source_query`]'s scan (same keys and columns), and the CTE of the
/// metrics' values on an all-NULL row (`null_row_<i>`), which it reads.
pub(crate) fn window_from_partials(
    ctx: &QueryContext,
    partials: PartialsTable<'_>,
    metrics: &[&str],
    tl: &crate::time_limits::TimeLimits,
    date: &str,
    i: usize,
) -> Result<(String, String), SqlError> {
    let ds = &partials.partials.data_source;
    let mut nulls = Vec::new();
    let mut cols = Vec::new();
    for name in metrics {
        let Some(d) = partials.partials.metrics.get(*name) else {
            continue;
        };
        let m = identifier("metric", name)?;
        let original = d.original();
        nulls.push(format!("{original} AS {m}"));
        let combined = d.combine(&|p| format!("p.{}", p.column()));
        cols.push(format!(
            "IF(COUNT(p.submission_date) = 0, ANY_VALUE(z.{m}), {combined}) AS {m}"
        ));
    }
    let null_row = format!(
        "null_row_{i} AS (
    SELECT
        {nulls}
    FROM (SELECT 1 AS one) AS one
        LEFT JOIN (SELECT * FROM {from} WHERE FALSE) ds ON TRUE
)",
        nulls = nulls.join(",\n        "),
        from = data_source_from(ctx, ds)?,
    );
    let query = format!(
        "SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        {cols}
    FROM enrollments e
        CROSS JOIN null_row_{i} z
        LEFT JOIN {table} p
            ON p.analysis_id = e.analysis_id
            AND p.enrollment_date IS NOT DISTINCT FROM e.enrollment_date
            AND p.submission_date BETWEEN '{fddr}' AND '{lddr}'
            AND p.submission_date BETWEEN DATE_ADD(e.{date}, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.{date}, INTERVAL e.analysis_window_end DAY)
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end",
        cols = cols.join(",\n        "),
        table = table_ref(partials.table)?,
        fddr = tl.first_date_data_required,
        lddr = tl.last_date_data_required,
    );
    Ok((null_row, query))
}

/// The exposures of `signal` — the columns of [`crate::query::exposure_signal_query`], over
/// `raw_enrollments` — from its partials table instead of a scan of the signal's days.
pub(crate) fn exposures_from_partials(
    partials: PartialsTable<'_>,
    signal: &ExposureSignal,
    tl: &crate::time_limits::TimeLimits,
) -> Result<String, SqlError> {
    let (first, last) = crate::query::exposure_signal_dates(signal, tl);
    let column = exposure_column(&signal.select_expression);
    let x = identifier("partial", &column)?;
    Ok(format!(
        "SELECT
        e.analysis_id,
        e.branch,
        MIN(p.submission_date) AS exposure_date,
        CAST(COALESCE(SUM(p.{x}), 0) AS INT64) AS num_exposure_events
    FROM raw_enrollments e
    LEFT JOIN {table} p
    ON p.analysis_id = e.analysis_id
        AND p.enrollment_date = e.enrollment_date
        AND p.submission_date >= e.enrollment_date
        AND p.submission_date BETWEEN '{first}' AND '{last}'
        AND p.{x} > 0
    GROUP BY e.analysis_id, e.branch",
        table = table_ref(partials.table)?,
        first = first.format("%Y-%m-%d"),
        last = last.format("%Y-%m-%d"),
    ))
}
