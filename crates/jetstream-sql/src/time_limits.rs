//! mozanalysis `TimeLimits` and `AnalysisWindow`: which days of data each analysis window needs.

use chrono::{Duration, NaiveDate};

/// Inclusive day offsets relative to each client's enrollment date (0 = enrollment day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisWindow {
    /// First day.
    pub start: i64,
    /// Last day (inclusive).
    pub end: i64,
}

impl AnalysisWindow {
    /// A window, validated like mozanalysis: `end >= start`, both non-negative or both negative.
    pub fn new(start: i64, end: i64) -> Result<Self, TimeLimitsError> {
        if end < start || (start < 0) != (end < 0) {
            return Err(TimeLimitsError::InvalidWindow { start, end });
        }
        Ok(Self { start, end })
    }

    /// Number of days.
    pub fn len(&self) -> i64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    /// Whether the window is empty (never, for a valid window).
    pub fn is_empty(&self) -> bool {
        self.len() <= 0
    }
}

/// The enrollment dates and the data dates an analysis needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeLimits {
    /// First enrollment date (the experiment's start).
    pub first_enrollment_date: NaiveDate,
    /// Last enrollment date.
    pub last_enrollment_date: NaiveDate,
    /// First date of data read.
    pub first_date_data_required: NaiveDate,
    /// Last date of data read.
    pub last_date_data_required: NaiveDate,
    /// The windows.
    pub analysis_windows: Vec<AnalysisWindow>,
}

/// Why time limits cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeLimitsError {
    /// Not enough days of data yet.
    #[error("Insufficient data")]
    InsufficientData,
    /// The window needs data that does not exist yet.
    #[error(
        "You said you wanted {num_dates_enrollment} dates of enrollment, and need data from the {end}th day after enrollment. For that, you need to wait until we have data for {needed}."
    )]
    NeedMoreData {
        /// Enrollment days.
        num_dates_enrollment: i64,
        /// Window end.
        end: i64,
        /// The date the data must reach.
        needed: NaiveDate,
    },
    /// Enrollment would end before it starts.
    #[error("the last enrollment date {last} is before the first {first}")]
    EnrollmentEndsBeforeStart {
        /// First enrollment date.
        first: NaiveDate,
        /// Last enrollment date.
        last: NaiveDate,
    },
    /// Not a valid window.
    #[error("AnalysisWindow ({start}, {end}) invalid")]
    InvalidWindow {
        /// Start.
        start: i64,
        /// End.
        end: i64,
    },
    /// No enrollment days.
    #[error("Number of enrollment dates must be a positive number")]
    NoEnrollmentDays,
    /// Unknown period label.
    #[error("Unsupported time series period {0}")]
    UnsupportedPeriod(String),
    /// Dates or day counts beyond what can be represented (a malformed recipe or config).
    #[error("dates out of range: {0}")]
    OutOfRange(String),
}

/// At most this many windows (270 years of daily windows): a longer series comes from dates
/// no real experiment has.
pub const MAX_WINDOWS: i64 = 100_000;

fn range(what: String) -> TimeLimitsError {
    TimeLimitsError::OutOfRange(what)
}

/// `date + n days`, checked.
pub(crate) fn add_days(date: NaiveDate, n: i64) -> Result<NaiveDate, TimeLimitsError> {
    Duration::try_days(n)
        .and_then(|d| date.checked_add_signed(d))
        .ok_or_else(|| range(format!("{date} + {n} days")))
}

/// `a + b`, checked.
pub(crate) fn add(a: i64, b: i64) -> Result<i64, TimeLimitsError> {
    a.checked_add(b).ok_or_else(|| range(format!("{a} + {b}")))
}

impl TimeLimits {
    /// `TimeLimits.for_single_analysis_window`.
    pub fn for_single_analysis_window(
        first_enrollment_date: NaiveDate,
        last_date_full_data: NaiveDate,
        analysis_start_days: i64,
        analysis_length_dates: i64,
        num_dates_enrollment: Option<i64>,
    ) -> Result<Self, TimeLimitsError> {
        let window = AnalysisWindow::new(
            analysis_start_days,
            add(add(analysis_start_days, analysis_length_dates)?, -1)?,
        )?;
        let last_enrollment_date = match num_dates_enrollment {
            None => add_days(
                last_date_full_data,
                window.end.checked_neg().unwrap_or(i64::MAX),
            )?,
            Some(n) => add_days(first_enrollment_date, add(n, -1)?)?,
        };
        let first_date_data_required = add_days(first_enrollment_date, window.start)?;
        let last_date_data_required = add_days(last_enrollment_date, window.end)?;
        if last_date_data_required > last_date_full_data {
            return Err(TimeLimitsError::NeedMoreData {
                num_dates_enrollment: num_dates_enrollment.unwrap_or(0),
                end: window.end,
                needed: last_date_data_required,
            });
        }
        if first_enrollment_date > last_enrollment_date {
            return Err(TimeLimitsError::EnrollmentEndsBeforeStart {
                first: first_enrollment_date,
                last: last_enrollment_date,
            });
        }
        Ok(Self {
            first_enrollment_date,
            last_enrollment_date,
            first_date_data_required,
            last_date_data_required,
            analysis_windows: vec![window],
        })
    }

    /// `TimeLimits.for_ts` with a period label `daily`, `weekly` or `28_day`.
    pub fn for_ts(
        first_enrollment_date: NaiveDate,
        last_date_full_data: NaiveDate,
        time_series_period: &str,
        num_dates_enrollment: i64,
    ) -> Result<Self, TimeLimitsError> {
        let period = match time_series_period {
            "daily" => 1,
            "weekly" => 7,
            "28_day" => 28,
            other => return Err(TimeLimitsError::UnsupportedPeriod(other.to_string())),
        };
        if num_dates_enrollment <= 0 {
            return Err(TimeLimitsError::NoEnrollmentDays);
        }
        let last_enrollment_date = add_days(first_enrollment_date, num_dates_enrollment - 1)?;
        let max_dates_of_data = (last_date_full_data - last_enrollment_date).num_days() + 1;
        let num_periods = max_dates_of_data.div_euclid(period);
        if num_periods <= 0 {
            return Err(TimeLimitsError::InsufficientData);
        }
        if num_periods > MAX_WINDOWS {
            return Err(range(format!(
                "{num_periods} {time_series_period} windows from {first_enrollment_date} to {last_date_full_data}"
            )));
        }
        let analysis_windows: Vec<AnalysisWindow> = (0..num_periods)
            .map(|i| AnalysisWindow {
                start: i * period,
                end: (i + 1) * period - 1,
            })
            .collect();
        let last = analysis_windows[analysis_windows.len() - 1];
        Ok(Self {
            first_enrollment_date,
            last_enrollment_date,
            first_date_data_required: first_enrollment_date,
            last_date_data_required: add_days(last_enrollment_date, last.end)?,
            analysis_windows,
        })
    }

    /// Only the last window, with the first date of data moved to it (what a daily run
    /// computes).
    pub fn last_window_only(&self) -> Self {
        let last = *self
            .analysis_windows
            .last()
            .unwrap_or(&AnalysisWindow { start: 0, end: 0 });
        Self {
            analysis_windows: vec![last],
            // The window was built from these dates, so the sum is in range.
            first_date_data_required: add_days(self.first_enrollment_date, last.start)
                .unwrap_or(self.first_date_data_required),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn w(s: i64, e: i64) -> AnalysisWindow {
        AnalysisWindow { start: s, end: e }
    }

    /// mozanalysis tests/test_experiment.py, verbatim.
    #[test]
    fn single_window_cases() {
        let t =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 0, 14, None)
                .unwrap();
        assert_eq!(
            (t.last_enrollment_date, t.analysis_windows.clone()),
            (d("2019-01-01"), vec![w(0, 13)])
        );
        assert_eq!(
            (t.first_date_data_required, t.last_date_data_required),
            (d("2019-01-01"), d("2019-01-14"))
        );
        let t =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 0, 7, Some(8))
                .unwrap();
        assert_eq!(
            (t.last_enrollment_date, t.analysis_windows.clone()),
            (d("2019-01-08"), vec![w(0, 6)])
        );
        assert_eq!(t.last_date_data_required, d("2019-01-14"));
        let t =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 0, 2, Some(8))
                .unwrap();
        assert_eq!(
            (t.last_enrollment_date, t.last_date_data_required),
            (d("2019-01-08"), d("2019-01-09"))
        );
        let t =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 0, 1, None)
                .unwrap();
        assert_eq!(
            (t.last_enrollment_date, t.analysis_windows.clone()),
            (d("2019-01-14"), vec![w(0, 0)])
        );
        let t =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 7, 1, None)
                .unwrap();
        assert_eq!(
            (t.last_enrollment_date, t.analysis_windows.clone()),
            (d("2019-01-07"), vec![w(7, 7)])
        );
        assert_eq!(
            (t.first_date_data_required, t.last_date_data_required),
            (d("2019-01-08"), d("2019-01-14"))
        );
        let e = TimeLimits::for_single_analysis_window(
            d("2019-01-01"),
            d("2019-01-14"),
            0,
            14,
            Some(8),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("13th day") && e.to_string().contains("data for 2019-01-21."),
            "{e}"
        );
        let e =
            TimeLimits::for_single_analysis_window(d("2019-01-01"), d("2019-01-14"), 0, 8, Some(8))
                .unwrap_err();
        assert!(
            e.to_string().contains("7th day") && e.to_string().contains("data for 2019-01-15."),
            "{e}"
        );
        let e = TimeLimits::for_single_analysis_window(
            d("2020-03-03"),
            d("2020-03-23"),
            0,
            21,
            Some(8),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("until we have data for 2020-03-30."),
            "{e}"
        );
    }

    #[test]
    fn time_series_cases() {
        let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-01-14"), "daily", 8).unwrap();
        assert_eq!(t.last_enrollment_date, d("2019-01-08"));
        assert_eq!(
            t.analysis_windows,
            (0..7).map(|i| w(i, i)).collect::<Vec<_>>()
        );
        assert_eq!(
            (t.first_date_data_required, t.last_date_data_required),
            (d("2019-01-01"), d("2019-01-14"))
        );
        let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-01-14"), "weekly", 8).unwrap();
        assert_eq!(
            (t.analysis_windows.clone(), t.last_date_data_required),
            (vec![w(0, 6)], d("2019-01-14"))
        );
        let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-01-15"), "weekly", 8).unwrap();
        assert_eq!(
            (t.analysis_windows.clone(), t.last_date_data_required),
            (vec![w(0, 6)], d("2019-01-14"))
        );
        let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-02-15"), "28_day", 8).unwrap();
        assert_eq!(
            (t.analysis_windows.clone(), t.last_date_data_required),
            (vec![w(0, 27)], d("2019-02-04"))
        );
        assert_eq!(
            TimeLimits::for_ts(d("2019-01-01"), d("2019-01-13"), "weekly", 8).unwrap_err(),
            TimeLimitsError::InsufficientData
        );
        let t = TimeLimits::for_ts(d("2019-01-01"), d("2019-03-01"), "weekly", 8).unwrap();
        assert_eq!(
            t.analysis_windows,
            (0..7).map(|i| w(7 * i, 7 * i + 6)).collect::<Vec<_>>()
        );
        assert_eq!(t.last_date_data_required, d("2019-02-25"));
        assert!(TimeLimits::for_ts(d("2019-01-01"), d("2019-03-01"), "monthly", 8).is_err());
    }
}
