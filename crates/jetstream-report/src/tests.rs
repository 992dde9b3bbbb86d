use chrono::NaiveDate;
use jetstream_config::enums::AnalysisPeriod;

use jetstream_stats::{Comparison, Row};

use crate::{BranchCounts, BranchInfo, LogEntry, MetricInfo, PeriodStatistics, Report, render};

fn row(
    metric: &str,
    statistic: &str,
    branch: &str,
    comparison: Option<Comparison>,
    window: i64,
    v: (f64, f64, f64),
) -> Row {
    Row {
        metric: metric.into(),
        statistic: statistic.into(),
        parameter: None,
        branch: branch.into(),
        comparison,
        comparison_to_branch: comparison.map(|_| "control".into()),
        ci_width: Some(0.95),
        point: Some(v.0),
        lower: Some(v.1),
        upper: Some(v.2),
        segment: "all".into(),
        analysis_basis: "enrollments".into(),
        window_index: Some(window),
    }
}

/// A metric's branch values and comparisons in one window: `uplift` is the treatment's
/// relative difference (point, lower, upper).
fn metric_rows(metric: &str, window: i64, uplift: (f64, f64, f64)) -> Vec<Row> {
    vec![
        row(metric, "mean", "control", None, window, (10.0, 9.5, 10.5)),
        row(
            metric,
            "mean",
            "treatment",
            None,
            window,
            (10.0 * (1.0 + uplift.0), 10.0, 11.0),
        ),
        row(
            metric,
            "mean",
            "treatment",
            Some(Comparison::RelativeUplift),
            window,
            uplift,
        ),
        row(
            metric,
            "mean",
            "treatment",
            Some(Comparison::Difference),
            window,
            (uplift.0 * 10.0, uplift.1 * 10.0, uplift.2 * 10.0),
        ),
    ]
}

fn report() -> Report {
    let mut weekly = Vec::new();
    for w in 1..=3 {
        weekly.extend(metric_rows("active_hours", w, (0.1, 0.05, 0.15)));
    }
    let mut overall = metric_rows("active_hours", 1, (0.1, 0.05, 0.15));
    overall.extend(metric_rows("crashes", 1, (0.2, 0.1, 0.3)));
    overall.extend(metric_rows("searches", 1, (0.01, -0.02, 0.04)));
    for (branch, shift) in [("control", 0.0), ("treatment", 0.5)] {
        for k in 0..20 {
            let x = f64::from(k) / 2.0;
            overall.push(Row {
                parameter: Some(format!("{x:.1}")),
                ..row(
                    "active_hours",
                    "kernel_density_estimate",
                    branch,
                    None,
                    1,
                    ((-(x - 4.0 - shift).powi(2)).exp(), 0.0, 0.0),
                )
            });
        }
    }
    Report {
        slug: "demo-<exp>".into(),
        subtitle: None,
        app_name: "firefox_desktop".into(),
        status: Some("Complete".into()),
        start_date: NaiveDate::from_ymd_opt(2026, 1, 1),
        end_date: NaiveDate::from_ymd_opt(2026, 1, 28),
        enrollment_end_date: NaiveDate::from_ymd_opt(2026, 1, 8),
        reference_branch: Some("control".into()),
        branches: vec![
            BranchInfo {
                slug: "control".into(),
                ratio: 1.0,
            },
            BranchInfo {
                slug: "treatment".into(),
                ratio: 1.0,
            },
        ],
        counts: Some(BranchCounts {
            enrolled: vec![5012, 4988],
            exposed: vec![2500, 2490],
        }),
        metrics: vec![
            MetricInfo {
                slug: "active_hours".into(),
                friendly_name: "Active hours".into(),
                description: Some("Hours <b>active</b> & more".into()),
                bigger_is_better: true,
            },
            MetricInfo {
                slug: "crashes".into(),
                friendly_name: "Crashes".into(),
                description: None,
                bigger_is_better: false,
            },
            MetricInfo {
                slug: "searches".into(),
                friendly_name: "Searches".into(),
                description: None,
                bigger_is_better: true,
            },
        ],
        statistics: vec![
            PeriodStatistics {
                period: AnalysisPeriod::Week,
                rows: weekly,
            },
            PeriodStatistics {
                period: AnalysisPeriod::Overall,
                rows: overall,
            },
        ],
        logs: vec![LogEntry {
            level: "ERROR".into(),
            exception_type: Some("StatisticComputationException".into()),
            metric: Some("searches".into()),
            message: "<script>alert(1)</script>".into(),
            ..LogEntry::default()
        }],
        problems: Vec::new(),
        generated_at: None,
    }
}

fn balanced(html: &str, tag: &str) {
    let open = html.matches(&format!("<{tag}")).count() - html.matches(&format!("<{tag}-")).count();
    let close = html.matches(&format!("</{tag}>")).count();
    assert_eq!(
        open, close,
        "<{tag}> opened {open} times, closed {close} times"
    );
}

#[test]
fn the_page_is_self_contained_balanced_and_escaped() {
    let html = render(&report());
    assert!(html.starts_with("<!DOCTYPE html>"));
    for tag in [
        "section", "article", "table", "svg", "div", "figure", "ul", "tr", "td",
    ] {
        balanced(&html, tag);
    }
    // nothing to fetch and nothing to run
    assert!(!html.contains("<script"), "a script tag got through");
    assert!(!html.contains("src="));
    assert!(!html.contains("href=\"http"));
    assert!(html.contains("default-src 'none'"));
    // names, descriptions and messages are escaped
    assert!(html.contains("demo-&lt;exp&gt;"));
    assert!(html.contains("Hours &lt;b&gt;active&lt;/b&gt; &amp; more"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

#[test]
fn better_and_worse_follow_bigger_is_better() {
    let html = render(&report());
    // active hours up with bigger-is-better: better; crashes up: worse; searches: unclear
    assert!(html.contains(r#"<span class="chip better">treatment: +10.0% better</span>"#));
    assert!(html.contains(r#"<span class="chip worse">treatment: +20.0% worse</span>"#));
    assert!(
        html.contains(r#"<span class="chip neutral">treatment: +1.0% no clear difference</span>"#)
    );
    // the numbers beside the plots: value, relative and absolute differences with intervals
    assert!(html.contains("+10.0%<span class=\"ci\">[+5.0%, +15.0%]</span>"));
    assert!(html.contains("+1<span class=\"ci\">[+0.5, +1.5]</span>"));
}

#[test]
fn plots_show_intervals_time_courses_and_distributions() {
    let html = render(&report());
    // one interval plot per metric
    assert_eq!(
        html.matches("relative difference to control with intervals</title>")
            .count(),
        3
    );
    // the three weekly windows of active hours as a time course
    assert!(html.contains("mean: relative difference to control, by week</figcaption>"));
    assert!(html.contains(">week 3</text>"));
    // the KDE of both branches
    assert!(html.contains("kernel density estimate per branch</figcaption>"));
    let kde = html
        .split("kernel density estimate per branch</figcaption>")
        .nth(1)
        .unwrap();
    let kde = &kde[..kde.find("</svg>").unwrap()];
    assert_eq!(kde.matches("<polyline").count(), 2);
    // headline is the overall period
    assert!(html.contains("Headline: <b>Overall (the whole experiment)</b>"));
}

#[test]
fn a_sample_ratio_mismatch_is_a_banner() {
    let html = render(&report());
    assert!(
        !html.contains("Sample ratio mismatch"),
        "50/50 within noise is not a mismatch"
    );
    assert!(html.contains("consistent with the configured ratios"));
    let mut r = report();
    r.counts = Some(BranchCounts {
        enrolled: vec![5200, 4800],
        exposed: vec![2500, 2490],
    });
    let html = render(&r);
    assert!(html.contains("<strong>Sample ratio mismatch (enrollments basis)</strong>"));
    assert!(!html.contains("Sample ratio mismatch (exposures basis)"));
    // three branches with unequal ratios: counts that match them are fine
    r.branches.push(BranchInfo {
        slug: "big".into(),
        ratio: 2.0,
    });
    r.counts = Some(BranchCounts {
        enrolled: vec![2500, 2510, 4990],
        exposed: vec![0, 0, 0],
    });
    let html = render(&r);
    assert!(!html.contains("Sample ratio mismatch"));
    assert!(html.contains("2 degrees of freedom"));
}

#[test]
fn logs_and_missing_results_are_shown() {
    let html = render(&report());
    assert!(html.contains("1 error and 0 warnings logged"));
    assert!(html.contains("StatisticComputationException"));
    assert!(html.contains("metric searches"));
    let empty = Report {
        slug: "nothing-yet".into(),
        problems: vec!["statistics_nothing_yet_weekly: table not found".into()],
        ..Report::default()
    };
    let html = render(&empty);
    assert!(html.contains("No statistics yet"));
    assert!(html.contains("Nothing was logged for this experiment."));
    assert!(html.contains("statistics_nothing_yet_weekly: table not found"));
    assert!(html.contains("No enrollments table"));
}

#[test]
fn the_reference_branch_is_inferred_from_the_comparisons() {
    let mut r = report();
    r.reference_branch = None;
    r.branches.clear();
    let html = render(&r);
    assert!(html.contains("Compared with <b>control</b>"));
    assert!(html.contains(r#"<span class="chip better">treatment: +10.0% better</span>"#));
}

#[test]
fn latest_windows_head_when_there_is_no_overall() {
    let mut r = report();
    r.statistics.retain(|p| p.period == AnalysisPeriod::Week);
    let html = render(&r);
    assert!(html.contains("Headline: <b>Latest week (week 3)</b>"));
}

#[test]
fn the_cumulative_window_heads_a_running_experiment_and_is_drawn_over_time() {
    let mut r = report();
    r.statistics.retain(|p| p.period == AnalysisPeriod::Week);
    let mut rows = Vec::new();
    for day in 1..=5 {
        rows.extend(metric_rows("active_hours", day, (0.1, -0.05, 0.3)));
    }
    r.statistics.push(PeriodStatistics {
        period: AnalysisPeriod::Cumulative,
        rows,
    });
    let html = render(&r);
    assert!(
        html.contains(
            "Headline: <b>Cumulative (every client&#39;s first 5 days after enrolling)</b>"
        ),
        "{html}"
    );
    assert!(html.contains("relative difference to control, cumulative to each day</figcaption>"));
    // the weekly windows are still drawn
    assert!(html.contains("relative difference to control, by week</figcaption>"));
    balanced(&html, "svg");
}
