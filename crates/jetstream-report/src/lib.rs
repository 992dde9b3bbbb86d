//! One self-contained HTML page per experiment: what an analyst opens after a run.
//!
//! [`render`] turns a [`Report`] — the experiment's dates and branches, its enrollment counts,
//! the rows of its statistics views, its metrics' descriptions and the errors logged for it —
//! into a single HTML document: inline CSS and SVG, no script, no network (a
//! Content-Security-Policy forbids every fetch), readable on a phone and a wide screen, and
//! printable. Per analysis basis and segment it shows, for every metric, the branch values and
//! the relative and absolute differences to the reference branch with their intervals, as
//! numbers and as interval plots, the time course of the weekly and daily windows, and the
//! distribution curves (KDE, ECDF, deciles) of each branch; whether each difference is better
//! or worse follows the metric's `bigger_is_better`. A sample ratio mismatch
//! ([`jetstream_stats::srm`]) is a banner above everything else.
//!
//! Pure: no IO. `jetstream-job` reads the warehouse into a [`Report`]; the CLI writes the page.

mod format;
mod html;
mod plot;
mod render;

use chrono::{NaiveDate, NaiveDateTime};
use jetstream_config::enums::AnalysisPeriod;
use jetstream_stats::Row;

pub use render::render;

/// Everything one experiment's report shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The experiment's slug.
    pub slug: String,
    /// A line under the title (e.g. what a preview analysed); `None` for none.
    pub subtitle: Option<String>,
    /// Platform (`firefox_desktop`, `fenix`, ...).
    pub app_name: String,
    /// `Live`, `Complete`, ... when known.
    pub status: Option<String>,
    /// First enrollment day.
    pub start_date: Option<NaiveDate>,
    /// Last day of the experiment, when it has ended or is planned.
    pub end_date: Option<NaiveDate>,
    /// Last enrollment day.
    pub enrollment_end_date: Option<NaiveDate>,
    /// The branch every other branch is compared to; inferred from the rows when `None`.
    pub reference_branch: Option<String>,
    /// The configured branches, in Experimenter's order.
    pub branches: Vec<BranchInfo>,
    /// Enrolled and exposed clients per branch, when the enrollments table could be read.
    pub counts: Option<BranchCounts>,
    /// The metrics' descriptions, in the config's order.
    pub metrics: Vec<MetricInfo>,
    /// The statistics rows of each analysis period that has results.
    pub statistics: Vec<PeriodStatistics>,
    /// The errors and warnings logged for the experiment, newest first.
    pub logs: Vec<LogEntry>,
    /// What could not be read while gathering the report (shown, never fatal).
    pub problems: Vec<String>,
    /// When the report was made (UTC).
    pub generated_at: Option<NaiveDateTime>,
}

/// A configured branch.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchInfo {
    /// Branch slug.
    pub slug: String,
    /// Configured relative size (Experimenter's `ratio`).
    pub ratio: f64,
}

/// Clients per branch, aligned with [`Report::branches`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BranchCounts {
    /// Enrolled clients.
    pub enrolled: Vec<u64>,
    /// Clients with at least one exposure event.
    pub exposed: Vec<u64>,
}

/// A metric's description.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricInfo {
    /// Metric slug (the `metric` column).
    pub slug: String,
    /// Display name (the slug when the config has none).
    pub friendly_name: String,
    /// Description from the config.
    pub description: Option<String>,
    /// Whether an increase is an improvement.
    pub bigger_is_better: bool,
}

/// The rows of one period's statistics view.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodStatistics {
    /// The analysis period.
    pub period: AnalysisPeriod,
    /// Its rows (every window, basis and segment).
    pub rows: Vec<Row>,
}

/// One logged error or warning.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogEntry {
    /// When it was logged (UTC).
    pub timestamp: Option<NaiveDateTime>,
    /// `ERROR` or `WARNING`.
    pub level: String,
    /// Exception class (`SampleRatioMismatch`, `NoEnrollmentPeriodException`, ...).
    pub exception_type: Option<String>,
    /// The basis it concerns.
    pub analysis_basis: Option<String>,
    /// The segment it concerns.
    pub segment: Option<String>,
    /// The period it concerns.
    pub analysis_period: Option<String>,
    /// The metric it concerns.
    pub metric: Option<String>,
    /// The statistic it concerns.
    pub statistic: Option<String>,
    /// The message.
    pub message: String,
}

#[cfg(test)]
mod tests;
