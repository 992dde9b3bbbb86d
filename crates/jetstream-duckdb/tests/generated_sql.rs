//! Generated BigQuery SQL (the reviewed golden files of `jetstream-sql`) executed on DuckDB
//! against small hand-written telemetry tables: the translation must not only parse, it must
//! run and mean the same thing.

use jetstream_duckdb::DuckDbWarehouse;
use jetstream_warehouse::{Column, TableMetadata, TableName, Warehouse};

fn golden(name: &str) -> String {
    let path = format!(
        "{}/../jetstream-sql/tests/golden/{name}.sql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Normandy events of `no-config-desktop` (enrolment 2026-01-05..12): c1..c4 enrol, c2
/// enrols twice, c3 is exposed, c5 enrols in another experiment, c6 enrols after the period.
const EVENTS: &str = r#"
CREATE SCHEMA "moz-fx-data-shared-prod".telemetry;
CREATE TABLE "moz-fx-data-shared-prod".telemetry.events AS
SELECT * FROM (VALUES
  ('c1', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-05', 'normandy', 'enroll', 'no-config-desktop', 1),
  ('c2', [{'key': 'branch', 'value': 'treatment'}], DATE '2026-01-06', 'normandy', 'enroll', 'no-config-desktop', 2),
  ('c2', [{'key': 'branch', 'value': 'treatment'}], DATE '2026-01-07', 'normandy', 'enroll', 'no-config-desktop', 2),
  ('c3', [{'key': 'branch', 'value': 'treatment'}], DATE '2026-01-08', 'normandy', 'enroll', 'no-config-desktop', 3),
  ('c3', [{'key': 'branchSlug', 'value': 'treatment'}], DATE '2026-01-09', 'normandy', 'expose', 'no-config-desktop', 3),
  ('c4', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-12', 'normandy', 'enroll', 'no-config-desktop', 4),
  ('c5', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-06', 'normandy', 'enroll', 'other-experiment', 5),
  ('c6', [{'key': 'branch', 'value': 'control'}], DATE '2026-01-13', 'normandy', 'enroll', 'no-config-desktop', 6)
) AS t(client_id, event_map_values, submission_date, event_category, event_method, event_string_value, sample_id);
"#;

#[test]
fn the_desktop_enrollments_query_runs_on_duckdb() {
    let wh = DuckDbWarehouse::in_memory("moz-fx-data-experiments").expect("open");
    wh.ensure_catalog("moz-fx-data-shared-prod")
        .expect("catalog");
    wh.execute_native(EVENTS).expect("events");
    let table = TableName::new("mozanalysis", "enrollments_no_config_desktop").expect("name");
    let n = wh
        .write_table(
            &table,
            &golden("desktop_defaults_enrollments"),
            &TableMetadata::now("no-config-desktop"),
        )
        .expect("enrollments query runs");
    assert_eq!(n, 4, "c1..c4 enrolled in the period");
    let cols = wh
        .query_columns(
            "SELECT analysis_id, branch, enrollment_date, num_enrollment_events, \
                    exposure_date, num_exposure_events \
             FROM mozanalysis.enrollments_no_config_desktop ORDER BY analysis_id",
        )
        .expect("read");
    let text = |c: &str| {
        cols.get(c)
            .and_then(Column::as_text)
            .expect("text")
            .iter()
            .map(|v| v.clone().unwrap_or_default())
            .collect::<Vec<_>>()
    };
    assert_eq!(text("analysis_id"), ["c1", "c2", "c3", "c4"]);
    assert_eq!(
        text("branch"),
        ["control", "treatment", "treatment", "control"]
    );
    assert_eq!(
        cols.get("num_enrollment_events"),
        Some(&Column::Int(vec![Some(1), Some(2), Some(1), Some(1)]))
    );
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    assert_eq!(
        cols.get("enrollment_date"),
        Some(&Column::Date(vec![
            d("2026-01-05"),
            d("2026-01-06"),
            d("2026-01-08"),
            d("2026-01-12")
        ]))
    );
    // Only c3 was exposed. For the others the exposures CTE has only the (NULL, NULL) group,
    // which the final USING join cannot match: NULL date and NULL count, as on BigQuery (not 0).
    assert_eq!(
        cols.get("exposure_date"),
        Some(&Column::Date(vec![None, None, d("2026-01-09"), None]))
    );
    assert_eq!(
        cols.get("num_exposure_events"),
        Some(&Column::Int(vec![None, None, Some(1), None]))
    );
}

/// Two enrolled clients and their daily telemetry around the first week.
const DAILY: &str = r#"
CREATE SCHEMA dataset;
CREATE TABLE dataset.enrollments_no_config_desktop AS
SELECT * FROM (VALUES
  ('c1', 'control', DATE '2026-01-05', 1, CAST(NULL AS DATE), CAST(NULL AS BIGINT)),
  ('c2', 'treatment', DATE '2026-01-06', 1, DATE '2026-01-06', 1)
) AS t(analysis_id, branch, enrollment_date, num_enrollment_events, exposure_date, num_exposure_events);

CREATE SCHEMA "moz-fx-data-shared-prod".telemetry;
CREATE TABLE "moz-fx-data-shared-prod".telemetry.desktop_active_users AS
SELECT * FROM (VALUES
  ('c1', DATE '2026-01-05', true, true),
  ('c1', DATE '2026-01-06', true, true),
  ('c1', DATE '2026-01-07', false, true),
  ('c2', DATE '2026-01-07', true, false)
) AS t(client_id, submission_date, is_dau, is_desktop);

CREATE SCHEMA mozdata.telemetry;
CREATE TABLE mozdata.telemetry.clients_daily AS
SELECT * FROM (VALUES
  -- c1: tagged on its enrolment day (counted), untagged two days later (counted, flagged)
  ('c1', DATE '2026-01-05', true, 2.0, 10, 7, 1, [{'key': 'no-config-desktop', 'value': 'control'}]),
  ('c1', DATE '2026-01-07', false, 3.0, 0, 5, 1, []),
  -- c2: untagged on its enrolment day (dropped by the day-0 filter), tagged later, and
  -- a row after the week (outside the window)
  ('c2', DATE '2026-01-06', true, 100.0, 100, 100, 1, []),
  ('c2', DATE '2026-01-08', false, 4.0, 3, 2, 1, [{'key': 'no-config-desktop', 'value': 'treatment'}]),
  ('c2', DATE '2026-01-14', false, 50.0, 3, 2, 1, [{'key': 'no-config-desktop', 'value': 'treatment'}])
) AS t(client_id, submission_date, is_default_browser, active_hours_sum,
       scalar_parent_browser_engagement_total_uri_count_normal_and_private_mode_sum,
       scalar_parent_browser_engagement_total_uri_count_sum, pings_aggregated_by_this_row,
       experiments);

CREATE SCHEMA mozdata.search;
CREATE TABLE mozdata.search.search_clients_engines_sources_daily AS
SELECT * FROM (VALUES
  ('c1', DATE '2026-01-06', 3, 1)
) AS t(client_id, submission_date, sap, ad_click);
"#;

#[test]
fn the_desktop_default_metrics_query_runs_on_duckdb_with_the_reference_semantics() {
    let wh = DuckDbWarehouse::in_memory("project").expect("open");
    for catalog in ["moz-fx-data-shared-prod", "mozdata"] {
        wh.ensure_catalog(catalog).expect("catalog");
    }
    wh.execute_native(DAILY).expect("telemetry");
    let table = TableName::new("dataset", "no_config_desktop_enrollments_week_1").expect("name");
    let n = wh
        .write_table(
            &table,
            &golden("desktop_defaults_metrics_week_enrollments"),
            &TableMetadata::now("no-config-desktop"),
        )
        .expect("metrics query runs");
    assert_eq!(n, 2, "one row per enrolled client and window");
    let cols = wh
        .query_columns(
            "SELECT * FROM dataset.no_config_desktop_enrollments_week_1 ORDER BY analysis_id",
        )
        .expect("read");
    let num = |c: &str| {
        cols.get(c)
            .and_then(Column::to_f64)
            .unwrap_or_else(|| panic!("{c}"))
    };
    assert_eq!(num("active_hours"), [Some(5.0), Some(4.0)]);
    assert_eq!(num("days_of_use"), [Some(2.0), Some(1.0)]);
    assert_eq!(num("uri_count"), [Some(12.0), Some(2.0)]);
    assert_eq!(
        num("qualified_cumulative_days_of_use"),
        [Some(1.0), Some(1.0)]
    );
    assert_eq!(num("is_default_browser"), [Some(1.0), Some(0.0)]);
    assert_eq!(num("retained"), [Some(1.0), Some(1.0)]);
    assert_eq!(
        num("clients_daily_has_non_enrolled_data"),
        [Some(1.0), Some(0.0)]
    );
    assert_eq!(
        num("clients_daily_has_contradictory_branch"),
        [Some(0.0), Some(0.0)]
    );
    assert_eq!(num("search_count"), [Some(3.0), Some(0.0)]);
    assert_eq!(num("ad_clicks"), [Some(1.0), Some(0.0)]);
    assert_eq!(
        num("client_level_daily_active_users_v2"),
        [Some(2.0), Some(0.0)]
    );
    assert_eq!(num("retained_dau"), [Some(1.0), Some(0.0)]);
}

/// Glean `events_stream` rows of `no-config-fenix`: f1 enrols twice, f2 enrols and is
/// exposed on a later day, f3 enrols in another experiment.
const EVENTS_STREAM: &str = r#"
CREATE SCHEMA "moz-fx-data-shared-prod".fenix;
CREATE TABLE "moz-fx-data-shared-prod".fenix.events_stream AS
SELECT * FROM (VALUES
  ('f1', TIMESTAMP '2026-01-05 10:00:00', 'nimbus_events', 'enrollment', '{"experiment": "no-config-fenix", "branch": "control"}', 1),
  ('f1', TIMESTAMP '2026-01-07 11:00:00', 'nimbus_events', 'enrollment', '{"experiment": "no-config-fenix", "branch": "control"}', 1),
  ('f2', TIMESTAMP '2026-01-06 23:59:59', 'nimbus_events', 'enrollment', '{"experiment": "no-config-fenix", "branch": "treatment"}', 2),
  ('f2', TIMESTAMP '2026-01-08 08:00:00', 'nimbus_events', 'exposure', '{"experiment": "no-config-fenix", "branch": "treatment"}', 2),
  ('f3', TIMESTAMP '2026-01-06 09:00:00', 'nimbus_events', 'enrollment', '{"experiment": "other", "branch": "control"}', 3)
) AS t(client_id, submission_timestamp, event_category, event_name, event_extra, sample_id);
"#;

#[test]
fn the_fenix_enrollments_query_runs_on_duckdb() {
    let wh = DuckDbWarehouse::in_memory("project").expect("open");
    wh.ensure_catalog("moz-fx-data-shared-prod")
        .expect("catalog");
    wh.execute_native(EVENTS_STREAM).expect("events_stream");
    let table = TableName::new("dataset", "enrollments_no_config_fenix").expect("name");
    let n = wh
        .write_table(
            &table,
            &golden("fenix_defaults_enrollments"),
            &TableMetadata::now("no-config-fenix"),
        )
        .expect("enrollments query runs");
    assert_eq!(n, 2);
    let cols = wh
        .query_columns("SELECT * FROM dataset.enrollments_no_config_fenix ORDER BY analysis_id")
        .expect("read");
    let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    assert_eq!(
        cols.get("branch"),
        Some(&Column::Text(vec![
            Some("control".into()),
            Some("treatment".into())
        ]))
    );
    assert_eq!(
        cols.get("enrollment_date"),
        Some(&Column::Date(vec![d("2026-01-05"), d("2026-01-06")]))
    );
    assert_eq!(
        cols.get("num_enrollment_events"),
        Some(&Column::Int(vec![Some(2), Some(1)]))
    );
    assert_eq!(
        cols.get("exposure_date"),
        Some(&Column::Date(vec![None, d("2026-01-08")]))
    );
}

/// Glean `baseline` / `metrics` pings and mobile search rows of two fenix clients (nested
/// structs as in the real tables).
const GLEAN: &str = r#"
CREATE SCHEMA dataset;
CREATE TABLE dataset.enrollments_no_config_fenix AS
SELECT * FROM (VALUES
  ('f1', 'control', DATE '2026-01-05', 1, CAST(NULL AS DATE), CAST(NULL AS BIGINT)),
  ('f2', 'treatment', DATE '2026-01-06', 1, CAST(NULL AS DATE), CAST(NULL AS BIGINT))
) AS t(analysis_id, branch, enrollment_date, num_enrollment_events, exposure_date, num_exposure_events);

CREATE SCHEMA "moz-fx-data-shared-prod".fenix;
CREATE TABLE "moz-fx-data-shared-prod".fenix.baseline AS
SELECT
  {'client_id': client_id} AS client_info,
  ts AS submission_timestamp,
  {'timespan': {'glean_baseline_duration': {'value': duration}}} AS metrics,
  {'isp': {'name': isp}} AS metadata,
  {'experiments': CASE WHEN tagged THEN [{'key': 'no-config-fenix', 'value': {'branch': branch}}]
                       ELSE [{'key': 'other', 'value': {'branch': 'x'}}] END} AS ping_info
FROM (VALUES
  ('f1', TIMESTAMP '2026-01-05 10:00:00', 3600, 'Comcast', true, 'control'),
  ('f1', TIMESTAMP '2026-01-20 10:00:00', 7200, 'BrowserStack', false, ''),
  ('f2', TIMESTAMP '2026-01-06 10:00:00', 3600, 'Comcast', false, ''),
  ('f2', TIMESTAMP '2026-02-10 10:00:00', 3600, 'Comcast', true, 'treatment')
) AS t(client_id, ts, duration, isp, tagged, branch);

CREATE TABLE "moz-fx-data-shared-prod".fenix.metrics AS
SELECT
  {'client_id': 'f1'} AS client_info,
  TIMESTAMP '2026-01-06 12:00:00' AS submission_timestamp,
  {'counter': {'events_normal_and_private_uri_count': 5}} AS metrics,
  {'experiments': [{'key': 'no-config-fenix', 'value': {'branch': 'control'}}]} AS ping_info;

CREATE SCHEMA mozdata.search;
CREATE TABLE mozdata.search.mobile_search_clients_engines_sources_daily AS
SELECT * FROM (VALUES
  ('f2', DATE '2026-01-10', 'Firefox Android', 0, 1, 4, 3, 1, 1, [{'key': 'no-config-fenix', 'value': 'treatment'}]),
  ('f1', DATE '2026-01-10', 'Focus Android', 0, 9, 9, 9, 9, 9, [{'key': 'no-config-fenix', 'value': 'control'}])
) AS t(client_id, submission_date, normalized_app_name_os, tagged_follow_on, search_with_ads,
       search_count, organic, tagged_sap, ad_click, experiments);
"#;

#[test]
fn the_fenix_default_metrics_query_runs_on_duckdb_with_the_reference_semantics() {
    let wh = DuckDbWarehouse::in_memory("project").expect("open");
    for catalog in ["moz-fx-data-shared-prod", "mozdata"] {
        wh.ensure_catalog(catalog).expect("catalog");
    }
    wh.execute_native(GLEAN).expect("telemetry");
    let table = TableName::new("dataset", "no_config_fenix_enrollments_overall_1").expect("name");
    let n = wh
        .write_table(
            &table,
            &golden("fenix_defaults_metrics_overall_enrollments"),
            &TableMetadata::now("no-config-fenix"),
        )
        .expect("metrics query runs");
    assert_eq!(n, 2);
    let cols = wh
        .query_columns(
            "SELECT * FROM dataset.no_config_fenix_enrollments_overall_1 ORDER BY analysis_id",
        )
        .expect("read");
    let num = |c: &str| {
        cols.get(c)
            .and_then(Column::to_f64)
            .unwrap_or_else(|| panic!("{c}"))
    };
    assert_eq!(
        num("client_level_daily_active_users_v2"),
        [Some(1.0), Some(0.0)]
    );
    assert_eq!(num("days_of_use"), [Some(2.0), Some(0.0)]);
    assert_eq!(num("active_hours"), [Some(3.0), Some(0.0)]);
    // f2 has no baseline row in its window: the LEFT JOIN's NULL row makes
    // `get_key(NULL, ...).branch IS NULL` true, so BigQuery (and so the reference) flags it
    // as having non-enrolled data. Same here.
    assert_eq!(
        num("baseline_has_non_enrolled_data"),
        [Some(1.0), Some(1.0)]
    );
    // Untagged rows are not contradictory (NULL != branch is NULL, ignored by LOGICAL_OR).
    assert_eq!(
        num("baseline_has_contradictory_branch"),
        [Some(0.0), Some(0.0)]
    );
    assert_eq!(num("total_uri_count"), [Some(5.0), Some(0.0)]);
    assert_eq!(num("search_count"), [Some(0.0), Some(4.0)]);
    assert_eq!(num("serp_ad_clicks"), [Some(0.0), Some(1.0)]);
    // f1's only search row is Focus: no row, so flagged as above.
    assert_eq!(
        num("mobile_search_clients_engines_sources_daily_has_non_enrolled_data"),
        [Some(1.0), Some(0.0)]
    );
}
