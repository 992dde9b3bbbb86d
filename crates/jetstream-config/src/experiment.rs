//! The experiment as Experimenter describes it, and as the config overrides it.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use minijinja::value::Value;

use crate::enums::{AnalysisUnit, EnrollmentsQueryType};
use crate::platform::platform;
use crate::resolve::{ExposureSignal, Segment};
use crate::spec::ExperimentSpec;
use crate::template::sql_escape;

/// A branch and its ratio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// Branch slug.
    pub slug: String,
    /// Relative size.
    pub ratio: i64,
}

/// Experimenter's bucket config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketConfig {
    /// `normandy_id`, `nimbus_id`, `user_id`, `group_id`, ...
    pub randomization_unit: String,
    /// Bucketing namespace.
    pub namespace: String,
    /// First bucket.
    pub start: i64,
    /// Number of buckets.
    pub count: i64,
    /// Total buckets.
    pub total: i64,
}

/// An experiment as read from Experimenter (the input of resolution).
#[derive(Debug, Clone, PartialEq)]
pub struct Experiment {
    /// Legacy Experimenter slug (None for Nimbus experiments).
    pub experimenter_slug: Option<String>,
    /// The Nimbus slug (`slug` in v8 recipes).
    pub normandy_slug: String,
    /// Experiment type (`v6` for Nimbus).
    pub experiment_type: String,
    /// `Live`, `Complete`, ... (None when unknown).
    pub status: Option<String>,
    /// Branches.
    pub branches: Vec<Branch>,
    /// Start date.
    pub start_date: Option<NaiveDate>,
    /// End date.
    pub end_date: Option<NaiveDate>,
    /// Proposed enrollment period in days.
    pub proposed_enrollment: Option<i64>,
    /// Reference branch.
    pub reference_branch: Option<String>,
    /// Whether the experiment is high-population.
    pub is_high_population: bool,
    /// App name (platform).
    pub app_name: String,
    /// App id.
    pub app_id: Option<String>,
    /// Bucketing.
    pub bucket_config: Option<BucketConfig>,
    /// Whether enrollment is paused (ended).
    pub is_enrollment_paused: Option<bool>,
    /// Outcome slugs.
    pub outcomes: Vec<String>,
    /// Segment slugs.
    pub segments: Vec<String>,
    /// Actual end of enrollment.
    pub enrollment_end_date: Option<NaiveDate>,
    /// Release channel.
    pub channel: Option<String>,
    /// Whether this is a rollout.
    pub is_rollout: bool,
}

impl Experiment {
    /// A placeholder experiment used to validate configs offline: two branches, `control` as
    /// reference, 7 days of enrollment, starting at `start` and ending 35 days later.
    pub fn dummy(slug: &str, app_name: &str, start: NaiveDate) -> Self {
        Experiment {
            experimenter_slug: None,
            normandy_slug: slug.to_string(),
            experiment_type: "v6".into(),
            status: Some("Live".into()),
            branches: vec![
                Branch {
                    slug: "control".into(),
                    ratio: 1,
                },
                Branch {
                    slug: "treatment".into(),
                    ratio: 1,
                },
            ],
            start_date: Some(start),
            end_date: Some(start + Duration::days(35)),
            proposed_enrollment: Some(7),
            reference_branch: Some("control".into()),
            is_high_population: false,
            app_name: app_name.to_string(),
            app_id: platform(app_name).map(|p| p.app_id.to_string()),
            bucket_config: None,
            is_enrollment_paused: None,
            outcomes: Vec::new(),
            segments: Vec::new(),
            enrollment_end_date: None,
            channel: Some("nightly".into()),
            is_rollout: false,
        }
    }
}

/// The experiment with the config's overrides applied (the reference's
/// `ExperimentConfiguration`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentConfiguration {
    /// What Experimenter said.
    pub experiment: Experiment,
    /// What the config says.
    pub spec: ExperimentSpec,
    /// Resolved segments.
    pub segments: Vec<Segment>,
    /// Resolved exposure signal.
    pub exposure_signal: Option<ExposureSignal>,
    /// Rendered custom enrollment query.
    pub enrollment_query: Option<String>,
}

impl ExperimentConfiguration {
    /// A configuration with no segments or exposure signal resolved yet.
    pub fn new(experiment: Experiment, spec: ExperimentSpec) -> Self {
        Self {
            experiment,
            spec,
            segments: Vec::new(),
            exposure_signal: None,
            enrollment_query: None,
        }
    }

    /// The Nimbus slug.
    pub fn normandy_slug(&self) -> &str {
        &self.experiment.normandy_slug
    }

    /// App name.
    pub fn app_name(&self) -> &str {
        &self.experiment.app_name
    }

    /// App id (the platform's when Experimenter gave none).
    pub fn app_id(&self) -> Option<String> {
        self.experiment
            .app_id
            .clone()
            .or_else(|| platform(self.app_name()).map(|p| p.app_id.to_string()))
    }

    /// `spec.reference_branch or experiment.reference_branch`.
    pub fn reference_branch(&self) -> Option<&str> {
        self.spec
            .reference_branch
            .as_deref()
            .filter(|s| !s.is_empty())
            .or(self.experiment.reference_branch.as_deref())
    }

    /// Start date (config override first).
    pub fn start_date(&self) -> Option<NaiveDate> {
        self.spec.start_date.or(self.experiment.start_date)
    }

    /// End date (config override first).
    pub fn end_date(&self) -> Option<NaiveDate> {
        self.spec.end_date.or(self.experiment.end_date)
    }

    /// `Complete` when the config sets an end date, else Experimenter's status.
    pub fn status(&self) -> Option<&str> {
        if self.spec.end_date.is_some() {
            Some("Complete")
        } else {
            self.experiment.status.as_deref()
        }
    }

    /// `spec.enrollment_period or experiment.proposed_enrollment or 0`.
    pub fn proposed_enrollment(&self) -> i64 {
        self.spec
            .enrollment_period
            .filter(|p| *p != 0)
            .or(self.experiment.proposed_enrollment.filter(|p| *p != 0))
            .unwrap_or(0)
    }

    /// Enrollment length in days: the config's, else from the enrollment end date, else the
    /// proposed enrollment.
    pub fn enrollment_period(&self) -> i64 {
        if let Some(p) = self.spec.enrollment_period {
            return p;
        }
        if let (Some(end), Some(start)) = (self.experiment.enrollment_end_date, self.start_date()) {
            return (end - start).num_days() + 1;
        }
        self.proposed_enrollment()
    }

    /// `start_date + enrollment_period` (no −1, as the reference).
    pub fn last_enrollment_date(&self) -> Option<NaiveDate> {
        let days = Duration::try_days(self.enrollment_period())?;
        self.start_date()?.checked_add_signed(days)
    }

    /// The analysis unit: the config's, else profile groups for `group_id` randomization.
    pub fn analysis_unit(&self) -> Result<AnalysisUnit, String> {
        if let Some(u) = self.spec.analysis_unit {
            return Ok(u);
        }
        match self
            .experiment
            .bucket_config
            .as_ref()
            .map(|b| b.randomization_unit.as_str())
        {
            Some("group_id") => Ok(AnalysisUnit::ProfileGroup),
            Some("normandy_id" | "nimbus_id" | "user_id" | "userId") | None => {
                Ok(AnalysisUnit::Client)
            }
            Some(other) => Err(format!("'{other}' is not a valid RandomizationUnit")),
        }
    }

    /// The enrollments query type: the config's, else the platform's.
    pub fn enrollments_query_type(&self) -> EnrollmentsQueryType {
        self.spec.enrollments_query_type.unwrap_or_else(|| {
            platform(self.app_name())
                .map(|p| p.enrollments_query_type)
                .unwrap_or(EnrollmentsQueryType::GleanEvent)
        })
    }

    /// `skip` from the config.
    pub fn skip(&self) -> bool {
        self.spec.skip
    }

    /// `sample_size` from the config.
    pub fn sample_size(&self) -> Option<i64> {
        self.spec.sample_size
    }

    /// Whether the config overrides any of Experimenter's dates, branches or enrollment.
    pub fn has_external_config_overrides(&self) -> bool {
        self.reference_branch() != self.experiment.reference_branch.as_deref()
            || self.start_date() != self.experiment.start_date
            || self.end_date() != self.experiment.end_date
            || Some(self.proposed_enrollment()) != self.experiment.proposed_enrollment
    }

    /// The `experiment` variable of Jinja templates. Values that cannot be computed (a start
    /// date string without a start date) are left out, so that using them fails. Its text
    /// values come from recipes and are spliced into SQL, so they are escaped for a SQL string
    /// literal ([`crate::template::sql_escape`]): a hostile slug cannot end the literal.
    pub(crate) fn template_vars(&self) -> Value {
        let mut m: BTreeMap<String, Value> = BTreeMap::new();
        let e = &self.experiment;
        m.insert(
            "normandy_slug".into(),
            Value::from(sql_escape(&e.normandy_slug)),
        );
        m.insert("slug".into(), Value::from(sql_escape(&e.normandy_slug)));
        m.insert(
            "experimenter_slug".into(),
            e.experimenter_slug
                .as_deref()
                .map(|s| Value::from(sql_escape(s)))
                .unwrap_or(Value::from(())),
        );
        m.insert("type".into(), Value::from(sql_escape(&e.experiment_type)));
        m.insert("app_name".into(), Value::from(sql_escape(&e.app_name)));
        if let Some(app_id) = self.app_id() {
            m.insert("app_id".into(), Value::from(sql_escape(&app_id)));
        }
        if let Some(s) = self.status() {
            m.insert("status".into(), Value::from(sql_escape(s)));
        }
        if let Some(rb) = self.reference_branch() {
            m.insert("reference_branch".into(), Value::from(sql_escape(rb)));
        }
        m.insert(
            "enrollment_period".into(),
            Value::from(self.enrollment_period()),
        );
        m.insert(
            "proposed_enrollment".into(),
            Value::from(self.proposed_enrollment()),
        );
        if let Some(d) = self.start_date() {
            m.insert(
                "start_date_str".into(),
                Value::from(d.format("%Y-%m-%d").to_string()),
            );
            m.insert(
                "start_date".into(),
                Value::from(d.format("%Y-%m-%d").to_string()),
            );
        }
        if let Some(d) = self.end_date() {
            m.insert(
                "end_date_str".into(),
                Value::from(d.format("%Y-%m-%d").to_string()),
            );
            m.insert(
                "end_date".into(),
                Value::from(d.format("%Y-%m-%d").to_string()),
            );
        }
        if let Some(d) = self.last_enrollment_date() {
            m.insert(
                "last_enrollment_date_str".into(),
                Value::from(d.format("%Y-%m-%d").to_string()),
            );
        }
        let branches: Vec<Value> = e
            .branches
            .iter()
            .map(|b| {
                let mut bm = BTreeMap::new();
                bm.insert("slug".to_string(), Value::from(b.slug.clone()));
                bm.insert("ratio".to_string(), Value::from(b.ratio));
                Value::from(bm)
            })
            .collect();
        m.insert("branches".into(), Value::from(branches));
        if let Some(c) = &e.channel {
            m.insert("channel".into(), Value::from(c.clone()));
        }
        m.insert("is_rollout".into(), Value::from(e.is_rollout));
        m.insert(
            "is_high_population".into(),
            Value::from(e.is_high_population),
        );
        Value::from(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn enrollment_period_rules() {
        let mut e = Experiment::dummy("x", "firefox_desktop", d("2019-12-01"));
        e.enrollment_end_date = Some(d("2019-12-03"));
        let conf = ExperimentConfiguration::new(e.clone(), ExperimentSpec::default());
        assert_eq!(conf.enrollment_period(), 3);
        let spec = ExperimentSpec {
            enrollment_period: Some(8),
            ..ExperimentSpec::default()
        };
        let conf = ExperimentConfiguration::new(e, spec);
        assert_eq!(conf.enrollment_period(), 8);
        assert_eq!(conf.last_enrollment_date(), Some(d("2019-12-09")));
    }

    #[test]
    fn end_date_override_completes() {
        let e = Experiment::dummy("x", "fenix", d("2020-01-01"));
        let spec = ExperimentSpec {
            end_date: Some(d("2020-02-01")),
            ..ExperimentSpec::default()
        };
        let conf = ExperimentConfiguration::new(e, spec);
        assert_eq!(conf.status(), Some("Complete"));
        assert_eq!(conf.end_date(), Some(d("2020-02-01")));
    }

    #[test]
    fn analysis_unit_from_randomization() {
        let mut e = Experiment::dummy("x", "firefox_desktop", d("2020-01-01"));
        e.bucket_config = Some(BucketConfig {
            randomization_unit: "group_id".into(),
            namespace: "n".into(),
            start: 0,
            count: 100,
            total: 10000,
        });
        let conf = ExperimentConfiguration::new(e, ExperimentSpec::default());
        assert_eq!(conf.analysis_unit().unwrap(), AnalysisUnit::ProfileGroup);
    }
}
