//! The `jetstream` binary, end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use jetstream_test_support::git;

#[path = "cli/argo.rs"]
mod argo;
#[path = "cli/configs.rs"]
mod configs;
#[path = "cli/hostile.rs"]
mod hostile;
#[path = "cli/ops.rs"]
mod ops;
#[path = "cli/reference.rs"]
mod reference;
#[path = "cli/release.rs"]
mod release;
#[path = "cli/report.rs"]
mod report;
#[path = "cli/run.rs"]
mod run;
#[path = "../../jetstream-output/tests/schema.rs"]
mod schema;
#[path = "cli/workflow.rs"]
mod workflow;

fn jetstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jetstream"))
        .args(args)
        .output()
        .expect("run jetstream")
}

/// Make the configs under `dir/jetstream` a git repository (Argo pods clone their configs);
/// its `file://` URL.
fn git_configs(dir: &Path) -> String {
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "jetstream"]);
    git(dir, &["commit", "-q", "-m", "configs"]);
    format!("file://{}", dir.display())
}

/// The fixtures vendored in the repository (`fixtures/`).
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

fn stats_data() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jetstream-stats/tests/data/data_10000.csv")
        .display()
        .to_string()
}

/// `text` written to `jetstream/<name>` in a scratch folder (removed when the first item is
/// dropped), and its path.
fn tmp(name: &str, text: &str) -> (jetstream_test_support::Scratch, PathBuf) {
    let dir = jetstream_test_support::scratch("cli-test");
    std::fs::create_dir_all(dir.join("jetstream")).expect("mkdir");
    let p = dir.join("jetstream").join(name);
    std::fs::write(&p, text).expect("write");
    (dir, p)
}

#[test]
fn help_on_every_command() {
    for cmd in [
        "validate-config",
        "resolve-config",
        "statistics",
        "ensure-enrollments",
        "run",
        "rerun",
        "rerun-config-changed",
        "rerun-skip",
        "simulate",
        "demo",
        "query",
        "errors",
        "export-statistics-to-json",
        "export-experiment-logs-to-json",
    ] {
        let out = jetstream(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
    // the reference's snake_case spelling is accepted
    assert!(jetstream(&["validate_config", "--help"]).status.success());
}

#[test]
fn validate_config_exit_codes_and_messages() {
    let hub = fixtures().join("metric-hub");
    let good = hub.join("jetstream/1-click-set-to-default-existing-users.toml");
    let out = jetstream(&[
        "validate-config",
        "--config-repo",
        hub.to_str().unwrap(),
        good.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolves for platform firefox_desktop"));

    let (_scratch, bad) = tmp(
        "bad.toml",
        "[metrics]\nweekly = [\"active_hours\"]\n[metrics.active_hours.statistics.bootstrap_mean]\ndrop_highest = \"lots\"\n",
    );
    let out = jetstream(&[
        "validate-config",
        "--config-repo",
        hub.to_str().unwrap(),
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "bad.toml:4: metrics.active_hours.statistics.bootstrap_mean.drop_highest = \"lots\""
        ),
        "{text}"
    );
}

#[test]
fn resolve_config_prints_periods() {
    let hub = fixtures().join("metric-hub");
    let recipe = fixtures().join(
        "experimenter/mozilla-nimbus-schemas/example-recipes/v6-sdk/android-96-multifeature.json",
    );
    let out = jetstream(&[
        "resolve-config",
        "--config-repo",
        hub.to_str().unwrap(),
        "--experiment",
        recipe.to_str().unwrap(),
        "--date",
        "2026-01-01",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["experiment"]["app_name"], "fenix");
    let weekly = v["periods"]["week"].as_array().expect("week");
    assert!(!weekly.is_empty());
    for m in weekly {
        assert!(m["statistics"].as_array().is_some_and(|s| !s.is_empty()));
        assert!(m["name"].is_string());
    }
}

#[test]
fn statistics_command() {
    let data = stats_data();
    let out = jetstream(&[
        "statistics",
        "--input",
        &data,
        "--metric",
        "converted",
        "--statistic",
        "binomial",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(6));
    let out = jetstream(&[
        "statistics",
        "--input",
        &data,
        "--metric",
        "nope",
        "--statistic",
        "sum",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("column \"nope\" not found"));
    let out = jetstream(&[
        "statistics",
        "--input",
        &data,
        "--metric",
        "active_hours",
        "--statistic",
        "deciles",
        "--param",
        "bogus=1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("deciles.bogus"));
}

#[test]
fn experiments_command_lists_verdicts() {
    let recipes = serde_json::json!([
        {"slug": "live-one", "appName": "fenix", "branches": [{"slug": "control", "ratio": 1}, {"slug": "t", "ratio": 1}],
         "startDate": "2026-01-01", "enrollmentEndDate": "2026-01-07", "endDate": null, "proposedEnrollment": 7},
        {"slug": "a-rollout", "appName": "fenix", "isRollout": true, "branches": [{"slug": "control", "ratio": 1}],
         "startDate": "2026-01-01", "enrollmentEndDate": "2026-01-07", "proposedEnrollment": 7},
        {"slug": "old", "branches": [{"slug": "control", "ratio": 1}],
         "startDate": "2025-01-01", "endDate": "2025-02-01", "enrollmentEndDate": "2025-01-07", "proposedEnrollment": 7},
        {"slug": "broken", "branches": []}
    ]);
    let (_scratch, file) = tmp("recipes.json", &recipes.to_string());
    let out = jetstream(&[
        "experiments",
        "--experiments-file",
        file.to_str().unwrap(),
        "--date",
        "2026-02-01",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let rows = v["experiments"].as_array().expect("rows");
    let verdict = |slug: &str| {
        rows.iter()
            .find(|r| r["slug"] == slug)
            .map(|r| (r["analysed"].clone(), r["reason"].clone()))
    };
    assert_eq!(
        verdict("live-one").map(|v| v.0),
        Some(serde_json::json!(true))
    );
    assert!(
        verdict("a-rollout").is_some_and(|v| v.1.as_str().unwrap_or_default().contains("rollout"))
    );
    assert!(verdict("old").is_some_and(|v| {
        v.1.as_str()
            .unwrap_or_default()
            .contains("more than 90 days")
    }));
    assert!(verdict("broken").is_some_and(|v| {
        v.1.as_str()
            .unwrap_or_default()
            .contains("unreadable recipe")
    }));
    let out = jetstream(&[
        "experiments",
        "--experiments-file",
        file.to_str().unwrap(),
        "--date",
        "2026-02-01",
        "--experiment-slug",
        "nope",
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("not found"));
}

#[test]
fn exports_read_a_duckdb_warehouse_and_write_the_output_folder() {
    use jetstream_duckdb::DuckDbWarehouse;
    use jetstream_warehouse::{LogRecord, TableMetadata, TableName, Warehouse};
    let dir = jetstream_test_support::scratch("cli-export");
    let db = dir.join("jetstream.duckdb");
    {
        let wh = DuckDbWarehouse::open(&db, "moz-fx-data-experiments").expect("open");
        let table = TableName::new("mozanalysis", "statistics_my_slug_week_1").expect("name");
        wh.write_table(
            &table,
            "SELECT 'm' AS metric, 'mean' AS statistic, 'control' AS branch, 1.5 AS point, \
                    'all' AS segment, 'enrollments' AS analysis_basis, 1 AS window_index",
            &TableMetadata::now("my-slug"),
        )
        .expect("table");
        let view = TableName::new("mozanalysis", "statistics_my_slug_weekly").expect("name");
        wh.create_view(&view, "SELECT * FROM mozanalysis.statistics_my_slug_week_1")
            .expect("view");
        let logs = TableName::new("monitoring", "logs").expect("name");
        wh.append_logs(
            &logs,
            &[LogRecord {
                timestamp: chrono::NaiveDate::from_ymd_opt(2026, 11, 20)
                    .and_then(|d| d.and_hms_opt(6, 0, 0))
                    .expect("time"),
                source: "jetstream".into(),
                experiment: Some("my-slug".into()),
                message: "boom".into(),
                log_level: "ERROR".into(),
                exception: "StatisticComputationException: boom".into(),
                filename: "analysis".into(),
                func_name: "run".into(),
                exception_type: Some("StatisticComputationException".into()),
                ..LogRecord::default()
            }],
        )
        .expect("logs");
    }
    let warehouse = format!("duckdb:{}", db.display());
    let output = dir.join("out");
    let out = jetstream(&[
        "export-statistics-to-json",
        "--warehouse",
        &warehouse,
        "--experiment-slug",
        "my-slug",
        "--output-dir",
        &output.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = std::fs::read_to_string(output.join("statistics/statistics_my_slug_weekly.json"))
        .expect("statistics file");
    assert!(stats.contains("\"window_index\":\"1\""), "{stats}");

    let out = jetstream(&[
        "export_experiment_logs_to_json",
        "--warehouse",
        &warehouse,
        "--experiment_slug",
        "my-slug",
        "--date",
        "2026-11-20",
        "--output-dir",
        &output.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 errors"));
    let errors =
        std::fs::read_to_string(output.join("errors/errors_my_slug.json")).expect("errors");
    assert!(errors.contains("StatisticComputationException"), "{errors}");

    let out = jetstream(&[
        "export-statistics-to-json",
        "--warehouse",
        "sqlite:somewhere",
        "--experiment-slug",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("sqlite:somewhere"), "{stderr}");
    assert!(
        stderr.contains("bigquery:PROJECT"),
        "names what is accepted: {stderr}"
    );
}

#[test]
fn ensure_enrollments_reads_a_parquet_data_folder_and_keeps_the_table() {
    let dir = jetstream_test_support::scratch("cli-enroll");
    let events = dir.join("data/moz-fx-data-shared-prod/telemetry");
    std::fs::create_dir_all(&events).expect("dirs");
    // Telemetry exported by another tool: Parquet written through a separate connection.
    duckdb::Connection::open_in_memory()
        .expect("writer")
        .execute_batch(&format!(
            "COPY (SELECT * FROM (VALUES \
               ('c1', [{{'key': 'branch', 'value': 'control'}}], DATE '2026-01-05', 'normandy', 'enroll', 'no-config-desktop', 1), \
               ('c2', [{{'key': 'branch', 'value': 'treatment'}}], DATE '2026-01-06', 'normandy', 'enroll', 'no-config-desktop', 2), \
               ('c3', [{{'key': 'branch', 'value': 'treatment'}}], DATE '2026-01-06', 'normandy', 'enroll', 'another-one', 3) \
             ) AS t(client_id, event_map_values, submission_date, event_category, event_method, event_string_value, sample_id)) \
             TO '{}' (FORMAT parquet)",
            events.join("events.parquet").display()
        ))
        .expect("parquet");
    // A real v6 desktop recipe, moved to this experiment and these dates.
    let recipe_path = fixtures()
        .join("experimenter/mozilla-nimbus-schemas/example-recipes/v6-desktop/desktop-98.json");
    let mut recipe: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(recipe_path).expect("recipe")).expect("json");
    recipe["slug"] = "no-config-desktop".into();
    recipe["id"] = "no-config-desktop".into();
    recipe["startDate"] = "2026-01-05".into();
    recipe["enrollmentEndDate"] = "2026-01-11".into();
    recipe["endDate"] = "2026-02-09".into();
    let experiments = dir.join("experiments.json");
    std::fs::write(&experiments, recipe.to_string()).expect("write recipe");

    let warehouse = format!("duckdb:{}", dir.join("jetstream.duckdb").display());
    let data = dir.join("data").display().to_string();
    let hub = fixtures().join("metric-hub").display().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "ensure-enrollments",
            "--warehouse",
            &warehouse,
            "--data",
            &data,
            "--experiments-file",
            experiments.to_str().unwrap(),
            "--config-repo",
            &hub,
            "--experiment-slug",
            "no-config-desktop",
            "--date",
            "2026-01-12",
        ];
        args.extend_from_slice(extra);
        let out = jetstream(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&[]).contains("enrollments created (2 rows)"));
    assert!(run(&[]).contains("enrollments exist, kept"));
    assert!(run(&["--recreate-enrollments"]).contains("enrollments created (2 rows)"));

    let out = jetstream(&[
        "ensure-enrollments",
        "--warehouse",
        &warehouse,
        "--experiments-file",
        experiments.to_str().unwrap(),
        "--config-repo",
        &hub,
        "--experiment-slug",
        "not-there",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not-there: not found"));
}
