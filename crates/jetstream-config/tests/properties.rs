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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        for kind in kinds() {
            let _ = parse_file(&text, kind, Path::new("x.toml"));
        }
    }

    #[test]
    fn arbitrary_toml_never_panics(doc in toml_doc()) {
        for kind in kinds() {
            let report = parse_file(&doc, kind, Path::new("x.toml"));
            if let Some(ParsedFile::Experiment(Some(spec))) = report.parsed {
                for app in ["firefox_desktop", "fenix"] {
                    let e = Experiment::dummy("p", app, NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"));
                    let _ = resolve_experiment(&e, Some(&spec), configs());
                }
            }
        }
    }
}
