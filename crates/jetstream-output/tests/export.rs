use chrono::NaiveDateTime;
use chrono::{TimeZone, Utc};
use jetstream_output::LocalFolder;
use jetstream_output::export::{export_errors, export_statistics, weekly_analysis_start};
use jetstream_warehouse::{DuckDbWarehouse, LogRecord, TableMetadata, TableName, Warehouse};
use serde_json::Value;

use crate::local::scratch;
use crate::schema::read_valid;

fn meta() -> TableMetadata {
    TableMetadata {
        description: "my-slug".into(),
        last_updated: Utc.with_ymd_and_hms(2026, 11, 20, 6, 0, 0).unwrap(),
        schema_version: jetstream_warehouse::SCHEMA_VERSION,
    }
}

/// Statistics rows as the analysis writes them: some comparisons NULL, an integer window
/// index, parameters only on some statistics.
const ROWS: &str = "
SELECT 'active_hours' AS metric, 'mean' AS statistic, CAST(NULL AS FLOAT64) AS parameter,
       'control' AS branch, CAST(NULL AS STRING) AS comparison,
       CAST(NULL AS STRING) AS comparison_to_branch, 0.95 AS ci_width, 1.5 AS point,
       1.2 AS lower, 1.8 AS upper, 'all' AS segment, 'enrollments' AS analysis_basis,
       1 AS window_index
UNION ALL
SELECT 'active_hours', 'mean', NULL, 'treatment', 'relative_uplift', 'control', 0.95, 0.05,
       0.01, 0.09, 'all', 'enrollments', 1
UNION ALL
SELECT 'uri_count', 'deciles', 0.1, 'treatment', NULL, NULL, 0.95, 3.0, 2.0, 4.0,
       'all', 'exposures', 1";

#[test]
fn statistics_views_export_as_the_reference_json() {
    let wh = DuckDbWarehouse::in_memory("moz-fx-data-experiments").expect("warehouse");
    let table = TableName::new("mozanalysis", "statistics_my_slug_week_1").expect("name");
    wh.write_table(&table, ROWS, &meta()).expect("write");
    let view = TableName::new("mozanalysis", "statistics_my_slug_weekly").expect("name");
    wh.create_view(&view, "SELECT * FROM mozanalysis.statistics_my_slug_week_1")
        .expect("view");

    let root = scratch("export");
    let sink = LocalFolder::new(&root);
    let keys = export_statistics(&wh, &sink, "mozanalysis", "my-slug").expect("export");
    assert_eq!(keys, ["statistics/statistics_my_slug_weekly.json"]);

    let json = read_valid(&root.join(&keys[0]), "Statistics");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 3);
    // NULL fields are omitted, window_index is a string, keys in the reference's order.
    let first = rows[0].as_object().expect("object");
    assert_eq!(
        first.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "metric",
            "statistic",
            "branch",
            "ci_width",
            "point",
            "lower",
            "upper",
            "segment",
            "analysis_basis",
            "window_index"
        ]
    );
    assert_eq!(first["window_index"], Value::String("1".into()));
    assert_eq!(rows[2]["parameter"].as_f64(), Some(0.1));
    assert_eq!(rows[1]["comparison_to_branch"], "control");
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn a_hostile_dataset_name_is_refused() {
    let wh = DuckDbWarehouse::in_memory("p").expect("warehouse");
    let sink = LocalFolder::new(scratch("hostile"));
    let err = export_statistics(&wh, &sink, "x`; DROP TABLE y; --", "slug").expect_err("refused");
    assert!(err.to_string().contains("dataset name"), "{err}");
}

#[test]
fn a_view_without_required_columns_is_an_error_naming_it() {
    let wh = DuckDbWarehouse::in_memory("p").expect("warehouse");
    let view = TableName::new("ds", "statistics_s_overall").expect("name");
    wh.create_view(&view, "SELECT 'm' AS metric").expect("view");
    let sink = LocalFolder::new(scratch("missing"));
    let err = export_statistics(&wh, &sink, "ds", "s").expect_err("missing columns");
    let msg = err.to_string();
    assert!(msg.contains("ds.statistics_s_overall"), "{msg}");
    assert!(msg.contains("\"statistic\""), "{msg}");
}

fn log(slug: &str, at: &str, exception_type: Option<&str>, metric: Option<&str>) -> LogRecord {
    LogRecord {
        timestamp: NaiveDateTime::parse_from_str(at, "%Y-%m-%d %H:%M:%S").expect("time"),
        source: "jetstream".into(),
        experiment: Some(slug.into()),
        metric: metric.map(Into::into),
        statistic: metric.map(|_| "bootstrap_mean".into()),
        analysis_basis: metric.map(|_| "enrollments".into()),
        segment: metric.map(|_| "all".into()),
        analysis_period: Some("week_1".into()),
        message: format!("failed at {at}"),
        log_level: "ERROR".into(),
        exception: exception_type.map_or_else(|| "None".into(), |t| format!("{t}: boom")),
        filename: "jetstream_analysis::run".into(),
        func_name: "compute_statistic".into(),
        exception_type: exception_type.map(Into::into),
    }
}

#[test]
fn errors_since_the_weekly_analysis_start_export_as_the_reference() {
    let wh = DuckDbWarehouse::in_memory("moz-fx-data-experiments").expect("warehouse");
    let logs = TableName::new("monitoring", "logs").expect("name");
    wh.append_logs(
        &logs,
        &[
            // Before the window (enrollment ended 2026-11-07 → weeks start 11-08, 11-15, 11-22).
            log(
                "my-slug",
                "2026-11-21 23:59:00",
                Some("StatisticComputationException"),
                Some("m0"),
            ),
            log(
                "my-slug",
                "2026-11-22 00:00:00",
                Some("StatisticComputationException"),
                Some("m1"),
            ),
            log(
                "my-slug",
                "2026-11-23 10:00:00",
                Some("EndedException"),
                None,
            ),
            log("my-slug", "2026-11-23 11:00:00", None, None),
            log("other", "2026-11-23 11:00:00", Some("ValueError"), None),
            log(
                "my-slug",
                "2026-11-24 08:30:15",
                Some("NoEnrollmentPeriodException"),
                None,
            ),
        ],
    )
    .expect("append");
    let root = scratch("errors");
    let sink = LocalFolder::new(&root);
    let start =
        NaiveDateTime::parse_from_str("2026-11-26 09:41:37", "%Y-%m-%d %H:%M:%S").expect("time");
    let enrollment_end = chrono::NaiveDate::from_ymd_opt(2026, 11, 7);
    let (key, n) =
        export_errors(&wh, &sink, &logs, "my-slug", start, enrollment_end).expect("export");
    assert_eq!(key, "errors/errors_my_slug.json");
    assert_eq!(n, 2);
    let json = read_valid(&root.join(&key), "AnalysisErrors");
    let rows = json.as_array().expect("array");
    assert_eq!(rows[0]["metric"], "m1");
    assert_eq!(rows[0]["timestamp"], "2026-11-22T00:00:00Z");
    assert_eq!(rows[1]["exception_type"], "NoEnrollmentPeriodException");
    assert_eq!(rows[1]["metric"], Value::Null);
    assert_eq!(
        rows[0]
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        jetstream_output::export::ERROR_FIELDS
    );
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn the_weekly_analysis_start_is_the_last_week_boundary_before_the_run() {
    let t = |s: &str| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time");
    let end = chrono::NaiveDate::from_ymd_opt(2026, 11, 7);
    assert_eq!(
        weekly_analysis_start(t("2026-11-26 09:41:37"), end),
        t("2026-11-22 00:00:00")
    );
    // Exactly on a boundary: the previous one (strictly before).
    assert_eq!(
        weekly_analysis_start(t("2026-11-15 00:00:00"), end),
        t("2026-11-08 00:00:00")
    );
    // Before enrollment ended, and without an enrollment end: the run time, floored.
    assert_eq!(
        weekly_analysis_start(t("2026-11-05 12:34:56"), end),
        t("2026-11-05 12:34:00")
    );
    assert_eq!(
        weekly_analysis_start(t("2026-11-05 12:34:56"), None),
        t("2026-11-05 12:34:00")
    );
}
