//! The raw (unresolved) config model of every metric-hub file kind (this module), how it is
//! read from TOML (`readers`), and how specs merge (`merge`).
//!
//! Merging follows the reference exactly: a field of `other` wins when it is "truthy"
//! (`other.f or self.f`), so an override can never set a value to something falsy; period lists
//! concatenate as `other + self`; quoted wildcard keys (`'*'`, `'test_*'`) in `[metrics]` and
//! `[data_sources]` are fnmatch patterns merged into every matching existing definition and never
//! become definitions themselves.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use indexmap::IndexMap;

use crate::enums::{
    AnalysisBasis, AnalysisPeriod, AnalysisUnit, AnalysisWindow, EnrollmentsQueryType,
    JoinRelationship, MetricLevel, WindowLimit,
};
use crate::error::{ConfigError, ErrorKind, Origin};
use crate::statistic::{StatisticSpec, parse_statistic};
use crate::tree::{Node, Reader, Table, Val, join};

mod merge;
mod readers;

pub use merge::{fnmatch, is_valid_slug};
pub(crate) use readers::*;

/// Top-level keys accepted in any config file (the reference's `validate_config_settings`).
pub const TOP_LEVEL_KEYS: &[&str] = &[
    "project",
    "population",
    "metrics",
    "experiment",
    "segments",
    "data_sources",
    "friendly_name",
    "description",
    "parameters",
    "alerts",
    "dimensions",
    "functions",
    "daily",
    "weekly",
    "28_day",
    "overall",
    "preenrollment_weekly",
    "preenrollment_days28",
];

/// A reference to a metric by name, e.g. an entry of a period list.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricReference {
    /// The metric name (case kept).
    pub name: String,
    /// Where the reference was written.
    pub origin: Origin,
}

/// `[metrics.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDefinition {
    /// The metric name, from the table key (case kept).
    pub name: String,
    /// Where the definition starts.
    pub origin: Origin,
    /// `statistics`, in config order; `None` when absent.
    pub statistics: Option<IndexMap<String, StatisticSpec>>,
    /// `select_expression` (a Jinja template).
    pub select_expression: Option<String>,
    /// `data_source` slug.
    pub data_source: Option<String>,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `bigger_is_better` (default true).
    pub bigger_is_better: bool,
    /// `analysis_bases`.
    pub analysis_bases: Option<Vec<AnalysisBasis>>,
    /// `type`.
    pub metric_type: Option<String>,
    /// `category`.
    pub category: Option<String>,
    /// `depends_on`.
    pub depends_on: Option<Vec<String>>,
    /// `owner` (a string becomes a one-element list).
    pub owner: Option<Vec<String>>,
    /// `deprecated`.
    pub deprecated: bool,
    /// `level`.
    pub level: Option<MetricLevel>,
    /// `analysis_units`.
    pub analysis_units: Option<Vec<AnalysisUnit>>,
}

impl MetricDefinition {
    fn empty(name: &str, origin: Origin) -> Self {
        Self {
            name: name.to_string(),
            origin,
            statistics: None,
            select_expression: None,
            data_source: None,
            friendly_name: None,
            description: None,
            bigger_is_better: true,
            analysis_bases: None,
            metric_type: None,
            category: None,
            depends_on: None,
            owner: None,
            deprecated: false,
            level: None,
            analysis_units: None,
        }
    }
}

/// `[metrics]`: period lists and metric definitions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricsSpec {
    /// Period lists, indexed by [`AnalysisPeriod`] order.
    pub periods: [Vec<MetricReference>; AnalysisPeriod::ALL.len()],
    /// Definitions (including wildcard patterns, which only matter while merging).
    pub definitions: IndexMap<String, MetricDefinition>,
}

fn period_index(p: AnalysisPeriod) -> usize {
    AnalysisPeriod::ALL
        .iter()
        .position(|x| *x == p)
        .unwrap_or(0)
}

impl MetricsSpec {
    /// The metric list of a period.
    pub fn period(&self, p: AnalysisPeriod) -> &[MetricReference] {
        &self.periods[period_index(p)]
    }

    /// Whether any period list is non-empty.
    pub fn declares_periods(&self) -> bool {
        self.periods.iter().any(|p| !p.is_empty())
    }
}

/// A join of a data source to another one.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinDefinition {
    /// Relationship, if given.
    pub relationship: Option<JoinRelationship>,
    /// Join condition, if given.
    pub on_expression: Option<String>,
}

/// `[data_sources.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceDefinition {
    /// The data source name, from the table key.
    pub name: String,
    /// Where the definition starts.
    pub origin: Origin,
    /// `from_expression`.
    pub from_expression: Option<String>,
    /// `experiments_column_type` as written (`"none"` means no column).
    pub experiments_column_type: Option<String>,
    /// `client_id_column`.
    pub client_id_column: Option<String>,
    /// `submission_date_column`.
    pub submission_date_column: Option<String>,
    /// `default_dataset`.
    pub default_dataset: Option<String>,
    /// `build_id_column`.
    pub build_id_column: Option<String>,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `joins`, keyed by the joined data source.
    pub joins: Option<IndexMap<String, JoinDefinition>>,
    /// `columns_as_dimensions`.
    pub columns_as_dimensions: Option<bool>,
    /// `analysis_units`.
    pub analysis_units: Option<Vec<AnalysisUnit>>,
    /// `group_id_column`.
    pub group_id_column: Option<String>,
    /// `glean_client_id_column`.
    pub glean_client_id_column: Option<String>,
    /// `legacy_client_id_column`.
    pub legacy_client_id_column: Option<String>,
}

/// `[data_sources]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSourcesSpec {
    /// Definitions (including wildcard patterns).
    pub definitions: IndexMap<String, DataSourceDefinition>,
}

/// `[segments.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDefinition {
    /// Segment name.
    pub name: String,
    /// Where the definition starts.
    pub origin: Origin,
    /// Segment data source slug.
    pub data_source: String,
    /// Boolean aggregate expression (a Jinja template).
    pub select_expression: String,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
}

/// `[segments.data_sources.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDataSourceDefinition {
    /// Name.
    pub name: String,
    /// Where the definition starts.
    pub origin: Origin,
    /// `from_expression` (always Jinja-rendered with `experiment`).
    pub from_expression: String,
    /// Days relative to enrollment.
    pub window_start: i64,
    /// Days relative to enrollment.
    pub window_end: i64,
    /// `client_id_column`.
    pub client_id_column: Option<String>,
    /// `submission_date_column`.
    pub submission_date_column: Option<String>,
    /// `default_dataset`.
    pub default_dataset: Option<String>,
    /// `group_id_column`.
    pub group_id_column: Option<String>,
    /// `glean_client_id_column`.
    pub glean_client_id_column: Option<String>,
    /// `legacy_client_id_column`.
    pub legacy_client_id_column: Option<String>,
}

/// `[segments]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SegmentsSpec {
    /// Segment definitions.
    pub definitions: IndexMap<String, SegmentDefinition>,
    /// Segment data sources.
    pub data_sources: IndexMap<String, SegmentDataSourceDefinition>,
}

/// `[experiment.exposure_signal]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureSignalDefinition {
    /// Name.
    pub name: String,
    /// Where the definition starts.
    pub origin: Origin,
    /// Data source slug.
    pub data_source: String,
    /// Boolean expression (not templated).
    pub select_expression: String,
    /// Friendly name.
    pub friendly_name: String,
    /// Description.
    pub description: String,
    /// Window start.
    pub window_start: Option<WindowLimit>,
    /// Window end.
    pub window_end: Option<WindowLimit>,
}

/// A parameter value: one string, or one string per branch.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum ParameterValue {
    /// A single value.
    Str(String),
    /// A value per branch.
    ByBranch(IndexMap<String, String>),
}

/// `[parameters.<name>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterDefinition {
    /// Name.
    pub name: String,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `value`.
    pub value: Option<ParameterValue>,
    /// `distinct_by_branch`.
    pub distinct_by_branch: bool,
    /// `default`.
    pub default: Option<ParameterValue>,
}

impl ParameterDefinition {
    /// Whether a value is set and non-empty (Python truthiness).
    pub fn is_set(v: &Option<ParameterValue>) -> bool {
        Self::truthy(v)
    }

    fn truthy(v: &Option<ParameterValue>) -> bool {
        match v {
            Some(ParameterValue::Str(s)) => !s.is_empty(),
            Some(ParameterValue::ByBranch(m)) => !m.is_empty(),
            None => false,
        }
    }

    /// The reference's `validate()`.
    pub fn validate(&self) -> Result<(), String> {
        let is_map = |v: &Option<ParameterValue>| matches!(v, Some(ParameterValue::ByBranch(_)));
        let is_str = |v: &Option<ParameterValue>| matches!(v, Some(ParameterValue::Str(_)));
        if self.distinct_by_branch && !(is_map(&self.value) || is_map(&self.default)) {
            return Err(format!(
                "Parameter {} configured to be distinct by branch, a mapping expected in the following format: \
                 for values: value.branch_1 = \"1\" and defaults: default.branch_1 = \"1\"",
                self.name
            ));
        }
        if !(self.distinct_by_branch || is_str(&self.value) || is_str(&self.default)) {
            return Err(format!(
                "Parameter {} configured to not be distinct by branch, but wrong value type provided. \
                 Expected format: value = \"param_value\" or default = \"\"",
                self.name
            ));
        }
        Ok(())
    }
}

/// `[experiment]`: overrides of Experimenter's data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExperimentSpec {
    /// `enrollment_query` (a Jinja template over `experiment`).
    pub enrollment_query: Option<String>,
    /// `enrollment_period` in days.
    pub enrollment_period: Option<i64>,
    /// `reference_branch`.
    pub reference_branch: Option<String>,
    /// `start_date`.
    pub start_date: Option<NaiveDate>,
    /// `end_date` (forces status Complete).
    pub end_date: Option<NaiveDate>,
    /// `segments`.
    pub segments: Vec<String>,
    /// `outcomes`.
    pub outcomes: Vec<String>,
    /// `skip`.
    pub skip: bool,
    /// `exposure_signal`.
    pub exposure_signal: Option<ExposureSignalDefinition>,
    /// `is_private`.
    pub is_private: bool,
    /// `dataset_id`.
    pub dataset_id: Option<String>,
    /// `sample_size` (% of clients kept).
    pub sample_size: Option<i64>,
    /// `analysis_unit`.
    pub analysis_unit: Option<AnalysisUnit>,
    /// `enrollments_query_type`.
    pub enrollments_query_type: Option<EnrollmentsQueryType>,
}

/// `[parameters]`.
pub type ParametersSpec = IndexMap<String, ParameterDefinition>;

/// A jetstream experiment config or a defaults file (`AnalysisSpec`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AnalysisSpec {
    /// `[metrics]`.
    pub metrics: MetricsSpec,
    /// `[data_sources]`.
    pub data_sources: DataSourcesSpec,
    /// `[segments]`.
    pub segments: SegmentsSpec,
    /// `[parameters]`.
    pub parameters: ParametersSpec,
    /// `[experiment]`.
    pub experiment: ExperimentSpec,
}

/// An outcome snippet, `jetstream/outcomes/<platform>/<slug>.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutcomeSpec {
    /// `friendly_name` (required).
    pub friendly_name: String,
    /// `description` (required).
    pub description: String,
    /// Metric definitions.
    pub metrics: IndexMap<String, MetricDefinition>,
    /// `default_metrics`.
    pub default_metrics: Vec<String>,
    /// `[data_sources]`.
    pub data_sources: DataSourcesSpec,
    /// `[parameters]`.
    pub parameters: ParametersSpec,
    /// Optional top-level period lists (when absent: weekly and overall).
    pub periods: [Vec<MetricReference>; AnalysisPeriod::ALL.len()],
}

/// `definitions/<platform>.toml` and `jetstream/definitions/<platform>.toml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DefinitionSpec {
    /// `[metrics]`.
    pub metrics: MetricsSpec,
    /// `[data_sources]`.
    pub data_sources: DataSourcesSpec,
    /// `[segments]`.
    pub segments: SegmentsSpec,
    /// `[parameters]`.
    pub parameters: ParametersSpec,
}

/// One Jinja function of `functions.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDefinition {
    /// Python `str.format` template with `{select_expr}`.
    pub definition: String,
    /// `friendly_name`.
    pub friendly_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
}

/// `functions.toml`.
pub type FunctionsSpec = IndexMap<String, FunctionDefinition>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_cases() {
        assert!(fnmatch("*", "anything"));
        assert!(fnmatch("test_*", "test_me"));
        assert!(!fnmatch("test_*", "tes_me"));
        assert!(fnmatch("a?c", "abc"));
        assert!(fnmatch("[ab]x", "bx"));
        assert!(!fnmatch("[!ab]x", "bx"));
        assert!(fnmatch("exact", "exact"));
        assert!(!fnmatch("exact", "exactly"));
        assert!(fnmatch("a*b*c", "axxbyyc"));
        assert!(!fnmatch("a*b*c", "axxbyy"));
        // no exponential blow-up
        assert!(!fnmatch("*_*_*_*_*_*_*_*_*_*_*_x", &"a_".repeat(200)));
    }

    #[test]
    fn slugs() {
        assert!(is_valid_slug("active_hours"));
        assert!(is_valid_slug("showSearchTerms_user_pref"));
        assert!(!is_valid_slug("test_*"));
        assert!(!is_valid_slug(""));
    }
}
