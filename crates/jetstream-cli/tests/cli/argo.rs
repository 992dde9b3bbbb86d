//! `run-argo` and `rerun --argo` end to end against a fake Kubernetes API server on 127.0.0.1,
//! found through `KUBECONFIG` as a real cluster would be: the workflow of the day's selection
//! is created, followed to its end, and the exit status and output tell a failed step.

use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::run::scratch;

pub(super) struct Cluster {
    runtime: tokio::runtime::Runtime,
    server: MockServer,
    pub(super) created: Arc<Mutex<Vec<Value>>>,
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

/// Answers a list with the created workflows that match the request's `labelSelector` (as a
/// real API server filters them), each in phase `phase` (finished unless Running).
struct Listed {
    created: Arc<Mutex<Vec<Value>>>,
    phase: &'static str,
}

impl Respond for Listed {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let selector: Option<(String, String)> = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "labelSelector")
            .and_then(|(_, v)| {
                let (k, v) = v.split_once('=')?;
                Some((k.to_string(), v.to_string()))
            });
        let items: Vec<Value> = self
            .created
            .lock()
            .unwrap()
            .iter()
            .filter(|wf| {
                selector
                    .as_ref()
                    .is_none_or(|(k, v)| wf["metadata"]["labels"][k] == v.as_str())
            })
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
    pub(super) fn start(phase: &'static str, pods: Vec<(&'static str, &'static str)>) -> Self {
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

    /// A workflow of the run labelled `run`, still running (an earlier submission).
    fn add_running(&self, name: &str, run: &str) {
        self.created.lock().unwrap().push(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
            "metadata": {"name": name, "namespace": "argo",
                         "labels": {"jetstream.mozilla.org/run": run}}}));
    }

    pub(super) fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
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

    pub(super) fn posts(&self) -> usize {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count()
    }
}

/// A simulated warehouse, its recipes and configs.
pub(super) fn simulated(name: &str) -> (jetstream_test_support::Scratch, String, String) {
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
    let recipes = recipes.display().to_string();
    (dir, db, recipes)
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
    cluster.add_running("jetstream-first", "daily-2026-01-09");
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
}

/// Labels by date *and* selection: a run for some slugs never follows the day's full run, nor
/// the other way round; the same selection submitted again follows the first.
#[test]
fn daily_and_targeted_runs_of_a_date_never_follow_each_other() {
    let (dir, _, _) = simulated("argo-targeted");
    let cluster = Cluster::start_listing(
        "Succeeded",
        vec![("jetstream-sim-fenix", "Succeeded")],
        "Running",
    );
    let kubeconfig = cluster.kubeconfig(&dir);
    let targeted = ["--experiment-slug", "jetstream-sim-fenix"];
    // A targeted run, still running: the daily run of the same date starts its own workflow.
    let out = run_argo(&dir, &kubeconfig, &targeted);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first =
        cluster.created.lock().unwrap()[0]["metadata"]["labels"]["jetstream.mozilla.org/run"]
            .as_str()
            .unwrap()
            .to_string();
    assert!(first.starts_with("targeted-2026-01-09-"), "{first}");
    let out = run_argo(&dir, &kubeconfig, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("submitted workflow"), "{stdout}");
    assert_eq!(
        cluster.posts(),
        2,
        "the daily run did not follow the targeted one"
    );
    assert_eq!(
        cluster.created.lock().unwrap()[1]["metadata"]["labels"]["jetstream.mozilla.org/run"],
        "daily-2026-01-09"
    );
    // Both running now: a targeted run of another selection starts its own too, and the
    // same selection again follows the first targeted run.
    let out = run_argo(
        &dir,
        &kubeconfig,
        &["--experiment-slug", "jetstream-sim-two-branches"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(cluster.posts(), 3, "another selection is another run");
    let out = run_argo(&dir, &kubeconfig, &targeted);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("following the workflow already submitted"),
        "{stdout}"
    );
    assert_eq!(cluster.posts(), 3, "the same selection follows");
}

/// The other direction: the daily run is running; a targeted run of that date starts its own.
#[test]
fn a_targeted_run_does_not_follow_the_daily_run() {
    let (dir, _, _) = simulated("argo-targeted-after-daily");
    let cluster = Cluster::start_listing(
        "Succeeded",
        vec![("jetstream-sim-fenix", "Succeeded")],
        "Running",
    );
    cluster.add_running("jetstream-daily", "daily-2026-01-09");
    let out = run_argo(
        &dir,
        &cluster.kubeconfig(&dir),
        &["--experiment-slug", "jetstream-sim-fenix"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("submitted workflow"), "{stdout}");
    assert_eq!(cluster.posts(), 1);
}

/// On merge, a config repository's CI reruns what changed on the cluster: exactly the changed
/// experiment, every date of its life, its tables deleted just before the workflow is
/// created, its errors exports starting at the rerun.
#[test]
fn rerun_config_changed_on_argo_submits_exactly_the_changed_experiment() {
    let (dir, db, recipes) = simulated("argo-changed");
    let repo = format!("file://{}", dir.display());
    let cache = dir.join("config-cache").display().to_string();
    let common = [
        "--warehouse",
        db.as_str(),
        "--experiments-file",
        recipes.as_str(),
        "--config-repos",
        repo.as_str(),
        "--config-cache",
        cache.as_str(),
        "--config-max-age",
        "0",
    ];
    let mut run = vec!["run", "--date", "2026-01-28"];
    run.extend_from_slice(&common);
    let out = super::jetstream(&run);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One experiment config changes after its results (git keeps whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let config = dir.join("jetstream/jetstream-sim-two-branches.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n# reviewed\n")).unwrap();
    super::git(&dir, &["commit", "-q", "-am", "edit"]);
    let tables = |db: &str| {
        super::reference::query(
            db,
            "SELECT table_name FROM information_schema.tables \
             WHERE table_name LIKE 'statistics_jetstream_sim_two_branches_%' ORDER BY 1",
        )
        .as_array()
        .expect("rows")
        .len()
    };
    assert!(tables(&db) > 1, "results before the rerun");
    let cluster = Cluster::start(
        "Succeeded",
        vec![("jetstream-sim-two-branches", "Succeeded")],
    );
    let mut rerun = vec![
        "rerun-config-changed",
        "--argo",
        "--until",
        "2026-01-28",
        "--image-version",
        "sha256:0123abcd",
        "--monitor-interval",
        "0.01",
        "--bucket",
        "none",
    ];
    rerun.extend_from_slice(&common);
    let out = Command::new(env!("CARGO_BIN_EXE_jetstream"))
        .args(&rerun)
        .env("KUBECONFIG", cluster.kubeconfig(&dir))
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("jetstream-sim-two-branches: its experiment config changed"),
        "{stderr}"
    );
    assert_eq!(cluster.posts(), 1);
    let sent = cluster.created.lock().unwrap()[0].clone();
    let param = |name: &str| {
        sent["spec"]["arguments"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()["value"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let items: Value = serde_json::from_str(&param("experiments")).unwrap();
    let items = items.as_array().unwrap();
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["slug"], "jetstream-sim-two-branches");
    let dates = items[0]["dates"].as_array().unwrap();
    assert_eq!(dates.first().unwrap(), "2026-01-08");
    assert_eq!(dates.last().unwrap(), "2026-01-28");
    assert!(
        !param("errors_since").is_empty(),
        "a rerun's errors start with it"
    );
    // Not a daily run: never followed by, nor following, the day's workflow.
    assert!(sent["metadata"]["labels"]["jetstream.mozilla.org/run"].is_null());
    // Deleted just before the workflow was created (the pods write them again).
    assert_eq!(
        tables(&db),
        0,
        "the rerun's tables were deleted before submitting"
    );
}
