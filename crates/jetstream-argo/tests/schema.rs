//! Every rendered workflow validates against Argo's own JSON schema, for small and large runs.

use chrono::NaiveDate;
use jetstream_argo::{ExperimentItem, RUN_TEMPLATE, WorkflowParams, render};
use serde_json::Value;

/// Argo's schema, rooted at the definition of `kind` (the file's top-level `oneOf` over every
/// kind only says "none matched"; the definition names each violation).
fn argo_schema(kind: &str) -> Value {
    let path = format!(
        "{}/../../fixtures/argo/schema.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut schema: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
    let object = schema.as_object_mut().expect("object");
    object.remove("oneOf");
    object.remove("type");
    object.insert(
        "$ref".into(),
        Value::from(format!(
            "#/definitions/io.argoproj.workflow.v1alpha1.{kind}"
        )),
    );
    schema
}

/// `experiments` experiments with `dates` dates each.
fn params(experiments: usize, dates: u32) -> WorkflowParams {
    let items = (0..experiments)
        .map(|i| ExperimentItem {
            slug: format!("experiment-{i}"),
            dates: (0..dates)
                .map(|d| {
                    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(d.into())
                })
                .collect(),
            catch_up: if i % 3 == 0 {
                vec![NaiveDate::from_ymd_opt(2025, 12, 30).unwrap()]
            } else {
                Vec::new()
            },
            image: format!("gcr.io/moz-fx-data-experiments/jetstream:2026.12.{i}"),
            discrete_metrics: i % 2 == 0,
        })
        .collect();
    WorkflowParams::new("moz-fx-data-experiments", items)
}

fn violations(schema: &Value, manifest: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("Argo's schema compiles");
    validator
        .iter_errors(manifest)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn workflows_of_1_10_and_500_experiment_dates_validate() {
    let schema = argo_schema("Workflow");
    for (experiments, dates) in [(1, 1), (2, 5), (20, 25)] {
        let p = params(experiments, dates);
        let manifest = render(RUN_TEMPLATE, &p).expect("render");
        let errors = violations(&schema, &manifest);
        assert!(
            errors.is_empty(),
            "{} experiment-dates: {errors:#?}",
            p.experiment_dates()
        );
    }
    assert_eq!(params(20, 25).experiment_dates(), 500 + 7);
}

#[test]
fn the_schema_catches_a_broken_workflow() {
    let schema = argo_schema("Workflow");
    let mut manifest = render(RUN_TEMPLATE, &params(1, 1)).expect("render");
    manifest["spec"]["templates"][0]["parallelism"] = Value::from("five");
    manifest["spec"]["ttlStrategy"]["secondsAfterSuccess"] = Value::from("ten days");
    let errors = violations(&schema, &manifest);
    assert!(
        !errors.is_empty(),
        "a string where Argo wants a number must fail"
    );
}

/// The daily `CronWorkflow` (`workflows/daily.yaml`) validates against Argo's schema too.
#[test]
fn the_daily_cron_workflow_validates() {
    let yaml = include_str!("../../../workflows/daily.yaml");
    let manifest = jetstream_argo::parse_template(yaml).expect("daily.yaml");
    assert_eq!(manifest["kind"], "CronWorkflow");
    let errors = violations(&argo_schema("CronWorkflow"), &manifest);
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(manifest["spec"]["timezone"], "UTC");
    let command = &manifest["spec"]["workflowSpec"]["templates"][0]["container"]["command"];
    assert_eq!(command[1], "run-argo");
}

/// The RBAC manifests: every document parses, and the submitter may create workflows.
#[test]
fn rbac_documents_parse() {
    let yaml = include_str!("../../../workflows/rbac.yaml");
    let docs: Vec<Value> = yaml
        .split("\n---")
        .map(|d| serde_saphyr::from_str::<Value>(d).expect("a YAML document"))
        .filter(|d| !d.is_null())
        .collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["kind"].as_str()).collect();
    assert!(
        kinds.contains(&"ServiceAccount") && kinds.contains(&"RoleBinding"),
        "{kinds:?}"
    );
    let submitter = docs
        .iter()
        .find(|d| d["kind"] == "Role" && d["metadata"]["name"] == "jetstream-submitter")
        .expect("the submitter role");
    let rules = submitter["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| {
        r["resources"]
            .as_array()
            .unwrap()
            .contains(&Value::from("workflows"))
            && r["verbs"]
                .as_array()
                .unwrap()
                .contains(&Value::from("create"))
    }));
}

/// A snapshot of a rendered workflow (2 experiments × 2 dates): any change to the template
/// or the rendering shows in review (expect-test). Regenerate with `UPDATE_EXPECT=1`.
#[test]
fn rendered_workflow_snapshot() {
    let manifest = render(RUN_TEMPLATE, &params(2, 2)).expect("render");
    let yaml = jetstream_argo::to_yaml(&manifest).expect("yaml");
    expect_test::expect_file!["snapshots/run-2x2.yaml"].assert_eq(&yaml);
}
