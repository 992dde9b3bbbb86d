//! Which analysis windows are ready on a date (jetstream `_get_timelimits_if_ready`).

use chrono::NaiveDate;
use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::experiment::ExperimentConfiguration;

use crate::time_limits::{TimeLimits, TimeLimitsError, add, add_days};

/// A window ready to be computed today.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ready {
    /// Time limits with only the newest window.
    pub time_limits: TimeLimits,
    /// Window index of table names (1-based; always 1 for overall and pre-enrollment; for
    /// the cumulative period, its length in days after enrollment, the index of the day).
    pub window_index: usize,
    /// Days in the window (passed to statistics and pre-treatments).
    pub analysis_length_dates: i64,
}

/// Why readiness cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadinessError {
    /// The experiment has no start date.
    #[error("{0} -> Experiment has no start date.")]
    NoStartDate(String),
    /// The enrollment period is longer than the experiment.
    #[error(
        "{slug}: enrollment period ({dates_enrollment} days) is longer than the analysis period ({days} days)"
    )]
    EnrollmentLongerThanAnalysis {
        /// Experiment slug.
        slug: String,
        /// Enrollment days.
        dates_enrollment: i64,
        /// Experiment days.
        days: i64,
    },
    /// The windows cannot be built.
    #[error(transparent)]
    TimeLimits(#[from] TimeLimitsError),
}

fn ready(tl: TimeLimits) -> Ready {
    let window_index = tl.analysis_windows.len();
    let time_limits = tl.last_window_only();
    let last = time_limits.analysis_windows[0];
    Ready {
        analysis_length_dates: last.len(),
        window_index,
        time_limits,
    }
}

/// The newest window of `period` if it closes on `current_date`, else `None`.
pub fn timelimits_if_ready(
    period: AnalysisPeriod,
    current_date: NaiveDate,
    conf: &ExperimentConfiguration,
) -> Result<Option<Ready>, ReadinessError> {
    let dates_enrollment = add(conf.enrollment_period(), 1)?;
    let Some(first) = conf.start_date() else {
        return Err(ReadinessError::NoStartDate(
            conf.normandy_slug().to_string(),
        ));
    };
    let prior = add_days(current_date, -1)?;
    match period {
        AnalysisPeriod::Day | AnalysisPeriod::Week | AnalysisPeriod::Days28 => {
            let label = period.mozanalysis_label();
            let Ok(current) = TimeLimits::for_ts(first, current_date, label, dates_enrollment)
            else {
                return Ok(None);
            };
            match TimeLimits::for_ts(first, prior, label, dates_enrollment) {
                Err(_) => Ok(Some(ready(current))),
                Ok(p) if p.analysis_windows.len() == current.analysis_windows.len() => Ok(None),
                Ok(_) => Ok(Some(ready(current))),
            }
        }
        AnalysisPeriod::PreenrollmentWeek | AnalysisPeriod::PreenrollmentDays28 => {
            if add_days(first, dates_enrollment)? != current_date {
                return Ok(None);
            }
            let len = if period == AnalysisPeriod::PreenrollmentWeek {
                7
            } else {
                28
            };
            let tl = TimeLimits::for_single_analysis_window(
                first,
                prior,
                -len,
                len,
                Some(dates_enrollment),
            )?;
            Ok(Some(ready(tl)))
        }
        AnalysisPeriod::Cumulative => {
            // Ready whenever a daily window is: days 0..n-1 after each client's enrollment,
            // n the daily windows complete on the date (what `daily_1..daily_n` cover).
            let Ok(days) = TimeLimits::for_ts(first, current_date, "daily", dates_enrollment)
            else {
                return Ok(None);
            };
            let n = days.analysis_windows.len();
            if n == 0 {
                return Ok(None);
            }
            let length = i64::try_from(n)
                .map_err(|_| TimeLimitsError::OutOfRange("cumulative window length".into()))?;
            let time_limits = TimeLimits::for_single_analysis_window(
                first,
                current_date,
                0,
                length,
                Some(dates_enrollment),
            )?;
            Ok(Some(Ready {
                time_limits,
                window_index: n,
                analysis_length_dates: length,
            }))
        }
        AnalysisPeriod::Overall => {
            let (Some(end), Some("Complete")) = (conf.end_date(), conf.status()) else {
                return Ok(None);
            };
            if end != current_date {
                return Ok(None);
            }
            let len = add((end - first).num_days(), add(1, -dates_enrollment)?)?;
            if len < 0 {
                return Err(ReadinessError::EnrollmentLongerThanAnalysis {
                    slug: conf.normandy_slug().to_string(),
                    dates_enrollment,
                    days: (end - first).num_days(),
                });
            }
            let tl = TimeLimits::for_single_analysis_window(
                first,
                prior,
                0,
                len,
                Some(dates_enrollment),
            )?;
            Ok(Some(ready(tl)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetstream_config::experiment::Experiment;
    use jetstream_config::spec::ExperimentSpec;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    /// jetstream test_analysis.py `test_get_timelimits_if_ready`: start 2019-12-01, enrollment
    /// end 2019-12-07 (7 days of enrollment, 8 enrollment dates), end 2020-03-01.
    fn conf(status: &str) -> ExperimentConfiguration {
        let mut e = Experiment::dummy("normandy-test-slug", "firefox_desktop", d("2019-12-01"));
        e.enrollment_end_date = Some(d("2019-12-07"));
        e.end_date = Some(d("2020-03-01"));
        e.status = Some(status.into());
        ExperimentConfiguration::new(e, ExperimentSpec::default())
    }

    fn is_ready(p: AnalysisPeriod, date: &str, c: &ExperimentConfiguration) -> bool {
        timelimits_if_ready(p, d(date), c).unwrap().is_some()
    }

    #[test]
    fn reference_date_matrix() {
        let c = conf("Complete");
        assert!(!is_ready(AnalysisPeriod::Day, "2019-12-07", &c));
        assert!(is_ready(AnalysisPeriod::Day, "2019-12-08", &c));
        assert!(is_ready(AnalysisPeriod::Day, "2019-12-09", &c));
        assert!(!is_ready(AnalysisPeriod::Week, "2019-12-09", &c));
        assert!(!is_ready(AnalysisPeriod::Week, "2019-12-13", &c));
        assert!(is_ready(AnalysisPeriod::Week, "2019-12-14", &c));
        assert!(!is_ready(AnalysisPeriod::Week, "2019-12-15", &c));
        assert!(is_ready(AnalysisPeriod::Week, "2019-12-21", &c));
        assert!(is_ready(
            AnalysisPeriod::PreenrollmentWeek,
            "2019-12-09",
            &c
        ));
        assert!(is_ready(
            AnalysisPeriod::PreenrollmentDays28,
            "2019-12-09",
            &c
        ));
        assert!(!is_ready(
            AnalysisPeriod::PreenrollmentWeek,
            "2019-12-10",
            &c
        ));
        assert!(!is_ready(AnalysisPeriod::Days28, "2020-01-03", &c));
        assert!(is_ready(AnalysisPeriod::Days28, "2020-01-04", &c));
        assert!(is_ready(AnalysisPeriod::Overall, "2020-03-01", &c));
        assert!(!is_ready(AnalysisPeriod::Overall, "2020-02-29", &c));
        assert!(!is_ready(
            AnalysisPeriod::Overall,
            "2020-03-01",
            &conf("Live")
        ));
    }

    #[test]
    fn windows_indices_and_lengths() {
        let c = conf("Complete");
        let r = timelimits_if_ready(AnalysisPeriod::Week, d("2019-12-21"), &c)
            .unwrap()
            .unwrap();
        assert_eq!(r.window_index, 2);
        assert_eq!(r.analysis_length_dates, 7);
        assert_eq!(r.time_limits.analysis_windows[0].start, 7);
        assert_eq!(r.time_limits.first_date_data_required, d("2019-12-08"));
        let r = timelimits_if_ready(AnalysisPeriod::PreenrollmentWeek, d("2019-12-09"), &c)
            .unwrap()
            .unwrap();
        assert_eq!((r.window_index, r.analysis_length_dates), (1, 7));
        assert_eq!(
            (
                r.time_limits.analysis_windows[0].start,
                r.time_limits.analysis_windows[0].end
            ),
            (-7, -1)
        );
        let r = timelimits_if_ready(AnalysisPeriod::Overall, d("2020-03-01"), &c)
            .unwrap()
            .unwrap();
        // (end - start) - dates_enrollment + 1 = 91 - 8 + 1
        assert_eq!(r.analysis_length_dates, 84);
        assert_eq!(r.window_index, 1);
        let r = timelimits_if_ready(AnalysisPeriod::Day, d("2019-12-10"), &c)
            .unwrap()
            .unwrap();
        assert_eq!((r.window_index, r.analysis_length_dates), (3, 1));
    }

    /// The cumulative window is ready on every date a daily window is, and covers days
    /// 0..n-1 after each client's enrollment (what `daily_1..daily_n` cover), n growing daily.
    #[test]
    fn the_cumulative_window_grows_by_a_day_with_the_daily_windows() {
        let c = conf("Live");
        assert!(!is_ready(AnalysisPeriod::Cumulative, "2019-12-07", &c));
        let mut date = d("2019-12-01");
        let mut seen = 0;
        while date <= d("2020-03-02") {
            let day = timelimits_if_ready(AnalysisPeriod::Day, date, &c).unwrap();
            let cumulative = timelimits_if_ready(AnalysisPeriod::Cumulative, date, &c).unwrap();
            assert_eq!(day.is_some(), cumulative.is_some(), "{date}");
            if let (Some(day), Some(cu)) = (day, cumulative) {
                seen += 1;
                assert_eq!(cu.window_index, day.window_index, "{date}");
                assert_eq!(cu.window_index, seen, "{date}");
                let n = cu.window_index as i64;
                assert_eq!(cu.analysis_length_dates, n);
                let w = cu.time_limits.analysis_windows[0];
                assert_eq!((w.start, w.end), (0, n - 1), "{date}");
                assert_eq!(cu.time_limits.first_date_data_required, d("2019-12-01"));
                assert_eq!(cu.time_limits.last_date_data_required, date);
                assert_eq!(
                    cu.time_limits.last_enrollment_date,
                    day.time_limits.last_enrollment_date
                );
            }
            date = date.succ_opt().unwrap();
        }
        assert_eq!(seen, 86, "2019-12-08 ..= 2020-03-02");
        assert_eq!(
            timelimits_if_ready(AnalysisPeriod::Cumulative, d("2019-12-10"), &c)
                .unwrap()
                .map(|r| r.window_index),
            Some(3)
        );
    }
}
