use chrono::{TimeZone, Utc};
use jetstream_output::LocalFolder;
use jetstream_output::export::export_statistics;
use jetstream_warehouse::{DuckDbWarehouse, TableMetadata, TableName, Warehouse};
use serde_json::Value;

use crate::local::scratch;
use crate::schema::validate;

pub(crate) fn statistics_schema() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/experimenter/mozilla-nimbus-schemas/generated-jetstream-schemas/Statistics.schema.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("schema json")
}

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

    let text = std::fs::read_to_string(root.join(&keys[0])).expect("read");
    let json: Value = serde_json::from_str(&text).expect("json");
    validate(&statistics_schema(), &json).expect("valid against the nimbus Statistics schema");
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
    assert!(!text.contains(": "), "compact separators");
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
