//! Errors of the statistics crate.

/// Why a statistic could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatsError {
    /// The input is malformed (lengths, types).
    #[error("{0}")]
    Input(String),
    /// A column the statistic needs is missing.
    #[error("column {0} not found in data")]
    MissingColumn(String),
    /// The reference branch has no rows.
    #[error("reference branch {0} not found in data")]
    MissingReference(String),
    /// The data does not suit the statistic (e.g. a non-binary column for `binomial`).
    #[error("{0}")]
    Invalid(String),
}
