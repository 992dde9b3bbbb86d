use std::path::Path;

use chrono::{NaiveDate, TimeZone, Utc};
use jetstream_config::ConfigCollection;
use jetstream_config::collection::{FileKind, parse_file};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::{AnalysisConfiguration, resolve_experiment};
use jetstream_output::LocalFolder;
use jetstream_output::metadata::export_metadata;
use serde_json::Value;

use crate::local::scratch;
use crate::schema::read_valid;

fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

/// The real metric-hub snapshot plus one experiment config written here.
fn resolve_with(slug: &str, toml: &str) -> (AnalysisConfiguration, ConfigCollection) {
    let mut configs = ConfigCollection::load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub"),
    )
    .expect("metric-hub");
    let path = format!("jetstream/{slug}.toml");
    configs.add(parse_file(
        toml,
        FileKind::Experiment {
            slug: slug.to_string(),
        },
        Path::new(&path),
    ));
    let mut e = Experiment::dummy(slug, "firefox_desktop", d("2026-10-01"));
    e.end_date = Some(d("2026-11-30"));
    e.proposed_enrollment = Some(7);
    e.reference_branch = Some("control".into());
    e.outcomes = vec!["crlite".into()];
    let config = resolve_experiment(&e, configs.spec_for_experiment(slug), &configs)
        .unwrap_or_else(|err| panic!("{slug}: {err}"));
    (config, configs)
}

#[test]
fn metadata_matches_the_reference_document() {
    let (config, configs) = resolve_with(
        "my-slug",
        r#"
[experiment]
end_date = "2026-12-15"

[metrics]
weekly = ["my_cool_metric"]

[metrics.my_cool_metric]
data_source = "clients_daily"
select_expression = "COUNT(*)"
bigger_is_better = false

[metrics.my_cool_metric.statistics.bootstrap_mean]
"#,
    );
    let root = scratch("metadata");
    let sink = LocalFolder::new(&root);
    let start = Utc.with_ymd_and_hms(2026, 11, 26, 9, 41, 37).unwrap();
    let key = export_metadata(&config, &configs, &sink, Some(start))
        .expect("export")
        .expect("not private");
    assert_eq!(key, "metadata/metadata_my_slug.json");
    let json = read_valid(&root.join(&key), "Metadata");

    assert_eq!(
        json.as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        [
            "analysis_start_time",
            "external_config",
            "metrics",
            "outcomes",
            "version_info",
            "version_date",
            "schema_version"
        ]
    );
    assert_eq!(json["analysis_start_time"], "2026-11-26 09:41:37+00:00");
    assert_eq!(json["schema_version"], 4);
    // Only the end date is overridden.
    assert_eq!(
        json["external_config"],
        serde_json::json!({
            "reference_branch": null,
            "end_date": "2026-12-15",
            "start_date": null,
            "enrollment_period": null,
            "skip": false,
            "url": "https://github.com/mozilla/metric-hub/blob/main/jetstream/my-slug.toml"
        })
    );
    assert_eq!(
        json["metrics"]["my_cool_metric"],
        serde_json::json!({
            "analysis_bases": ["enrollments", "exposures"],
            "bigger_is_better": false,
            "description": "",
            "friendly_name": "My Cool Metric"
        })
    );
    let crlite = &json["outcomes"]["crlite"];
    assert_eq!(crlite["friendly_name"], "CRLite");
    assert_eq!(crlite["slug"], "crlite");
    assert!(
        crlite["metrics"]
            .as_array()
            .expect("metrics")
            .contains(&Value::String("cert_storage_memory".into()))
    );
    // Outcome metrics are in the metrics map too, with their friendly names.
    assert_eq!(
        json["metrics"]["cert_storage_memory"]["friendly_name"],
        "Certificate storage memory usage (bytes)"
    );
    std::fs::remove_dir_all(root).expect("cleanup");
}

#[test]
fn no_overrides_means_no_external_config_and_private_experiments_are_not_exported() {
    let (config, configs) = resolve_with("plain-slug", "");
    let root = scratch("metadata-plain");
    let sink = LocalFolder::new(&root);
    export_metadata(&config, &configs, &sink, None)
        .expect("export")
        .expect("exported");
    let json = read_valid(&root.join("metadata/metadata_plain_slug.json"), "Metadata");
    assert_eq!(json["external_config"], Value::Null);
    assert_eq!(json["analysis_start_time"], Value::Null);

    let (config, configs) = resolve_with(
        "private-slug",
        "[experiment]\nis_private = true\ndataset_id = \"private_ds\"\n",
    );
    assert_eq!(
        export_metadata(&config, &configs, &sink, None).expect("export"),
        None
    );
    assert!(!root.join("metadata/metadata_private_slug.json").exists());
    std::fs::remove_dir_all(root).expect("cleanup");
}
