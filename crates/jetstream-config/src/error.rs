//! Errors and warnings that name the file, the key path, the value and the line.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a config value came from: the file and the 1-based line, when known.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Origin {
    /// The file the value was read from (`None` for in-memory text).
    pub file: Option<Arc<Path>>,
    /// The 1-based line of the value, when the TOML layer knows it.
    pub line: Option<usize>,
}

impl Origin {
    /// An origin in `file` at `line`.
    pub fn new(file: Option<Arc<Path>>, line: Option<usize>) -> Self {
        Self { file, line }
    }
}

/// What kind of problem a [`ConfigError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not valid TOML.
    Syntax,
    /// A key that is not allowed where it stands.
    UnknownKey,
    /// A value of the wrong type (a string where a number is expected, ...).
    WrongType,
    /// A value of the right type that is not allowed (an unknown enum member, a bad date, ...).
    InvalidValue,
    /// A required key is missing.
    Missing,
    /// A referenced metric, data source, segment, outcome or function does not exist.
    NotFound,
    /// A Jinja or `str.format` template could not be rendered.
    Template,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Io => "cannot read file",
            ErrorKind::Syntax => "invalid TOML",
            ErrorKind::UnknownKey => "unknown key",
            ErrorKind::WrongType => "wrong type",
            ErrorKind::InvalidValue => "invalid value",
            ErrorKind::Missing => "missing key",
            ErrorKind::NotFound => "not found",
            ErrorKind::Template => "template error",
        }
    }
}

/// One problem in a config, with the context needed to fix it.
///
/// The same type is used for warnings (unknown nested keys), which do not stop a config from
/// being valid.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ConfigError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// The file, when the problem belongs to one.
    pub file: Option<PathBuf>,
    /// The dotted key path, e.g. `metrics.active_hours.statistics.bootstrap_mean.drop_highest`.
    pub key: String,
    /// The offending value, rendered as TOML, when there is one.
    pub value: Option<String>,
    /// The 1-based line, when known.
    pub line: Option<usize>,
    /// A human readable explanation.
    pub message: String,
}

impl ConfigError {
    /// A new error without file or line information.
    pub fn new(kind: ErrorKind, key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            file: None,
            key: key.into(),
            value: None,
            line: None,
            message: message.into(),
        }
    }

    /// Attach the offending value.
    pub fn with_value(mut self, value: impl Into<String>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Attach the origin (file and line) unless the error already has one.
    pub fn at(mut self, origin: &Origin) -> Self {
        if self.file.is_none() {
            self.file = origin.file.as_ref().map(|f| f.to_path_buf());
        }
        if self.line.is_none() {
            self.line = origin.line;
        }
        self
    }

    /// Attach a file unless the error already names one.
    pub fn in_file(mut self, file: &Path) -> Self {
        if self.file.is_none() {
            self.file = Some(file.to_path_buf());
        }
        self
    }

    /// Prefix the key path with `prefix` (e.g. when an error from a nested table bubbles up).
    pub fn under(mut self, prefix: &str) -> Self {
        if self.key.is_empty() {
            self.key = prefix.to_string();
        } else if !prefix.is_empty() {
            self.key = format!("{prefix}.{}", self.key);
        }
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{}:{line}: ", file.display())?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(line)) => write!(f, "line {line}: ",)?,
            (None, None) => {}
        }
        if !self.key.is_empty() {
            write!(f, "{}", self.key)?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            write!(f, ": ")?;
        } else if let Some(value) = &self.value {
            write!(f, "{value}: ")?;
        }
        write!(f, "{}: {}", self.kind.label(), self.message)
    }
}

/// Result alias for this crate.
pub type Result<T, E = ConfigError> = std::result::Result<T, E>;

/// Several errors at once (a file can have more than one problem).
#[derive(Debug, Clone, PartialEq, Default, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(e: ConfigError) -> Self {
        ConfigErrors(vec![e])
    }
}
