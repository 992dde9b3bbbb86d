//! Every real config parses; experiment configs resolve.

use std::path::PathBuf;

use chrono::NaiveDate;
use jetstream_config::collection::{FileKind, load_file};
use jetstream_config::validate::{ValidateOptions, validate_file};

use crate::{configs, metric_hub};

fn all_toml() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![metric_hub()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_toml_file_parses() {
    let files = all_toml();
    assert_eq!(files.len(), 439, "number of TOML files in the fixture");
    let mut experiments = 0;
    for f in &files {
        let report = load_file(f);
        assert!(
            report.errors.is_empty(),
            "{}: {:?}",
            f.display(),
            report
                .errors
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
        );
        if matches!(report.kind, FileKind::Experiment { .. }) {
            experiments += 1;
        }
    }
    assert_eq!(experiments, 366);
    assert!(configs().broken.is_empty());
    assert_eq!(configs().configs.len(), 366);
    assert_eq!(configs().outcomes.len(), 43);
}

/// Experiment configs that reference definitions which no longer exist anywhere in this
/// metric-hub snapshot (the reference resolves them only against the older commits it pins
/// with `as_of`). They must fail, naming the missing definition.
const STALE: &[(&str, &str)] = &[
    (
        "cross-platform-enhanced-suggest",
        "urlbar_events_unnested_results",
    ),
    ("fakespot-in-suggest", "urlbar_events_unnested_results"),
    (
        "firefox-mdn-web-docs-suggestion-experiment",
        "urlbar_events_unnested_results",
    ),
    (
        "higher-placement-phase-3-relaunch",
        "urlbar_events_unnested_results",
    ),
    (
        "home-and-newtab-wallpapers-v1-highlight",
        "newtab_search_enabled",
    ),
    (
        "home-and-newtab-wallpapers-v1-spotlight",
        "newtab_search_enabled",
    ),
    (
        "pages-ranking-experiment-revised",
        "urlbar_events_unnested_results",
    ),
    ("shortcuts-visual-refresh", "sponsored_tiles_disabled"),
    (
        "sponsored-suggestion-placement-phase-2",
        "urlbar_events_unnested_results",
    ),
    (
        "sponsored-suggestion-placement",
        "urlbar_events_unnested_results",
    ),
    (
        "weather-suggestions-simplified",
        "urlbar_events_unnested_results",
    ),
];

#[test]
fn every_file_validates_except_stale_experiment_configs() {
    let opts = ValidateOptions {
        platform: None,
        start_date: NaiveDate::from_ymd_opt(2026, 1, 5).expect("date"),
    };
    let mut valid = 0;
    let mut stale_seen = 0;
    for f in all_toml() {
        let v = validate_file(&f, configs(), &opts);
        let stem = f
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_experiment = matches!(v.kind, FileKind::Experiment { .. });
        match STALE.iter().find(|(s, _)| is_experiment && *s == stem) {
            Some((_, missing)) => {
                stale_seen += 1;
                assert!(!v.is_valid(), "{stem} unexpectedly resolves");
                assert!(
                    v.errors.iter().any(|e| e.message.contains(missing)),
                    "{stem}: {:?}",
                    v.errors
                );
            }
            None => {
                assert!(
                    v.is_valid(),
                    "{}: {:?}",
                    f.display(),
                    v.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>()
                );
                valid += 1;
            }
        }
    }
    assert_eq!(stale_seen, STALE.len());
    assert_eq!(valid, 439 - STALE.len());
}

#[test]
fn unknown_nested_keys_are_warnings() {
    let w = &configs().warnings;
    assert!(
        w.iter().any(|e| e.key.ends_with(".descriptionn")),
        "misspelled `descriptionn` should be reported"
    );
    assert!(w.iter().any(|e| e.key.ends_with(".exposure_basis")));
    assert!(w.iter().any(|e| e.key == "experiment.enrollment_end_date"));
    // every warning names the file and the line
    assert!(w.iter().all(|e| e.file.is_some() && e.line.is_some()));
}
