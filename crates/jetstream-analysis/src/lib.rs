//! The analysis run of one experiment on one date, over a [`Warehouse`].
//!
//! So far: the reference's runnability checks ([`check_runnable`], in its order, with its
//! exception names as error kinds), the enrollment-complete check, and [`ensure_enrollments`]
//! (the `enrollments_<slug>` table is created once and never rewritten unless recreated).
//! [`run_analysis`] is the whole daily analysis of one experiment; [`partials`] computes the
//! daily per-client partials its decomposable metrics are built from (one scan of a data
//! source's days for every experiment that reads it).

pub mod partials;
mod plan;
mod run;

pub use plan::{PlannedQuery, planned_queries};

pub use run::{
    BranchCounts, LogContext, NoProgress, PeriodResult, Progress, RunOptions, RunReport,
    branch_counts, error_record, missing_windows, ready_windows, run_analysis,
};

use chrono::NaiveDate;
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::experiment::ExperimentConfiguration;
use jetstream_config::platform::platform;
use jetstream_sql::naming;
use jetstream_sql::query::enrollments_query;
use jetstream_sql::readiness::timelimits_if_ready;
use jetstream_warehouse::{ExceptionType, TableMetadata, TableName, Warehouse, WarehouseError};

/// Why an experiment is not analysed on a date. The names are the reference's exception
/// types, as they appear in the `logs` table's `exception_type` (and decide which errors are
/// exported: `EndedException` and `EnrollmentNotCompleteException` are not).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotRunnable {
    /// No Nimbus slug.
    #[error("experiment has no slug")]
    NoSlugException,
    /// The config says `skip = true`.
    #[error("{0}: skipped by its config")]
    ExplicitSkipException(String),
    /// High-population experiments are not analysed.
    #[error("{0}: high population experiment")]
    HighPopulationException(String),
    /// No enrollment period.
    #[error("{0}: no enrollment period")]
    NoEnrollmentPeriodException(String),
    /// No start date.
    #[error("{0}: no start date")]
    NoStartDateException(String),
    /// The experiment ended before the date.
    #[error("{0}: ended on {1}, before the analysis date")]
    EndedException(String, NaiveDate),
    /// Rollouts are not analysed.
    #[error("{0}: rollout")]
    RolloutSkipException(String),
    /// The app has no platform config.
    #[error("{0}: unsupported application {1:?}")]
    UnsupportedApplicationException(String, String),
    /// A v6 experiment whose enrollment has not ended (and no config override).
    #[error("{0}: enrollment is not complete")]
    EnrollmentNotCompleteException(String),
}

impl NotRunnable {
    /// The reference's exception type.
    pub fn exception_type(&self) -> ExceptionType {
        match self {
            NotRunnable::NoSlugException => ExceptionType::NoSlugException,
            NotRunnable::ExplicitSkipException(_) => ExceptionType::ExplicitSkipException,
            NotRunnable::HighPopulationException(_) => ExceptionType::HighPopulationException,
            NotRunnable::NoEnrollmentPeriodException(_) => {
                ExceptionType::NoEnrollmentPeriodException
            }
            NotRunnable::NoStartDateException(_) => ExceptionType::NoStartDateException,
            NotRunnable::EndedException(..) => ExceptionType::EndedException,
            NotRunnable::RolloutSkipException(_) => ExceptionType::RolloutSkipException,
            NotRunnable::UnsupportedApplicationException(..) => {
                ExceptionType::UnsupportedApplicationException
            }
            NotRunnable::EnrollmentNotCompleteException(_) => {
                ExceptionType::EnrollmentNotCompleteException
            }
        }
    }
}

/// The reference's `Analysis.check_runnable`, in its order.
pub fn check_runnable(conf: &ExperimentConfiguration, date: NaiveDate) -> Result<(), NotRunnable> {
    let slug = conf.normandy_slug().to_string();
    if slug.is_empty() {
        return Err(NotRunnable::NoSlugException);
    }
    if conf.skip() {
        return Err(NotRunnable::ExplicitSkipException(slug));
    }
    if conf.experiment.is_high_population {
        return Err(NotRunnable::HighPopulationException(slug));
    }
    if conf.enrollment_period() == 0 {
        return Err(NotRunnable::NoEnrollmentPeriodException(slug));
    }
    if conf.start_date().is_none() {
        return Err(NotRunnable::NoStartDateException(slug));
    }
    if let Some(end) = conf.end_date().filter(|end| *end < date) {
        return Err(NotRunnable::EndedException(slug, end));
    }
    if conf.experiment.is_rollout {
        return Err(NotRunnable::RolloutSkipException(slug));
    }
    if platform(conf.app_name()).is_none() {
        return Err(NotRunnable::UnsupportedApplicationException(
            slug,
            conf.app_name().to_string(),
        ));
    }
    Ok(())
}

/// The reference's enrollment-complete check: a v6 experiment without an enrollment end date
/// is still enrolling, unless its config sets the enrollment period.
pub fn check_enrollment_complete(conf: &ExperimentConfiguration) -> Result<(), NotRunnable> {
    let e = &conf.experiment;
    if e.experiment_type == "v6"
        && e.enrollment_end_date.is_none()
        && conf.spec.enrollment_period.is_none()
    {
        return Err(NotRunnable::EnrollmentNotCompleteException(
            conf.normandy_slug().to_string(),
        ));
    }
    Ok(())
}

/// Why an analysis step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnalysisError {
    /// The experiment is not analysed on this date.
    #[error(transparent)]
    NotRunnable(#[from] NotRunnable),
    /// Readiness or SQL generation failed.
    #[error("{slug}: {message}")]
    Sql {
        /// Experiment.
        slug: String,
        /// What failed.
        message: String,
    },
    /// The warehouse failed.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// A local file (the SQL output folder) could not be written.
    #[error("cannot write {path}: {message}")]
    Output {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
}

/// What [`ensure_enrollments`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enrollments {
    /// The table was created with this many rows.
    Created(u64),
    /// The table existed and was kept.
    Kept,
    /// No day window is ready yet on this date.
    NotReady,
}

/// Create `<dataset>.enrollments_<slug>` once (the reference's `ensure_enrollments`, with the
/// DAY time limits of `date`); with `options.recreate_enrollments`, an existing table is
/// replaced atomically (kept as it was if the new query fails, or no day window is ready).
pub fn ensure_enrollments(
    conf: &ExperimentConfiguration,
    date: NaiveDate,
    warehouse: &dyn Warehouse,
    options: &RunOptions,
) -> Result<Enrollments, AnalysisError> {
    let dataset = options.dataset.as_str();
    let recreate = options.recreate_enrollments;
    check_enrollment_complete(conf)?;
    let slug = conf.normandy_slug().to_string();
    let sql_err = |message: String| AnalysisError::Sql {
        slug: slug.clone(),
        message,
    };
    let Some(day) =
        timelimits_if_ready(AnalysisPeriod::Day, date, conf).map_err(|e| sql_err(e.to_string()))?
    else {
        return Ok(Enrollments::NotReady);
    };
    let table = TableName::new(dataset, &naming::enrollments_table(&slug))?;
    let ctx = options.query_context(conf)?;
    let query = enrollments_query(
        &ctx,
        &day.time_limits,
        conf.enrollment_query.as_deref(),
        conf.exposure_signal.as_ref(),
        &conf.segments,
    )
    .map_err(|e| sql_err(e.to_string()))?;
    options.write_sql(&table, &query)?;
    // Recreating replaces the table atomically: until the new one is complete the old one
    // stays readable, and a failing query leaves it as it was.
    if !recreate && warehouse.table_exists(&table)? {
        return Ok(Enrollments::Kept);
    }
    let rows = warehouse.write_table(&table, &query, &TableMetadata::now(&slug))?;
    tracing::info!(experiment = %slug, table = %table, rows, "enrollments created");
    Ok(Enrollments::Created(rows))
}
