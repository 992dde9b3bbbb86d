//! Synthetic Firefox desktop and Fenix telemetry with planted treatment effects, for demos and for
//! end-to-end tests with a known truth.
//!
//! [`simulate`] writes, into a [`DuckDbWarehouse`], the source tables that the real
//! firefox_desktop definitions read, under their production names (project
//! `moz-fx-data-shared-prod`; `mozdata` finds them too), and those the fenix definitions read:
//!
//! | table | columns |
//! |---|---|
//! | `telemetry.events` | `submission_date, client_id, sample_id, event_category, event_method, event_object, event_string_value, event_map_values` (list of `{key, value}`), `experiments` (list of `{key, value: {branch}}`) — normandy `enroll` / `expose` / `unenroll` events |
//! | `telemetry.clients_daily` | `client_id, submission_date, sample_id, active_hours_sum, scalar_parent_browser_engagement_total_uri_count_sum, scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum, pings_aggregated_by_this_row, is_default_browser, experiments` (list of `{key, value}`) — one row per active day |
//! | `telemetry.desktop_active_users` | `client_id, submission_date, is_dau, is_desktop, days_active_bits` — one row per client and day |
//! | `search.search_clients_engines_sources_daily` | `client_id, submission_date, engine, source, sap, tagged_sap, tagged_follow_on, organic, ad_click, search_with_ads` — one row per day with searches |
//! | `org_mozilla_firefox.events_stream` (nimbus events and event-level data: about 9 interaction events per active client and day, metric `tabs_opened`), `.baseline`, `.metrics`, `fenix.active_users`, `search.mobile_search_clients_engines_sources_daily` | the Fenix experiment's Glean events and pings (see `docs/DATA.md`) |
//!
//! Data covers `days` dates from `start`. Two experiments start on day 7 (so there is a
//! pre-enrollment week): [`EXPERIMENT_A`] (control / treatment, 8 enrollment dates, normandy
//! exposure events for 80% of clients, a `heavy_users` segment) and [`EXPERIMENT_B`]
//! (control / treatment-a / treatment-b, 60% of clients, enrollment on days 9–14, a custom
//! exposure signal, a derived ratio metric), and [`EXPERIMENT_FENIX`] (Firefox for Android,
//! Glean enrollment events). All end on the last data date.
//!
//! Effects: `--effect COLUMN=LIFT` multiplies `COLUMN` by `1 + LIFT` in every treatment
//! branch from the client's enrollment date on (see [`EFFECT_COLUMNS`]). Randomness comes
//! from DuckDB's `hash()` of the text `seed:client:day:purpose` (one string: DuckDB combines
//! the hashes of several arguments by xor, which would correlate the draws), so a seed always
//! gives the same data (for a DuckDB version).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Duration, NaiveDate};
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_warehouse::{Column, Warehouse, WarehouseError};
use serde_json::{Value, json};

/// The two-branch experiment.
pub const EXPERIMENT_A: &str = "jetstream-sim-two-branches";
/// The three-branch experiment.
pub const EXPERIMENT_B: &str = "jetstream-sim-three-branches";
/// The Fenix (Firefox for Android) experiment.
pub const EXPERIMENT_FENIX: &str = "jetstream-sim-fenix";

/// Source project of the simulated tables.
pub const PROJECT: &str = "moz-fx-data-shared-prod";

/// Columns `--effect` accepts, with what they drive.
pub const EFFECT_COLUMNS: [(&str, &str); 6] = [
    (
        "active_hours_sum",
        "clients_daily active hours (metric active_hours)",
    ),
    (
        "scalar_parent_browser_engagement_total_uri_count_sum",
        "clients_daily URI count (metric uri_count)",
    ),
    (
        "sap",
        "search_clients_engines_sources_daily searches (search_count; tagged/organic follow)",
    ),
    (
        "ad_click",
        "search_clients_engines_sources_daily ad clicks (ad_clicks)",
    ),
    (
        "is_dau",
        "probability of being active on a day (days_of_use, DAU, retained and every row count)",
    ),
    (
        "is_default_browser",
        "probability of being the default browser (is_default_browser)",
    ),
];

/// Why simulation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulateError {
    /// Bad options.
    #[error("{0}")]
    Options(String),
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Clients.
    pub clients: u64,
    /// First data date.
    pub start: NaiveDate,
    /// Dates of data (at least 21).
    pub days: u32,
    /// Seed.
    pub seed: u64,
    /// Relative lifts per column (see [`EFFECT_COLUMNS`]).
    pub effects: BTreeMap<String, f64>,
}

impl SimOptions {
    /// Parse `COLUMN=LIFT`.
    pub fn parse_effect(s: &str) -> Result<(String, f64), SimulateError> {
        let (c, v) = s.split_once('=').ok_or_else(|| {
            SimulateError::Options(format!("--effect {s:?}: expected COLUMN=RELATIVE_LIFT"))
        })?;
        if !EFFECT_COLUMNS.iter().any(|(name, _)| *name == c) {
            let known: Vec<&str> = EFFECT_COLUMNS.iter().map(|(n, _)| *n).collect();
            return Err(SimulateError::Options(format!(
                "--effect {s:?}: unknown column {c:?} (known: {})",
                known.join(", ")
            )));
        }
        let lift: f64 = v.parse().map_err(|_| {
            SimulateError::Options(format!("--effect {s:?}: {v:?} is not a number"))
        })?;
        if !lift.is_finite() || lift <= -1.0 {
            return Err(SimulateError::Options(format!(
                "--effect {s:?}: the lift must be a finite number above -1"
            )));
        }
        Ok((c.to_string(), lift))
    }

    fn lift(&self, column: &str) -> f64 {
        self.effects.get(column).copied().unwrap_or(0.0)
    }

    /// Day index → date.
    fn date(&self, day: u32) -> NaiveDate {
        self.start + Duration::days(i64::from(day))
    }
}

/// One simulated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct SimExperiment {
    /// Slug.
    pub slug: String,
    /// Enrolled clients per branch.
    pub enrolled: BTreeMap<String, u64>,
    /// Start date.
    pub start_date: NaiveDate,
    /// Last enrollment date.
    pub enrollment_end_date: NaiveDate,
    /// End date.
    pub end_date: NaiveDate,
}

/// What [`simulate`] wrote.
#[derive(Debug, Clone)]
pub struct SimReport {
    /// The experiments.
    pub experiments: Vec<SimExperiment>,
    /// `(table, rows)` written.
    pub tables: Vec<(String, u64)>,
}

/// The simulated source tables, `(dataset, table)`.
pub const TABLES: [(&str, &str); 9] = [
    ("telemetry", "events"),
    ("telemetry", "clients_daily"),
    ("telemetry", "desktop_active_users"),
    ("search", "search_clients_engines_sources_daily"),
    ("org_mozilla_firefox", "events_stream"),
    ("org_mozilla_firefox", "baseline"),
    ("org_mozilla_firefox", "metrics"),
    ("fenix", "active_users"),
    ("search", "mobile_search_clients_engines_sources_daily"),
];

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `factor` for `column`: `(1 + lift·treated_a)·(1 + lift·treated_b)`.
fn mult(opts: &SimOptions, column: &str) -> String {
    let l = opts.lift(column);
    if l == 0.0 {
        "1.0".into()
    } else {
        format!("((1.0 + {l:?} * treated_a) * (1.0 + {l:?} * treated_b))")
    }
}

/// `factor` for `column` in the Fenix tables: `1 + lift·treated_f`.
fn mult_f(opts: &SimOptions, column: &str) -> String {
    let l = opts.lift(column);
    if l == 0.0 {
        "1.0".into()
    } else {
        format!("(1.0 + {l:?} * treated_f)")
    }
}

/// Write the simulated telemetry into `warehouse` (replacing earlier simulated tables).
pub fn simulate(
    warehouse: &DuckDbWarehouse,
    opts: &SimOptions,
) -> Result<SimReport, SimulateError> {
    if opts.days < 21 {
        return Err(SimulateError::Options(format!(
            "--days {}: at least 21 days are needed (a pre-enrollment week, enrollment and a week of analysis)",
            opts.days
        )));
    }
    if opts.clients == 0 {
        return Err(SimulateError::Options(
            "--clients must be at least 1".into(),
        ));
    }
    warehouse.ensure_catalog(PROJECT)?;
    let seed = opts.seed;
    let p = format!("\"{PROJECT}\"");
    let (a, b) = (lit(EXPERIMENT_A), lit(EXPERIMENT_B));
    let mut sql = String::new();
    let _ = write!(
        sql,
        "
CREATE OR REPLACE TEMP MACRO sim_u(i, d, tag) AS
    ((hash(concat({seed}, ':', i, ':', d, ':', tag)) % 4294967291)::DOUBLE + 0.5) / 4294967291.0;
CREATE OR REPLACE TEMP MACRO sim_exp(i, d, tag) AS -ln(sim_u(i, d, tag));
CREATE OR REPLACE TEMP TABLE sim_clients AS
SELECT
    i,
    printf('%016x', hash(concat({seed}, ':', i, ':client_id'))) AS client_id,
    (hash(concat({seed}, ':', i, ':sample')) % 100)::BIGINT AS sample_id,
    0.25 + 0.7 * sim_u(i, -1, 'p_active') AS p_active,
    0.2 + 2.0 * sim_exp(i, -1, 'hours') AS hours_mean,
    3.0 + 30.0 * sim_u(i, -1, 'uri') AS uri_mean,
    0.1 + 1.5 * sim_exp(i, -1, 'search') AS search_mean,
    0.05 + 0.25 * sim_u(i, -1, 'ads') AS ad_rate,
    sim_u(i, -1, 'default') AS default_u,
    7 + floor(8 * sim_u(i, -1, 'enroll_a'))::INTEGER AS enroll_day_a,
    CASE WHEN sim_u(i, -1, 'branch_a') < 0.5 THEN 'control' ELSE 'treatment' END AS branch_a,
    sim_u(i, -1, 'expose_a') < 0.8 AS exposed_a,
    sim_u(i, -1, 'untagged_a') < 0.05 AS untagged_day0_a,
    sim_u(i, -1, 'unenroll_a') < 0.03 AS unenrolls_a,
    sim_u(i, -1, 'in_b') < 0.6 AS in_b,
    9 + floor(6 * sim_u(i, -1, 'enroll_b'))::INTEGER AS enroll_day_b,
    CASE floor(3 * sim_u(i, -1, 'branch_b'))::INTEGER
        WHEN 0 THEN 'control' WHEN 1 THEN 'treatment-a' ELSE 'treatment-b' END AS branch_b,
    sim_u(i, -1, 'in_f') < 0.5 AS in_f,
    printf('%016x', hash(concat({seed}, ':', i, ':fenix_client_id'))) AS fenix_client_id,
    7 + floor(8 * sim_u(i, -1, 'enroll_f'))::INTEGER AS enroll_day_f,
    CASE WHEN sim_u(i, -1, 'branch_f') < 0.5 THEN 'control' ELSE 'treatment' END AS branch_f,
    sim_u(i, -1, 'expose_f') < 0.7 AS exposed_f,
    -- 10% of Fenix users stop using the app within a week of enrolling (retention metrics)
    CASE WHEN sim_u(i, -1, 'churn_f') < 0.1
        THEN 8 + floor(8 * sim_u(i, -1, 'enroll_f'))::INTEGER + floor(7 * sim_u(i, -1, 'churn_day'))::INTEGER
        ELSE 1000000 END AS churn_day_f
FROM range({n}) t(i);
CREATE OR REPLACE TEMP VIEW sim_grid AS
SELECT
    c.*,
    r.d::INTEGER AS d,
    DATE '{start}' + r.d::INTEGER AS submission_date,
    CASE WHEN c.branch_a <> 'control' AND r.d >= c.enroll_day_a THEN 1.0 ELSE 0.0 END AS treated_a,
    CASE WHEN c.in_b AND c.branch_b <> 'control' AND r.d >= c.enroll_day_b THEN 1.0 ELSE 0.0 END AS treated_b
FROM sim_clients c CROSS JOIN range({days}) r(d);
CREATE OR REPLACE TEMP VIEW sim_days AS
SELECT
    *,
    sim_u(i, d, 'active') < least(1.0, p_active * {m_active}) AS active
FROM sim_grid;
CREATE SCHEMA IF NOT EXISTS {p}.telemetry;
CREATE SCHEMA IF NOT EXISTS {p}.search;
CREATE OR REPLACE TABLE {p}.telemetry.clients_daily AS
SELECT
    client_id,
    submission_date,
    sample_id,
    hours_mean * sim_exp(i, d, 'hours') * {m_hours} AS active_hours_sum,
    floor(uri_mean * sim_exp(i, d, 'uri') * {m_uri} + sim_u(i, d, 'uri_r'))::BIGINT
        AS scalar_parent_browser_engagement_total_uri_count_sum,
    floor(uri_mean * sim_exp(i, d, 'uri') * {m_uri} * 0.9 + sim_u(i, d, 'uri_np'))::BIGINT
        AS scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum,
    1 + floor(3 * sim_u(i, d, 'pings'))::BIGINT AS pings_aggregated_by_this_row,
    default_u < least(1.0, 0.4 * {m_default}) AS is_default_browser,
    list_concat(
        CASE WHEN d > enroll_day_a OR (d = enroll_day_a AND NOT untagged_day0_a)
            THEN [{{'key': {a}, 'value': branch_a}}]
            ELSE CAST([] AS STRUCT(key VARCHAR, value VARCHAR)[]) END,
        CASE WHEN in_b AND d >= enroll_day_b
            THEN [{{'key': {b}, 'value': branch_b}}]
            ELSE CAST([] AS STRUCT(key VARCHAR, value VARCHAR)[]) END
    ) AS experiments
FROM sim_days
WHERE active
ORDER BY submission_date, client_id;
CREATE OR REPLACE TABLE {p}.telemetry.desktop_active_users AS
SELECT
    client_id,
    submission_date,
    active AS is_dau,
    TRUE AS is_desktop,
    (active::INTEGER
     + 2 * coalesce(lag(active::INTEGER, 1) OVER w, 0)
     + 4 * coalesce(lag(active::INTEGER, 2) OVER w, 0)
     + 8 * coalesce(lag(active::INTEGER, 3) OVER w, 0)
     + 16 * coalesce(lag(active::INTEGER, 4) OVER w, 0)
     + 32 * coalesce(lag(active::INTEGER, 5) OVER w, 0)
     + 64 * coalesce(lag(active::INTEGER, 6) OVER w, 0))::BIGINT AS days_active_bits
FROM sim_days
WINDOW w AS (PARTITION BY client_id ORDER BY submission_date)
ORDER BY submission_date, client_id;
CREATE OR REPLACE TABLE {p}.search.search_clients_engines_sources_daily AS
WITH s AS (
    SELECT
        *,
        floor(search_mean * sim_exp(i, d, 'sap') * {m_sap} + sim_u(i, d, 'sap_r'))::BIGINT AS sap
    FROM sim_days
    WHERE active
)
SELECT
    client_id,
    submission_date,
    'google' AS engine,
    'urlbar' AS source,
    sap,
    floor(sap * 0.7 + sim_u(i, d, 'tagged'))::BIGINT AS tagged_sap,
    floor(sap * 0.2 + sim_u(i, d, 'follow'))::BIGINT AS tagged_follow_on,
    sap - floor(sap * 0.7 + sim_u(i, d, 'tagged'))::BIGINT AS organic,
    floor(sap * ad_rate * {m_ads} + sim_u(i, d, 'ad_r'))::BIGINT AS ad_click,
    floor(sap * 0.3 + sim_u(i, d, 'swa'))::BIGINT AS search_with_ads
FROM s
WHERE sap > 0
ORDER BY submission_date, client_id;
CREATE OR REPLACE TABLE {p}.telemetry.events AS
WITH enrolled AS (
    SELECT i, client_id, sample_id, {a} AS slug, branch_a AS branch, enroll_day_a AS day,
        exposed_a AS exposed, unenrolls_a AS unenrolls
    FROM sim_clients
    UNION ALL
    SELECT i, client_id, sample_id, {b}, branch_b, enroll_day_b, FALSE, FALSE
    FROM sim_clients WHERE in_b
),
ev AS (
    SELECT client_id, sample_id, slug, branch, day, 'enroll' AS event_method,
        [{{'key': 'branch', 'value': branch}}, {{'key': 'enrollmentId', 'value': printf('%016x', hash(concat({seed}, ':', i, ':', slug)))}}] AS event_map_values
    FROM enrolled
    UNION ALL
    SELECT client_id, sample_id, slug, branch, day, 'expose',
        [{{'key': 'branchSlug', 'value': branch}}, {{'key': 'featureId', 'value': 'sim-feature'}}]
    FROM enrolled WHERE exposed
    UNION ALL
    SELECT client_id, sample_id, slug, branch,
        day + 1 + floor(5 * sim_u(i, -1, 'unenroll_day'))::INTEGER, 'unenroll',
        [{{'key': 'branch', 'value': branch}}, {{'key': 'reason', 'value': 'individual-opt-out'}}]
    FROM enrolled WHERE unenrolls
)
SELECT
    DATE '{start}' + day AS submission_date,
    client_id,
    sample_id,
    'normandy' AS event_category,
    event_method,
    'nimbus_experiment' AS event_object,
    slug AS event_string_value,
    event_map_values,
    [{{'key': slug, 'value': {{'branch': branch}}}}] AS experiments
FROM ev
WHERE day < {days}
ORDER BY submission_date, client_id;
CREATE SCHEMA IF NOT EXISTS {p}.fenix;
CREATE SCHEMA IF NOT EXISTS {p}.org_mozilla_firefox;
CREATE OR REPLACE TEMP VIEW sim_fenix_days AS
SELECT
    *,
    d < churn_day_f AND sim_u(i, d, 'f_active') < least(1.0, p_active * {mf_active}) AS f_active,
    CASE WHEN d >= enroll_day_f
        THEN [{{'key': {f}, 'value': {{'branch': branch_f}}}}]
        ELSE CAST([] AS STRUCT(key VARCHAR, value STRUCT(branch VARCHAR))[]) END AS glean_experiments
FROM (
    SELECT
        *,
        CASE WHEN branch_f <> 'control' AND d >= enroll_day_f THEN 1.0 ELSE 0.0 END AS treated_f
    FROM sim_grid
    WHERE in_f
);
CREATE OR REPLACE TABLE {p}.org_mozilla_firefox.events_stream AS
WITH ev AS (
    SELECT i, fenix_client_id, sample_id, branch_f, enroll_day_f AS day, 'enrollment' AS event_name
    FROM sim_clients WHERE in_f
    UNION ALL
    SELECT i, fenix_client_id, sample_id, branch_f, enroll_day_f, 'exposure'
    FROM sim_clients WHERE in_f AND exposed_f
)
SELECT
    fenix_client_id AS client_id,
    (DATE '{start}' + day)::TIMESTAMP + to_seconds(floor(86399 * sim_u(i, day, event_name))::BIGINT)
        AS submission_timestamp,
    'nimbus_events' AS event_category,
    event_name,
    json_object('experiment', {f}, 'branch', branch_f)::VARCHAR AS event_extra,
    sample_id
FROM ev
UNION ALL
-- Event-level telemetry: up to 16 interaction events per active client and day (about 9 on
-- average), as Glean's events_stream has many rows per client and day.
SELECT
    fenix_client_id,
    submission_date::TIMESTAMP + to_seconds(floor(86399 * sim_u(i, d, 'ui_t' || k))::BIGINT),
    'interaction',
    CASE WHEN k % 4 = 0 THEN 'tab_opened' ELSE 'page_scrolled' END,
    '{{}}',
    sample_id
FROM sim_fenix_days, range(0, 16) AS r(k)
WHERE f_active AND sim_u(i, d, 'ui' || k) < least(1.0, 0.55 * {mf_hours})
ORDER BY submission_timestamp, client_id;
CREATE OR REPLACE TABLE {p}.org_mozilla_firefox.baseline AS
SELECT
    {{'client_id': fenix_client_id}} AS client_info,
    submission_date::TIMESTAMP + INTERVAL 12 HOUR AS submission_timestamp,
    printf('%016x', hash(concat({seed}, ':', i, ':', d, ':baseline'))) AS document_id,
    {{'timespan': {{'glean_baseline_duration': {{'value':
        floor(3600 * hours_mean * sim_exp(i, d, 'f_hours') * {mf_hours})::BIGINT}}}}}} AS metrics,
    {{'isp': {{'name': 'Simulated ISP'}}}} AS metadata,
    {{'experiments': glean_experiments}} AS ping_info,
    sample_id
FROM sim_fenix_days
WHERE f_active
ORDER BY submission_timestamp;
CREATE OR REPLACE TABLE {p}.org_mozilla_firefox.metrics AS
SELECT
    {{'client_id': fenix_client_id}} AS client_info,
    submission_date::TIMESTAMP + INTERVAL 18 HOUR AS submission_timestamp,
    printf('%016x', hash(concat({seed}, ':', i, ':', d, ':metrics'))) AS document_id,
    {{'counter': {{'events_normal_and_private_uri_count':
        floor(uri_mean * sim_exp(i, d, 'f_uri') * {mf_uri} + sim_u(i, d, 'f_uri_r'))::BIGINT}}}} AS metrics,
    {{'experiments': glean_experiments}} AS ping_info,
    sample_id
FROM sim_fenix_days
WHERE f_active
ORDER BY submission_timestamp;
CREATE OR REPLACE TABLE {p}.fenix.active_users AS
SELECT
    fenix_client_id AS client_id,
    submission_date,
    TRUE AS is_mobile,
    f_active AS is_dau,
    (d - last_value(CASE WHEN f_active THEN d END IGNORE NULLS) OVER w)::BIGINT AS days_since_active,
    glean_experiments AS experiments
FROM sim_fenix_days
WINDOW w AS (PARTITION BY fenix_client_id ORDER BY d ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
ORDER BY submission_date, client_id;
CREATE OR REPLACE TABLE {p}.search.mobile_search_clients_engines_sources_daily AS
WITH s AS (
    SELECT
        *,
        floor(search_mean * sim_exp(i, d, 'f_sap') * {mf_sap} + sim_u(i, d, 'f_sap_r'))::BIGINT AS searches
    FROM sim_fenix_days
    WHERE f_active
)
SELECT
    fenix_client_id AS client_id,
    submission_date,
    'Firefox Android' AS normalized_app_name_os,
    'google' AS engine,
    'searchbar' AS source,
    searches AS search_count,
    floor(searches * 0.7 + sim_u(i, d, 'f_tagged'))::BIGINT AS tagged_sap,
    floor(searches * 0.2 + sim_u(i, d, 'f_follow'))::BIGINT AS tagged_follow_on,
    searches - floor(searches * 0.7 + sim_u(i, d, 'f_tagged'))::BIGINT AS organic,
    floor(searches * ad_rate * {mf_ads} + sim_u(i, d, 'f_ad_r'))::BIGINT AS ad_click,
    floor(searches * 0.3 + sim_u(i, d, 'f_swa'))::BIGINT AS search_with_ads,
    CASE WHEN d >= enroll_day_f
        THEN [{{'key': {f}, 'value': branch_f}}]
        ELSE CAST([] AS STRUCT(key VARCHAR, value VARCHAR)[]) END AS experiments
FROM s
WHERE searches > 0
ORDER BY submission_date, client_id;
",
        n = opts.clients,
        days = opts.days,
        start = opts.start,
        m_active = mult(opts, "is_dau"),
        m_hours = mult(opts, "active_hours_sum"),
        m_uri = mult(opts, "scalar_parent_browser_engagement_total_uri_count_sum"),
        m_sap = mult(opts, "sap"),
        m_ads = mult(opts, "ad_click"),
        m_default = mult(opts, "is_default_browser"),
        f = lit(EXPERIMENT_FENIX),
        mf_active = mult_f(opts, "is_dau"),
        mf_hours = mult_f(opts, "active_hours_sum"),
        mf_uri = mult_f(opts, "scalar_parent_browser_engagement_total_uri_count_sum"),
        mf_sap = mult_f(opts, "sap"),
        mf_ads = mult_f(opts, "ad_click"),
    );
    warehouse.execute_native(&sql)?;
    let mut tables = Vec::new();
    for (dataset, table) in TABLES {
        let name = format!("{PROJECT}.{dataset}.{table}");
        let counts = warehouse.query_columns(&format!("SELECT count(*) AS n FROM `{name}`"))?;
        let rows = match counts.get("n") {
            Some(Column::Int(v)) => v.first().copied().flatten().unwrap_or(0),
            _ => 0,
        };
        tables.push((name, u64::try_from(rows).unwrap_or(0)));
    }
    let mut experiments = Vec::new();
    for (slug, branch_col, filter, first, last) in [
        (EXPERIMENT_A, "branch_a", "TRUE", 7, 14),
        (EXPERIMENT_B, "branch_b", "in_b", 9, 14),
        (EXPERIMENT_FENIX, "branch_f", "in_f", 7, 14),
    ] {
        let mut enrolled = BTreeMap::new();
        // sim_clients is a TEMP table: read on the connection that made it.
        let groups = warehouse.query_native(&format!(
            "SELECT {branch_col} AS branch, count(*) AS n FROM sim_clients WHERE {filter} GROUP BY 1 ORDER BY 1"
        ))?;
        if let (Some(Column::Text(branches)), Some(Column::Int(counts))) =
            (groups.get("branch"), groups.get("n"))
        {
            for (b, n) in branches.iter().zip(counts) {
                if let (Some(b), Some(n)) = (b, n) {
                    enrolled.insert(b.clone(), u64::try_from(*n).unwrap_or(0));
                }
            }
        }
        experiments.push(SimExperiment {
            slug: slug.to_string(),
            enrolled,
            start_date: opts.date(first),
            enrollment_end_date: opts.date(last),
            end_date: opts.date(opts.days - 1),
        });
    }
    warehouse.execute_native(
        "DROP VIEW IF EXISTS sim_fenix_days; DROP VIEW IF EXISTS sim_days; \
         DROP VIEW IF EXISTS sim_grid; DROP TABLE IF EXISTS sim_clients;",
    )?;
    Ok(SimReport {
        experiments,
        tables,
    })
}

/// Add experiment `to`, a copy of desktop experiment `from` (same clients, branches and
/// dates) under another slug: its enrollment and exposure events and its `experiments`
/// entries in `clients_daily`. More experiments for load and parallelism tests; `to` takes
/// `from`'s config. Fenix experiments cannot be copied.
pub fn clone_experiment(
    warehouse: &DuckDbWarehouse,
    report: &mut SimReport,
    from: &str,
    to: &str,
) -> Result<(), SimulateError> {
    let Some(source) = report.experiments.iter().find(|e| e.slug == from).cloned() else {
        return Err(SimulateError::Options(format!(
            "no simulated experiment {from:?}"
        )));
    };
    if from == EXPERIMENT_FENIX {
        return Err(SimulateError::Options(format!(
            "{from}: only desktop experiments can be copied"
        )));
    }
    if report.experiments.iter().any(|e| e.slug == to) || to.is_empty() {
        return Err(SimulateError::Options(format!(
            "experiment {to:?} exists already"
        )));
    }
    let (f, t) = (lit(from), lit(to));
    warehouse.execute_native(&format!(
        "INSERT INTO \"{PROJECT}\".telemetry.events
         SELECT submission_date, client_id, sample_id, event_category, event_method, event_object,
             {t}, event_map_values,
             list_transform(experiments, lambda x: {{'key': {t}, 'value': x.value}})
         FROM \"{PROJECT}\".telemetry.events WHERE event_string_value = {f};
         UPDATE \"{PROJECT}\".telemetry.clients_daily SET experiments = list_concat(experiments,
             list_transform(list_filter(experiments, lambda x: x.key = {f}),
                            lambda x: {{'key': {t}, 'value': x.value}}));"
    ))?;
    report.experiments.push(SimExperiment {
        slug: to.to_string(),
        ..source
    });
    Ok(())
}

/// The project a table is exported under: the one the firefox_desktop definitions name
/// (`mozdata` for `clients_daily` and search, `moz-fx-data-shared-prod` for the rest), so
/// tools that resolve each project separately find every table.
pub fn parquet_project(dataset: &str, table: &str) -> &'static str {
    match (dataset, table) {
        ("telemetry", "clients_daily") | ("search", _) => "mozdata",
        _ => PROJECT,
    }
}

/// Copy the simulated tables to `DIR/<project>/<dataset>/<table>.parquet` (the `--data`
/// layout, projects as [`parquet_project`]). Returns the files written.
pub fn export_parquet(
    warehouse: &DuckDbWarehouse,
    dir: &std::path::Path,
) -> Result<Vec<std::path::PathBuf>, SimulateError> {
    let mut written = Vec::new();
    for (dataset, table) in TABLES {
        let folder = dir.join(parquet_project(dataset, table)).join(dataset);
        std::fs::create_dir_all(&folder)
            .map_err(|e| SimulateError::Options(format!("creating {}: {e}", folder.display())))?;
        let file = folder.join(format!("{table}.parquet"));
        let tmp = folder.join(format!(".{table}.parquet.tmp"));
        warehouse.execute_native(&format!(
            "COPY \"{PROJECT}\".{dataset}.{table} TO {} (FORMAT parquet)",
            lit(&tmp.to_string_lossy())
        ))?;
        std::fs::rename(&tmp, &file)
            .map_err(|e| SimulateError::Options(format!("renaming {}: {e}", tmp.display())))?;
        written.push(file);
    }
    Ok(written)
}

/// The experiments as Experimenter v8 recipes.
pub fn recipes(report: &SimReport) -> Value {
    let recipes: Vec<Value> = report
        .experiments
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let branches: Vec<Value> = e
                .enrolled
                .keys()
                .map(|b| json!({"slug": b, "ratio": 1, "features": []}))
                .collect();
            let proposed = (e.enrollment_end_date - e.start_date).num_days();
            let (app_name, app_id, unit) = if e.slug == EXPERIMENT_FENIX {
                ("fenix", "org.mozilla.firefox", "nimbus_id")
            } else {
                ("firefox_desktop", "firefox-desktop", "normandy_id")
            };
            json!({
                "schemaVersion": "1.12.0",
                "slug": e.slug,
                "id": e.slug,
                "arguments": {},
                "application": app_id,
                "appName": app_name,
                "appId": app_id,
                "channel": "release",
                "userFacingName": format!("Simulated experiment {}", i + 1),
                "userFacingDescription": "Synthetic data with planted effects (jetstream simulate).",
                "isEnrollmentPaused": true,
                "isRollout": false,
                "bucketConfig": {
                    "randomizationUnit": unit,
                    "namespace": format!("{}-namespace", e.slug),
                    "start": 0,
                    "count": 10000,
                    "total": 10000
                },
                "featureIds": ["sim-feature"],
                "branches": branches,
                "targeting": "true",
                "startDate": e.start_date.to_string(),
                "enrollmentEndDate": e.enrollment_end_date.to_string(),
                "endDate": e.end_date.to_string(),
                "proposedDuration": (e.end_date - e.start_date).num_days(),
                "proposedEnrollment": proposed,
                "referenceBranch": "control",
                "featureValidationOptOut": false,
                "localizations": null,
                "locales": null,
                "publishedDate": null,
                "isFirefoxLabsOptIn": false
            })
        })
        .collect();
    Value::Array(recipes)
}

const COMMON_DATA_SOURCES: &str = r#"
[data_sources.sim_clients_daily]
from_expression = "mozdata.telemetry.clients_daily"
experiments_column_type = "simple"
friendly_name = "Clients daily (simulated)"
description = "One row per client and active day"

[data_sources.sim_search]
from_expression = "mozdata.search.search_clients_engines_sources_daily"
experiments_column_type = "none"
friendly_name = "Search (simulated)"
description = "One row per client and day with searches"

[metrics.active_hours]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
friendly_name = "Active hours"
description = "Hours of activity"
[metrics.active_hours.statistics.bootstrap_mean]
[metrics.active_hours.statistics.linear_model_mean]

[metrics.uri_count]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(scalar_parent_browser_engagement_total_uri_count_sum), 0)"
friendly_name = "URIs visited"
description = "Pages loaded"
[metrics.uri_count.statistics.bootstrap_mean]

[metrics.days_of_use]
data_source = "sim_clients_daily"
select_expression = "COUNT(submission_date)"
friendly_name = "Days of use"
description = "Days with activity"
[metrics.days_of_use.statistics.deciles]
[metrics.days_of_use.statistics.bootstrap_mean]

[metrics.search_count]
data_source = "sim_search"
select_expression = "COALESCE(SUM(sap), 0)"
friendly_name = "SAP searches"
description = "Searches from search access points"
[metrics.search_count.statistics.bootstrap_mean]

[metrics.retained]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(pings_aggregated_by_this_row), 0) > 0"
friendly_name = "Retained"
description = "Active in the window"
[metrics.retained.statistics.binomial]
"#;

const FENIX_CONFIG: &str = r#"[metrics]
weekly = ["active_hours", "uri_count", "search_count", "days_of_use", "tabs_opened"]
overall = ["active_hours", "uri_count", "search_count", "days_of_use", "tabs_opened"]

[data_sources.sim_baseline]
from_expression = "(SELECT p.*, DATE(p.submission_timestamp) AS submission_date FROM `moz-fx-data-shared-prod.org_mozilla_firefox.baseline` p)"
client_id_column = "client_info.client_id"
experiments_column_type = "glean"
friendly_name = "Baseline (simulated)"
description = "Glean baseline pings"

[data_sources.sim_metrics]
from_expression = "(SELECT p.*, DATE(p.submission_timestamp) AS submission_date FROM `moz-fx-data-shared-prod.org_mozilla_firefox.metrics` p)"
client_id_column = "client_info.client_id"
experiments_column_type = "glean"
friendly_name = "Metrics (simulated)"
description = "Glean metrics pings"

[data_sources.sim_mobile_search]
from_expression = "(SELECT * FROM `mozdata.search.mobile_search_clients_engines_sources_daily` WHERE normalized_app_name_os = 'Firefox Android')"
experiments_column_type = "simple"
friendly_name = "Mobile search (simulated)"
description = "One row per client and day with searches"

[data_sources.sim_events_stream]
from_expression = "(SELECT p.*, DATE(p.submission_timestamp) AS submission_date FROM `moz-fx-data-shared-prod.org_mozilla_firefox.events_stream` p)"
experiments_column_type = "none"
friendly_name = "Events (simulated)"
description = "Glean events, one row per event: many per client and day"

[metrics.tabs_opened]
data_source = "sim_events_stream"
select_expression = "COUNTIF(event_category = 'interaction' AND event_name = 'tab_opened')"
friendly_name = "Tabs opened"
description = "Tab-opened events (event-level data)"
[metrics.tabs_opened.statistics.bootstrap_mean]

[metrics.active_hours]
data_source = "sim_baseline"
select_expression = "COALESCE(SUM(metrics.timespan.glean_baseline_duration.value), 0) / 3600.0"
friendly_name = "Active hours"
description = "Hours of activity"
[metrics.active_hours.statistics.bootstrap_mean]

[metrics.uri_count]
data_source = "sim_metrics"
select_expression = "COALESCE(SUM(metrics.counter.events_normal_and_private_uri_count), 0)"
friendly_name = "URIs visited"
description = "Pages loaded"
[metrics.uri_count.statistics.bootstrap_mean]

[metrics.search_count]
data_source = "sim_mobile_search"
select_expression = "COALESCE(SUM(search_count), 0)"
friendly_name = "Searches"
description = "Searches"
[metrics.search_count.statistics.bootstrap_mean]

[metrics.days_of_use]
data_source = "sim_baseline"
select_expression = "COUNT(DISTINCT DATE(submission_timestamp))"
friendly_name = "Days of use"
description = "Days with a baseline ping"
[metrics.days_of_use.statistics.bootstrap_mean]
"#;

/// The per-experiment configs (metric-hub `jetstream/<slug>.toml`), self-contained: data
/// sources, metrics and statistics are defined inline, so they run without metric-hub.
pub fn configs() -> Vec<(String, String)> {
    let a = format!(
        r#"[experiment]
segments = ["heavy_users"]

[segments.data_sources.sim_clients_daily_pre]
from_expression = "mozdata.telemetry.clients_daily"
window_start = -7
window_end = -1

[segments.heavy_users]
data_source = "sim_clients_daily_pre"
select_expression = "COALESCE(SUM(active_hours_sum), 0) > 10"
friendly_name = "Heavy users"
description = "More than 10 active hours in the week before enrolling"

[metrics]
weekly = ["active_hours", "uri_count", "days_of_use", "search_count", "retained"]
overall = ["active_hours", "uri_count", "days_of_use", "search_count", "retained"]
preenrollment_weekly = ["active_hours", "uri_count"]
{COMMON_DATA_SOURCES}
[metrics.active_hours.statistics.linear_model_mean.covariate_adjustment]
period = "preenrollment_week"
"#
    );
    let b = format!(
        r#"[experiment.exposure_signal]
name = "loaded_pages"
friendly_name = "Loaded pages"
description = "Clients that loaded more than 30 pages on a day after enrolling"
data_source = "sim_clients_daily"
select_expression = "scalar_parent_browser_engagement_total_uri_count_sum > 30"
window_end = "analysis_window_end"

[metrics]
weekly = ["active_hours", "uri_count", "search_count", "ad_clicks", "ads_per_search"]
overall = ["active_hours", "uri_count", "days_of_use", "search_count", "ad_clicks", "ads_per_search", "retained"]
{COMMON_DATA_SOURCES}
[metrics.ad_clicks]
data_source = "sim_search"
select_expression = "COALESCE(SUM(ad_click), 0)"
friendly_name = "Ad clicks"
description = "Clicks on search ads"
[metrics.ad_clicks.statistics.bootstrap_mean]

[metrics.ads_per_search]
depends_on = ["ad_clicks", "search_count"]
friendly_name = "Ad clicks per search"
description = "Population ratio of ad clicks to searches"
[metrics.ads_per_search.statistics.population_ratio]
numerator = "ad_clicks"
denominator = "search_count"
"#
    );
    vec![
        (EXPERIMENT_A.to_string(), a),
        (EXPERIMENT_B.to_string(), b),
        (EXPERIMENT_FENIX.to_string(), FENIX_CONFIG.to_string()),
    ]
}
