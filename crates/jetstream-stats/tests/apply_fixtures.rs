//! Row sets of the pipeline path (`Statistic.apply`: every branch as reference) for 2 and 3
//! branches, against fixtures generated with the reference (N = 3,000, 2,000 replicates).

use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::statistic::{Bandwidth, CovariateAdjustment, Statistic};
use jetstream_stats::{Context, Row, apply};
use serde_json::Value;

use crate::reference::{load_csv, load_stats};

type Key = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn their_keys(rows: &[Value]) -> Vec<Key> {
    let s = |r: &Value, k: &str| r[k].as_str().map(str::to_string);
    let mut v: Vec<Key> = rows
        .iter()
        .map(|r| {
            (
                s(r, "statistic").unwrap_or_default(),
                s(r, "branch").unwrap_or_default(),
                s(r, "comparison"),
                s(r, "comparison_to_branch"),
                s(r, "parameter"),
            )
        })
        .collect();
    v.sort();
    v
}

fn my_keys(rows: &[Row]) -> Vec<Key> {
    let mut v: Vec<Key> = rows
        .iter()
        .map(|r| {
            (
                r.statistic.clone(),
                r.branch.clone(),
                r.comparison.map(|c| c.as_str().to_string()),
                r.comparison_to_branch.clone(),
                r.parameter.clone(),
            )
        })
        .collect();
    v.sort();
    v
}

fn cases() -> Vec<(&'static str, &'static str, &'static str, Statistic)> {
    vec![
        (
            "count[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::Count,
        ),
        (
            "sum[search_count]",
            "search_count",
            "search_count",
            Statistic::Sum,
        ),
        (
            "binomial[converted]",
            "converted",
            "converted",
            Statistic::Binomial {
                confidence_interval: 0.95,
                always_valid: None,
            },
        ),
        (
            "bootstrap_mean[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::BootstrapMean {
                num_samples: 2000,
                drop_highest: 0.005,
                confidence_interval: 0.95,
                always_valid: None,
            },
        ),
        (
            "deciles[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::Deciles {
                confidence_interval: 0.95,
                num_samples: 2000,
            },
        ),
        (
            "kernel_density_estimate[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::KernelDensityEstimate {
                bandwidth: Bandwidth::Rule("scott".into()),
                adjust: 1.0,
                kernel: "gaussian".into(),
                grid_size: 256,
                log_space: false,
            },
        ),
        (
            "empirical_cdf[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::EmpiricalCdf {
                log_space: false,
                grid_size: 256,
            },
        ),
        (
            "linear_model_mean[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::LinearModelMean {
                drop_highest: 0.005,
                covariate_adjustment: None,
                always_valid: None,
            },
        ),
        (
            "linear_model_mean_cov[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::LinearModelMean {
                drop_highest: 0.005,
                covariate_adjustment: Some(CovariateAdjustment {
                    period: AnalysisPeriod::PreenrollmentWeek,
                    metric: None,
                }),
                always_valid: None,
            },
        ),
        (
            "population_ratio[ad_clicks/search_count]",
            "ad_clicks",
            "ad_ratio",
            Statistic::PopulationRatio {
                numerator: "ad_clicks".into(),
                denominator: "search_count".into(),
                confidence_interval: 0.95,
                drop_highest: 0.005,
                num_samples: 2000,
            },
        ),
        (
            "per_client_dau_impact[active_hours]",
            "active_hours",
            "active_hours",
            Statistic::PerClientDauImpact {
                drop_highest: 0.0,
                covariate_adjustment: None,
            },
        ),
    ]
}

fn check(tag: &str, expected_rows: &[(&str, usize)]) {
    let frame = load_csv(&format!("apply_{tag}.csv"));
    let stats = load_stats(&format!("apply_{tag}.json"));
    let experiment_branches: Vec<String> = stats["branches"]
        .as_array()
        .expect("branches")
        .iter()
        .filter_map(|b| b.as_str().map(str::to_string))
        .collect();
    for (label, column, metric, stat) in cases() {
        let theirs = stats["statistics"][label]
            .as_array()
            .unwrap_or_else(|| panic!("{label}"))
            .clone();
        let mut ctx = Context::new(metric);
        ctx.seed = 7;
        ctx.experiment_branches = Some(experiment_branches.clone());
        let mine =
            apply(&stat, &frame, column, &ctx).unwrap_or_else(|e| panic!("{tag} {label}: {e}"));
        assert_eq!(
            my_keys(&mine),
            their_keys(&theirs),
            "{tag} {label}: row sets differ"
        );
        if let Some((_, n)) = expected_rows.iter().find(|(l, _)| *l == label) {
            assert_eq!(mine.len(), *n, "{tag} {label}");
        }
        // Deterministic per-branch values agree too.
        if matches!(
            stat,
            Statistic::Count
                | Statistic::Sum
                | Statistic::EmpiricalCdf { .. }
                | Statistic::KernelDensityEstimate { .. }
        ) {
            for t in &theirs {
                let m = mine
                    .iter()
                    .find(|r| {
                        r.branch == t["branch"].as_str().unwrap_or_default()
                            && r.parameter.as_deref() == t["parameter"].as_str()
                    })
                    .expect("row");
                let (a, b) = (
                    m.point.unwrap_or(f64::NAN),
                    t["point"].as_f64().unwrap_or(f64::NAN),
                );
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs().max(1e-12),
                    "{tag} {label} {:?}: {a} vs {b}",
                    m.parameter
                );
            }
        }
    }
}

#[test]
fn two_branches() {
    check(
        "2b",
        &[
            ("binomial[converted]", 6),
            ("deciles[active_hours]", 54),
            ("per_client_dau_impact[active_hours]", 4),
        ],
    );
}

#[test]
fn three_branches() {
    // The reference's row counts for 3 branches (jetstream test_statistics.py): binomial 15,
    // bootstrap 15, deciles 135, ECDF 768, KDE 768.
    check(
        "3b",
        &[
            ("binomial[converted]", 15),
            ("bootstrap_mean[active_hours]", 15),
            ("deciles[active_hours]", 135),
            ("empirical_cdf[active_hours]", 768),
            ("kernel_density_estimate[active_hours]", 768),
            ("count[active_hours]", 3),
            ("per_client_dau_impact[active_hours]", 12),
        ],
    );
}
