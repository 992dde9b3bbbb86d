//! `validate-config` and `resolve-config`: the config repository's CI contract as library
//! calls.
//!
//! [`validate_paths`] checks config files (folders are searched), optionally renders and plans
//! every query of each one on a warehouse (a dry run), and returns a [`ValidationReport`]
//! whose [`Verdict`] is the exit code operators and the config repository's CI rely on: 0
//! valid, 1 a file is invalid (or a query fails), 2 a query reads more than the moderate
//! threshold, 3 more than the high one.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use jetstream_config::ConfigCollection;
use jetstream_config::collection::find_config_repo;
use jetstream_config::platform::platform;
use jetstream_config::validate::{DryRunTarget, ValidateOptions, dry_run_target, validate_file};

use jetstream_config::resolve::{AnalysisConfiguration, resolve_experiment};

use crate::{ExperimentSource, Job, JobError, JobOptions, Warehouse, with_slug};

/// Bytes in a tebibyte (the thresholds' unit).
pub const TIB: f64 = 1024.0 * 1024.0 * 1024.0 * 1024.0;

/// What to validate, and how.
#[derive(Clone, Copy)]
pub struct ValidateRequest<'a> {
    /// Config files or folders (folders are searched for `*.toml`; `*.example*` files are
    /// skipped).
    pub paths: &'a [PathBuf],
    /// The metric-hub checkout to resolve against; `None`: found by walking up from each file.
    pub config_repo: Option<&'a Path>,
    /// Resolve experiment configs for this platform only (default: every supported platform,
    /// passing if one resolves).
    pub platform: Option<&'a str>,
    /// The date experiment configs are resolved as of.
    pub today: NaiveDate,
    /// Also render and plan every query; `None`: parse and resolve only.
    pub dry_run: Option<DryRun<'a>>,
}

impl std::fmt::Debug for ValidateRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidateRequest")
            .field("paths", &self.paths)
            .field("config_repo", &self.config_repo)
            .field("platform", &self.platform)
            .field("today", &self.today)
            .field("dry_run", &self.dry_run.map(|d| d.thresholds))
            .finish()
    }
}

/// A dry run: where queries are planned and experiments looked up.
#[derive(Clone, Copy)]
pub struct DryRun<'a> {
    /// The warehouse that plans each query (DuckDB's EXPLAIN, BigQuery's dry run).
    pub warehouse: &'a dyn Warehouse,
    /// Where an experiment config's experiment is looked up.
    pub experiments: &'a dyn ExperimentSource,
    /// When the largest query is too large.
    pub thresholds: DataThresholds,
}

/// How much a query may read, in TiB, before the verdict says so.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DataThresholds {
    /// Above this: [`Verdict::ModerateData`] (the reference's default: 10 TiB).
    pub moderate_tib: f64,
    /// Above this: [`Verdict::HighData`] (the reference's default: 20 TiB).
    pub high_tib: f64,
}

impl Default for DataThresholds {
    fn default() -> Self {
        Self {
            moderate_tib: 10.0,
            high_tib: 20.0,
        }
    }
}

/// One file's result.
#[derive(Debug, Clone, PartialEq)]
pub struct FileValidation {
    /// The file.
    pub path: PathBuf,
    /// What was checked (the kind of file, the platform, the dry run's summary).
    pub note: String,
    /// Why it is invalid (empty: valid).
    pub errors: Vec<String>,
    /// Unknown keys that are ignored, and the like.
    pub warnings: Vec<String>,
    /// With a dry run: the bytes its largest query reads.
    pub largest_bytes: u64,
}

impl FileValidation {
    /// Whether the file is valid.
    pub fn valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// What [`validate_paths`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationReport {
    /// One entry per file, in the order checked.
    pub files: Vec<FileValidation>,
    /// With a dry run: its thresholds (and the verdict considers the bytes read).
    pub thresholds: Option<DataThresholds>,
}

/// The verdict of a validation, ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every file is valid (and no query reads too much).
    Valid,
    /// A query reads more than the moderate threshold.
    ModerateData,
    /// A query reads more than the high threshold.
    HighData,
    /// A file is invalid or a query fails.
    Invalid,
}

impl Verdict {
    /// The process exit code of `validate-config` (the reference's): 0, 2, 3 and 1.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::ModerateData => 2,
            Verdict::HighData => 3,
        }
    }
}

impl ValidationReport {
    /// Files that are valid.
    pub fn valid(&self) -> usize {
        self.files.iter().filter(|f| f.valid()).count()
    }

    /// Files that are not.
    pub fn invalid(&self) -> usize {
        self.files.len() - self.valid()
    }

    /// The bytes the largest query of a dry run reads (0 without one).
    pub fn largest_bytes(&self) -> u64 {
        self.files
            .iter()
            .map(|f| f.largest_bytes)
            .max()
            .unwrap_or(0)
    }

    /// Invalid when a file is; otherwise, with a dry run, whether the largest query is above
    /// a threshold.
    pub fn verdict(&self) -> Verdict {
        if self.invalid() > 0 {
            return Verdict::Invalid;
        }
        let Some(t) = self.thresholds else {
            return Verdict::Valid;
        };
        let tib = self.largest_bytes() as f64 / TIB;
        if tib > t.high_tib {
            Verdict::HighData
        } else if tib > t.moderate_tib {
            Verdict::ModerateData
        } else {
            Verdict::Valid
        }
    }
}

/// Validate the config files of `request`; see [`validate_paths_with`].
pub fn validate_paths(request: &ValidateRequest<'_>) -> Result<ValidationReport, JobError> {
    validate_paths_with(request, &mut |_| {})
}

/// Validate the config files of `request`, calling `each` as each file is done (to print as
/// it goes). Errors are the inputs' (an unknown platform, a missing path, a file outside any
/// metric-hub checkout, an unreadable repository); a file's own problems are in its entry.
pub fn validate_paths_with(
    request: &ValidateRequest<'_>,
    each: &mut dyn FnMut(&FileValidation),
) -> Result<ValidationReport, JobError> {
    if let Some(p) = request.platform
        && platform(p).is_none()
    {
        return Err(JobError::Option {
            option: "platform".into(),
            message: format!("unknown platform {p:?}"),
        });
    }
    let files = config_files(request.paths)?;
    let opts = ValidateOptions {
        platform: request.platform.map(str::to_string),
        start_date: request.today,
    };
    let job = match &request.dry_run {
        Some(d) => Some(Job::new(
            d.warehouse,
            ConfigCollection::new(),
            JobOptions::default(),
        )?),
        None => None,
    };
    let mut repos: Vec<(PathBuf, ConfigCollection)> = Vec::new();
    let mut report = ValidationReport {
        files: Vec::with_capacity(files.len()),
        thresholds: request.dry_run.map(|d| d.thresholds),
    };
    for file in files {
        let repo = match request.config_repo {
            Some(r) => r.to_path_buf(),
            None => find_config_repo(&file).ok_or_else(|| JobError::Config {
                what: file.display().to_string(),
                message: "cannot find the metric-hub checkout it belongs to; pass \
                          --config-repos DIR"
                    .into(),
            })?,
        };
        let index = match repos.iter().position(|(r, _)| *r == repo) {
            Some(i) => i,
            None => {
                let c = ConfigCollection::load_dir(&repo).map_err(|e| JobError::Config {
                    what: format!("config repository {}", repo.display()),
                    message: e.to_string(),
                })?;
                repos.push((repo, c));
                repos.len() - 1
            }
        };
        let configs = &repos[index].1;
        let v = validate_file(&file, configs, &opts);
        let mut entry = FileValidation {
            note: v.note.clone(),
            errors: v.errors.iter().map(ToString::to_string).collect(),
            warnings: v.warnings.iter().map(ToString::to_string).collect(),
            path: file,
            largest_bytes: 0,
        };
        if let (Some(job), Some(d)) = (&job, &request.dry_run)
            && entry.errors.is_empty()
        {
            match dry_run_file(job, &entry.path, configs, &opts, d.experiments) {
                Ok((summary, bytes, failed)) => {
                    entry.largest_bytes = bytes;
                    entry.note = format!("{}; {summary}", entry.note);
                    entry.errors.extend(failed);
                }
                Err(e) => entry.errors.push(e),
            }
        }
        each(&entry);
        report.files.push(entry);
    }
    Ok(report)
}

/// The files of `paths`: files as given, folders searched for `*.toml` (sorted), without
/// `*.example*` files.
fn config_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, JobError> {
    let io = |path: &Path, e: std::io::Error| JobError::Io {
        what: format!("listing {}", path.display()),
        source: e,
    };
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut stack = vec![p.clone()];
            let mut found = Vec::new();
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
                    let path = entry.map_err(|e| io(&dir, e))?.path();
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
            return Err(JobError::Io {
                what: p.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file or directory",
                ),
            });
        }
    }
    out.retain(|p| {
        !p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains(".example"))
    });
    Ok(out)
}

/// `b` bytes for people: `512 B`, `1.5 GiB`.
pub fn human_bytes(b: u64) -> String {
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
    experiments: &dyn ExperimentSource,
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
        let parsed = experiments
            .experiments(std::slice::from_ref(slug), opts.start_date)
            .map_err(|e| format!("cannot look up experiment {slug}: {e}"))?;
        let experiment = with_slug(&parsed.experiments, slug)
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

/// What to resolve (`resolve-config`).
#[derive(Debug, Clone, Copy)]
pub struct ResolveRequest<'a> {
    /// The metric-hub checkout (with `definitions/` and `jetstream/`).
    pub config_repo: &'a Path,
    /// An Experimenter recipe (v8 API shape), or an array of recipes.
    pub recipes: &'a Path,
    /// Which recipe of the file (default: the only one).
    pub slug: Option<&'a str>,
    /// A custom experiment config used instead of `jetstream/<slug>.toml`.
    pub config_file: Option<&'a Path>,
    /// The date that decides whether the experiment is live.
    pub date: NaiveDate,
}

/// What an experiment's configs resolve to.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The analysis configuration (print it with [`AnalysisConfiguration::to_json`]).
    Resolved(Box<AnalysisConfiguration>),
    /// Its config is invalid: why, one entry per error.
    Invalid(Vec<String>),
}

/// Resolve one experiment's configs as an analysis would: its recipe from `recipes`, its
/// experiment config from the repository (or `config_file`, read as
/// [`crate::custom_config`] reads it for `run --config-file`), the platform defaults and
/// outcomes. Errors are the inputs'
/// (an unreadable file, a missing recipe); an invalid config is [`Resolution::Invalid`].
pub fn resolve_config(request: &ResolveRequest<'_>) -> Result<Resolution, JobError> {
    let path = request.recipes;
    let text = crate::ExperimentsFile(path.to_path_buf()).text()?;
    let experiments = crate::parse_recipes(&text, request.date).map_err(|e| JobError::Fetch {
        what: path.display().to_string(),
        source: Box::new(e),
    })?;
    let not_found = |message: String| JobError::Option {
        option: format!("--experiment {}", path.display()),
        message,
    };
    let experiment = match request.slug {
        Some(slug) => with_slug(&experiments, slug)
            .ok_or_else(|| not_found(format!("no recipe with slug {slug:?}")))?,
        None => match experiments.as_slice() {
            [one] => one,
            [] => return Err(not_found("holds no recipe".into())),
            _ => {
                return Err(not_found(format!(
                    "holds {} recipes; choose one with --slug",
                    experiments.len()
                )));
            }
        },
    };
    let slug = experiment.normandy_slug.as_str();
    let configs =
        ConfigCollection::load_dir(request.config_repo).map_err(|e| JobError::Config {
            what: format!("config repository {}", request.config_repo.display()),
            message: e.to_string(),
        })?;
    let custom = match request.config_file {
        Some(file) => match crate::sources::read_custom_config(file, slug)? {
            Ok(spec) => Some(spec),
            Err(errors) => return Ok(Resolution::Invalid(errors)),
        },
        None => None,
    };
    if let Some(broken) = configs
        .broken
        .iter()
        .find(|b| b.path.file_stem().is_some_and(|s| s == slug))
    {
        return Ok(Resolution::Invalid(
            broken.errors.iter().map(ToString::to_string).collect(),
        ));
    }
    let spec = custom
        .as_ref()
        .or_else(|| configs.spec_for_experiment(slug));
    Ok(match resolve_experiment(experiment, spec, &configs) {
        Ok(resolved) => Resolution::Resolved(Box::new(resolved)),
        Err(e) => Resolution::Invalid(vec![e.to_string()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(errors: &[usize], largest_tib: &[f64], dry: bool) -> ValidationReport {
        ValidationReport {
            files: errors
                .iter()
                .zip(largest_tib)
                .enumerate()
                .map(|(i, (e, t))| FileValidation {
                    path: PathBuf::from(format!("f{i}.toml")),
                    note: String::new(),
                    errors: vec!["bad".into(); *e],
                    warnings: Vec::new(),
                    largest_bytes: (t * TIB) as u64,
                })
                .collect(),
            thresholds: dry.then(DataThresholds::default),
        }
    }

    #[test]
    fn the_verdict_is_the_reference_exit_code() {
        let cases = [
            (report(&[0, 0], &[1.0, 2.0], true), Verdict::Valid, 0),
            (
                report(&[0, 0], &[1.0, 10.5], true),
                Verdict::ModerateData,
                2,
            ),
            (report(&[0, 0], &[20.5, 10.5], true), Verdict::HighData, 3),
            // an invalid file outranks the data thresholds
            (report(&[0, 1], &[25.0, 0.0], true), Verdict::Invalid, 1),
            // without a dry run, bytes are not judged
            (report(&[0, 0], &[25.0, 0.0], false), Verdict::Valid, 0),
            // exactly at a threshold is not above it
            (report(&[0], &[10.0], true), Verdict::Valid, 0),
        ];
        for (r, verdict, code) in cases {
            assert_eq!(r.verdict(), verdict, "{r:?}");
            assert_eq!(r.verdict().exit_code(), code);
        }
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn a_missing_path_and_an_unknown_platform_are_named() {
        let paths = [PathBuf::from("/nonexistent/jetstream/validate/x.toml")];
        let request = ValidateRequest {
            paths: &paths,
            config_repo: None,
            platform: None,
            today: NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"),
            dry_run: None,
        };
        let e = validate_paths(&request).expect_err("missing path");
        assert!(
            e.to_string()
                .contains("/nonexistent/jetstream/validate/x.toml"),
            "{e}"
        );
        let e = validate_paths(&ValidateRequest {
            platform: Some("no_such_platform"),
            ..request
        })
        .expect_err("unknown platform");
        assert!(e.to_string().contains("no_such_platform"), "{e}");
    }
}
