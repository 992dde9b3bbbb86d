//! Times every statistic on synthetic per-client data (default 1,000,000 clients, 2 branches,
//! 10,000 replicates), prints one JSON object: seconds per statistic, the RNG floor (the same
//! number of exponential draws with no data), and the peak RSS.
//!
//! `cargo run --release -p jetstream-stats --example bench_1m -- [N]`; `cargo xtask bench stats`
//! runs it next to the reference implementation.

#![allow(clippy::print_stdout)] // a benchmark report

use std::time::Instant;

use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::statistic::{Bandwidth, CovariateAdjustment, Statistic};
use jetstream_stats::{Context, Frame, apply, resample};

fn data(n: usize) -> Frame {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut branches = Vec::with_capacity(n);
    let (mut x, mut pre, mut conv, mut searches, mut ads) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let treatment = next() < 0.5;
        branches.push(if treatment { "treatment" } else { "control" });
        let scale =
            (0.8 * (-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos()).exp();
        let lift = if treatment { 1.02 } else { 1.0 };
        let z = (-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos();
        x.push(if next() < 0.1 {
            0.0
        } else {
            (0.5 + 1.2 * z).exp() * scale * lift
        });
        pre.push((0.5 + 1.2 * z).exp() * scale);
        conv.push(if next() < 0.3 { 1.0 } else { 0.0 });
        let s = (next() * 7.0).floor();
        searches.push(s);
        ads.push(if next() < 0.1 { s.min(2.0) } else { 0.0 });
    }
    Frame::new(&branches)
        .with_column("active_hours", x)
        .and_then(|f| f.with_column("active_hours_pre", pre))
        .and_then(|f| f.with_column("converted", conv))
        .and_then(|f| f.with_column("search_count", searches))
        .and_then(|f| f.with_column("ad_clicks", ads))
        .expect("frame")
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let frame = data(n);
    let ctx = Context::new("active_hours");
    let cases: Vec<(&str, &str, Statistic)> = vec![
        ("count", "active_hours", Statistic::Count),
        ("sum", "search_count", Statistic::Sum),
        (
            "binomial",
            "converted",
            Statistic::Binomial {
                confidence_interval: 0.95,
                always_valid: None,
            },
        ),
        (
            "bootstrap_mean",
            "active_hours",
            Statistic::BootstrapMean {
                num_samples: 10_000,
                drop_highest: 0.005,
                confidence_interval: 0.95,
                always_valid: None,
            },
        ),
        (
            "deciles",
            "active_hours",
            Statistic::Deciles {
                confidence_interval: 0.95,
                num_samples: 10_000,
            },
        ),
        (
            "kernel_density_estimate",
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
            "empirical_cdf",
            "active_hours",
            Statistic::EmpiricalCdf {
                log_space: false,
                grid_size: 256,
            },
        ),
        (
            "linear_model_mean",
            "active_hours",
            Statistic::LinearModelMean {
                drop_highest: 0.005,
                covariate_adjustment: None,
                always_valid: None,
            },
        ),
        (
            "linear_model_mean_cov",
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
            "population_ratio",
            "ad_clicks",
            Statistic::PopulationRatio {
                numerator: "ad_clicks".into(),
                denominator: "search_count".into(),
                confidence_interval: 0.95,
                drop_highest: 0.005,
                num_samples: 10_000,
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, column, stat) in cases {
        let t = Instant::now();
        let rows = apply(&stat, &frame, column, &ctx).expect(name);
        out.push(format!("\"{name}\": {:.4}", t.elapsed().as_secs_f64()));
        assert!(!rows.is_empty());
    }
    let t = Instant::now();
    std::hint::black_box(resample::exponential_floor(n, 10_000, 1));
    let floor = t.elapsed().as_secs_f64();
    println!(
        "{{\"n\": {n}, \"threads\": {}, \"seconds\": {{{}}}, \"rng_floor_seconds\": {floor:.4}, \"peak_rss_mb\": {:.1}}}",
        rayon::current_num_threads(),
        out.join(", "),
        peak_rss_mb()
    );
}
