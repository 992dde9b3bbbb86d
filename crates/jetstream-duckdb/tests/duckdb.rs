use chrono::{TimeZone, Utc};
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_warehouse::{Column, TableMetadata, TableName, Warehouse};

const PROJECT: &str = "moz-fx-data-experiments";

use jetstream_test_support::scratch;

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
fn a_date_out_of_range_is_an_error_on_every_read_path_not_a_null() {
    let wh = DuckDbWarehouse::in_memory(PROJECT).expect("open");
    // DuckDB holds dates far beyond chrono's ±262,143 years.
    let err = wh
        .query_columns("SELECT DATE '300000-01-01' AS d")
        .expect_err("out of range");
    assert!(err.to_string().contains("date out of range"), "{err}");
    let err = wh
        .query_columns("SELECT CAST('300000-01-01 00:00:00' AS TIMESTAMP) AS t")
        .expect_err("out of range");
    assert!(err.to_string().contains("out of range"), "{err}");
    // In range, with NULLs: read as dates and NULLs.
    let ok = wh
        .query_columns("SELECT DATE '2026-01-02' AS d UNION ALL SELECT NULL")
        .expect("in range");
    assert_eq!(ok.rows(), 2);
}

/// A partials table created by `replace_partitions` is read right away, in the same process,
/// by a join on its keys and dates (as the windows of the daily partials are): every row is
/// seen. A table created empty and filled in one transaction kept the empty table's column
/// statistics in the process, and DuckDB pruned such joins to nothing (found by `cargo xtask
/// bench daily` at 50,000 clients: the first daily window's metrics all came out as zero).
#[test]
fn a_new_partitioned_table_is_joined_in_full_in_the_same_process() {
    let dir = scratch("partitions");
    let wh = DuckDbWarehouse::open(&dir.join("w.duckdb"), PROJECT).expect("open");
    let day =
        |d: i64| chrono::NaiveDate::from_ymd_opt(2026, 1, 8).unwrap() + chrono::Duration::days(d);
    let (clients, days) = (50_000i64, 12i64);
    let (mut ids, mut enrolled, mut dates, mut values) = (vec![], vec![], vec![], vec![]);
    for d in 0..days {
        for c in (0..clients).filter(|c| (c + d) % 3 != 0) {
            ids.push(Some(format!("c{c}")));
            enrolled.push(Some(day(c % 8)));
            dates.push(Some(day(d)));
            values.push(Some(1 + c % 5));
        }
        // The marker row of a computed day.
        ids.push(None);
        enrolled.push(None);
        dates.push(Some(day(d)));
        values.push(None);
    }
    let source = jetstream_warehouse::Columns::from_pairs(vec![
        ("analysis_id".into(), Column::Text(ids)),
        ("enrollment_date".into(), Column::Date(enrolled)),
        ("submission_date".into(), Column::Date(dates)),
        ("v".into(), Column::Int(values)),
    ])
    .expect("columns");
    wh.write_columns(&name("scan"), &source, &meta("slug", 1))
        .expect("scan");
    let enrollments: Vec<Option<String>> = (0..clients).map(|c| Some(format!("c{c}"))).collect();
    let enrollment_dates = (0..clients).map(|c| Some(day(c % 8))).collect();
    let enrollments = jetstream_warehouse::Columns::from_pairs(vec![
        ("analysis_id".into(), Column::Text(enrollments)),
        ("enrollment_date".into(), Column::Date(enrollment_dates)),
    ])
    .expect("columns");
    wh.write_columns(&name("enrollments"), &enrollments, &meta("slug", 1))
        .expect("enrollments");
    let scan = format!("`{PROJECT}.mozanalysis.scan`");
    let parts = format!("`{PROJECT}.mozanalysis.parts`");
    // The windows of every client over the days `parts` holds (up to `last`, excluded), read
    // from `parts` by a table write and from the source directly: the same rows.
    let check = |last: i64, windows: &[i64]| {
        let until = day(last);
        for window in windows {
            let join = |from: &str| {
                format!(
                    "SELECT COUNT(p.submission_date) AS n, SUM(p.v) AS s
                     FROM `{PROJECT}.mozanalysis.enrollments` e
                     LEFT JOIN (SELECT * FROM {from} WHERE submission_date < DATE '{until}') p
                        ON p.analysis_id = e.analysis_id
                        AND p.enrollment_date IS NOT DISTINCT FROM e.enrollment_date
                        AND p.submission_date BETWEEN '2026-01-08' AND '{until}'
                        AND p.submission_date BETWEEN e.enrollment_date
                            AND DATE_ADD(e.enrollment_date, INTERVAL {window} DAY)"
                )
            };
            wh.write_table(&name("joined"), &join(&parts), &meta("slug", 3))
                .expect("join");
            let from_table = wh
                .query_columns(&format!("SELECT * FROM `{PROJECT}.mozanalysis.joined`"))
                .expect("read");
            let from_scan = wh.query_columns(&join(&scan)).expect("direct");
            assert_eq!(
                from_table.get("n"),
                from_scan.get("n"),
                "days before {until}, window {window}"
            );
            assert!(
                matches!(from_scan.get("n"), Some(Column::Int(v)) if v[0].unwrap_or(0) > 0),
                "window {window}: the join matched nothing"
            );
        }
    };
    // A new table with the first nine days: day 0 of every client (the first daily window)
    // and its first week.
    let first: Vec<chrono::NaiveDate> = (0..9).map(day).collect();
    wh.replace_partitions(
        &name("parts"),
        "submission_date",
        &first,
        &format!(
            "SELECT * FROM {scan} WHERE submission_date < DATE '{}'",
            day(9)
        ),
        &["analysis_id"],
        &meta("slug", 2),
    )
    .expect("partitions");
    check(9, &[0, 6]);
    // The same process replaces two days (a lookback) and adds three.
    let next: Vec<chrono::NaiveDate> = (7..days).map(day).collect();
    wh.replace_partitions(
        &name("parts"),
        "submission_date",
        &next,
        &format!(
            "SELECT * FROM {scan} WHERE submission_date >= DATE '{}'",
            day(7)
        ),
        &["analysis_id"],
        &meta("slug", 2),
    )
    .expect("more partitions");
    check(days, &[0, 6, 11]);
}
