//! Which experiments a daily run analyses, and on which dates (the reference's
//! `AnalysisExecutor` selection and `Analysis.check_runnable`).

use chrono::{Duration, NaiveDate};
use jetstream_config::experiment::Experiment;
use jetstream_config::platform::platform;

/// Experiment types the reference analyses.
pub const RECOGNIZED_EXPERIMENT_TYPES: &[&str] = &["pref", "addon", "message", "v6"];

/// Experiments that ended before `date - ENDED_LOOKBACK_DAYS` are not considered.
pub const ENDED_LOOKBACK_DAYS: i64 = 90;

/// `status in (Complete, Live)` or unknown.
pub fn ever_launched(e: &Experiment) -> bool {
    matches!(e.status.as_deref(), None | Some("Complete") | Some("Live"))
}

/// Ended on or after `t`, or still live without an end date.
pub fn ended_after_or_live(e: &Experiment, t: NaiveDate) -> bool {
    match e.end_date {
        Some(end) => end >= t,
        None => e.status.as_deref() == Some("Live"),
    }
}

/// Whether the experiment's type is one of `types`.
pub fn of_type(e: &Experiment, types: &[&str]) -> bool {
    types.contains(&e.experiment_type.as_str())
}

/// The experiment with this Experimenter or Nimbus slug.
pub fn with_slug<'a>(experiments: &'a [Experiment], slug: &str) -> Option<&'a Experiment> {
    experiments
        .iter()
        .find(|e| e.normandy_slug == slug || e.experimenter_slug.as_deref() == Some(slug))
}

/// Why an experiment is not analysed on a date.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkipReason {
    /// Ended more than 90 days before the date (or never went live).
    EndedLongAgo {
        /// Its end date, if any.
        end_date: Option<NaiveDate>,
    },
    /// Not a type jetstream analyses.
    UnrecognizedType(String),
    /// Rollouts are not analysed.
    Rollout,
    /// High-population experiments are not analysed.
    HighPopulation,
    /// No start date.
    NoStartDate,
    /// The date is after the end date.
    Ended(NaiveDate),
    /// The date is before the start date.
    NotStarted(NaiveDate),
    /// Platform not supported (or disabled).
    UnsupportedApplication(String),
    /// A Nimbus experiment whose enrollment has not ended yet (no enrollment end date), unless
    /// a config overrides the enrollment period.
    EnrollmentNotComplete,
    /// `skip = true` in its config.
    SkippedByConfig,
    /// No enrollment period.
    NoEnrollmentPeriod,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::EndedLongAgo { end_date: Some(d) } => {
                write!(
                    f,
                    "ended {d}, more than {ENDED_LOOKBACK_DAYS} days before the date"
                )
            }
            SkipReason::EndedLongAgo { end_date: None } => write!(f, "not live and no end date"),
            SkipReason::UnrecognizedType(t) => write!(f, "experiment type {t:?} is not analysed"),
            SkipReason::Rollout => write!(f, "rollouts are not analysed"),
            SkipReason::HighPopulation => write!(f, "high-population experiments are not analysed"),
            SkipReason::NoStartDate => write!(f, "no start date"),
            SkipReason::Ended(d) => write!(f, "ended on {d}, before the date"),
            SkipReason::NotStarted(d) => write!(f, "starts on {d}, after the date"),
            SkipReason::UnsupportedApplication(a) => {
                write!(f, "application {a:?} is not supported")
            }
            SkipReason::EnrollmentNotComplete => write!(f, "enrollment is not complete yet"),
            SkipReason::SkippedByConfig => write!(f, "skip = true in its config"),
            SkipReason::NoEnrollmentPeriod => write!(f, "no enrollment period"),
        }
    }
}

/// What the daily run does with one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The experiment.
    pub experiment: Experiment,
    /// `Ok` when it is analysed.
    pub verdict: Result<(), SkipReason>,
}

/// Overrides an experiment config may make that change selection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConfigOverrides {
    /// `skip = true`.
    pub skip: bool,
    /// `[experiment] end_date`.
    pub end_date: Option<NaiveDate>,
    /// `[experiment] start_date`.
    pub start_date: Option<NaiveDate>,
    /// `[experiment] enrollment_period`.
    pub enrollment_period: Option<i64>,
}

/// The reference's checks of one experiment on `date`, in its order.
pub fn check(
    e: &Experiment,
    date: NaiveDate,
    overrides: &ConfigOverrides,
) -> Result<(), SkipReason> {
    // (a date within 90 days of chrono's minimum has nothing that ended before the threshold)
    let threshold = date
        .checked_sub_signed(Duration::days(ENDED_LOOKBACK_DAYS))
        .unwrap_or(NaiveDate::MIN);
    if !ended_after_or_live(e, threshold) && overrides.end_date.is_none() {
        return Err(SkipReason::EndedLongAgo {
            end_date: e.end_date,
        });
    }
    if !of_type(e, RECOGNIZED_EXPERIMENT_TYPES) {
        return Err(SkipReason::UnrecognizedType(e.experiment_type.clone()));
    }
    if e.is_rollout {
        return Err(SkipReason::Rollout);
    }
    if overrides.skip {
        return Err(SkipReason::SkippedByConfig);
    }
    if e.is_high_population {
        return Err(SkipReason::HighPopulation);
    }
    let enrollment_period = overrides
        .enrollment_period
        .or_else(|| match (e.enrollment_end_date, e.start_date) {
            (Some(end), Some(start)) => Some((end - start).num_days() + 1),
            _ => None,
        })
        .or(e.proposed_enrollment)
        .unwrap_or(0);
    if enrollment_period == 0 {
        return Err(SkipReason::NoEnrollmentPeriod);
    }
    let Some(start) = overrides.start_date.or(e.start_date) else {
        return Err(SkipReason::NoStartDate);
    };
    if let Some(end) = overrides.end_date.or(e.end_date)
        && end < date
    {
        return Err(SkipReason::Ended(end));
    }
    if date < start {
        return Err(SkipReason::NotStarted(start));
    }
    match platform(&e.app_name) {
        Some(p) if p.enabled => {}
        _ => return Err(SkipReason::UnsupportedApplication(e.app_name.clone())),
    }
    if e.experiment_type == "v6"
        && e.enrollment_end_date.is_none()
        && overrides.enrollment_period.is_none()
    {
        return Err(SkipReason::EnrollmentNotComplete);
    }
    Ok(())
}

/// Decide for every experiment (or only `slugs`, when given) whether the daily run on `date`
/// analyses it. `overrides` gives each experiment's config overrides by Nimbus slug.
pub fn daily_selection(
    experiments: &[Experiment],
    date: NaiveDate,
    slugs: &[String],
    overrides: impl Fn(&Experiment) -> ConfigOverrides,
) -> (Vec<Decision>, Vec<String>) {
    let mut unknown = Vec::new();
    let chosen: Vec<&Experiment> = if slugs.is_empty() {
        experiments.iter().collect()
    } else {
        let mut v = Vec::new();
        for s in slugs {
            match with_slug(experiments, s) {
                Some(e) => v.push(e),
                None => unknown.push(s.clone()),
            }
        }
        v
    };
    let decisions = chosen
        .into_iter()
        .map(|e| Decision {
            experiment: e.clone(),
            verdict: check(e, date, &overrides(e)),
        })
        .collect();
    (decisions, unknown)
}

/// At most this many rerun dates (274 years): more come only from dates no experiment has.
pub const MAX_RERUN_DATES: usize = 100_000;

/// Dates a rerun analyses: every day from the start date to the day after the end date (or
/// `today`, whichever is earlier), inclusive, at most [`MAX_RERUN_DATES`]. `today` is the last
/// day with complete data (yesterday in UTC).
pub fn analysis_dates(
    start: NaiveDate,
    end: Option<NaiveDate>,
    today: NaiveDate,
) -> Vec<NaiveDate> {
    let last = match end {
        Some(end) => end.succ_opt().unwrap_or(end).min(today),
        None => today,
    };
    let mut out = Vec::new();
    let mut d = start;
    while d <= last && out.len() < MAX_RERUN_DATES {
        out.push(d);
        let Some(next) = d.succ_opt() else { break };
        d = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default()
    }

    fn exp(slug: &str, start: &str, end: Option<&str>, status: &str) -> Experiment {
        let mut e = Experiment::dummy(slug, "firefox_desktop", d(start));
        e.end_date = end.map(d);
        e.status = Some(status.into());
        e.enrollment_end_date = Some(d(start) + Duration::days(6));
        e
    }

    #[test]
    fn rerun_dates_are_the_reference_pinned_cases() {
        // experiment 2020-01-01..2021-02-01
        let dates = analysis_dates(d("2020-01-01"), Some(d("2021-02-01")), d("2020-12-31"));
        assert_eq!(dates.len(), 366);
        let dates = analysis_dates(d("2020-01-01"), Some(d("2021-02-01")), d("2022-12-31"));
        assert_eq!(dates.last(), Some(&d("2021-02-02")));
    }

    #[test]
    fn daily_rule() {
        let date = d("2021-06-01");
        let experiments = vec![
            exp("live", "2021-05-01", None, "Live"),
            exp("ends-today", "2021-05-01", Some("2021-06-01"), "Live"),
            exp(
                "ended-yesterday",
                "2021-04-01",
                Some("2021-05-31"),
                "Complete",
            ),
            exp(
                "ended-long-ago",
                "2020-01-01",
                Some("2020-06-01"),
                "Complete",
            ),
            {
                let mut e = exp("rollout", "2021-05-01", None, "Live");
                e.is_rollout = true;
                e
            },
            {
                let mut e = exp("enrolling", "2021-05-28", None, "Live");
                e.enrollment_end_date = None;
                e
            },
            {
                let mut e = exp("cirrus", "2021-05-01", None, "Live");
                e.app_name = "monitor_cirrus".into();
                e
            },
        ];
        let (decisions, unknown) =
            daily_selection(&experiments, date, &[], |_| ConfigOverrides::default());
        assert!(unknown.is_empty());
        let verdict = |slug: &str| {
            decisions
                .iter()
                .find(|x| x.experiment.normandy_slug == slug)
                .map(|x| x.verdict.clone())
        };
        assert_eq!(verdict("live"), Some(Ok(())));
        assert_eq!(verdict("ends-today"), Some(Ok(())));
        assert_eq!(
            verdict("ended-yesterday"),
            Some(Err(SkipReason::Ended(d("2021-05-31"))))
        );
        assert!(matches!(
            verdict("ended-long-ago"),
            Some(Err(SkipReason::EndedLongAgo { .. }))
        ));
        assert_eq!(verdict("rollout"), Some(Err(SkipReason::Rollout)));
        assert_eq!(
            verdict("enrolling"),
            Some(Err(SkipReason::EnrollmentNotComplete))
        );
        assert!(matches!(
            verdict("cirrus"),
            Some(Err(SkipReason::UnsupportedApplication(_)))
        ));
        // two experiments are analysed on this date
        assert_eq!(decisions.iter().filter(|x| x.verdict.is_ok()).count(), 2);
        // an enrollment period in the config overrides the enrollment check
        let (decisions, _) = daily_selection(&experiments, date, &["enrolling".into()], |_| {
            ConfigOverrides {
                enrollment_period: Some(7),
                ..ConfigOverrides::default()
            }
        });
        assert_eq!(decisions[0].verdict, Ok(()));
        // a config end date overrides Experimenter's
        let (decisions, _) =
            daily_selection(&experiments, date, &["live".into()], |_| ConfigOverrides {
                end_date: Some(d("2021-05-15")),
                ..ConfigOverrides::default()
            });
        assert_eq!(
            decisions[0].verdict,
            Err(SkipReason::Ended(d("2021-05-15")))
        );
        // skip = true
        let (decisions, _) =
            daily_selection(&experiments, date, &["live".into()], |_| ConfigOverrides {
                skip: true,
                ..ConfigOverrides::default()
            });
        assert_eq!(decisions[0].verdict, Err(SkipReason::SkippedByConfig));
    }

    #[test]
    fn slugs_match_either_slug_and_unknown_ones_are_reported() {
        let mut e = exp("nimbus-slug", "2021-05-01", None, "Live");
        e.experimenter_slug = Some("bug-1-experimenter".into());
        let experiments = vec![e];
        let (decisions, unknown) = daily_selection(
            &experiments,
            d("2021-06-01"),
            &["bug-1-experimenter".into(), "bogus".into()],
            |_| ConfigOverrides::default(),
        );
        assert_eq!(decisions.len(), 1);
        assert_eq!(unknown, vec!["bogus".to_string()]);
    }

    #[test]
    fn collection_filters() {
        let e = exp("x", "2021-01-01", Some("2021-03-01"), "Complete");
        assert!(ever_launched(&e));
        assert!(ended_after_or_live(&e, d("2021-03-01")));
        assert!(!ended_after_or_live(&e, d("2021-03-02")));
        assert!(of_type(&e, RECOGNIZED_EXPERIMENT_TYPES));
        let mut draft = e.clone();
        draft.status = Some("Draft".into());
        assert!(!ever_launched(&draft));
    }
}
