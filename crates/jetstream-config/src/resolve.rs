//! Resolution: an experiment plus a config collection → the concrete analysis to run.
//!
//! The algorithm is the reference's (`AnalysisSpec.default_for_experiment` → merge the
//! experiment config → `resolve`): platform defaults, then type defaults, then the experiment
//! config; outcomes merged under the config; every period's metric references resolved against
//! the spec first and the platform's definitions second; the flattened summaries reversed and
//! de-duplicated by `(metric, statistic)`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use indexmap::IndexMap;
use minijinja::value::Value;

use crate::collection::ConfigCollection;
use crate::enums::{
    AnalysisBasis, AnalysisPeriod, AnalysisUnit, ExperimentsColumnType, JoinRelationship,
    MetricLevel, WindowLimit,
};
use crate::error::{ConfigError, ErrorKind, Origin};
use crate::experiment::{Experiment, ExperimentConfiguration};
use crate::spec::{
    AnalysisSpec, DataSourceDefinition, MetricDefinition, MetricReference, MetricsSpec,
    OutcomeSpec, ParameterDefinition, ParameterValue, is_valid_slug,
};
use crate::statistic::{PreTreatment, Statistic};
use crate::template::{FormatError, format_fields, python_format};

/// A resolved data source.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSource {
    /// Name.
    pub name: String,
    /// FROM expression after the Jinja layer; `{dataset}` is still to be filled.
    pub from_expression: String,
    /// Shape of the experiments column, `None` when there is none.
    pub experiments_column_type: Option<ExperimentsColumnType>,
    /// Client id column.
    pub client_id_column: String,
    /// Submission date column.
    pub submission_date_column: String,
    /// Dataset used for `{dataset}` when none is given.
    pub default_dataset: Option<String>,
    /// Build id expression.
    pub build_id_column: String,
    /// Friendly name.
    pub friendly_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Joined data sources.
    pub joins: Vec<DataSourceJoin>,
    /// Whether columns are dimensions (OpMon).
    pub columns_as_dimensions: bool,
    /// Supported analysis units.
    pub analysis_units: Vec<AnalysisUnit>,
    /// Profile group id column.
    pub group_id_column: String,
    /// Glean client id column.
    pub glean_client_id_column: Option<String>,
    /// Legacy client id column.
    pub legacy_client_id_column: Option<String>,
}

impl DataSource {
    /// The FROM expression for `dataset` (or the default dataset), with `{{`/`}}` unescaped.
    pub fn from_expr_for(&self, dataset: Option<&str>) -> Result<String, FormatError> {
        match dataset.or(self.default_dataset.as_deref()) {
            Some(d) => python_format(&self.from_expression, &[("dataset", d)]),
            None => python_format(&self.from_expression, &[]),
        }
    }
}

/// A join of a resolved data source.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSourceJoin {
    /// The joined data source.
    pub data_source: DataSource,
    /// Relationship.
    pub relationship: Option<JoinRelationship>,
    /// Join condition.
    pub on_expression: Option<String>,
}

/// A resolved metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    /// Name (case kept).
    pub name: String,
    /// Data source (None for derived `depends_on` metrics).
    pub data_source: Option<DataSource>,
    /// Rendered select expression (None for derived metrics). `{experiment_slug}` is still to be
    /// filled by SQL generation.
    pub select_expression: Option<String>,
    /// Friendly name.
    pub friendly_name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Whether bigger is better.
    pub bigger_is_better: bool,
    /// Analysis bases.
    pub analysis_bases: Vec<AnalysisBasis>,
    /// Metric type (`scalar`, `histogram`).
    pub metric_type: String,
    /// Category.
    pub category: Option<String>,
    /// Upstream metrics of a derived metric (their columns feed its statistics).
    pub depends_on: Option<Vec<Arc<Metric>>>,
    /// Owners.
    pub owner: Option<Vec<String>>,
    /// Deprecated.
    pub deprecated: bool,
    /// Level.
    pub level: Option<MetricLevel>,
    /// Analysis units.
    pub analysis_units: Vec<AnalysisUnit>,
}

impl Metric {
    /// The select expression with `{experiment_slug}` filled in (the str.format layer that
    /// mozanalysis applies); `None` for derived metrics.
    pub fn select_expression_for(
        &self,
        experiment_slug: &str,
    ) -> Option<Result<String, FormatError>> {
        self.select_expression
            .as_deref()
            .map(|s| python_format(s, &[("experiment_slug", experiment_slug)]))
    }
}

/// A metric with one statistical treatment.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The metric.
    pub metric: Arc<Metric>,
    /// The statistic.
    pub statistic: Statistic,
    /// Pre-treatments applied before the statistic.
    pub pre_treatments: Vec<PreTreatment>,
}

/// A resolved segment data source.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDataSource {
    /// Name.
    pub name: String,
    /// FROM expression, Jinja-rendered.
    pub from_expression: String,
    /// Days relative to enrollment.
    pub window_start: i64,
    /// Days relative to enrollment.
    pub window_end: i64,
    /// Client id column.
    pub client_id_column: String,
    /// Submission date column.
    pub submission_date_column: String,
    /// Default dataset.
    pub default_dataset: Option<String>,
    /// Group id column.
    pub group_id_column: String,
    /// Glean client id column.
    pub glean_client_id_column: Option<String>,
    /// Legacy client id column.
    pub legacy_client_id_column: Option<String>,
}

/// A resolved segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Name (a column name).
    pub name: String,
    /// Data source.
    pub data_source: SegmentDataSource,
    /// Rendered boolean aggregate.
    pub select_expression: String,
    /// Friendly name.
    pub friendly_name: Option<String>,
    /// Description.
    pub description: Option<String>,
}

/// A resolved exposure signal.
#[derive(Debug, Clone, PartialEq)]
pub struct ExposureSignal {
    /// Name.
    pub name: String,
    /// Data source.
    pub data_source: DataSource,
    /// Boolean expression.
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

/// The concrete analysis of one experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct AnalysisConfiguration {
    /// The experiment with overrides, segments and exposure signal.
    pub experiment: ExperimentConfiguration,
    /// Summaries per period, in the reference's order.
    pub metrics: BTreeMap<AnalysisPeriod, Vec<Summary>>,
}

/// Python's `textwrap.dedent`.
pub(crate) fn dedent(s: &str) -> String {
    let margin = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.trim().is_empty() {
            continue;
        }
        out.push_str(line.get(margin..).unwrap_or(line.trim_start()));
    }
    out
}

fn dedent_opt(s: &Option<String>) -> Option<String> {
    s.as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| dedent(s))
        .or_else(|| s.clone())
}

/// The defaults for an experiment: `defaults/<app_name>` merged with `defaults/<type>`.
pub fn default_spec_for(experiment: &Experiment, configs: &ConfigCollection) -> AnalysisSpec {
    let mut spec = configs
        .platform_defaults(&experiment.app_name)
        .cloned()
        .unwrap_or_default();
    if let Some(type_spec) = configs.platform_defaults(&experiment.experiment_type) {
        spec.merge(type_spec);
    }
    spec
}

/// Resolve the analysis of `experiment` with its experiment config (`config`, e.g.
/// `configs.spec_for_experiment(slug)` or a custom `--config-file`) over the defaults.
pub fn resolve_experiment(
    experiment: &Experiment,
    config: Option<&AnalysisSpec>,
    configs: &ConfigCollection,
) -> Result<AnalysisConfiguration, ConfigError> {
    if let Some(broken) = configs.broken_for(
        &experiment.normandy_slug,
        &experiment.app_name,
        &experiment.experiment_type,
    ) && let Some(first) = broken.errors.first()
    {
        let mut e = first.clone();
        e.message = format!(
            "{} (config file {} is invalid, so {} cannot be analysed)",
            e.message,
            broken.path.display(),
            experiment.normandy_slug
        );
        return Err(e);
    }
    let mut spec = default_spec_for(experiment, configs);
    if let Some(c) = config {
        spec.merge(c);
    }
    resolve_spec(spec, experiment, configs)
}

/// Merge an outcome into `spec` (the reference's `merge_outcome`): its metrics go to weekly and
/// overall unless it declares period lists; the spec's own definitions win over the outcome's.
pub fn merge_outcome(spec: &mut AnalysisSpec, outcome: &OutcomeSpec) -> Result<(), ConfigError> {
    let declared = outcome.periods.iter().any(|p| !p.is_empty());
    let mut outcome_metrics = MetricsSpec {
        definitions: outcome.metrics.clone(),
        ..MetricsSpec::default()
    };
    if declared {
        outcome_metrics.periods = outcome.periods.clone();
    } else {
        let refs: Vec<MetricReference> = outcome
            .metrics
            .values()
            .map(|m| MetricReference {
                name: m.name.clone(),
                origin: m.origin.clone(),
            })
            .collect();
        for p in [AnalysisPeriod::Week, AnalysisPeriod::Overall] {
            let i = AnalysisPeriod::ALL
                .iter()
                .position(|x| *x == p)
                .unwrap_or(0);
            outcome_metrics.periods[i] = refs.clone();
        }
    }
    outcome_metrics.merge(&spec.metrics);
    let mut data_sources = outcome.data_sources.clone();
    data_sources.merge(&spec.data_sources);
    spec.data_sources = data_sources;
    spec.metrics = outcome_metrics;
    merge_parameters(spec, outcome)
}

fn merge_parameters(spec: &mut AnalysisSpec, outcome: &OutcomeSpec) -> Result<(), ConfigError> {
    for (name, param) in &outcome.parameters {
        let mine = spec
            .parameters
            .get(name)
            .cloned()
            .unwrap_or_else(|| ParameterDefinition {
                name: name.clone(),
                friendly_name: None,
                description: None,
                value: None,
                distinct_by_branch: false,
                default: None,
            });
        let merged = mine.merged_with_outcome(param).map_err(|m| {
            ConfigError::new(ErrorKind::InvalidValue, format!("parameters.{name}"), m)
        })?;
        spec.parameters.insert(name.clone(), merged);
    }
    Ok(())
}

/// Resolve an already merged spec (defaults + experiment config) for `experiment`.
pub fn resolve_spec(
    mut spec: AnalysisSpec,
    experiment: &Experiment,
    configs: &ConfigCollection,
) -> Result<AnalysisConfiguration, ConfigError> {
    let mut outcome_slugs: Vec<String> = experiment.outcomes.clone();
    for slug in &spec.experiment.outcomes {
        if !outcome_slugs.contains(slug) {
            outcome_slugs.push(slug.clone());
        }
    }
    for slug in &outcome_slugs {
        let Some(outcome) = configs.spec_for_outcome(slug, &experiment.app_name) else {
            return Err(ConfigError::new(
                ErrorKind::NotFound,
                "experiment.outcomes",
                format!(
                    "Outcome {slug} doesn't support the platform '{}'",
                    experiment.app_name
                ),
            )
            .with_value(format!("{slug:?}")));
        };
        merge_outcome(&mut spec, outcome)?;
    }

    let r = Resolver {
        spec: &spec,
        configs,
        app_name: &experiment.app_name,
        overlay: RefCell::new(IndexMap::new()),
    };
    let mut conf = ExperimentConfiguration::new(experiment.clone(), spec.experiment.clone());
    conf.analysis_unit().map_err(|m| {
        ConfigError::new(ErrorKind::InvalidValue, "bucketConfig.randomizationUnit", m)
    })?;
    if let Some(q) = &spec.experiment.enrollment_query {
        conf.enrollment_query = Some(r.render_enrollment_query(q, &conf)?);
    }
    let mut segment_names: Vec<String> = spec.experiment.segments.clone();
    for s in &experiment.segments {
        if !segment_names.contains(s) {
            segment_names.push(s.clone());
        }
    }
    let mut segments = Vec::new();
    for name in &segment_names {
        segments.push(r.segment(name, &conf)?);
    }
    conf.segments = segments;
    if let Some(es) = &spec.experiment.exposure_signal {
        let ds = r
            .data_source(&es.data_source, &conf, 0)
            .map_err(|e| e.under("experiment.exposure_signal").at(&es.origin))?;
        conf.exposure_signal = Some(ExposureSignal {
            name: es.name.clone(),
            data_source: ds,
            select_expression: es.select_expression.clone(),
            friendly_name: dedent(&es.friendly_name),
            description: dedent(&es.description),
            window_start: es.window_start,
            window_end: es.window_end,
        });
    }

    let mut metrics = BTreeMap::new();
    for period in AnalysisPeriod::ALL {
        let mut summaries = Vec::new();
        for reference in spec.metrics.period(*period) {
            let resolved = r
                .metric_reference(reference, &conf)
                .map_err(|e| e.at(&reference.origin))?;
            summaries.extend(resolved);
        }
        summaries.reverse();
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        let mut unique = Vec::new();
        for s in summaries {
            let key = (s.metric.name.clone(), s.statistic.name());
            if !seen.contains(&key) {
                seen.push(key);
                unique.push(s);
            }
        }
        // The cumulative period is opt-in: a config that does not name it resolves exactly
        // as before (no empty entry).
        if *period == AnalysisPeriod::Cumulative && unique.is_empty() {
            continue;
        }
        metrics.insert(*period, unique);
    }
    Ok(AnalysisConfiguration {
        experiment: conf,
        metrics,
    })
}

struct Resolver<'a> {
    spec: &'a AnalysisSpec,
    configs: &'a ConfigCollection,
    app_name: &'a str,
    /// Definitions of the platform pool as modified by statistics-only overrides earlier in this
    /// resolution. The reference mutates the shared definition objects in place, so a later
    /// `depends_on` lookup of the same metric sees the statistics an earlier reference attached;
    /// this overlay reproduces that (without leaking across experiments).
    overlay: RefCell<IndexMap<String, MetricDefinition>>,
}

fn not_found(key: String, message: String) -> ConfigError {
    ConfigError::new(ErrorKind::NotFound, key, message)
}

impl Resolver<'_> {
    fn pool_metric(&self, name: &str) -> Option<MetricDefinition> {
        if let Some(d) = self.overlay.borrow().get(name) {
            return Some(d.clone());
        }
        self.configs.metric_definition(name, self.app_name).cloned()
    }

    fn default_units(&self) -> Vec<AnalysisUnit> {
        if self.app_name == "firefox_desktop" {
            vec![AnalysisUnit::Client, AnalysisUnit::ProfileGroup]
        } else {
            vec![AnalysisUnit::Client]
        }
    }

    fn experiment_vars(&self, conf: &ExperimentConfiguration) -> BTreeMap<String, Value> {
        let mut vars = BTreeMap::new();
        vars.insert("experiment".to_string(), conf.template_vars());
        vars
    }

    fn explain_experiment_error(
        &self,
        template: &str,
        conf: &ExperimentConfiguration,
        msg: String,
    ) -> String {
        if template.contains("enrollment_query") {
            return "Not a valid enrollment_query".into();
        }
        let slug = conf.normandy_slug();
        if (template.contains("start_date_str") || template.contains("last_enrollment_date_str"))
            && conf.start_date().is_none()
        {
            return format!("{slug} -> Experiment has no start date.");
        }
        if template.contains("end_date_str") && conf.end_date().is_none() {
            return format!("{slug} -> Experiment has no end date.");
        }
        msg
    }

    fn render_enrollment_query(
        &self,
        q: &str,
        conf: &ExperimentConfiguration,
    ) -> Result<String, ConfigError> {
        self.configs
            .jinja()
            .render(q, &self.experiment_vars(conf))
            .map_err(|m| {
                ConfigError::new(
                    ErrorKind::Template,
                    "experiment.enrollment_query",
                    self.explain_experiment_error(q, conf, m),
                )
            })
    }

    fn metric_reference(
        &self,
        reference: &MetricReference,
        conf: &ExperimentConfiguration,
    ) -> Result<Vec<Summary>, ConfigError> {
        let mut stack = Vec::new();
        if let Some(def) = self.spec.metrics.definitions.get(&reference.name) {
            return self.metric(def, conf, &mut stack);
        }
        if let Some(def) = self.pool_metric(&reference.name) {
            return self.metric(&def, conf, &mut stack);
        }
        Err(not_found(
            format!("metrics.{}", reference.name),
            format!("Could not locate metric {}", reference.name),
        )
        .with_value(format!("{:?}", reference.name)))
    }

    fn render_select(&self, def: &MetricDefinition, template: &str) -> Result<String, ConfigError> {
        let mut vars = BTreeMap::new();
        if template.contains("parameters") {
            let mut params: BTreeMap<String, Value> = BTreeMap::new();
            for (name, p) in &self.spec.parameters {
                // A parameter with only a default uses it, as the outcome merge would.
                let value = if ParameterDefinition::is_set(&p.value) {
                    &p.value
                } else {
                    &p.default
                };
                let v = match (value, p.distinct_by_branch) {
                    (Some(ParameterValue::ByBranch(m)), true) => {
                        let cases: Vec<String> = m
                            .iter()
                            .map(|(branch, value)| format!("WHEN \"{branch}\" THEN \"{value}\""))
                            .collect();
                        Value::from(format!("CASE e.branch {} END", cases.join(" ")))
                    }
                    (Some(ParameterValue::Str(s)), _) => Value::from(s.clone()),
                    (Some(ParameterValue::ByBranch(m)), false) => Value::from(
                        m.iter()
                            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
                            .collect::<BTreeMap<String, Value>>(),
                    ),
                    (None, _) => Value::from(()),
                };
                params.insert(name.clone(), v);
            }
            vars.insert("parameters".to_string(), Value::from(params));
        }
        self.configs.jinja().render(template, &vars).map_err(|m| {
            ConfigError::new(
                ErrorKind::Template,
                format!("metrics.{}.select_expression", def.name),
                m,
            )
            .at(&def.origin)
        })
    }

    fn metric(
        &self,
        def: &MetricDefinition,
        conf: &ExperimentConfiguration,
        stack: &mut Vec<String>,
    ) -> Result<Vec<Summary>, ConfigError> {
        self.metric_with(def, conf, stack, true).map(|(_, s)| s)
    }

    /// Resolve a definition; with `need_statistics = false` (upstream metrics of `depends_on`)
    /// a metric without statistics is fine: only its column is needed.
    fn metric_with(
        &self,
        def: &MetricDefinition,
        conf: &ExperimentConfiguration,
        stack: &mut Vec<String>,
        need_statistics: bool,
    ) -> Result<(Arc<Metric>, Vec<Summary>), ConfigError> {
        if stack.contains(&def.name) || stack.len() > 32 {
            stack.push(def.name.clone());
            return Err(ConfigError::new(
                ErrorKind::InvalidValue,
                format!("metrics.{}.depends_on", def.name),
                format!("depends_on forms a cycle: {}", stack.join(" -> ")),
            )
            .at(&def.origin));
        }
        stack.push(def.name.clone());
        let result = self.metric_inner(def, conf, stack, need_statistics);
        stack.pop();
        result
    }

    fn metric_inner(
        &self,
        def: &MetricDefinition,
        conf: &ExperimentConfiguration,
        stack: &mut Vec<String>,
        need_statistics: bool,
    ) -> Result<(Arc<Metric>, Vec<Summary>), ConfigError> {
        let key = format!("metrics.{}", def.name);
        let default_units = self.default_units();
        let mut upstream: Option<Vec<Arc<Metric>>> = None;
        if let Some(deps) = def.depends_on.as_ref().filter(|d| !d.is_empty()) {
            let mut ups = Vec::new();
            for dep in deps {
                let up = self
                    .pool_metric(dep)
                    .or_else(|| self.spec.metrics.definitions.get(dep).cloned())
                    .ok_or_else(|| {
                        not_found(
                            format!("{key}.depends_on"),
                            format!("No definition found for referenced upstream metric {dep}"),
                        )
                        .with_value(format!("{dep:?}"))
                        .at(&def.origin)
                    })?;
                ups.push(self.metric_with(&up, conf, stack, false)?.0);
            }
            upstream = Some(ups);
        }

        let metric: Arc<Metric>;
        let mut inherited: Option<Vec<Summary>> = None;
        match (&def.select_expression, &def.data_source) {
            (Some(select), Some(ds_name)) if !select.is_empty() && !ds_name.is_empty() => {
                let select_expression = self.render_select(def, select)?;
                let ds = self
                    .data_source(ds_name, conf, 0)
                    .map_err(|e| e.under(&key).at(&def.origin))?;
                let units = def
                    .analysis_units
                    .clone()
                    .filter(|u| !u.is_empty())
                    .unwrap_or_else(|| default_units.clone());
                for u in &units {
                    if !ds.analysis_units.contains(u) {
                        return Err(ConfigError::new(
                            ErrorKind::InvalidValue,
                            format!("{key}.analysis_units"),
                            format!(
                                "data_source {} (app: {}) does not support all analysis_units specified by metric {}: \
                                 analysis_units for metric: {:?}, analysis_units for data_source: {:?}",
                                ds.name,
                                self.app_name,
                                def.name,
                                units.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                                ds.analysis_units.iter().map(|u| u.as_str()).collect::<Vec<_>>(),
                            ),
                        )
                        .at(&def.origin));
                    }
                }
                metric = Arc::new(self.build_metric(
                    def,
                    Some(ds),
                    Some(select_expression),
                    upstream,
                    units,
                ));
            }
            _ => {
                let pool = self.pool_metric(&def.name);
                match (pool, upstream) {
                    (_, Some(ups)) => {
                        let units = def
                            .analysis_units
                            .clone()
                            .filter(|u| !u.is_empty())
                            .unwrap_or_else(|| default_units.clone());
                        metric = Arc::new(self.build_metric(def, None, None, Some(ups), units));
                    }
                    (None, None) => {
                        return Err(not_found(
                            key,
                            format!(
                                "No default definition found for referenced metric {}",
                                def.name
                            ),
                        )
                        .at(&def.origin));
                    }
                    (Some(pool_def), None) => {
                        let mut d = pool_def;
                        d.analysis_bases = def
                            .analysis_bases
                            .clone()
                            .filter(|b| !b.is_empty())
                            .or_else(|| d.analysis_bases.clone().filter(|b| !b.is_empty()))
                            .or_else(|| {
                                Some(vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures])
                            });
                        if need_statistics || def.statistics.is_some() {
                            d.statistics = def.statistics.clone();
                        }
                        d.analysis_units = def
                            .analysis_units
                            .clone()
                            .filter(|u| !u.is_empty())
                            .or_else(|| d.analysis_units.clone().filter(|u| !u.is_empty()))
                            .or_else(|| Some(default_units.clone()));
                        if d.origin.file.is_none() || def.statistics.is_some() {
                            d.origin = def.origin.clone();
                        }
                        let has_sql = d.select_expression.as_ref().is_some_and(|x| !x.is_empty())
                            && d.data_source.as_ref().is_some_and(|x| !x.is_empty());
                        if !has_sql && d.depends_on.as_ref().is_none_or(|x| x.is_empty()) {
                            return Err(not_found(
                                key,
                                format!(
                                    "metric {} has no select_expression and data_source in the definitions of {}",
                                    def.name, self.app_name
                                ),
                            )
                            .at(&def.origin));
                        }
                        self.overlay
                            .borrow_mut()
                            .insert(def.name.clone(), d.clone());
                        let (m, sums) = self.metric_inner(&d, conf, stack, need_statistics)?;
                        metric = m;
                        inherited = Some(sums);
                    }
                }
            }
        }

        let mut out = Vec::new();
        match (inherited, def.statistics.as_ref().filter(|s| !s.is_empty())) {
            (Some(sums), None) => out = sums,
            (_, Some(stats)) => {
                for spec in stats.values() {
                    out.push(Summary {
                        metric: metric.clone(),
                        statistic: spec.statistic.clone(),
                        pre_treatments: spec.pre_treatments.clone(),
                    });
                }
            }
            (None, None) => {
                if need_statistics && def.statistics.is_none() {
                    return Err(ConfigError::new(
                        ErrorKind::Missing,
                        format!("{key}.statistics"),
                        format!("No statistical treatment defined for metric '{}'", def.name),
                    )
                    .at(&def.origin));
                }
            }
        }
        if need_statistics && out.is_empty() {
            return Err(ConfigError::new(
                ErrorKind::Missing,
                format!("{key}.statistics"),
                format!("Metric {} has no statistical treatment defined.", def.name),
            )
            .at(&def.origin));
        }
        for s in &out {
            self.check_statistic(def, s)?;
        }
        Ok((metric, out))
    }

    /// Cross-checks that need the whole spec: population_ratio's metrics must resolve.
    fn check_statistic(&self, def: &MetricDefinition, s: &Summary) -> Result<(), ConfigError> {
        if let Statistic::PopulationRatio {
            numerator,
            denominator,
            ..
        } = &s.statistic
        {
            let deps: Vec<&str> = s
                .metric
                .depends_on
                .as_ref()
                .map(|d| d.iter().map(|x| x.name.as_str()).collect())
                .unwrap_or_default();
            for (which, name) in [("numerator", numerator), ("denominator", denominator)] {
                let known = deps.contains(&name.as_str())
                    || self.spec.metrics.definitions.contains_key(name)
                    || self.pool_metric(name).is_some();
                if !known {
                    return Err(not_found(
                        format!("metrics.{}.statistics.population_ratio.{which}", def.name),
                        format!("population_ratio {which} {name} is not a metric of this experiment or of the {} definitions", self.app_name),
                    )
                    .with_value(format!("{name:?}"))
                    .at(&def.origin));
                }
            }
        }
        Ok(())
    }

    fn build_metric(
        &self,
        def: &MetricDefinition,
        data_source: Option<DataSource>,
        select_expression: Option<String>,
        depends_on: Option<Vec<Arc<Metric>>>,
        analysis_units: Vec<AnalysisUnit>,
    ) -> Metric {
        Metric {
            name: def.name.clone(),
            data_source,
            select_expression,
            friendly_name: dedent_opt(&def.friendly_name),
            description: dedent_opt(&def.description),
            bigger_is_better: def.bigger_is_better,
            analysis_bases: def
                .analysis_bases
                .clone()
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| vec![AnalysisBasis::Enrollments, AnalysisBasis::Exposures]),
            metric_type: def
                .metric_type
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "scalar".into()),
            category: def.category.clone(),
            depends_on,
            owner: def.owner.clone(),
            deprecated: def.deprecated,
            level: def.level,
            analysis_units,
        }
    }

    fn data_source(
        &self,
        name: &str,
        conf: &ExperimentConfiguration,
        depth: usize,
    ) -> Result<DataSource, ConfigError> {
        let def = self
            .spec
            .data_sources
            .definitions
            .get(name)
            .or_else(|| self.configs.data_source_definition(name, self.app_name))
            .ok_or_else(|| {
                not_found(
                    "data_source".into(),
                    format!(
                        "No default definition for data source '{name}' [{}] found",
                        self.app_name
                    ),
                )
                .with_value(format!("{name:?}"))
            })?;
        self.data_source_def(def, conf, depth)
            .map_err(|e| e.at(&def.origin))
    }

    fn data_source_def(
        &self,
        def: &DataSourceDefinition,
        conf: &ExperimentConfiguration,
        depth: usize,
    ) -> Result<DataSource, ConfigError> {
        let key = format!("data_sources.{}", def.name);
        if !is_valid_slug(&def.name) {
            return Err(ConfigError::new(
                ErrorKind::InvalidValue,
                key,
                format!(
                    "Invalid identifier found in name {}. Name must at least consist of one character, number or underscore. \
                     Wildcard characters are only allowed if matching slug is defined.",
                    def.name
                ),
            ));
        }
        let Some(raw_from) = def.from_expression.clone().filter(|f| !f.is_empty()) else {
            return Err(ConfigError::new(
                ErrorKind::Missing,
                format!("{key}.from_expression"),
                format!("data source {} has no from_expression", def.name),
            ));
        };
        // Jinja only when the text is valid Jinja that references `experiment`; otherwise
        // `{{...}}` stays literal (e.g. an add-on GUID) for the str.format layer.
        let jinja = self.configs.jinja();
        let templated = raw_from.contains("{{") || raw_from.contains("{%");
        let from_expression = match jinja.variables(&raw_from).filter(|_| templated) {
            Some(vars) if vars.iter().any(|v| v == "experiment") => jinja
                .render(&raw_from, &self.experiment_vars(conf))
                .map_err(|m| {
                    ConfigError::new(
                        ErrorKind::Template,
                        format!("{key}.from_expression"),
                        self.explain_experiment_error(&raw_from, conf, m),
                    )
                })?,
            _ => raw_from,
        };
        let unsupported: Vec<String> = format_fields(&from_expression)
            .into_iter()
            .filter(|f| f != "dataset")
            .collect();
        if !unsupported.is_empty() {
            return Err(ConfigError::new(
                ErrorKind::Template,
                format!("{key}.from_expression"),
                format!(
                    "{}: from_expression contains unsupported placeholder(s) {:?}; only {{dataset}} is supported, double literal braces",
                    def.name, unsupported
                ),
            ));
        }
        let default_dataset = def.default_dataset.clone().filter(|d| !d.is_empty());
        if let Err(e) = python_format(
            &from_expression,
            &default_dataset
                .as_deref()
                .map(|d| vec![("dataset", d)])
                .unwrap_or_default(),
        ) {
            let msg = match e {
                FormatError::Missing(_) => format!(
                    "{}: from_expression contains a dataset template but no value was provided.",
                    def.name
                ),
                other => format!("{}: {other}", def.name),
            };
            return Err(ConfigError::new(
                ErrorKind::Template,
                format!("{key}.from_expression"),
                msg,
            ));
        }
        let experiments_column_type = match def.experiments_column_type.as_deref().filter(|s| !s.is_empty()) {
            None => Some(ExperimentsColumnType::Simple),
            Some(s) if s.eq_ignore_ascii_case("none") => None,
            Some(s) => Some(ExperimentsColumnType::parse(s).ok_or_else(|| {
                ConfigError::new(
                    ErrorKind::InvalidValue,
                    format!("{key}.experiments_column_type"),
                    "experiments_column_type must be one of: none, simple, native, glean, events_stream",
                )
                .with_value(format!("{s:?}"))
            })?),
        };
        let mut joins = Vec::new();
        if let Some(js) = &def.joins {
            if depth > 8 {
                return Err(ConfigError::new(
                    ErrorKind::InvalidValue,
                    format!("{key}.joins"),
                    "data source joins nest too deeply (a join cycle?)",
                ));
            }
            for (other, j) in js {
                joins.push(DataSourceJoin {
                    data_source: self
                        .data_source(other, conf, depth + 1)
                        .map_err(|e| e.under(&format!("{key}.joins")))?,
                    relationship: j.relationship,
                    on_expression: j.on_expression.clone(),
                });
            }
        }
        let s = |v: &Option<String>, d: &str| {
            v.clone()
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Ok(DataSource {
            name: def.name.clone(),
            from_expression,
            experiments_column_type,
            client_id_column: s(&def.client_id_column, "client_id"),
            submission_date_column: s(&def.submission_date_column, "submission_date"),
            default_dataset,
            build_id_column: s(
                &def.build_id_column,
                "SAFE.SUBSTR(application.build_id, 0, 8)",
            ),
            friendly_name: def.friendly_name.clone(),
            description: def.description.clone(),
            joins,
            columns_as_dimensions: def.columns_as_dimensions.unwrap_or(false),
            analysis_units: def
                .analysis_units
                .clone()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| self.default_units()),
            group_id_column: s(&def.group_id_column, "profile_group_id"),
            glean_client_id_column: def.glean_client_id_column.clone().filter(|x| !x.is_empty()),
            legacy_client_id_column: def
                .legacy_client_id_column
                .clone()
                .filter(|x| !x.is_empty()),
        })
    }

    fn segment(&self, name: &str, conf: &ExperimentConfiguration) -> Result<Segment, ConfigError> {
        let def = self
            .spec
            .segments
            .definitions
            .get(name)
            .or_else(|| self.configs.segment_definition(name, self.app_name))
            .ok_or_else(|| {
                not_found(
                    "experiment.segments".into(),
                    format!("Could not find definition for segment '{name}'"),
                )
                .with_value(format!("{name:?}"))
            })?;
        let key = format!("segments.{}", def.name);
        let ds_def = self
            .spec
            .segments
            .data_sources
            .get(&def.data_source)
            .or_else(|| {
                self.configs
                    .segment_data_source_definition(&def.data_source, self.app_name)
            })
            .ok_or_else(|| {
                not_found(
                    format!("{key}.data_source"),
                    format!(
                        "Could not find definition for segment data source '{}'",
                        def.data_source
                    ),
                )
                .with_value(format!("{:?}", def.data_source))
                .at(&def.origin)
            })?;
        let from_expression = self
            .configs
            .jinja()
            .render(&ds_def.from_expression, &self.experiment_vars(conf))
            .map_err(|m| {
                ConfigError::new(
                    ErrorKind::Template,
                    format!("segments.data_sources.{}.from_expression", ds_def.name),
                    self.explain_experiment_error(&ds_def.from_expression, conf, m),
                )
                .at(&ds_def.origin)
            })?;
        let select_expression = self
            .configs
            .jinja()
            .render(&def.select_expression, &BTreeMap::new())
            .map_err(|m| {
                ConfigError::new(ErrorKind::Template, format!("{key}.select_expression"), m)
                    .at(&def.origin)
            })?;
        let s = |v: &Option<String>, d: &str| {
            v.clone()
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| d.to_string())
        };
        Ok(Segment {
            name: def.name.clone(),
            data_source: SegmentDataSource {
                name: ds_def.name.clone(),
                from_expression,
                window_start: ds_def.window_start,
                window_end: ds_def.window_end,
                client_id_column: s(&ds_def.client_id_column, "client_id"),
                submission_date_column: s(&ds_def.submission_date_column, "submission_date"),
                default_dataset: ds_def.default_dataset.clone(),
                group_id_column: s(&ds_def.group_id_column, "profile_group_id"),
                glean_client_id_column: ds_def.glean_client_id_column.clone(),
                legacy_client_id_column: ds_def.legacy_client_id_column.clone(),
            },
            select_expression,
            friendly_name: dedent_opt(&def.friendly_name),
            description: dedent_opt(&def.description),
        })
    }
}

/// Resolve one data source of `spec` (falling back to the platform definitions), e.g. to check
/// its templates.
pub fn check_data_source(
    spec: &AnalysisSpec,
    configs: &ConfigCollection,
    conf: &ExperimentConfiguration,
    name: &str,
) -> Result<DataSource, ConfigError> {
    let r = Resolver {
        spec,
        configs,
        app_name: conf.app_name(),
        overlay: RefCell::new(IndexMap::new()),
    };
    r.data_source(name, conf, 0)
}

/// An origin-less helper for callers that need to say where an experiment came from.
pub fn origin_of(path: &std::path::Path) -> Origin {
    Origin::new(Some(Arc::from(path)), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedent_like_python() {
        assert_eq!(dedent("  a\n    b\n"), "a\n  b\n");
        assert_eq!(dedent("a\n  b"), "a\n  b");
        assert_eq!(dedent("\n    x\n    y"), "\nx\ny");
    }
}
