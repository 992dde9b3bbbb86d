//! Hostile configs and operator mistakes (issue 14's probes), through the binary: nothing read
//! that should not be, nothing published shrunk, no false all-clear.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::argo::simulated;
use super::reference::query;
use super::run::scratch;

/// The binary under test: this build's, or `JETSTREAM_TEST_BIN` (another build, e.g. the one
/// before a fix, to show that these tests fail on it).
fn bin() -> PathBuf {
    std::env::var_os("JETSTREAM_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_jetstream")))
}

/// `jetstream args…` with `env`, none of the caller's JETSTREAM_* variables, and a log spool
/// of the test's own (`dir/spool`).
fn jetstream_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    for (k, _) in std::env::vars() {
        if k.starts_with("JETSTREAM_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env("JETSTREAM_LOG_SPOOL", dir.join("spool"))
        .envs(env.iter().copied());
    cmd.output().expect("run jetstream")
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The common options of a run over the simulated warehouse of `dir`.
fn on(dir: &Path, db: &str, recipes: &str) -> Vec<String> {
    [
        "--warehouse",
        db,
        "--experiments-file",
        recipes,
        "--config-repos",
        &dir.display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn args<'a>(first: &[&'a str], rest: &'a [String]) -> Vec<&'a str> {
    first
        .iter()
        .copied()
        .chain(rest.iter().map(String::as_str))
        .collect()
}

/// Rows of every exported statistics file under `dir/statistics`.
fn exported_rows(dir: &Path) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir.join("statistics")) else {
        return out;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json") || name.starts_with('.') {
            continue;
        }
        let rows: Value =
            serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
        out.insert(name, rows.as_array().map_or(0, Vec::len));
    }
    out
}

/// kill -9 of a rerun at ten points spread over its run, each followed by an ordinary run:
/// no exported statistics file ever has fewer rows than before the rerun began, and the
/// interrupted rerun is completed (said so) by the run.
#[test]
fn an_interrupted_rerun_never_shrinks_the_published_results() {
    let (dir, db, recipes) = simulated("hostile-rerun");
    // Daily windows too: one per date, so that an interrupted rerun leaves a daily view with
    // fewer windows than the published one.
    let config = dir.join("jetstream/jetstream-sim-two-branches.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("[metrics]\n", "[metrics]\ndaily = [\"uri_count\"]\n", 1),
    )
    .unwrap();
    let common = on(&dir, &db, &recipes);
    let exports = dir.join("exports");
    let exports_s = exports.display().to_string();
    let slug = "jetstream-sim-two-branches";
    let rerun = args(
        &[
            "rerun",
            "--experiment-slug",
            slug,
            "--until",
            "2026-01-28",
            "--output-dir",
            &exports_s,
        ],
        &common,
    );
    let run = args(
        &[
            "run",
            "--date",
            "2026-01-28",
            "--experiment-slug",
            slug,
            "--output-dir",
            &exports_s,
        ],
        &common,
    );
    let started = std::time::Instant::now();
    let out = jetstream_in(&dir, &rerun, &[]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let whole = started.elapsed();
    let before = exported_rows(&exports);
    assert!(before.len() >= 3, "{before:?}");
    let points: u32 = std::env::var("JETSTREAM_KILL_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut completed = 0;
    for k in 1..=points {
        let mut child = Command::new(bin())
            .args(&rerun)
            .env("JETSTREAM_LOG_SPOOL", dir.join("spool"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rerun starts");
        std::thread::sleep(whole.mul_f64(f64::from(k) / f64::from(points + 1)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        let out = jetstream_in(&dir, &run, &[]);
        let (stdout, stderr) = texts(&out);
        if stdout.contains("completing the rerun begun at") {
            completed += 1;
        }
        let after = exported_rows(&exports);
        for (file, rows) in &before {
            let now = after.get(file).copied().unwrap_or(0);
            assert!(
                now >= *rows,
                "kill point {k}/{points}: {file} has {now} rows, {rows} before the rerun\n\
                 {stdout}\n{stderr}"
            );
        }
    }
    assert!(completed > 0, "some kill left a rerun to complete");
    // Nothing is left to complete.
    let out = jetstream_in(&dir, &run, &[]);
    assert!(!texts(&out).0.contains("completing the rerun"));
    assert_eq!(exported_rows(&exports), before);
}

/// A config's SQL cannot read a local file (nor attach, write or install anything): its
/// content reaches neither the output, nor the monitoring table, nor the errors export.
#[test]
fn config_sql_cannot_read_local_files() {
    let (dir, db, recipes) = simulated("hostile-read");
    let secret = dir.join("secret.csv");
    std::fs::write(&secret, "TOPSECRET42\n").unwrap();
    let config = dir.join("jetstream/jetstream-sim-two-branches.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replacen("overall = [", "overall = [\"leak\", ", 1)
        + &format!(
            "\n[data_sources.leak]\nexperiments_column_type = \"none\"\nfrom_expression = \
             \"(SELECT client_id, submission_date, s.column0 AS secret FROM \
             mozdata.telemetry.clients_daily, read_csv('{}', header = false) s)\"\n\n\
             [metrics.leak]\ndata_source = \"leak\"\nselect_expression = \
             \"SUM(CAST(secret AS INT64))\"\n[metrics.leak.statistics.bootstrap_mean]\n",
            secret.display()
        );
    std::fs::write(&config, text).unwrap();
    let exports = dir.join("exports").display().to_string();
    let common = on(&dir, &db, &recipes);
    let out = jetstream_in(
        &dir,
        &args(
            &[
                "run",
                "--date",
                "2026-01-28",
                "--experiment-slug",
                "jetstream-sim-two-branches",
                "--output-dir",
                &exports,
            ],
            &common,
        ),
        &[],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the metric fails: {stdout}\n{stderr}"
    );
    let logged = query(&db, "SELECT message FROM monitoring.logs").to_string();
    let errors =
        std::fs::read_to_string(dir.join("exports/errors/errors_jetstream_sim_two_branches.json"))
            .unwrap();
    for (what, text) in [
        ("stdout", &stdout),
        ("stderr", &stderr),
        ("logs", &logged),
        ("errors export", &errors),
    ] {
        assert!(
            !text.contains("TOPSECRET42"),
            "{what} shows the file: {text}"
        );
    }
    assert!(
        logged.contains("file system operations are disabled"),
        "refused by DuckDB: {logged}"
    );
    // Nor can `query` (a read-only command) read it.
    let out = jetstream_in(
        &dir,
        &[
            "query",
            "--warehouse",
            &db,
            &format!("SELECT * FROM read_csv('{}')", secret.display()),
        ],
        &[],
    );
    assert_ne!(out.status.code(), Some(0));
    assert!(!texts(&out).0.contains("TOPSECRET42"));
}

/// A mistyped warehouse path is an error naming it for every command that only reads — never
/// a new empty database and a false "0 errors".
#[test]
fn read_only_commands_refuse_a_missing_warehouse_and_create_nothing() {
    let dir = scratch("hostile-missing");
    let missing = dir.join("mistyped/path.duckdb");
    let wh = format!("duckdb:{}", missing.display());
    let report = dir.join("r.html").display().to_string();
    let out_dir = dir.join("out").display().to_string();
    for cmd in [
        vec!["errors", "--warehouse", &wh],
        vec![
            "report",
            "--warehouse",
            &wh,
            "--experiment-slug",
            "x",
            "-o",
            &report,
            "--config-repos",
            &out_dir,
        ],
        vec!["query", "--warehouse", &wh, "SELECT 1 AS one"],
        vec![
            "export-statistics-to-json",
            "--warehouse",
            &wh,
            "--experiment-slug",
            "x",
            "--output-dir",
            &out_dir,
        ],
    ] {
        let out = jetstream_in(&dir, &cmd, &[]);
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{cmd:?}: {stderr}");
        assert!(
            stderr.contains(&missing.display().to_string()) && stderr.contains("no such warehouse"),
            "{cmd:?}: {stderr}"
        );
    }
    assert!(!dir.join("mistyped").exists(), "nothing created");
    assert!(!Path::new(&report).exists(), "no empty report");
}

/// On a read-only mount, the commands that only read work.
#[test]
fn read_only_commands_work_on_a_read_only_file_system() {
    let (dir, db, recipes) = simulated("hostile-ro");
    let common = on(&dir, &db, &recipes);
    let out = jetstream_in(&dir, &args(&["run", "--date", "2026-01-28"], &common), &[]);
    assert!(out.status.success(), "{}", texts(&out).1);
    let elsewhere = scratch("hostile-ro-out");
    let dir_s = dir.display().to_string();
    let report = elsewhere.join("r.html").display().to_string();
    let exports = elsewhere.join("exports").display().to_string();
    // The warehouse's folder mounted read-only in a mount namespace of the command's own.
    let ro = |cmd: &[&str]| {
        let script = "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" \"$1\" && \
                      shift && exec \"$@\""
            .to_string();
        let mut all = vec![
            "-rm".to_string(),
            "sh".into(),
            "-c".into(),
            script,
            "ro".into(),
            dir.display().to_string(),
            bin().display().to_string(),
        ];
        all.extend(cmd.iter().map(|s| s.to_string()));
        Command::new("unshare")
            .args(&all)
            .env("JETSTREAM_LOG_SPOOL", elsewhere.join("spool"))
            .output()
            .expect("unshare runs")
    };
    // The mount is read-only indeed.
    let probe = ro(&["query", "--warehouse", &db, "SELECT 1 AS one"]);
    assert!(probe.status.success(), "{}", texts(&probe).1);
    for cmd in [
        vec!["errors", "--warehouse", db.as_str()],
        vec![
            "report",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &dir_s,
            "--experiment-slug",
            "jetstream-sim-two-branches",
            "-o",
            &report,
        ],
        vec![
            "query",
            "--warehouse",
            &db,
            "SELECT COUNT(*) AS n FROM mozanalysis.statistics_jetstream_sim_two_branches_overall",
        ],
        vec![
            "export-statistics-to-json",
            "--warehouse",
            &db,
            "--experiment-slug",
            "jetstream-sim-two-branches",
            "--output-dir",
            &exports,
        ],
    ] {
        let out = ro(&cmd);
        let (stdout, stderr) = texts(&out);
        assert!(
            out.status.success(),
            "{cmd:?} on a read-only mount:\n{stdout}\n{stderr}"
        );
    }
    assert!(Path::new(&report).is_file());
    assert!(
        elsewhere
            .join("exports/statistics/statistics_jetstream_sim_two_branches_overall.json")
            .is_file()
    );
    // And the same mount refuses a write (the check above is no accident).
    let write = Command::new("unshare")
        .args([
            "-rm",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" \"$1\" && touch \"$1/x\"",
            "ro",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!write.status.success());
    std::fs::remove_dir_all(elsewhere).expect("cleanup");
}

/// Recipes the boundary refuses, each with a reason: a duplicated slug (neither copy is
/// analysed), a slug longer than the sinks accept, a reference branch that is no branch, and
/// control characters that must not reach the terminal raw.
#[test]
fn duplicate_long_and_odd_recipes_are_refused_with_reasons() {
    let (dir, db, recipes) = simulated("hostile-recipes");
    let text = std::fs::read_to_string(&recipes).unwrap();
    let mut list: Vec<Value> = serde_json::from_str(&text).unwrap();
    let two = list
        .iter()
        .find(|r| r["slug"] == "jetstream-sim-two-branches")
        .unwrap()
        .clone();
    // The same slug twice.
    list.push(two.clone());
    // 300 characters.
    let mut long = two.clone();
    long["slug"] = json!("x".repeat(300));
    list.push(long);
    // A reference branch that is not one of the branches.
    let mut odd = list
        .iter()
        .find(|r| r["slug"] == "jetstream-sim-three-branches")
        .unwrap()
        .clone();
    odd["slug"] = json!("odd-reference");
    odd["referenceBranch"] = json!("nope");
    list.push(odd);
    // Escape sequences and a newline in a slug.
    let mut evil = two.clone();
    evil["slug"] = json!("evil\u{1b}[31m\nFORGED LINE");
    list.push(evil);
    std::fs::write(&recipes, serde_json::to_string(&list).unwrap()).unwrap();
    let recipes = recipes.to_string();
    let common = on(&dir, &db, &recipes);
    let out = jetstream_in(&dir, &args(&["run", "--date", "2026-01-28"], &common), &[]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 recipes have the slug jetstream-sim-two-branches"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("jetstream-sim-two-branches 2026-01-28: mozanalysis.statistics_"),
        "a duplicated slug is not analysed: {stdout}"
    );
    assert!(
        stdout.contains("at most 120"),
        "the long slug names the limit: {stdout}"
    );
    assert!(
        stdout.contains("\"nope\" is not one of the branches"),
        "{stdout}"
    );
    // The others still run.
    assert!(
        stdout.contains("jetstream-sim-fenix 2026-01-28: mozanalysis.statistics_"),
        "{stdout}"
    );
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(
            !text.contains('\u{1b}'),
            "{what} carries an escape: {text:?}"
        );
        assert!(
            !text.lines().any(|l| l.starts_with("FORGED LINE")),
            "{what} has a forged line: {text}"
        );
    }
    assert!(stdout.contains("evil\\u{1b}[31m\\nFORGED LINE"), "{stdout}");
}

/// A template that loops for ever stops on its fuel: its experiment fails naming the file,
/// the others are analysed, and validate-config ends with the same error.
#[test]
fn a_looping_template_fails_its_experiment_only() {
    let (dir, db, recipes) = simulated("hostile-loop");
    let config = dir.join("jetstream/jetstream-sim-fenix.toml");
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "overall = [",
        "overall = [\"spin\", ",
        1,
    );
    std::fs::write(
        &config,
        text + "\n[metrics.spin]\ndata_source = \"sim_baseline\"\nselect_expression = \
                \"{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}\
                {% endfor %}COUNT(*)\"\n[metrics.spin.statistics.bootstrap_mean]\n",
    )
    .unwrap();
    let common = on(&dir, &db, &recipes);
    let started = std::time::Instant::now();
    let out = jetstream_in(&dir, &args(&["run", "--date", "2026-01-28"], &common), &[]);
    let (stdout, stderr) = texts(&out);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(300),
        "no hang"
    );
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("jetstream-sim-fenix: FAILED")
            && stdout.contains("jetstream-sim-fenix.toml"),
        "{stdout}"
    );
    assert!(
        stdout.contains("jetstream-sim-two-branches 2026-01-28: mozanalysis.statistics_"),
        "the others run: {stdout}"
    );
    let out = jetstream_in(
        &dir,
        &[
            "validate-config",
            "--config-repos",
            &dir.display().to_string(),
            config.to_str().unwrap(),
        ],
        &[],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("jetstream-sim-fenix.toml"), "{stdout}");
}

/// Numeric options and input sizes have bounds, checked before anything runs.
#[test]
fn options_and_inputs_are_bounded_before_anything_runs() {
    let dir = scratch("hostile-bounds");
    let dir_s = dir.display().to_string();
    let wh = format!("duckdb:{}", dir.join("w.duckdb").display());
    for (option, value, says) in [
        ("--processes", "1500", "256"),
        ("--parallel", "100", "64"),
        ("--catch-up", "1000", "90"),
        ("--api-timeout", "0", "3600"),
        ("--log-table-id", "logs; DROP", "letters, digits"),
        ("--log-dataset-id", "mon-itoring", "letters, digits"),
        ("--dataset-id", "a.b", "letters, digits"),
    ] {
        let out = jetstream_in(
            &dir,
            &[
                "run",
                "--warehouse",
                &wh,
                "--config-repos",
                &dir_s,
                option,
                value,
            ],
            &[],
        );
        let (_, stderr) = texts(&out);
        assert_eq!(out.status.code(), Some(2), "{option} {value}: {stderr}");
        assert!(
            stderr.contains(says) && stderr.contains(option),
            "{option} {value}: {stderr}"
        );
    }
    assert!(
        !dir.join("w.duckdb").exists(),
        "refused before anything ran"
    );
    // A recipe file far beyond any payload: refused by its size, not read.
    let big = dir.join("huge.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(600 << 20)
        .unwrap();
    let out = jetstream_in(
        &dir,
        &[
            "run",
            "--warehouse",
            &wh,
            "--config-repos",
            &dir_s,
            "--experiments-file",
            big.to_str().unwrap(),
        ],
        &[],
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("629145600 bytes") && stderr.contains("at most"),
        "{stderr}"
    );
}

/// Log rows the monitoring table refuses (here: DuckDB out of memory) go to the spool:
/// `errors` shows them and fails, and the next run delivers them.
#[test]
fn refused_log_rows_wait_in_the_spool_and_are_delivered() {
    let (dir, db, recipes) = simulated("hostile-spool");
    let common = on(&dir, &db, &recipes);
    let out = jetstream_in(
        &dir,
        &args(
            &["run", "--date", "2026-01-28", "--memory-limit", "1MB"],
            &common,
        ),
        &[],
    );
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let spool = dir.join("spool");
    let spooled = walk(&spool);
    assert!(!spooled.is_empty(), "rows in the spool: {stderr}");
    // `errors` sees them even though the table does not hold them.
    let out = jetstream_in(&dir, &["errors", "--warehouse", &db], &[]);
    let (stdout, _) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("not in the monitoring table yet"),
        "{stdout}"
    );
    // The next run (with memory) delivers them, then nothing is left.
    let out = jetstream_in(&dir, &args(&["run", "--date", "2026-01-27"], &common), &[]);
    assert!(out.status.success(), "{}", texts(&out).1);
    assert!(walk(&spool).is_empty(), "delivered");
    let rows = query(&db, "SELECT COUNT(*) AS n FROM monitoring.logs");
    assert!(rows[0]["n"].as_i64().unwrap() > 0, "{rows}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else if e.path().extension().is_some_and(|x| x == "jsonl") {
            out.push(e.path());
        }
    }
    out
}

/// Redirected output carries no colour codes; every failure names its reason (a dry run's
/// planning failures go to stderr, beside the manifest on stdout).
#[test]
fn redirected_logs_have_no_colours_and_failures_have_reasons() {
    let (dir, db, recipes) = simulated("hostile-colours");
    std::fs::write(
        dir.join("jetstream/jetstream-sim-fenix.toml"),
        "[metrics]\nweekly = [\"no_such_metric\"]\n",
    )
    .unwrap();
    super::git(&dir, &["commit", "-q", "-am", "break fenix"]);
    let out = jetstream_in(
        &dir,
        &[
            "run-argo",
            "--dry-run",
            "--date",
            "2026-01-28",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &format!("file://{}", dir.display()),
            "--config-cache",
            dir.join("cache").to_str().unwrap(),
            "--image-version",
            "v1",
            "--discrete-metrics",
        ],
        &[],
    );
    let (yaml, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(yaml.contains("kind: Workflow"));
    assert!(
        stderr.contains("jetstream-sim-fenix: FAILED") && stderr.contains("no_such_metric"),
        "the reason is printed: {stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "no colour codes: {stderr:?}");
}
