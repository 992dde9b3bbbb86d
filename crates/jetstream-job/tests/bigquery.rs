//! The same daily job on BigQuery (the bqemulator REST emulator) and GCS (fake-gcs-server),
//! started by `cargo xtask test`, against the embedded DuckDB run on the same rows: equal
//! statistics, valid exports, a rerun that deletes exactly the experiment's tables.

use std::time::Instant;

use jetstream_bigquery::{BigQueryConfig, BigQueryWarehouse};
use jetstream_gcs::GcsBucket;
use jetstream_job::{
    Column, Columns, Job, JobOptions, LocalFolder, OutputSink as _, Quiet, TableName,
    Warehouse as _,
};
use serde_json::Value;

use crate::job::{d, hub, scratch, simulated};

const DATASET: &str = "mozanalysis";

fn emulators() -> (String, String, String) {
    let bigquery = jetstream_test_support::required_env("BIGQUERY_EMULATOR_HOST");
    let storage = jetstream_test_support::required_env("STORAGE_EMULATOR_HOST");
    let project = std::env::var("JETSTREAM_TEST_BIGQUERY_PROJECT")
        .unwrap_or_else(|_| "jetstream-test".into());
    (bigquery, storage, project)
}

/// Rows of a statistics table in a fixed order.
fn rows(wh: &dyn jetstream_job::Warehouse, table: &str) -> Columns {
    wh.query_columns(&format!(
        "SELECT * FROM `{DATASET}.{table}` ORDER BY {}",
        [
            "metric",
            "statistic",
            "branch",
            "parameter",
            "comparison",
            "comparison_to_branch",
            "ci_width",
            "segment",
            "analysis_basis",
        ]
        .map(|c| format!("{c} NULLS FIRST"))
        .join(", ")
    ))
    .unwrap_or_else(|e| panic!("{table}: {e}"))
}

/// Columns equal, floats within 1e-9 relative (the two engines may sum in another order).
fn assert_same(table: &str, duck: &Columns, bq: &Columns) -> usize {
    assert_eq!(duck.names(), bq.names(), "{table}: columns");
    assert_eq!(duck.rows(), bq.rows(), "{table}: rows");
    let mut exact = 0;
    for (name, (a, b)) in duck
        .names()
        .iter()
        .zip(duck.columns().iter().zip(bq.columns()))
    {
        match (a, b) {
            (Column::Float(x), Column::Float(y)) => {
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    match (x, y) {
                        (Some(x), Some(y)) => {
                            let tolerance = 1e-9 * x.abs().max(y.abs()).max(1e-12);
                            assert!(
                                (x - y).abs() <= tolerance,
                                "{table}.{name} row {i}: DuckDB {x} BigQuery {y}"
                            );
                            exact += usize::from(x.to_bits() == y.to_bits());
                        }
                        (x, y) => assert_eq!(x, y, "{table}.{name} row {i}"),
                    }
                }
            }
            _ => assert_eq!(a, b, "{table}.{name}"),
        }
    }
    exact
}

#[test]
#[ignore = "emulators: needs BIGQUERY_EMULATOR_HOST and STORAGE_EMULATOR_HOST (cargo xtask test)"]
#[allow(clippy::print_stderr)]
fn the_daily_job_on_bigquery_and_gcs_equals_the_duckdb_run() {
    let (bigquery, _storage, project) = emulators();
    let dir = scratch("bigquery");
    let (duck, parsed) = simulated(&dir, |_, t| t);
    let configs = hub(&dir);
    // Every date of the simulation: daily, weekly and overall windows as they become ready.
    let dates: Vec<_> = (1..=28)
        .map(|day| d(&format!("2026-01-{day:02}")))
        .collect();
    let slugs = [jetstream_simulate::EXPERIMENT_A.to_string()];

    // The embedded run.
    let local = LocalFolder::new(dir.join("duckdb-out"));
    let started = Instant::now();
    let job = Job::new(&duck, configs.clone(), JobOptions::default())
        .expect("job")
        .with_sink(&local);
    for date in &dates {
        let report = job.run_daily(&parsed, *date, &slugs, &Quiet);
        assert!(report.success(), "DuckDB run on {date}: {report:?}");
    }
    let duck_time = started.elapsed();

    // The same telemetry rows in the emulator (schemas detected from the JSON rows).
    let mut config = BigQueryConfig::new(&project);
    config.endpoint = Some(bigquery);
    config.aliases = jetstream_job::ProjectAliases::new(
        ["moz-fx-data-shared-prod", "mozdata", "mozfun"]
            .iter()
            .map(|from| format!("{from}={project}").parse().expect("alias"))
            .collect(),
    )
    .expect("aliases");
    let bq = BigQueryWarehouse::with_config(config).expect("emulator");
    for dataset in [
        "telemetry",
        "search",
        "fenix",
        "org_mozilla_firefox",
        DATASET,
        "monitoring",
    ] {
        for t in bq.list_tables(dataset, "").expect("list") {
            bq.delete_table(&t).expect("clean");
        }
    }
    for (dataset, table) in jetstream_simulate::TABLES {
        let file = dir.join(format!("{dataset}.{table}.json"));
        duck.execute_native(&format!(
            "COPY \"{}\".{dataset}.{table} TO '{}' (FORMAT JSON)",
            jetstream_simulate::PROJECT,
            file.display()
        ))
        .expect("export rows");
        let rows = std::fs::read(&file).expect("rows");
        bq.load_json(&TableName::new(dataset, table).unwrap(), rows, None)
            .unwrap_or_else(|e| panic!("{dataset}.{table}: {e}"));
    }
    // A typed stand-in for `mozfun.map.get_key` (bqemulator has no `mozfun`; its body is the
    // emulator's DuckDB — only this test setup writes it).
    bq.write_table(
        &TableName::new("map", "placeholder").unwrap(),
        "SELECT 1 AS x",
        &jetstream_warehouse::TableMetadata::now("setup"),
    )
    .expect("dataset map");
    bq.execute(&format!(
        "CREATE OR REPLACE FUNCTION `{project}.map.get_key`(m ARRAY<STRUCT<key STRING, value STRING>>, k STRING) \
         RETURNS STRING AS (MAP_EXTRACT_VALUE(MAP_FROM_ENTRIES(m), k))"
    ))
    .expect("udf");

    // The cloud run: same job, BigQuery warehouse, GCS bucket.
    let bucket_name = format!("jetstreame2e{}", std::process::id());
    let bucket = GcsBucket::from_env(&bucket_name).expect("bucket");
    bucket.create_bucket(&project).expect("create bucket");
    let started = Instant::now();
    let job = Job::new(&bq, configs.clone(), JobOptions::default())
        .expect("job")
        .with_sink(&bucket);
    let mut analyses = 0;
    let mut usage = jetstream_job::QueryUsage::default();
    for date in &dates {
        let report = job.run_daily(&parsed, *date, &slugs, &Quiet);
        assert!(report.success(), "BigQuery run on {date}: {report:?}");
        analyses += report.analyses;
        if let Some(u) = report.usage.get(jetstream_simulate::EXPERIMENT_A) {
            usage.queries += u.queries;
        }
    }
    let bq_time = started.elapsed();
    assert!(analyses > 1, "analyses: {analyses}");
    // The windows came from daily partials on BigQuery too (a partitioned, clustered table
    // per data source), not from a fallback to window queries; the DuckDB run's are proven
    // equal to a full scan in jetstream-analysis's tests/partials.rs.
    let partials = bq
        .list_tables(
            DATASET,
            &format!(
                "{}_partials_",
                jetstream_simulate::EXPERIMENT_A.replace('-', "_")
            ),
        )
        .expect("list");
    assert!(!partials.is_empty(), "no partials table on BigQuery");
    let logs = TableName::new("monitoring", "logs").unwrap();
    let fallbacks = if bq.table_exists(&logs).expect("logs") {
        let c = bq
            .query_columns(&format!(
                "SELECT COUNT(*) AS n FROM `{project}.monitoring.logs` WHERE func_name = 'daily_partials'"
            ))
            .expect("count fallbacks");
        c.get("n")
            .and_then(|n| n.to_f64())
            .and_then(|v| v.first().copied().flatten())
            .unwrap_or(f64::NAN)
    } else {
        0.0
    };
    assert_eq!(
        fallbacks, 0.0,
        "partials fell back to window queries on BigQuery"
    );
    assert!(usage.queries > 10, "queries counted: {usage:?}");

    // Equal statistics, table by table.
    let tables: Vec<String> = duck
        .list_tables(DATASET, "statistics_")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .collect();
    assert!(!tables.is_empty());
    let bq_tables: Vec<String> = bq
        .list_tables(DATASET, "statistics_")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .collect();
    assert_eq!(tables, bq_tables, "the same statistics tables and views");
    let (mut values, mut exact) = (0, 0);
    for table in &tables {
        let (a, b) = (rows(&duck, table), rows(&bq, table));
        exact += assert_same(table, &a, &b);
        values += a.rows();
    }

    // The bucket holds what the local folder holds, valid against the nimbus schemas.
    let keys = bucket.list("").expect("list bucket");
    assert_eq!(
        keys,
        local.list("").expect("list folder"),
        "the same objects"
    );
    for key in &keys {
        let object: Value = serde_json::from_slice(&bucket.get(key).unwrap().unwrap()).unwrap();
        let schema = match key.split('/').next() {
            Some("statistics") => "Statistics",
            Some("metadata") => "Metadata",
            _ => "AnalysisErrors",
        };
        validate(schema, &object).unwrap_or_else(|e| panic!("{key}: {e}"));
        if schema == "Statistics" {
            let file: Value = serde_json::from_slice(&local.get(key).unwrap().unwrap()).unwrap();
            assert_eq!(
                object.as_array().map(Vec::len),
                file.as_array().map(Vec::len),
                "{key}: rows"
            );
        }
    }

    // A rerun deletes exactly the experiment's tables (found by description): a neighbouring
    // slug's stay, and so do the enrollments unless their recreation is asked for.
    let neighbour =
        TableName::new(DATASET, "statistics_jetstream_sim_two_branches_v2_week_1").unwrap();
    bq.write_table(
        &neighbour,
        "SELECT 1 AS x",
        &jetstream_warehouse::TableMetadata::now("jetstream-sim-two-branches-v2"),
    )
    .expect("neighbour");
    let deleted = jetstream_job::delete_experiment_tables(
        &bq,
        DATASET,
        jetstream_simulate::EXPERIMENT_A,
        None,
    )
    .expect("delete");
    assert!(deleted > 0);
    let left: Vec<String> = bq
        .list_tables(DATASET, "")
        .expect("list")
        .into_iter()
        .map(|t| t.table)
        .collect();
    assert_eq!(
        left,
        [
            "enrollments_jetstream_sim_two_branches",
            "statistics_jetstream_sim_two_branches_v2_week_1"
        ],
        "the neighbour is left, and the enrollments (never replaced unless asked)"
    );

    eprintln!(
        "same rows, same job: DuckDB {:.2} s, BigQuery emulator + GCS emulator {:.2} s; \
         {} statistics tables, {values} rows, {exact} float values bit-identical; \
         {analyses} analyses, {} BigQuery jobs; deleted {deleted} tables on rerun",
        duck_time.as_secs_f64(),
        bq_time.as_secs_f64(),
        tables.len(),
        usage.queries,
    );
}

fn validate(name: &str, value: &Value) -> Result<(), String> {
    let path = format!(
        "{}/../../fixtures/experimenter/mozilla-nimbus-schemas/generated-jetstream-schemas/{name}.schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema")).expect("json");
    let validator = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}
