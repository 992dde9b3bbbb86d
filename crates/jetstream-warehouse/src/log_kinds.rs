//! The closed vocabularies of the monitoring table: `log_level` and `exception_type`.
//!
//! Rows keep them as text (the reference's table schema, and rows other tools write); these
//! enums are how jetstream writes and reads them, so that a kind is spelled in one place.

/// `log_level` of a monitoring row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Something to know (an experiment skipped, a fallback taken); not a failure.
    Warning,
    /// A failure: something is missing from the results.
    Error,
}

impl LogLevel {
    /// The spelling in the table.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Warning => "WARNING",
            LogLevel::Error => "ERROR",
        }
    }

    /// The level a row's text names (`None` for levels jetstream does not write, e.g. `INFO`).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "WARNING" => Some(LogLevel::Warning),
            "ERROR" => Some(LogLevel::Error),
            _ => None,
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! exception_types {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// `exception_type` of a monitoring row jetstream writes: the reference's exception
        /// class names where it has one, jetstream's own otherwise.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum ExceptionType {
            $($(#[$doc])* $name,)*
        }

        impl ExceptionType {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ExceptionType] = &[$(ExceptionType::$name,)*];

            /// The spelling in the table (the variant's name).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ExceptionType::$name => stringify!($name),)*
                }
            }
        }
    };
}

exception_types! {
    // Not runnable (the reference's `check_runnable`), WARNING rows.
    /// The recipe has no slug.
    NoSlugException,
    /// The config says `skip = true`.
    ExplicitSkipException,
    /// A high-population experiment.
    HighPopulationException,
    /// No enrollment period.
    NoEnrollmentPeriodException,
    /// No start date.
    NoStartDateException,
    /// Ended before the analysis date.
    EndedException,
    /// A rollout.
    RolloutSkipException,
    /// An application without a platform config.
    UnsupportedApplicationException,
    /// Enrollment not complete (v6 recipes).
    EnrollmentNotCompleteException,
    // The analysis.
    /// A statistic failed (the reference's name).
    StatisticComputationException,
    /// A query failed on the warehouse.
    QueryError,
    /// A metric's table is missing (its query failed earlier).
    MissingMetricTable,
    /// The branches' sizes do not match the recipe's ratios (a WARNING).
    SampleRatioMismatch,
    /// A covariate's table is missing; the unadjusted statistic is used (a WARNING).
    CovariateMissing,
    /// A value is out of range (the reference's Python name).
    ValueError,
    /// A file could not be written (the reference's Python name).
    OSError,
    /// An experiment failed as a whole (the reference's name).
    AnalysisException,
    // The job.
    /// An experiment's config does not resolve.
    ConfigError,
    /// A recipe cannot be read.
    InvalidRecipe,
    /// Two experiments' slugs map to the same table names.
    SlugConflict,
    /// The day's telemetry did not arrive in time.
    UpstreamDataMissing,
    // Argo workflows.
    /// A pod was killed for memory.
    PodOOMKilled,
    /// A pod was evicted.
    PodEvicted,
    /// A pod's image could not be pulled.
    ImagePullFailed,
    /// A step or workflow ran out of time.
    DeadlineExceeded,
    /// A step failed otherwise.
    StepFailed,
    /// A workflow's steps could not be read (a WARNING).
    WorkflowStatusUnknown,
}

impl ExceptionType {
    /// The kind a row's text names (`None` for kinds other tools wrote).
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == text)
    }
}

impl std::fmt::Display for ExceptionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_levels_read_back_as_written() {
        for k in ExceptionType::ALL {
            assert_eq!(ExceptionType::parse(k.as_str()), Some(*k));
        }
        assert_eq!(ExceptionType::ALL.len(), 27);
        assert_eq!(ExceptionType::PodOOMKilled.to_string(), "PodOOMKilled");
        assert_eq!(ExceptionType::parse("KeyError"), None);
        for l in [LogLevel::Warning, LogLevel::Error] {
            assert_eq!(LogLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(LogLevel::parse("INFO"), None);
    }
}
