//! The cumulative window with always-valid intervals through the whole pipeline (simulator →
//! SQL → statistics): on A/A experiments looked at every day, the always-valid interval of the
//! difference excludes zero on some day in at most 5% of the experiments, the fixed-horizon
//! interval of the same rows far more often; a planted effect is still found.

use std::path::Path;

use jetstream_config::enums::AnalysisPeriod;
use jetstream_job::{Column, ExperimentSource as _, Job, JobOptions, Quiet, RunOptions};
use jetstream_simulate::EXPERIMENT_A;

use super::job::{d, hub, scratch};

const CONFIG: &str = r#"[metrics]
cumulative = ["hours_always_valid", "hours_fixed"]

[data_sources.sim_clients_daily]
from_expression = "mozdata.telemetry.clients_daily"
experiments_column_type = "simple"

[metrics.hours_always_valid]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
[metrics.hours_always_valid.statistics.linear_model_mean]
always_valid = true

[metrics.hours_fixed]
data_source = "sim_clients_daily"
select_expression = "COALESCE(SUM(active_hours_sum), 0)"
[metrics.hours_fixed.statistics.linear_model_mean]
"#;

/// One looked-at day: the window index, and the (lower, upper) of treatment − control for the
/// always-valid and the fixed interval.
#[derive(Debug, Clone, Copy)]
struct Look {
    day: i64,
    valid: (f64, f64),
    fixed: (f64, f64),
}

/// Simulate `clients` with `seed` (and a relative lift on active hours), analyse the
/// cumulative window of the two-branch experiment on every date, return its looks.
fn looks(dir: &Path, clients: u64, seed: u64, lift: f64) -> Vec<Look> {
    let wh = jetstream_job::WarehouseSpec::new("duckdb::memory:")
        .open_duckdb()
        .expect("warehouse");
    let mut effects = std::collections::BTreeMap::new();
    if lift != 0.0 {
        effects.insert("active_hours_sum".to_string(), lift);
    }
    let report = jetstream_simulate::simulate(
        &wh,
        &jetstream_simulate::SimOptions {
            clients,
            start: d("2026-01-01"),
            days: 28,
            seed,
            effects,
        },
    )
    .expect("simulate");
    wh.mirror_catalog("moz-fx-data-shared-prod", "mozdata")
        .expect("mirror");
    std::fs::create_dir_all(dir.join("jetstream")).expect("mkdir");
    std::fs::write(dir.join(format!("jetstream/{EXPERIMENT_A}.toml")), CONFIG).expect("config");
    let recipes = serde_json::to_string(&jetstream_simulate::recipes(&report)).expect("json");
    let parsed = jetstream_job::parse_recipes(&recipes, d("2026-11-30"))
        .expect("recipes")
        .experiments(&[], d("2026-11-30"))
        .expect("source");
    let options = JobOptions {
        run: RunOptions {
            periods: Some(vec![AnalysisPeriod::Cumulative]),
            ..RunOptions::default()
        },
        ..JobOptions::default()
    };
    let job = Job::new(&wh, hub(dir), options)
        .expect("job")
        .with_parallelism(1)
        .expect("parallelism");
    let report = job.rerun(
        &parsed,
        &[EXPERIMENT_A.to_string()],
        d("2026-01-28"),
        &Quiet,
    );
    assert!(report.success(), "{report:?}");
    let rows = job
        .query(&format!(
            "SELECT metric, window_index, lower, upper FROM \
             mozanalysis.statistics_{}_cumulative \
             WHERE comparison = 'difference' AND branch = 'treatment' \
             AND comparison_to_branch = 'control' AND analysis_basis = 'enrollments' \
             AND segment = 'all' ORDER BY window_index, metric",
            EXPERIMENT_A.replace('-', "_")
        ))
        .expect("statistics");
    let text = |c: &str| match rows.get(c) {
        Some(Column::Text(v)) => v.iter().map(|x| x.clone().unwrap_or_default()).collect(),
        other => panic!("{c}: {other:?}"),
    };
    let int = |c: &str| match rows.get(c) {
        Some(Column::Int(v)) => v.iter().map(|x| x.unwrap_or(-1)).collect::<Vec<i64>>(),
        other => panic!("{c}: {other:?}"),
    };
    let float = |c: &str| match rows.get(c) {
        Some(Column::Float(v)) => v
            .iter()
            .map(|x| x.unwrap_or(f64::NAN))
            .collect::<Vec<f64>>(),
        other => panic!("{c}: {other:?}"),
    };
    let (metric, day, lower, upper): (Vec<String>, _, _, _) = (
        text("metric"),
        int("window_index"),
        float("lower"),
        float("upper"),
    );
    let mut out: Vec<Look> = Vec::new();
    for i in 0..metric.len() {
        let bounds = (lower[i], upper[i]);
        let look = match out.last_mut() {
            Some(l) if l.day == day[i] => l,
            _ => {
                out.push(Look {
                    day: day[i],
                    valid: (f64::NAN, f64::NAN),
                    fixed: (f64::NAN, f64::NAN),
                });
                out.last_mut().expect("pushed")
            }
        };
        if metric[i] == "hours_always_valid" {
            look.valid = bounds;
        } else {
            look.fixed = bounds;
        }
    }
    out
}

fn excludes_zero((lo, hi): (f64, f64)) -> bool {
    lo > 0.0 || hi < 0.0
}

#[test]
#[ignore = "slow: 40 simulated experiments × daily looks, minutes in a debug build"]
#[allow(clippy::print_stderr)] // the measured rates, for the run's log
fn always_valid_intervals_keep_their_error_rate_over_daily_looks() {
    const SEEDS: u64 = 40;
    let dir = scratch("sequential");
    let results: Vec<Vec<Look>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|part| {
                let dir = dir.join(format!("part{part}"));
                s.spawn(move || {
                    (0..SEEDS)
                        .filter(|seed| seed % 2 == part)
                        .map(|seed| looks(&dir, 600, 1000 + seed, 0.0))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    let days = results[0].len();
    assert!(days >= 10, "{days} looks");
    let mut valid_hits = 0;
    let mut fixed_hits = 0;
    let mut ratios = Vec::new();
    for looks in &results {
        assert_eq!(looks.len(), days);
        for (i, l) in looks.iter().enumerate() {
            assert_eq!(l.day, i as i64 + 1, "a look every day");
            assert!(
                l.valid.0 < l.fixed.0 && l.valid.1 > l.fixed.1,
                "always-valid contains fixed: {l:?}"
            );
        }
        valid_hits += usize::from(looks.iter().any(|l| excludes_zero(l.valid)));
        fixed_hits += usize::from(looks.iter().any(|l| excludes_zero(l.fixed)));
        let last = looks.last().expect("a look");
        ratios.push((last.valid.1 - last.valid.0) / (last.fixed.1 - last.fixed.0));
    }
    let n = results.len() as f64;
    let (valid_rate, fixed_rate) = (valid_hits as f64 / n, fixed_hits as f64 / n);
    let ratio = ratios.iter().sum::<f64>() / n;
    eprintln!(
        "A/A, {} experiments x {days} daily looks: always-valid excludes 0 on some day in \
         {:.1}%, fixed in {:.1}%; width ratio on the last day {ratio:.2}",
        results.len(),
        valid_rate * 100.0,
        fixed_rate * 100.0
    );
    assert!(valid_rate <= 0.05, "always-valid: {valid_rate}");
    assert!(
        fixed_rate >= 2.0 * valid_rate.max(0.05),
        "fixed: {fixed_rate}"
    );
    assert!((1.3..2.0).contains(&ratio), "{ratio}");

    // a planted +40% on active hours is found by both; the always-valid interval later
    let planted = looks(&dir.join("planted"), 600, 7, 0.4);
    let first = |f: fn(&Look) -> (f64, f64)| planted.iter().find(|l| f(l).0 > 0.0).map(|l| l.day);
    let (valid_day, fixed_day) = (first(|l| l.valid), first(|l| l.fixed));
    eprintln!("+40% planted: detected on day {fixed_day:?} (fixed), {valid_day:?} (always-valid)");
    let (Some(v), Some(f)) = (valid_day, fixed_day) else {
        panic!("the planted effect is not found: {planted:?}");
    };
    assert!(f <= v);
}
