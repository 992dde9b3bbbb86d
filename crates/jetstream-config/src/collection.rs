//! A metric-hub checkout loaded into memory: experiment configs, outcomes, defaults,
//! definitions and functions, merged the way jetstream merges them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use indexmap::IndexMap;

use crate::error::{ConfigError, ErrorKind};
use crate::spec::{
    AnalysisSpec, DataSourceDefinition, DefinitionSpec, FunctionsSpec, MetricDefinition,
    OutcomeSpec, SegmentDataSourceDefinition, SegmentDefinition, parse_text, read_analysis_spec,
    read_definition_spec, read_functions, read_outcome_spec,
};
use crate::template::Jinja;
use crate::tree::Table;

/// What a config file is, judged by where it lies (as the reference's `entity_from_path`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// `<slug>.toml`: an experiment config.
    Experiment {
        /// The experiment slug (file stem).
        slug: String,
    },
    /// `outcomes/<platform>/<slug>.toml`.
    Outcome {
        /// Outcome slug.
        slug: String,
        /// Platform (parent folder).
        platform: String,
    },
    /// `defaults/<platform or type>.toml`.
    Default {
        /// Platform or experiment type.
        slug: String,
    },
    /// `definitions/<platform>.toml`.
    Definitions {
        /// Platform.
        platform: String,
    },
    /// `definitions/functions.toml`.
    Functions,
}

impl FileKind {
    /// Classify a path.
    pub fn of(path: &Path) -> FileKind {
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let parent = path.parent();
        let parent_name = parent
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let grandparent_name = parent
            .and_then(|p| p.parent())
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        if grandparent_name == "outcomes" {
            FileKind::Outcome {
                slug: stem,
                platform: parent_name,
            }
        } else if parent_name == "defaults" {
            FileKind::Default { slug: stem }
        } else if parent_name == "definitions" {
            if path.file_name().is_some_and(|n| n == "functions.toml") {
                FileKind::Functions
            } else {
                FileKind::Definitions { platform: stem }
            }
        } else {
            FileKind::Experiment { slug: stem }
        }
    }
}

/// A parsed config file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ParsedFile {
    /// An experiment config (or `None` for an OpMon config, which jetstream ignores).
    Experiment(Option<AnalysisSpec>),
    /// An outcome.
    Outcome(OutcomeSpec),
    /// A defaults file (or `None` for OpMon defaults).
    Default(Option<AnalysisSpec>),
    /// A definitions file.
    Definitions(DefinitionSpec),
    /// `functions.toml`.
    Functions(FunctionsSpec),
}

/// The result of parsing one file: the spec, or its errors, and its warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// What kind of file it is.
    pub kind: FileKind,
    /// The parsed content, when there were no errors.
    pub parsed: Option<ParsedFile>,
    /// Errors (the file is invalid when non-empty).
    pub errors: Vec<ConfigError>,
    /// Warnings (unknown nested keys and the like).
    pub warnings: Vec<ConfigError>,
}

/// Parse config text of the given kind. `path` is used for messages only.
pub fn parse_file(text: &str, kind: FileKind, path: &Path) -> FileReport {
    let (table, mut r) = match parse_text(text, Some(path)) {
        Ok(x) => x,
        Err(e) => {
            return FileReport {
                path: path.to_path_buf(),
                kind,
                parsed: None,
                errors: vec![e],
                warnings: Vec::new(),
            };
        }
    };
    let is_opmon = |t: &Table| t.get("project").is_some();
    let parsed = match &kind {
        FileKind::Experiment { .. } => {
            if is_opmon(&table) {
                ParsedFile::Experiment(None)
            } else {
                ParsedFile::Experiment(Some(read_analysis_spec(&mut r, &table)))
            }
        }
        FileKind::Default { .. } => {
            if is_opmon(&table) {
                ParsedFile::Default(None)
            } else {
                ParsedFile::Default(Some(read_analysis_spec(&mut r, &table)))
            }
        }
        FileKind::Outcome { .. } => ParsedFile::Outcome(read_outcome_spec(&mut r, &table)),
        FileKind::Definitions { .. } => {
            ParsedFile::Definitions(read_definition_spec(&mut r, &table))
        }
        FileKind::Functions => match table.get("functions") {
            Some(node) => ParsedFile::Functions(read_functions(&mut r, "functions", node)),
            None => {
                r.error_at(
                    ErrorKind::Missing,
                    "functions",
                    Some(1),
                    "functions.toml needs a [functions] table",
                );
                ParsedFile::Functions(FunctionsSpec::new())
            }
        },
    };
    FileReport {
        path: path.to_path_buf(),
        kind,
        parsed: r.errors.is_empty().then_some(parsed),
        errors: r.errors,
        warnings: r.warnings,
    }
}

/// An outcome of a platform.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Slug.
    pub slug: String,
    /// Platform.
    pub platform: String,
    /// Content.
    pub spec: OutcomeSpec,
}

/// All configs of one or more metric-hub checkouts.
#[derive(Debug, Default)]
pub struct ConfigCollection {
    /// Experiment configs by slug.
    pub configs: IndexMap<String, AnalysisSpec>,
    /// Outcomes.
    pub outcomes: Vec<Outcome>,
    /// Defaults by platform or experiment type.
    pub defaults: IndexMap<String, AnalysisSpec>,
    /// Definitions by platform (root `definitions/` merged with `jetstream/definitions/`).
    pub definitions: IndexMap<String, DefinitionSpec>,
    /// Jinja functions.
    pub functions: FunctionsSpec,
    /// Files that could not be parsed, with their errors.
    pub broken: Vec<FileReport>,
    /// Warnings of the files that were loaded.
    pub warnings: Vec<ConfigError>,
    /// When each loaded file last changed (from its repository's history, or the file's
    /// modification time), in load order: what `rerun-config-changed` compares with results.
    pub stamps: Vec<FileStamp>,
    /// The versions the collection was loaded from (`<repository>@<commit>`, or a folder).
    pub versions: Vec<String>,
    jinja: OnceLock<Jinja>,
}

/// When one config file last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// What the file is.
    pub kind: FileKind,
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// When it last changed.
    pub last_modified: DateTime<Utc>,
}

/// One config file in memory: its path inside the repository (`jetstream/foo.toml`), its text
/// and when it last changed.
#[derive(Debug, Clone)]
pub struct RepoFile {
    /// Path relative to the repository root, with `/` separators.
    pub path: String,
    /// The file's text.
    pub text: String,
    /// When it last changed, if known.
    pub last_modified: Option<DateTime<Utc>>,
}

/// Which of `paths` (relative, `/`-separated) a metric-hub checkout's loader reads, in the order
/// it reads them: the root's files paths first, then `jetstream/`'s (which win).
pub fn config_paths<'a>(paths: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::new();
    for root in ["", "jetstream/"] {
        let under = |sub: &str| -> Vec<&'a str> {
            let prefix = format!("{root}{sub}");
            let mut v: Vec<&'a str> = paths
                .iter()
                .copied()
                .filter(|p| {
                    p.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                        rest.ends_with(".toml")
                            && if sub == "outcomes/" {
                                rest.matches('/').count() == 1
                            } else {
                                !rest.contains('/')
                            }
                    })
                })
                .collect();
            v.sort_unstable();
            v
        };
        out.extend(under(""));
        out.extend(under("definitions/"));
        out.extend(under("defaults/"));
        out.extend(under("outcomes/"));
    }
    out
}

impl Clone for ConfigCollection {
    fn clone(&self) -> Self {
        ConfigCollection {
            configs: self.configs.clone(),
            outcomes: self.outcomes.clone(),
            defaults: self.defaults.clone(),
            definitions: self.definitions.clone(),
            functions: self.functions.clone(),
            broken: self.broken.clone(),
            warnings: self.warnings.clone(),
            stamps: self.stamps.clone(),
            versions: self.versions.clone(),
            jinja: OnceLock::new(),
        }
    }
}

impl ConfigCollection {
    /// An empty collection.
    pub fn new() -> Self {
        Self::default()
    }

    fn refresh(&mut self) {
        self.jinja = OnceLock::new();
    }

    /// The Jinja environment with this collection's functions.
    pub fn jinja(&self) -> &Jinja {
        self.jinja.get_or_init(|| Jinja::new(&self.functions))
    }

    /// Add one parsed file. Later additions win over earlier ones, like the reference's
    /// `ConfigCollection.merge`.
    pub fn add(&mut self, report: FileReport) {
        self.warnings.extend(report.warnings.iter().cloned());
        let Some(parsed) = report.parsed.clone() else {
            self.broken.push(report);
            return;
        };
        match (report.kind, parsed) {
            (FileKind::Experiment { slug }, ParsedFile::Experiment(Some(spec))) => {
                match self.configs.get_mut(&slug) {
                    Some(existing) => existing.merge(&spec),
                    None => {
                        self.configs.insert(slug, spec);
                    }
                }
            }
            (FileKind::Default { slug }, ParsedFile::Default(Some(spec))) => {
                match self.defaults.get_mut(&slug) {
                    Some(existing) => existing.merge(&spec),
                    None => {
                        self.defaults.insert(slug, spec);
                    }
                }
            }
            (FileKind::Outcome { slug, platform }, ParsedFile::Outcome(spec)) => {
                // The reference keys outcomes by slug only when merging collections.
                self.outcomes
                    .retain(|o| o.slug != slug || o.platform != platform);
                self.outcomes.push(Outcome {
                    slug,
                    platform,
                    spec,
                });
            }
            (FileKind::Definitions { platform }, ParsedFile::Definitions(spec)) => {
                match self.definitions.get_mut(&platform) {
                    Some(existing) => existing.merge(&spec),
                    None => {
                        self.definitions.insert(platform, spec);
                    }
                }
            }
            (FileKind::Functions, ParsedFile::Functions(functions)) => {
                for (k, v) in functions {
                    self.functions.insert(k, v);
                }
                self.refresh();
            }
            _ => {}
        }
    }

    /// Load a metric-hub checkout: `dir/definitions/` etc., then `dir/jetstream/` on top of it
    /// (when it exists), so that `jetstream/definitions` wins over `definitions/`.
    ///
    /// Files that fail to parse are kept in [`ConfigCollection::broken`]; the rest is usable.
    pub fn load_dir(dir: &Path) -> Result<Self, ConfigError> {
        let mut c = ConfigCollection::new();
        c.extend_from_dir(dir, false)?;
        Ok(c)
    }

    /// Load another metric-hub checkout on top of this collection: its files win over what is
    /// already loaded (the reference's `ConfigLoader.with_configs_from`, later repositories
    /// overriding earlier ones). With `private`, its experiment configs are marked
    /// `is_private` (the reference's `--private-config-repos`).
    pub fn extend_from_dir(&mut self, dir: &Path, private: bool) -> Result<(), ConfigError> {
        if !dir.is_dir() {
            return Err(ConfigError::new(
                ErrorKind::Io,
                "",
                format!("config repository {} is not a directory", dir.display()),
            ));
        }
        let mut loaded = ConfigCollection::new();
        loaded.load_files_path(dir)?;
        let jetstream = dir.join("jetstream");
        if jetstream.is_dir() {
            loaded.load_files_path(&jetstream)?;
        }
        if private {
            for spec in loaded.configs.values_mut() {
                spec.experiment.is_private = true;
            }
        }
        loaded.versions.push(dir.display().to_string());
        self.merge(loaded);
        Ok(())
    }

    /// Load a metric-hub tree held in memory (`files` as read from git, say) on top of this
    /// collection, as [`ConfigCollection::extend_from_dir`] loads a folder. `label` names the
    /// source in messages (`<repository>@<commit>`); files outside the loader's paths are
    /// ignored.
    pub fn extend_from_files(&mut self, label: &str, files: &[RepoFile], private: bool) {
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        let mut loaded = ConfigCollection::new();
        for path in config_paths(&paths) {
            let Some(file) = files.iter().find(|f| f.path == path) else {
                continue;
            };
            let shown = PathBuf::from(format!("{label}/{path}"));
            let kind = FileKind::of(Path::new(path));
            if let Some(t) = file.last_modified {
                loaded.stamps.push(FileStamp {
                    kind: kind.clone(),
                    path: shown.clone(),
                    last_modified: t,
                });
            }
            loaded.add(parse_file(&file.text, kind, &shown));
        }
        if private {
            for spec in loaded.configs.values_mut() {
                spec.experiment.is_private = true;
            }
        }
        loaded.versions.push(label.to_string());
        self.merge(loaded);
    }

    /// When the newest file matching `which` last changed.
    fn newest(&self, which: impl Fn(&FileKind) -> bool) -> Option<DateTime<Utc>> {
        self.stamps
            .iter()
            .filter(|s| which(&s.kind))
            .map(|s| s.last_modified)
            .max()
    }

    /// When the experiment config of `slug` last changed (`None`: no config, or no history).
    pub fn experiment_modified(&self, slug: &str) -> Option<DateTime<Utc>> {
        self.newest(|k| matches!(k, FileKind::Experiment { slug: s } if s == slug))
    }

    /// When the defaults of `platform` (an app name or experiment type) last changed.
    pub fn defaults_modified(&self, platform: &str) -> Option<DateTime<Utc>> {
        self.newest(|k| matches!(k, FileKind::Default { slug } if slug == platform))
    }

    /// When the outcome `slug` of `platform` last changed.
    pub fn outcome_modified(&self, slug: &str, platform: &str) -> Option<DateTime<Utc>> {
        self.newest(|k| {
            matches!(k, FileKind::Outcome { slug: s, platform: p } if s == slug && p == platform)
        })
    }

    /// Merge `other` over this collection: an experiment config or outcome of `other`
    /// replaces the one of the same slug; defaults, definitions and functions are merged
    /// key by key with `other` winning.
    pub fn merge(&mut self, other: ConfigCollection) {
        for (slug, spec) in other.configs {
            self.configs.insert(slug, spec);
        }
        for (slug, spec) in other.defaults {
            match self.defaults.get_mut(&slug) {
                Some(existing) => existing.merge(&spec),
                None => {
                    self.defaults.insert(slug, spec);
                }
            }
        }
        for o in other.outcomes {
            self.outcomes
                .retain(|x| x.slug != o.slug || x.platform != o.platform);
            self.outcomes.push(o);
        }
        for (platform, spec) in other.definitions {
            match self.definitions.get_mut(&platform) {
                Some(existing) => existing.merge(&spec),
                None => {
                    self.definitions.insert(platform, spec);
                }
            }
        }
        for (k, v) in other.functions {
            self.functions.insert(k, v);
        }
        self.broken.extend(other.broken);
        self.warnings.extend(other.warnings);
        self.stamps.extend(other.stamps);
        self.versions.extend(other.versions);
        self.refresh();
    }

    /// Load one "files path" of the reference: `*.toml`, `outcomes/*/*.toml`,
    /// `defaults/*.toml`, `definitions/*.toml`.
    fn load_files_path(&mut self, dir: &Path) -> Result<(), ConfigError> {
        let mut files: Vec<PathBuf> = Vec::new();
        files.extend(toml_files(dir)?);
        files.extend(toml_files(&dir.join("definitions"))?);
        files.extend(toml_files(&dir.join("defaults"))?);
        let outcomes = dir.join("outcomes");
        if outcomes.is_dir() {
            let mut platforms: Vec<PathBuf> = read_dir_sorted(&outcomes)?
                .into_iter()
                .filter(|p| p.is_dir())
                .collect();
            platforms.sort();
            for p in platforms {
                files.extend(toml_files(&p)?);
            }
        }
        for path in files {
            let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
            if let Some(t) = modified {
                self.stamps.push(FileStamp {
                    kind: FileKind::of(&path),
                    path: path.clone(),
                    last_modified: DateTime::<Utc>::from(t),
                });
            }
            let report = load_file(&path);
            self.add(report);
        }
        Ok(())
    }

    /// A file that failed to parse and that an experiment of `app_name` and `experiment_type`
    /// with this slug would read (its config, platform/type defaults, platform definitions,
    /// functions, outcomes of the platform). Resolving such an experiment must fail rather than
    /// silently run without the broken file.
    pub fn broken_for(
        &self,
        slug: &str,
        app_name: &str,
        experiment_type: &str,
    ) -> Option<&FileReport> {
        self.broken.iter().find(|b| match &b.kind {
            FileKind::Experiment { slug: s } => s == slug,
            FileKind::Default { slug: s } => s == app_name || s == experiment_type,
            FileKind::Definitions { platform } => platform == app_name,
            FileKind::Functions => true,
            FileKind::Outcome { platform, .. } => platform == app_name,
        })
    }

    /// The experiment config of `slug`.
    pub fn spec_for_experiment(&self, slug: &str) -> Option<&AnalysisSpec> {
        self.configs.get(slug)
    }

    /// The outcome `slug` of `platform`.
    pub fn spec_for_outcome(&self, slug: &str, platform: &str) -> Option<&OutcomeSpec> {
        self.outcomes
            .iter()
            .find(|o| o.slug == slug && o.platform == platform)
            .map(|o| &o.spec)
    }

    /// Defaults for a platform or experiment type.
    pub fn platform_defaults(&self, slug: &str) -> Option<&AnalysisSpec> {
        self.defaults.get(slug)
    }

    /// A metric definition of the platform's definitions.
    pub fn metric_definition(&self, slug: &str, app_name: &str) -> Option<&MetricDefinition> {
        self.definitions
            .get(app_name)?
            .metrics
            .definitions
            .get(slug)
    }

    /// A data source definition of the platform's definitions.
    pub fn data_source_definition(
        &self,
        slug: &str,
        app_name: &str,
    ) -> Option<&DataSourceDefinition> {
        self.definitions
            .get(app_name)?
            .data_sources
            .definitions
            .get(slug)
    }

    /// A segment definition of the platform's definitions.
    pub fn segment_definition(&self, slug: &str, app_name: &str) -> Option<&SegmentDefinition> {
        self.definitions
            .get(app_name)?
            .segments
            .definitions
            .get(slug)
    }

    /// A segment data source of the platform's definitions.
    pub fn segment_data_source_definition(
        &self,
        slug: &str,
        app_name: &str,
    ) -> Option<&SegmentDataSourceDefinition> {
        self.definitions
            .get(app_name)?
            .segments
            .data_sources
            .get(slug)
    }
}

/// The largest config file read (metric-hub's largest definitions file is about 200 KB).
pub const MAX_CONFIG_FILE_BYTES: u64 = 16 << 20;

/// The text of the file at `path`, refused before it is read when it is larger than `limit`
/// bytes (a mistaken path to a huge file fails with its size instead of exhausting memory).
pub fn read_text_bounded(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let too_big = |size: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("is {size} bytes: at most {limit} are read"),
        )
    };
    if size > limit {
        return Err(too_big(size));
    }
    // Read at most one byte more than the limit: a file that grew meanwhile is refused too.
    let mut text = String::new();
    file.take(limit + 1).read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(too_big(text.len() as u64));
    }
    Ok(text)
}

/// Read and parse one file, classified by its path.
pub fn load_file(path: &Path) -> FileReport {
    let kind = FileKind::of(path);
    match read_text_bounded(path, MAX_CONFIG_FILE_BYTES) {
        Ok(text) => parse_file(&text, kind, path),
        Err(e) => FileReport {
            path: path.to_path_buf(),
            kind,
            parsed: None,
            errors: vec![ConfigError::new(ErrorKind::Io, "", e.to_string()).in_file(path)],
            warnings: Vec::new(),
        },
    }
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        ConfigError::new(
            ErrorKind::Io,
            "",
            format!("cannot list {}: {e}", dir.display()),
        )
    })?;
    let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

fn toml_files(dir: &Path) -> Result<Vec<PathBuf>, ConfigError> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    Ok(read_dir_sorted(dir)?
        .into_iter()
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "toml"))
        .collect())
}

/// Find the metric-hub checkout a config file belongs to: the nearest ancestor (at most four
/// levels up) that has a `jetstream/` or `definitions/` folder.
pub fn find_config_repo(file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(file).ok()?;
    let mut dir = abs.parent();
    for _ in 0..4 {
        let d = dir?;
        if d.join("jetstream").is_dir() {
            return Some(d.to_path_buf());
        }
        dir = d.parent();
    }
    None
}
