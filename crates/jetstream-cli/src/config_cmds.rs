//! `validate-config` and `resolve-config`.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::args::{SourceArgs, WarehouseArgs};
use crate::out;
use chrono::NaiveDate;
use jetstream_job::validate::{
    DataThresholds, DryRun, Resolution, ResolveRequest, ValidateRequest, Verdict, human_bytes,
    resolve_config, validate_paths_with,
};

/// Arguments of `validate-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Config files or folders (folders are searched for `*.toml`; `*.example*` files are skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The metric-hub checkout to resolve against (default: found by walking up from each
    /// file). `--config-repo` is accepted too.
    #[arg(long = "config-repos", aliases = ["config-repo", "config_repo", "config_repos"],
          value_name = "DIR")]
    config_repo: Option<PathBuf>,
    /// Resolve experiment configs for this platform only (default: every supported platform,
    /// passing if one resolves).
    #[arg(long, value_name = "NAME")]
    platform: Option<String>,
    /// Also print warnings (unknown keys that are ignored).
    #[arg(long)]
    warnings: bool,
    /// Print nothing for valid files.
    #[arg(long, short)]
    quiet: bool,
    /// Also render every query of each config (enrollments with segments and exposures, each
    /// metric) and plan it without running it: DuckDB's EXPLAIN over `--data` or the
    /// `duckdb:` warehouse's tables, or a BigQuery dry run with `--warehouse bigquery:…`.
    /// Experiment configs are checked against their experiment in Experimenter (`--api-url`,
    /// or `--experiments-file`). Exit 1: a query fails or an experiment is unknown; 3: a
    /// query reads more than the high threshold; 2: more than the moderate one.
    #[arg(long, alias = "dry_run")]
    dry_run: bool,
    /// With --dry-run: TiB a query may read before the exit code is 3.
    #[arg(
        long,
        alias = "high_data_threshold",
        value_name = "TIB",
        default_value_t = 20.0,
        value_parser = crate::args::non_negative
    )]
    high_data_threshold: f64,
    /// With --dry-run: TiB a query may read before the exit code is 2.
    #[arg(
        long,
        alias = "moderate_data_threshold",
        value_name = "TIB",
        default_value_t = 10.0,
        value_parser = crate::args::non_negative
    )]
    moderate_data_threshold: f64,
    #[command(flatten)]
    warehouse: WarehouseArgs,
    #[command(flatten)]
    source: SourceArgs,
}

/// Arguments of `resolve-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ResolveArgs {
    /// The metric-hub checkout (with `definitions/` and `jetstream/`). `--config-repo` is
    /// accepted too.
    #[arg(long = "config-repos", aliases = ["config-repo", "config_repo", "config_repos"],
          value_name = "DIR")]
    config_repo: PathBuf,
    /// An Experimenter recipe (v8 API shape), or an array of recipes.
    #[arg(long, value_name = "FILE.json")]
    experiment: PathBuf,
    /// Which recipe of the file to resolve (default: the only one).
    #[arg(long, alias = "experiment_slug", value_name = "SLUG")]
    slug: Option<String>,
    /// A custom experiment config to use instead of `jetstream/<slug>.toml`.
    #[arg(long, alias = "config_file", value_name = "FILE.toml")]
    config_file: Option<PathBuf>,
    /// The date used to decide whether the experiment is live (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD")]
    date: Option<NaiveDate>,
}

fn today() -> NaiveDate {
    chrono::Utc::now().date_naive()
}

pub(crate) fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let (warehouse, experiments) = if args.dry_run {
        (
            Some(args.warehouse.read_only_spec()?.open()?),
            Some(args.source.source()),
        )
    } else {
        (None, None)
    };
    let dry_run = match (&warehouse, &experiments) {
        (Some(warehouse), Some(experiments)) => Some(DryRun {
            warehouse: warehouse.as_ref(),
            experiments: experiments.as_ref(),
            thresholds: DataThresholds {
                moderate_tib: args.moderate_data_threshold,
                high_tib: args.high_data_threshold,
            },
        }),
        _ => None,
    };
    let request = ValidateRequest {
        paths: &args.paths,
        config_repo: args.config_repo.as_deref(),
        platform: args.platform.as_deref(),
        today: today(),
        dry_run,
    };
    let report = validate_paths_with(&request, &mut |file| {
        if file.valid() {
            if !args.quiet {
                out!("ok    {}: {}", file.path.display(), file.note);
            }
        } else {
            out!("FAIL  {}", file.path.display());
            for e in &file.errors {
                out!("      error: {e}");
            }
        }
        if args.warnings {
            for w in &file.warnings {
                out!("      warning: {w}");
            }
        }
    })?;
    out!(
        "{} files: {} valid, {} invalid",
        report.files.len(),
        report.valid(),
        report.invalid()
    );
    let verdict = report.verdict();
    if verdict != Verdict::Invalid && report.thresholds.is_some() {
        out!(
            "the largest query reads {}",
            human_bytes(report.largest_bytes())
        );
        match verdict {
            Verdict::HighData => out!(
                "above the high data threshold ({} TiB)",
                args.high_data_threshold
            ),
            Verdict::ModerateData => out!(
                "above the moderate data threshold ({} TiB)",
                args.moderate_data_threshold
            ),
            _ => {}
        }
    }
    Ok(ExitCode::from(verdict.exit_code()))
}

pub(crate) fn resolve(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let request = ResolveRequest {
        config_repo: &args.config_repo,
        recipes: &args.experiment,
        slug: args.slug.as_deref(),
        config_file: args.config_file.as_deref(),
        date: args.date.unwrap_or_else(today),
    };
    match resolve_config(&request)? {
        Resolution::Resolved(resolved) => {
            crate::out_doc!("{}", serde_json::to_string_pretty(&resolved.to_json())?);
            Ok(ExitCode::SUCCESS)
        }
        Resolution::Invalid(errors) => {
            for e in &errors {
                crate::err!("error: {e}");
            }
            Ok(ExitCode::from(1))
        }
    }
}
