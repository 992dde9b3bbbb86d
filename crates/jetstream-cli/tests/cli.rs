//! The `jetstream` binary, end to end.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn jetstream(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jetstream"))
        .args(args)
        .output()
        .expect("run jetstream")
}

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

fn stats_data() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../jetstream-stats/tests/data/data_10000.csv")
        .display()
        .to_string()
}

fn tmp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jetstream-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("jetstream")).expect("mkdir");
    let p = dir.join("jetstream").join(name);
    std::fs::write(&p, text).expect("write");
    p
}

#[test]
fn help_on_every_command() {
    for cmd in ["validate-config", "resolve-config", "statistics"] {
        let out = jetstream(&[cmd, "--help"]);
        assert!(out.status.success(), "{cmd}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    }
    // the reference's snake_case spelling is accepted
    assert!(jetstream(&["validate_config", "--help"]).status.success());
}

#[test]
fn validate_config_exit_codes_and_messages() {
    let hub = shared().join("fixtures/metric-hub");
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

    let bad = tmp(
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
    let hub = shared().join("fixtures/metric-hub");
    let recipe = shared().join("fixtures/experimenter/mozilla-nimbus-schemas/example-recipes/v6-sdk/android-96-multifeature.json");
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
    let file = tmp("recipes.json", &recipes.to_string());
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
