//! Config repositories through the binary: git URLs and their cache, `rerun-config-changed`,
//! `rerun-skip` and `validate-config --dry-run`.

use std::path::Path;
use std::process::{Command, Output};

use super::git;
use super::run::scratch;

/// Commit everything a second after what came before (git keeps whole seconds).
fn commit(dir: &Path, message: &str) {
    std::thread::sleep(std::time::Duration::from_millis(1100));
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", message]);
}

/// The binary with `args`, no JETSTREAM_* variable of the caller, and `env`.
fn jetstream(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jetstream"));
    for (k, _) in std::env::vars() {
        if k.starts_with("JETSTREAM_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args).envs(env.iter().copied());
    cmd.output().expect("run jetstream")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn success(out: Output) -> (String, String) {
    let (o, e) = text(&out);
    assert!(out.status.success(), "stdout: {o}\nstderr: {e}");
    (o, e)
}

/// Simulated telemetry in `dir/sim.duckdb`, recipes in `dir/experiments.json` and the configs
/// in `dir/hub/jetstream/`, made a git repository.
pub(super) fn simulated_hub(dir: &Path) -> (String, String, std::path::PathBuf) {
    let db = format!("duckdb:{}", dir.join("sim.duckdb").display());
    let recipes = dir.join("experiments.json").display().to_string();
    let hub = dir.join("hub");
    success(jetstream(
        &[
            "simulate",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-dir",
            hub.join("jetstream").to_str().unwrap(),
            "--clients",
            "600",
        ],
        &[],
    ));
    git(&hub, &["init", "-q", "-b", "main"]);
    commit(&hub, "configs");
    (db, recipes, hub)
}

#[test]
fn rerun_config_changed_lists_reruns_and_skips_exactly_the_changed_experiment() {
    let dir = scratch("changed");
    let (db, recipes, hub) = simulated_hub(&dir);
    let hub_s = hub.display().to_string();
    let common = |cmd: &'static str| -> Vec<String> {
        [
            cmd,
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &hub_s,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |args: Vec<String>, extra: &[&str]| {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend_from_slice(extra);
        jetstream(&all, &[])
    };
    success(run(common("run"), &["--date", "2026-01-28"]));
    let dry = |extra: &[&str]| {
        let mut e = vec!["--dry-run"];
        e.extend_from_slice(extra);
        success(run(common("rerun-config-changed"), &e))
    };
    assert_eq!(dry(&[]).0, "", "nothing changed after the results");

    // One experiment config changes: exactly it is listed, with the reason on stderr.
    let a = hub.join("jetstream/jetstream-sim-two-branches.toml");
    let text_a = std::fs::read_to_string(&a).expect("config");
    std::fs::write(&a, format!("{text_a}\n# reviewed\n")).expect("edit");
    commit(&hub, "edit");
    let (listed, why) = dry(&[]);
    assert_eq!(listed, "jetstream-sim-two-branches\n");
    assert!(why.contains("experiment config changed at"), "{why}");
    // The dry run changed nothing.
    assert_eq!(dry(&[]).0, "jetstream-sim-two-branches\n");

    // The rerun (up to the experiment's end) leaves nothing to rerun.
    let (out, _) = success(run(
        common("rerun-config-changed"),
        &["--until", "2026-01-28"],
    ));
    assert!(
        out.contains("failures") && out.contains(" 0 failures"),
        "{out}"
    );
    assert_eq!(dry(&[]).0, "");

    // Another change, marked up to date by rerun-skip instead.
    std::fs::write(&a, format!("{text_a}\n# reviewed twice\n")).expect("edit");
    commit(&hub, "edit again");
    assert_eq!(dry(&[]).0, "jetstream-sim-two-branches\n");
    let (marked, _) = success(run(common("rerun-skip"), &[]));
    assert!(marked.contains("jetstream-sim-two-branches: "), "{marked}");
    assert_eq!(dry(&[]).0, "");
}

#[test]
fn a_git_url_is_cloned_into_the_cache_and_used_offline_with_a_warning() {
    let dir = scratch("git-url");
    let (db, recipes, hub) = simulated_hub(&dir);
    let url = format!("file://{}", hub.display());
    let cache = dir.join("cache").display().to_string();
    let args = [
        "ensure-enrollments",
        "--warehouse",
        &db,
        "--experiments-file",
        &recipes,
        "--experiment-slug",
        "jetstream-sim-fenix",
        "--date",
        "2026-01-20",
    ];
    let env = [
        ("JETSTREAM_CONFIG_REPOS", url.as_str()),
        ("JETSTREAM_CONFIG_CACHE", cache.as_str()),
        ("JETSTREAM_CONFIG_MAX_AGE", "0"),
    ];
    let (out, err) = success(jetstream(&args, &env));
    assert!(out.contains("enrollments created"), "{out}");
    assert!(!err.contains("warning"), "{err}");
    assert_eq!(
        std::fs::read_dir(&cache).expect("cache").count(),
        1,
        "one clone"
    );
    // The remote is gone: the cached copy is used, with a warning naming it.
    std::fs::rename(&hub, dir.join("hub-moved")).expect("move");
    let (out, err) = success(jetstream(&args, &env));
    assert!(out.contains("enrollments exist, kept"), "{out}");
    assert!(
        err.contains("could not update config repository") && err.contains(&url),
        "{err}"
    );
}

#[test]
fn validate_config_dry_run_plans_every_query_with_exit_codes() {
    let dir = scratch("dry-run");
    let (db, recipes, hub) = simulated_hub(&dir);
    let validate = |files: &[&Path], extra: &[&str]| {
        let mut args: Vec<String> = [
            "validate-config",
            "--dry-run",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repo",
            hub.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(files.iter().map(|f| f.display().to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        jetstream(&refs, &[])
    };
    let good = hub.join("jetstream/jetstream-sim-two-branches.toml");
    let out = validate(&[&good], &[]);
    let (o, e) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{o}{e}");
    assert!(o.contains("queries planned, the largest reads"), "{o}");

    // A metric over a missing column: exit 1, naming the metric and the column.
    let broken = hub.join("jetstream/jetstream-sim-three-branches.toml");
    let t = std::fs::read_to_string(&broken).expect("config");
    std::fs::write(
        &broken,
        t.replacen("weekly = [", "weekly = [\"broken_metric\", ", 1)
            + "\n[metrics.broken_metric]\ndata_source = \"sim_clients_daily\"\n\
               select_expression = \"SUM(no_such_column)\"\n\
               [metrics.broken_metric.statistics.bootstrap_mean]\n",
    )
    .expect("write");
    let out = validate(&[&good, &broken], &[]);
    let (o, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("FAIL  ")
            && o.contains("metric broken_metric (enrollments)")
            && o.contains("no_such_column"),
        "{o}"
    );
    assert!(o.contains("1 valid, 1 invalid"), "{o}");

    // An experiment config without an experiment in Experimenter: exit 1.
    let unknown = hub.join("jetstream/no-such-experiment.toml");
    std::fs::copy(&good, &unknown).expect("copy");
    let out = validate(&[&unknown], &[]);
    let (o, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{o}");
    assert!(
        o.contains("experiment no-such-experiment does not exist in Experimenter"),
        "{o}"
    );

    // The byte estimate against the thresholds (TiB): 2 above the moderate one, 3 above the
    // high one, 0 under both.
    let out = validate(&[&good], &["--moderate-data-threshold", "0.000000000001"]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(text(&out).0.contains("above the moderate data threshold"));
    let out = validate(
        &[&good],
        &[
            "--moderate-data-threshold",
            "0.000000000001",
            "--high-data-threshold",
            "0.000000000002",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{:?}", text(&out));
    let out = validate(
        &[&good],
        &[
            "--moderate-data-threshold",
            "1",
            "--high-data-threshold",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

#[test]
fn errors_lists_the_logged_failures_newest_first_and_exits_for_an_alert() {
    let dir = scratch("errors");
    let (db, recipes, hub) = simulated_hub(&dir);
    let hub_s = hub.display().to_string();
    let run = |db: &str| {
        jetstream(
            &[
                "run",
                "--date",
                "2026-01-28",
                "--warehouse",
                db,
                "--experiments-file",
                &recipes,
                "--config-repos",
                &hub_s,
                "--experiment-slug",
                "jetstream-sim-three-branches",
            ],
            &[],
        )
    };
    let errors = |db: &str, extra: &[&str]| {
        let mut args = vec!["errors", "--warehouse", db, "--since", "2000-01-01"];
        args.extend_from_slice(extra);
        jetstream(&args, &[])
    };
    // A clean run: nothing logged, exit 0.
    success(run(&db));
    let out = errors(&db, &[]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(text(&out).1.contains("0 errors"), "{:?}", text(&out));

    // Issue 05's fault-isolation scenario: a metric over a missing column beside good metrics
    // of the same data source; the rest of the run goes on, the failure is one ERROR row with
    // its context.
    let config = hub.join("jetstream/jetstream-sim-three-branches.toml");
    let t = std::fs::read_to_string(&config).expect("config");
    std::fs::write(
        &config,
        t.replacen("overall = [", "overall = [\"broken\", ", 1)
            + "\n[metrics.broken]\ndata_source = \"sim_clients_daily\"\n\
               select_expression = \"SUM(no_such_column)\"\n\
               analysis_bases = [\"enrollments\"]\n\
               [metrics.broken.statistics.bootstrap_mean]\n",
    )
    .expect("write");
    let faulty = format!("duckdb:{}", dir.join("faulty.duckdb").display());
    // The faulty warehouse needs the simulated telemetry too: copy the database.
    std::fs::copy(dir.join("sim.duckdb"), dir.join("faulty.duckdb")).expect("copy");
    let sources = dir.join("sim.duckdb.sources");
    if sources.is_dir() {
        let target = dir.join("faulty.duckdb.sources");
        std::fs::create_dir_all(&target).expect("mkdir");
        for e in std::fs::read_dir(&sources).expect("sources").flatten() {
            std::fs::copy(e.path(), target.join(e.file_name())).expect("copy source");
        }
    }
    let out = run(&faulty);
    assert_eq!(out.status.code(), Some(1), "{:?}", text(&out));
    let out = errors(
        &faulty,
        &["--experiment-slug", "jetstream-sim-three-branches"],
    );
    let (rows, summary) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{rows}{summary}");
    assert!(
        rows.starts_with("timestamp\tlog_level\texperiment"),
        "{rows}"
    );
    let error_rows: Vec<&str> = rows.lines().filter(|l| l.contains("\tERROR\t")).collect();
    assert_eq!(error_rows.len(), 1, "{rows}");
    for part in [
        "jetstream-sim-three-branches",
        "\tenrollments\t",
        "overall_1",
        "\tbroken\t",
        "no_such_column",
    ] {
        assert!(
            error_rows[0].contains(part),
            "{part} not in {}",
            error_rows[0]
        );
    }
    assert!(summary.contains("1 errors"), "{summary}");
    // The report shows it too, beside the statistics of every other metric.
    let page = dir.join("faulty.html");
    let report = jetstream(
        &[
            "report",
            "--warehouse",
            &faulty,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &hub_s,
            "--experiment-slug",
            "jetstream-sim-three-branches",
            "-o",
            page.to_str().expect("utf-8"),
        ],
        &[],
    );
    success(report);
    let html = std::fs::read_to_string(&page).expect("report");
    assert!(html.contains("1 error and "), "no error banner");
    assert!(html.contains("metric broken"));
    assert!(html.contains(r#"id="m-0-0""#) && html.contains("Active hours"));
    let json = errors(&faulty, &["--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&json.stdout).expect("json");
    assert!(parsed.as_array().is_some_and(|a| !a.is_empty()));
    // Another experiment's rows only: none.
    let other = errors(&faulty, &["--experiment-slug", "jetstream-sim-fenix"]);
    assert_eq!(other.status.code(), Some(0), "{:?}", text(&other));
}
