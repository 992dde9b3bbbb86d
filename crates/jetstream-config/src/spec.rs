//! The raw (unresolved) config model of every metric-hub file kind, how it is read from TOML,
//! and how specs merge.
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

/// Whether `s` is a valid metric/data-source slug (`^[a-zA-Z0-9_]+$`).
pub fn is_valid_slug(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Python `fnmatch.fnmatchcase`: `*`, `?`, `[seq]`, `[!seq]`. Iterative with one star
/// back-tracking point, so any pattern runs in O(pattern × name).
pub fn fnmatch(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    /// Match one pattern element at `p[i]` against `c`: Some(next pattern index) on a match.
    fn step(p: &[char], i: usize, c: char) -> Option<usize> {
        match p[i] {
            '?' => Some(i + 1),
            '[' => {
                let mut j = i + 1;
                let negate = p.get(j) == Some(&'!');
                if negate {
                    j += 1;
                }
                let start = j;
                let mut matched = false;
                while j < p.len() {
                    if p[j] == ']' && j > start {
                        return (matched != negate).then_some(j + 1);
                    }
                    if j + 2 < p.len() && p[j + 1] == '-' && p[j + 2] != ']' {
                        matched |= p[j] <= c && c <= p[j + 2];
                        j += 3;
                    } else {
                        matched |= p[j] == c;
                        j += 1;
                    }
                }
                // an unclosed '[' is a literal
                (c == '[').then_some(i + 1)
            }
            lit => (lit == c).then_some(i + 1),
        }
    }
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
            continue;
        }
        if pi < p.len()
            && let Some(next) = step(&p, pi, n[ni])
        {
            pi = next;
            ni += 1;
            continue;
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn truthy_str(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

fn or_str(other: &Option<String>, this: &Option<String>) -> Option<String> {
    if truthy_str(other) {
        other.clone()
    } else {
        this.clone()
    }
}

fn or_vec<T: Clone>(other: &Option<Vec<T>>, this: &Option<Vec<T>>) -> Option<Vec<T>> {
    if other.as_ref().is_some_and(|v| !v.is_empty()) {
        other.clone()
    } else {
        this.clone()
    }
}

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

    /// Merge `other` into `self` with the reference's `other.f or self.f` rule.
    pub fn merge(&mut self, other: &MetricDefinition) {
        if other.statistics.as_ref().is_some_and(|s| !s.is_empty()) {
            self.statistics = other.statistics.clone();
        }
        self.select_expression = or_str(&other.select_expression, &self.select_expression);
        self.data_source = or_str(&other.data_source, &self.data_source);
        self.friendly_name = or_str(&other.friendly_name, &self.friendly_name);
        self.description = or_str(&other.description, &self.description);
        self.bigger_is_better = other.bigger_is_better || self.bigger_is_better;
        self.analysis_bases = or_vec(&other.analysis_bases, &self.analysis_bases);
        self.metric_type = or_str(&other.metric_type, &self.metric_type);
        self.category = or_str(&other.category, &self.category);
        self.depends_on = or_vec(&other.depends_on, &self.depends_on);
        self.owner = or_vec(&other.owner, &self.owner);
        self.deprecated = other.deprecated || self.deprecated;
        self.level = other.level.or(self.level);
        self.analysis_units = or_vec(&other.analysis_units, &self.analysis_units);
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

    /// Merge `other` into `self`; `other` wins.
    pub fn merge(&mut self, other: &MetricsSpec) {
        for (mine, theirs) in self.periods.iter_mut().zip(other.periods.iter()) {
            let mut merged = theirs.clone();
            merged.append(mine);
            *mine = merged;
        }
        merge_definitions(
            &mut self.definitions,
            &other.definitions,
            MetricDefinition::merge,
        );
    }
}

fn merge_definitions<T: Clone>(
    mine: &mut IndexMap<String, T>,
    other: &IndexMap<String, T>,
    merge: fn(&mut T, &T),
) {
    let mut seen: Vec<&str> = Vec::new();
    for (key, def) in mine.iter_mut() {
        for (other_key, other_def) in other {
            if fnmatch(other_key, key) {
                merge(def, other_def);
                seen.push(other_key);
            }
        }
    }
    let existing: Vec<String> = mine.keys().cloned().collect();
    for (key, def) in other {
        if !seen.contains(&key.as_str()) && !existing.contains(key) && is_valid_slug(key) {
            mine.insert(key.clone(), def.clone());
        }
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

impl DataSourceDefinition {
    /// Merge `other` into `self`; `other` wins (`joins` is replaced whenever `other` has them).
    pub fn merge(&mut self, other: &DataSourceDefinition) {
        self.from_expression = or_str(&other.from_expression, &self.from_expression);
        self.experiments_column_type = or_str(
            &other.experiments_column_type,
            &self.experiments_column_type,
        );
        self.client_id_column = or_str(&other.client_id_column, &self.client_id_column);
        self.submission_date_column =
            or_str(&other.submission_date_column, &self.submission_date_column);
        self.default_dataset = or_str(&other.default_dataset, &self.default_dataset);
        self.build_id_column = or_str(&other.build_id_column, &self.build_id_column);
        self.friendly_name = or_str(&other.friendly_name, &self.friendly_name);
        self.description = or_str(&other.description, &self.description);
        if other.joins.is_some() {
            self.joins = other.joins.clone();
        }
        if other.columns_as_dimensions == Some(true) {
            self.columns_as_dimensions = Some(true);
        }
        self.analysis_units = or_vec(&other.analysis_units, &self.analysis_units);
        self.group_id_column = or_str(&other.group_id_column, &self.group_id_column);
        self.glean_client_id_column =
            or_str(&other.glean_client_id_column, &self.glean_client_id_column);
        self.legacy_client_id_column = or_str(
            &other.legacy_client_id_column,
            &self.legacy_client_id_column,
        );
    }
}

/// `[data_sources]`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSourcesSpec {
    /// Definitions (including wildcard patterns).
    pub definitions: IndexMap<String, DataSourceDefinition>,
}

impl DataSourcesSpec {
    /// Merge `other` into `self`; `other` wins.
    pub fn merge(&mut self, other: &DataSourcesSpec) {
        merge_definitions(
            &mut self.definitions,
            &other.definitions,
            DataSourceDefinition::merge,
        );
    }
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

impl SegmentsSpec {
    /// Plain dictionary update: `other`'s definitions replace whole definitions.
    pub fn merge(&mut self, other: &SegmentsSpec) {
        for (k, v) in &other.data_sources {
            self.data_sources.insert(k.clone(), v.clone());
        }
        for (k, v) in &other.definitions {
            self.definitions.insert(k.clone(), v.clone());
        }
    }
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

    /// The reference's `AnalysisSpec._merge_param(p1 = self (config), p2 = outcome)`.
    pub fn merged_with_outcome(&self, outcome: &ParameterDefinition) -> Result<Self, String> {
        let default = if Self::truthy(&self.default) {
            self.default.clone()
        } else {
            outcome.default.clone()
        };
        let value = if Self::truthy(&self.value) {
            self.value.clone()
        } else if Self::truthy(&outcome.value) {
            outcome.value.clone()
        } else {
            default.clone()
        };
        let value = match (&value, &default) {
            (Some(ParameterValue::ByBranch(v)), Some(ParameterValue::ByBranch(d))) => {
                let mut merged = d.clone();
                for (k, x) in v {
                    merged.insert(k.clone(), x.clone());
                }
                Some(ParameterValue::ByBranch(merged))
            }
            _ => value,
        };
        let merged = ParameterDefinition {
            name: if self.name.is_empty() {
                outcome.name.clone()
            } else {
                self.name.clone()
            },
            friendly_name: or_str(&self.friendly_name, &outcome.friendly_name),
            description: or_str(&self.description, &outcome.description),
            default: if Self::truthy(&self.default) {
                self.default.clone()
            } else if default.is_some() {
                default
            } else if matches!(value, Some(ParameterValue::ByBranch(_))) {
                Some(ParameterValue::ByBranch(IndexMap::new()))
            } else {
                None
            },
            value,
            distinct_by_branch: self.distinct_by_branch || outcome.distinct_by_branch,
        };
        merged.validate()?;
        Ok(merged)
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

impl ExperimentSpec {
    /// Merge `other` into `self`; `other`'s truthy fields win.
    pub fn merge(&mut self, other: &ExperimentSpec) {
        self.enrollment_query = or_str(&other.enrollment_query, &self.enrollment_query);
        if other.enrollment_period.is_some_and(|p| p != 0) {
            self.enrollment_period = other.enrollment_period;
        }
        self.reference_branch = or_str(&other.reference_branch, &self.reference_branch);
        self.start_date = other.start_date.or(self.start_date);
        self.end_date = other.end_date.or(self.end_date);
        if !other.segments.is_empty() {
            self.segments = other.segments.clone();
        }
        if !other.outcomes.is_empty() {
            self.outcomes = other.outcomes.clone();
        }
        self.skip = other.skip || self.skip;
        if other.exposure_signal.is_some() {
            self.exposure_signal = other.exposure_signal.clone();
        }
        self.is_private = other.is_private || self.is_private;
        self.dataset_id = or_str(&other.dataset_id, &self.dataset_id);
        if other.sample_size.is_some_and(|s| s != 0) {
            self.sample_size = other.sample_size;
        }
        self.analysis_unit = other.analysis_unit.or(self.analysis_unit);
        self.enrollments_query_type = other.enrollments_query_type.or(self.enrollments_query_type);
    }
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

impl AnalysisSpec {
    /// Merge `other` into `self`; `other` wins.
    ///
    /// Unlike the reference (which drops an experiment config's `[parameters]` here, so that
    /// they can never override an outcome's defaults), parameters are merged too: `other`'s
    /// definition replaces `self`'s by name.
    pub fn merge(&mut self, other: &AnalysisSpec) {
        self.experiment.merge(&other.experiment);
        self.metrics.merge(&other.metrics);
        self.data_sources.merge(&other.data_sources);
        self.segments.merge(&other.segments);
        for (k, v) in &other.parameters {
            self.parameters.insert(k.clone(), v.clone());
        }
    }

    /// Merge definitions (no experiment section) into `self`; `other` wins.
    pub fn merge_definitions(&mut self, other: &DefinitionSpec) {
        self.metrics.merge(&other.metrics);
        self.data_sources.merge(&other.data_sources);
        self.segments.merge(&other.segments);
    }
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

impl DefinitionSpec {
    /// Merge `other` into `self`; `other` wins.
    pub fn merge(&mut self, other: &DefinitionSpec) {
        self.metrics.merge(&other.metrics);
        self.data_sources.merge(&other.data_sources);
        self.segments.merge(&other.segments);
    }
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

// ------------------------------------------------------------------------------------------
// Reading
// ------------------------------------------------------------------------------------------

/// Lower-case the keys of a definition table, as the reference does before structuring.
fn lowered(t: &Table) -> Table {
    Table {
        entries: t
            .entries
            .iter()
            .map(|e| crate::tree::Entry {
                key: e.key.to_lowercase(),
                node: e.node.clone(),
            })
            .collect(),
    }
}

fn enum_list<T: Copy>(
    r: &mut Reader,
    key: &str,
    node: &Node,
    parse: fn(&str) -> Option<T>,
    expected: &str,
) -> Option<Vec<T>> {
    let items = r.string_list(key, node)?;
    let mut out = Vec::new();
    for (i, (s, line)) in items.iter().enumerate() {
        match parse(s) {
            Some(v) => out.push(v),
            None => r.error_at(
                ErrorKind::InvalidValue,
                &format!("{key}[{i}]"),
                Some(*line),
                format!("{s:?} is not one of: {expected}"),
            ),
        }
    }
    Some(out)
}

fn period_lists(
    r: &mut Reader,
    key: &str,
    t: &Table,
) -> [Vec<MetricReference>; AnalysisPeriod::ALL.len()] {
    let mut periods: [Vec<MetricReference>; AnalysisPeriod::ALL.len()] = Default::default();
    for (i, p) in AnalysisPeriod::ALL.iter().enumerate() {
        let Some(node) = t.get(p.config_key()) else {
            continue;
        };
        let k = join(key, p.config_key());
        if !matches!(node.val, Val::Array(_)) {
            r.error(
                ErrorKind::WrongType,
                &k,
                node,
                format!("{k} should be a list of metrics"),
            );
            continue;
        }
        if let Some(items) = r.string_list(&k, node) {
            periods[i] = items
                .into_iter()
                .map(|(name, line)| MetricReference {
                    name,
                    origin: Origin::new(r.file.clone(), Some(line)),
                })
                .collect();
        }
    }
    periods
}

fn is_period_key(k: &str) -> bool {
    AnalysisPeriod::ALL.iter().any(|p| p.config_key() == k)
}

/// Keys of `[metrics]` that are never definitions.
fn is_reserved_metrics_key(k: &str) -> bool {
    // The reference's MetricsSpec fields; `days28` is silently ignored (only `28_day` is read).
    is_period_key(k) || k == "days28" || k == "definitions"
}

pub(crate) fn read_metric_definition(
    r: &mut Reader,
    key: &str,
    name: &str,
    node: &Node,
) -> Option<MetricDefinition> {
    let t = lowered(r.table(key, node)?);
    let mut def = MetricDefinition::empty(name, r.origin(node));
    let errors_before = r.errors.len();
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "statistics" => {
                let Some(st) = r.table(&k, n) else { continue };
                let mut stats = IndexMap::new();
                for s in &st.entries {
                    if let Some(spec) = parse_statistic(r, &join(&k, &s.key), &s.key, &s.node) {
                        stats.insert(s.key.clone(), spec);
                    }
                }
                def.statistics = Some(stats);
            }
            "select_expression" => def.select_expression = r.string(&k, n),
            "data_source" => def.data_source = r.string(&k, n),
            "friendly_name" => def.friendly_name = r.string(&k, n),
            "description" => def.description = r.string(&k, n),
            "bigger_is_better" => def.bigger_is_better = r.boolean(&k, n).unwrap_or(true),
            "analysis_bases" => {
                def.analysis_bases =
                    enum_list(r, &k, n, AnalysisBasis::parse, &AnalysisBasis::expected())
            }
            "type" => def.metric_type = r.string(&k, n),
            "category" => def.category = r.string(&k, n),
            "depends_on" => {
                def.depends_on = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
            }
            "owner" => def.owner = r.string_or_list(&k, n),
            "deprecated" => def.deprecated = r.boolean(&k, n).unwrap_or(false),
            "level" => {
                if let Some(s) = r.string(&k, n) {
                    match MetricLevel::parse(&s) {
                        Some(l) => def.level = Some(l),
                        None => r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            format!("expected one of: {}", MetricLevel::expected()),
                        ),
                    }
                }
            }
            "analysis_units" => {
                def.analysis_units =
                    enum_list(r, &k, n, AnalysisUnit::parse, &AnalysisUnit::expected())
            }
            "name" => {
                if let Some(s) = r.string(&k, n)
                    && s != name
                {
                    r.unknown_key(&k, n);
                }
            }
            "aggregation" | "column" | "where" | "within_days" | "threshold" | "scale"
            | "cumulative_window" | "incremental_window" | "repeat_windows" => {
                r.error(
                    ErrorKind::InvalidValue,
                    &k,
                    n,
                    "declarative aggregations are not supported yet; write a select_expression instead",
                );
            }
            _ => r.unknown_key(&k, n),
        }
    }
    (r.errors.len() == errors_before).then_some(def)
}

pub(crate) fn read_metrics(r: &mut Reader, key: &str, node: &Node) -> MetricsSpec {
    let Some(t) = r.table(key, node) else {
        return MetricsSpec::default();
    };
    let periods = period_lists(r, key, t);
    let mut definitions = IndexMap::new();
    for e in &t.entries {
        if is_reserved_metrics_key(&e.key) {
            if e.key == "days28" {
                r.unknown_key(&join(key, &e.key), &e.node);
            }
            if e.key == "definitions" && !matches!(e.node.val, Val::Array(_)) {
                r.error(
                    ErrorKind::WrongType,
                    &join(key, &e.key),
                    &e.node,
                    "metrics.definitions should be a list of metrics",
                );
            }
            continue;
        }
        if let Some(def) = read_metric_definition(r, &join(key, &e.key), &e.key, &e.node) {
            definitions.insert(e.key.clone(), def);
        }
    }
    MetricsSpec {
        periods,
        definitions,
    }
}

fn read_data_source(
    r: &mut Reader,
    key: &str,
    name: &str,
    node: &Node,
) -> Option<DataSourceDefinition> {
    let t = lowered(r.table(key, node)?);
    let mut def = DataSourceDefinition {
        name: name.to_string(),
        origin: r.origin(node),
        from_expression: None,
        experiments_column_type: None,
        client_id_column: None,
        submission_date_column: None,
        default_dataset: None,
        build_id_column: None,
        friendly_name: None,
        description: None,
        joins: None,
        columns_as_dimensions: None,
        analysis_units: None,
        group_id_column: None,
        glean_client_id_column: None,
        legacy_client_id_column: None,
    };
    let errors_before = r.errors.len();
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "from_expression" => def.from_expression = r.string(&k, n),
            "experiments_column_type" => {
                if let Some(s) = r.string(&k, n) {
                    let ok = s.eq_ignore_ascii_case("none")
                        || crate::enums::ExperimentsColumnType::parse(&s).is_some();
                    if !ok {
                        r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            "experiments_column_type must be one of: none, simple, native, glean, events_stream",
                        );
                    }
                    def.experiments_column_type = Some(s);
                }
            }
            "client_id_column" => def.client_id_column = r.string(&k, n),
            "submission_date_column" => def.submission_date_column = r.string(&k, n),
            "default_dataset" => def.default_dataset = r.string(&k, n),
            "build_id_column" => def.build_id_column = r.string(&k, n),
            "friendly_name" => def.friendly_name = r.string(&k, n),
            "description" => def.description = r.string(&k, n),
            "columns_as_dimensions" => def.columns_as_dimensions = r.boolean(&k, n),
            "analysis_units" => {
                def.analysis_units =
                    enum_list(r, &k, n, AnalysisUnit::parse, &AnalysisUnit::expected())
            }
            "group_id_column" => def.group_id_column = r.string(&k, n),
            "glean_client_id_column" => def.glean_client_id_column = r.string(&k, n),
            "legacy_client_id_column" => def.legacy_client_id_column = r.string(&k, n),
            "joins" => {
                let Some(jt) = r.table(&k, n) else { continue };
                let mut joins = IndexMap::new();
                for j in &jt.entries {
                    let jk = join(&k, &j.key);
                    let Some(jtable) = r.table(&jk, &j.node) else {
                        continue;
                    };
                    let mut jd = JoinDefinition {
                        relationship: None,
                        on_expression: None,
                    };
                    for f in &jtable.entries {
                        let fk = join(&jk, &f.key);
                        match f.key.as_str() {
                            "relationship" => {
                                if let Some(s) = r.string(&fk, &f.node) {
                                    match JoinRelationship::parse(&s) {
                                        Some(rel) => jd.relationship = Some(rel),
                                        None => r.error(
                                            ErrorKind::InvalidValue,
                                            &fk,
                                            &f.node,
                                            format!(
                                                "expected one of: {}",
                                                JoinRelationship::expected()
                                            ),
                                        ),
                                    }
                                }
                            }
                            "on_expression" => jd.on_expression = r.string(&fk, &f.node),
                            _ => r.unknown_key(&fk, &f.node),
                        }
                    }
                    joins.insert(j.key.clone(), jd);
                }
                def.joins = Some(joins);
            }
            "name" => {}
            _ => r.unknown_key(&k, n),
        }
    }
    (r.errors.len() == errors_before).then_some(def)
}

pub(crate) fn read_data_sources(r: &mut Reader, key: &str, node: &Node) -> DataSourcesSpec {
    let Some(t) = r.table(key, node) else {
        return DataSourcesSpec::default();
    };
    let mut definitions = IndexMap::new();
    for e in &t.entries {
        if let Some(def) = read_data_source(r, &join(key, &e.key), &e.key, &e.node) {
            definitions.insert(e.key.clone(), def);
        }
    }
    DataSourcesSpec { definitions }
}

fn required_string(
    r: &mut Reader,
    key: &str,
    t: &Table,
    name: &str,
    line: usize,
) -> Option<String> {
    match t.get(name) {
        Some(n) => r.string(&join(key, name), n),
        None => {
            r.error_at(
                ErrorKind::Missing,
                &join(key, name),
                Some(line),
                format!("`{name}` is required"),
            );
            None
        }
    }
}

pub(crate) fn read_segments(r: &mut Reader, key: &str, node: &Node) -> SegmentsSpec {
    let Some(t) = r.table(key, node) else {
        return SegmentsSpec::default();
    };
    let mut spec = SegmentsSpec::default();
    for e in &t.entries {
        let k = join(key, &e.key);
        if e.key == "data_sources" {
            let Some(dst) = r.table(&k, &e.node) else {
                continue;
            };
            for d in &dst.entries {
                let dk = join(&k, &d.key);
                let Some(raw) = r.table(&dk, &d.node) else {
                    continue;
                };
                let dt = lowered(raw);
                let before = r.errors.len();
                let from_expression = required_string(r, &dk, &dt, "from_expression", d.node.line);
                let mut def = SegmentDataSourceDefinition {
                    name: d.key.clone(),
                    origin: r.origin(&d.node),
                    from_expression: from_expression.unwrap_or_default(),
                    window_start: 0,
                    window_end: 0,
                    client_id_column: None,
                    submission_date_column: None,
                    default_dataset: None,
                    group_id_column: None,
                    glean_client_id_column: None,
                    legacy_client_id_column: None,
                };
                for f in &dt.entries {
                    let fk = join(&dk, &f.key);
                    let n = &f.node;
                    match f.key.as_str() {
                        "from_expression" | "name" => {}
                        "window_start" => def.window_start = r.integer(&fk, n).unwrap_or(0),
                        "window_end" => def.window_end = r.integer(&fk, n).unwrap_or(0),
                        "client_id_column" => def.client_id_column = r.string(&fk, n),
                        "submission_date_column" => def.submission_date_column = r.string(&fk, n),
                        "default_dataset" => def.default_dataset = r.string(&fk, n),
                        "group_id_column" => def.group_id_column = r.string(&fk, n),
                        "glean_client_id_column" => def.glean_client_id_column = r.string(&fk, n),
                        "legacy_client_id_column" => def.legacy_client_id_column = r.string(&fk, n),
                        _ => r.unknown_key(&fk, n),
                    }
                }
                if r.errors.len() == before {
                    spec.data_sources.insert(d.key.clone(), def);
                }
            }
            continue;
        }
        let Some(raw) = r.table(&k, &e.node) else {
            continue;
        };
        let st = lowered(raw);
        let before = r.errors.len();
        let data_source = required_string(r, &k, &st, "data_source", e.node.line);
        let select_expression = required_string(r, &k, &st, "select_expression", e.node.line);
        let mut def = SegmentDefinition {
            name: e.key.clone(),
            origin: r.origin(&e.node),
            data_source: data_source.unwrap_or_default(),
            select_expression: select_expression.unwrap_or_default(),
            friendly_name: None,
            description: None,
        };
        for f in &st.entries {
            let fk = join(&k, &f.key);
            match f.key.as_str() {
                "data_source" | "select_expression" | "name" => {}
                "friendly_name" => def.friendly_name = r.string(&fk, &f.node),
                "description" => def.description = r.string(&fk, &f.node),
                _ => r.unknown_key(&fk, &f.node),
            }
        }
        if r.errors.len() == before {
            spec.definitions.insert(e.key.clone(), def);
        }
    }
    spec
}

fn read_parameter_value(r: &mut Reader, key: &str, node: &Node) -> Option<ParameterValue> {
    match &node.val {
        Val::Str(s) => Some(ParameterValue::Str(s.clone())),
        Val::Table(t) => {
            let mut m = IndexMap::new();
            for e in &t.entries {
                let k = join(key, &e.key);
                let v = match &e.node.val {
                    Val::Str(s) => s.clone(),
                    Val::Int(i) => i.to_string(),
                    Val::Float(f) => format!("{f:?}"),
                    Val::Bool(b) => {
                        if *b {
                            "True".into()
                        } else {
                            "False".into()
                        }
                    }
                    _ => {
                        r.error(ErrorKind::WrongType, &k, &e.node, "expected a string");
                        continue;
                    }
                };
                m.insert(e.key.clone(), v);
            }
            Some(ParameterValue::ByBranch(m))
        }
        _ => {
            r.error(
                ErrorKind::WrongType,
                key,
                node,
                format!(
                    "expected a string or a table of branch = value, found {}",
                    node.val.type_name()
                ),
            );
            None
        }
    }
}

pub(crate) fn read_parameters(r: &mut Reader, key: &str, node: &Node) -> ParametersSpec {
    let Some(t) = r.table(key, node) else {
        return ParametersSpec::default();
    };
    let mut out = ParametersSpec::new();
    for e in &t.entries {
        let k = join(key, &e.key);
        let Some(raw) = r.table(&k, &e.node) else {
            continue;
        };
        let pt = lowered(raw);
        let mut def = ParameterDefinition {
            name: e.key.clone(),
            friendly_name: None,
            description: None,
            value: None,
            distinct_by_branch: false,
            default: None,
        };
        for f in &pt.entries {
            let fk = join(&k, &f.key);
            match f.key.as_str() {
                "friendly_name" => def.friendly_name = r.string(&fk, &f.node),
                "description" => def.description = r.string(&fk, &f.node),
                "value" => def.value = read_parameter_value(r, &fk, &f.node),
                "default" => def.default = read_parameter_value(r, &fk, &f.node),
                "distinct_by_branch" => {
                    def.distinct_by_branch = r.boolean(&fk, &f.node).unwrap_or(false)
                }
                "name" => {}
                _ => r.unknown_key(&fk, &f.node),
            }
        }
        out.insert(e.key.clone(), def);
    }
    out
}

fn read_date(r: &mut Reader, key: &str, node: &Node) -> Option<NaiveDate> {
    let s = match &node.val {
        Val::Str(s) => s.clone(),
        Val::Datetime(d) => d.clone(),
        _ => {
            r.error(
                ErrorKind::WrongType,
                key,
                node,
                "expected a date string \"YYYY-MM-DD\"",
            );
            return None;
        }
    };
    match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
        Ok(d) => Some(d),
        Err(_) => {
            r.error(
                ErrorKind::InvalidValue,
                key,
                node,
                "expected a date \"YYYY-MM-DD\"",
            );
            None
        }
    }
}

fn read_window_limit(r: &mut Reader, key: &str, node: &Node) -> Option<WindowLimit> {
    match &node.val {
        Val::Str(s) => match AnalysisWindow::parse(s) {
            Some(w) => Some(WindowLimit::Named(w)),
            None => match s.trim().parse::<i64>() {
                Ok(i) => Some(WindowLimit::Days(i)),
                Err(_) => {
                    r.error(
                        ErrorKind::InvalidValue,
                        key,
                        node,
                        format!(
                            "expected an integer or one of: {}",
                            AnalysisWindow::expected()
                        ),
                    );
                    None
                }
            },
        },
        _ => r.integer(key, node).map(WindowLimit::Days),
    }
}

fn read_exposure_signal(
    r: &mut Reader,
    key: &str,
    node: &Node,
) -> Option<ExposureSignalDefinition> {
    let t = r.table(key, node)?;
    let before = r.errors.len();
    let mut get = |name: &str| required_string(r, key, t, name, node.line).unwrap_or_default();
    let name = get("name");
    let data_source = get("data_source");
    let select_expression = get("select_expression");
    let friendly_name = get("friendly_name");
    let description = get("description");
    let mut def = ExposureSignalDefinition {
        name,
        origin: r.origin(node),
        data_source,
        select_expression,
        friendly_name,
        description,
        window_start: None,
        window_end: None,
    };
    for e in &t.entries {
        let k = join(key, &e.key);
        match e.key.as_str() {
            "name" | "data_source" | "select_expression" | "friendly_name" | "description" => {}
            "window_start" => def.window_start = read_window_limit(r, &k, &e.node),
            "window_end" => def.window_end = read_window_limit(r, &k, &e.node),
            _ => r.unknown_key(&k, &e.node),
        }
    }
    (r.errors.len() == before).then_some(def)
}

pub(crate) fn read_experiment(r: &mut Reader, key: &str, node: &Node) -> ExperimentSpec {
    let mut spec = ExperimentSpec::default();
    let Some(t) = r.table(key, node) else {
        return spec;
    };
    for e in &t.entries {
        let k = join(key, &e.key);
        let n = &e.node;
        match e.key.as_str() {
            "enrollment_query" => spec.enrollment_query = r.string(&k, n),
            "enrollment_period" => {
                spec.enrollment_period = r.integer(&k, n);
                if spec
                    .enrollment_period
                    .is_some_and(|p| !(0..=3650).contains(&p))
                {
                    r.error(
                        ErrorKind::InvalidValue,
                        &k,
                        n,
                        "must be between 0 and 3650 days",
                    );
                    spec.enrollment_period = None;
                }
            }
            "reference_branch" => spec.reference_branch = r.string(&k, n),
            "start_date" => spec.start_date = read_date(r, &k, n),
            "end_date" => spec.end_date = read_date(r, &k, n),
            "segments" => {
                spec.segments = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
                    .unwrap_or_default()
            }
            "outcomes" => {
                spec.outcomes = r
                    .string_list(&k, n)
                    .map(|v| v.into_iter().map(|(s, _)| s).collect())
                    .unwrap_or_default()
            }
            "skip" => spec.skip = r.boolean(&k, n).unwrap_or(false),
            "exposure_signal" => spec.exposure_signal = read_exposure_signal(r, &k, n),
            "is_private" => spec.is_private = r.boolean(&k, n).unwrap_or(false),
            "dataset_id" => spec.dataset_id = r.string(&k, n),
            "sample_size" => {
                spec.sample_size = r.integer(&k, n);
                if spec.sample_size.is_some_and(|s| !(0..=100).contains(&s)) {
                    r.error(
                        ErrorKind::InvalidValue,
                        &k,
                        n,
                        "sample_size is a percentage of clients (0 to 100)",
                    );
                }
            }
            "analysis_unit" => {
                if let Some(s) = r.string(&k, n) {
                    match AnalysisUnit::parse(&s) {
                        Some(u) => spec.analysis_unit = Some(u),
                        None => r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            format!("expected one of: {}", AnalysisUnit::expected()),
                        ),
                    }
                }
            }
            "enrollments_query_type" => {
                if let Some(s) = r.string(&k, n) {
                    match EnrollmentsQueryType::parse(&s) {
                        Some(q) => spec.enrollments_query_type = Some(q),
                        None => r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            format!("expected one of: {}", EnrollmentsQueryType::expected()),
                        ),
                    }
                }
            }
            _ => r.unknown_key(&k, n),
        }
    }
    if spec.is_private && spec.dataset_id.is_none() {
        r.error_at(
            ErrorKind::Missing,
            &join(key, "dataset_id"),
            Some(node.line),
            "dataset_id must be set to a custom dataset for private experiments",
        );
    }
    spec
}

pub(crate) fn read_functions(r: &mut Reader, key: &str, node: &Node) -> FunctionsSpec {
    let Some(t) = r.table(key, node) else {
        return FunctionsSpec::default();
    };
    let mut out = FunctionsSpec::new();
    for e in &t.entries {
        let k = join(key, &e.key);
        let Some(ft) = r.table(&k, &e.node) else {
            continue;
        };
        let Some(definition) = required_string(r, &k, ft, "definition", e.node.line) else {
            continue;
        };
        let mut f = FunctionDefinition {
            definition,
            friendly_name: None,
            description: None,
        };
        for x in &ft.entries {
            let xk = join(&k, &x.key);
            match x.key.as_str() {
                "definition" => {}
                "friendly_name" => f.friendly_name = r.string(&xk, &x.node),
                "description" => f.description = r.string(&xk, &x.node),
                _ => r.unknown_key(&xk, &x.node),
            }
        }
        out.insert(e.key.clone(), f);
    }
    out
}

/// Reject unknown top-level keys.
pub(crate) fn check_top_level(r: &mut Reader, t: &Table) {
    check_top_level_with(r, t, &[]);
}

fn check_top_level_with(r: &mut Reader, t: &Table, extra: &[&str]) {
    for e in &t.entries {
        if !TOP_LEVEL_KEYS.contains(&e.key.as_str()) && !extra.contains(&e.key.as_str()) {
            r.error(
                ErrorKind::UnknownKey,
                &e.key,
                &e.node,
                format!(
                    "Unexpected config key found (allowed top-level keys: {})",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            );
        }
    }
}

/// Read an experiment config or a defaults file.
pub(crate) fn read_analysis_spec(r: &mut Reader, t: &Table) -> AnalysisSpec {
    check_top_level(r, t);
    let mut spec = AnalysisSpec::default();
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => spec.metrics = read_metrics(r, "metrics", &e.node),
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "segments" => spec.segments = read_segments(r, "segments", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            "experiment" => spec.experiment = read_experiment(r, "experiment", &e.node),
            "friendly_name" | "description" => {
                r.string(&e.key, &e.node);
            }
            _ => {}
        }
    }
    spec
}

/// Read a definitions file.
pub(crate) fn read_definition_spec(r: &mut Reader, t: &Table) -> DefinitionSpec {
    check_top_level(r, t);
    let mut spec = DefinitionSpec::default();
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => spec.metrics = read_metrics(r, "metrics", &e.node),
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "segments" => spec.segments = read_segments(r, "segments", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            _ => {}
        }
    }
    spec
}

/// Read an outcome snippet.
pub(crate) fn read_outcome_spec(r: &mut Reader, t: &Table) -> OutcomeSpec {
    check_top_level_with(r, t, &["default_metrics"]);
    let mut spec = OutcomeSpec {
        periods: period_lists(r, "", t),
        ..OutcomeSpec::default()
    };
    for name in ["friendly_name", "description"] {
        match t.get(name) {
            Some(n) => {
                let v = r.string(name, n).unwrap_or_default();
                if name == "friendly_name" {
                    spec.friendly_name = v;
                } else {
                    spec.description = v;
                }
            }
            None => r.error_at(
                ErrorKind::Missing,
                name,
                Some(1),
                format!("outcomes require a top-level `{name}`"),
            ),
        }
    }
    for e in &t.entries {
        match e.key.as_str() {
            "metrics" => {
                let Some(mt) = r.table("metrics", &e.node) else {
                    continue;
                };
                for m in &mt.entries {
                    if let Some(def) =
                        read_metric_definition(r, &join("metrics", &m.key), &m.key, &m.node)
                    {
                        spec.metrics.insert(m.key.clone(), def);
                    }
                }
            }
            "data_sources" => spec.data_sources = read_data_sources(r, "data_sources", &e.node),
            "parameters" => spec.parameters = read_parameters(r, "parameters", &e.node),
            "default_metrics" => {
                if let Some(items) = r.string_list("default_metrics", &e.node) {
                    for (i, (name, line)) in items.iter().enumerate() {
                        let in_table = t
                            .get("metrics")
                            .and_then(|m| match &m.val {
                                Val::Table(mt) => mt.get(name),
                                _ => None,
                            })
                            .is_some();
                        if !spec.metrics.contains_key(name) && !in_table {
                            r.error_at(
                                ErrorKind::NotFound,
                                &format!("default_metrics[{i}]"),
                                Some(*line),
                                format!("Default metric {name} is not defined in outcome."),
                            );
                        }
                    }
                    spec.default_metrics = items.into_iter().map(|(s, _)| s).collect();
                }
            }
            _ => {}
        }
    }
    spec
}

/// Parse a TOML text with a reader for `file`.
pub(crate) fn parse_text(text: &str, file: Option<&Path>) -> Result<(Table, Reader), ConfigError> {
    let file: Option<Arc<Path>> = file.map(Arc::from);
    let table = crate::tree::parse_toml(text).map_err(|e| match &file {
        Some(f) => e.in_file(f),
        None => e,
    })?;
    Ok((table, Reader::new(file)))
}

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
