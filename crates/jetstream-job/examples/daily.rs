//! The daily job from another Rust tool: analyse every experiment of a date.
//!
//! ```sh
//! cargo run --release -p jetstream-job --example daily -- --date 2026-01-28 \
//!     --warehouse duckdb:jetstream.duckdb --experiments-file experiments.json \
//!     --config-repo metric-hub [--data telemetry/] [--output-dir out/]
//! ```
//!
//! Prints one line per experiment: its slug and `ok`, `skipped` or `failed`.

#![allow(clippy::print_stdout, clippy::print_stderr)] // an example prints

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use jetstream_job::{
    ConfigRepoSources, ConfigSource, ExperimentSource, ExperimentsFile, Job, JobOptions, Outcome,
    Quiet, WarehouseSpec,
};
use jetstream_output::LocalFolder;

fn main() -> ExitCode {
    match daily() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn daily() -> Result<bool, Box<dyn std::error::Error>> {
    // `--name value` pairs.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts: HashMap<&str, &str> = HashMap::new();
    for pair in args.chunks(2) {
        match pair {
            [name, value] if name.starts_with("--") => opts.insert(&name[2..], value.as_str()),
            _ => return Err(format!("expected --name value pairs, got {pair:?}").into()),
        };
    }
    let need = |name: &str| {
        opts.get(name)
            .copied()
            .ok_or(format!("--{name} is required"))
    };
    let date: chrono::NaiveDate = need("date")?.parse()?;

    let mut spec = WarehouseSpec::new(need("warehouse")?);
    spec.data = opts.get("data").map(PathBuf::from);
    let warehouse = spec.open()?;
    let experiments = ExperimentsFile(need("experiments-file")?.into()).experiments(&[], date)?;
    let configs = ConfigRepoSources::folders(&[need("config-repo")?]).configs()?;

    let sink = opts.get("output-dir").map(|dir| LocalFolder::new(*dir));
    let mut job = Job::new(warehouse.as_ref(), configs, JobOptions::default())?;
    if let Some(sink) = &sink {
        job = job.with_sink(sink);
    }
    let report = job.run_daily(&experiments, date, &[], &Quiet);
    for (slug, outcome) in &report.experiments {
        let word = match outcome {
            Outcome::Ok => "ok",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        };
        println!("{slug} {word}");
    }
    Ok(report.success())
}
