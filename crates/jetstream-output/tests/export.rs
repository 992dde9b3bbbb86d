use chrono::NaiveDateTime;
use chrono::{TimeZone, Utc};
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_output::export::{
    ExportPolicy, export_errors, export_statistics, weekly_analysis_start,
};
use jetstream_output::{LocalFolder, OutputSink};
use jetstream_warehouse::{LogRecord, TableMetadata, TableName, Warehouse};
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
    let export = export_statistics(
        &wh,
        &sink,
        "mozanalysis",
        "my-slug",
        ExportPolicy::default(),
    )
    .expect("export");
    let keys = export.written;
    assert_eq!(keys, ["statistics/statistics_my_slug_weekly.json"]);
    assert!(export.unchanged.is_empty());

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

/// Rows of a window table (the window view adds `window_index`).
const WINDOW_ROWS: &str = "
SELECT 'active_hours' AS metric, 'mean' AS statistic, 'control' AS branch, 1.5 AS point
UNION ALL
SELECT 'active_hours', 'mean', 'treatment', 1.7
UNION ALL
SELECT 'uri_count', 'mean', 'treatment', 3.0";

/// The reference's rule: a view is exported again only when one of its window tables was
/// updated after the exported object; `force` exports regardless.
#[test]
fn statistics_are_exported_again_only_when_a_window_table_is_newer() {
    let wh = DuckDbWarehouse::in_memory("moz-fx-data-experiments").expect("warehouse");
    let at = |t: chrono::DateTime<Utc>| TableMetadata {
        last_updated: t,
        ..meta()
    };
    let an_hour_ago = Utc::now() - chrono::TimeDelta::hours(1);
    for window in [1, 2] {
        let table = TableName::new("mozanalysis", &format!("statistics_my_slug_week_{window}"))
            .expect("name");
        wh.write_table(&table, WINDOW_ROWS, &at(an_hour_ago))
            .expect("write");
    }
    // A table that only looks like a window table of the weekly view: never consulted.
    let other = TableName::new("mozanalysis", "statistics_my_slug_week_1_backup").expect("name");
    wh.write_table(
        &other,
        WINDOW_ROWS,
        &at(Utc::now() + chrono::TimeDelta::days(1)),
    )
    .expect("look-alike");
    let weekly = TableName::new("mozanalysis", "statistics_my_slug_weekly").expect("name");
    assert_eq!(
        wh.publish_window_view(&weekly, "statistics_my_slug_week")
            .expect("view"),
        2
    );
    let overall_table =
        TableName::new("mozanalysis", "statistics_my_slug_overall_1").expect("name");
    wh.write_table(&overall_table, WINDOW_ROWS, &at(an_hour_ago))
        .expect("write");
    let overall = TableName::new("mozanalysis", "statistics_my_slug_overall").expect("name");
    wh.publish_window_view(&overall, "statistics_my_slug_overall")
        .expect("view");
    let weekly_key = "statistics/statistics_my_slug_weekly.json";
    let overall_key = "statistics/statistics_my_slug_overall.json";

    let root = scratch("reexport");
    let sink = LocalFolder::new(&root);
    let export = |force| {
        export_statistics(
            &wh,
            &sink,
            "mozanalysis",
            "my-slug",
            ExportPolicy {
                force,
                ..ExportPolicy::default()
            },
        )
        .expect("export")
    };
    let first = export(false);
    assert_eq!(
        first.written,
        [weekly_key, overall_key],
        "no objects yet: all written"
    );
    assert!(first.unchanged.is_empty());

    // Nothing changed: nothing written, the objects are untouched.
    let modified = sink
        .modified(weekly_key)
        .expect("modified")
        .expect("exported");
    std::fs::write(root.join(weekly_key), b"[\"marker\"]").expect("mark");
    let again = export(false);
    assert!(again.written.is_empty(), "{again:?}");
    assert_eq!(again.unchanged, [weekly_key, overall_key]);
    assert_eq!(
        sink.get(weekly_key).expect("get").as_deref(),
        Some(&b"[\"marker\"]"[..]),
        "an unchanged view is not rewritten"
    );
    assert!(
        sink.modified(weekly_key)
            .expect("modified")
            .expect("still there")
            >= modified
    );

    // One window table of the weekly view rewritten just after the object: the weekly view
    // only (and once: its new object is newer than the table).
    let object_time = sink.modified(weekly_key).expect("modified").expect("there");
    std::thread::sleep(std::time::Duration::from_millis(50));
    let week_2 = TableName::new("mozanalysis", "statistics_my_slug_week_2").expect("name");
    wh.write_table(
        &week_2,
        WINDOW_ROWS,
        &at(object_time + chrono::TimeDelta::milliseconds(1)),
    )
    .expect("rewrite");
    let third = export(false);
    assert_eq!(third.written, [weekly_key]);
    assert_eq!(third.unchanged, [overall_key]);
    let json: Value = serde_json::from_slice(&sink.get(weekly_key).expect("get").expect("present"))
        .expect("json");
    assert_eq!(json.as_array().map(Vec::len), Some(6), "both windows' rows");
    assert!(export(false).written.is_empty(), "exported once");

    // A deleted object is written again; `force` writes everything.
    std::fs::remove_file(root.join(overall_key)).expect("delete");
    assert_eq!(export(false).written, [overall_key]);
    let forced = export(true);
    assert_eq!(forced.written, [weekly_key, overall_key]);
    assert!(forced.unchanged.is_empty());
    std::fs::remove_dir_all(root).expect("cleanup");
}

/// A window table without metadata has an unknown age: its view is exported again.
#[test]
fn window_tables_of_unknown_age_are_exported_again() {
    let wh = DuckDbWarehouse::in_memory("p").expect("warehouse");
    let table = TableName::new("ds", "statistics_s_overall_1").expect("name");
    wh.write_table(&table, WINDOW_ROWS, &meta()).expect("write");
    // Written by something else than jetstream: no metadata.
    wh.execute_native(
        "DELETE FROM _jetstream.table_metadata WHERE table_name = 'statistics_s_overall_1'",
    )
    .expect("forget the metadata");
    assert_eq!(wh.table_metadata(&table).expect("metadata"), None);
    let view = TableName::new("ds", "statistics_s_overall").expect("name");
    wh.publish_window_view(&view, "statistics_s_overall")
        .expect("view");
    let root = scratch("unknown-age");
    let sink = LocalFolder::new(&root);
    for _ in 0..2 {
        let export =
            export_statistics(&wh, &sink, "ds", "s", ExportPolicy::default()).expect("export");
        assert_eq!(export.written, ["statistics/statistics_s_overall.json"]);
    }
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn a_hostile_dataset_name_is_refused() {
    let wh = DuckDbWarehouse::in_memory("p").expect("warehouse");
    let scratch = scratch("hostile");
    let sink = LocalFolder::new(scratch.path());
    let err = export_statistics(
        &wh,
        &sink,
        "x`; DROP TABLE y; --",
        "slug",
        ExportPolicy::default(),
    )
    .expect_err("refused");
    assert!(err.to_string().contains("dataset name"), "{err}");
}

#[test]
fn a_view_without_required_columns_is_an_error_naming_it() {
    let wh = DuckDbWarehouse::in_memory("p").expect("warehouse");
    let view = TableName::new("ds", "statistics_s_overall").expect("name");
    wh.create_view(&view, "SELECT 'm' AS metric").expect("view");
    let scratch = scratch("missing");
    let sink = LocalFolder::new(scratch.path());
    let err = export_statistics(
        &wh,
        &sink,
        "ds",
        "s",
        ExportPolicy {
            force: true,
            ..ExportPolicy::default()
        },
    )
    .expect_err("missing columns");
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
        export_errors(&wh, &sink, &logs, "my-slug", start, enrollment_end, None).expect("export");
    assert_eq!(key, "errors/errors_my_slug.json");
    assert_eq!(n, 2);
    // A rerun that started after the first of them exports only the later one.
    let rerun =
        NaiveDateTime::parse_from_str("2026-11-23 00:00:00", "%Y-%m-%d %H:%M:%S").expect("time");
    let (_, n) = export_errors(
        &wh,
        &sink,
        &logs,
        "my-slug",
        start,
        enrollment_end,
        Some(rerun),
    )
    .expect("export");
    assert_eq!(n, 1, "rows before the rerun are left out");
    let (_, n) =
        export_errors(&wh, &sink, &logs, "my-slug", start, enrollment_end, None).expect("export");
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
