//! Invalid configs are rejected with the file, the key path, the value and the reason.

use std::path::Path;

use chrono::NaiveDate;
use jetstream_config::collection::{FileKind, ParsedFile, parse_file};
use jetstream_config::error::{ConfigError, ErrorKind};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::resolve_experiment;

use crate::configs;

const FILE: &str = "jetstream/bad-experiment.toml";

fn parse_errors(text: &str) -> Vec<ConfigError> {
    let r = parse_file(
        text,
        FileKind::Experiment {
            slug: "bad-experiment".into(),
        },
        Path::new(FILE),
    );
    assert!(r.parsed.is_none(), "expected errors for:\n{text}");
    for e in &r.errors {
        assert_eq!(e.file.as_deref(), Some(Path::new(FILE)), "{e}");
    }
    r.errors
}

fn resolve_error(text: &str) -> ConfigError {
    let r = parse_file(
        text,
        FileKind::Experiment {
            slug: "bad-experiment".into(),
        },
        Path::new(FILE),
    );
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    let Some(ParsedFile::Experiment(Some(spec))) = r.parsed else {
        panic!("no spec")
    };
    let e = Experiment::dummy(
        "bad-experiment",
        "firefox_desktop",
        NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
    );
    resolve_experiment(&e, Some(&spec), configs()).expect_err("should not resolve")
}

#[test]
fn invalid_toml() {
    let errs = parse_errors("[metrics\nweekly = [\"a\"]\n");
    assert_eq!(errs[0].kind, ErrorKind::Syntax);
    assert_eq!(errs[0].line, Some(1));
    let errs = parse_errors("[data_sources.baseline_*]\nfrom_expression = 'x'\n");
    assert_eq!(errs[0].kind, ErrorKind::Syntax);
}

/// A value outside an enum's spellings is an error at its key and line, listing the
/// spellings (each enum-valued key reads through one reader).
#[test]
fn enum_values_outside_their_spellings_name_the_key_and_the_choices() {
    for (text, key, line) in [
        (
            "[metrics.m]\nselect_expression = '1'\ndata_source = 'main'\nlevel = 'loud'\n",
            "metrics.m.level",
            4,
        ),
        (
            "[experiment]\nenrollments_query_type = 'sideways'\n",
            "experiment.enrollments_query_type",
            2,
        ),
    ] {
        let errs = parse_errors(text);
        let e = errs
            .iter()
            .find(|e| e.key == key)
            .unwrap_or_else(|| panic!("no error at {key}: {errs:?}"));
        assert_eq!(e.kind, ErrorKind::InvalidValue, "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.message.contains("expected one of: "), "{e}");
    }
}

#[test]
fn unknown_statistic() {
    let errs = parse_errors("[metrics.active_hours.statistics.bootstrap_meen]\n");
    let e = &errs[0];
    assert_eq!(e.key, "metrics.active_hours.statistics.bootstrap_meen");
    assert_eq!(e.line, Some(1));
    assert!(
        e.message
            .contains("Statistic 'bootstrap_meen' does not exist"),
        "{e}"
    );
}

#[test]
fn wrong_parameter_type_names_the_key_and_value() {
    let errs = parse_errors(
        "\n[metrics.active_hours.statistics.bootstrap_mean]\ndrop_highest = \"lots\"\n",
    );
    let e = &errs[0];
    assert_eq!(
        e.key,
        "metrics.active_hours.statistics.bootstrap_mean.drop_highest"
    );
    assert_eq!(e.value.as_deref(), Some("\"lots\""));
    assert_eq!(e.line, Some(3));
    assert_eq!(e.kind, ErrorKind::WrongType);
    let shown = e.to_string();
    assert!(shown.starts_with("jetstream/bad-experiment.toml:3: metrics.active_hours.statistics.bootstrap_mean.drop_highest = \"lots\""), "{shown}");
}

#[test]
fn unknown_statistic_parameter() {
    let errs = parse_errors("[metrics.m.statistics.deciles]\nlog_space = true\n");
    assert_eq!(errs[0].key, "metrics.m.statistics.deciles.log_space");
    assert_eq!(errs[0].kind, ErrorKind::UnknownKey);
}

#[test]
fn unknown_pre_treatment() {
    let errs = parse_errors(
        "[metrics.m.statistics.deciles]\npre_treatments = [\"remove_nulls\", \"remove_everything\"]\n",
    );
    assert_eq!(
        errs[0].key,
        "metrics.m.statistics.deciles.pre_treatments[1]"
    );
    assert!(
        errs[0]
            .message
            .contains("Could not find pre-treatment remove_everything")
    );
}

#[test]
fn covariate_period_must_be_preenrollment() {
    let errs = parse_errors(
        "[metrics.m.statistics.linear_model_mean]\n[metrics.m.statistics.linear_model_mean.covariate_adjustment]\nperiod = \"week\"\n",
    );
    assert_eq!(
        errs[0].key,
        "metrics.m.statistics.linear_model_mean.covariate_adjustment.period"
    );
    assert!(
        errs[0]
            .message
            .contains("Covariate adjustment must be done using a pre-treatment analysis period")
    );
    assert_eq!(errs[0].line, Some(3));
}

#[test]
fn unknown_top_level_key() {
    let errs = parse_errors("[metrix]\nweekly = []\n");
    assert_eq!(errs[0].key, "metrix");
    assert_eq!(errs[0].kind, ErrorKind::UnknownKey);
}

#[test]
fn period_list_must_be_a_list() {
    let errs = parse_errors("[metrics]\nweekly = \"active_hours\"\n");
    assert_eq!(errs[0].key, "metrics.weekly");
    assert!(errs[0].message.contains("should be a list of metrics"));
}

#[test]
fn bad_dates_and_enums() {
    let errs =
        parse_errors("[experiment]\nstart_date = \"2024-13-01\"\nanalysis_unit = \"household\"\n");
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0].key, "experiment.start_date");
    assert_eq!(errs[1].key, "experiment.analysis_unit");
}

#[test]
fn private_experiment_needs_dataset() {
    let errs = parse_errors("[experiment]\nis_private = true\n");
    assert_eq!(errs[0].key, "experiment.dataset_id");
}

#[test]
fn metric_listed_but_never_defined() {
    let e = resolve_error("[metrics]\nweekly = [\"no_such_metric\"]\n");
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message.contains("Could not locate metric no_such_metric"),
        "{e}"
    );
    assert_eq!(e.line, Some(2));
    assert_eq!(e.file.as_deref(), Some(Path::new(FILE)));
}

#[test]
fn unknown_data_source() {
    let e = resolve_error(
        "[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"1\"\ndata_source = \"nowhere\"\nstatistics = { sum = {} }\n",
    );
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.message
            .contains("No default definition for data source 'nowhere' [firefox_desktop] found"),
        "{e}"
    );
    assert_eq!(e.key, "metrics.m.data_source");
    assert_eq!(e.line, Some(3));
}

#[test]
fn metric_without_statistics() {
    let e = resolve_error(
        "[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"1\"\ndata_source = \"clients_daily\"\n",
    );
    assert!(
        e.message
            .contains("No statistical treatment defined for metric 'm'"),
        "{e}"
    );
}

#[test]
fn strict_undefined_in_templates() {
    let e = resolve_error(
        "[metrics]\nweekly = [\"m\"]\n[metrics.m]\nselect_expression = \"{{ agg_nope('x') }}\"\ndata_source = \"clients_daily\"\nstatistics = { sum = {} }\n",
    );
    assert_eq!(e.kind, ErrorKind::Template);
    assert_eq!(e.key, "metrics.m.select_expression");
}

#[test]
fn unknown_outcome_for_platform() {
    let e = resolve_error("[experiment]\noutcomes = [\"not_an_outcome\"]\n");
    assert!(
        e.message
            .contains("Outcome not_an_outcome doesn't support the platform 'firefox_desktop'"),
        "{e}"
    );
}

#[test]
fn depends_on_cycle_is_an_error_not_a_crash() {
    let e = resolve_error(
        "[metrics]\nweekly = [\"a\"]\n[metrics.a]\ndepends_on = [\"b\"]\nstatistics = { sum = {} }\n[metrics.b]\ndepends_on = [\"a\"]\nstatistics = { sum = {} }\n",
    );
    assert!(e.message.contains("cycle"), "{e}");
}

/// Validate `text` as the experiment config `{slug}.toml` against every platform.
fn validate_everywhere(slug: &str, text: &str) -> jetstream_config::validate::Validation {
    use jetstream_config::validate::{ValidateOptions, validate_file};
    let dir = jetstream_test_support::scratch("config-negative");
    let path = dir.join(format!("{slug}.toml"));
    std::fs::write(&path, text).expect("write config");
    let opts = ValidateOptions {
        platform: None,
        start_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
    };
    let v = validate_file(&path, configs(), &opts);
    std::fs::remove_file(&path).expect("remove config");
    v
}

#[test]
fn a_metric_missing_on_every_platform_is_reported_once() {
    let v = validate_everywhere(
        "missing-everywhere",
        "[metrics]\nweekly = [\"not_a_metric_anywhere\"]\n",
    );
    assert_eq!(v.errors.len(), 1, "{:#?}", v.errors);
    let e = &v.errors[0];
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert_eq!(e.key, "metrics.not_a_metric_anywhere");
    assert_eq!(e.line, Some(2));
    let apps: Vec<&str> = jetstream_config::platform::PLATFORMS
        .iter()
        .map(|p| p.app_name)
        .collect();
    assert_eq!(
        e.message,
        format!(
            "Could not locate metric not_a_metric_anywhere (platforms: {})",
            apps.join(", ")
        )
    );
}

#[test]
fn different_errors_on_different_platforms_stay_separate() {
    let v = validate_everywhere(
        "unknown-outcome-everywhere",
        "[experiment]\noutcomes = [\"not_an_outcome\"]\n",
    );
    let n = jetstream_config::platform::PLATFORMS.len();
    assert_eq!(v.errors.len(), n, "{:#?}", v.errors);
    for (e, p) in v.errors.iter().zip(jetstream_config::platform::PLATFORMS) {
        assert_eq!(
            e.message,
            format!(
                "Outcome not_an_outcome doesn't support the platform '{0}' (platform: {0})",
                p.app_name
            )
        );
    }
}
