//! Where experiments and configs come from: traits with a local and a remote implementation.

use std::path::{Path, PathBuf};
use std::sync::Arc;
#[cfg(feature = "http")]
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use jetstream_config::ConfigCollection;
use jetstream_config::collection::{FileKind, ParsedFile, parse_file};
use jetstream_config::experiment::Experiment;
use jetstream_config::spec::AnalysisSpec;
use jetstream_experimenter::Parsed;
#[cfg(feature = "http")]
use jetstream_experimenter::client::{ClientConfig, fetch_blocking};
use jetstream_repos::{ConfigRepos, METRIC_HUB_REPO, RepoOptions, RepoSpec};

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

impl ExperimentsFile {
    /// The file's text, refused beyond [`jetstream_experimenter::MAX_PAYLOAD_BYTES`] before
    /// it is read.
    pub fn text(&self) -> Result<String, JobError> {
        jetstream_config::collection::read_text_bounded(
            &self.0,
            jetstream_experimenter::MAX_PAYLOAD_BYTES,
        )
        .map_err(|e| JobError::Io {
            what: format!("reading {}", self.0.display()),
            source: e,
        })
    }
}

impl ExperimentSource for ExperimentsFile {
    fn experiments(&self, _slugs: &[String], today: NaiveDate) -> Result<Parsed, JobError> {
        jetstream_experimenter::parse_payload(&self.text()?, today).map_err(|e| JobError::Fetch {
            what: self.0.display().to_string(),
            source: Box::new(e),
        })
    }
}

/// The Experimenter API (v8), with per-request timeouts and retries (feature `http`).
#[cfg(feature = "http")]
#[derive(Debug, Clone)]
pub struct ExperimenterApi(pub ClientConfig);

#[cfg(feature = "http")]
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

#[cfg(feature = "http")]
impl ExperimentSource for ExperimenterApi {
    fn experiments(&self, slugs: &[String], today: NaiveDate) -> Result<Parsed, JobError> {
        fetch_blocking(self.0.clone(), slugs, today).map_err(|e| JobError::Fetch {
            what: format!("Experimenter at {}", self.0.base_url),
            source: Box::new(e),
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

/// Config repositories (metric-hub layout): local folders, git checkouts and git URLs; public
/// ones in order (later ones override earlier ones), then private ones (their experiment
/// configs are marked private). None at all means metric-hub's public repository.
#[derive(Debug, Clone, Default)]
pub struct ConfigRepoSources {
    /// Public repositories, in order (folders or git URLs).
    pub public: Vec<String>,
    /// Private repositories, loaded last.
    pub private: Vec<String>,
    /// Where clones are cached and how old they may get.
    pub options: RepoOptions,
}

impl ConfigRepoSources {
    /// Local folders, public, with the default cache options.
    pub fn folders<P: AsRef<Path>>(dirs: &[P]) -> Self {
        Self {
            public: dirs
                .iter()
                .map(|d| d.as_ref().display().to_string())
                .collect(),
            ..Self::default()
        }
    }

    /// The repositories to open: the given ones, or metric-hub's when none is given.
    pub fn specs(&self) -> Vec<RepoSpec> {
        if self.public.is_empty() && self.private.is_empty() {
            return vec![RepoSpec::parse(METRIC_HUB_REPO, false)];
        }
        self.public
            .iter()
            .map(|r| RepoSpec::parse(r, false))
            .chain(self.private.iter().map(|r| RepoSpec::parse(r, true)))
            .collect()
    }

    /// Clone or fetch what needs it, read the histories, load the current configs.
    pub fn open(&self) -> Result<ConfigRepos, JobError> {
        ConfigRepos::open(&self.specs(), &self.options).map_err(|e| JobError::Repo {
            what: "config repositories".into(),
            source: e,
        })
    }
}

impl ConfigSource for ConfigRepoSources {
    fn configs(&self) -> Result<ConfigCollection, JobError> {
        Ok(self.open()?.current().as_ref().clone())
    }
}

/// A collection already loaded.
impl ConfigSource for ConfigCollection {
    fn configs(&self) -> Result<ConfigCollection, JobError> {
        Ok(self.clone())
    }
}

/// Configs as they were at a time: an experiment's configs are pinned to its first analysis.
pub trait ConfigHistory: Send + Sync {
    /// The configs as of `t`; `None` when they are the current ones.
    fn as_of(&self, t: DateTime<Utc>) -> Result<Option<Arc<ConfigCollection>>, JobError>;
}

impl ConfigHistory for ConfigRepos {
    fn as_of(&self, t: DateTime<Utc>) -> Result<Option<Arc<ConfigCollection>>, JobError> {
        let at = ConfigRepos::as_of(self, t).map_err(|e| JobError::Repo {
            what: format!("configs as of {t}"),
            source: e,
        })?;
        Ok((!Arc::ptr_eq(&at, &self.current())).then_some(at))
    }
}

/// A custom experiment config file (`--config-file`), parsed as the config of `slug`.
pub fn custom_config(path: &Path, slug: &str) -> Result<AnalysisSpec, JobError> {
    read_custom_config(path, slug)?.map_err(|errors| JobError::Config {
        what: "--config-file".into(),
        message: errors.join("; "),
    })
}

/// A custom experiment config file: an error if it cannot be read, else the config or its
/// errors (each naming the file).
pub(crate) fn read_custom_config(
    path: &Path,
    slug: &str,
) -> Result<Result<AnalysisSpec, Vec<String>>, JobError> {
    let text = jetstream_config::collection::read_text_bounded(
        path,
        jetstream_config::collection::MAX_CONFIG_FILE_BYTES,
    )
    .map_err(|e| JobError::Io {
        what: format!("reading {}", path.display()),
        source: e,
    })?;
    let report = parse_file(
        &text,
        FileKind::Experiment {
            slug: slug.to_string(),
        },
        path,
    );
    if !report.errors.is_empty() {
        return Ok(Err(report.errors.iter().map(ToString::to_string).collect()));
    }
    Ok(match report.parsed {
        Some(ParsedFile::Experiment(Some(spec))) => Ok(spec),
        _ => Err(vec![format!(
            "{}: not a jetstream experiment config",
            path.display()
        )]),
    })
}
