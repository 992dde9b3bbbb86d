//! Criterion benchmarks of the statistics on synthetic per-client data.
//!
//! `JETSTREAM_BENCH_N` sets the number of clients (default 100,000); `cargo xtask bench stats`
//! runs the 1,000,000-client workload of the acceptance criteria and compares with the
//! reference implementation.

use criterion::{Criterion, criterion_group, criterion_main};
use jetstream_config::statistic::Statistic;
use jetstream_stats::{Context, Frame, apply};

fn data(n: usize) -> Frame {
    // Deterministic heavy-tailed data: 10% zeros, lognormal-ish otherwise.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut branches = Vec::with_capacity(n);
    let mut x = Vec::with_capacity(n);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        branches.push(if next() < 0.5 { "control" } else { "treatment" });
        let u = next();
        x.push(if u < 0.1 {
            0.0
        } else {
            (1.2 * (-2.0 * next().ln()).sqrt() * (std::f64::consts::TAU * next()).cos() + 0.5).exp()
        });
        y.push((next() * 10.0).floor());
    }
    Frame::new(&branches)
        .with_column("active_hours", x)
        .and_then(|f| f.with_column("search_count", y))
        .expect("frame")
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("JETSTREAM_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let frame = data(n);
    let ctx = Context::new("active_hours");
    let mut g = c.benchmark_group(format!("stats_n{n}"));
    g.sample_size(10);
    let cases = [
        (
            "bootstrap_mean",
            Statistic::BootstrapMean {
                num_samples: 10_000,
                drop_highest: 0.005,
                confidence_interval: 0.95,
                always_valid: None,
            },
        ),
        (
            "deciles",
            Statistic::Deciles {
                confidence_interval: 0.95,
                num_samples: 10_000,
            },
        ),
        (
            "linear_model_mean",
            Statistic::LinearModelMean {
                drop_highest: 0.005,
                covariate_adjustment: None,
                always_valid: None,
            },
        ),
        (
            "empirical_cdf",
            Statistic::EmpiricalCdf {
                log_space: false,
                grid_size: 256,
            },
        ),
        (
            "kernel_density_estimate",
            Statistic::KernelDensityEstimate {
                bandwidth: jetstream_config::statistic::Bandwidth::Rule("scott".into()),
                adjust: 1.0,
                kernel: "gaussian".into(),
                grid_size: 256,
                log_space: false,
            },
        ),
        (
            "population_ratio",
            Statistic::PopulationRatio {
                numerator: "active_hours".into(),
                denominator: "search_count".into(),
                confidence_interval: 0.95,
                drop_highest: 0.005,
                num_samples: 10_000,
            },
        ),
    ];
    for (name, stat) in cases {
        g.bench_function(name, |b| {
            b.iter(|| apply(&stat, &frame, "active_hours", &ctx).expect("stat"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
