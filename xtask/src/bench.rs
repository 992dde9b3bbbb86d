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
    let (bin, dir) = release_binary(root, &format!("bench-run-{clients}"))?;
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
    // The whole life, reading each window's days again (`--full-scan`, before daily partials)
    // and from the partials (after): time, peak RSS and the telemetry rows read, against the
    // rows the source tables hold (the simulated days are the days the analyses read).
    let mut read = Vec::new();
    for (mode, extra) in [("full scan", &["--full-scan"][..]), ("partials", &[][..])] {
        let report = dir.join(format!("cost-rerun-{}.json", mode.replace(' ', "-")));
        let report_arg = report.to_string_lossy().into_owned();
        let mut opts = vec!["--until", "2026-01-28", "--cost-report", &report_arg];
        opts.extend(extra);
        let life = analysis(&opts);
        let mut args = vec!["rerun"];
        args.extend(life.iter().map(String::as_str));
        timed(
            &format!("rerun, whole life (21 dates), {mode}"),
            &bin,
            &args,
        )?;
        let json: Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
        read.push((mode, json));
    }
    for (mode, json) in &read {
        let mut held = 0u64;
        for t in json["tables"].as_array().into_iter().flatten() {
            let Some(table) = t["table"].as_str() else {
                continue;
            };
            let rows = table_rows(&bin, &db, table)?;
            held += rows;
            println!(
                "    {mode:<10} {table}: {} rows read of {rows} ({:.2}x)",
                t["rows_read"],
                t["rows_read"].as_u64().unwrap_or(0) as f64 / rows.max(1) as f64
            );
        }
        let total = json["source_rows_read"].as_u64().unwrap_or(0);
        println!(
            "    {mode:<10} source rows read {total} of {held} held: {:.2}x",
            total as f64 / held.max(1) as f64
        );
    }
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

/// The rows of `table` (`project.dataset.table`) in the warehouse `db`, by `jetstream query`.
fn table_rows(bin: &Path, db: &str, table: &str) -> anyhow::Result<u64> {
    let out = Command::new(bin)
        .args([
            "query",
            "--warehouse",
            db,
            &format!("SELECT COUNT(*) AS n FROM `{table}`"),
        ])
        .output()?;
    if !out.status.success() {
        anyhow::bail!("counting {table}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("counting {table}: {stdout}"))
}

/// The release binary (built first) and a fresh working folder under the target directory.
fn release_binary(root: &Path, folder: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
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
    let dir = target.join(folder);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok((target.join("release/jetstream"), dir))
}

/// Run the binary with `args` plus `--cost-report`; its wall time and the report.
fn with_cost(bin: &Path, args: &[String], report: &Path) -> anyhow::Result<(f64, Value)> {
    let start = std::time::Instant::now();
    let out = Command::new(bin)
        .args(args)
        .arg("--cost-report")
        .arg(report)
        .output()?;
    let wall = start.elapsed().as_secs_f64();
    if !out.status.success() {
        anyhow::bail!(
            "jetstream {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: Value = serde_json::from_str(&std::fs::read_to_string(report)?)?;
    Ok((wall, json))
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}

/// JSON values equal with numbers to `rel` relative; arrays of objects compared as sets
/// (sorted by their non-numeric fields). The first difference, if any.
fn json_difference(a: &Value, b: &Value, rel: f64, at: &str) -> Option<String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            ((x - y).abs() > rel * x.abs().max(y.abs())).then(|| format!("{at}: {x} != {y}"))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at}: {} items != {}", x.len(), y.len()));
            }
            let key = |v: &Value| -> String {
                match v {
                    Value::Object(m) => m
                        .iter()
                        .filter(|(_, v)| !v.is_number())
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                }
            };
            let mut x: Vec<&Value> = x.iter().collect();
            let mut y: Vec<&Value> = y.iter().collect();
            x.sort_by_key(|v| key(v));
            y.sort_by_key(|v| key(v));
            x.iter()
                .zip(&y)
                .enumerate()
                .find_map(|(i, (p, q))| json_difference(p, q, rel, &format!("{at}[{i}]")))
        }
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return Some(format!("{at}: different keys"));
            }
            x.iter().find_map(|(k, v)| match y.get(k) {
                Some(w) => json_difference(v, w, rel, &format!("{at}.{k}")),
                None => Some(format!("{at}.{k}: missing")),
            })
        }
        _ => (a != b).then(|| format!("{at}: {a} != {b}")),
    }
}

/// `cargo xtask bench daily [CLIENTS]`: seven experiments on the simulated platforms (the
/// simulator's three and four copies), CLIENTS clients × 28 days, the daily run on every date
/// as production runs it — with `--full-scan`, with `--lookback 0` and with the default
/// lookback, each into its own dataset and export folder. Reports the telemetry rows read (the
/// cost reports' `source_rows_read`, summed over the dates), the ratio to the full scan, the
/// wall time, and whether every exported statistics row is equal (1e-9 relative).
pub(crate) fn daily(root: &Path, clients: usize) -> anyhow::Result<()> {
    let (bin, dir) = release_binary(root, &format!("bench-daily-{clients}"))?;
    let db = format!("duckdb:{}", dir.join("bench.duckdb").display());
    let recipes = dir.join("experiments.json").to_string_lossy().into_owned();
    let metric_hub = root
        .join("fixtures/metric-hub")
        .to_string_lossy()
        .into_owned();
    let sim_configs = dir.to_string_lossy().into_owned();
    println!(
        "{clients} clients × 28 days, 7 experiments, {} CPUs",
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
            &clients.to_string(),
            "--seed",
            "1",
            "--effect",
            "active_hours_sum=0.05",
            "--copies",
            "4",
        ],
    )?;
    // The simulated experiments start on 2026-01-08; the data ends on 2026-01-28.
    let dates: Vec<String> = (8..=28).map(|day| format!("2026-01-{day:02}")).collect();
    let modes: [(&str, &[&str]); 3] = [
        ("full", &["--full-scan"]),
        ("lookback0", &["--lookback", "0"]),
        ("lookback2", &[]),
    ];
    let mut totals = Vec::new();
    for (name, extra) in modes {
        let out = dir.join(format!("out-{name}"));
        let (mut rows, mut bytes, mut wall) = (0u64, 0u64, 0.0);
        let mut per_table: std::collections::BTreeMap<String, u64> = Default::default();
        for date in &dates {
            let mut args: Vec<String> = [
                "run",
                "--warehouse",
                &db,
                "--experiments-file",
                &recipes,
                "--config-repos",
                &metric_hub,
                "--config-repos",
                &sim_configs,
                "--dataset-id",
                name,
                "--output-dir",
                &out.to_string_lossy(),
                "--date",
                date,
            ]
            .iter()
            .map(ToString::to_string)
            .collect();
            args.extend(extra.iter().map(ToString::to_string));
            let (w, report) = with_cost(&bin, &args, &dir.join(format!("cost-{name}.json")))?;
            wall += w;
            rows += report["source_rows_read"].as_u64().unwrap_or(0);
            bytes += report["source_bytes_read"].as_u64().unwrap_or(0);
            for t in report["tables"].as_array().into_iter().flatten() {
                if let Some(table) = t["table"].as_str() {
                    *per_table.entry(table.to_string()).or_default() +=
                        t["rows_read"].as_u64().unwrap_or(0);
                }
            }
        }
        println!("{name:<12} source rows read {rows:>14}  bytes {bytes:>12}  wall {wall:>8.1} s");
        for (table, read) in &per_table {
            println!("{:<14}{table}: {read} rows", "");
        }
        totals.push((name, rows, wall, out));
    }
    let (_, full_rows, full_wall, full_out) = &totals[0];
    for (name, rows, wall, out) in &totals[1..] {
        let mut compared = 0;
        let mut differences = Vec::new();
        for rel in files_under(full_out) {
            let name_str = rel.to_string_lossy();
            if !name_str.contains("statistics") || !name_str.ends_with(".json") {
                continue;
            }
            let read = |base: &Path| -> anyhow::Result<Value> {
                Ok(serde_json::from_str(&std::fs::read_to_string(
                    base.join(&rel),
                )?)?)
            };
            let (a, b) = (read(full_out)?, read(out)?);
            compared += 1;
            if let Some(d) = json_difference(&a, &b, 1e-9, &name_str) {
                differences.push(d);
            }
        }
        println!(
            "{name:<12} {:.1}x fewer source rows than --full-scan; wall {:.2}x; {compared} statistics files compared, {} differ{}",
            *full_rows as f64 / (*rows).max(1) as f64,
            wall / full_wall.max(1e-9),
            differences.len(),
            differences
                .first()
                .map(|d| format!(" (first: {d})"))
                .unwrap_or_default()
        );
    }
    Ok(())
}
