//! [`WarehouseError`]: what failed (a [`WarehouseErrorKind`]), on what, whether trying again
//! may help, and the backend's own error as the source.

use std::fmt;

/// A backend's own error, kept as the [`std::error::Error::source`] of a [`WarehouseError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The kind of a [`WarehouseError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WarehouseErrorKind {
    /// A table or dataset name that cannot be used.
    InvalidName,
    /// Columns that cannot be written or read together (duplicate names, unequal lengths,
    /// mixed kinds of values).
    InvalidColumns,
    /// The BigQuery-dialect query has no translation for this backend.
    Translate,
    /// The warehouse rejected or failed a query.
    Query,
    /// Two writers changed the same table at once; trying again may succeed.
    Conflict,
    /// The warehouse service refused or failed a request (HTTP status and reason).
    Service,
    /// Opening or attaching a database or data file failed.
    Open,
}

/// Why a warehouse operation failed. It names the table, query or file it concerns
/// ([`WarehouseError::what`]), says whether trying again may help
/// ([`WarehouseError::is_retryable`]: a conflict, a rate limit, a service that is briefly
/// unavailable) and keeps the backend's error as its source.
#[derive(Debug)]
pub struct WarehouseError {
    kind: WarehouseErrorKind,
    what: String,
    message: String,
    excerpt: Option<String>,
    status: Option<u16>,
    retryable: bool,
    source: Option<BoxError>,
}

impl WarehouseError {
    /// An error of `kind` about `what` (a table, query or file) saying `message`; not
    /// retryable, without a source.
    pub fn new(
        kind: WarehouseErrorKind,
        what: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            what: what.into(),
            message: message.into(),
            excerpt: None,
            status: None,
            retryable: false,
            source: None,
        }
    }

    /// A table name that cannot be used.
    pub fn invalid_name(name: impl Into<String>) -> Self {
        Self::new(WarehouseErrorKind::InvalidName, name, "")
    }

    /// Columns that cannot be used together; `message` names the column.
    pub fn invalid_columns(message: impl Into<String>) -> Self {
        Self::new(WarehouseErrorKind::InvalidColumns, "", message)
    }

    /// The query for `what` failed with `message`; `sql` is kept as a one-line excerpt.
    pub fn query(what: impl Into<String>, message: impl Into<String>, sql: &str) -> Self {
        let mut e = Self::new(WarehouseErrorKind::Query, what, message);
        e.excerpt = Some(crate::sql_excerpt(sql));
        e
    }

    /// The query for `what` cannot be translated for this backend: `source` names the
    /// construct.
    pub fn translate(
        what: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        let message = source.to_string();
        Self::new(WarehouseErrorKind::Translate, what, message).with_source(source)
    }

    /// The service refused or failed a request about `what`.
    pub fn service(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(WarehouseErrorKind::Service, what, message)
    }

    /// Opening the file or folder `path` failed.
    pub fn open(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(WarehouseErrorKind::Open, path, message)
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The same error, marked as worth trying again (or not).
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The same error with the service's HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The same error as another kind, keeping everything else (a failed `ATTACH` query is
    /// an [`WarehouseErrorKind::Open`] error of its file).
    pub fn into_kind(mut self, kind: WarehouseErrorKind, what: impl Into<String>) -> Self {
        self.kind = kind;
        self.what = what.into();
        if kind != WarehouseErrorKind::Query {
            self.excerpt = None;
        }
        self
    }

    /// What failed.
    pub fn kind(&self) -> WarehouseErrorKind {
        self.kind
    }

    /// The table, query, job or file concerned.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// The warehouse's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The start of the failing SQL, on one line.
    pub fn excerpt(&self) -> Option<&str> {
        self.excerpt.as_deref()
    }

    /// The service's HTTP status, when a service answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether trying the same operation again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl fmt::Display for WarehouseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self { what, message, .. } = self;
        match self.kind {
            WarehouseErrorKind::InvalidName => write!(f, "invalid table name {what:?}"),
            WarehouseErrorKind::InvalidColumns => write!(f, "invalid columns: {message}"),
            WarehouseErrorKind::Translate => {
                write!(f, "cannot translate the query for {what}: {message}")
            }
            WarehouseErrorKind::Query | WarehouseErrorKind::Conflict => {
                write!(f, "query for {what} failed: {message}")?;
                match &self.excerpt {
                    Some(excerpt) => write!(f, "\n  query: {excerpt}"),
                    None => Ok(()),
                }
            }
            WarehouseErrorKind::Service | WarehouseErrorKind::Open => {
                write!(f, "{what}: {message}")
            }
        }
    }
}

impl std::error::Error for WarehouseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_failed() {
        let e = WarehouseError::query("d.t", "no such column x", "SELECT\n  x FROM t");
        assert_eq!(
            e.to_string(),
            "query for d.t failed: no such column x\n  query: SELECT x FROM t"
        );
        assert_eq!(e.kind(), WarehouseErrorKind::Query);
        assert!(!e.is_retryable());
        let e = WarehouseError::open("/x.duckdb", "no such file")
            .into_kind(WarehouseErrorKind::Open, "/y");
        assert_eq!(e.to_string(), "/y: no such file");
        assert_eq!(
            WarehouseError::invalid_name("d.").to_string(),
            "invalid table name \"d.\""
        );
    }

    #[test]
    fn the_source_and_the_retry_flag_are_kept() {
        let io = std::io::Error::other("connection reset");
        let e = WarehouseError::service("job j1", "503 backendError")
            .with_status(503)
            .retryable(true)
            .with_source(io);
        assert!(e.is_retryable());
        assert_eq!(e.status(), Some(503));
        let source = std::error::Error::source(&e).expect("source");
        assert_eq!(source.to_string(), "connection reset");
    }
}
