//! The invariant of daily partials: every metric table and every statistics row built from
//! partials equals the full scan's (`--full-scan`: each window's days read again), on
//! simulated telemetry with the real firefox_desktop and fenix defaults — clients without
//! rows, the day-0 filter, an exposure signal, late rows picked up by the lookback.

use std::path::Path;

use chrono::{Duration, NaiveDate};
use jetstream_analysis::partials::PartialsOptions;
use jetstream_analysis::{NoProgress, RunOptions, run_analysis};
use jetstream_config::ConfigCollection;
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_simulate::{EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX, SimReport};
use jetstream_warehouse::{Columns, TableName, Warehouse};

use crate::run::simulated::{config_over, d, sim};

/// A simulated experiment resolved over the vendored metric-hub (its platform's defaults and
/// definitions) and the simulator's experiment configs.
fn with_metric_hub(report: &SimReport, slug: &str) -> AnalysisConfiguration {
    let hub = ConfigCollection::load_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub"),
    )
    .expect("metric-hub");
    config_over(report, slug, hub, |t| t)
}

fn options(dataset: &str, partials: Option<PartialsOptions>) -> RunOptions {
    RunOptions {
        dataset: dataset.into(),
        partials,
        seed: 7,
        ..RunOptions::default()
    }
}

/// Analyse `config` on `date` with `options`; no error may be logged, and the partials must
/// not have fallen back to window queries.
fn analyse(wh: &DuckDbWarehouse, config: &AnalysisConfiguration, date: NaiveDate, o: &RunOptions) {
    let report = run_analysis(config, date, wh, o, None, &NoProgress).expect("run");
    assert!(report.errors.is_empty(), "{date}: {:?}", report.errors);
    assert!(
        !report
            .warnings
            .iter()
            .any(|w| w.func_name == "daily_partials"),
        "{date}: {:?}",
        report.warnings
    );
}

/// Analyse the experiments on `dates` both ways and compare every table.
fn compare(wh: &DuckDbWarehouse, report: &SimReport, slugs: &[&str], dates: &[NaiveDate]) {
    for slug in slugs {
        let config = with_metric_hub(report, slug);
        let inc = PartialsOptions::default();
        for date in dates {
            analyse(wh, &config, *date, &options("full", None));
            analyse(wh, &config, *date, &options("inc", Some(inc.clone())));
        }
        let compared = assert_equal_results(wh, slug, "full", "inc");
        assert!(compared >= 2, "{slug}: only {compared} tables compared");
        let partials = jetstream_sql::naming::partials_table(slug, "clients_daily");
        let fenix = jetstream_sql::naming::partials_table(slug, "baseline");
        assert!(
            rows_of(wh, "inc", &partials) + rows_of(wh, "inc", &fenix) > 0,
            "{slug}: the partials were used"
        );
        if config.experiment.exposure_signal.is_some() {
            let exposures = jetstream_sql::naming::exposure_partials_table(slug);
            assert!(
                rows_of(wh, "inc", &exposures) > 0,
                "{slug}: the exposure signal's partials were used"
            );
        }
    }
}

fn table(wh: &DuckDbWarehouse, dataset: &str, name: &str) -> Columns {
    wh.query_columns(&format!(
        "SELECT * FROM `{}.{dataset}.{name}`",
        wh.project()
    ))
    .expect(name)
}

/// Every table of `full`'s dataset that the experiment wrote (metrics and statistics; not
/// the partials, which only the other side has) equals the same table of `inc`'s, rows sorted
/// the same way.
fn assert_equal_results(wh: &DuckDbWarehouse, slug: &str, full: &str, inc: &str) -> usize {
    let norm = jetstream_sql::naming::bq_normalize_name(slug);
    let mut compared = 0;
    for t in wh.list_tables(full, "").expect("list") {
        let name = &t.table;
        let is_metrics = name.starts_with(&format!("{norm}_")) && !name.contains("_partials_");
        let is_stats = name.starts_with(&format!("statistics_{norm}_"));
        if !(is_metrics || is_stats) || wh.table_metadata(&t).ok().flatten().is_none() {
            continue; // views and other experiments' tables
        }
        let order = if is_stats {
            "metric, statistic, parameter, branch, comparison, comparison_to_branch, segment, analysis_basis"
        } else {
            "analysis_id, branch, analysis_window_start, analysis_window_end"
        };
        let q = |ds: &str| {
            wh.query_columns(&format!(
                "SELECT * FROM `{}.{ds}.{name}` ORDER BY {order}",
                wh.project()
            ))
            .expect(name)
        };
        let (a, b) = (q(full), q(inc));
        assert!(a.rows() > 0, "{name}: no rows");
        if let Some(d) = a.difference(&b, 1e-12) {
            panic!("{name}: {d}");
        }
        compared += 1;
    }
    compared
}

fn rows_of(wh: &DuckDbWarehouse, dataset: &str, name: &str) -> usize {
    let t = TableName::new(dataset, name).expect("name");
    if wh.table_exists(&t).expect("exists") {
        table(wh, dataset, name).rows()
    } else {
        0
    }
}

/// The desktop experiments (an enrollment segment; an exposure signal whose window ends with
/// the analysis window's) and the fenix one (Glean), on the first week's date and the last
/// (the overall window, the partials of every day computed in one pass).
#[test]
fn partials_equal_the_full_scan_on_a_week_and_the_whole_life() {
    let s = sim(300, 21, &[("active_hours_sum", 0.2), ("sap", 0.1)]);
    compare(
        &s.wh,
        &s.report,
        &[EXPERIMENT_A, EXPERIMENT_B, EXPERIMENT_FENIX],
        &[d("2026-01-22"), d("2026-01-28")],
    );
}

/// The three-branch experiment (an exposure signal, a ratio metric, late enrollments) on every
/// date from the first ready window to the end, with the default lookback: each date's
/// partials come from the days before and the lookback (the two-date test above computes
/// most days in one pass).
#[test]
#[ignore = "slow: 21 dates × 2 paths (about 2 minutes)"]
fn partials_equal_the_full_scan_on_every_date() {
    let s = sim(300, 21, &[("active_hours_sum", 0.2), ("sap", 0.1)]);
    let dates: Vec<NaiveDate> = d("2026-01-08")
        .iter_days()
        .take_while(|x| *x <= d("2026-01-28"))
        .collect();
    compare(&s.wh, &s.report, &[EXPERIMENT_B], &dates);
}

/// Rows that land after their day was analysed: the lookback recomputes that day's partials
/// and the results equal the full scan again; without a lookback they are missed (the
/// comparison can fail).
#[test]
fn late_rows_are_picked_up_by_the_lookback() {
    let s = sim(300, 5, &[]);
    let config = with_metric_hub(&s.report, EXPERIMENT_A);
    let lookback = PartialsOptions::new(2);
    let none = PartialsOptions::new(0);
    let last = d("2026-01-28");
    let before = last - Duration::days(1);
    for date in [d("2026-01-17"), before] {
        analyse(&s.wh, &config, date, &options("full", None));
        analyse(
            &s.wh,
            &config,
            date,
            &options("inc", Some(lookback.clone())),
        );
        analyse(&s.wh, &config, date, &options("inc0", Some(none.clone())));
    }
    // Late rows for the day before the last: every client of the experiment gets an extra
    // hour of activity on it.
    s.wh.execute_native(&format!(
        "INSERT INTO \"moz-fx-data-shared-prod\".telemetry.clients_daily BY NAME
         SELECT * REPLACE (active_hours_sum + 1 AS active_hours_sum)
         FROM \"moz-fx-data-shared-prod\".telemetry.clients_daily
         WHERE submission_date = DATE '{}'",
        before - Duration::days(1)
    ))
    .expect("late rows");
    // Fresh options (a new process): the lookback days are computed again.
    analyse(&s.wh, &config, last, &options("full", None));
    analyse(
        &s.wh,
        &config,
        last,
        &options("inc", Some(PartialsOptions::new(2))),
    );
    analyse(
        &s.wh,
        &config,
        last,
        &options("inc0", Some(PartialsOptions::new(0))),
    );
    assert!(assert_equal_results(&s.wh, EXPERIMENT_A, "full", "inc") > 0);
    let missed =
        std::panic::catch_unwind(|| assert_equal_results(&s.wh, EXPERIMENT_A, "full", "inc0"));
    assert!(
        missed.is_err(),
        "without a lookback the late rows are missed"
    );
}
