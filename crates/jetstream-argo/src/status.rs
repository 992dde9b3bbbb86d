//! A workflow's status as Argo reports it (`status` of the `Workflow` object), read into what a
//! person on call needs: is it finished, did it succeed, which steps failed and why.
//!
//! Success follows the reference: the workflow has not failed as a whole, and no pod failed
//! without a later attempt of the same step succeeding. Argo names retried attempts
//! `<step>(0)`, `<step>(1)`, …, so an attempt that failed and was retried successfully is not
//! a failure.

use std::collections::BTreeMap;

use serde_json::Value;

/// The phase of a workflow (`status.phase`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet (no phase, or `Pending`).
    Pending,
    /// Running.
    Running,
    /// Finished successfully (steps may still have failed under `continueOn`).
    Succeeded,
    /// Finished with a failed step.
    Failed,
    /// Finished because of an error of Argo itself or of the cluster.
    Error,
    /// A phase this version does not know.
    Other(String),
}

impl Phase {
    fn parse(phase: Option<&str>) -> Self {
        match phase {
            None | Some("" | "Pending") => Self::Pending,
            Some("Running") => Self::Running,
            Some("Succeeded") => Self::Succeeded,
            Some("Failed") => Self::Failed,
            Some("Error") => Self::Error,
            Some(other) => Self::Other(other.to_string()),
        }
    }

    /// Whether the workflow is over.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Error)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Pending => "Pending",
            Self::Running => "Running",
            Self::Succeeded => "Succeeded",
            Self::Failed => "Failed",
            Self::Error => "Error",
            Self::Other(p) => p,
        })
    }
}

/// A step (pod) that failed and was not retried successfully.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedStep {
    /// The node's full name (`jetstream-abcde[0].experiment(0:…)…`), attempt suffix removed.
    pub name: String,
    /// The template the pod ran (`analyse`, `export`, `ensure-enrollments`).
    pub template: String,
    /// The step's input parameters (slug, date, …).
    pub parameters: BTreeMap<String, String>,
    /// Argo's message (`Error (exit code 1)`, `OOMKilled`, …).
    pub message: String,
    /// How many attempts failed.
    pub attempts: usize,
}

/// Why a step failed for good, as the monitoring table's `exception_type` of its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The container went over its memory limit (`OOMKilled`).
    PodOOMKilled,
    /// The pod was evicted or deleted under it (node pressure, preemption, a node lost).
    PodEvicted,
    /// The image could not be pulled (`ErrImagePull`, `ImagePullBackOff`, a bad name).
    ImagePullFailed,
    /// A deadline ended it (the step's `activeDeadlineSeconds`, the workflow's).
    DeadlineExceeded,
    /// Anything else: the container exited non-zero, Argo's own error, ….
    StepFailed,
}

impl FailureKind {
    /// The `exception_type` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PodOOMKilled => "PodOOMKilled",
            Self::PodEvicted => "PodEvicted",
            Self::ImagePullFailed => "ImagePullFailed",
            Self::DeadlineExceeded => "DeadlineExceeded",
            Self::StepFailed => "StepFailed",
        }
    }

    /// The kind Argo's message of a failed node tells (`OOMKilled (exit code 137)`, `Pod was
    /// evicted…`, `ImagePullBackOff: …`, `Pod was active on the node longer than the specified
    /// deadline`, `Step exceeded its deadline`, …).
    pub fn of_message(message: &str) -> Self {
        let lower = message.to_ascii_lowercase();
        if message.contains("OOMKilled") {
            Self::PodOOMKilled
        } else if lower.contains("evict")
            || lower.contains("the node was low on resource")
            || lower.contains("pod deleted")
            || lower.contains("node lost")
            || lower.contains("preempt")
        {
            Self::PodEvicted
        } else if message.contains("ImagePull")
            || message.contains("ErrImage")
            || message.contains("InvalidImageName")
            || lower.contains("pull image")
            || lower.contains("pulling image")
        {
            Self::ImagePullFailed
        } else if lower.contains("deadline") {
            Self::DeadlineExceeded
        } else {
            Self::StepFailed
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FailedStep {
    /// Why it failed, from its last attempt's message.
    pub fn kind(&self) -> FailureKind {
        FailureKind::of_message(&self.message)
    }
}

impl FailedStep {
    /// What the step ran: its template, else (Argo may leave it out, e.g. for a template
    /// reference) its node name.
    pub fn what(&self) -> &str {
        if self.template.is_empty() {
            &self.name
        } else {
            &self.template
        }
    }
}

impl std::fmt::Display for FailedStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what())?;
        for key in ["slug", "date"] {
            if let Some(v) = self.parameters.get(key) {
                write!(f, " {key}={v}")?;
            }
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if self.attempts > 1 {
            write!(f, " (after {} attempts)", self.attempts)?;
        }
        Ok(())
    }
}

/// What a workflow's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowStatus {
    /// The workflow's name.
    pub name: String,
    /// Its phase.
    pub phase: Phase,
    /// Argo's message for the workflow as a whole.
    pub message: String,
    /// Whether `status.finishedAt` is set.
    pub finished: bool,
    /// `status.progress` (`done/total`), when Argo reports it.
    pub progress: Option<String>,
    /// Pods that failed and were not retried successfully, by name.
    pub failed_steps: Vec<FailedStep>,
    /// Why the steps could not be read (node status offloaded to Argo's database, or
    /// compressed nodes that do not decode): success cannot be confirmed then.
    pub steps_unknown: Option<String>,
}

impl WorkflowStatus {
    /// Read the `Workflow` object as the Kubernetes API returns it.
    pub fn from_object(workflow: &Value) -> Self {
        let status = &workflow["status"];
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let nodes = nodes_of(status);
        let finished_at = status["finishedAt"].as_str().is_some_and(|s| !s.is_empty());
        let mut phase = Phase::parse(status["phase"].as_str());
        let finished = finished_at || phase.is_finished();
        if finished_at && !phase.is_finished() {
            // Argo sets finishedAt together with a final phase; a finished workflow with no
            // final phase is reported as an error rather than waited on forever.
            phase = Phase::Error;
        }
        Self {
            name: text(&workflow["metadata"]["name"]),
            phase,
            message: text(&status["message"]),
            finished,
            progress: status["progress"].as_str().map(str::to_string),
            failed_steps: nodes.as_ref().map(failed_steps).unwrap_or_default(),
            steps_unknown: nodes.err(),
        }
    }

    /// Whether the workflow finished and every step succeeded (retries aside).
    pub fn succeeded(&self) -> bool {
        self.phase == Phase::Succeeded
            && self.failed_steps.is_empty()
            && self.steps_unknown.is_none()
    }
}

/// The workflow's nodes: `status.nodes`, or `status.compressedNodes` (base64 of gzipped JSON,
/// which Argo writes when the object grows large); an error when they were offloaded to
/// Argo's database (not readable through the Kubernetes API) or do not decode.
fn nodes_of(status: &Value) -> Result<Value, String> {
    if status["nodes"].as_object().is_some_and(|n| !n.is_empty()) {
        return Ok(status["nodes"].clone());
    }
    if let Some(compressed) = status["compressedNodes"].as_str().filter(|c| !c.is_empty()) {
        use base64::Engine as _;
        use std::io::Read as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(compressed.trim())
            .map_err(|e| format!("status.compressedNodes is not base64: {e}"))?;
        let mut text = String::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .map_err(|e| format!("status.compressedNodes is not gzip: {e}"))?;
        return serde_json::from_str(&text)
            .map_err(|e| format!("status.compressedNodes is not JSON: {e}"));
    }
    if status["offloadNodeStatusVersion"]
        .as_str()
        .is_some_and(|v| !v.is_empty())
    {
        return Err(
            "the node status is offloaded to Argo's database: check the steps with \
                    `argo get`"
                .into(),
        );
    }
    Ok(Value::Null)
}

/// `name(3)` → `(name, 3)`: the step an attempt belongs to, and its attempt number.
fn attempt_of(node_name: &str) -> (&str, Option<u32>) {
    if let Some(open) = node_name.rfind('(')
        && node_name.ends_with(')')
        && let Ok(n) = node_name[open + 1..node_name.len() - 1].parse::<u32>()
    {
        return (&node_name[..open], Some(n));
    }
    (node_name, None)
}

/// The step an attempt belongs to.
fn step_of(node_name: &str) -> &str {
    attempt_of(node_name).0
}

/// Pod nodes that failed with no successful attempt of the same step, in name order.
fn failed_steps(nodes: &Value) -> Vec<FailedStep> {
    let Some(nodes) = nodes.as_object() else {
        return Vec::new();
    };
    let mut succeeded = std::collections::BTreeSet::new();
    let mut failed: BTreeMap<String, FailedStep> = BTreeMap::new();
    // Attempts in order, so that the last one's message and parameters are kept.
    let mut pods: Vec<&Value> = nodes.values().filter(|n| n["type"] == "Pod").collect();
    pods.sort_by_key(|n| {
        let (step, attempt) = attempt_of(n["name"].as_str().unwrap_or_default());
        (step.to_string(), attempt)
    });
    for node in pods {
        let name = node["name"].as_str().unwrap_or_default();
        let step = step_of(name).to_string();
        match node["phase"].as_str() {
            Some("Succeeded") => {
                succeeded.insert(step);
            }
            Some("Failed" | "Error") => {
                let parameters = node["inputs"]["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| {
                                Some((
                                    p["name"].as_str()?.to_string(),
                                    p["value"].as_str()?.to_string(),
                                ))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let entry = failed.entry(step.clone()).or_insert_with(|| FailedStep {
                    name: step,
                    template: node["templateName"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    parameters: BTreeMap::new(),
                    message: String::new(),
                    attempts: 0,
                });
                entry.attempts += 1;
                entry.parameters = parameters;
                if let Some(m) = node["message"].as_str() {
                    entry.message = m.to_string();
                }
            }
            _ => {}
        }
    }
    failed
        .into_values()
        .filter(|f| !succeeded.contains(&f.name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, phase: &str, slug: &str) -> Value {
        json!({"name": name, "type": "Pod", "phase": phase, "templateName": "analyse",
               "message": if phase == "Failed" { "Error (exit code 1)" } else { "" },
               "inputs": {"parameters": [{"name": "slug", "value": slug},
                                         {"name": "date", "value": "2026-11-30"}]}})
    }

    #[test]
    fn attempt_suffixes_are_removed() {
        assert_eq!(step_of("wf[0].analyse(1)"), "wf[0].analyse");
        assert_eq!(
            step_of("wf[0].experiment(0:{\"slug\":\"a\"})"),
            "wf[0].experiment(0:{\"slug\":\"a\"})"
        );
        assert_eq!(step_of("wf[0].analyse"), "wf[0].analyse");
        assert_eq!(step_of("wf()"), "wf()");
    }

    #[test]
    fn a_retried_success_is_not_a_failure() {
        let wf = json!({"metadata": {"name": "jetstream-x"}, "status": {
            "phase": "Succeeded", "finishedAt": "2026-12-01T00:00:00Z", "nodes": {
                "a": pod("jetstream-x[0].analyse(0)", "Failed", "a"),
                "b": pod("jetstream-x[0].analyse(1)", "Succeeded", "a"),
                "c": {"name": "jetstream-x[0].analyse", "type": "Retry", "phase": "Succeeded"}}}});
        let s = WorkflowStatus::from_object(&wf);
        assert!(s.finished && s.succeeded(), "{s:?}");
    }

    #[test]
    fn a_step_failing_every_attempt_is_named() {
        let wf = json!({"metadata": {"name": "jetstream-x"}, "status": {
            "phase": "Succeeded", "finishedAt": "2026-12-01T00:00:00Z", "nodes": {
                "a": pod("jetstream-x[0].analyse(0)", "Failed", "bad-one"),
                "b": pod("jetstream-x[0].analyse(1)", "Failed", "bad-one"),
                "c": pod("jetstream-x[1].analyse(0)", "Succeeded", "good-one")}}});
        let s = WorkflowStatus::from_object(&wf);
        // continueOn: failed lets the workflow succeed; the failed step still fails the run.
        assert!(!s.succeeded());
        assert_eq!(s.failed_steps.len(), 1);
        let step = s.failed_steps[0].to_string();
        assert_eq!(
            step,
            "analyse slug=bad-one date=2026-11-30: Error (exit code 1) (after 2 attempts)"
        );
    }

    #[test]
    fn the_last_attempt_speaks_and_compressed_nodes_are_read() {
        let mut first = pod("wf[0].analyse(9)", "Failed", "a");
        first["message"] = json!("OOMKilled");
        let mut last = pod("wf[0].analyse(10)", "Failed", "a");
        last["message"] = json!("Error (exit code 2)");
        let nodes = json!({"x": last, "y": first});
        let wf = json!({"metadata": {"name": "wf"}, "status": {"phase": "Succeeded",
            "finishedAt": "2026-12-01T00:00:00Z", "nodes": nodes.clone()}});
        let s = WorkflowStatus::from_object(&wf);
        assert_eq!(s.failed_steps[0].message, "Error (exit code 2)");
        // The same nodes, gzipped and base64-encoded as Argo does for large workflows.
        use base64::Engine as _;
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(nodes.to_string().as_bytes()).unwrap();
        let encoded = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
        let wf = json!({"metadata": {"name": "wf"}, "status": {"phase": "Succeeded",
            "finishedAt": "2026-12-01T00:00:00Z", "compressedNodes": encoded}});
        let s = WorkflowStatus::from_object(&wf);
        assert!(!s.succeeded());
        assert_eq!(s.failed_steps.len(), 1);
        // Offloaded nodes cannot be read: not a success.
        let wf = json!({"metadata": {"name": "wf"}, "status": {"phase": "Succeeded",
            "finishedAt": "2026-12-01T00:00:00Z", "offloadNodeStatusVersion": "abc"}});
        let s = WorkflowStatus::from_object(&wf);
        assert!(!s.succeeded() && s.steps_unknown.as_deref().unwrap().contains("argo get"));
    }

    #[test]
    fn a_step_without_a_template_name_is_named_by_its_node() {
        let mut node = pod("wf[0].analyse(0)", "Failed", "a");
        node["templateName"] = Value::Null;
        let wf = json!({"metadata": {"name": "wf"}, "status": {"phase": "Failed",
            "finishedAt": "2026-12-01T00:00:00Z", "nodes": {"x": node}}});
        let s = WorkflowStatus::from_object(&wf);
        assert_eq!(
            s.failed_steps[0].to_string(),
            "wf[0].analyse slug=a date=2026-11-30: Error (exit code 1)"
        );
    }

    #[test]
    fn failures_are_told_apart_by_their_messages() {
        for (message, kind) in [
            ("OOMKilled (exit code 137)", FailureKind::PodOOMKilled),
            (
                "The node was low on resource: memory. Container main was using 17Gi.",
                FailureKind::PodEvicted,
            ),
            ("Pod was evicted", FailureKind::PodEvicted),
            ("pod deleted", FailureKind::PodEvicted),
            (
                "ImagePullBackOff: Back-off pulling image \"gcr.io/x/jetstream:v9\"",
                FailureKind::ImagePullFailed,
            ),
            ("ErrImagePull: not found", FailureKind::ImagePullFailed),
            (
                "Pod was active on the node longer than the specified deadline",
                FailureKind::DeadlineExceeded,
            ),
            ("Step exceeded its deadline", FailureKind::DeadlineExceeded),
            ("Error (exit code 1)", FailureKind::StepFailed),
            ("", FailureKind::StepFailed),
        ] {
            assert_eq!(FailureKind::of_message(message), kind, "{message}");
        }
    }

    #[test]
    fn phases() {
        let running = json!({"metadata": {"name": "w"}, "status": {"phase": "Running"}});
        let s = WorkflowStatus::from_object(&running);
        assert!(!s.finished && s.phase == Phase::Running);
        let pending = json!({"metadata": {"name": "w"}});
        assert_eq!(WorkflowStatus::from_object(&pending).phase, Phase::Pending);
        let failed = json!({"metadata": {"name": "w"}, "status": {"phase": "Failed",
            "message": "child failed", "finishedAt": "2026-12-01T00:00:00Z"}});
        let s = WorkflowStatus::from_object(&failed);
        assert!(s.finished && !s.succeeded() && s.message == "child failed");
        let odd = json!({"metadata": {"name": "w"}, "status": {
            "phase": "Running", "finishedAt": "2026-12-01T00:00:00Z"}});
        assert_eq!(WorkflowStatus::from_object(&odd).phase, Phase::Error);
    }
}
