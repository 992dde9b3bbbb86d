//! The BigQuery warehouse against the bqemulator REST emulator (`BIGQUERY_EMULATOR_HOST`,
//! started by `cargo xtask test`): the warehouse conformance suite and what is BigQuery's own.

use std::sync::{Condvar, Mutex};

use jetstream_bigquery::{BigQueryConfig, BigQueryWarehouse, RetryPolicy};
use jetstream_warehouse::{
    Columns, LogRecord, QueryUsage, TableMetadata, TableName, Warehouse, WarehouseError,
};

/// The emulator's address; a missing emulator fails the test loudly (never skipped).
pub(crate) fn emulator() -> (String, String) {
    let host =
        jetstream_gcp::emulator_host(jetstream_gcp::BIGQUERY_EMULATOR_HOST).unwrap_or_else(|| {
            panic!(
                "BIGQUERY_EMULATOR_HOST is not set: run the tests with `cargo xtask test`, or \
                 start the emulators with `cargo xtask emulators` and export what it prints"
            )
        });
    let project = std::env::var("JETSTREAM_TEST_BIGQUERY_PROJECT")
        .unwrap_or_else(|_| "jetstream-test".into());
    (host, project)
}

/// A warehouse on the emulator with quick retries.
pub(crate) fn emulator_warehouse() -> BigQueryWarehouse {
    let (host, project) = emulator();
    let mut config = BigQueryConfig::new(&project);
    config.endpoint = Some(host);
    config.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: std::time::Duration::from_millis(50),
        max_backoff: std::time::Duration::from_millis(200),
        request_timeout: std::time::Duration::from_secs(60),
    };
    BigQueryWarehouse::with_config(config).expect("open the emulator warehouse")
}

/// The emulator has one project shared by every test: the conformance cases, which use fixed
/// dataset names, run one at a time on emptied datasets.
static BUSY: Mutex<bool> = Mutex::new(false);
static FREE: Condvar = Condvar::new();

/// Exclusive use of the emulator until dropped.
pub(crate) struct Lease;

impl Lease {
    pub(crate) fn take() -> Self {
        let mut busy = BUSY.lock().unwrap_or_else(|e| e.into_inner());
        while *busy {
            busy = FREE.wait(busy).unwrap_or_else(|e| e.into_inner());
        }
        *busy = true;
        Lease
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        *BUSY.lock().unwrap_or_else(|e| e.into_inner()) = false;
        FREE.notify_one();
    }
}

/// A warehouse holding the emulator lock, its datasets emptied first.
struct Exclusive {
    inner: BigQueryWarehouse,
    _lease: Lease,
}

fn exclusive() -> Box<dyn Warehouse> {
    let lease = Lease::take();
    let inner = emulator_warehouse();
    for dataset in [
        jetstream_warehouse::conformance::DATASET,
        "conformance_other",
        "monitoring",
    ] {
        for t in inner.list_tables(dataset, "").expect("list") {
            inner.delete_table(&t).expect("empty the dataset");
        }
    }
    Box::new(Exclusive {
        inner,
        _lease: lease,
    })
}

macro_rules! delegate {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
        $(fn $name(&self, $($arg: $ty),*) -> $ret { self.inner.$name($($arg),*) })*
    };
}

impl Warehouse for Exclusive {
    delegate! {
        execute(sql: &str) -> Result<(), WarehouseError>;
        write_table(name: &TableName, query: &str, metadata: &TableMetadata) -> Result<u64, WarehouseError>;
        write_columns(name: &TableName, columns: &Columns, metadata: &TableMetadata) -> Result<u64, WarehouseError>;
        replace_partitions(name: &TableName, date_column: &str, dates: &[chrono::NaiveDate], query: &str, cluster_by: &[&str], metadata: &TableMetadata) -> Result<u64, WarehouseError>;
        table_exists(name: &TableName) -> Result<bool, WarehouseError>;
        create_view(name: &TableName, query: &str) -> Result<(), WarehouseError>;
        publish_window_view(view: &TableName, table_prefix: &str) -> Result<usize, WarehouseError>;
        publish_joined_window_view(view: &TableName, sources: &[(String, Vec<String>)], keys: &[&str]) -> Result<usize, WarehouseError>;
        delete_table(name: &TableName) -> Result<(), WarehouseError>;
        list_tables(dataset: &str, prefix: &str) -> Result<Vec<TableName>, WarehouseError>;
        table_metadata(name: &TableName) -> Result<Option<TableMetadata>, WarehouseError>;
        touch_table(name: &TableName, when: chrono::DateTime<chrono::Utc>) -> Result<bool, WarehouseError>;
        dry_run(query: &str) -> Result<u64, WarehouseError>;
        query_columns(query: &str) -> Result<Columns, WarehouseError>;
        append_logs(table: &TableName, records: &[LogRecord]) -> Result<(), WarehouseError>;
    }
    fn project(&self) -> &str {
        self.inner.project()
    }
    fn usage(&self) -> QueryUsage {
        self.inner.usage()
    }
    fn table_reads(&self) -> jetstream_warehouse::TableReads {
        self.inner.table_reads()
    }
}

mod conformance {
    jetstream_warehouse::warehouse_conformance!(
        super::exclusive;
        #[ignore = "emulators: needs BIGQUERY_EMULATOR_HOST (cargo xtask test starts bqemulator)"]
    );
}

/// A query that does not bind comes back from the emulator as HTTP 200 with `errors`: it is
/// an error naming the query, and usage counts the jobs that ran.
#[test]
#[ignore = "emulators: needs BIGQUERY_EMULATOR_HOST (cargo xtask test starts bqemulator)"]
fn errors_in_a_200_answer_are_errors() {
    let wh = exclusive();
    let err = wh
        .query_columns("SELECT no_such_column FROM UNNEST([1]) AS x")
        .expect_err("binder error");
    let text = err.to_string();
    assert!(text.contains("no_such_column"), "{text}");
    assert!(
        text.contains("query: SELECT no_such_column"),
        "names the query: {text}"
    );
    let before = wh.usage();
    wh.query_columns("SELECT 1 AS x").expect("query");
    assert_eq!(wh.usage().since(&before).queries, 1, "one job counted");
}

/// Project aliases: `mozfun` routines and a source project read from the emulator's project.
#[test]
#[ignore = "emulators: needs BIGQUERY_EMULATOR_HOST (cargo xtask test starts bqemulator)"]
fn project_aliases_redirect_tables_and_routines() {
    let _lease = Lease::take();
    let (host, project) = emulator();
    let mut config = BigQueryConfig::new(&project);
    config.endpoint = Some(host);
    config.aliases = jetstream_sql::alias::ProjectAliases::new(vec![
        format!("mozfun={project}").parse().unwrap(),
        format!("moz-fx-data-shared-prod={project}")
            .parse()
            .unwrap(),
    ])
    .unwrap();
    let wh = BigQueryWarehouse::with_config(config).unwrap();
    let source = TableName::new("telemetry_alias", "events").unwrap();
    wh.write_table(
        &source,
        "SELECT 'a' AS client_id UNION ALL SELECT 'b'",
        &TableMetadata::now("source"),
    )
    .unwrap();
    wh.write_table(
        &TableName::new("map", "placeholder").unwrap(),
        "SELECT 1 AS x",
        &TableMetadata::now("source"),
    )
    .unwrap();
    // A typed stand-in for `mozfun.map.get_key` (its body is the emulator's DuckDB; only the
    // test setup writes it).
    wh.execute(&format!(
        "CREATE OR REPLACE FUNCTION `{project}.map.get_key`(m ARRAY<STRUCT<key STRING, value STRING>>, k STRING) \
         RETURNS STRING AS (MAP_EXTRACT_VALUE(MAP_FROM_ENTRIES(m), k))"
    ))
    .unwrap();
    let cols = wh
        .query_columns(
            "SELECT COUNT(*) AS n, mozfun.map.get_key([STRUCT('branch' AS key, 'control' AS value)], 'branch') AS b \
             FROM moz-fx-data-shared-prod.telemetry_alias.events",
        )
        .expect("aliased query");
    assert_eq!(cols.get("n").unwrap().display(0), "2");
    assert_eq!(cols.get("b").unwrap().display(0), "control");
}
