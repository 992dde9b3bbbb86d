//! `simulate`, `run`, `rerun` and the JSON exports, end to end through the binary.

use serde_json::Value;

use super::{fixtures, jetstream};
use crate::schema::read_valid;

pub(crate) use jetstream_test_support::scratch;

fn ok(args: &[&str]) -> String {
    super::reference::ok(jetstream(args), &format!("jetstream {args:?}"))
}

fn rows_where<'a>(rows: &'a Value, pairs: &[(&str, &str)]) -> Vec<&'a Value> {
    rows.as_array()
        .expect("rows")
        .iter()
        .filter(|r| pairs.iter().all(|(k, v)| r[*k].as_str() == Some(*v)))
        .collect()
}

#[test]
fn simulate_rerun_and_exports_validate_against_the_nimbus_schemas() {
    let dir = scratch("e2e");
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    let out = ok(&[
        "simulate",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--clients",
        "3000",
        "--seed",
        "13",
        "--effect",
        "active_hours_sum=0.3",
    ]);
    assert!(out.contains("jetstream-sim-two-branches: 2026-01-08 to 2026-01-28"));
    assert!(
        dir.join("jetstream/jetstream-sim-two-branches.toml")
            .is_file()
    );
    let exports = dir.join("out");
    let out = ok(&[
        "rerun",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repo",
        dir.to_str().unwrap(),
        "--experiment-slug",
        "jetstream-sim-two-branches",
        "--until",
        "2026-01-28",
        "--output-dir",
        exports.to_str().unwrap(),
    ]);
    assert!(
        out.contains("21 analyses, 3 statistics tables, 0 skipped, 0 failures"),
        "{out}"
    );

    let stats = read_valid(
        &exports.join("statistics/statistics_jetstream_sim_two_branches_overall.json"),
        "Statistics",
    );
    let uplift = rows_where(
        &stats,
        &[
            ("metric", "active_hours"),
            ("statistic", "mean"),
            ("comparison", "relative_uplift"),
            ("branch", "treatment"),
            ("segment", "all"),
            ("analysis_basis", "enrollments"),
        ],
    );
    assert_eq!(uplift.len(), 1);
    let (lower, upper) = (
        uplift[0]["lower"].as_f64().unwrap(),
        uplift[0]["upper"].as_f64().unwrap(),
    );
    assert!(
        lower > 0.0 && lower <= 0.3 && 0.3 <= upper,
        "[{lower}, {upper}]"
    );
    assert!(rows_where(&stats, &[("window_index", "1")]).len() == stats.as_array().unwrap().len());
    read_valid(
        &exports.join("statistics/statistics_jetstream_sim_two_branches_weekly.json"),
        "Statistics",
    );
    let metadata = read_valid(
        &exports.join("metadata/metadata_jetstream_sim_two_branches.json"),
        "Metadata",
    );
    assert_eq!(
        metadata["metrics"]["active_hours"]["friendly_name"],
        "Active hours"
    );
    let errors = read_valid(
        &exports.join("errors/errors_jetstream_sim_two_branches.json"),
        "AnalysisErrors",
    );
    assert_eq!(errors, Value::Array(Vec::new()));

    // A daily run on the last date recomputes the overall window and ends the same way; the
    // run after the end date skips the experiment.
    let out = ok(&[
        "run",
        "--date",
        "2026-01-28",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repo",
        dir.to_str().unwrap(),
        "--experiment-slug",
        "jetstream-sim-two-branches",
    ]);
    assert!(
        out.contains("statistics_jetstream_sim_two_branches_overall_1"),
        "{out}"
    );

    // A rerun deletes the experiment's result tables and views (the enrollments table stays),
    // then analyses the dates again: none is ready before 2026-01-17.
    let out = ok(&[
        "rerun",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repo",
        dir.to_str().unwrap(),
        "--experiment-slug",
        "jetstream-sim-two-branches",
        "--until",
        "2026-01-16",
    ]);
    assert!(
        out.contains("0 statistics tables, 0 skipped, 0 failures"),
        "{out}"
    );
    let left = ok(&[
        "query",
        "--warehouse",
        &db,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mozanalysis' ORDER BY 1",
    ]);
    assert_eq!(
        left.lines().skip(1).collect::<Vec<_>>(),
        ["enrollments_jetstream_sim_two_branches"],
        "{out}"
    );
}

/// Telemetry exported by another tool, read with `--data`, analysed with `--config-file`, with
/// hand-computed expectations (the reference's day-0 filter, windows and sums).
#[test]
fn run_reads_a_parquet_data_folder_with_a_config_file() {
    let dir = scratch("parquet");
    let telemetry = dir.join("data/moz-fx-data-shared-prod/telemetry");
    std::fs::create_dir_all(&telemetry).expect("dirs");
    let daily = dir.join("data/mozdata/telemetry/clients_daily");
    std::fs::create_dir_all(&daily).expect("dirs");
    let conn = duckdb::Connection::open_in_memory().expect("writer");
    conn.execute_batch(&format!(
        "COPY (SELECT * FROM (VALUES
           ('c1', 'control',   DATE '2026-01-05'),
           ('c2', 'control',   DATE '2026-01-06'),
           ('c3', 'treatment', DATE '2026-01-05'),
           ('c4', 'treatment', DATE '2026-01-07'),
           ('c5', 'treatment', DATE '2026-01-20')
         ) AS t(client_id, branch, submission_date))
         TO '{events}' (FORMAT parquet);
         COPY (SELECT client_id, [{{'key': 'branch', 'value': branch}}] AS event_map_values,
                 submission_date, 'normandy' AS event_category, 'enroll' AS event_method,
                 'parquet-exp' AS event_string_value, 1 AS sample_id
               FROM read_parquet('{events}'))
         TO '{events2}' (FORMAT parquet);
         COPY (SELECT * FROM (VALUES
           -- c1: day 0 tagged (counted), day 2 untagged (counted), day 7 outside week 1
           ('c1', DATE '2026-01-05', 2.0, [{{'key': 'parquet-exp', 'value': 'control'}}]),
           ('c1', DATE '2026-01-07', 3.0, []),
           ('c1', DATE '2026-01-12', 50.0, []),
           -- c2: day 0 untagged (dropped by the day-0 filter)
           ('c2', DATE '2026-01-06', 100.0, []),
           ('c2', DATE '2026-01-08', 4.0, [{{'key': 'parquet-exp', 'value': 'control'}}]),
           ('c3', DATE '2026-01-05', 1.5, [{{'key': 'parquet-exp', 'value': 'treatment'}}]),
           ('c3', DATE '2026-01-06', 2.5, []),
           -- c4: nothing in its week (0, not NULL)
           ('c4', DATE '2026-01-20', 9.0, [])
         ) AS t(client_id, submission_date, active_hours_sum, experiments))
         TO '{daily}/part-0.parquet' (FORMAT parquet);",
        events = dir.join("raw.parquet").display(),
        events2 = telemetry.join("events.parquet").display(),
        daily = daily.display(),
    ))
    .expect("parquet");
    let recipe_path = fixtures()
        .join("experimenter/mozilla-nimbus-schemas/example-recipes/v6-desktop/desktop-98.json");
    let mut recipe: Value =
        serde_json::from_str(&std::fs::read_to_string(recipe_path).expect("recipe")).expect("json");
    recipe["slug"] = "parquet-exp".into();
    recipe["id"] = "parquet-exp".into();
    recipe["startDate"] = "2026-01-05".into();
    recipe["enrollmentEndDate"] = "2026-01-08".into();
    recipe["endDate"] = "2026-02-09".into();
    recipe["proposedEnrollment"] = 3.into();
    recipe["referenceBranch"] = "control".into();
    recipe["branches"] = serde_json::json!([
        {"slug": "control", "ratio": 1, "features": []},
        {"slug": "treatment", "ratio": 1, "features": []}
    ]);
    let experiments = dir.join("experiments.json");
    std::fs::write(&experiments, recipe.to_string()).expect("write recipe");
    let config = dir.join("parquet-exp.toml");
    std::fs::write(
        &config,
        r#"
[metrics]
weekly = ["hours"]

[metrics.hours]
data_source = "daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
analysis_bases = ["enrollments"]
[metrics.hours.statistics.sum]

[data_sources.daily]
from_expression = "mozdata.telemetry.clients_daily"
experiments_column_type = "simple"
"#,
    )
    .expect("config");
    let exports = dir.join("out");
    let empty_hub = dir.join("empty-hub");
    std::fs::create_dir_all(&empty_hub).expect("mkdir");
    // Week 1 of the last enrolled clients (2026-01-08) ends on 2026-01-14; the reference
    // analyses it on the following date.
    let out = ok(&[
        "run",
        "--date",
        "2026-01-15",
        "--warehouse",
        "duckdb::memory:",
        "--data",
        dir.join("data").to_str().unwrap(),
        "--experiments-file",
        experiments.to_str().unwrap(),
        "--config-file",
        config.to_str().unwrap(),
        "--experiment-slug",
        "parquet-exp",
        // Nothing but the config file (no metric-hub).
        "--config-repos",
        empty_hub.to_str().unwrap(),
        "--output-dir",
        exports.to_str().unwrap(),
    ]);
    assert!(out.contains("statistics_parquet_exp_week_1"), "{out}");
    let stats = read_valid(
        &exports.join("statistics/statistics_parquet_exp_weekly.json"),
        "Statistics",
    );
    let value = |metric: &str, statistic: &str, branch: &str| {
        let r = rows_where(
            &stats,
            &[
                ("metric", metric),
                ("statistic", statistic),
                ("branch", branch),
                ("segment", "all"),
            ],
        );
        assert_eq!(r.len(), 1, "{metric} {statistic} {branch}");
        r[0]["point"].as_f64().expect("point")
    };
    // control: c1 2 + 3 (day 7 is outside the week), c2 4 (its untagged day-0 row is dropped)
    assert_eq!(value("hours", "sum", "control"), 9.0);
    // treatment: c3 1.5 + 2.5, c4 0 (no rows in its week); c5 enrolled after the period
    assert_eq!(value("hours", "sum", "treatment"), 4.0);
    assert_eq!(value("identity", "count", "control"), 2.0);
    assert_eq!(value("identity", "count", "treatment"), 2.0);
}

/// The real firefox_desktop and fenix defaults (metric-hub) on the simulator's tables: every
/// default metric runs.
#[test]
fn the_desktop_and_fenix_default_metrics_run_on_simulated_telemetry() {
    let dir = scratch("defaults");
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    ok(&[
        "simulate",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-dir",
        dir.join("unused").to_str().unwrap(),
        "--clients",
        "400",
        "--seed",
        "3",
    ]);
    let hub = fixtures().join("metric-hub");
    // A day window and, on the end date, the overall window (and that date's day window), for
    // the desktop and the Fenix experiment.
    for date in ["2026-01-16", "2026-01-28"] {
        let out = ok(&[
            "run",
            "--date",
            date,
            "--warehouse",
            &db,
            "--experiments-file",
            recipes.to_str().unwrap(),
            "--config-repo",
            hub.to_str().unwrap(),
            "--experiment-slug",
            "jetstream-sim-two-branches",
            "--experiment-slug",
            "jetstream-sim-fenix",
        ]);
        assert!(out.contains(" 0 failures"), "{out}");
    }
    let fenix = ok(&[
        "query",
        "--warehouse",
        &db,
        "SELECT DISTINCT metric FROM mozanalysis.statistics_jetstream_sim_fenix_overall_1 ORDER BY 1",
    ]);
    assert_eq!(
        fenix.lines().skip(1).collect::<Vec<_>>(),
        [
            "active_hours",
            "client_level_daily_active_users_v2",
            "days_of_use",
            "identity",
            "organic_searches",
            "search_count",
            "searches_with_ads",
            "serp_ad_clicks",
            "tagged_follow_on_searches",
            "tagged_search_count",
            "total_uri_count",
        ]
    );
    let fenix_daily = ok(&[
        "query",
        "--warehouse",
        &db,
        "SELECT count(DISTINCT metric) AS n FROM mozanalysis.statistics_jetstream_sim_fenix_daily",
    ]);
    // the 6 daily defaults plus identity
    assert_eq!(fenix_daily.lines().nth(1), Some("7"), "{fenix_daily}");
    let metrics = ok(&[
        "query",
        "--warehouse",
        &db,
        "SELECT DISTINCT metric FROM mozanalysis.statistics_jetstream_sim_two_branches_overall_1 ORDER BY 1",
    ]);
    let got: Vec<&str> = metrics.lines().skip(1).collect();
    assert_eq!(
        got,
        [
            "active_hours",
            "ad_clicks",
            "client_level_daily_active_users_v2",
            "daily_active_users_per_1000_clients_legacy",
            "days_of_use",
            "identity",
            "is_default_browser",
            "organic_search_count",
            "qualified_cumulative_days_of_use",
            "search_count",
            "searches_with_ads",
            "tagged_follow_on_search_count",
            "tagged_search_count",
            "uri_count",
        ]
    );
    let daily = ok(&[
        "query",
        "--warehouse",
        &db,
        "SELECT count(DISTINCT metric) AS n FROM mozanalysis.statistics_jetstream_sim_two_branches_daily",
    ]);
    // the 8 daily defaults plus identity
    assert_eq!(daily.lines().nth(1), Some("9"), "{daily}");
}

#[test]
fn run_argo_dry_run_prints_the_workflow_of_the_selected_experiments_only() {
    let dir = scratch("argo");
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    ok(&[
        "simulate",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--clients",
        "200",
    ]);
    let repo = super::git_configs(&dir);
    let local = jetstream(&[
        "run-argo",
        "--dry-run",
        "--date",
        "2026-01-09",
        "--warehouse",
        "bigquery:my-project",
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repos",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(local.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&local.stderr).contains("Argo pods cannot read a local folder"),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    let yaml = ok(&[
        "run-argo",
        "--dry-run",
        "--date",
        "2026-01-09",
        "--warehouse",
        "bigquery:my-project",
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repos",
        &repo,
        "--config-cache",
        dir.join("config-cache").to_str().unwrap(),
        "--image-version",
        "sha256:0123abcd",
        "--no-discrete-metrics",
        "--memory-request",
        "20Gi",
        "--bucket",
        "none",
    ]);
    assert!(yaml.contains("--no-discrete-metrics"), "{yaml}");
    assert!(yaml.contains("kind: Workflow"), "{yaml}");
    assert!(yaml.contains("my-project"), "{yaml}");
    assert!(yaml.contains("20Gi"), "{yaml}");
    assert!(
        yaml.contains(&repo),
        "the pods clone the same configs: {yaml}"
    );
    assert!(
        yaml.contains("gcr.io/moz-fx-data-experiments/jetstream@sha256:0123abcd"),
        "{yaml}"
    );
    // On 2026-01-09 the two-branch and Fenix experiments are live; the three-branch one
    // starts on 2026-01-10: it never becomes a pod.
    assert!(yaml.contains("jetstream-sim-two-branches"), "{yaml}");
    assert!(yaml.contains("jetstream-sim-fenix"), "{yaml}");
    assert!(!yaml.contains("jetstream-sim-three-branches"), "{yaml}");
    assert!(
        yaml.contains("{{inputs.parameters.slug}}"),
        "Argo placeholders kept"
    );
    // The reference's Argo restrictions hold.
    let out = jetstream(&["run-argo", "--dry-run", "--metric-slug", "m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--metric-slug"));
}
