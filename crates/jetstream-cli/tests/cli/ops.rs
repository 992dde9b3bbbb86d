//! The cluster path as an operator runs it: failures no analysis could log (a pod killed for
//! memory) reach the monitoring table through the workflow's exit handler, `errors` alerts on
//! them through a webhook, a date whose telemetry is late is not analysed, and the workflow's
//! containers export statistics, metadata and errors of every experiment to a bucket.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use jetstream_test_support::FakeServer;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::argo::simulated;
use super::reference::query;

/// `jetstream args…` with `env` (and none of the caller's JETSTREAM_* variables).
fn jetstream(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jetstream"));
    for (k, _) in std::env::vars() {
        if k.starts_with("JETSTREAM_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .env_remove("KUBERNETES_SERVICE_HOST");
    cmd.output().expect("run jetstream")
}

fn texts(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The workflow `jetstream-oom` as the Kubernetes API shows it once finished: the fenix
/// experiment's analysis on 2026-01-09 was killed for memory on all four attempts, the other
/// experiment's succeeded after one eviction.
fn oom_workflow() -> Value {
    let pod = |name: &str, phase: &str, slug: &str, message: &str| {
        json!({"name": name, "type": "Pod", "phase": phase, "templateName": "analyse",
               "message": message,
               "inputs": {"parameters": [{"name": "slug", "value": slug},
                                         {"name": "date", "value": "2026-01-09"}]}})
    };
    let mut nodes = serde_json::Map::new();
    for attempt in 0..4 {
        let name = format!("jetstream-oom[0].experiment[1].analyse({attempt})");
        nodes.insert(
            format!("n{attempt}"),
            pod(
                &name,
                "Failed",
                "jetstream-sim-fenix",
                "OOMKilled (exit code 137)",
            ),
        );
    }
    nodes.insert(
        "e0".into(),
        pod(
            "jetstream-oom[1].experiment[1].analyse(0)",
            "Failed",
            "jetstream-sim-two-branches",
            "The node was low on resource: memory.",
        ),
    );
    nodes.insert(
        "e1".into(),
        pod(
            "jetstream-oom[1].experiment[1].analyse(1)",
            "Succeeded",
            "jetstream-sim-two-branches",
            "",
        ),
    );
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
           "metadata": {"name": "jetstream-oom", "namespace": "argo"},
           "status": {"phase": "Succeeded", "finishedAt": "2026-01-10T05:00:00Z",
                      "nodes": nodes}})
}

fn kubeconfig(dir: &std::path::Path, server: &str) -> String {
    let file = dir.join("kubeconfig");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {server}\n\
             users:\n- name: fake\n  user:\n    token: fake-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n"
        ),
    )
    .unwrap();
    file.display().to_string()
}

/// Answers 500 the first `fail` times, then 200.
struct Flaky {
    fail: usize,
    seen: Arc<Mutex<usize>>,
}

impl Respond for Flaky {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut n = self.seen.lock().unwrap();
        *n += 1;
        if *n <= self.fail {
            ResponseTemplate::new(500).set_body_string("try later")
        } else {
            ResponseTemplate::new(200).set_body_string("ok")
        }
    }
}

#[test]
fn an_oom_killed_pod_is_one_error_row_then_one_alert() {
    let (dir, db, recipes) = simulated("ops-oom");
    let api = FakeServer::new();
    api.mount(
        Mock::given(method("GET"))
            .and(path(
                "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows/jetstream-oom",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(oom_workflow())),
    );
    let kube = kubeconfig(&dir, &api.uri());
    let exports = dir.join("exports");
    let exports_s = exports.display().to_string();
    let dir_s = dir.display().to_string();
    let log_failures = [
        "log-workflow-failures",
        "--workflow",
        "jetstream-oom",
        "--namespace",
        "argo",
        "--warehouse",
        &db,
        "--experiments-file",
        &recipes,
        "--output-dir",
        &exports_s,
        "--analysis-start-time",
        "2026-01-10T04:00:00Z",
        "--config-repos",
        &dir_s,
    ];
    let out = jetstream(&log_failures, &[("KUBECONFIG", &kube)]);
    let (stdout, stderr) = texts(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("1 failed steps logged (0 already there)"),
        "{stderr}"
    );
    // The exit handler may run again (its own retry; the follower too): no second row.
    let out = jetstream(&log_failures, &[("KUBECONFIG", &kube)]);
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("0 failed steps logged (1 already there)"),
        "{stderr}"
    );
    let rows = query(
        &db,
        "SELECT experiment, exception_type, log_level, message FROM monitoring.logs",
    );
    let rows = rows.as_array().expect("array");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["exception_type"], "PodOOMKilled");
    assert_eq!(rows[0]["log_level"], "ERROR");
    assert_eq!(rows[0]["experiment"], "jetstream-sim-fenix");
    let message = rows[0]["message"].as_str().unwrap();
    assert!(
        message.contains("on 2026-01-09")
            && message.contains("4 attempts")
            && message.contains("OOMKilled (exit code 137)"),
        "{message}"
    );
    // The experiment's errors object shows it (exported again by the exit handler).
    let errors: Value = serde_json::from_str(
        &std::fs::read_to_string(exports.join("errors/errors_jetstream_sim_fenix.json"))
            .expect("errors exported"),
    )
    .unwrap();
    assert_eq!(errors.as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors[0]["exception_type"], "PodOOMKilled");
    // `jetstream errors` lists it and exits 1.
    let out = jetstream(&["errors", "--warehouse", &db], &[]);
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("PodOOMKilled") && stdout.contains("jetstream-sim-fenix"),
        "{stdout}"
    );
    assert!(stderr.contains("1 errors, 0 warnings"), "{stderr}");

    // The alert: one POST with the counts, the experiment and the message.
    let hook = FakeServer::new();
    hook.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let url = format!("{}/services/T0/B0/s3cr3t", hook.uri());
    let out = jetstream(&["errors", "--warehouse", &db, "--notify", &url], &[]);
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("s3cr3t"),
        "the URL's secret is never printed: {stderr}"
    );
    let posts = hook.requests();
    assert_eq!(posts.len(), 1);
    let body: Value = serde_json::from_slice(&posts[0].body).expect("JSON body");
    let text = body["text"].as_str().expect("a text field");
    assert!(
        text.contains("1 error and 0 warnings")
            && text.contains("jetstream-sim-fenix (1)")
            && text.contains("[PodOOMKilled]")
            && text.contains("OOMKilled (exit code 137)"),
        "{text}"
    );
    assert_eq!(
        posts[0]
            .headers
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/json")
    );
    // The URL from the environment (where a secret belongs), given no value.
    let out = jetstream(
        &["errors", "--warehouse", &db, "--notify"],
        &[("JETSTREAM_NOTIFY_URL", &url)],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(hook.requests().len(), 2);
    let out = jetstream(&["errors", "--warehouse", &db, "--notify"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(texts(&out).1.contains("JETSTREAM_NOTIFY_URL"));

    // A 500 is retried.
    let flaky = FakeServer::new();
    let seen = Arc::new(Mutex::new(0));
    flaky.mount(Mock::given(method("POST")).respond_with(Flaky {
        fail: 1,
        seen: seen.clone(),
    }));
    let out = jetstream(
        &[
            "errors",
            "--warehouse",
            &db,
            "--notify",
            &format!("{}/hook", flaky.uri()),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", texts(&out).1);
    assert_eq!(*seen.lock().unwrap(), 2, "one 500, then delivered");

    // An unreachable server fails the step, loudly, naming the host only.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = jetstream(
        &[
            "errors",
            "--warehouse",
            &db,
            "--notify",
            &format!("http://127.0.0.1:{closed}/services/s3cr3t"),
        ],
        &[],
    );
    let (_, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("http://127.0.0.1:{closed}/…")) && stderr.contains("failed"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cr3t"), "{stderr}");
}

#[test]
fn warnings_alone_or_no_rows_send_no_alert() {
    let (_dir, db, _) = simulated("ops-clean");
    let hook = FakeServer::new();
    hook.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)));
    let url = format!("{}/hook", hook.uri());
    let out = jetstream(&["errors", "--warehouse", &db, "--notify", &url], &[]);
    let (_, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("nothing sent"), "{stderr}");
    assert!(hook.requests().is_empty());
}

/// A date whose telemetry has not landed: after the deadline, exit 1, one UpstreamDataMissing
/// row per experiment, and no result table.
#[test]
fn a_date_without_telemetry_waits_then_fails_with_nothing_written() {
    let (dir, db, recipes) = simulated("ops-late");
    // The recipes say the experiments run past the last simulated day (2026-01-28).
    let text = std::fs::read_to_string(&recipes).unwrap();
    let mut json: Value = serde_json::from_str(&text).unwrap();
    for e in json.as_array_mut().unwrap() {
        e["endDate"] = json!("2026-02-20");
    }
    std::fs::write(&recipes, json.to_string()).unwrap();
    let repo = dir.display().to_string();
    let started = std::time::Instant::now();
    let out = jetstream(
        &[
            "run",
            "--date",
            "2026-01-29",
            "--wait-for-data",
            "2",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &repo,
        ],
        &[],
    );
    let elapsed = started.elapsed();
    let (stdout, stderr) = texts(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        elapsed >= std::time::Duration::from_secs(2),
        "it waited: {elapsed:?}"
    );
    assert!(
        elapsed < std::time::Duration::from_secs(120),
        "ended soon after its deadline: {elapsed:?}"
    );
    let rows = query(
        &db,
        "SELECT experiment, message FROM monitoring.logs \
         WHERE exception_type = 'UpstreamDataMissing'",
    );
    let rows = rows.as_array().unwrap();
    assert!(!rows.is_empty());
    let experiments: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["experiment"].as_str().unwrap())
        .collect();
    assert_eq!(
        experiments.len(),
        rows.len(),
        "one row per experiment: {rows:?}"
    );
    assert!(
        rows.iter().all(|r| {
            let m = r["message"].as_str().unwrap();
            m.contains("no data for 2026-01-29 in sim_") && m.contains("(no rows)")
        }),
        "{rows:?}"
    );
    let tables = query(
        &db,
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mozanalysis'",
    );
    assert_eq!(tables, json!([]), "no result table");
}

/// The placeholders of a container command filled as Argo fills them.
fn fill(words: &Value, values: &[(String, String)]) -> Vec<String> {
    words
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let mut w = w.as_str().unwrap().to_string();
            for (k, v) in values {
                w = w.replace(&format!("{{{{{k}}}}}"), v);
            }
            assert!(!w.contains("{{"), "unfilled: {w}");
            w
        })
        .collect()
}

/// `run-argo --dry-run`'s workflow, run container by container for each experiment as Argo
/// would (results on DuckDB in place of BigQuery, the bucket on fake-gcs-server): every
/// experiment leaves its statistics, metadata and errors objects.
#[test]
#[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
fn the_workflow_exports_statistics_metadata_and_errors_of_every_experiment() {
    jetstream_test_support::required_env("STORAGE_EMULATOR_HOST");
    let (dir, db, recipes) = simulated("ops-export");
    let repo = format!("file://{}", dir.display());
    let cache = dir.join("config-cache").display().to_string();
    let bucket = "jetstream-ops-exports";
    let out = jetstream(
        &[
            "run-argo",
            "--dry-run",
            "--date",
            "2026-01-28",
            "--warehouse",
            "bigquery:moz-fx-data-experiments",
            "--experiments-file",
            &recipes,
            "--config-repos",
            &repo,
            "--config-cache",
            &cache,
            "--image-version",
            "v1",
            "--discrete-metrics",
            "--bucket",
            bucket,
        ],
        &[],
    );
    let (yaml, stderr) = texts(&out);
    assert!(out.status.success(), "{stderr}");
    let manifest = jetstream_job::argo::parse_workflow(&yaml).expect("a workflow");
    let params: Vec<(String, String)> = manifest["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                format!("workflow.parameters.{}", p["name"].as_str().unwrap()),
                p["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let template = |name: &str| {
        manifest["spec"]["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap_or_else(|| panic!("template {name}"))
            .clone()
    };
    // Each experiment's steps end with one export, after every date.
    let steps = template("experiment")["steps"].clone();
    let last = steps.as_array().unwrap().last().unwrap();
    assert_eq!(last[0]["template"], "export");
    assert_eq!(manifest["spec"]["onExit"], "log-failures");
    let gcs = jetstream_job::GcsBucket::from_env(bucket).expect("bucket");
    gcs.create_bucket("jetstream-test")
        .expect("create the bucket");
    let experiments: Value = serde_json::from_str(
        &params
            .iter()
            .find(|(k, _)| k.ends_with(".experiments"))
            .unwrap()
            .1,
    )
    .unwrap();
    let experiments = experiments.as_array().unwrap();
    assert!(!experiments.is_empty());
    for item in experiments {
        let slug = item["slug"].as_str().unwrap();
        let base: Vec<(String, String)> = params
            .iter()
            .cloned()
            .chain([
                ("inputs.parameters.slug".into(), slug.to_string()),
                (
                    "inputs.parameters.image".into(),
                    item["image"].as_str().unwrap().into(),
                ),
                (
                    "inputs.parameters.discrete_metrics".into(),
                    item["discrete_metrics"].as_str().unwrap().into(),
                ),
                (
                    "workflow.creationTimestamp".into(),
                    "2026-01-29T04:00:00Z".into(),
                ),
            ])
            .collect();
        // The container as Argo runs it, with the results on DuckDB instead of BigQuery.
        let run = |template_name: &str, extra: &[(String, String)]| {
            let mut values = base.clone();
            values.extend_from_slice(extra);
            let words = fill(&template(template_name)["container"]["command"], &values);
            let words: Vec<String> = words
                .into_iter()
                .map(|w| {
                    if w.starts_with("--warehouse=") {
                        format!("--warehouse={db}")
                    } else {
                        w
                    }
                })
                .collect();
            assert_eq!(words[0], "jetstream");
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            let out = jetstream(
                &args,
                &[
                    ("JETSTREAM_EXPERIMENTS_FILE", recipes.as_str()),
                    ("JETSTREAM_CONFIG_CACHE", cache.as_str()),
                ],
            );
            let (stdout, stderr) = texts(&out);
            assert!(out.status.success(), "{words:?}\n{stdout}\n{stderr}");
            stdout
        };
        run("ensure-enrollments", &[]);
        for date in item["dates"].as_array().unwrap() {
            run(
                "analyse",
                &[
                    (
                        "inputs.parameters.date".into(),
                        date.as_str().unwrap().into(),
                    ),
                    ("inputs.parameters.only_missing".into(), "false".into()),
                ],
            );
        }
        let out = run("export", &[]);
        let norm = slug.replace('-', "_");
        let listed = |prefix: &str| jetstream_job::OutputSink::list(&gcs, prefix).expect("list");
        assert!(
            listed("statistics/")
                .iter()
                .any(|k| k.starts_with(&format!("statistics/statistics_{norm}_"))),
            "{slug}: {out}"
        );
        assert!(
            listed("metadata/").contains(&format!("metadata/metadata_{norm}.json")),
            "{slug}: {out}"
        );
        assert!(
            listed("errors/").contains(&format!("errors/errors_{norm}.json")),
            "{slug}: {out}"
        );
    }
}
