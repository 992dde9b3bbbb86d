//! `jetstream ensure-enrollments`: create the enrollments tables of experiments (the first
//! step of each experiment's analysis), on the DuckDB warehouse.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use jetstream_analysis::{AnalysisError, Enrollments, ensure_enrollments};
use jetstream_config::ConfigCollection;
use jetstream_config::resolve::resolve_experiment;

use crate::experiments_cmd::SourceArgs;
use crate::export_cmds::{SlugArgs, WarehouseArgs};
use crate::out;

/// Arguments of `ensure-enrollments`.
#[derive(Debug, clap::Args)]
pub(crate) struct EnsureEnrollmentsArgs {
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
    /// Dataset of the results tables.
    #[arg(long, alias = "dataset_id", default_value = "mozanalysis")]
    dataset_id: String,
    #[command(flatten)]
    experiments: SlugArgs,
    /// A metric-hub checkout (experiment configs, defaults, definitions).
    #[arg(long, alias = "config_repo", value_name = "DIR")]
    config_repo: Option<PathBuf>,
    /// The date whose DAY time limits bound the enrollment query (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    /// Replace existing enrollments tables.
    #[arg(long, alias = "recreate_enrollments")]
    recreate_enrollments: bool,
}

pub(crate) fn ensure_enrollments_cmd(args: EnsureEnrollmentsArgs) -> anyhow::Result<ExitCode> {
    let today = chrono::Utc::now().date_naive();
    let date = args.date.unwrap_or(today - chrono::Duration::days(1));
    let parsed = args.source.load(&args.experiments.slugs, today)?;
    let configs = match &args.config_repo {
        Some(dir) => {
            ConfigCollection::load_dir(dir).with_context(|| format!("loading {}", dir.display()))?
        }
        None => ConfigCollection::new(),
    };
    let wh = args.warehouse.open()?;
    let mut failed = false;
    for slug in &args.experiments.slugs {
        let Some(experiment) = jetstream_experimenter::select::with_slug(&parsed.experiments, slug)
        else {
            failed = true;
            report_error(slug, "not found among the experiments");
            continue;
        };
        let resolved = match resolve_experiment(
            experiment,
            configs.spec_for_experiment(&experiment.normandy_slug),
            &configs,
        ) {
            Ok(r) => r,
            Err(e) => {
                failed = true;
                report_error(slug, &e.to_string());
                continue;
            }
        };
        match ensure_enrollments(
            &resolved.experiment,
            date,
            &wh,
            &args.dataset_id,
            args.recreate_enrollments,
        ) {
            Ok(Enrollments::Created(n)) => out!("{slug}: enrollments created ({n} rows)"),
            Ok(Enrollments::Kept) => out!("{slug}: enrollments exist, kept"),
            Ok(Enrollments::NotReady) => out!("{slug}: no day window is ready on {date}"),
            Err(AnalysisError::NotRunnable(why)) => out!("{slug}: skipped: {why}"),
            Err(e) => {
                failed = true;
                report_error(slug, &e.to_string());
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn report_error(slug: &str, message: &str) {
    tracing::error!(experiment = %slug, error = %message, "ensure-enrollments failed");
    #[allow(clippy::print_stderr)] // the binary reports its own errors
    {
        eprintln!("error: {slug}: {message}");
    }
}
