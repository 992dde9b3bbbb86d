//! `run-argo` and `rerun --argo` end to end against a fake Kubernetes API server on 127.0.0.1,
//! found through `KUBECONFIG` as a real cluster would be: the workflow of the day's selection
//! is created, followed to its end, and the exit status and output tell a failed step.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::run::scratch;

struct Cluster {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    created: Arc<Mutex<Vec<Value>>>,
}

/// Answers a creation with the object sent (201), and keeps it.
struct Created(Arc<Mutex<Vec<Value>>>);

impl Respond for Created {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let object: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        self.0.lock().unwrap().push(object.clone());
        ResponseTemplate::new(201).set_body_json(object)
    }
}

/// Answers a read with the created workflow in phase `phase`, its pods as `pods`.
struct Finished {
    created: Arc<Mutex<Vec<Value>>>,
    phase: &'static str,
    pods: Vec<(&'static str, &'static str)>,
}

impl Respond for Finished {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let mut wf = self
            .created
            .lock()
            .unwrap()
            .last()
            .cloned()
            .unwrap_or_default();
        let name = wf["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let nodes: serde_json::Map<String, Value> = self
            .pods
            .iter()
            .enumerate()
            .map(|(i, (slug, phase))| {
                let id = format!("{name}[{i}].analyse(0)");
                (
                    id.clone(),
                    json!({"name": id, "type": "Pod", "phase": phase,
                    "templateName": "analyse", "message": "Error (exit code 1)",
                    "inputs": {"parameters": [{"name": "slug", "value": slug},
                                              {"name": "date", "value": "2026-01-09"}]}}),
                )
            })
            .collect();
        wf["status"] = json!({"phase": self.phase, "finishedAt": "2026-01-10T05:00:00Z",
                              "progress": "2/2", "nodes": nodes});
        ResponseTemplate::new(200).set_body_json(wf)
    }
}

/// Answers a list with every created workflow, each in phase `phase` (finished unless
/// Running).
struct Listed {
    created: Arc<Mutex<Vec<Value>>>,
    phase: &'static str,
}

impl Respond for Listed {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let items: Vec<Value> = self
            .created
            .lock()
            .unwrap()
            .iter()
            .map(|wf| {
                let mut wf = wf.clone();
                wf["status"] = json!({"phase": self.phase});
                if self.phase != "Running" {
                    wf["status"]["finishedAt"] = json!("2026-01-10T05:00:00Z");
                }
                wf
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowList", "metadata": {}, "items": items}))
    }
}

impl Cluster {
    fn start(phase: &'static str, pods: Vec<(&'static str, &'static str)>) -> Self {
        Self::start_listing(phase, pods, "Succeeded")
    }

    /// A fake whose list of workflows shows the created ones in phase `listed`.
    fn start_listing(
        phase: &'static str,
        pods: Vec<(&'static str, &'static str)>,
        listed: &'static str,
    ) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(MockServer::start());
        let created = Arc::new(Mutex::new(Vec::new()));
        let workflows = r"^/apis/argoproj.io/v1alpha1/namespaces/argo/workflows";
        runtime.block_on(
            Mock::given(method("POST"))
                .and(path_regex(format!("{workflows}$")))
                .respond_with(Created(created.clone()))
                .mount(&server),
        );
        runtime.block_on(
            Mock::given(method("GET"))
                .and(path_regex(format!("{workflows}$")))
                .respond_with(Listed {
                    created: created.clone(),
                    phase: listed,
                })
                .mount(&server),
        );
        runtime.block_on(
            Mock::given(method("GET"))
                .and(path_regex(format!("{workflows}/jetstream-[a-z0-9]{{5}}$")))
                .respond_with(Finished {
                    created: created.clone(),
                    phase,
                    pods,
                })
                .mount(&server),
        );
        Self {
            runtime,
            server,
            created,
        }
    }

    fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let file = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user:\n    token: fake-token\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n",
            self.server.uri()
        );
        std::fs::write(&file, text).unwrap();
        file
    }

    /// Status reads of one workflow (lists aside).
    fn gets(&self) -> usize {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "GET" && !r.url.path().ends_with("/workflows"))
            .count()
    }

    fn posts(&self) -> usize {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count()
    }
}

/// A simulated warehouse, its recipes and configs.
fn simulated(name: &str) -> (std::path::PathBuf, String, String) {
    let dir = scratch(name);
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    let out = super::jetstream(&[
        "simulate",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--clients",
        "200",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    super::git_configs(&dir);
    (dir.clone(), db, recipes.display().to_string())
}

fn run_argo(dir: &std::path::Path, kubeconfig: &std::path::Path, extra: &[&str]) -> Output {
    let db = format!("duckdb:{}", dir.join("db.duckdb").display());
    let recipes = dir.join("experiments.json");
    let repo = format!("file://{}", dir.display());
    let cache = dir.join("config-cache").display().to_string();
    let mut args = vec![
        "run-argo",
        "--date",
        "2026-01-09",
        "--warehouse",
        &db,
        "--experiments-file",
        recipes.to_str().unwrap(),
        "--config-repos",
        &repo,
        "--config-cache",
        &cache,
        "--image-version",
        "sha256:0123abcd",
        "--monitor-interval",
        "0.01",
        "--bucket",
        "none",
    ];
    args.extend_from_slice(extra);
    Command::new(env!("CARGO_BIN_EXE_jetstream"))
        .args(&args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .expect("run jetstream")
}

#[test]
fn run_argo_submits_follows_and_reports_a_failed_step() {
    let (dir, _, _) = simulated("argo-submit");
    let cluster = Cluster::start(
        "Failed",
        vec![
            ("jetstream-sim-two-branches", "Succeeded"),
            ("jetstream-sim-fenix", "Failed"),
        ],
    );
    let out = run_argo(&dir, &cluster.kubeconfig(&dir), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("submitted workflow jetstream-"), "{stdout}");
    assert!(stdout.contains("2 experiments"), "{stdout}");
    assert!(
        stdout.contains(
            "failed: analyse slug=jetstream-sim-fenix date=2026-01-09: Error (exit code 1)"
        ),
        "{stdout}"
    );
    // The workflow sent holds the day's selection: the three-branch experiment starts later.
    let sent = cluster.created.lock().unwrap()[0].clone();
    let experiments = sent["spec"]["arguments"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "experiments")
        .unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(experiments.contains("jetstream-sim-fenix"), "{experiments}");
    assert!(!experiments.contains("three-branches"), "{experiments}");
    // Labelled as the daily run of its date.
    assert_eq!(
        sent["metadata"]["labels"]["jetstream.mozilla.org/run"],
        "daily-2026-01-09"
    );
    // The current experiments were never analysed before the discrete-metrics cutover.
    assert!(
        experiments.contains("\"--discrete-metrics\""),
        "{experiments}"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn run_argo_exits_zero_when_every_step_succeeded_and_can_return_at_once() {
    let (dir, _, _) = simulated("argo-ok");
    let cluster = Cluster::start(
        "Succeeded",
        vec![
            ("jetstream-sim-two-branches", "Succeeded"),
            ("jetstream-sim-fenix", "Succeeded"),
        ],
    );
    let kubeconfig = cluster.kubeconfig(&dir);
    let out = run_argo(&dir, &kubeconfig, &["--return-status"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("succeeded"), "{stdout}");
    assert_eq!(cluster.gets(), 1);
    let out = run_argo(&dir, &kubeconfig, &["--no-monitor-status"]);
    assert!(out.status.success());
    assert_eq!(cluster.gets(), 1, "not followed");
    assert_eq!(cluster.created.lock().unwrap().len(), 2);
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn rerun_argo_dry_run_lists_every_date_and_deletes_nothing() {
    let (dir, db, recipes) = simulated("argo-rerun");
    let out = Command::new(env!("CARGO_BIN_EXE_jetstream"))
        .args([
            "rerun",
            "--argo",
            "--dry-run",
            "--experiment-slug",
            "jetstream-sim-fenix",
            "--until",
            "2026-01-12",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &format!("file://{}", dir.display()),
            "--config-cache",
            dir.join("config-cache").to_str().unwrap(),
            "--image-version",
            "v1",
            "--discrete-metrics",
        ])
        .output()
        .unwrap();
    let yaml = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{yaml}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(yaml.contains("kind: Workflow"), "{yaml}");
    assert!(yaml.contains("jetstream:v1"), "{yaml}");
    for date in ["2026-01-08", "2026-01-12"] {
        assert!(yaml.contains(date), "{date}: {yaml}");
    }
    let local = super::jetstream(&["rerun", "--dry-run", "--experiment-slug", "x"]);
    assert_eq!(local.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&local.stderr).contains("--argo"));
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn a_second_submission_of_the_same_day_follows_the_first() {
    let (dir, _, _) = simulated("argo-again");
    let cluster = Cluster::start_listing(
        "Succeeded",
        vec![("jetstream-sim-fenix", "Succeeded")],
        "Running",
    );
    // An earlier attempt created the day's workflow, still running.
    cluster.created.lock().unwrap().push(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": "jetstream-first", "namespace": "argo",
                     "labels": {"jetstream.mozilla.org/run": "daily-2026-01-09"}}}));
    let out = run_argo(&dir, &cluster.kubeconfig(&dir), &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("following the workflow already submitted"),
        "{stdout}"
    );
    assert_eq!(cluster.posts(), 0, "no second workflow");
    std::fs::remove_dir_all(dir).expect("cleanup");
}
