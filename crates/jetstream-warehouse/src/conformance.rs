//! The warehouse conformance suite: every behaviour the analysis run and the daily job rely
//! on, written once against [`Warehouse`] and run against every backend (in the spirit of
//! `object_store`'s integration suite).
//!
//! A backend's test binary runs it with [`warehouse_conformance!`](crate::warehouse_conformance),
//! given a function that returns a fresh, empty warehouse:
//!
//! ```ignore
//! jetstream_warehouse::warehouse_conformance!(|| {
//!     Box::new(jetstream_duckdb::DuckDbWarehouse::in_memory("moz-fx-data-experiments").unwrap())
//! });
//! ```
//!
//! Each case panics with a message naming what broke. Source data is written through the
//! trait itself ([`Warehouse::write_columns`]), so a case needs nothing but the warehouse.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use chrono::{NaiveDate, TimeZone as _, Utc};

use crate::{Column, Columns, LogRecord, SCHEMA_VERSION, TableMetadata, TableName, Warehouse};

/// The dataset every case works in.
pub const DATASET: &str = "conformance";

fn name(table: &str) -> TableName {
    TableName::new(DATASET, table).expect("table name")
}

fn meta(slug: &str, day: u32) -> TableMetadata {
    TableMetadata {
        description: slug.to_string(),
        last_updated: Utc.with_ymd_and_hms(2026, 11, day, 6, 0, 0).unwrap(),
        schema_version: SCHEMA_VERSION,
    }
}

/// `` `project.conformance.table` ``.
fn q(wh: &dyn Warehouse, table: &str) -> String {
    format!("`{}.{DATASET}.{table}`", wh.project())
}

/// A source table `numbers` with `i` = 0..n.
fn numbers(wh: &dyn Warehouse, n: i64) {
    let columns = Columns::from_pairs(vec![("i".into(), Column::Int((0..n).map(Some).collect()))])
        .expect("columns");
    wh.write_columns(&name("numbers"), &columns, &meta("source", 1))
        .expect("source table");
}

fn ints(wh: &dyn Warehouse, sql: &str, column: &str) -> Vec<Option<i64>> {
    match wh.query_columns(sql).expect(sql).get(column) {
        Some(Column::Int(v)) => v.clone(),
        other => panic!("{sql}: column {column} is not an integer column: {other:?}"),
    }
}

/// A table written from a query reads back with its rows, columns, values and metadata,
/// under its two-part and three-part names.
pub fn write_read_and_metadata(wh: &dyn Warehouse) {
    numbers(wh, 10);
    let t = name("statistics_my_slug_week_1");
    let n = wh
        .write_table(
            &t,
            &format!(
                "SELECT i, IF(MOD(i, 2) = 0, 'control', 'treatment') AS branch, \
                 SAFE_DIVIDE(i, 2) AS half FROM {} ",
                q(wh, "numbers")
            ),
            &meta("my-slug", 20),
        )
        .expect("write_table");
    assert_eq!(n, 10, "rows written");
    assert!(wh.table_exists(&t).expect("table_exists"));
    assert_eq!(
        wh.table_metadata(&t).expect("table_metadata"),
        Some(meta("my-slug", 20)),
        "metadata: description = slug, last_updated and schema_version labels"
    );
    let cols = wh
        .query_columns(&format!(
            "SELECT * FROM {} ORDER BY i",
            q(wh, "statistics_my_slug_week_1")
        ))
        .expect("read back");
    assert_eq!(cols.names(), ["i", "branch", "half"], "column order");
    assert_eq!(cols.rows(), 10);
    assert_eq!(
        cols.get("half").and_then(Column::to_f64).unwrap()[3],
        Some(1.5)
    );
    assert_eq!(
        cols.get("branch").and_then(Column::as_text).unwrap()[1].as_deref(),
        Some("treatment")
    );
    let two_part = ints(
        wh,
        &format!("SELECT COUNT(*) AS n FROM {DATASET}.statistics_my_slug_week_1"),
        "n",
    );
    assert_eq!(two_part, vec![Some(10)], "dataset.table names resolve");
}

/// A replacement that fails while its rows are produced leaves the previous table and its
/// metadata as they were, and the warehouse usable.
pub fn atomic_replace_on_runtime_failure(wh: &dyn Warehouse) {
    numbers(wh, 10_000);
    let t = name("statistics_slug_day_3");
    let src = q(wh, "numbers");
    wh.write_table(
        &t,
        &format!("SELECT i FROM {src} WHERE i < 100"),
        &meta("slug", 1),
    )
    .expect("first write");
    let err = wh
        .write_table(
            &t,
            &format!("SELECT IF(i = 9000, ERROR('injected failure'), i) AS i FROM {src}"),
            &meta("slug", 2),
        )
        .expect_err("the query fails at row 9000");
    let message = err.to_string();
    assert!(
        message.contains("statistics_slug_day_3"),
        "the error names the table: {message}"
    );
    assert!(
        message.contains("injected failure"),
        "the error carries the cause: {message}"
    );
    let sql = format!(
        "SELECT COUNT(*) AS n, MAX(i) AS top FROM {}",
        q(wh, "statistics_slug_day_3")
    );
    assert_eq!(ints(wh, &sql, "n"), vec![Some(100)], "previous rows kept");
    assert_eq!(ints(wh, &sql, "top"), vec![Some(99)]);
    assert_eq!(
        wh.table_metadata(&t).unwrap(),
        Some(meta("slug", 1)),
        "previous metadata kept"
    );
    let n = wh
        .write_table(&t, &format!("SELECT i FROM {src}"), &meta("slug", 3))
        .expect("usable afterwards");
    assert_eq!(n, 10_000);
    assert_eq!(
        wh.table_metadata(&t).unwrap(),
        Some(meta("slug", 3)),
        "metadata replaced"
    );
}

/// A query that does not bind fails with its cause and leaves the table untouched.
pub fn atomic_replace_on_invalid_query(wh: &dyn Warehouse) {
    numbers(wh, 5);
    let t = name("enrollments_slug");
    wh.write_table(
        &t,
        &format!("SELECT i FROM {}", q(wh, "numbers")),
        &meta("slug", 1),
    )
    .expect("write");
    let err = wh
        .write_table(
            &t,
            &format!("SELECT no_such_column FROM {}", q(wh, "numbers")),
            &meta("slug", 2),
        )
        .expect_err("binder error");
    assert!(err.to_string().contains("no_such_column"), "{err}");
    assert_eq!(wh.table_metadata(&t).unwrap(), Some(meta("slug", 1)));
    assert_eq!(
        ints(
            wh,
            &format!("SELECT COUNT(*) AS n FROM {}", q(wh, "enrollments_slug")),
            "n"
        ),
        vec![Some(5)]
    );
}

/// Columns computed outside the warehouse are written with their types and NULLs, read back
/// equal, and replace the table (schema included) on the next write.
pub fn write_columns_round_trip(wh: &dyn Warehouse) {
    let t = name("statistics_slug_week_1");
    let day = NaiveDate::from_ymd_opt(2026, 11, 1);
    let columns = Columns::from_pairs(vec![
        (
            "metric".into(),
            Column::Text(vec![
                Some("active_hours".into()),
                Some("it's \"quoted\" `x`".into()),
                None,
            ]),
        ),
        (
            "point".into(),
            Column::Float(vec![Some(1.25), None, Some(-0.5)]),
        ),
        (
            "window_index".into(),
            Column::Int(vec![Some(1), Some(1), None]),
        ),
        (
            "is_ok".into(),
            Column::Bool(vec![Some(true), None, Some(false)]),
        ),
        ("day".into(), Column::Date(vec![day, None, day])),
    ])
    .expect("columns");
    assert_eq!(
        wh.write_columns(&t, &columns, &meta("slug", 1))
            .expect("write_columns"),
        3
    );
    let back = wh
        .query_columns(&format!(
            "SELECT * FROM {}",
            q(wh, "statistics_slug_week_1")
        ))
        .expect("read");
    assert_eq!(back, columns, "types, values and NULLs round-trip");
    assert_eq!(wh.table_metadata(&t).unwrap(), Some(meta("slug", 1)));
    let smaller = Columns::from_pairs(vec![(
        "metric".into(),
        Column::Text(vec![Some("x".into())]),
    )])
    .unwrap();
    assert_eq!(
        wh.write_columns(&t, &smaller, &meta("slug", 2))
            .expect("replace"),
        1
    );
    let back = wh
        .query_columns(&format!(
            "SELECT * FROM {}",
            q(wh, "statistics_slug_week_1")
        ))
        .expect("read");
    assert_eq!(back, smaller, "the replacement has the new schema");
}

/// `create_table_if_absent` creates a table once and never rewrites it.
pub fn create_if_absent(wh: &dyn Warehouse) {
    numbers(wh, 10);
    let t = name("enrollments_slug");
    let src = q(wh, "numbers");
    assert!(
        wh.create_table_if_absent(
            &t,
            &format!("SELECT i FROM {src} WHERE i < 5"),
            &meta("slug", 1)
        )
        .expect("create")
    );
    assert!(
        !wh.create_table_if_absent(&t, &format!("SELECT i FROM {src}"), &meta("slug", 2))
            .expect("kept"),
        "an existing table is kept"
    );
    assert_eq!(
        ints(
            wh,
            &format!("SELECT COUNT(*) AS n FROM {}", q(wh, "enrollments_slug")),
            "n"
        ),
        vec![Some(5)]
    );
    assert_eq!(wh.table_metadata(&t).unwrap(), Some(meta("slug", 1)));
}

/// Views are created, replaced and deleted; deleting twice is fine and drops the metadata.
pub fn views_and_delete(wh: &dyn Warehouse) {
    numbers(wh, 3);
    let t = name("statistics_slug_week_1");
    let v = name("statistics_slug_weekly");
    wh.write_table(
        &t,
        &format!("SELECT i FROM {}", q(wh, "numbers")),
        &meta("slug", 1),
    )
    .expect("write");
    wh.create_view(
        &v,
        &format!("SELECT * FROM {}", q(wh, "statistics_slug_week_1")),
    )
    .expect("view");
    assert!(
        wh.table_exists(&v).unwrap(),
        "a view exists as a table name"
    );
    wh.create_view(
        &v,
        &format!(
            "SELECT i FROM {} WHERE i > 0",
            q(wh, "statistics_slug_week_1")
        ),
    )
    .expect("replace view");
    assert_eq!(
        ints(
            wh,
            &format!(
                "SELECT COUNT(*) AS n FROM {}",
                q(wh, "statistics_slug_weekly")
            ),
            "n"
        ),
        vec![Some(2)]
    );
    wh.delete_table(&v).expect("drop view");
    wh.delete_table(&t).expect("drop table");
    wh.delete_table(&t).expect("dropping twice is fine");
    assert!(!wh.table_exists(&t).unwrap());
    assert!(!wh.table_exists(&v).unwrap());
    assert_eq!(
        wh.table_metadata(&t).unwrap(),
        None,
        "metadata goes with the table"
    );
}

/// The window view covers every `<prefix>_<n>` table with `n` as `window_index`, and nothing
/// that only looks alike; without window tables no view is published.
pub fn window_views(wh: &dyn Warehouse) {
    numbers(wh, 10);
    let src = q(wh, "numbers");
    for (window, rows) in [(1, 2), (2, 3), (10, 1)] {
        wh.write_table(
            &name(&format!("statistics_slug_week_{window}")),
            &format!("SELECT i, 'control' AS branch FROM {src} WHERE i < {rows}"),
            &meta("slug", 1),
        )
        .expect("window table");
    }
    for other in [
        "statistics_slug_week_1_backup",
        "statistics_slug_preenrollment_week_1",
    ] {
        wh.write_table(
            &name(other),
            "SELECT 1 AS i, 'x' AS branch",
            &meta("slug", 1),
        )
        .expect("look-alike");
    }
    let view = name("statistics_slug_weekly");
    assert_eq!(
        wh.publish_window_view(&view, "statistics_slug_week")
            .expect("view"),
        3
    );
    let sql = format!(
        "SELECT window_index, COUNT(*) AS n FROM {} GROUP BY window_index ORDER BY window_index",
        q(wh, "statistics_slug_weekly")
    );
    assert_eq!(
        ints(wh, &sql, "window_index"),
        vec![Some(1), Some(2), Some(10)]
    );
    assert_eq!(ints(wh, &sql, "n"), vec![Some(2), Some(3), Some(1)]);
    let none = name("statistics_other_weekly");
    assert_eq!(
        wh.publish_window_view(&none, "statistics_other_week")
            .expect("nothing"),
        0
    );
    assert!(
        !wh.table_exists(&none).unwrap(),
        "no view without window tables"
    );
}

/// The discrete metrics view joins the window tables of each data source on the keys and
/// `window_index`; sources without tables are left out.
pub fn joined_window_views(wh: &dyn Warehouse) {
    let keys = ["analysis_id", "branch"];
    let table = |ds: &str, window: i64, metric: &str, with_exposures: bool| {
        let mut pairs = vec![
            (
                "analysis_id".to_string(),
                Column::Text(vec![Some("a".into()), Some("b".into())]),
            ),
            (
                "branch".to_string(),
                Column::Text(vec![Some("control".into()), Some("treatment".into())]),
            ),
        ];
        if with_exposures {
            pairs.push((
                "exposure_date".into(),
                Column::Date(vec![NaiveDate::from_ymd_opt(2026, 1, 2), None]),
            ));
            pairs.push((
                "num_exposure_events".into(),
                Column::Int(vec![Some(1), None]),
            ));
        }
        pairs.push((
            metric.to_string(),
            Column::Float(vec![Some(window as f64), None]),
        ));
        let columns = Columns::from_pairs(pairs).unwrap();
        wh.write_columns(
            &name(&format!("slug_enrollments_{ds}_week_{window}")),
            &columns,
            &meta("slug", 1),
        )
        .expect("metrics table");
    };
    for w in [1, 2] {
        table("clients_daily", w, "active_hours", true);
        table("events", w, "clicks", true);
    }
    let view = name("slug_enrollments_weekly");
    let sources = vec![
        (
            "slug_enrollments_clients_daily_week".to_string(),
            vec!["active_hours".to_string()],
        ),
        (
            "slug_enrollments_events_week".to_string(),
            vec!["clicks".to_string()],
        ),
        (
            "slug_enrollments_missing_week".to_string(),
            vec!["nothing".to_string()],
        ),
    ];
    assert_eq!(
        wh.publish_joined_window_view(&view, &sources, &keys)
            .expect("joined view"),
        2
    );
    let cols = wh
        .query_columns(&format!(
            "SELECT analysis_id, window_index, active_hours, clicks, num_exposure_events FROM {} \
             ORDER BY window_index, analysis_id",
            q(wh, "slug_enrollments_weekly")
        ))
        .expect("read joined view");
    assert_eq!(cols.rows(), 4, "one row per client and window");
    assert_eq!(
        cols.get("window_index"),
        Some(&Column::Int(vec![Some(1), Some(1), Some(2), Some(2)]))
    );
    assert_eq!(
        cols.get("clicks").and_then(Column::to_f64).unwrap(),
        vec![Some(1.0), None, Some(2.0), None]
    );
    assert_eq!(
        cols.get("num_exposure_events"),
        Some(&Column::Int(vec![Some(1), None, Some(1), None]))
    );
}

/// Listing by prefix returns the tables and views of that dataset only, sorted.
pub fn listing(wh: &dyn Warehouse) {
    for t in [
        "b_slug_week_1",
        "a_slug_week_1",
        "a_slug_week_2",
        "other_week_1",
    ] {
        wh.write_table(&name(t), "SELECT 1 AS x", &meta("slug", 1))
            .expect("write");
    }
    wh.create_view(
        &name("a_slug_weekly"),
        &format!("SELECT * FROM {}", q(wh, "a_slug_week_1")),
    )
    .expect("view");
    let elsewhere = TableName::new("conformance_other", "a_slug_week_3").unwrap();
    wh.write_table(&elsewhere, "SELECT 1 AS x", &meta("slug", 1))
        .expect("other dataset");
    let listed: Vec<String> = wh
        .list_tables(DATASET, "a_slug")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .collect();
    assert_eq!(listed, ["a_slug_week_1", "a_slug_week_2", "a_slug_weekly"]);
    let all = wh.list_tables(DATASET, "").expect("list all");
    assert_eq!(all.len(), 5, "every table and view of the dataset: {all:?}");
}

/// Touching a table moves its `last_updated` and nothing else; a missing table is reported.
pub fn touch_keeps_rows(wh: &dyn Warehouse) {
    numbers(wh, 3);
    let when = Utc.with_ymd_and_hms(2026, 11, 20, 12, 30, 0).unwrap();
    assert!(wh.touch_table(&name("numbers"), when).expect("touch"));
    let m = wh
        .table_metadata(&name("numbers"))
        .expect("metadata")
        .expect("present");
    assert_eq!(m.last_updated, when);
    assert_eq!(m.description, "source");
    assert_eq!(m.schema_version, SCHEMA_VERSION);
    assert_eq!(
        ints(
            wh,
            &format!("SELECT i FROM {} ORDER BY i", q(wh, "numbers")),
            "i"
        )
        .len(),
        3
    );
    assert!(
        !wh.touch_table(&name("absent"), when).expect("touch absent"),
        "no table, nothing touched"
    );
}

/// A dry run plans a valid query (no table is written), and rejects one over a missing column
/// with a message naming it.
pub fn dry_runs_plan_without_running(wh: &dyn Warehouse) {
    numbers(wh, 100);
    let before = wh.list_tables(DATASET, "").expect("list").len();
    let bytes = wh
        .dry_run(&format!(
            "SELECT SUM(i) AS s FROM {} WHERE i > 3",
            q(wh, "numbers")
        ))
        .expect("valid query");
    assert!(bytes < 1 << 40, "a plausible estimate: {bytes}");
    assert_eq!(wh.list_tables(DATASET, "").expect("list").len(), before);
    let err = wh
        .dry_run(&format!(
            "SELECT SUM(no_such_column) AS s FROM {}",
            q(wh, "numbers")
        ))
        .expect_err("missing column");
    assert!(
        err.to_string().contains("no_such_column"),
        "the message names the column: {err}"
    );
}

/// Log rows are appended (the table is created on first use) and read back in full.
pub fn append_logs(wh: &dyn Warehouse) {
    let logs = TableName::new("monitoring", "logs").unwrap();
    let at = |s: u32| {
        NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_opt(6, 0, s)
            .unwrap()
    };
    let record = |s: u32, metric: Option<&str>| LogRecord {
        timestamp: at(s),
        source: "jetstream".into(),
        experiment: Some("my-slug".into()),
        metric: metric.map(Into::into),
        statistic: None,
        analysis_basis: Some("enrollments".into()),
        segment: None,
        analysis_period: Some("week_1".into()),
        message: "it's \"broken\"\nsecond line".into(),
        log_level: "ERROR".into(),
        exception: "None".into(),
        filename: "run".into(),
        func_name: "calculate".into(),
        exception_type: Some("QueryError".into()),
    };
    wh.append_logs(&logs, &[record(1, Some("a")), record(2, None)])
        .expect("first append");
    wh.append_logs(&logs, &[record(3, Some("c"))])
        .expect("second append");
    wh.append_logs(&logs, &[]).expect("nothing to append");
    let cols = wh
        .query_columns(&format!(
            "SELECT * FROM `{}.monitoring.logs` ORDER BY timestamp",
            wh.project()
        ))
        .expect("read logs");
    assert_eq!(
        cols.names(),
        crate::LOG_COLUMNS,
        "the monitoring schema, in order"
    );
    assert_eq!(cols.rows(), 3);
    assert_eq!(
        cols.get("metric").and_then(Column::as_text).unwrap(),
        [Some("a".to_string()), None, Some("c".to_string())]
    );
    assert_eq!(
        cols.get("message").and_then(Column::as_text).unwrap()[0].as_deref(),
        Some("it's \"broken\"\nsecond line")
    );
    assert_eq!(
        cols.get("timestamp"),
        Some(&Column::Timestamp(vec![
            Some(at(1)),
            Some(at(2)),
            Some(at(3))
        ]))
    );
}

/// Query results come back typed (integers, floats, text, booleans, dates, timestamps), with
/// NULLs as `None`, also in columns holding only NULLs.
pub fn typed_reads_and_nulls(wh: &dyn Warehouse) {
    let cols = wh
        .query_columns(
            "SELECT 1 AS i, 2.5 AS f, 'x' AS s, TRUE AS b, DATE '2026-11-30' AS d, \
             TIMESTAMP '2026-11-30 06:00:01' AS ts, CAST(NULL AS INT64) AS ni, \
             CAST(NULL AS STRING) AS ns \
             UNION ALL \
             SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL",
        )
        .expect("typed query");
    let d = NaiveDate::from_ymd_opt(2026, 11, 30);
    let first_then_null = |c: &str| cols.get(c).unwrap_or_else(|| panic!("column {c}"));
    assert_eq!(first_then_null("i"), &Column::Int(vec![Some(1), None]));
    assert_eq!(first_then_null("f"), &Column::Float(vec![Some(2.5), None]));
    assert_eq!(
        first_then_null("s"),
        &Column::Text(vec![Some("x".into()), None])
    );
    assert_eq!(first_then_null("b"), &Column::Bool(vec![Some(true), None]));
    assert_eq!(first_then_null("d"), &Column::Date(vec![d, None]));
    assert_eq!(
        first_then_null("ts"),
        &Column::Timestamp(vec![d.and_then(|d| d.and_hms_opt(6, 0, 1)), None])
    );
    assert_eq!(first_then_null("ni"), &Column::Int(vec![None, None]));
    assert_eq!(first_then_null("ns"), &Column::Text(vec![None, None]));
    let empty = wh
        .query_columns("SELECT 1 AS i FROM (SELECT 1 AS x) AS t WHERE x = 0")
        .expect("empty result");
    assert_eq!(empty.rows(), 0);
}

/// `replace_partitions` creates a table from its query, then replaces the rows of the given
/// dates only: other dates are kept, replacing twice is the same as once, and the new rows are
/// seen at once by a join on the table's keys and dates (as the windows read daily partials).
pub fn replace_partitions_by_date(wh: &dyn Warehouse) {
    numbers(wh, 300);
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 1, d).unwrap();
    let days = |ds: &[u32]| ds.iter().map(|d| day(*d)).collect::<Vec<_>>();
    // Client i % 30 on day 1 + i % 10, value `scale`, once per (client, day).
    let rows = |scale: i64, only: Option<u32>| {
        let filter = only.map_or(String::new(), |d| format!(" WHERE 1 + MOD(i, 10) = {d}"));
        format!(
            "SELECT DISTINCT CAST(MOD(i, 30) AS STRING) AS analysis_id, \
             DATE_ADD(DATE '2026-01-01', INTERVAL MOD(i, 10) DAY) AS submission_date, \
             {scale} AS v FROM {}{filter}",
            q(wh, "numbers")
        )
    };
    let table = name("parts");
    let n = wh
        .replace_partitions(
            &table,
            "submission_date",
            &days(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            &rows(1, None),
            &["analysis_id"],
            &meta("parts", 1),
        )
        .expect("create from the query");
    assert_eq!(n, 30, "rows written");
    let joined = format!(
        "SELECT COUNT(p.v) AS n, CAST(SUM(p.v) AS INT64) AS s \
         FROM (SELECT DISTINCT analysis_id FROM {t}) e \
         LEFT JOIN {t} p ON p.analysis_id = e.analysis_id \
         AND p.submission_date BETWEEN DATE '2026-01-01' AND DATE '2026-01-10'",
        t = q(wh, "parts")
    );
    assert_eq!(ints(wh, &joined, "n"), vec![Some(30)], "joined at once");
    for _ in 0..2 {
        let n = wh
            .replace_partitions(
                &table,
                "submission_date",
                &days(&[3]),
                &rows(5, Some(3)),
                &["analysis_id"],
                &meta("parts", 2),
            )
            .expect("replace a date");
        assert_eq!(n, 3, "rows of the replaced date");
        assert_eq!(
            ints(wh, &joined, "n"),
            vec![Some(30)],
            "rows after replacing"
        );
        assert_eq!(
            ints(wh, &joined, "s"),
            vec![Some(27 + 15)],
            "other dates kept, the date replaced (twice the same as once)"
        );
    }
    assert_eq!(
        wh.table_metadata(&table).expect("metadata"),
        Some(meta("parts", 2))
    );
}

/// Runs every case of the suite as its own test, each on a fresh warehouse from `$make`
/// (an expression callable as `$make()` returning a `Box<dyn Warehouse>`). Attributes after
/// `$make;` go on every case: a backend that needs a service puts its test tier there
/// (`#[ignore = "emulators: …"]`).
#[macro_export]
macro_rules! warehouse_conformance {
    (@case [$($attr:tt)*] $make:expr; $case:ident) => {
        #[test]
        $($attr)*
        fn $case() {
            let made = ($make)();
            $crate::conformance::$case($crate::conformance::Made::warehouse(&made));
        }
    };
    (@cases $attrs:tt $make:expr; $($case:ident),*) => {
        $( $crate::warehouse_conformance!(@case $attrs $make; $case); )*
    };
    ($make:expr $(; $(#[$attr:meta])*)?) => {
        $crate::warehouse_conformance!(@cases [$($(#[$attr])*)?] $make;
            write_read_and_metadata, atomic_replace_on_runtime_failure,
            atomic_replace_on_invalid_query, write_columns_round_trip, create_if_absent,
            views_and_delete, window_views, joined_window_views, listing, append_logs,
            typed_reads_and_nulls, touch_keeps_rows, dry_runs_plan_without_running,
            replace_partitions_by_date);
    };
}

/// What the `$make` of [`warehouse_conformance!`] returns: a `Box<dyn Warehouse>`, or a pair
/// of one and what must outlive it (a scratch folder holding its database file), dropped after
/// it.
pub trait Made {
    /// The warehouse under test.
    fn warehouse(&self) -> &dyn Warehouse;
}

impl Made for Box<dyn Warehouse> {
    fn warehouse(&self) -> &dyn Warehouse {
        self.as_ref()
    }
}

impl<G> Made for (Box<dyn Warehouse>, G) {
    fn warehouse(&self) -> &dyn Warehouse {
        self.0.as_ref()
    }
}

/// A warehouse around another that records the tables written and can refuse log rows: the
/// tests of the layers above see what they ask of a warehouse, and what they do when the
/// monitoring table cannot be written.
pub struct Spy<'a> {
    /// The real warehouse.
    pub inner: &'a dyn Warehouse,
    /// Tables written (`write_table`, `write_columns`), in order.
    pub written: std::sync::Mutex<Vec<String>>,
    /// Fail every `append_logs`.
    pub refuse_logs: bool,
    /// Fail every `write_table` and `query_columns` whose SQL contains this text (a broken
    /// query, injected).
    pub refuse_sql_containing: Option<String>,
    /// The SQL of every `query_columns`, in order.
    pub reads: std::sync::Mutex<Vec<String>>,
}

impl<'a> Spy<'a> {
    /// A spy that lets everything through.
    pub fn new(inner: &'a dyn Warehouse) -> Self {
        Self {
            inner,
            written: std::sync::Mutex::new(Vec::new()),
            refuse_logs: false,
            refuse_sql_containing: None,
            reads: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The SQL of the reads (`query_columns`) so far.
    pub fn reads(&self) -> Vec<String> {
        self.reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The injected failure of a query containing [`Spy::refuse_sql_containing`].
    fn refuse(&self, sql: &str) -> Result<(), crate::WarehouseError> {
        match &self.refuse_sql_containing {
            Some(needle) if sql.contains(needle.as_str()) => Err(crate::WarehouseError::new(
                crate::WarehouseErrorKind::Query,
                "spy",
                format!("injected failure: the query contains {needle:?}"),
            )),
            _ => Ok(()),
        }
    }

    /// The tables written so far.
    pub fn written(&self) -> Vec<String> {
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn record(&self, name: &TableName) {
        self.written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(name.table.clone());
    }
}

impl Warehouse for Spy<'_> {
    fn execute(&self, sql: &str) -> Result<(), crate::WarehouseError> {
        self.inner.execute(sql)
    }
    fn write_table(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, crate::WarehouseError> {
        self.refuse(query)?;
        self.record(name);
        self.inner.write_table(name, query, metadata)
    }
    fn write_columns(
        &self,
        name: &TableName,
        columns: &Columns,
        metadata: &TableMetadata,
    ) -> Result<u64, crate::WarehouseError> {
        self.record(name);
        self.inner.write_columns(name, columns, metadata)
    }
    fn replace_partitions(
        &self,
        name: &TableName,
        date_column: &str,
        dates: &[NaiveDate],
        query: &str,
        cluster_by: &[&str],
        metadata: &TableMetadata,
    ) -> Result<u64, crate::WarehouseError> {
        self.refuse(query)?;
        self.record(name);
        self.inner
            .replace_partitions(name, date_column, dates, query, cluster_by, metadata)
    }
    fn table_exists(&self, name: &TableName) -> Result<bool, crate::WarehouseError> {
        self.inner.table_exists(name)
    }
    fn create_view(&self, name: &TableName, query: &str) -> Result<(), crate::WarehouseError> {
        self.inner.create_view(name, query)
    }
    fn publish_window_view(
        &self,
        view: &TableName,
        table_prefix: &str,
    ) -> Result<usize, crate::WarehouseError> {
        self.inner.publish_window_view(view, table_prefix)
    }
    fn publish_joined_window_view(
        &self,
        view: &TableName,
        sources: &[(String, Vec<String>)],
        keys: &[&str],
    ) -> Result<usize, crate::WarehouseError> {
        self.inner.publish_joined_window_view(view, sources, keys)
    }
    fn project(&self) -> &str {
        self.inner.project()
    }
    fn delete_table(&self, name: &TableName) -> Result<(), crate::WarehouseError> {
        self.inner.delete_table(name)
    }
    fn list_tables(
        &self,
        dataset: &str,
        prefix: &str,
    ) -> Result<Vec<TableName>, crate::WarehouseError> {
        self.inner.list_tables(dataset, prefix)
    }
    fn table_metadata(
        &self,
        name: &TableName,
    ) -> Result<Option<TableMetadata>, crate::WarehouseError> {
        self.inner.table_metadata(name)
    }
    fn touch_table(
        &self,
        name: &TableName,
        when: chrono::DateTime<Utc>,
    ) -> Result<bool, crate::WarehouseError> {
        self.inner.touch_table(name, when)
    }
    fn dry_run(&self, query: &str) -> Result<u64, crate::WarehouseError> {
        self.inner.dry_run(query)
    }
    fn query_columns(&self, query: &str) -> Result<Columns, crate::WarehouseError> {
        self.reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(query.to_string());
        self.refuse(query)?;
        self.inner.query_columns(query)
    }
    fn append_logs(
        &self,
        table: &TableName,
        records: &[LogRecord],
    ) -> Result<(), crate::WarehouseError> {
        if self.refuse_logs {
            return Err(crate::WarehouseError::new(
                crate::WarehouseErrorKind::Query,
                table.to_string(),
                "the monitoring table refuses writes (test)",
            ));
        }
        self.inner.append_logs(table, records)
    }
    fn usage(&self) -> crate::QueryUsage {
        self.inner.usage()
    }
    fn table_reads(&self) -> crate::TableReads {
        self.inner.table_reads()
    }
}
