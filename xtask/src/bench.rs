//! `cargo xtask bench stats [N]`: time our statistics on N clients (default 1,000,000) and,
//! when the reference's Python environment exists, the reference on the same size, side by
//! side. The reference is found through `JETSTREAM_REF_PYTHON`, `../ref-venv/bin/python` or
//! `.venv-ref/bin/python` (see `../shared/reference/README.md` for its set-up).

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
                .arg(root.join("../shared/reference/ref_stats_bench.py"))
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
