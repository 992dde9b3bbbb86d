//! The whole analysis run on simulated telemetry with planted effects (real DuckDB).

use std::collections::BTreeMap;

use chrono::NaiveDate;
use jetstream_analysis::{NoProgress, RunOptions, RunReport, run_analysis};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::resolve::AnalysisConfiguration;
use jetstream_duckdb::DuckDbWarehouse;
use jetstream_simulate::{EXPERIMENT_A, EXPERIMENT_B};
use jetstream_warehouse::{Column, Columns, TableName, Warehouse};

#[path = "simulated.rs"]
pub(crate) mod simulated;
use simulated::{config, sim};

fn logs() -> TableName {
    TableName::new("monitoring", "logs").expect("name")
}

fn run_dates(
    wh: &DuckDbWarehouse,
    config: &AnalysisConfiguration,
    dates: impl Iterator<Item = NaiveDate>,
) -> Vec<RunReport> {
    dates
        .map(|date| {
            run_analysis(
                config,
                date,
                wh,
                &RunOptions::default(),
                Some(&logs()),
                &NoProgress,
            )
            .expect("run")
        })
        .collect()
}

fn query(wh: &DuckDbWarehouse, sql: &str) -> Columns {
    wh.query_columns(sql).expect(sql)
}

fn floats(c: &Columns, name: &str) -> Vec<f64> {
    c.get(name)
        .and_then(Column::to_f64)
        .expect(name)
        .into_iter()
        .map(|v| v.expect("value"))
        .collect()
}

fn texts(c: &Columns, name: &str) -> Vec<String> {
    c.get(name)
        .and_then(Column::as_text)
        .expect(name)
        .iter()
        .map(|v| v.clone().expect("value"))
        .collect()
}

/// The interval of the relative uplift of `metric` (bootstrap mean) for `branch` vs control.
fn uplift(wh: &DuckDbWarehouse, table: &str, metric: &str, branch: &str) -> (f64, f64, f64) {
    let c = query(
        wh,
        &format!(
            "SELECT point, lower, upper FROM mozanalysis.{table}
             WHERE metric = '{metric}' AND statistic = 'mean' AND comparison = 'relative_uplift'
               AND comparison_to_branch = 'control' AND branch = '{branch}'
               AND segment = 'all' AND analysis_basis = 'enrollments'"
        ),
    );
    assert_eq!(c.rows(), 1, "{metric} {branch}");
    (
        floats(&c, "point")[0],
        floats(&c, "lower")[0],
        floats(&c, "upper")[0],
    )
}

// The interval checks are 95% properties of seeded data: another seed can fail them by chance
// (seed 11, for one, draws a treatment group whose uri_count is 5% lower already in the
// pre-enrollment week, so its "unaffected" interval excludes 0). Seeds are fixed so the tests
// are deterministic; the coverage of the intervals themselves is tested in jetstream-stats.
#[test]
fn planted_lifts_are_recovered_and_enrollments_match_the_simulation() {
    let lift = 0.3;
    let s = sim(4000, 13, &[("active_hours_sum", lift)]);
    let a = config(&s.report, EXPERIMENT_A, |t| t);
    let truth = &s.report.experiments[0];
    assert_eq!(truth.slug, EXPERIMENT_A);
    let reports = run_dates(
        &s.wh,
        &a,
        truth
            .start_date
            .iter_days()
            .take_while(|x| *x <= truth.end_date),
    );
    assert!(reports.iter().all(|r| r.errors.is_empty()), "{reports:?}");
    let written: Vec<String> = reports
        .iter()
        .flat_map(|r| r.periods.iter().map(|p| p.table.table.clone()))
        .collect();
    assert_eq!(
        written,
        [
            "statistics_jetstream_sim_two_branches_preenrollment_week_1",
            "statistics_jetstream_sim_two_branches_week_1",
            "statistics_jetstream_sim_two_branches_overall_1",
        ]
    );

    let table = "statistics_jetstream_sim_two_branches_overall_1";
    let (point, lower, upper) = uplift(&s.wh, table, "active_hours", "treatment");
    assert!(
        lower <= lift && lift <= upper && lower > 0.0,
        "active_hours uplift {point} [{lower}, {upper}] should cover {lift} and exclude 0"
    );
    for unaffected in ["uri_count", "days_of_use"] {
        let (point, lower, upper) = uplift(&s.wh, table, unaffected, "treatment");
        assert!(
            lower <= 0.0 && 0.0 <= upper,
            "{unaffected} uplift {point} [{lower}, {upper}] should cover 0"
        );
    }
    // The covariate-adjusted linear model finds it too, with a narrower interval.
    let lm = query(
        &s.wh,
        &format!(
            "SELECT lower, upper FROM mozanalysis.{table} WHERE metric = 'active_hours'
             AND statistic = 'mean_lm' AND comparison = 'relative_uplift' AND segment = 'all'
             AND analysis_basis = 'enrollments' AND branch = 'treatment'"
        ),
    );
    let (lm_lower, lm_upper) = (floats(&lm, "lower")[0], floats(&lm, "upper")[0]);
    assert!(lm_lower <= lift && lift <= lm_upper && lm_lower > 0.0);
    assert!(lm_upper - lm_lower < upper - lower);

    // Counts per branch are the simulator's enrollments, in the statistics and the
    // enrollments table.
    let counts = query(
        &s.wh,
        &format!(
            "SELECT branch, point FROM mozanalysis.{table} WHERE metric = 'identity'
             AND segment = 'all' AND analysis_basis = 'enrollments' ORDER BY branch"
        ),
    );
    let got: BTreeMap<String, u64> = texts(&counts, "branch")
        .into_iter()
        .zip(floats(&counts, "point"))
        .map(|(b, n)| (b, n as u64))
        .collect();
    assert_eq!(got, truth.enrolled);
    let enrolled = query(
        &s.wh,
        "SELECT branch, count(*) AS n FROM mozanalysis.enrollments_jetstream_sim_two_branches
         GROUP BY branch ORDER BY branch",
    );
    let got: BTreeMap<String, u64> = texts(&enrolled, "branch")
        .into_iter()
        .zip(floats(&enrolled, "n"))
        .map(|(b, n)| (b, n as u64))
        .collect();
    assert_eq!(got, truth.enrolled);

    // Segments and the exposures basis are analysed; the views cover the window tables.
    let segments = query(
        &s.wh,
        &format!("SELECT DISTINCT segment, analysis_basis FROM mozanalysis.{table} ORDER BY 1, 2"),
    );
    assert_eq!(
        texts(&segments, "segment"),
        ["all", "all", "heavy_users", "heavy_users"]
    );
    let view = query(
        &s.wh,
        "SELECT DISTINCT window_index FROM mozanalysis.statistics_jetstream_sim_two_branches_weekly",
    );
    assert_eq!(view.get("window_index"), Some(&Column::Int(vec![Some(1)])));
    let metrics_view = query(
        &s.wh,
        "SELECT count(*) AS n FROM mozanalysis.jetstream_sim_two_branches_enrollments_overall",
    );
    assert_eq!(
        floats(&metrics_view, "n")[0] as u64,
        truth.enrolled.values().sum::<u64>()
    );
}

#[test]
fn three_branches_exposure_signal_and_a_ratio_metric() {
    let s = sim(3000, 13, &[("sap", 0.5)]);
    let b = config(&s.report, EXPERIMENT_B, |t| t);
    let truth = &s.report.experiments[1];
    let reports = run_dates(&s.wh, &b, [truth.end_date].into_iter());
    assert!(reports[0].errors.is_empty(), "{:?}", reports[0].errors);
    let table = "statistics_jetstream_sim_three_branches_overall_1";
    for branch in ["treatment-a", "treatment-b"] {
        let (point, lower, upper) = uplift(&s.wh, table, "search_count", branch);
        assert!(
            lower <= 0.5 && 0.5 <= upper && lower > 0.0,
            "{branch}: {point} [{lower}, {upper}]"
        );
    }
    // Every ordered pair of branches is compared.
    let pairs = query(
        &s.wh,
        &format!(
            "SELECT DISTINCT branch, comparison_to_branch FROM mozanalysis.{table}
             WHERE metric = 'uri_count' AND comparison IS NOT NULL"
        ),
    );
    assert_eq!(pairs.rows(), 6);
    // The derived metric (population ratio of two data sources' columns) has rows.
    let ratio = query(
        &s.wh,
        &format!(
            "SELECT count(*) AS n FROM mozanalysis.{table} WHERE metric = 'ads_per_search'
             AND analysis_basis = 'enrollments' AND segment = 'all'"
        ),
    );
    assert!(floats(&ratio, "n")[0] >= 3.0);
    // Exposures (the custom signal) are a subset of the enrolled clients.
    let counts = query(
        &s.wh,
        &format!(
            "SELECT analysis_basis, sum(point) AS n FROM mozanalysis.{table}
             WHERE metric = 'identity' AND segment = 'all' GROUP BY 1 ORDER BY 1"
        ),
    );
    let n = floats(&counts, "n");
    assert_eq!(n[0] as u64, truth.enrolled.values().sum::<u64>());
    assert!(n[1] > 0.0 && n[1] < n[0], "{n:?}");
}

const BROKEN: &str = r#"
[metrics.broken]
data_source = "sim_clients_daily"
select_expression = "SUM(no_such_column)"
analysis_bases = ["enrollments"]
[metrics.broken.statistics.bootstrap_mean]
"#;

#[test]
fn a_broken_metric_is_isolated_and_logged() {
    let s = sim(800, 3, &[]);
    let a = config(&s.report, EXPERIMENT_A, |t| {
        let listed = t.replacen("overall = [", "overall = [\"broken\", ", 1);
        format!("{listed}\n{BROKEN}")
    });
    assert!(
        a.metrics[&AnalysisPeriod::Overall]
            .iter()
            .any(|x| x.metric.name == "broken")
    );
    let truth = &s.report.experiments[0];
    let options = RunOptions {
        periods: Some(vec![AnalysisPeriod::Overall]),
        ..RunOptions::default()
    };
    let report = run_analysis(
        &a,
        truth.end_date,
        &s.wh,
        &options,
        Some(&logs()),
        &NoProgress,
    )
    .expect("run");
    assert_eq!(report.periods.len(), 1);
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    // Every other metric, including the broken one's data-source siblings, has statistics.
    let metrics = query(
        &s.wh,
        "SELECT DISTINCT metric FROM mozanalysis.statistics_jetstream_sim_two_branches_overall_1
         ORDER BY metric",
    );
    assert_eq!(
        texts(&metrics, "metric"),
        [
            "active_hours",
            "days_of_use",
            "identity",
            "retained",
            "search_count",
            "uri_count"
        ]
    );
    let logged = query(
        &s.wh,
        "SELECT experiment, metric, analysis_basis, analysis_period, log_level, message
         FROM monitoring.logs WHERE log_level = 'ERROR'",
    );
    assert_eq!(logged.rows(), 1);
    assert_eq!(texts(&logged, "metric"), ["broken"]);
    assert_eq!(texts(&logged, "experiment"), [EXPERIMENT_A]);
    assert_eq!(texts(&logged, "analysis_basis"), ["enrollments"]);
    assert_eq!(texts(&logged, "analysis_period"), ["overall_1"]);
    assert_eq!(texts(&logged, "log_level"), ["ERROR"]);
    assert!(texts(&logged, "message")[0].contains("no_such_column"));
}

#[test]
fn a_failure_while_saving_statistics_keeps_the_previous_table() {
    let s = sim(600, 4, &[]);
    let a = config(&s.report, EXPERIMENT_A, |t| t);
    let truth = &s.report.experiments[0];
    let options = RunOptions {
        periods: Some(vec![AnalysisPeriod::Overall]),
        ..RunOptions::default()
    };
    let table = "mozanalysis.statistics_jetstream_sim_two_branches_overall_1";
    let sql = format!("SELECT * FROM {table} ORDER BY ALL");
    run_analysis(&a, truth.end_date, &s.wh, &options, None, &NoProgress).expect("first run");
    let before = query(&s.wh, &sql);
    assert!(before.rows() > 20);

    // The second run's statistics are computed with another seed (other numbers), and the
    // write fails after 5 rows.
    s.wh.inject_write_failure("statistics_", 5);
    let reseeded = RunOptions {
        seed: 99,
        ..options
    };
    let report = run_analysis(
        &a,
        truth.end_date,
        &s.wh,
        &reseeded,
        Some(&logs()),
        &NoProgress,
    )
    .expect("second run");
    assert!(report.periods.is_empty());
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].message.contains("injected failure"));
    assert_eq!(query(&s.wh, &sql), before, "the previous table is intact");

    // Without the failure the table is replaced.
    run_analysis(&a, truth.end_date, &s.wh, &reseeded, None, &NoProgress).expect("third run");
    let after = query(&s.wh, &sql);
    assert_eq!(after.rows(), before.rows());
    assert_ne!(after, before);
}

const STATS_OVERALL: &str = "mozanalysis.statistics_jetstream_sim_two_branches_overall_1";
const CLIENTS_DAILY_OVERALL: &str =
    "mozanalysis.jetstream_sim_two_branches_enrollments_sim_clients_daily_overall_1";

#[test]
fn a_metric_slug_rerun_changes_only_that_metrics_rows() {
    let s = sim(600, 4, &[]);
    let truth = &s.report.experiments[0];
    let overall = RunOptions {
        periods: Some(vec![AnalysisPeriod::Overall]),
        ..RunOptions::default()
    };
    let a = config(&s.report, EXPERIMENT_A, |t| t);
    run_analysis(&a, truth.end_date, &s.wh, &overall, None, &NoProgress).expect("full run");
    let stats = |cond: &str| {
        query(
            &s.wh,
            &format!("SELECT * FROM {STATS_OVERALL} WHERE {cond} ORDER BY ALL"),
        )
    };
    let metrics_table = || {
        query(
            &s.wh,
            &format!("SELECT * FROM {CLIENTS_DAILY_OVERALL} ORDER BY analysis_id"),
        )
    };
    let others_before = stats("metric != 'active_hours'");
    let active_before = stats("metric = 'active_hours'");
    let table_before = metrics_table();
    assert!(others_before.rows() > 50 && active_before.rows() > 10);

    // The definitions change (active hours doubled, URIs tripled) and only active_hours is
    // rerun: its column and rows follow the new definition, everything else stays as it was.
    let changed = config(&s.report, EXPERIMENT_A, |t| {
        t.replace(
            "COALESCE(SUM(active_hours_sum), 0)",
            "COALESCE(SUM(active_hours_sum), 0) * 2",
        )
        .replace(
            "COALESCE(SUM(scalar_parent_browser_engagement_total_uri_count_sum), 0)",
            "COALESCE(SUM(scalar_parent_browser_engagement_total_uri_count_sum), 0) * 3",
        )
    });
    let partial = RunOptions {
        metric_slugs: Some(vec!["active_hours".into()]),
        ..overall.clone()
    };
    let report = run_analysis(&changed, truth.end_date, &s.wh, &partial, None, &NoProgress)
        .expect("metric-slug run");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        stats("metric != 'active_hours'"),
        others_before,
        "every other metric's rows (counts included) are exactly as they were"
    );
    let active_after = stats("metric = 'active_hours'");
    assert_eq!(active_after.rows(), active_before.rows());
    assert_ne!(active_after, active_before, "active_hours was recomputed");

    let table_after = metrics_table();
    assert_eq!(table_after.names(), table_before.names(), "same columns");
    for name in table_before.names() {
        let (before, after) = (table_before.get(name), table_after.get(name));
        if name == "active_hours" {
            let doubled: Vec<Option<f64>> = before
                .and_then(Column::to_f64)
                .expect("numeric")
                .into_iter()
                .map(|v| v.map(|x| x * 2.0))
                .collect();
            assert_eq!(after.and_then(Column::to_f64), Some(doubled));
        } else {
            assert_eq!(before, after, "column {name} kept (uri_count not tripled)");
        }
    }
    // No scratch table is left behind.
    let left =
        s.wh.list_tables("mozanalysis", "")
            .expect("list")
            .into_iter()
            .filter(|t| t.table.contains("__partial"))
            .count();
    assert_eq!(left, 0);
}

#[test]
fn a_statistics_only_rerun_issues_no_metric_query() {
    let s = sim(600, 4, &[]);
    let truth = &s.report.experiments[0];
    let overall = RunOptions {
        periods: Some(vec![AnalysisPeriod::Overall]),
        ..RunOptions::default()
    };
    let a = config(&s.report, EXPERIMENT_A, |t| t);
    let first =
        run_analysis(&a, truth.end_date, &s.wh, &overall, None, &NoProgress).expect("full run");
    let metrics_before = query(
        &s.wh,
        &format!("SELECT * FROM {CLIENTS_DAILY_OVERALL} ORDER BY analysis_id"),
    );
    let recording = jetstream_warehouse::conformance::Spy::new(&s.wh);
    let only_stats = RunOptions {
        statistics_only: true,
        seed: 7,
        ..overall.clone()
    };
    let report = run_analysis(
        &a,
        truth.end_date,
        &recording,
        &only_stats,
        Some(&logs()),
        &NoProgress,
    )
    .expect("statistics-only run");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.periods.len(), 1);
    assert_eq!(report.periods[0].rows, first.periods[0].rows);
    let written = recording.written();
    assert_eq!(
        written,
        vec!["statistics_jetstream_sim_two_branches_overall_1".to_string()],
        "only the statistics table is written: no metric query"
    );
    assert_eq!(
        query(
            &s.wh,
            &format!("SELECT * FROM {CLIENTS_DAILY_OVERALL} ORDER BY analysis_id")
        ),
        metrics_before
    );

    // A missing metric table is a logged error naming it; the other data sources still run.
    s.wh.delete_table(&TableName::new("mozanalysis", &CLIENTS_DAILY_OVERALL[12..]).expect("name"))
        .expect("delete");
    let report = run_analysis(
        &a,
        truth.end_date,
        &s.wh,
        &only_stats,
        Some(&logs()),
        &NoProgress,
    )
    .expect("statistics-only run without a table");
    assert!(!report.errors.is_empty());
    for e in &report.errors {
        assert_eq!(e.exception_type.as_deref(), Some("MissingMetricTable"));
        assert!(
            e.message.contains(&CLIENTS_DAILY_OVERALL[12..]),
            "{}",
            e.message
        );
    }
    let logged = query(
        &s.wh,
        "SELECT COUNT(*) AS n FROM monitoring.logs WHERE exception_type = 'MissingMetricTable'",
    );
    assert_eq!(
        logged.get("n"),
        Some(&Column::Int(vec![Some(report.errors.len() as i64)]))
    );
    let searches = query(
        &s.wh,
        &format!("SELECT COUNT(*) AS n FROM {STATS_OVERALL} WHERE metric = 'search_count'"),
    );
    assert!(
        matches!(searches.get("n"), Some(Column::Int(v)) if v[0] > Some(0)),
        "the search data source's statistics are still computed"
    );
}
