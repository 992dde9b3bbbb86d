//! `jetstream experiments`: which experiments a daily run on a date would analyse, and why the
//! others are skipped.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use chrono::NaiveDate;
use jetstream_config::ConfigCollection;
use jetstream_experimenter::client::{ClientConfig, DEFAULT_BASE_URL, fetch_blocking};
use jetstream_experimenter::select::{ConfigOverrides, daily_selection};
use serde_json::json;

use crate::out;

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for tools.
    Json,
}

/// Where experiments come from: the Experimenter API or a local JSON file.
#[derive(Debug, clap::Args)]
pub(crate) struct SourceArgs {
    /// Experimenter base URL.
    #[arg(
        long,
        alias = "api_url",
        value_name = "URL",
        conflicts_with = "experiments_file"
    )]
    api_url: Option<String>,
    /// Read experiments from a JSON file (one recipe or an array) instead of the API.
    #[arg(long, alias = "experiments_file", value_name = "FILE.json")]
    pub(crate) experiments_file: Option<PathBuf>,
    /// Timeout of each API request, in seconds.
    #[arg(long, default_value_t = 30)]
    api_timeout: u64,
}

impl SourceArgs {
    /// Experiments from a local file.
    pub(crate) fn from_file(path: PathBuf) -> Self {
        Self {
            api_url: None,
            experiments_file: Some(path),
            api_timeout: 30,
        }
    }

    /// The experiments (the API is asked for `slugs` only, when given).
    pub(crate) fn load(
        &self,
        slugs: &[String],
        today: NaiveDate,
    ) -> anyhow::Result<jetstream_experimenter::Parsed> {
        Ok(match &self.experiments_file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                jetstream_experimenter::parse_payload(&text, today)
                    .with_context(|| format!("reading {}", path.display()))?
            }
            None => {
                let config = ClientConfig {
                    base_url: self
                        .api_url
                        .clone()
                        .unwrap_or_else(|| DEFAULT_BASE_URL.into()),
                    timeout: Duration::from_secs(self.api_timeout),
                    ..ClientConfig::default()
                };
                fetch_blocking(config, slugs, today)?
            }
        })
    }
}

/// The selection overrides of an experiment's config (`skip`, dates, enrollment period).
pub(crate) fn config_overrides(
    configs: Option<&ConfigCollection>,
    e: &jetstream_config::experiment::Experiment,
) -> ConfigOverrides {
    match configs.and_then(|c| c.spec_for_experiment(&e.normandy_slug)) {
        Some(s) => ConfigOverrides {
            skip: s.experiment.skip,
            end_date: s.experiment.end_date,
            start_date: s.experiment.start_date,
            enrollment_period: s.experiment.enrollment_period,
        },
        None => ConfigOverrides::default(),
    }
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
        Some(dir) => Some(
            ConfigCollection::load_dir(dir)
                .with_context(|| format!("loading {}", dir.display()))?,
        ),
        None => None,
    };
    let overrides =
        |e: &jetstream_config::experiment::Experiment| config_overrides(configs.as_ref(), e);
    // The API was already asked for the given slugs only (unknown ones are in `rejected`).
    let select: &[String] = if args.source.experiments_file.is_some() {
        &args.slugs
    } else {
        &[]
    };
    let (decisions, unknown) = daily_selection(&parsed.experiments, date, select, overrides);
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
            out!(
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
