//! Arbitrary bytes and arbitrary TOML never panic the parser or the resolver.

use std::path::Path;

use chrono::NaiveDate;
use jetstream_config::collection::{FileKind, ParsedFile, parse_file};
use jetstream_config::experiment::Experiment;
use jetstream_config::resolve::resolve_experiment;
use proptest::prelude::*;

use crate::configs;

fn kinds() -> Vec<FileKind> {
    vec![
        FileKind::Experiment { slug: "p".into() },
        FileKind::Outcome {
            slug: "o".into(),
            platform: "fenix".into(),
        },
        FileKind::Default {
            slug: "fenix".into(),
        },
        FileKind::Definitions {
            platform: "fenix".into(),
        },
        FileKind::Functions,
    ]
}

fn toml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:?}")),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z_{}\"'*. ]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("\"{{agg_sum('x')}}\"".to_string()),
        Just("\"{{ parameters.p }}\"".to_string()),
        // Templates that would run away: loops, recursion, huge text.
        (1u32..200_000).prop_map(|n| format!(
            "\"{{% for i in range({n}) %}}{{% for j in range({n}) %}}{{{{ j }}}}{{% endfor %}}{{% endfor %}}\""
        )),
        Just("\"{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}\"".to_string()),
        (1u64..u64::MAX).prop_map(|n| format!("\"{{{{ 'x' * {n} }}}}\"")),
        "[{}%#a-z ()'*]{0,24}".prop_map(|s| format!("{s:?}")),
        Just("\"2024-01-01\"".to_string()),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..4).prop_map(|v| {
                let body: Vec<String> = v.into_iter().map(|(k, x)| format!("{k} = {x}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

const KEYS: &[&str] = &[
    "metrics",
    "experiment",
    "data_sources",
    "segments",
    "parameters",
    "functions",
    "metrics.weekly",
    "metrics.overall",
    "metrics.m",
    "metrics.m.statistics",
    "metrics.m.statistics.bootstrap_mean",
    "metrics.m.statistics.linear_model_mean.covariate_adjustment",
    "metrics.m.select_expression",
    "metrics.m.data_source",
    "metrics.m.depends_on",
    "data_sources.d",
    "data_sources.d.from_expression",
    "experiment.segments",
    "experiment.exposure_signal",
    "experiment.enrollment_query",
    "segments.s",
    "segments.data_sources.x",
    "parameters.p",
    "parameters.p.default",
    "friendly_name",
    "description",
    "weekly",
];

fn toml_doc() -> impl Strategy<Value = String> {
    prop::collection::vec((prop::sample::select(KEYS), toml_value()), 0..8).prop_map(|entries| {
        entries
            .into_iter()
            .map(|(k, v)| format!("{k} = {v}\n"))
            .collect::<String>()
    })
}

/// Cases per property: 256 in the slow tier (`cargo xtask test`), 64 in a plain run, or
/// `JETSTREAM_FUZZ_CASES` (the fuzzing pass runs 100,000).
fn cases() -> u32 {
    jetstream_test_support::cases(64, 256)
}

/// The longest a case may take: a hang is a failure.
const CASE_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let started = std::time::Instant::now();
        let text = String::from_utf8_lossy(&bytes);
        for kind in kinds() {
            let _ = parse_file(&text, kind, Path::new("x.toml"));
        }
        prop_assert!(started.elapsed() < CASE_LIMIT, "{:?}", started.elapsed());
    }

    #[test]
    fn arbitrary_toml_and_templates_never_panic_nor_hang(doc in toml_doc()) {
        // The vendored metric-hub loads once, before the clock starts: a case's time is its own.
        let _ = configs();
        let started = std::time::Instant::now();
        for kind in kinds() {
            let report = parse_file(&doc, kind, Path::new("x.toml"));
            if let Some(ParsedFile::Experiment(Some(spec))) = report.parsed {
                for app in ["firefox_desktop", "fenix"] {
                    let e = Experiment::dummy("p", app, NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"));
                    let _ = resolve_experiment(&e, Some(&spec), configs());
                }
            }
        }
        prop_assert!(started.elapsed() < CASE_LIMIT, "{:?}: {}", started.elapsed(), doc);
    }
}
