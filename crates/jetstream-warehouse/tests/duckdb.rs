use std::path::PathBuf;

use chrono::{TimeZone, Utc};
use jetstream_warehouse::{Column, DuckDbWarehouse, TableMetadata, TableName, Warehouse};

const PROJECT: &str = "moz-fx-data-experiments";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jetstream-wh-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn name(table: &str) -> TableName {
    TableName::new("mozanalysis", table).expect("name")
}

fn meta(slug: &str, day: u32) -> TableMetadata {
    TableMetadata {
        description: slug.to_string(),
        last_updated: Utc.with_ymd_and_hms(2026, 11, day, 6, 0, 0).unwrap(),
        schema_version: jetstream_warehouse::SCHEMA_VERSION,
    }
}

fn with_numbers() -> DuckDbWarehouse {
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    wh.execute_native(
        "CREATE SCHEMA src; CREATE TABLE src.numbers AS SELECT range AS i FROM range(10000)",
    )
    .expect("source");
    wh
}

#[test]
fn write_read_and_metadata_round_trip() {
    let wh = with_numbers();
    let t = name("statistics_my_slug_week_1");
    let n = wh
        .write_table(
            &t,
            "SELECT i, IF(MOD(i, 2) = 0, 'control', 'treatment') AS branch, SAFE_DIVIDE(i, 2) AS half \
             FROM src.numbers WHERE i < 10",
            &meta("my-slug", 20),
        )
        .expect("write");
    assert_eq!(n, 10);
    assert!(wh.table_exists(&t).expect("exists"));
    assert_eq!(
        wh.table_metadata(&t).expect("meta"),
        Some(meta("my-slug", 20))
    );
    let cols = wh
        .query_columns("SELECT * FROM mozanalysis.statistics_my_slug_week_1 ORDER BY i")
        .expect("read");
    assert_eq!(cols.names(), ["i", "branch", "half"]);
    assert_eq!(cols.rows(), 10);
    assert_eq!(
        cols.get("half").and_then(Column::to_f64).expect("half")[3],
        Some(1.5)
    );
    assert_eq!(
        cols.get("branch")
            .and_then(Column::as_text)
            .expect("branch")[1]
            .as_deref(),
        Some("treatment")
    );
    // Three-part BigQuery names of the results project resolve too.
    let three = wh
        .query_columns(&format!(
            "SELECT COUNT(*) AS n FROM `{PROJECT}.mozanalysis.statistics_my_slug_week_1`"
        ))
        .expect("three-part name");
    assert_eq!(three.get("n"), Some(&Column::Int(vec![Some(10)])));
    assert_eq!(
        wh.list_tables("mozanalysis", "statistics_my_slug")
            .expect("list"),
        vec![t]
    );
}

#[test]
fn a_failure_while_writing_leaves_the_previous_table_intact() {
    let wh = with_numbers();
    let t = name("statistics_slug_day_3");
    wh.write_table(
        &t,
        "SELECT i FROM src.numbers WHERE i < 100",
        &meta("slug", 1),
    )
    .expect("first write");
    // The replacement fails while rows are being produced (row 9000 of 10000).
    let err = wh
        .write_table(
            &t,
            "SELECT IF(i = 9000, ERROR('injected failure'), i) AS i FROM src.numbers",
            &meta("slug", 2),
        )
        .expect_err("the injected failure");
    let msg = err.to_string();
    assert!(msg.contains("mozanalysis.statistics_slug_day_3"), "{msg}");
    assert!(msg.contains("injected failure"), "{msg}");
    let cols = wh
        .query_columns("SELECT COUNT(*) AS n, MAX(i) AS top FROM mozanalysis.statistics_slug_day_3")
        .expect("previous table readable");
    assert_eq!(cols.get("n"), Some(&Column::Int(vec![Some(100)])));
    assert_eq!(cols.get("top"), Some(&Column::Int(vec![Some(99)])));
    assert_eq!(wh.table_metadata(&t).expect("meta"), Some(meta("slug", 1)));
    // And the warehouse is usable afterwards.
    assert_eq!(
        wh.write_table(&t, "SELECT i FROM src.numbers", &meta("slug", 3))
            .expect("rewrite"),
        10000
    );
}

#[test]
fn a_query_that_does_not_bind_fails_without_touching_the_table() {
    let wh = with_numbers();
    let t = name("enrollments_slug");
    wh.write_table(
        &t,
        "SELECT i FROM src.numbers WHERE i < 5",
        &meta("slug", 1),
    )
    .expect("write");
    let err = wh
        .write_table(
            &t,
            "SELECT no_such_column FROM src.numbers",
            &meta("slug", 2),
        )
        .expect_err("binder error");
    assert!(err.to_string().contains("no_such_column"), "{err}");
    assert_eq!(wh.table_metadata(&t).expect("meta"), Some(meta("slug", 1)));
}

#[test]
fn enrollments_are_created_once() {
    let wh = with_numbers();
    let t = name("enrollments_slug");
    assert!(
        wh.create_table_if_absent(
            &t,
            "SELECT i FROM src.numbers WHERE i < 5",
            &meta("slug", 1)
        )
        .expect("create")
    );
    assert!(
        !wh.create_table_if_absent(&t, "SELECT i FROM src.numbers", &meta("slug", 2))
            .expect("kept")
    );
    let cols = wh
        .query_columns("SELECT COUNT(*) AS n FROM mozanalysis.enrollments_slug")
        .expect("read");
    assert_eq!(cols.get("n"), Some(&Column::Int(vec![Some(5)])));
}

#[test]
fn views_and_deletion() {
    let wh = with_numbers();
    let t = name("statistics_slug_week_1");
    let v = name("statistics_slug_weekly");
    wh.write_table(
        &t,
        "SELECT i, 1 AS window_index FROM src.numbers WHERE i < 3",
        &meta("slug", 1),
    )
    .expect("write");
    wh.create_view(&v, "SELECT * FROM mozanalysis.statistics_slug_week_1")
        .expect("view");
    assert!(wh.table_exists(&v).expect("view exists"));
    wh.delete_table(&v).expect("drop view");
    wh.delete_table(&t).expect("drop table");
    wh.delete_table(&t).expect("dropping twice is fine");
    assert!(!wh.table_exists(&t).expect("gone"));
    assert!(!wh.table_exists(&v).expect("gone"));
    assert_eq!(wh.table_metadata(&t).expect("meta"), None);
}

#[test]
fn a_file_database_persists_across_opens() {
    let dir = scratch("persist");
    let path = dir.join("nested").join("jetstream.duckdb");
    let t = name("statistics_slug_overall_1");
    {
        let wh = DuckDbWarehouse::open(&path, PROJECT).expect("open");
        wh.write_table(&t, "SELECT 42 AS answer", &meta("slug", 5))
            .expect("write");
    }
    let wh = DuckDbWarehouse::open(&path, PROJECT).expect("reopen");
    assert_eq!(wh.table_metadata(&t).expect("meta"), Some(meta("slug", 5)));
    let cols = wh
        .query_columns("SELECT answer FROM mozanalysis.statistics_slug_overall_1")
        .expect("read");
    assert_eq!(cols.get("answer"), Some(&Column::Int(vec![Some(42)])));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn parquet_folders_appear_under_the_names_the_sql_uses() {
    let dir = scratch("parquet");
    let daily = dir.join("moz-fx-data-shared-prod/telemetry");
    let parts = dir.join("moz-fx-data-shared-prod/telemetry/events");
    std::fs::create_dir_all(&parts).expect("dirs");
    // Written by another connection, as an export from elsewhere would be.
    let writer = duckdb::Connection::open_in_memory().expect("writer");
    writer
        .execute_batch(&format!(
            "COPY (SELECT 'c' || range AS client_id, DATE '2026-11-01' AS submission_date, \
                    range * 1.5 AS active_hours_sum FROM range(6)) TO '{}' (FORMAT parquet); \
             COPY (SELECT 'c1' AS client_id) TO '{}' (FORMAT parquet); \
             COPY (SELECT 'c2' AS client_id) TO '{}' (FORMAT parquet);",
            daily.join("clients_daily.parquet").display(),
            parts.join("part-0.parquet").display(),
            parts.join("part-1.parquet").display(),
        ))
        .expect("write parquet");
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    let exposed = wh.attach_parquet_dir(&dir).expect("attach");
    assert_eq!(
        exposed,
        [
            "moz-fx-data-shared-prod.telemetry.clients_daily",
            "moz-fx-data-shared-prod.telemetry.events"
        ]
    );
    let cols = wh
        .query_columns(
            "SELECT COUNT(*) AS n, SUM(active_hours_sum) AS hours, \
                    MIN(DATE_ADD(submission_date, INTERVAL 1 DAY)) AS next_day \
             FROM `moz-fx-data-shared-prod.telemetry.clients_daily`",
        )
        .expect("query");
    assert_eq!(cols.get("n"), Some(&Column::Int(vec![Some(6)])));
    assert_eq!(cols.get("hours"), Some(&Column::Float(vec![Some(22.5)])));
    assert_eq!(
        cols.get("next_day"),
        Some(&Column::Date(vec![chrono::NaiveDate::from_ymd_opt(
            2026, 11, 2
        )]))
    );
    let events = wh
        .query_columns("SELECT COUNT(*) AS n FROM `moz-fx-data-shared-prod.telemetry.events`")
        .expect("parts");
    assert_eq!(events.get("n"), Some(&Column::Int(vec![Some(2)])));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn mozfun_macros_are_installed() {
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    let cols = wh
        .query_columns(
            "SELECT `mozfun.map.get_key`([STRUCT('a' AS key, 1 AS value), STRUCT('b' AS key, 2 AS value)], 'b') AS v",
        )
        .expect("macro");
    assert_eq!(cols.get("v"), Some(&Column::Int(vec![Some(2)])));
}

#[test]
fn untranslatable_sql_names_the_table() {
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    let err = wh
        .write_table(&name("t"), "SELEC oops", &meta("slug", 1))
        .expect_err("parse error");
    assert!(err.to_string().contains("mozanalysis.t"), "{err}");
}

#[test]
fn nested_result_columns_are_an_error_not_a_panic() {
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    let err = wh
        .query_columns("SELECT [1, 2] AS xs")
        .expect_err("list column");
    assert!(
        err.to_string().contains("unsupported result type list"),
        "{err}"
    );
}

#[test]
fn computed_columns_are_written_as_a_table_and_replace_it() {
    use jetstream_warehouse::Columns;
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    let t = name("statistics_slug_week_1");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 1);
    let columns = Columns::from_pairs(vec![
        (
            "metric".into(),
            Column::Text(vec![
                Some("active_hours".into()),
                Some("it's \"quoted\"".into()),
            ]),
        ),
        ("point".into(), Column::Float(vec![Some(1.25), None])),
        ("window_index".into(), Column::Int(vec![Some(1), Some(1)])),
        ("is_ok".into(), Column::Bool(vec![Some(true), None])),
        ("day".into(), Column::Date(vec![day, None])),
    ])
    .expect("columns");
    assert_eq!(
        wh.write_columns(&t, &columns, &meta("slug", 1))
            .expect("write"),
        2
    );
    let back = wh
        .query_columns("SELECT * FROM mozanalysis.statistics_slug_week_1")
        .expect("read");
    assert_eq!(back, columns);
    assert_eq!(wh.table_metadata(&t).expect("meta"), Some(meta("slug", 1)));

    let smaller = Columns::from_pairs(vec![(
        "metric".into(),
        Column::Text(vec![Some("x".into())]),
    )])
    .expect("columns");
    assert_eq!(
        wh.write_columns(&t, &smaller, &meta("slug", 2))
            .expect("replace"),
        1
    );
    assert_eq!(
        wh.query_columns("SELECT * FROM mozanalysis.statistics_slug_week_1")
            .expect("read"),
        smaller
    );
}

#[test]
fn ragged_or_duplicate_columns_are_refused() {
    use jetstream_warehouse::Columns;
    assert!(
        Columns::from_pairs(vec![
            ("a".into(), Column::Int(vec![Some(1)])),
            ("b".into(), Column::Int(vec![Some(1), Some(2)])),
        ])
        .is_err()
    );
    assert!(
        Columns::from_pairs(vec![
            ("a".into(), Column::Int(vec![Some(1)])),
            ("a".into(), Column::Int(vec![Some(2)])),
        ])
        .is_err()
    );
}

#[test]
fn window_views_cover_every_window_table_with_its_index() {
    let wh = with_numbers();
    for (window, rows) in [(1, 2), (2, 3), (10, 1)] {
        wh.write_table(
            &name(&format!("statistics_slug_week_{window}")),
            &format!("SELECT i, 'control' AS branch FROM src.numbers WHERE i < {rows}"),
            &meta("slug", 1),
        )
        .expect("window table");
    }
    // Look-alikes that must stay out of the weekly view.
    wh.write_table(
        &name("statistics_slug_week_1_backup"),
        "SELECT 1 AS i",
        &meta("slug", 1),
    )
    .expect("other");
    wh.write_table(
        &name("statistics_slug_preenrollment_week_1"),
        "SELECT 1 AS i",
        &meta("slug", 1),
    )
    .expect("other");
    let view = name("statistics_slug_weekly");
    assert_eq!(
        wh.publish_window_view(&view, "statistics_slug_week")
            .expect("view"),
        3
    );
    let cols = wh
        .query_columns(
            "SELECT window_index, COUNT(*) AS n FROM mozanalysis.statistics_slug_weekly \
             GROUP BY window_index ORDER BY window_index",
        )
        .expect("read");
    assert_eq!(
        cols.get("window_index"),
        Some(&Column::Int(vec![Some(1), Some(2), Some(10)]))
    );
    assert_eq!(
        cols.get("n"),
        Some(&Column::Int(vec![Some(2), Some(3), Some(1)]))
    );
    assert_eq!(
        wh.publish_window_view(&name("statistics_other_weekly"), "statistics_other_week")
            .expect("nothing"),
        0
    );
    assert!(
        !wh.table_exists(&name("statistics_other_weekly"))
            .expect("exists")
    );
}
