//! Offline validation of config files (the reference's `validate_config`, without BigQuery).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::collection::{ConfigCollection, FileKind, ParsedFile, load_file};
use crate::error::{ConfigError, ErrorKind};
use crate::experiment::{Experiment, ExperimentConfiguration};
use crate::platform::{PLATFORMS, platform};
use crate::resolve::{default_spec_for, merge_outcome, resolve_experiment, resolve_spec};
use crate::spec::{AnalysisSpec, DefinitionSpec};
use crate::template::python_format;

/// Options of [`validate_file`].
#[derive(Debug, Clone)]
pub struct ValidateOptions {
    /// Resolve experiment configs for this platform only (default: try every platform).
    pub platform: Option<String>,
    /// Start date of the placeholder experiment used for resolution.
    pub start_date: NaiveDate,
}

/// The verdict on one file.
#[derive(Debug, Clone)]
pub struct Validation {
    /// The file.
    pub path: PathBuf,
    /// What it is.
    pub kind: FileKind,
    /// On success, a short note of what was checked (e.g. the platform it resolved for).
    pub note: String,
    /// Errors; the file is valid when empty.
    pub errors: Vec<ConfigError>,
    /// Warnings (unknown nested keys, ...).
    pub warnings: Vec<ConfigError>,
}

impl Validation {
    /// Whether the file is valid.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// Parse and resolve one file against `configs`.
pub fn validate_file(
    path: &Path,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
) -> Validation {
    let report = load_file(path);
    let mut v = Validation {
        path: path.to_path_buf(),
        kind: report.kind.clone(),
        note: String::new(),
        errors: report.errors.clone(),
        warnings: report.warnings.clone(),
    };
    let Some(parsed) = report.parsed else {
        return v;
    };
    let result = match (&report.kind, parsed) {
        (FileKind::Experiment { slug }, ParsedFile::Experiment(spec)) => match spec {
            None => Ok("OpMon config (has `project`), not analysed by jetstream".to_string()),
            Some(spec) => validate_experiment(slug, &spec, configs, opts),
        },
        (FileKind::Outcome { slug, platform }, ParsedFile::Outcome(outcome)) => {
            let dummy = Experiment::dummy("dummy_experiment", platform, opts.start_date);
            let mut spec = default_spec_for(&dummy, configs);
            merge_outcome(&mut spec, &outcome)
                .and_then(|_| resolve_spec(spec, &dummy, configs))
                .map(|_| format!("outcome {slug} resolves for {platform}"))
                .map_err(|e| vec![e.in_file(path)])
        }
        (FileKind::Default { slug }, ParsedFile::Default(spec)) => match spec {
            None => Ok("OpMon defaults, not used by jetstream".to_string()),
            Some(spec) => {
                validate_default(slug, &spec, configs, opts).map_err(|e| vec![e.in_file(path)])
            }
        },
        (FileKind::Definitions { platform }, ParsedFile::Definitions(spec)) => {
            validate_definitions(platform, &spec, configs, opts)
                .map_err(|es| es.into_iter().map(|e| e.in_file(path)).collect())
        }
        (FileKind::Functions, ParsedFile::Functions(functions)) => {
            let mut errors = Vec::new();
            for (name, f) in &functions {
                if let Err(e) = python_format(&f.definition, &[("select_expr", "x")]) {
                    errors.push(
                        ConfigError::new(
                            ErrorKind::Template,
                            format!("functions.{name}.definition"),
                            e.to_string(),
                        )
                        .in_file(path),
                    );
                }
            }
            if errors.is_empty() {
                Ok(format!("{} functions", functions.len()))
            } else {
                Err(errors)
            }
        }
        _ => Ok(String::new()),
    };
    match result {
        Ok(note) => v.note = note,
        Err(errors) => v.errors.extend(errors),
    }
    v
}

fn validate_experiment(
    slug: &str,
    spec: &AnalysisSpec,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
) -> Result<String, Vec<ConfigError>> {
    let platforms: Vec<&str> = match &opts.platform {
        Some(p) => vec![p.as_str()],
        None => PLATFORMS.iter().map(|p| p.app_name).collect(),
    };
    // Each distinct error with the platforms it occurred on, in the order first seen: a
    // definition missing everywhere is one error, not one per platform.
    let mut errors: Vec<(ConfigError, Vec<&str>)> = Vec::new();
    for app in &platforms {
        let mut dummy = Experiment::dummy(slug, app, opts.start_date);
        let first = match resolve_experiment(&dummy, Some(spec), configs) {
            Ok(resolved) => {
                let n: usize = resolved.metrics.values().map(|s| s.len()).sum();
                return Ok(format!(
                    "resolves for platform {app} ({n} metric statistics)"
                ));
            }
            Err(e) => e,
        };
        // Experimenter adds outcomes that the config does not name. Offline, assume the outcomes
        // of this platform that define metrics the config refers to.
        let assumed = outcomes_referenced(spec, app, configs);
        if !assumed.is_empty() {
            dummy.outcomes = assumed.clone();
            if let Ok(resolved) = resolve_experiment(&dummy, Some(spec), configs) {
                let n: usize = resolved.metrics.values().map(|s| s.len()).sum();
                return Ok(format!(
                    "resolves for platform {app} ({n} metric statistics) assuming Experimenter outcomes {}",
                    assumed.join(", ")
                ));
            }
        }
        match errors.iter_mut().find(|(e, _)| *e == first) {
            Some((_, apps)) => apps.push(app),
            None => errors.push((first, vec![app])),
        }
    }
    Err(errors
        .into_iter()
        .map(|(mut e, apps)| {
            let label = if apps.len() == 1 {
                "platform"
            } else {
                "platforms"
            };
            e.message = format!("{} ({label}: {})", e.message, apps.join(", "));
            e
        })
        .collect())
}

/// Outcomes of `app` that define a metric the config mentions.
fn outcomes_referenced(spec: &AnalysisSpec, app: &str, configs: &ConfigCollection) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for p in &spec.metrics.periods {
        names.extend(p.iter().map(|r| r.name.as_str()));
    }
    for (k, d) in &spec.metrics.definitions {
        names.push(k);
        if let Some(deps) = &d.depends_on {
            names.extend(deps.iter().map(String::as_str));
        }
    }
    configs
        .outcomes
        .iter()
        .filter(|o| o.platform == app && !spec.experiment.outcomes.contains(&o.slug))
        .filter(|o| o.spec.metrics.keys().any(|m| names.contains(&m.as_str())))
        .map(|o| o.slug.clone())
        .collect()
}

fn validate_default(
    slug: &str,
    spec: &AnalysisSpec,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
) -> Result<String, ConfigError> {
    // Platform defaults resolve for their platform; experiment-type defaults (`messaging`,
    // `cfr_metrics`) are merged over a platform's defaults.
    let (app, mut base) = if platform(slug).is_some() {
        (slug.to_string(), AnalysisSpec::default())
    } else {
        let app = opts
            .platform
            .clone()
            .unwrap_or_else(|| "firefox_desktop".into());
        let base = configs.platform_defaults(&app).cloned().unwrap_or_default();
        (app, base)
    };
    base.merge(spec);
    let dummy = Experiment::dummy("dummy_experiment", &app, opts.start_date);
    resolve_spec(base, &dummy, configs).map(|r| {
        let n: usize = r.metrics.values().map(|s| s.len()).sum();
        format!("defaults resolve for platform {app} ({n} metric statistics)")
    })
}

/// Definitions have no period lists: check that every template renders and every data source
/// resolves, so that a broken definition is caught before an experiment uses it.
fn validate_definitions(
    platform: &str,
    spec: &DefinitionSpec,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
) -> Result<String, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let jinja = configs.jinja();
    for (name, m) in &spec.metrics.definitions {
        if let Some(select) = &m.select_expression
            && !select.contains("parameters")
            && let Err(msg) = jinja.render(select, &BTreeMap::new())
        {
            errors.push(
                ConfigError::new(
                    ErrorKind::Template,
                    format!("metrics.{name}.select_expression"),
                    msg,
                )
                .at(&m.origin),
            );
        }
    }
    for (name, s) in &spec.segments.definitions {
        if let Err(msg) = jinja.render(&s.select_expression, &BTreeMap::new()) {
            errors.push(
                ConfigError::new(
                    ErrorKind::Template,
                    format!("segments.{name}.select_expression"),
                    msg,
                )
                .at(&s.origin),
            );
        }
    }
    // Data sources resolve through an analysis spec made of this file's definitions.
    let dummy = Experiment::dummy("dummy_experiment", platform, opts.start_date);
    let as_spec = AnalysisSpec {
        metrics: Default::default(),
        data_sources: spec.data_sources.clone(),
        segments: spec.segments.clone(),
        parameters: spec.parameters.clone(),
        experiment: Default::default(),
    };
    let conf = ExperimentConfiguration::new(dummy.clone(), Default::default());
    let n_ds = spec.data_sources.definitions.len();
    for name in spec.data_sources.definitions.keys() {
        if !crate::spec::is_valid_slug(name) {
            continue;
        }
        if let Err(e) = crate::resolve::check_data_source(&as_spec, configs, &conf, name) {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(format!(
            "{} metrics, {n_ds} data sources, {} segments",
            spec.metrics.definitions.len(),
            spec.segments.definitions.len()
        ))
    } else {
        Err(errors)
    }
}

/// What a dry run of one config file analyses: the resolved analysis its queries come from.
#[derive(Debug)]
#[non_exhaustive]
pub enum DryRunTarget {
    /// An experiment config needs its experiment (from Experimenter).
    NeedsExperiment(String),
    /// Nothing to run (functions, OpMon files).
    Nothing(String),
    /// The analysis to plan.
    Analysis(Box<crate::resolve::AnalysisConfiguration>),
}

/// The analysis a dry run of `path` plans, as the reference's `validate`: an experiment config
/// over `experiment` (its Experimenter definition; [`DryRunTarget::NeedsExperiment`] until
/// given), an outcome over a dummy experiment of its platform, defaults and definitions over a
/// dummy experiment of their platform (`firefox_desktop` for experiment-type defaults).
pub fn dry_run_target(
    path: &Path,
    configs: &ConfigCollection,
    opts: &ValidateOptions,
    experiment: Option<&Experiment>,
) -> Result<DryRunTarget, Vec<ConfigError>> {
    let report = load_file(path);
    if !report.errors.is_empty() {
        return Err(report.errors);
    }
    let in_file = |e: ConfigError| vec![e.in_file(path)];
    let dummy_of = |app: &str| Experiment::dummy("dummy_experiment", app, opts.start_date);
    let resolved = match (&report.kind, report.parsed) {
        (FileKind::Experiment { slug }, Some(ParsedFile::Experiment(Some(spec)))) => {
            let Some(experiment) = experiment else {
                return Ok(DryRunTarget::NeedsExperiment(slug.clone()));
            };
            resolve_experiment(experiment, Some(&spec), configs).map_err(in_file)?
        }
        (FileKind::Outcome { platform, .. }, Some(ParsedFile::Outcome(outcome))) => {
            let dummy = dummy_of(platform);
            let mut spec = default_spec_for(&dummy, configs);
            merge_outcome(&mut spec, &outcome).map_err(in_file)?;
            resolve_spec(spec, &dummy, configs).map_err(in_file)?
        }
        (FileKind::Default { slug }, Some(ParsedFile::Default(Some(spec)))) => {
            let app = if platform(slug).is_some() {
                slug.clone()
            } else {
                opts.platform
                    .clone()
                    .unwrap_or_else(|| "firefox_desktop".into())
            };
            let dummy = dummy_of(&app);
            let mut base = default_spec_for(&dummy, configs);
            base.merge(&spec);
            resolve_spec(base, &dummy, configs).map_err(in_file)?
        }
        (FileKind::Definitions { platform: p }, Some(ParsedFile::Definitions(_))) => {
            let app = if platform(p).is_some() {
                p.clone()
            } else {
                "firefox_desktop".to_string()
            };
            let dummy = dummy_of(&app);
            resolve_spec(default_spec_for(&dummy, configs), &dummy, configs).map_err(in_file)?
        }
        _ => {
            return Ok(DryRunTarget::Nothing(
                "no queries (functions or OpMon file)".into(),
            ));
        }
    };
    Ok(DryRunTarget::Analysis(Box::new(resolved)))
}
