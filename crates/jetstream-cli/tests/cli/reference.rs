//! The reference's command lines run for real (its Argo containers, configured through the
//! environment as a pod would be), the library example against `run`, and the partial reruns
//! through the binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::fixtures;
use super::run::scratch;

/// `jetstream` with `env` set (and nothing else from the parent's JETSTREAM_* variables).
fn jetstream_env(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jetstream"));
    for (k, _) in std::env::vars() {
        if k.starts_with("JETSTREAM_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
    cmd.output().expect("run jetstream")
}

pub(crate) fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The container commands of the reference's `run.yaml`, placeholders filled.
fn workflow_commands(fill: &[(&str, &str)]) -> Vec<Vec<String>> {
    let yaml = std::fs::read_to_string(fixtures().join("jetstream/run.yaml")).expect("run.yaml");
    super::workflow::workflow_commands(&yaml, fill)
}

const SLUG: &str = "jetstream-sim-two-branches";

/// Simulated telemetry in a database file, its recipes and configs.
fn simulated(dir: &Path, clients: &str) -> (String, PathBuf) {
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    ok(
        jetstream_env(
            &[
                "simulate",
                "--warehouse",
                &db,
                "--experiments-file",
                recipes.to_str().unwrap(),
                "--clients",
                clients,
                "--seed",
                "5",
            ],
            &[],
        ),
        "simulate",
    );
    (db, recipes)
}

/// The rows of `sql` on the warehouse `db`, as JSON objects (`jetstream query --format json`).
pub(super) fn query(db: &str, sql: &str) -> serde_json::Value {
    let out = ok(
        jetstream_env(&["query", "--warehouse", db, "--format", "json", sql], &[]),
        sql,
    );
    serde_json::from_str(&out).expect("json rows")
}

#[test]
#[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
fn the_run_yaml_containers_run_as_the_reference_does() {
    let dir = scratch("argo");
    let (db, recipes) = simulated(&dir, "800");
    let exports = dir.join("exports");
    // What a pod's environment would set: the warehouse, where experiments and configs come
    // from, where exports go.
    let env = [
        ("JETSTREAM_WAREHOUSE", db.clone()),
        ("JETSTREAM_EXPERIMENTS_FILE", recipes.display().to_string()),
        ("JETSTREAM_CONFIG_REPOS", dir.display().to_string()),
        ("JETSTREAM_OUTPUT_DIR", exports.display().to_string()),
    ];
    let fill = [
        ("inputs.parameters.slug", SLUG),
        ("inputs.parameters.date", "2026-01-28"),
        ("inputs.parameters.discrete_metrics", "--discrete-metrics"),
        ("workflow.parameters.dataset_id", "mozanalysis"),
        ("workflow.parameters.project_id", "moz-fx-data-experiments"),
        ("workflow.parameters.bucket", "None"),
        ("workflow.parameters.analysis_periods_day", "day"),
        ("workflow.parameters.analysis_periods_week", "week"),
        ("workflow.parameters.analysis_periods_days28", "day"),
        ("workflow.parameters.analysis_periods_overall", "overall"),
        (
            "workflow.parameters.analysis_periods_preenrollment_week",
            "day",
        ),
        (
            "workflow.parameters.analysis_periods_preenrollment_days28",
            "day",
        ),
        ("workflow.parameters.statistics_only", "false"),
    ];
    let commands = workflow_commands(&fill);
    assert_eq!(commands.len(), 3);
    let run = |words: &Vec<String>| {
        let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        ok(jetstream_env(&args, &env), &words.join(" "))
    };
    // ensure-enrollments (on yesterday, as the reference: the last day window is ready)
    let out = run(&commands[0]);
    assert!(
        out.contains(&format!("{SLUG}: enrollments created (")),
        "{out}"
    );
    // analyse-experiment: the end date, the selected periods (day and overall are ready)
    let out = run(&commands[1]);
    assert!(
        out.contains("statistics_jetstream_sim_two_branches_overall_1"),
        "{out}"
    );

    let enrolled = query(
        &db,
        "SELECT COUNT(*) AS n FROM mozanalysis.enrollments_jetstream_sim_two_branches",
    );
    assert!(
        enrolled[0]["n"].as_i64().is_some_and(|n| n > 100),
        "{enrolled}"
    );
    let logged = query(
        &db,
        "SELECT message FROM monitoring.logs WHERE log_level = 'ERROR'",
    );
    assert_eq!(logged, serde_json::json!([]), "no errors logged");
    // export-statistics: with no bucket the reference exports nothing to GCS; here the files
    // go to the configured local folder.
    let out = run(&commands[2]);
    assert!(
        out.contains("statistics_jetstream_sim_two_branches_overall.json"),
        "{out}"
    );
    assert!(
        exports
            .join("statistics/statistics_jetstream_sim_two_branches_overall.json")
            .is_file()
    );
    // The same analysis with statistics only: no metric table is rewritten.
    let before = query(
        &db,
        "SELECT MAX(last_updated) AS t FROM _jetstream.table_metadata \
         WHERE table_name LIKE 'jetstream_sim_two_branches_enrollments_%'",
    );
    let mut only = fill.to_vec();
    only.retain(|(k, _)| !k.ends_with("statistics_only"));
    only.push(("workflow.parameters.statistics_only", "True"));
    let out = run(&workflow_commands(&only)[1]);
    assert!(
        out.contains("statistics_jetstream_sim_two_branches_overall_1"),
        "{out}"
    );
    let after = query(
        &db,
        "SELECT MAX(last_updated) AS t FROM _jetstream.table_metadata \
         WHERE table_name LIKE 'jetstream_sim_two_branches_enrollments_%'",
    );
    assert_eq!(
        before, after,
        "statistics only: the metric tables are untouched"
    );
    // A real bucket: the export step writes to GCS (fake-gcs-server, started by
    // `cargo xtask test`, reached through STORAGE_EMULATOR_HOST as Google's clients do).
    jetstream_test_support::required_env("STORAGE_EMULATOR_HOST");
    let gcs = jetstream_job::GcsBucket::from_env("mozanalysis").expect("bucket");
    gcs.create_bucket("jetstream-test")
        .expect("create the bucket");
    let mut bucket = fill.to_vec();
    bucket.retain(|(k, _)| !k.ends_with("bucket"));
    bucket.push(("workflow.parameters.bucket", "mozanalysis"));
    let words = &workflow_commands(&bucket)[2];
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let out = ok(jetstream_env(&args, &env), "export to the bucket");
    assert!(out.contains("gs://mozanalysis/statistics/"), "{out}");
    let keys = jetstream_job::OutputSink::list(&gcs, "statistics/").expect("list");
    assert!(
        keys.contains(&"statistics/statistics_jetstream_sim_two_branches_overall.json".to_string()),
        "{keys:?}"
    );
}

#[test]
fn config_repositories_that_cannot_be_cloned_are_named() {
    let dir = scratch("noconfig");
    let missing = format!("file://{}", dir.join("no-such-repo").display());
    let out = jetstream_env(
        &[
            "run",
            "--warehouse",
            "duckdb::memory:",
            "--experiments-file",
            fixtures()
                .join("experimenter/mozilla-nimbus-schemas/example-recipes/v6-desktop/desktop-98.json")
                .to_str()
                .unwrap(),
        ],
        &[
            ("JETSTREAM_CONFIG_REPOS", missing.clone()),
            ("JETSTREAM_CONFIG_CACHE", dir.join("cache").display().to_string()),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot clone config repository {missing}"))
            && err.contains("no cached copy"),
        "{err}"
    );
}

/// The library example (`cargo run -p jetstream-job --example daily`), built with the
/// workspace's targets next to this binary.
fn example() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_jetstream"));
    let path = bin
        .parent()
        .expect("target dir")
        .join("examples")
        .join(format!("daily{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is missing: run the tests with `cargo test --workspace --all-targets` (or \
         `cargo build -p jetstream-job --example daily` first)",
        path.display()
    );
    path
}

/// `a` and `b` equal, numbers to 1e-12 relative.
fn assert_close(a: &serde_json::Value, b: &serde_json::Value, what: &str) {
    fn walk(a: &serde_json::Value, b: &serde_json::Value, at: &str) -> Option<String> {
        use serde_json::Value;
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64()?, y.as_f64()?);
                ((x - y).abs() > 1e-12 * x.abs().max(y.abs())).then(|| format!("{at}: {x} != {y}"))
            }
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
                .iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (p, q))| walk(p, q, &format!("{at}[{i}]"))),
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                x.iter().find_map(|(k, v)| match y.get(k) {
                    Some(w) => walk(v, w, &format!("{at}.{k}")),
                    None => Some(format!("{at}.{k} missing")),
                })
            }
            _ => (a != b).then(|| format!("{at}: {a} != {b}")),
        }
    }
    if let Some(d) = walk(a, b, "") {
        panic!("{what}: {d}");
    }
}

/// Every statistics row of the results, in one canonical order.
fn statistics_rows(db: &str) -> serde_json::Value {
    let tables = query(
        db,
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = 'mozanalysis' AND table_name LIKE 'statistics_%' \
           AND table_type = 'BASE TABLE' ORDER BY table_name",
    );
    let mut all = Vec::new();
    for t in tables.as_array().expect("tables") {
        let name = t["table_name"].as_str().expect("name");
        all.push(serde_json::json!({
            "table": name,
            "rows": query(db, &format!("SELECT * FROM mozanalysis.{name} ORDER BY ALL")),
        }));
    }
    serde_json::Value::Array(all)
}

#[test]
fn the_library_example_equals_run_on_simulated_and_parquet_data() {
    let dir = scratch("example");
    let date = "2026-01-28";
    // Simulated data: two identical databases (same seed), one per program.
    let (db_a, recipes) = simulated(&dir.join("a"), "600");
    let (db_b, _) = simulated(&dir.join("b"), "600");
    let hub = dir.join("a");
    let out = Command::new(example())
        .args([
            "--date",
            date,
            "--warehouse",
            &db_a,
            "--experiments-file",
            recipes.to_str().unwrap(),
            "--config-repo",
            hub.to_str().unwrap(),
        ])
        .output()
        .expect("example");
    let printed = ok(out, "example");
    assert!(printed.contains(&format!("{SLUG} ok")), "{printed}");
    assert!(
        printed.contains("jetstream-sim-three-branches ok"),
        "{printed}"
    );
    ok(
        jetstream_env(
            &[
                "run",
                "--date",
                date,
                "--warehouse",
                &db_b,
                "--experiments-file",
                recipes.to_str().unwrap(),
                "--config-repos",
                hub.to_str().unwrap(),
            ],
            &[],
        ),
        "run",
    );
    let (a, b) = (statistics_rows(&db_a), statistics_rows(&db_b));
    assert!(a.as_array().is_some_and(|t| t.len() >= 3), "{a}");
    // The example analyses the experiments one by one; `run` computes their daily partials in
    // one shared scan per data source. Sums of floats then add in another order: the rows are
    // equal to rounding (1e-12 relative), everything else exactly.
    assert_close(&a, &b, "the example and `run` write the same statistics");

    // Parquet data: one folder, read by both.
    let data = dir.join("parquet");
    ok(
        jetstream_env(
            &[
                "simulate",
                "--format",
                "parquet",
                "--output",
                data.to_str().unwrap(),
                "--experiments-file",
                dir.join("p/experiments.json").to_str().unwrap(),
                "--clients",
                "600",
                "--seed",
                "5",
            ],
            &[],
        ),
        "simulate parquet",
    );
    let precipes = dir.join("p/experiments.json");
    let phub = dir.join("p");
    let (pa, pb) = (
        format!("duckdb:{}", dir.join("pa.duckdb").display()),
        format!("duckdb:{}", dir.join("pb.duckdb").display()),
    );
    let out = Command::new(example())
        .args([
            "--date",
            date,
            "--warehouse",
            &pa,
            "--experiments-file",
            precipes.to_str().unwrap(),
            "--config-repo",
            phub.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--output-dir",
            dir.join("pa-out").to_str().unwrap(),
        ])
        .output()
        .expect("example");
    let printed = ok(out, "example on parquet");
    assert!(printed.contains(&format!("{SLUG} ok")), "{printed}");
    assert!(
        dir.join("pa-out/statistics/statistics_jetstream_sim_two_branches_overall.json")
            .is_file()
    );
    ok(
        jetstream_env(
            &[
                "run",
                "--date",
                date,
                "--warehouse",
                &pb,
                "--experiments-file",
                precipes.to_str().unwrap(),
                "--config-repos",
                phub.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
            &[],
        ),
        "run on parquet",
    );
    let (a, b) = (statistics_rows(&pa), statistics_rows(&pb));
    assert!(a.as_array().is_some_and(|t| t.len() >= 3), "{a}");
    assert_close(
        &a,
        &b,
        "the example and `run` write the same statistics on Parquet data",
    );
    assert_close(
        &a,
        &statistics_rows(&db_a),
        "Parquet or tables: the same results",
    );
}

#[test]
fn an_invalid_environment_value_exits_2_naming_the_variable() {
    for (var, value) in [
        ("JETSTREAM_PROCESSES", "abc"),
        ("JETSTREAM_MEMORY_LIMIT", "lots"),
    ] {
        let out = jetstream_env(
            &[
                "run",
                "--warehouse",
                "duckdb::memory:",
                "--config-repos",
                ".",
            ],
            &[(var, value.to_string())],
        );
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(var), "{var}: {err}");
    }
}

#[test]
fn demo_stops_when_it_cannot_remove_its_old_database() {
    let dir = scratch("demo-stale");
    // A directory where the database file goes: removing it as a file fails (not "absent").
    std::fs::create_dir_all(dir.join("jetstream.duckdb/inside")).expect("mkdir");
    let out = jetstream_env(&["demo", "--output-dir", dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("removing") && err.contains("jetstream.duckdb"),
        "{err}"
    );
}
