//! Where experiments and configs come from: traits with a local and a remote implementation.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::NaiveDate;
use jetstream_config::ConfigCollection;
use jetstream_config::collection::{FileKind, ParsedFile, parse_file};
use jetstream_config::experiment::Experiment;
use jetstream_config::spec::AnalysisSpec;
use jetstream_experimenter::Parsed;
use jetstream_experimenter::client::{ClientConfig, fetch_blocking};

use crate::JobError;

/// A source of experiment definitions.
pub trait ExperimentSource: Send + Sync {
    /// The experiments known on `today`; a source that can ask for single experiments asks for
    /// `slugs` only when some are given.
    fn experiments(&self, slugs: &[String], today: NaiveDate) -> Result<Parsed, JobError>;
}

/// Recipes from a local JSON file (one recipe or an array; v8, v6 or v1 shapes).
#[derive(Debug, Clone)]
pub struct ExperimentsFile(pub PathBuf);

impl ExperimentSource for ExperimentsFile {
    fn experiments(&self, _slugs: &[String], today: NaiveDate) -> Result<Parsed, JobError> {
        let path = &self.0;
        let text = std::fs::read_to_string(path).map_err(|e| JobError::Input {
            what: path.display().to_string(),
            message: e.to_string(),
        })?;
        jetstream_experimenter::parse_payload(&text, today).map_err(|e| JobError::Input {
            what: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

/// The Experimenter API (v8), with per-request timeouts and retries.
#[derive(Debug, Clone)]
pub struct ExperimenterApi(pub ClientConfig);

impl ExperimenterApi {
    /// The API at `base_url` with a request timeout.
    pub fn new(base_url: &str, timeout: Duration) -> Self {
        Self(ClientConfig {
            base_url: base_url.to_string(),
            timeout,
            ..ClientConfig::default()
        })
    }
}

impl ExperimentSource for ExperimenterApi {
    fn experiments(&self, slugs: &[String], today: NaiveDate) -> Result<Parsed, JobError> {
        fetch_blocking(self.0.clone(), slugs, today).map_err(|e| JobError::Input {
            what: format!("Experimenter at {}", self.0.base_url),
            message: e.to_string(),
        })
    }
}

/// Experiments already in memory (another tool's own list).
impl ExperimentSource for Vec<Experiment> {
    fn experiments(&self, _slugs: &[String], _today: NaiveDate) -> Result<Parsed, JobError> {
        Ok(Parsed {
            experiments: self.clone(),
            rejected: Vec::new(),
        })
    }
}

/// A source of analysis configs (metric-hub layout).
pub trait ConfigSource: Send + Sync {
    /// Load every config.
    fn configs(&self) -> Result<ConfigCollection, JobError>;
}

/// Local metric-hub checkouts: public ones in order (later ones override earlier ones), then
/// private ones (their experiment configs are marked private).
#[derive(Debug, Clone, Default)]
pub struct LocalConfigRepos {
    /// Public repositories, in order.
    pub public: Vec<PathBuf>,
    /// Private repositories, loaded last.
    pub private: Vec<PathBuf>,
}

impl LocalConfigRepos {
    /// Whether no repository is given.
    pub fn is_empty(&self) -> bool {
        self.public.is_empty() && self.private.is_empty()
    }
}

impl ConfigSource for LocalConfigRepos {
    fn configs(&self) -> Result<ConfigCollection, JobError> {
        let mut configs = ConfigCollection::new();
        let all = self
            .public
            .iter()
            .map(|p| (p, false))
            .chain(self.private.iter().map(|p| (p, true)));
        for (dir, private) in all {
            if looks_like_url(dir) {
                return Err(JobError::Input {
                    what: dir.display().to_string(),
                    message: "config repositories are local checkouts here; clone the \
                              repository and pass its folder"
                        .into(),
                });
            }
            configs
                .extend_from_dir(dir, private)
                .map_err(|e| JobError::Input {
                    what: format!("config repository {}", dir.display()),
                    message: e.to_string(),
                })?;
        }
        Ok(configs)
    }
}

/// A collection already loaded.
impl ConfigSource for ConfigCollection {
    fn configs(&self) -> Result<ConfigCollection, JobError> {
        Ok(self.clone())
    }
}

fn looks_like_url(p: &Path) -> bool {
    let s = p.to_string_lossy();
    s.starts_with("https://") || s.starts_with("http://") || s.starts_with("git@")
}

/// A custom experiment config file (`--config-file`), parsed as the config of `slug`.
pub fn custom_config(path: &Path, slug: &str) -> Result<AnalysisSpec, JobError> {
    let input = |message: String| JobError::Input {
        what: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| input(e.to_string()))?;
    let report = parse_file(
        &text,
        FileKind::Experiment {
            slug: slug.to_string(),
        },
        path,
    );
    if let Some(e) = report.errors.first() {
        return Err(input(e.to_string()));
    }
    match report.parsed {
        Some(ParsedFile::Experiment(Some(spec))) => Ok(spec),
        _ => Err(input("not a jetstream experiment config".into())),
    }
}
