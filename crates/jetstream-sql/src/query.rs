//! BigQuery SQL of an analysis, with the shapes of mozanalysis (`build_enrollments_query`,
//! `build_metrics_query`) and jetstream (per-segment subsets).
//!
//! Unlike the reference, every value that reaches SQL from a slug or branch is a properly
//! escaped string literal, and every identifier is checked or quoted, so a slug containing a
//! quote, backtick or `;` cannot change a query.

use jetstream_config::enums::{
    AnalysisBasis, AnalysisUnit, AnalysisWindow as NamedWindow, EnrollmentsQueryType,
    ExperimentsColumnType, WindowLimit,
};
use jetstream_config::experiment::ExperimentConfiguration;
use jetstream_config::platform::app_dataset;
use jetstream_config::resolve::{DataSource, ExposureSignal, Metric, Segment, SegmentDataSource};

use crate::time_limits::TimeLimits;

/// Why SQL cannot be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// A name that would have to be spliced into SQL is not a plain identifier.
    #[error("{what} {name:?} is not a valid SQL identifier")]
    Identifier {
        /// What the name is (metric, segment, column, ...).
        what: &'static str,
        /// The name.
        name: String,
    },
    /// A `str.format` template could not be filled.
    #[error("{context}: {message}")]
    Template {
        /// Where (metric or data source).
        context: String,
        /// What went wrong.
        message: String,
    },
    /// The enrollment query type cannot be used with this experiment.
    #[error("{0}")]
    Unsupported(String),
}

/// A BigQuery string literal: `'...'` with `\` and `'` escaped.
pub fn string_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A value escaped for use *inside* a string literal written by a config (e.g.
/// `event_string_value = '{experiment_slug}'`): quotes, backticks, backslashes and line breaks
/// are escaped, no quotes are added (the same escaping as the Jinja templates' values).
pub fn escape_in_literal(s: &str) -> String {
    jetstream_config::template::sql_escape(s)
}

/// Check a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`).
pub fn identifier<'a>(what: &'static str, name: &'a str) -> Result<&'a str, SqlError> {
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(name)
    } else {
        Err(SqlError::Identifier {
            what,
            name: name.to_string(),
        })
    }
}

/// A column reference: dotted path of identifiers, or an expression configured by the user
/// (data-source columns such as `client_info.client_id` or `SAFE.SUBSTR(...)`), passed through.
fn column(expr: &str) -> &str {
    expr
}

/// A backtick-quoted table reference `project.dataset.table`; each part must be safe.
pub fn table_ref(table: &str) -> Result<String, SqlError> {
    if table.is_empty() || table.contains('`') || table.contains(';') || table.contains('\n') {
        return Err(SqlError::Identifier {
            what: "table",
            name: table.to_string(),
        });
    }
    Ok(format!("`{table}`"))
}

/// Inputs shared by every query of one experiment.
#[derive(Debug, Clone)]
pub struct QueryContext {
    /// The experiment's Nimbus slug (unescaped; escaped where used).
    pub slug: String,
    /// `client_id` or `profile_group_id`.
    pub analysis_unit: AnalysisUnit,
    /// The BigQuery dataset of the app (`firefox_desktop`, `org_mozilla_klar`, ...).
    pub dataset: Option<String>,
    /// `Some(false)` (the reference's default) uses `legacy_client_id_column` where set,
    /// `Some(true)` the Glean one, `None` always `client_id_column`.
    pub use_glean_ids: Option<bool>,
    /// How enrollments are queried.
    pub enrollments_query_type: EnrollmentsQueryType,
    /// `sample_id < N`.
    pub sample_size: i64,
}

impl QueryContext {
    /// The context of a resolved experiment, as jetstream sets it up.
    pub fn for_experiment(conf: &ExperimentConfiguration) -> Result<Self, SqlError> {
        Ok(Self {
            slug: conf.normandy_slug().to_string(),
            analysis_unit: conf.analysis_unit().map_err(SqlError::Unsupported)?,
            dataset: conf.app_id().map(|a| app_dataset(&a)),
            use_glean_ids: Some(false),
            enrollments_query_type: conf.enrollments_query_type(),
            sample_size: conf.sample_size().filter(|s| *s > 0).unwrap_or(100),
        })
    }

    fn slug_literal(&self) -> String {
        string_literal(&self.slug)
    }

    fn id_column<'a>(
        &self,
        client: &'a str,
        group: &'a str,
        glean: Option<&'a str>,
        legacy: Option<&'a str>,
    ) -> &'a str {
        match self.analysis_unit {
            AnalysisUnit::ProfileGroup => group,
            AnalysisUnit::Client => match self.use_glean_ids {
                Some(true) => glean.unwrap_or(client),
                Some(false) => legacy.unwrap_or(client),
                None => client,
            },
        }
    }

    /// The client id column of `ds` for this experiment's analysis unit.
    pub fn id_column_of<'a>(&self, ds: &'a DataSource) -> &'a str {
        self.id_column(
            &ds.client_id_column,
            &ds.group_id_column,
            ds.glean_client_id_column.as_deref(),
            ds.legacy_client_id_column.as_deref(),
        )
    }

    fn dataset_or(&self, fallback: &str) -> String {
        self.dataset.clone().unwrap_or_else(|| fallback.to_string())
    }
}

pub(crate) fn from_expr(ds: &DataSource, dataset: Option<&str>) -> Result<String, SqlError> {
    ds.from_expr_for(dataset).map_err(|e| SqlError::Template {
        context: format!("data source {}", ds.name),
        message: e.to_string(),
    })
}

/// The FROM expression of `ds` for the experiment of `ctx` (its app's dataset).
pub(crate) fn data_source_from(ctx: &QueryContext, ds: &DataSource) -> Result<String, SqlError> {
    from_expr(ds, ctx.dataset.as_deref())
}

/// A metric's `select_expression` with `{experiment_slug}` filled in (escaped), if it has one.
pub(crate) fn rendered_expression(
    ctx: &QueryContext,
    m: &Metric,
) -> Result<Option<String>, SqlError> {
    let Some(template) = m.select_expression.as_deref() else {
        return Ok(None);
    };
    let slug = escape_in_literal(&ctx.slug);
    jetstream_config::template::python_format(template, &[("experiment_slug", &slug)])
        .map(Some)
        .map_err(|e| SqlError::Template {
            context: format!("metric {}", m.name),
            message: e.to_string(),
        })
}

fn segment_from_expr(ds: &SegmentDataSource, dataset: Option<&str>) -> Result<String, SqlError> {
    let effective = dataset.or(ds.default_dataset.as_deref());
    let args: Vec<(&str, &str)> = effective.map(|d| vec![("dataset", d)]).unwrap_or_default();
    jetstream_config::template::python_format(&ds.from_expression, &args).map_err(|e| {
        SqlError::Template {
            context: format!("segment data source {}", ds.name),
            message: e.to_string(),
        }
    })
}

fn enrollments_source(ctx: &QueryContext, tl: &TimeLimits) -> Result<String, SqlError> {
    let (first, last) = (tl.first_enrollment_date, tl.last_enrollment_date);
    let slug = ctx.slug_literal();
    let n = ctx.sample_size;
    let unit = ctx.analysis_unit.as_str();
    let glean_stream = |dataset: &str, id: &str| {
        format!(
            "SELECT
        {id} AS analysis_id,
        JSON_VALUE(event_extra, '$.branch') AS branch,
        DATE(MIN(submission_timestamp)) AS enrollment_date,
        COUNT(submission_timestamp) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.{dataset}.events_stream`
    WHERE
        {id} IS NOT NULL
        AND DATE(submission_timestamp) BETWEEN '{first}' AND '{last}'
        AND event_category = 'nimbus_events'
        AND JSON_VALUE(event_extra, '$.experiment') = {slug}
        AND event_name = 'enrollment'
        AND sample_id < {n}
    GROUP BY ALL"
        )
    };
    Ok(match ctx.enrollments_query_type {
        EnrollmentsQueryType::Normandy if ctx.use_glean_ids == Some(true) => {
            glean_stream(&ctx.dataset_or("firefox_desktop"), unit)
        }
        EnrollmentsQueryType::Normandy => format!(
            "SELECT
        e.{unit} AS analysis_id,
        `mozfun.map.get_key`(e.event_map_values, 'branch') AS branch,
        MIN(e.submission_date) AS enrollment_date,
        COUNT(e.submission_date) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.telemetry.events` e
    WHERE
        e.event_category = 'normandy'
        AND e.event_method = 'enroll'
        AND e.submission_date BETWEEN '{first}' AND '{last}'
        AND e.event_string_value = {slug}
        AND e.sample_id < {n}
    GROUP BY ALL"
        ),
        EnrollmentsQueryType::GleanEvent => {
            let Some(dataset) = &ctx.dataset else {
                return Err(SqlError::Unsupported(
                    "App ID must be defined for building Glean enrollments query".into(),
                ));
            };
            if ctx.analysis_unit != AnalysisUnit::Client {
                return Err(SqlError::Unsupported(
                    "Glean enrollments currently only support client_id analysis units".into(),
                ));
            }
            glean_stream(dataset, "client_id")
        }
        EnrollmentsQueryType::FenixFallback => {
            if ctx.analysis_unit != AnalysisUnit::Client {
                return Err(SqlError::Unsupported(
                    "Fenix fallback enrollments currently only support client_id analysis units"
                        .into(),
                ));
            }
            let dataset = ctx.dataset_or("org_mozilla_firefox");
            format!(
                "SELECT
        b.client_info.client_id AS analysis_id,
        mozfun.map.get_key(b.ping_info.experiments, {slug}).branch AS branch,
        DATE(MIN(b.submission_timestamp)) AS enrollment_date,
        COUNT(b.submission_date) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.{dataset}.baseline` b
    WHERE
        b.client_info.client_id IS NOT NULL
        AND DATE(b.submission_timestamp) BETWEEN DATE_SUB('{first}', INTERVAL 7 DAY) AND '{last}'
        AND mozfun.map.get_key(b.ping_info.experiments, {slug}).branch IS NOT NULL
        AND b.sample_id < {n}
    GROUP BY ALL
    HAVING enrollment_date >= '{first}'"
            )
        }
        EnrollmentsQueryType::Cirrus => {
            let Some(dataset) = &ctx.dataset else {
                return Err(SqlError::Unsupported(
                    "App ID must be defined for building Cirrus enrollments query".into(),
                ));
            };
            if ctx.analysis_unit != AnalysisUnit::Client {
                return Err(SqlError::Unsupported(
                    "Cirrus enrollments currently only support client_id analysis units".into(),
                ));
            }
            format!(
                "SELECT
        mozfun.map.get_key(e.extra, 'nimbus_user_id') AS analysis_id,
        mozfun.map.get_key(e.extra, 'branch') AS branch,
        DATE(MIN(events.submission_timestamp)) AS enrollment_date,
        COUNT(events.submission_timestamp) AS num_enrollment_events
    FROM `moz-fx-data-shared-prod.{dataset}.enrollment` events,
        UNNEST(events.events) AS e
    WHERE
        mozfun.map.get_key(e.extra, 'nimbus_user_id') IS NOT NULL
        AND DATE(events.submission_timestamp) BETWEEN '{first}' AND '{last}'
        AND e.category = 'cirrus_events'
        AND mozfun.map.get_key(e.extra, 'experiment') = {slug}
        AND e.name = 'enrollment'
        AND client_info.app_channel = 'production'
    GROUP BY ALL"
            )
        }
        EnrollmentsQueryType::BackgroundUpdate => format!(
            "SELECT * FROM (
        (SELECT
            JSON_VALUE(metrics, '$.uuid.background_update_client_id') AS analysis_id,
            JSON_VALUE(event_extra, '$.branch') AS branch,
            MIN(DATE(events.submission_timestamp)) AS enrollment_date,
            COUNT(events.submission_timestamp) AS num_enrollment_events
        FROM `moz-fx-data-shared-prod.firefox_desktop_background_update.events_stream` events
        WHERE DATE(submission_timestamp) BETWEEN '{first}' AND '{last}'
            AND event_category = 'nimbus_events'
            AND event_name = 'enrollment'
            AND JSON_VALUE(event_extra, '$.experiment') = {slug}
            AND JSON_VALUE(metrics, '$.uuid.background_update_client_id') IS NOT NULL
            AND sample_id < {n}
        GROUP BY analysis_id, branch)
        UNION ALL
        (SELECT
            m.metrics.uuid.background_update_client_id AS analysis_id,
            experiment.value.branch AS branch,
            MIN(DATE(submission_timestamp)) AS enrollment_date,
            1 AS num_enrollment_events
        FROM `mozdata.firefox_desktop_background_update.background_update` AS m
        CROSS JOIN UNNEST(ping_info.experiments) AS experiment
        WHERE DATE(submission_timestamp) BETWEEN '{first}' AND '{last}'
            AND experiment.key = {slug}
            AND sample_id < {n}
        GROUP BY analysis_id, branch)
        UNION ALL
        (SELECT
            client_id AS analysis_id,
            SPLIT(mozfun.map.get_key(event_map_values, 'name'), ':')[SAFE_OFFSET(1)] AS branch,
            MIN(submission_date) AS enrollment_date,
            COUNT(submission_date) AS num_enrollment_events
        FROM `mozdata.telemetry.events`
        WHERE submission_date BETWEEN '{first}' AND '{last}'
            AND event_category = 'browser.launched_to_handle'
            AND event_method = 'system_notification'
            AND event_object = 'toast'
            AND STARTS_WITH(mozfun.map.get_key(event_map_values, 'name'), {prefix})
            AND sample_id < {n}
        GROUP BY analysis_id, branch)
    )
    QUALIFY ROW_NUMBER() OVER (PARTITION BY analysis_id ORDER BY enrollment_date ASC) = 1",
            prefix = string_literal(&format!("{}:", ctx.slug))
        ),
    })
}

fn default_exposures(ctx: &QueryContext, tl: &TimeLimits) -> Result<String, SqlError> {
    let (first, last) = (tl.first_enrollment_date, tl.last_enrollment_date);
    let slug = ctx.slug_literal();
    let unit = ctx.analysis_unit.as_str();
    let stream = |dataset: &str, id: &str| {
        format!(
            "SELECT
        exposures.analysis_id AS analysis_id,
        exposures.branch,
        DATE(MIN(exposures.submission_date)) AS exposure_date,
        COUNT(exposures.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            {id} AS analysis_id,
            JSON_VALUE(event_extra, '$.branch') AS branch,
            DATE(submission_timestamp) AS submission_date
        FROM `moz-fx-data-shared-prod.{dataset}.events_stream`
        WHERE DATE(submission_timestamp) BETWEEN '{first}' AND '{last}'
            AND event_category = 'nimbus_events'
            AND JSON_VALUE(event_extra, '$.experiment') = {slug}
            AND (event_name = 'expose' OR event_name = 'exposure')
    ) exposures
    ON re.analysis_id = exposures.analysis_id
        AND re.branch = exposures.branch
        AND exposures.submission_date >= re.enrollment_date
    GROUP BY ALL"
        )
    };
    Ok(match ctx.enrollments_query_type {
        EnrollmentsQueryType::Normandy | EnrollmentsQueryType::BackgroundUpdate
            if ctx.use_glean_ids == Some(true) =>
        {
            stream(&ctx.dataset_or("firefox_desktop"), unit)
        }
        EnrollmentsQueryType::Normandy | EnrollmentsQueryType::BackgroundUpdate => format!(
            "SELECT
        e.analysis_id,
        e.branch,
        MIN(e.submission_date) AS exposure_date,
        COUNT(e.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            {unit} AS analysis_id,
            `mozfun.map.get_key`(event_map_values, 'branchSlug') AS branch,
            submission_date
        FROM `moz-fx-data-shared-prod.telemetry.events`
        WHERE event_category = 'normandy'
            AND (event_method = 'exposure' OR event_method = 'expose')
            AND submission_date BETWEEN '{first}' AND '{last}'
            AND event_string_value = {slug}
    ) e
    ON re.analysis_id = e.analysis_id
        AND re.branch = e.branch
        AND e.submission_date >= re.enrollment_date
    GROUP BY ALL"
        ),
        EnrollmentsQueryType::GleanEvent => stream(&ctx.dataset_or("firefox_desktop"), "client_id"),
        EnrollmentsQueryType::FenixFallback => stream("org_mozilla_firefox", "client_id"),
        EnrollmentsQueryType::Cirrus => {
            let dataset = ctx.dataset_or("monitor_cirrus");
            format!(
                "SELECT
        exposures.analysis_id AS analysis_id,
        exposures.branch,
        DATE(MIN(exposures.submission_date)) AS exposure_date,
        COUNT(exposures.submission_date) AS num_exposure_events
    FROM raw_enrollments re
    LEFT JOIN (
        SELECT
            mozfun.map.get_key(event.extra, 'nimbus_user_id') AS analysis_id,
            mozfun.map.get_key(event.extra, 'branch') AS branch,
            DATE(events.submission_timestamp) AS submission_date
        FROM `moz-fx-data-shared-prod.{dataset}.events` events,
            UNNEST(events.events) AS event
        WHERE DATE(events.submission_timestamp) BETWEEN '{first}' AND '{last}'
            AND event.category = 'cirrus_events'
            AND mozfun.map.get_key(event.extra, 'experiment') = {slug}
            AND (event.name = 'expose' OR event.name = 'exposure')
    ) exposures
    ON re.analysis_id = exposures.analysis_id
        AND re.branch = exposures.branch
        AND exposures.submission_date >= re.enrollment_date
    GROUP BY ALL"
            )
        }
    })
}

/// The integer day offsets of an exposure signal's window limits (jetstream `ExposureSignal`).
fn window_limit(limit: Option<WindowLimit>, tl: &TimeLimits) -> Option<i64> {
    let enrollment_days = (tl.last_enrollment_date - tl.first_enrollment_date).num_days();
    let first = tl.analysis_windows.first();
    limit.map(|l| match l {
        WindowLimit::Days(d) => d,
        WindowLimit::Named(NamedWindow::EnrollmentStart) => 0,
        WindowLimit::Named(NamedWindow::EnrollmentEnd) => enrollment_days,
        WindowLimit::Named(NamedWindow::AnalysisWindowStart) => {
            first.map(|w| w.start).unwrap_or(0) + enrollment_days
        }
        WindowLimit::Named(NamedWindow::AnalysisWindowEnd) => {
            first.map(|w| w.end).unwrap_or(0) + enrollment_days
        }
    })
}

/// The first and last day an exposure signal reads (its query's `BETWEEN`), under `tl`.
pub fn exposure_signal_dates(
    signal: &ExposureSignal,
    tl: &TimeLimits,
) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let (first, start, date_end, end) = signal_limits(signal, tl);
    (
        first + chrono::Duration::days(start),
        date_end + chrono::Duration::days(end),
    )
}

/// An exposure signal's limits: the first enrollment date, the start offset, the date the end
/// offset counts from and the end offset.
fn signal_limits(
    signal: &ExposureSignal,
    tl: &TimeLimits,
) -> (chrono::NaiveDate, i64, chrono::NaiveDate, i64) {
    let start = window_limit(signal.window_start, tl).unwrap_or(0);
    let end = window_limit(signal.window_end, tl);
    let date_end = if end.is_some_and(|e| e != 0) {
        tl.first_enrollment_date
    } else {
        tl.last_enrollment_date
    };
    (tl.first_enrollment_date, start, date_end, end.unwrap_or(0))
}

/// `ExposureSignal.build_query`: first and count of the days a client met the signal.
pub fn exposure_signal_query(
    ctx: &QueryContext,
    signal: &ExposureSignal,
    tl: &TimeLimits,
) -> Result<String, SqlError> {
    let ds = &signal.data_source;
    let id = ctx.id_column(
        &ds.client_id_column,
        &ds.group_id_column,
        ds.glean_client_id_column.as_deref(),
        ds.legacy_client_id_column.as_deref(),
    );
    let (first, start, date_end, end) = signal_limits(signal, tl);
    let sd = column(&ds.submission_date_column);
    Ok(format!(
        "SELECT
        e.analysis_id,
        e.branch,
        MIN(ds.submission_date) AS exposure_date,
        COUNT(ds.submission_date) AS num_exposure_events
    FROM raw_enrollments e
    LEFT JOIN (
        SELECT
            {id} AS analysis_id,
            {sd} AS submission_date
        FROM {from}
        WHERE {sd} BETWEEN DATE_ADD('{first}', INTERVAL {start} DAY) AND DATE_ADD('{date_end}', INTERVAL {end} DAY)
            AND {select}
    ) AS ds
    ON ds.analysis_id = e.analysis_id AND ds.submission_date >= e.enrollment_date
    GROUP BY e.analysis_id, e.branch",
        id = column(id),
        from = from_expr(ds, None)?,
        select = signal.select_expression,
    ))
}

fn segments_query(
    ctx: &QueryContext,
    segments: &[Segment],
    tl: &TimeLimits,
) -> Result<String, SqlError> {
    // Group segments by data source, in order of first appearance.
    let mut groups: Vec<(&SegmentDataSource, Vec<&Segment>)> = Vec::new();
    for s in segments {
        match groups.iter_mut().find(|(ds, _)| **ds == s.data_source) {
            Some((_, v)) => v.push(s),
            None => groups.push((&s.data_source, vec![s])),
        }
    }
    let mut columns = vec!["raw_enrollments.*".to_string()];
    let mut joins = Vec::new();
    for (i, (ds, segs)) in groups.iter().enumerate() {
        let id = ctx.id_column(
            &ds.client_id_column,
            &ds.group_id_column,
            ds.glean_client_id_column.as_deref(),
            ds.legacy_client_id_column.as_deref(),
        );
        let mut exprs = Vec::new();
        for s in segs {
            let name = identifier("segment", &s.name)?;
            exprs.push(format!("{} AS {name}", s.select_expression));
            columns.push(format!("ds_{i}.{name}"));
        }
        let sd = column(&ds.submission_date_column);
        joins.push(format!(
            "LEFT JOIN (
        SELECT
            e.analysis_id,
            e.branch,
            {exprs}
        FROM raw_enrollments e
        LEFT JOIN {from} ds
            ON ds.{id} = e.analysis_id
            AND ds.{sd} BETWEEN DATE_ADD('{first}', INTERVAL {ws} DAY) AND DATE_ADD('{last}', INTERVAL {we} DAY)
            AND ds.{sd} BETWEEN DATE_ADD(e.enrollment_date, INTERVAL {ws} DAY) AND DATE_ADD(e.enrollment_date, INTERVAL {we} DAY)
        GROUP BY e.analysis_id, e.branch
    ) ds_{i} USING (analysis_id, branch)",
            exprs = exprs.join(",\n            "),
            from = segment_from_expr(ds, ctx.dataset.as_deref())?,
            first = tl.first_enrollment_date,
            last = tl.last_enrollment_date,
            ws = ds.window_start,
            we = ds.window_end,
        ));
    }
    Ok(format!(
        "SELECT\n        {}\n    FROM raw_enrollments\n    {}",
        columns.join(",\n        "),
        joins.join("\n    ")
    ))
}

/// The enrollments query (mozanalysis `build_enrollments_query`): enrollments, segment columns,
/// exposures. `custom` is the experiment config's rendered `enrollment_query`.
pub fn enrollments_query(
    ctx: &QueryContext,
    tl: &TimeLimits,
    custom: Option<&str>,
    exposure_signal: Option<&ExposureSignal>,
    segments: &[Segment],
) -> Result<String, SqlError> {
    if let Some(q) = custom {
        let wrong = match ctx.analysis_unit {
            AnalysisUnit::Client => "profile_group_id",
            AnalysisUnit::ProfileGroup => "client_id",
        };
        if q.contains(wrong) {
            return Err(SqlError::Unsupported(format!(
                "custom_enrollments_query contains {wrong}, but experiment uses {}. This could indicate a problem with the custom enrollments query.",
                ctx.analysis_unit.as_str()
            )));
        }
    }
    let enrollments = match custom {
        Some(q) => q.to_string(),
        None => enrollments_source(ctx, tl)?,
    };
    let exposures = match exposure_signal {
        Some(s) => exposure_signal_query(ctx, s, tl)?,
        None => default_exposures(ctx, tl)?,
    };
    let segments = segments_query(ctx, segments, tl)?;
    Ok(format!(
        "WITH raw_enrollments AS (
    {enrollments}
),
segmented_enrollments AS (
    {segments}
),
exposures AS (
    {exposures}
)
SELECT
    se.*,
    e.* EXCEPT (analysis_id, branch)
FROM segmented_enrollments se
LEFT JOIN exposures e
USING (analysis_id, branch)"
    ))
}

/// Sanity metrics of a data source: `<ds>_has_contradictory_branch` and
/// `<ds>_has_non_enrolled_data` (none without an experiments column).
pub fn sanity_metrics(ds: &DataSource, slug: &str) -> Vec<(String, String)> {
    let Some(branch) = branch_expr(ds, slug) else {
        return Vec::new();
    };
    vec![
        (
            format!("{}_has_contradictory_branch", ds.name),
            format!("COALESCE(LOGICAL_OR({branch} != e.branch), FALSE)"),
        ),
        (
            format!("{}_has_non_enrolled_data", ds.name),
            format!("COALESCE(LOGICAL_OR({branch} IS NULL), FALSE)"),
        ),
    ]
}

/// The branch a data-source row was tagged with for `slug` (None without an
/// experiments column).
fn branch_expr(ds: &DataSource, slug: &str) -> Option<String> {
    branch_expr_for(ds, &string_literal(slug))
}

/// The branch a data-source row was tagged with for the experiment whose slug is the SQL
/// expression `lit` (a literal, or a column of the experiments a shared scan serves).
pub(crate) fn branch_expr_for(ds: &DataSource, lit: &str) -> Option<String> {
    Some(match ds.experiments_column_type.as_ref()? {
        ExperimentsColumnType::Simple => format!("`mozfun.map.get_key`(ds.experiments, {lit})"),
        ExperimentsColumnType::Native => {
            format!("`mozfun.map.get_key`(ds.experiments, {lit}).branch")
        }
        ExperimentsColumnType::Glean => {
            format!("`mozfun.map.get_key`(ds.ping_info.experiments, {lit}).branch")
        }
        ExperimentsColumnType::EventsStream => format!(
            "IF(JSON_VALUE(ds.event_extra, '$.experiment') = {lit}, JSON_VALUE(ds.event_extra, '$.branch'), NULL)"
        ),
    })
}

fn day0_filter(ds: &DataSource, slug: &str) -> String {
    let Some(branch) = branch_expr(ds, slug) else {
        return String::new();
    };
    let sd = column(&ds.submission_date_column);
    format!("\n            AND (ds.{sd} != e.enrollment_date OR {branch} IS NOT NULL)")
}

/// One data source's part of the metrics query (mozanalysis `DataSource.build_query`).
pub fn data_source_query(
    ctx: &QueryContext,
    ds: &DataSource,
    metrics: &[(String, String)],
    tl: &TimeLimits,
    basis: AnalysisBasis,
    has_exposure_signal: bool,
) -> Result<String, SqlError> {
    let id = ctx.id_column(
        &ds.client_id_column,
        &ds.group_id_column,
        ds.glean_client_id_column.as_deref(),
        ds.legacy_client_id_column.as_deref(),
    );
    let date = if basis == AnalysisBasis::Exposures && !has_exposure_signal {
        "exposure_date"
    } else {
        "enrollment_date"
    };
    let mut cols = Vec::new();
    for (name, expr) in metrics {
        cols.push(format!("{expr} AS {}", identifier("metric", name)?));
    }
    let sd = column(&ds.submission_date_column);
    Ok(format!(
        "SELECT
        e.analysis_id,
        e.branch,
        e.analysis_window_start,
        e.analysis_window_end,
        e.num_exposure_events,
        e.exposure_date,
        {cols}
    FROM enrollments e
        LEFT JOIN {from} ds
            ON ds.{id} = e.analysis_id
            AND ds.{sd} BETWEEN '{fddr}' AND '{lddr}'
            AND ds.{sd} BETWEEN DATE_ADD(e.{date}, INTERVAL e.analysis_window_start DAY) AND DATE_ADD(e.{date}, INTERVAL e.analysis_window_end DAY){day0}
    GROUP BY
        e.analysis_id,
        e.branch,
        e.num_exposure_events,
        e.exposure_date,
        e.analysis_window_start,
        e.analysis_window_end",
        cols = cols.join(",\n        "),
        from = from_expr(ds, ctx.dataset.as_deref())?,
        fddr = tl.first_date_data_required,
        lddr = tl.last_date_data_required,
        day0 = day0_filter(ds, &ctx.slug),
    ))
}

/// A bounded probe of whether `ds` has rows on `date` (one row at most, read from one day of
/// the source: a date-partitioned table scans that partition's date column only). It returns
/// one row, `present`, when the day's data has landed.
pub fn data_probe_query(
    ctx: &QueryContext,
    ds: &DataSource,
    date: chrono::NaiveDate,
) -> Result<String, SqlError> {
    let sd = column(&ds.submission_date_column);
    Ok(format!(
        "SELECT 1 AS present FROM {from} ds WHERE ds.{sd} = '{date}' LIMIT 1",
        from = from_expr(ds, ctx.dataset.as_deref())?,
        date = date.format("%Y-%m-%d"),
    ))
}

/// Metrics grouped by data source, in order of first appearance.
pub fn partition_by_data_source<'a>(
    metrics: &[&'a Metric],
) -> Vec<(&'a DataSource, Vec<&'a Metric>)> {
    let mut groups: Vec<(&DataSource, Vec<&Metric>)> = Vec::new();
    for m in metrics {
        let Some(ds) = &m.data_source else { continue };
        match groups.iter_mut().find(|(d, _)| d.name == ds.name) {
            Some((_, v)) => {
                if !v.iter().any(|x| x.name == m.name) {
                    v.push(m)
                }
            }
            None => groups.push((ds, vec![m])),
        }
    }
    groups
}

/// The metrics query (mozanalysis `build_metrics_query`) for `metrics` (all of one data source
/// in discrete mode), over the enrollments table `enrollments_table` (fully qualified).
pub fn metrics_query(
    ctx: &QueryContext,
    metrics: &[&Metric],
    tl: &TimeLimits,
    enrollments_table: &str,
    basis: AnalysisBasis,
    exposure_signal: Option<&ExposureSignal>,
    discrete: bool,
) -> Result<String, SqlError> {
    metrics_query_with(
        ctx,
        metrics,
        tl,
        enrollments_table,
        basis,
        exposure_signal,
        discrete,
        &[],
    )
}

/// [`metrics_query`], with the decomposable metrics of the data sources in `partials` built
/// from their daily partials tables instead of a scan of the data source's days (the same
/// columns and values; see [`crate::partials`]).
#[allow(clippy::too_many_arguments)]
pub fn metrics_query_with(
    ctx: &QueryContext,
    metrics: &[&Metric],
    tl: &TimeLimits,
    enrollments_table: &str,
    basis: AnalysisBasis,
    exposure_signal: Option<&ExposureSignal>,
    discrete: bool,
    partials: &[crate::partials::PartialsTable<'_>],
) -> Result<String, SqlError> {
    let windows: Vec<String> = tl
        .analysis_windows
        .iter()
        .map(|w| {
            format!(
                "(SELECT {} AS analysis_window_start, {} AS analysis_window_end)",
                w.start, w.end
            )
        })
        .collect();
    let exposures = match exposure_signal {
        Some(s) if basis != AnalysisBasis::Enrollments => {
            let signal = match partials.iter().find(|p| p.partials.is_exposure_of(s)) {
                Some(p) => crate::partials::exposures_from_partials(*p, s, tl)?,
                None => exposure_signal_query(ctx, s, tl)?,
            };
            format!("SELECT * FROM (\n    {signal}\n    )\n    WHERE num_exposure_events > 0")
        }
        _ => "SELECT * FROM raw_enrollments e".to_string(),
    };
    let anchor = if basis == AnalysisBasis::Exposures && exposure_signal.is_none() {
        "exposure_date"
    } else {
        "enrollment_date"
    };
    let mut columns = vec!["enrollments.*".to_string()];
    let mut joins = Vec::new();
    let mut null_rows = Vec::new();
    for (i, (ds, ms)) in partition_by_data_source(metrics).into_iter().enumerate() {
        let from_partials = partials.iter().find(|p| {
            p.partials.kind == crate::partials::Kind::Metrics
                && p.partials.data_source.name == ds.name
        });
        let mut named: Vec<(String, String)> = Vec::new();
        let mut decomposed: Vec<&str> = Vec::new();
        for m in ms {
            if from_partials.is_some_and(|p| p.partials.metrics.contains_key(&m.name)) {
                decomposed.push(&m.name);
                continue;
            }
            let expr = rendered_expression(ctx, m)?.unwrap_or_default();
            named.push((m.name.clone(), expr));
        }
        if !discrete {
            named.extend(sanity_metrics(ds, &ctx.slug));
        }
        if !named.is_empty() {
            for (n, _) in &named {
                columns.push(format!("ds_{i}.{}", identifier("metric", n)?));
            }
            let q = data_source_query(ctx, ds, &named, tl, basis, exposure_signal.is_some())?;
            joins.push(format!(
                "LEFT JOIN (\n    {q}\n    ) ds_{i} USING (analysis_id, branch, analysis_window_start, analysis_window_end)"
            ));
        }
        if let (Some(p), false) = (from_partials, decomposed.is_empty()) {
            for n in &decomposed {
                columns.push(format!("dp_{i}.{}", identifier("metric", n)?));
            }
            let (null_row, q) =
                crate::partials::window_from_partials(ctx, *p, &decomposed, tl, anchor, i)?;
            null_rows.push(format!(",\n{null_row}"));
            joins.push(format!(
                "LEFT JOIN (\n    {q}\n    ) dp_{i} USING (analysis_id, branch, analysis_window_start, analysis_window_end)"
            ));
        }
    }
    Ok(format!(
        "WITH analysis_windows AS (
    {windows}
),
raw_enrollments AS (
    SELECT
        e.*,
        aw.*
    FROM {table} e
    CROSS JOIN analysis_windows aw
),
exposures AS (
    {exposures}
),
enrollments AS (
    SELECT
        e.* EXCEPT (exposure_date, num_exposure_events),
        x.exposure_date,
        x.num_exposure_events
    FROM exposures x
    RIGHT JOIN raw_enrollments e
    USING (analysis_id, branch)
){null_rows},
metrics AS (
    SELECT
        {columns}
    FROM enrollments
    {joins}
)
SELECT * FROM metrics",
        windows = windows.join("\n    UNION ALL\n    "),
        table = table_ref(enrollments_table)?,
        null_rows = null_rows.concat(),
        columns = columns.join(",\n        "),
        joins = joins.join("\n    "),
    ))
}

/// The per-segment pull of one metric column from a metrics table (jetstream
/// `_create_subset_metric_table_query_univariate`).
pub fn subset_query(
    metrics_table: &str,
    metric: &str,
    segment: &str,
    basis: AnalysisBasis,
) -> Result<String, SqlError> {
    let m = identifier("metric", metric)?;
    let mut q = format!(
        "SELECT branch, {m}\nFROM {} m\nWHERE {m} IS NOT NULL AND\nenrollment_date IS NOT NULL",
        table_ref(metrics_table)?
    );
    if basis == AnalysisBasis::Exposures {
        q.push_str(" AND m.exposure_date IS NOT NULL");
    }
    if segment != "all" {
        q.push_str(&format!(
            "\nAND m.{} = TRUE",
            identifier("segment", segment)?
        ));
    }
    Ok(q)
}

/// The pull of a metric with its pre-period covariate (`<metric>_pre`).
pub fn covariate_subset_query(
    during_table: &str,
    pre_table: &str,
    metric: &str,
    covariate_metric: &str,
    segment: &str,
    basis: AnalysisBasis,
) -> Result<String, SqlError> {
    let m = identifier("metric", metric)?;
    let c = identifier("metric", covariate_metric)?;
    let mut q = format!(
        "SELECT during.branch, during.{m}, pre.{c} AS {c}_pre\nFROM ({} during LEFT JOIN {} pre USING (analysis_id, branch))\nWHERE during.{m} IS NOT NULL AND during.enrollment_date IS NOT NULL",
        table_ref(during_table)?,
        table_ref(pre_table)?
    );
    if basis == AnalysisBasis::Exposures {
        q.push_str(" AND during.exposure_date IS NOT NULL");
    }
    if segment != "all" {
        q.push_str(&format!(
            " AND during.{} = TRUE",
            identifier("segment", segment)?
        ));
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers() {
        assert_eq!(string_literal("a'b\\c"), "'a\\'b\\\\c'");
        assert_eq!(escape_in_literal("it's \"x\""), "it\\'s \\\"x\\\"");
        assert!(identifier("metric", "active_hours").is_ok());
        assert!(identifier("metric", "showSearchTerms_user_pref").is_ok());
        assert!(identifier("metric", "a-b").is_err());
        assert!(identifier("metric", "1abc").is_err());
        assert!(table_ref("p.d.t").is_ok());
        assert!(table_ref("p.d.t`; DROP").is_err());
    }
}
