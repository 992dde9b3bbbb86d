//! Submitting and watching workflows against a fake Kubernetes API server on 127.0.0.1
//! (wiremock), reached through a kubeconfig as a real cluster would be: creation, status
//! polling to Succeeded or Failed, retried pods, name clashes, refused credentials (the token
//! is never printed), timeouts and 5xx retried, and exactly-once creation across retries.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use jetstream_argo::{
    ArgoCluster, CloudError, CloudErrorKind, ClusterError, ClusterOptions, GkeCluster, GkeEndpoint,
    GoogleCloud, RUN_TEMPLATE, WorkflowParams, cluster::Retry, render,
};
use jetstream_test_support::FakeServer;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

const TOKEN: &str = "s3cr3t-token-never-printed";
const WORKFLOWS: &str = "/apis/argoproj.io/v1alpha1/namespaces/argo/workflows";

/// The fake API server, on its own runtime (the cluster client has its own, blocking one),
/// and a scratch folder for its kubeconfig.
struct Fake {
    server: FakeServer,
    dir: jetstream_test_support::Scratch,
}

impl Fake {
    fn start(name: &str) -> Self {
        Self {
            server: FakeServer::new(),
            dir: jetstream_test_support::scratch(&format!("argo-{name}")),
        }
    }

    fn mount(&self, mock: Mock) {
        self.server.mount(mock);
    }

    /// A kubeconfig pointing at the fake, with a bearer token.
    fn kubeconfig(&self) -> std::path::PathBuf {
        let file = self.dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
             clusters:\n- name: fake\n  cluster:\n    server: {}\n\
             users:\n- name: fake\n  user:\n    token: {TOKEN}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n",
            self.server.uri()
        );
        std::fs::write(&file, text).unwrap();
        file
    }

    fn options(&self) -> ClusterOptions {
        let mut options = ClusterOptions::from_env(gke());
        options.kubeconfig = Some(self.kubeconfig().into_os_string());
        options.in_cluster = false;
        options.request_timeout = Duration::from_millis(500);
        options.retry = Retry {
            attempts: 3,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        };
        options
    }

    fn connect(&self) -> ArgoCluster {
        ArgoCluster::connect(&self.options(), Arc::new(NoGoogle)).expect("connect")
    }

    fn requests(&self, http_method: &str) -> Vec<Request> {
        self.server
            .requests()
            .into_iter()
            .filter(|r| r.method.as_str() == http_method)
            .collect()
    }
}

fn gke() -> GkeCluster {
    GkeCluster {
        project: "p".into(),
        zone: "us-central1-a".into(),
        cluster_id: "jetstream".into(),
    }
}

/// Google is not used by kubeconfig connections.
struct NoGoogle;

#[async_trait::async_trait]
impl GoogleCloud for NoGoogle {
    async fn access_token(&self) -> Result<String, CloudError> {
        Err(CloudError::new(
            CloudErrorKind::Credentials,
            "NoGoogle",
            "not used",
        ))
    }
    async fn gke_endpoint(&self, _: &GkeCluster) -> Result<GkeEndpoint, CloudError> {
        Err(CloudError::new(
            CloudErrorKind::Invalid,
            "NoGoogle",
            "not used",
        ))
    }
}

/// A fake Google: a token, and the GKE cluster at `endpoint`.
struct FakeGoogle {
    endpoint: String,
}

#[async_trait::async_trait]
impl GoogleCloud for FakeGoogle {
    async fn access_token(&self) -> Result<String, CloudError> {
        Ok("google-token".into())
    }
    async fn gke_endpoint(&self, cluster: &GkeCluster) -> Result<GkeEndpoint, CloudError> {
        assert_eq!(cluster, &gke());
        Ok(GkeEndpoint {
            endpoint: self.endpoint.clone(),
            ca_certificate: "unused-over-http".into(),
        })
    }
}

/// Answers a creation with the object it was sent (201), as the API server does; keeps it.
struct Created(Arc<Mutex<Option<Value>>>);

impl Respond for Created {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let object: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        *self.0.lock().unwrap() = Some(object.clone());
        ResponseTemplate::new(201).set_body_json(object)
    }
}

/// Answers a read with the object created earlier.
struct Stored(Arc<Mutex<Option<Value>>>);

impl Respond for Stored {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        match self.0.lock().unwrap().clone() {
            Some(object) => ResponseTemplate::new(200).set_body_json(object),
            None => ResponseTemplate::new(404).set_body_json(status_body(404, "NotFound", "gone")),
        }
    }
}

fn status_body(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code,
           "reason": reason, "message": message})
}

fn manifest() -> Value {
    let item = jetstream_argo::ExperimentItem {
        slug: "my-exp".into(),
        dates: vec![chrono::NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()],
        catch_up: Vec::new(),
        image: "gcr.io/p/jetstream:1".into(),
        discrete_metrics: true,
    };
    render(RUN_TEMPLATE, &WorkflowParams::new("p", vec![item])).unwrap()
}

fn workflow(name: &str, phase: &str, finished: bool, nodes: Value) -> Value {
    let mut status = json!({"phase": phase, "progress": "1/2", "nodes": nodes});
    if finished {
        status["finishedAt"] = json!("2026-12-01T05:00:00Z");
    }
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
           "metadata": {"name": name, "namespace": "argo"}, "status": status})
}

fn pod(name: &str, phase: &str, template: &str, slug: &str) -> Value {
    json!({"id": name, "name": name, "displayName": template, "type": "Pod", "phase": phase,
           "templateName": template, "message": if phase == "Failed" { "Error (exit code 1)" } else { "" },
           "inputs": {"parameters": [{"name": "slug", "value": slug},
                                     {"name": "date", "value": "2026-11-30"}]}})
}

#[test]
fn create_201_then_running_then_succeeded() {
    let fake = Fake::start("ok");
    let stored = Arc::new(Mutex::new(None));
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .and(header("authorization", format!("Bearer {TOKEN}").as_str()))
            .respond_with(Created(stored.clone())),
    );
    let cluster = fake.connect();
    let name = cluster.submit(&manifest()).expect("submitted");
    assert!(
        name.starts_with("jetstream-") && name.len() == "jetstream-".len() + 5,
        "{name}"
    );
    let sent = stored.lock().unwrap().clone().unwrap();
    assert_eq!(sent["kind"], "Workflow");
    assert_eq!(sent["metadata"]["name"], name.as_str());
    assert!(sent["metadata"].get("generateName").is_none());
    let one = format!("{WORKFLOWS}/{name}");
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(workflow(
                &name,
                "Running",
                false,
                json!({}),
            )))
            .up_to_n_times(2)
            .with_priority(1),
    );
    let done = workflow(
        &name,
        "Succeeded",
        true,
        json!({"a": pod(&format!("{name}[0].analyse(0)"), "Succeeded", "analyse", "my-exp")}),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(done))
            .with_priority(2),
    );
    let mut phases = Vec::new();
    let status = cluster
        .wait(
            &name,
            Duration::from_millis(10),
            Duration::from_secs(5),
            &mut |s| phases.push(s.phase.to_string()),
        )
        .expect("watched");
    assert!(status.succeeded(), "{status:?}");
    assert_eq!(phases, ["Running", "Succeeded"]);
    assert_eq!(fake.requests("GET").len(), 3);
}

#[test]
fn a_failed_pod_fails_the_run_and_is_named_but_a_retried_one_does_not() {
    let fake = Fake::start("failed");
    let cluster = fake.connect();
    let failed = workflow(
        "jetstream-abcde",
        "Failed",
        true,
        json!({
            "a": pod("jetstream-abcde[0].analyse(0)", "Failed", "analyse", "broken-exp"),
            "b": pod("jetstream-abcde[0].analyse(1)", "Failed", "analyse", "broken-exp"),
            "c": pod("jetstream-abcde[1].analyse(0)", "Failed", "analyse", "flaky-exp"),
            "d": pod("jetstream-abcde[1].analyse(1)", "Succeeded", "analyse", "flaky-exp"),
            "e": pod("jetstream-abcde[2].export(0)", "Succeeded", "export", "fine-exp"),
        }),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(format!("{WORKFLOWS}/jetstream-abcde")))
            .respond_with(ResponseTemplate::new(200).set_body_json(failed)),
    );
    let status = cluster
        .wait(
            "jetstream-abcde",
            Duration::from_millis(10),
            Duration::from_secs(5),
            &mut |_| {},
        )
        .unwrap();
    assert!(!status.succeeded());
    let steps: Vec<String> = status
        .failed_steps
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        steps,
        ["analyse slug=broken-exp date=2026-11-30: Error (exit code 1) (after 2 attempts)"]
    );
}

#[test]
fn a_name_clash_is_a_conflict() {
    let fake = Fake::start("conflict");
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .respond_with(ResponseTemplate::new(409).set_body_json(status_body(
                409,
                "AlreadyExists",
                "workflows.argoproj.io \"x\" already exists",
            ))),
    );
    let mut m = manifest();
    m["metadata"]["name"] = json!("jetstream-fixed");
    let err = fake.connect().submit(&m).unwrap_err();
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err:?}");
    assert!(err.to_string().contains("jetstream-fixed"), "{err}");
    assert_eq!(fake.requests("POST").len(), 1, "a conflict is not retried");
}

#[test]
fn refused_credentials_are_clear_and_never_print_the_token() {
    for (code, reason) in [(401, "Unauthorized"), (403, "Forbidden")] {
        let fake = Fake::start(&format!("auth{code}"));
        fake.mount(
            Mock::given(method("POST"))
                .and(path(WORKFLOWS))
                .respond_with(ResponseTemplate::new(code).set_body_json(status_body(
                    code,
                    reason,
                    "workflows.argoproj.io is forbidden: User \"system:anonymous\" cannot create",
                ))),
        );
        let cluster = fake.connect();
        let err = cluster.submit(&manifest()).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ClusterError::Unauthorized { .. }), "{err:?}");
        assert!(
            text.contains(&code.to_string()) && text.contains("rbac.yaml"),
            "{text}"
        );
        for shown in [text, format!("{err:?}"), format!("{cluster:?}")] {
            assert!(!shown.contains(TOKEN), "token printed: {shown}");
        }
        assert_eq!(fake.requests("POST").len(), 1, "{code} is not retried");
    }
}

#[test]
fn timeouts_and_server_errors_are_retried() {
    let fake = Fake::start("retry");
    let stored = Arc::new(Mutex::new(None));
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .respond_with(ResponseTemplate::new(503).set_body_string("upstream connect error"))
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .respond_with(Created(stored.clone()))
            .with_priority(2),
    );
    let cluster = fake.connect();
    let name = cluster.submit(&manifest()).expect("second attempt");
    assert_eq!(fake.requests("POST").len(), 2);
    // A status read that times out once is retried.
    let one = format!("{WORKFLOWS}/{name}");
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(workflow(&name, "Running", false, json!({})))
                    .set_delay(Duration::from_secs(3)),
            )
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(workflow(
                &name,
                "Succeeded",
                true,
                json!({}),
            )))
            .with_priority(2),
    );
    let status = cluster.status(&name).expect("retried read");
    assert!(status.succeeded());
    // Retries run out: the error says how many attempts and the last failure.
    let fake = Fake::start("exhausted");
    fake.mount(Mock::given(method("GET")).respond_with(
        ResponseTemplate::new(500).set_body_json(status_body(500, "InternalError", "etcd down")),
    ));
    let err = fake.connect().status("jetstream-x").unwrap_err();
    assert!(
        matches!(err, ClusterError::Exhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("etcd down"), "{err}");
}

#[test]
fn a_creation_whose_answer_was_lost_is_not_created_twice() {
    let fake = Fake::start("lost");
    let stored = Arc::new(Mutex::new(None));
    // The first creation succeeds on the server, but its answer comes too late.
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .respond_with(DelayedCreated(stored.clone()))
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("POST"))
            .and(path(WORKFLOWS))
            .respond_with(ResponseTemplate::new(409).set_body_json(status_body(
                409,
                "AlreadyExists",
                "exists",
            )))
            .with_priority(2),
    );
    fake.mount(Mock::given(method("GET")).respond_with(Stored(stored.clone())));
    let cluster = fake.connect();
    let name = cluster
        .submit(&manifest())
        .expect("the first attempt's workflow is ours");
    assert_eq!(fake.requests("POST").len(), 2);
    assert_eq!(
        stored.lock().unwrap().clone().unwrap()["metadata"]["name"],
        name.as_str()
    );
    // Someone else's workflow of the same name is still a conflict.
    *stored.lock().unwrap() = Some(json!({"metadata": {"name": "jetstream-fixed",
        "annotations": {"jetstream.mozilla.org/submission-id": "other"}}}));
    let mut m = manifest();
    m["metadata"]["name"] = json!("jetstream-fixed");
    let fake2 = Fake::start("lost2");
    fake2.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(504).set_body_string("gateway timeout"))
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake2.mount(
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(409).set_body_json(status_body(
                409,
                "AlreadyExists",
                "exists",
            )))
            .with_priority(2),
    );
    fake2.mount(Mock::given(method("GET")).respond_with(Stored(stored)));
    let err = fake2.connect().submit(&m).unwrap_err();
    assert!(matches!(err, ClusterError::Conflict { .. }), "{err:?}");
}

/// Stores the object, then answers after the client's timeout.
struct DelayedCreated(Arc<Mutex<Option<Value>>>);

impl Respond for DelayedCreated {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        Created(self.0.clone())
            .respond(request)
            .set_delay(Duration::from_secs(3))
    }
}

#[test]
fn the_gke_cluster_is_looked_up_and_called_with_a_google_token() {
    let fake = Fake::start("gke");
    fake.mount(
        Mock::given(method("GET"))
            .and(header("authorization", "Bearer google-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(workflow(
                "jetstream-g",
                "Running",
                false,
                json!({}),
            ))),
    );
    let mut options = fake.options();
    options.kubeconfig = None;
    let google = Arc::new(FakeGoogle {
        endpoint: fake.server.uri(),
    });
    let cluster = ArgoCluster::connect(&options, google.clone()).unwrap();
    assert!(
        cluster
            .via()
            .contains("GKE cluster jetstream in us-central1-a of project p")
    );
    assert_eq!(
        cluster.status("jetstream-g").unwrap().phase.to_string(),
        "Running"
    );
    // --cluster-ip and --cluster-cert come first; one without the other is an error.
    options.cluster_ip = Some(fake.server.uri());
    options.cluster_cert = Some("unused".into());
    let cluster = ArgoCluster::connect(&options, google.clone()).unwrap();
    assert!(
        cluster.via().starts_with("--cluster-ip"),
        "{}",
        cluster.via()
    );
    assert!(cluster.status("jetstream-g").is_ok());
    options.cluster_cert = None;
    let err = ArgoCluster::connect(&options, google).unwrap_err();
    assert!(err.to_string().contains("--cluster-cert"), "{err}");
}

#[test]
fn watching_outlasts_an_unreachable_api_server_but_not_a_refusal() {
    let fake = Fake::start("outage");
    let one = format!("{WORKFLOWS}/jetstream-out");
    // Two whole rounds of retries fail (an upgrade of the control plane), then it answers.
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(ResponseTemplate::new(503).set_body_string("upgrading"))
            .up_to_n_times(6)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(one.as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(workflow(
                "jetstream-out",
                "Succeeded",
                true,
                json!({}),
            )))
            .with_priority(2),
    );
    let cluster = fake.connect();
    let status = cluster
        .wait(
            "jetstream-out",
            Duration::from_millis(10),
            Duration::from_secs(30),
            &mut |_| {},
        )
        .expect("waited out the outage");
    assert!(status.succeeded());
    assert_eq!(fake.requests("GET").len(), 7);
    // Without patience the same outage ends the watch.
    let fake = Fake::start("outage2");
    fake.mount(
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(503).set_body_string("upgrading")),
    );
    let err = fake
        .connect()
        .wait(
            "jetstream-out",
            Duration::from_millis(10),
            Duration::ZERO,
            &mut |_| {},
        )
        .unwrap_err();
    assert!(matches!(err, ClusterError::Exhausted { .. }), "{err:?}");
    // A workflow that is gone is not waited for.
    let fake = Fake::start("gone");
    fake.mount(Mock::given(method("GET")).respond_with(
        ResponseTemplate::new(404).set_body_json(status_body(404, "NotFound", "not found")),
    ));
    let err = fake
        .connect()
        .wait(
            "jetstream-out",
            Duration::from_millis(10),
            Duration::from_secs(30),
            &mut |_| {},
        )
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
}

#[test]
fn an_active_workflow_of_the_same_run_is_found() {
    let fake = Fake::start("active");
    let labelled = |name: &str, phase: &str, finished: bool, run: &str| {
        let mut wf = workflow(name, phase, finished, json!({}));
        wf["metadata"]["labels"] = json!({"jetstream.mozilla.org/run": run});
        wf
    };
    // The last but one is another run's: a server (or proxy) that ignored the selector must
    // not make this run follow it.
    let list = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "WorkflowList",
    "metadata": {}, "items": [
        labelled("jetstream-done1", "Succeeded", true, "daily-2026-11-30"),
        labelled("jetstream-other", "Running", false, "targeted-2026-11-30-0123456789abcdef"),
        labelled("jetstream-live1", "Running", false, "daily-2026-11-30"),
    ]});
    fake.mount(
        Mock::given(method("GET"))
            .and(path(WORKFLOWS))
            .and(wiremock::matchers::query_param(
                "labelSelector",
                "jetstream.mozilla.org/run=daily-2026-11-30",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(list)),
    );
    let cluster = fake.connect();
    let found = cluster
        .find_active("jetstream.mozilla.org/run", "daily-2026-11-30")
        .unwrap();
    assert_eq!(found.as_deref(), Some("jetstream-live1"));
}

#[test]
fn a_token_never_travels_in_clear_to_another_machine() {
    let mut options = ClusterOptions::from_env(gke());
    options.kubeconfig = None;
    options.in_cluster = false;
    options.cluster_ip = Some("http://10.1.2.3".into());
    options.cluster_cert = Some("unused".into());
    let err = ArgoCluster::connect(
        &options,
        Arc::new(FakeGoogle {
            endpoint: String::new(),
        }),
    )
    .unwrap_err();
    assert!(err.to_string().contains("plain HTTP"), "{err}");
}
