//! `validate-config` and `resolve-config`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::args::{SourceArgs, WarehouseArgs};
use crate::out;
use chrono::NaiveDate;
use jetstream_config::collection::{ConfigCollection, FileKind, find_config_repo, parse_file};
use jetstream_config::platform::platform;
use jetstream_config::resolve::resolve_experiment;
use jetstream_config::validate::{DryRunTarget, ValidateOptions, dry_run_target, validate_file};
use jetstream_job::{Job, JobOptions};

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

fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                for entry in
                    std::fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?
                {
                    let path = entry?.path();
                    if path.is_dir() {
                        stack.push(path);
                    } else if path.extension().is_some_and(|e| e == "toml") {
                        found.push(path);
                    }
                }
            }
            found.sort();
            out.extend(found);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or directory", p.display());
        }
    }
    out.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".example"))
    });
    Ok(out)
}

pub(crate) fn validate(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    if let Some(p) = &args.platform
        && platform(p).is_none()
    {
        bail!("unknown platform {p:?}");
    }
    let files = expand(&args.paths)?;
    let opts = ValidateOptions {
        platform: args.platform.clone(),
        start_date: today(),
    };
    let mut repos: Vec<(PathBuf, ConfigCollection)> = Vec::new();
    let (mut valid, mut invalid) = (0usize, 0usize);
    let warehouse = if args.dry_run {
        Some(args.warehouse.read_only_spec()?.open()?)
    } else {
        None
    };
    let job = match &warehouse {
        Some(wh) => Some(Job::new(
            wh.as_ref(),
            ConfigCollection::new(),
            JobOptions::default(),
        )?),
        None => None,
    };
    let mut largest: u64 = 0;
    for file in &files {
        let repo = match &args.config_repo {
            Some(r) => r.clone(),
            None => find_config_repo(file).with_context(|| {
                format!(
                    "{}: cannot find the metric-hub checkout it belongs to; pass --config-repos DIR",
                    file.display()
                )
            })?,
        };
        if !repos.iter().any(|(r, _)| *r == repo) {
            let c = ConfigCollection::load_dir(&repo)
                .with_context(|| format!("loading config repository {}", repo.display()))?;
            repos.push((repo.clone(), c));
        }
        let Some((_, configs)) = repos.iter().find(|(r, _)| *r == repo) else {
            continue;
        };
        let v = validate_file(file, configs, &opts);
        let mut errors: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
        let mut note = v.note.clone();
        if let Some(job) = &job
            && errors.is_empty()
        {
            match dry_run_file(job, file, configs, &opts, &args.source) {
                Ok((summary, bytes, failed)) => {
                    largest = largest.max(bytes);
                    note = format!("{note}; {summary}");
                    errors.extend(failed);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            valid += 1;
            if !args.quiet {
                out!("ok    {}: {}", file.display(), note);
            }
        } else {
            invalid += 1;
            out!("FAIL  {}", file.display());
            for e in &errors {
                out!("      error: {e}");
            }
        }
        if args.warnings {
            for w in &v.warnings {
                out!("      warning: {w}");
            }
        }
    }
    out!("{} files: {valid} valid, {invalid} invalid", files.len());
    if invalid > 0 {
        return Ok(ExitCode::from(1));
    }
    if args.dry_run {
        let tib = largest as f64 / TIB;
        out!("the largest query reads {}", human_bytes(largest));
        if tib > args.high_data_threshold {
            out!(
                "above the high data threshold ({} TiB)",
                args.high_data_threshold
            );
            return Ok(ExitCode::from(3));
        }
        if tib > args.moderate_data_threshold {
            out!(
                "above the moderate data threshold ({} TiB)",
                args.moderate_data_threshold
            );
            return Ok(ExitCode::from(2));
        }
    }
    Ok(ExitCode::SUCCESS)
}

const TIB: f64 = 1024.0 * 1024.0 * 1024.0 * 1024.0;

fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

/// Dry-run the queries of one valid file: a summary, the largest query's bytes, and one error
/// per failing query (naming the metric, with the warehouse's message).
fn dry_run_file(
    job: &Job<'_>,
    file: &Path,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
    source: &SourceArgs,
) -> Result<(String, u64, Vec<String>), String> {
    let join = |errors: Vec<jetstream_config::ConfigError>| {
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let mut target = dry_run_target(file, configs, opts, None).map_err(join)?;
    if let DryRunTarget::NeedsExperiment(slug) = &target {
        let parsed = source
            .load(std::slice::from_ref(slug), today())
            .map_err(|e| format!("cannot look up experiment {slug}: {e:#}"))?;
        let experiment = jetstream_job::with_slug(&parsed.experiments, slug)
            .ok_or_else(|| format!("experiment {slug} does not exist in Experimenter"))?;
        target = dry_run_target(file, configs, opts, Some(experiment)).map_err(join)?;
    }
    let config = match target {
        DryRunTarget::Analysis(config) => config,
        DryRunTarget::Nothing(why) => return Ok((why, 0, Vec::new())),
        DryRunTarget::NeedsExperiment(slug) => {
            return Err(format!("experiment {slug} could not be resolved"));
        }
        other => return Err(format!("nothing to plan: {other:?}")),
    };
    let checks = job.dry_run(&config).map_err(|e| e.to_string())?;
    let mut largest = 0;
    let mut failed = Vec::new();
    for c in &checks {
        match &c.outcome {
            Ok(bytes) => largest = largest.max(*bytes),
            Err(message) => failed.push(format!("{}: {message}", c.what)),
        }
    }
    Ok((
        format!(
            "{} queries planned, the largest reads {}",
            checks.len(),
            human_bytes(largest)
        ),
        largest,
        failed,
    ))
}

/// A recipe or config file, at most as large as the payloads the job reads.
fn read(path: &Path) -> anyhow::Result<String> {
    jetstream_config::collection::read_text_bounded(path, jetstream_job::MAX_PAYLOAD_BYTES)
        .with_context(|| format!("reading {}", path.display()))
}

pub(crate) fn resolve(args: ResolveArgs) -> anyhow::Result<ExitCode> {
    let date = args.date.unwrap_or_else(today);
    let experiments = jetstream_job::parse_recipes(&read(&args.experiment)?, date)
        .with_context(|| format!("reading {}", args.experiment.display()))?;
    let experiment = match &args.slug {
        Some(slug) => jetstream_job::with_slug(&experiments, slug).with_context(|| {
            format!(
                "no recipe with slug {slug:?} in {}",
                args.experiment.display()
            )
        })?,
        None => match experiments.as_slice() {
            [one] => one,
            [] => bail!("{} holds no recipe", args.experiment.display()),
            _ => bail!(
                "{} holds {} recipes; choose one with --slug",
                args.experiment.display(),
                experiments.len()
            ),
        },
    };
    let configs = ConfigCollection::load_dir(&args.config_repo)
        .with_context(|| format!("loading config repository {}", args.config_repo.display()))?;
    let custom = match &args.config_file {
        Some(path) => {
            let report = parse_file(
                &read(path)?,
                FileKind::Experiment {
                    slug: experiment.normandy_slug.clone(),
                },
                path,
            );
            if !report.errors.is_empty() {
                for e in &report.errors {
                    crate::err!("error: {e}");
                }
                return Ok(ExitCode::from(1));
            }
            match report.parsed {
                Some(jetstream_config::collection::ParsedFile::Experiment(Some(spec))) => {
                    Some(spec)
                }
                _ => bail!("{} is not a jetstream experiment config", path.display()),
            }
        }
        None => None,
    };
    let config = custom
        .as_ref()
        .or_else(|| configs.spec_for_experiment(&experiment.normandy_slug));
    if let Some(broken) = configs.broken.iter().find(|b| {
        b.path
            .file_stem()
            .is_some_and(|s| s == experiment.normandy_slug.as_str())
    }) {
        for e in &broken.errors {
            crate::err!("error: {e}");
        }
        return Ok(ExitCode::from(1));
    }
    match resolve_experiment(experiment, config, &configs) {
        Ok(resolved) => {
            crate::out_doc!("{}", serde_json::to_string_pretty(&resolved.to_json())?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            crate::err!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
