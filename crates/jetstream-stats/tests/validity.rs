//! Validity by simulation: on 400 seeded datasets (200 A/A, 200 A/B) the 95% intervals of
//! the treatment-vs-control difference cover the true difference 92–98% of the time for
//! bootstrap_mean, binomial and linear_model_mean.

use jetstream_config::statistic::Statistic;
use jetstream_stats::{Comparison, Context, Frame, Row, apply};
use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

const DATASETS: usize = 400;
const PER_BRANCH: usize = 400;

struct Dataset {
    frame: Frame,
    true_mean_diff: f64,
    true_rate_diff: f64,
}

fn dataset(i: usize) -> Dataset {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(
        0xC0FFEE ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    let ab = i % 2 == 1;
    let (mean_c, lift) = (2.0, if ab { 1.15 } else { 1.0 });
    let (rate_c, rate_t) = (0.3, if ab { 0.36 } else { 0.3 });
    let mut branches = Vec::new();
    let mut value = Vec::new();
    let mut converted = Vec::new();
    for b in ["control", "treatment"] {
        let (m, p) = if b == "control" {
            (mean_c, rate_c)
        } else {
            (mean_c * lift, rate_t)
        };
        for _ in 0..PER_BRANCH {
            branches.push(b);
            let u: f64 = rng.random();
            // exponential: skewed like engagement metrics
            value.push(-m * (1.0 - u).ln());
            let v: f64 = rng.random();
            converted.push(if v < p { 1.0 } else { 0.0 });
        }
    }
    let frame = Frame::new(&branches)
        .with_column("value", value)
        .and_then(|f| f.with_column("converted", converted))
        .expect("frame");
    Dataset {
        frame,
        true_mean_diff: mean_c * lift - mean_c,
        true_rate_diff: rate_t - rate_c,
    }
}

fn difference(rows: &[Row]) -> (f64, f64) {
    let r = rows
        .iter()
        .find(|r| {
            r.branch == "treatment"
                && r.comparison == Some(Comparison::Difference)
                && r.comparison_to_branch.as_deref() == Some("control")
        })
        .expect("difference row");
    (r.lower.expect("lower"), r.upper.expect("upper"))
}

#[test]
#[ignore = "slow: hundreds of simulated datasets per statistic"]
fn intervals_cover_the_truth() {
    let bootstrap = Statistic::BootstrapMean {
        num_samples: 1000,
        drop_highest: 0.0,
        confidence_interval: 0.95,
        always_valid: None,
    };
    let lm = Statistic::LinearModelMean {
        drop_highest: 0.0,
        covariate_adjustment: None,
        always_valid: None,
    };
    let binomial = Statistic::Binomial {
        confidence_interval: 0.95,
        always_valid: None,
    };
    let mut covered = [0usize; 3];
    for i in 0..DATASETS {
        let d = dataset(i);
        let mut ctx = Context::new("value");
        ctx.seed = i as u64;
        for (k, (stat, column, truth)) in [
            (&bootstrap, "value", d.true_mean_diff),
            (&lm, "value", d.true_mean_diff),
            (&binomial, "converted", d.true_rate_diff),
        ]
        .into_iter()
        .enumerate()
        {
            let rows = apply(stat, &d.frame, column, &ctx).expect("statistic");
            let (lo, hi) = difference(&rows);
            if lo <= truth && truth <= hi {
                covered[k] += 1;
            }
        }
    }
    for (name, c) in ["bootstrap_mean", "linear_model_mean", "binomial"]
        .iter()
        .zip(covered)
    {
        let rate = c as f64 / DATASETS as f64;
        #[allow(clippy::print_stderr)] // the measured coverage is worth seeing in the test log
        {
            eprintln!("coverage {name}: {rate:.4} over {DATASETS} datasets");
        }
        assert!(
            (0.92..=0.98).contains(&rate),
            "{name}: coverage {rate:.3} outside [0.92, 0.98]"
        );
    }
}

/// `always_valid = true` keeps every point and every branch row, and widens the comparison
/// intervals around the same points (by the boundary's factor for the linear model).
#[test]
fn always_valid_intervals_contain_the_fixed_ones() {
    use jetstream_config::statistic::AlwaysValid;
    let av = Some(AlwaysValid {
        alpha: 0.05,
        tuning_sample_size: None,
    });
    let pairs = [
        (
            Statistic::BootstrapMean {
                num_samples: 1000,
                drop_highest: 0.0,
                confidence_interval: 0.95,
                always_valid: None,
            },
            Statistic::BootstrapMean {
                num_samples: 1000,
                drop_highest: 0.0,
                confidence_interval: 0.95,
                always_valid: av,
            },
            "value",
        ),
        (
            Statistic::LinearModelMean {
                drop_highest: 0.0,
                covariate_adjustment: None,
                always_valid: None,
            },
            Statistic::LinearModelMean {
                drop_highest: 0.0,
                covariate_adjustment: None,
                always_valid: av,
            },
            "value",
        ),
        (
            Statistic::Binomial {
                confidence_interval: 0.95,
                always_valid: None,
            },
            Statistic::Binomial {
                confidence_interval: 0.95,
                always_valid: av,
            },
            "converted",
        ),
    ];
    let data = dataset(1);
    let mut ctx = Context::new("value");
    ctx.seed = 7;
    // n = N* = 800 clients: the boundary is sqrt((a+1)/a (2 ln 20 + ln(a+1))) standard errors
    let m = jetstream_stats::sequential::multiplier(800.0, 800.0, 0.05).unwrap();
    for (fixed, valid, column) in pairs {
        let f = apply(&fixed, &data.frame, column, &ctx).unwrap();
        let v = apply(&valid, &data.frame, column, &ctx).unwrap();
        assert_eq!(f.len(), v.len(), "{}", fixed.name());
        let mut compared = 0;
        for (a, b) in f.iter().zip(&v) {
            assert_eq!(
                (&a.branch, a.comparison, &a.comparison_to_branch, a.point),
                (&b.branch, b.comparison, &b.comparison_to_branch, b.point),
                "{}",
                fixed.name()
            );
            if a.comparison.is_none() {
                assert_eq!(
                    (a.lower, a.upper),
                    (b.lower, b.upper),
                    "branch rows keep their meaning"
                );
                continue;
            }
            compared += 1;
            let (lo, hi) = (a.lower.unwrap(), a.upper.unwrap());
            let (vlo, vhi) = (b.lower.unwrap(), b.upper.unwrap());
            assert!(
                vlo < lo && vhi > hi,
                "{}: {vlo} {vhi} vs {lo} {hi}",
                fixed.name()
            );
            let ratio = (vhi - vlo) / (hi - lo);
            assert!(
                (1.3..2.2).contains(&ratio),
                "{}: width ratio {ratio}",
                fixed.name()
            );
            if matches!(valid, Statistic::LinearModelMean { .. })
                && a.comparison == Some(Comparison::Difference)
            {
                let t = (hi - lo) / 2.0 / 1.963; // t quantile of 798 df
                assert!(
                    ((vhi - vlo) / 2.0 / t - m).abs() < 0.01,
                    "{}",
                    (vhi - vlo) / 2.0 / t
                );
            }
        }
        assert_eq!(compared, 4, "{}", fixed.name());
    }
}
