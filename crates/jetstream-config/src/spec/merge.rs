//! How specs merge: the reference's `other.f or self.f` rule, period lists concatenated, and
//! quoted wildcard keys (fnmatch patterns) merged into every matching definition.

use indexmap::IndexMap;

use super::*;

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

impl MetricDefinition {
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

impl MetricsSpec {
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

impl ParameterDefinition {
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

impl DefinitionSpec {
    /// Merge `other` into `self`; `other` wins.
    pub fn merge(&mut self, other: &DefinitionSpec) {
        self.metrics.merge(&other.metrics);
        self.data_sources.merge(&other.data_sources);
        self.segments.merge(&other.segments);
    }
}
