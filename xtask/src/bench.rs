//! `cargo xtask bench run [CLIENTS]`: the main job at scale (see [`run`]).
//!
//! `cargo xtask bench stats [N]`: time our statistics on N clients (default 1,000,000) and,
//! when the reference's Python environment exists, the reference on the same size, side by
//! side. The reference is found through `JETSTREAM_REF_PYTHON`, `../ref-venv/bin/python` or
//! `.venv-ref/bin/python` (see `scripts/reference/README.md` for its set-up).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::cargo;

fn reference_python(root: &Path) -> Option<PathBuf> {
    if let Ok(p) = std::env::var("JETSTREAM_REF_PYTHON") {
        return Some(PathBuf::from(p));
    }
    [
        root.join("../ref-venv/bin/python"),
        root.join(".venv-ref/bin/python"),
    ]
    .into_iter()
    .find(|p| p.exists())
}

pub(crate) fn stats(root: &Path, n: usize) -> anyhow::Result<()> {
    eprintln!("==> our statistics on {n} clients (release build)");
    let out = cargo()
        .args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "jetstream-stats",
            "--example",
            "bench_1m",
            "--",
        ])
        .arg(n.to_string())
        .current_dir(root)
        .output()?;
    if !out.status.success() {
        anyhow::bail!("bench_1m failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let ours: Value = serde_json::from_slice(&out.stdout)?;
    let mut reference: Option<Value> = None;
    match reference_python(root) {
        Some(py) => {
            eprintln!(
                "==> reference implementation ({}) on {n} clients; this takes minutes",
                py.display()
            );
            let json = root.join("target/ref-bench.json");
            let status = Command::new(&py)
                .arg(root.join("scripts/reference/ref_stats_bench.py"))
                .args([
                    "--sizes",
                    &n.to_string(),
                    "--reps",
                    "1",
                    "--no-probe",
                    "--apply-sizes",
                    "0",
                    "--out",
                ])
                .arg(&json)
                .env("OPENBLAS_NUM_THREADS", "1")
                .status()?;
            if status.success() {
                reference = Some(serde_json::from_str(&std::fs::read_to_string(&json)?)?);
            } else {
                eprintln!("reference run failed ({status}); showing ours only");
            }
        }
        None => eprintln!("(no reference environment found; set JETSTREAM_REF_PYTHON to compare)"),
    }
    println!(
        "statistic                  ours (s, all pairs)   reference (s, one reference branch)   speed-up"
    );
    let ref_time = |stat: &str| -> Option<f64> {
        reference.as_ref()?["results"]
            .as_array()?
            .iter()
            .find_map(|r| {
                (r["statistic"] == stat && r["mode"] == "transform" && r["n"] == n as u64)
                    .then(|| r["median_s"].as_f64())?
            })
    };
    if let Some(secs) = ours["seconds"].as_object() {
        for (stat, t) in secs {
            let t = t.as_f64().unwrap_or(f64::NAN);
            let label = if stat == "linear_model_mean_cov" {
                "linear_model_mean"
            } else {
                stat.as_str()
            };
            match ref_time(label).filter(|_| stat != "linear_model_mean_cov") {
                Some(r) => println!(
                    "{stat:<26} {t:>10.3}            {r:>10.3}                          {:>7.1}x",
                    r / t
                ),
                None => println!("{stat:<26} {t:>10.3}            {:>10}", "-"),
            }
        }
    }
    println!(
        "RNG floor ({n} x 10000 exponential draws): {:.3} s; peak RSS of all statistics: {:.0} MB; threads: {}",
        ours["rng_floor_seconds"].as_f64().unwrap_or(f64::NAN),
        ours["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        ours["threads"]
    );
    Ok(())
}

/// Run one command of the release binary, timed; with `/usr/bin/time`, also its peak RSS.
fn timed(label: &str, bin: &Path, args: &[&str]) -> anyhow::Result<()> {
    let gnu_time = Path::new("/usr/bin/time");
    let start = std::time::Instant::now();
    let out = if gnu_time.exists() {
        Command::new(gnu_time)
            .args(["-f", "peak_rss_kb=%M"])
            .arg(bin)
            .args(args)
            .output()?
    } else {
        Command::new(bin).args(args).output()?
    };
    let wall = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        anyhow::bail!(
            "{label} failed:\n{}{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    let rss = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("peak_rss_kb="))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .next_back()
        .map_or("-".to_string(), |kb| {
            format!("{:.2} GB", kb / 1024.0 / 1024.0)
        });
    let summary = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string();
    println!("{label:<44} {wall:>8.1} s  peak RSS {rss:>8}   {summary}");
    Ok(())
}

/// `cargo xtask bench run [CLIENTS]`: the main job at scale — simulate CLIENTS clients × 28
/// days, analyse the two-branch experiment with the real firefox_desktop defaults (the
/// metric-hub snapshot vendored in `fixtures/`) on its last date and
/// over its whole life, and report wall time and peak RSS of each step (release build).
pub(crate) fn run(root: &Path, clients: usize) -> anyhow::Result<()> {
    eprintln!("==> building the release binary");
    let status = cargo()
        .args(["build", "--release", "--quiet", "-p", "jetstream-cli"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        anyhow::bail!("release build failed");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release/jetstream");
    let dir = target.join(format!("bench-run-{clients}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = format!("duckdb:{}", dir.join("bench.duckdb").display());
    let recipes = dir.join("experiments.json");
    let recipes = recipes.to_string_lossy();
    let configs = root.join("fixtures/metric-hub");
    let configs = configs.to_string_lossy();
    let n = clients.to_string();
    println!(
        "{clients} clients × 28 days, configs from {configs}, {} CPUs",
        std::thread::available_parallelism().map_or(1, usize::from)
    );
    timed(
        "simulate",
        &bin,
        &[
            "simulate",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--clients",
            &n,
            "--seed",
            "1",
            "--effect",
            "active_hours_sum=0.05",
            "--copies",
            "2",
        ],
    )?;
    let analysis = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repo",
            &configs,
            "--experiment-slug",
            "jetstream-sim-two-branches",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        v.extend(extra.iter().map(ToString::to_string));
        v
    };
    let last = analysis(&["--date", "2026-01-28"]);
    let mut args = vec!["run"];
    args.extend(last.iter().map(String::as_str));
    timed("run, last date (day + overall windows)", &bin, &args)?;
    let life = analysis(&["--until", "2026-01-28"]);
    let mut args = vec!["rerun"];
    args.extend(life.iter().map(String::as_str));
    timed("rerun, whole life (21 dates, all periods)", &bin, &args)?;
    // Five experiments (the simulator's three and two copies) × every date, with their
    // simulated configs: serial, then four analyses at once (`--parallel`).
    let sim_configs = dir.to_string_lossy().into_owned();
    let slugs = [
        "jetstream-sim-two-branches",
        "jetstream-sim-three-branches",
        "jetstream-sim-fenix",
        "jetstream-sim-two-branches-copy-1",
        "jetstream-sim-three-branches-copy-2",
    ];
    for parallel in ["1", "4"] {
        let mut args = vec![
            "rerun",
            "--warehouse",
            &db,
            "--experiments-file",
            &recipes,
            "--config-repos",
            &configs,
            "--config-repos",
            &sim_configs,
            "--until",
            "2026-01-28",
            "--parallel",
            parallel,
            // The simulated configs add a segment the runs above did not have.
            "--recreate-enrollments",
        ];
        for slug in &slugs {
            args.extend(["--experiment-slug", slug]);
        }
        timed(
            &format!("rerun, 5 experiments × dates, --parallel {parallel}"),
            &bin,
            &args,
        )?;
    }
    Ok(())
}
