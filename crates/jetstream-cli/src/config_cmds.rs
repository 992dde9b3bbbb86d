//! `validate-config` and `resolve-config`.

#![allow(clippy::print_stderr)] // a CLI reports errors on stderr

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::out;
use chrono::NaiveDate;
use jetstream_config::collection::{ConfigCollection, FileKind, find_config_repo, parse_file};
use jetstream_config::platform::platform;
use jetstream_config::resolve::resolve_experiment;
use jetstream_config::validate::{ValidateOptions, validate_file};

/// Arguments of `validate-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {
    /// Config files or folders (folders are searched for `*.toml`; `*.example*` files are skipped).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The metric-hub checkout to resolve against (default: found by walking up from each file).
    #[arg(long, alias = "config_repo", value_name = "DIR")]
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
}

/// Arguments of `resolve-config`.
#[derive(Debug, clap::Args)]
pub(crate) struct ResolveArgs {
    /// The metric-hub checkout (with `definitions/` and `jetstream/`).
    #[arg(long, alias = "config_repo", value_name = "DIR")]
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
    for file in &files {
        let repo = match &args.config_repo {
            Some(r) => r.clone(),
            None => find_config_repo(file).with_context(|| {
                format!(
                    "{}: cannot find the metric-hub checkout it belongs to; pass --config-repo DIR",
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
        if v.is_valid() {
            valid += 1;
            if !args.quiet {
                out!("ok    {}: {}", file.display(), v.note);
            }
        } else {
            invalid += 1;
            out!("FAIL  {}", file.display());
            for e in &v.errors {
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
    Ok(if invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
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
                    eprintln!("error: {e}");
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
            eprintln!("error: {e}");
        }
        return Ok(ExitCode::from(1));
    }
    match resolve_experiment(experiment, config, &configs) {
        Ok(resolved) => {
            out!("{}", serde_json::to_string_pretty(&resolved.to_json())?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
