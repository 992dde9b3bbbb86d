//! `jetstream experiments`: which experiments a daily run on a date would analyse, and why the
//! others are skipped.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::NaiveDate;
use jetstream_job::ConfigCollection;
use serde_json::json;

use crate::args::SourceArgs;
use crate::out;

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for tools.
    Json,
}

/// Arguments of `experiments`.
#[derive(Debug, clap::Args)]
pub(crate) struct ExperimentsArgs {
    /// The analysis date (default: yesterday, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
    #[command(flatten)]
    source: SourceArgs,
    /// Only these experiments (Nimbus or Experimenter slug).
    #[arg(
        long = "experiment-slug",
        alias = "experiment_slug",
        value_name = "SLUG"
    )]
    slugs: Vec<String>,
    /// A metric-hub checkout: its experiment configs can skip experiments or override dates.
    #[arg(long, alias = "config_repo", value_name = "DIR")]
    config_repo: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) fn experiments(args: ExperimentsArgs) -> anyhow::Result<ExitCode> {
    let yesterday = chrono::Utc::now().date_naive() - chrono::Duration::days(1);
    let date = args.date.unwrap_or(yesterday);
    let today = chrono::Utc::now().date_naive();
    let parsed = args.source.load(&args.slugs, today)?;
    let configs = match &args.config_repo {
        Some(dir) => {
            ConfigCollection::load_dir(dir).with_context(|| format!("loading {}", dir.display()))?
        }
        None => ConfigCollection::new(),
    };
    // The API was already asked for the given slugs only (unknown ones are in `rejected`).
    let select: &[String] = if args.source.experiments_file.is_some() {
        &args.slugs
    } else {
        &[]
    };
    let (decisions, unknown) = jetstream_job::selection(&parsed, date, select, &configs);
    let fmt_date = |d: Option<NaiveDate>| d.map(|d| d.to_string()).unwrap_or_else(|| "-".into());
    match args.format {
        Format::Json => {
            let mut rows: Vec<serde_json::Value> = decisions
                .iter()
                .map(|d| {
                    json!({
                        "slug": d.experiment.normandy_slug,
                        "experimenter_slug": d.experiment.experimenter_slug,
                        "app_name": d.experiment.app_name,
                        "status": d.experiment.status,
                        "start_date": d.experiment.start_date.map(|x| x.to_string()),
                        "end_date": d.experiment.end_date.map(|x| x.to_string()),
                        "analysed": d.verdict.is_ok(),
                        "reason": d.verdict.as_ref().err().map(ToString::to_string),
                    })
                })
                .collect();
            for (slug, reason) in &parsed.rejected {
                rows.push(json!({"slug": slug, "analysed": false, "reason": format!("unreadable recipe: {reason}")}));
            }
            for slug in &unknown {
                rows.push(
                    json!({"slug": slug, "analysed": false, "reason": "not found in Experimenter"}),
                );
            }
            crate::out_doc!(
                "{}",
                serde_json::to_string_pretty(
                    &json!({"date": date.to_string(), "experiments": rows})
                )?
            );
        }
        Format::Table => {
            out!("experiments for a daily run on {date}");
            let width = decisions
                .iter()
                .map(|d| d.experiment.normandy_slug.len())
                .max()
                .unwrap_or(4)
                .max(4);
            out!(
                "{:<width$}  {:<16} {:<9} {:<10} {:<10} verdict",
                "slug",
                "app",
                "status",
                "start",
                "end"
            );
            for d in &decisions {
                let e = &d.experiment;
                let verdict = match &d.verdict {
                    Ok(()) => "analysed".to_string(),
                    Err(r) => format!("skipped: {r}"),
                };
                out!(
                    "{:<width$}  {:<16} {:<9} {:<10} {:<10} {verdict}",
                    e.normandy_slug,
                    e.app_name,
                    e.status.as_deref().unwrap_or("-"),
                    fmt_date(e.start_date),
                    fmt_date(e.end_date)
                );
            }
            for (slug, reason) in &parsed.rejected {
                out!("{slug:<width$}  skipped: unreadable recipe: {reason}");
            }
            for slug in &unknown {
                out!("{slug:<width$}  skipped: not found in Experimenter");
            }
            let n = decisions.iter().filter(|d| d.verdict.is_ok()).count();
            out!(
                "{n} of {} experiments analysed",
                decisions.len() + parsed.rejected.len() + unknown.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
