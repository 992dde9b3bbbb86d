//! A simulated platform in an in-memory DuckDB and the resolved configs of its experiments:
//! shared by the run tests (`tests/run.rs`) and the phase tests of `src/run.rs`.

use std::path::Path;

use chrono::NaiveDate;
use jetstream_config::ConfigCollection;
use jetstream_config::collection::{FileKind, parse_file};
use jetstream_config::resolve::{AnalysisConfiguration, resolve_experiment};
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_simulate::{SimOptions, SimReport, simulate};

/// The results project.
pub(crate) const RESULTS: &str = "moz-fx-data-experiments";

pub(crate) fn d(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
}

pub(crate) struct Sim {
    pub(crate) wh: DuckDbWarehouse,
    pub(crate) report: SimReport,
}

pub(crate) fn sim(clients: u64, seed: u64, effects: &[(&str, f64)]) -> Sim {
    let wh = DuckDbWarehouse::in_memory(RESULTS).expect("warehouse");
    let opts = SimOptions {
        clients,
        start: d("2026-01-01"),
        days: 28,
        seed,
        effects: effects.iter().map(|(c, l)| (c.to_string(), *l)).collect(),
    };
    let report = simulate(&wh, &opts).expect("simulate");
    wh.mirror_catalog("moz-fx-data-shared-prod", "mozdata")
        .expect("mirror");
    Sim { wh, report }
}

/// The resolved config of a simulated experiment, its TOML passed through `edit`.
pub(crate) fn config(
    report: &SimReport,
    slug: &str,
    edit: impl Fn(String) -> String,
) -> AnalysisConfiguration {
    config_over(report, slug, ConfigCollection::new(), edit)
}

/// [`config`], with the simulator's experiment configs added to `configs` (the vendored
/// metric-hub, say: its platform defaults and definitions then apply).
pub(crate) fn config_over(
    report: &SimReport,
    slug: &str,
    mut configs: ConfigCollection,
    edit: impl Fn(String) -> String,
) -> AnalysisConfiguration {
    let recipes = serde_json::to_string(&jetstream_simulate::recipes(report)).expect("json");
    let parsed = jetstream_experimenter::parse_payload(&recipes, d("2026-11-26")).expect("recipes");
    let experiment = parsed
        .experiments
        .iter()
        .find(|e| e.normandy_slug == slug)
        .expect("experiment");
    let broken = configs.broken.len();
    for (s, toml) in jetstream_simulate::configs() {
        let text = edit(toml);
        configs.add(parse_file(
            &text,
            FileKind::Experiment { slug: s.clone() },
            Path::new(&format!("{s}.toml")),
        ));
    }
    assert_eq!(configs.broken.len(), broken, "{:?}", configs.broken);
    resolve_experiment(experiment, configs.spec_for_experiment(slug), &configs).expect("resolve")
}
