//! jetstream on Argo Workflows: the workflow template (`workflows/run.yaml`) and its rendering
//! with a run's experiments and dates.
//!
//! Rendering is structural: the YAML template is parsed, `spec.arguments.parameters` get their
//! values, and nothing else changes — Argo's own `{{…}}` placeholders pass through untouched
//! (no text templating runs over them). The result is a JSON value ready to submit as an
//! `argoproj.io/v1alpha1` Workflow, or to print as YAML (`--dry-run`).
//!
//! [`cluster`] submits rendered workflows to a Kubernetes cluster and watches them;
//! [`status`] reads a workflow's status (failed steps, retries); [`images`] chooses the image
//! each experiment runs; [`CloudError`] is the error of the cloud services behind the traits
//! ([`GoogleCloud`], [`ImageRegistry`]).

pub mod cloud_error;
pub mod cluster;
pub mod images;
pub mod status;

pub use cloud_error::{CloudError, CloudErrorKind};
pub use cluster::{
    ArgoCluster, ClusterError, ClusterOptions, GkeCluster, GkeEndpoint, GoogleCloud,
};
pub use images::{Image, ImageChoice, ImageRegistry};
pub use status::{FailedStep, FailureKind, Phase, WorkflowStatus};

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::Value;

/// The workflow template of `workflows/run.yaml`, built in.
pub const RUN_TEMPLATE: &str = include_str!("../../../workflows/run.yaml");

/// Every analysis period, the default of `analysis_periods`.
pub const ALL_PERIODS: &str =
    "day,week,days28,overall,preenrollment_week,preenrollment_days28,cumulative";

/// Why a workflow could not be rendered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArgoError {
    /// The template is not YAML, or not a workflow.
    #[error("workflow template: {0}")]
    Template(String),
    /// A parameter value that cannot be used.
    #[error("workflow parameter {name}: {message}")]
    Parameter {
        /// The parameter.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// Writing YAML failed.
    #[error("writing the workflow as YAML: {0}")]
    Yaml(String),
}

/// One experiment of a workflow: its catch-up dates, then its dates in parallel, after its
/// enrollments; then its export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExperimentItem {
    /// Normandy slug.
    pub slug: String,
    /// Analysis dates (every ready window analysed).
    pub dates: Vec<NaiveDate>,
    /// Earlier dates analysed for their ready windows without a statistics table only
    /// (`--catch-up`), before `dates`.
    pub catch_up: Vec<NaiveDate>,
    /// The container image (`registry/name:tag` or `registry/name@sha256:…`).
    pub image: String,
    /// Whether discrete metrics tables are written.
    pub discrete_metrics: bool,
}

/// The item as the template's `withParam` reads it.
#[derive(Serialize)]
struct Item<'a> {
    slug: &'a str,
    dates: Vec<String>,
    catch_up: Vec<String>,
    image: &'a str,
    discrete_metrics: &'static str,
}

/// The values of the workflow's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowParams {
    /// Experiments × dates.
    pub experiments: Vec<ExperimentItem>,
    /// BigQuery results project.
    pub project_id: String,
    /// Results dataset.
    pub dataset_id: String,
    /// GCS bucket of the exports (`None`: no export).
    pub bucket: Option<String>,
    /// Analysis periods (`None`: all).
    pub analysis_periods: Option<Vec<String>>,
    /// Only recompute statistics from existing metric tables.
    pub statistics_only: bool,
    /// Memory requested per container, in GB (1–60, as the reference).
    pub memory_request_gb: u32,
    /// The config repositories the pods clone (git URLs: a pod has no local folder of the
    /// submitter's), in order; default metric-hub's public repository.
    pub config_repos: Vec<String>,
    /// Private config repositories (git URLs), loaded last.
    pub private_config_repos: Vec<String>,
    /// Log rows before this time are left out of the errors exports (a rerun's start: none
    /// of the replaced results' rows); `None`: the reference's weekly window.
    pub errors_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The image of the exit handler (`log-workflow-failures`); `None`: the first
    /// experiment's.
    pub finish_image: Option<String>,
}

impl WorkflowParams {
    /// Defaults of the reference: dataset `mozanalysis`, bucket `mozanalysis`, 16 GB.
    pub fn new(project_id: &str, experiments: Vec<ExperimentItem>) -> Self {
        Self {
            experiments,
            project_id: project_id.to_string(),
            dataset_id: "mozanalysis".into(),
            bucket: Some("mozanalysis".into()),
            analysis_periods: None,
            statistics_only: false,
            memory_request_gb: 16,
            config_repos: vec!["https://github.com/mozilla/metric-hub".into()],
            private_config_repos: Vec::new(),
            errors_since: None,
            finish_image: None,
        }
    }

    /// Experiment-dates in all, catch-up dates included (analysis containers the workflow
    /// runs).
    pub fn experiment_dates(&self) -> usize {
        self.experiments
            .iter()
            .map(|e| e.dates.len() + e.catch_up.len())
            .sum()
    }

    fn values(&self) -> Result<Vec<(&'static str, String)>, ArgoError> {
        let bad = |name: &str, message: String| ArgoError::Parameter {
            name: name.to_string(),
            message,
        };
        if !(1..=60).contains(&self.memory_request_gb) {
            return Err(bad(
                "memory_request",
                format!("{} GB: expected 1 to 60", self.memory_request_gb),
            ));
        }
        for (name, value) in [
            ("project_id", &self.project_id),
            ("dataset_id", &self.dataset_id),
        ] {
            if value.is_empty()
                || !value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(bad(name, format!("{value:?}: letters, digits, '-' or '_'")));
            }
        }
        for (name, repos) in [
            ("config_repos", &self.config_repos),
            ("private_config_repos", &self.private_config_repos),
        ] {
            for r in repos {
                let url = ["https://", "http://", "ssh://", "git://", "file://"]
                    .iter()
                    .any(|p| r.starts_with(p))
                    || (r.starts_with("git@") && r.contains(':'));
                if !url || r.contains(',') || r.chars().any(char::is_whitespace) {
                    return Err(bad(
                        name,
                        format!(
                            "{r:?}: the pods clone their configs, so each must be a git URL \
                             (a local folder exists only where the workflow is submitted)"
                        ),
                    ));
                }
            }
        }
        if self.config_repos.is_empty() {
            return Err(bad("config_repos", "at least one repository".into()));
        }
        let mut items = Vec::with_capacity(self.experiments.len());
        let day = |d: &NaiveDate| d.format("%Y-%m-%d").to_string();
        for e in &self.experiments {
            if e.dates.is_empty() && e.catch_up.is_empty() {
                return Err(bad("experiments", format!("{}: no dates", e.slug)));
            }
            if e.image.is_empty() || e.image.chars().any(char::is_whitespace) {
                return Err(bad(
                    "experiments",
                    format!("{}: image {:?}", e.slug, e.image),
                ));
            }
            items.push(Item {
                slug: &e.slug,
                dates: e.dates.iter().map(day).collect(),
                catch_up: e.catch_up.iter().map(day).collect(),
                image: &e.image,
                discrete_metrics: if e.discrete_metrics {
                    "--discrete-metrics"
                } else {
                    "--no-discrete-metrics"
                },
            });
        }
        let experiments =
            serde_json::to_string(&items).map_err(|e| bad("experiments", e.to_string()))?;
        let finish_image = match &self.finish_image {
            Some(image) => image.clone(),
            None => self
                .experiments
                .first()
                .map(|e| e.image.clone())
                .ok_or_else(|| bad("experiments", "no experiment".into()))?,
        };
        if finish_image.is_empty() || finish_image.chars().any(char::is_whitespace) {
            return Err(bad("finish_image", format!("{finish_image:?}")));
        }
        let periods = match &self.analysis_periods {
            Some(p) if !p.is_empty() => p.join(","),
            _ => ALL_PERIODS.to_string(),
        };
        Ok(vec![
            ("experiments", experiments),
            ("project_id", self.project_id.clone()),
            ("dataset_id", self.dataset_id.clone()),
            (
                "bucket",
                self.bucket.clone().unwrap_or_else(|| "none".into()),
            ),
            ("analysis_periods", periods),
            ("statistics_only", self.statistics_only.to_string()),
            ("memory_request", format!("{}Gi", self.memory_request_gb)),
            ("config_repos", self.config_repos.join(",")),
            ("private_config_repos", self.private_config_repos.join(",")),
            (
                "errors_since",
                self.errors_since
                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                    .unwrap_or_default(),
            ),
            ("finish_image", finish_image),
        ])
    }
}

/// Parse a workflow template (YAML) into JSON.
pub fn parse_template(yaml: &str) -> Result<Value, ArgoError> {
    let value: Value =
        serde_saphyr::from_str(yaml).map_err(|e| ArgoError::Template(e.to_string()))?;
    if value["kind"] != "Workflow" && value["kind"] != "CronWorkflow" {
        return Err(ArgoError::Template(format!(
            "kind {}: expected Workflow or CronWorkflow",
            value["kind"]
        )));
    }
    Ok(value)
}

/// The workflow `template` (YAML) with `params` as its arguments. Every parameter the template
/// declares must get a value, and every value must be declared.
pub fn render(template: &str, params: &WorkflowParams) -> Result<Value, ArgoError> {
    let mut manifest = parse_template(template)?;
    let values = params.values()?;
    let declared = manifest
        .pointer_mut("/spec/arguments/parameters")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| ArgoError::Template("no spec.arguments.parameters".into()))?;
    let mut missing = Vec::new();
    for parameter in declared.iter_mut() {
        let name = parameter["name"].as_str().unwrap_or_default().to_string();
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, v)) => parameter["value"] = Value::from(v.clone()),
            None => missing.push(name),
        }
    }
    if !missing.is_empty() {
        return Err(ArgoError::Template(format!(
            "parameters without a value: {}",
            missing.join(", ")
        )));
    }
    for (name, _) in &values {
        if !declared.iter().any(|p| p["name"] == *name) {
            return Err(ArgoError::Template(format!(
                "the template does not declare parameter {name}"
            )));
        }
    }
    Ok(manifest)
}

/// A manifest as YAML (what `--dry-run` prints and `kubectl`/`argo` accept).
pub fn to_yaml(manifest: &Value) -> Result<String, ArgoError> {
    serde_saphyr::to_string(manifest).map_err(|e| ArgoError::Yaml(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(slug: &str, days: u32) -> ExperimentItem {
        ExperimentItem {
            slug: slug.into(),
            dates: (1..=days)
                .map(|d| NaiveDate::from_ymd_opt(2026, 1, d).unwrap())
                .collect(),
            catch_up: Vec::new(),
            image: "gcr.io/moz-fx-data-experiments/jetstream@sha256:abc".into(),
            discrete_metrics: true,
        }
    }

    #[test]
    fn parameters_get_values_and_placeholders_stay() {
        let params = WorkflowParams::new("moz-fx-data-experiments", vec![item("a-b", 2)]);
        let m = render(RUN_TEMPLATE, &params).unwrap();
        let args = m.pointer("/spec/arguments/parameters").unwrap();
        let value = |n: &str| {
            args.as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == n)
                .unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(
            value("experiments"),
            r#"[{"slug":"a-b","dates":["2026-01-01","2026-01-02"],"catch_up":[],"image":"gcr.io/moz-fx-data-experiments/jetstream@sha256:abc","discrete_metrics":"--discrete-metrics"}]"#
        );
        assert_eq!(value("memory_request"), "16Gi");
        assert_eq!(value("errors_since"), "");
        assert_eq!(
            value("finish_image"),
            "gcr.io/moz-fx-data-experiments/jetstream@sha256:abc"
        );
        assert_eq!(value("analysis_periods"), ALL_PERIODS);
        let text = m.to_string();
        assert!(text.contains("{{inputs.parameters.slug}}"));
        assert!(text.contains("{{workflow.parameters.experiments}}"));
    }

    #[test]
    fn bad_values_are_named() {
        let mut params = WorkflowParams::new("p", vec![item("a", 1)]);
        params.memory_request_gb = 61;
        let err = render(RUN_TEMPLATE, &params).unwrap_err().to_string();
        assert!(
            err.contains("memory_request") && err.contains("61"),
            "{err}"
        );
        let mut params = WorkflowParams::new("p q", vec![item("a", 1)]);
        params.memory_request_gb = 1;
        let err = render(RUN_TEMPLATE, &params).unwrap_err().to_string();
        assert!(err.contains("project_id"), "{err}");
        let params = WorkflowParams::new("p", vec![item("a", 0)]);
        let err = render(RUN_TEMPLATE, &params).unwrap_err().to_string();
        assert!(err.contains("a: no dates"), "{err}");
        let err = parse_template("kind: Pod").unwrap_err().to_string();
        assert!(err.contains("Pod"), "{err}");
        let undeclared = RUN_TEMPLATE.replace("      - name: memory_request\n", "");
        let err = render(&undeclared, &WorkflowParams::new("p", vec![item("a", 1)]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("memory_request"), "{err}");
    }

    #[test]
    fn yaml_round_trips() {
        let m = render(RUN_TEMPLATE, &WorkflowParams::new("p", vec![item("a", 3)])).unwrap();
        let yaml = to_yaml(&m).unwrap();
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, m);
    }
}
