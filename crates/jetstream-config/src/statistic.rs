//! Statistics and pre-treatments with typed, validated parameters and the reference defaults.

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::enums::AnalysisPeriod;
use crate::error::ErrorKind;
use crate::tree::{Node, Reader, Table, Val, join};

/// The names of every statistic jetstream knows, as written in configs.
pub const STATISTIC_NAMES: &[&str] = &[
    "bootstrap_mean",
    "binomial",
    "count",
    "deciles",
    "empirical_cdf",
    "kernel_density_estimate",
    "linear_model_mean",
    "per_client_dau_impact",
    "population_ratio",
    "sum",
];

/// The names of every pre-treatment jetstream knows, as written in configs.
pub const PRE_TREATMENT_NAMES: &[&str] = &[
    "remove_nulls",
    "remove_indefinites",
    "censor_highest_values",
    "censor_lowest_values",
    "censor_values_below_threshold",
    "censor_values_above_threshold",
    "normalize_over_analysis_period",
    "log",
    "zero_fill",
];

/// KDE bandwidth: a rule name or a fixed value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Bandwidth {
    /// `scott` or `silverman`.
    Rule(String),
    /// A fixed bandwidth.
    Value(f64),
}

/// `covariate_adjustment = { period = "preenrollment_week" }` of linear-model statistics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CovariateAdjustment {
    /// The pre-enrollment period whose value is the covariate.
    pub period: AnalysisPeriod,
    /// The covariate metric (default: the same metric).
    pub metric: Option<String>,
}

/// `always_valid = true` on `bootstrap_mean`, `binomial` or `linear_model_mean`: the
/// comparison intervals (difference, relative uplift) come from an asymptotic confidence
/// sequence, valid however often and whenever they are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AlwaysValid {
    /// Error rate over all looks (`alpha`, default 0.05).
    pub alpha: f64,
    /// Sample size the boundary is tightest at (`tuning_sample_size`; default: the clients
    /// analysed, all branches).
    pub tuning_sample_size: Option<u64>,
}

/// A statistic with all of its parameters resolved to their values or the reference defaults.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Statistic {
    /// Number of clients per branch.
    Count,
    /// Sum of the metric per branch.
    Sum,
    /// Bayesian bootstrap of the mean.
    BootstrapMean {
        /// Bootstrap replicates.
        num_samples: u32,
        /// Fraction of the highest values clipped before resampling.
        drop_highest: f64,
        /// Width of the reported interval.
        confidence_interval: f64,
        /// Always-valid comparison intervals.
        always_valid: Option<AlwaysValid>,
    },
    /// Beta-binomial posterior of a proportion.
    Binomial {
        /// Width of the reported interval.
        confidence_interval: f64,
        /// Always-valid comparison intervals.
        always_valid: Option<AlwaysValid>,
    },
    /// Bootstrapped deciles.
    Deciles {
        /// Width of the reported interval.
        confidence_interval: f64,
        /// Bootstrap replicates.
        num_samples: u32,
    },
    /// Gaussian kernel density estimate on a grid.
    KernelDensityEstimate {
        /// Bandwidth rule or value.
        bandwidth: Bandwidth,
        /// Bandwidth multiplier (only 1.0 is supported, as in the reference).
        adjust: f64,
        /// Kernel name.
        kernel: String,
        /// Number of grid points.
        grid_size: u32,
        /// Use a geometric grid.
        log_space: bool,
    },
    /// Empirical CDF on a grid.
    EmpiricalCdf {
        /// Use a geometric grid.
        log_space: bool,
        /// Number of grid points.
        grid_size: u32,
    },
    /// Ratio of two metrics' means, bootstrapped.
    PopulationRatio {
        /// Numerator metric.
        numerator: String,
        /// Denominator metric.
        denominator: String,
        /// Width of the reported interval.
        confidence_interval: f64,
        /// Fraction of the highest values clipped.
        drop_highest: f64,
        /// Bootstrap replicates.
        num_samples: u32,
    },
    /// OLS mean with optional pre-period covariate.
    LinearModelMean {
        /// Fraction of the highest values clipped.
        drop_highest: f64,
        /// Optional covariate.
        covariate_adjustment: Option<CovariateAdjustment>,
        /// Always-valid comparison intervals.
        always_valid: Option<AlwaysValid>,
    },
    /// Linear-model difference scaled by the number of clients.
    PerClientDauImpact {
        /// Fraction of the highest values clipped.
        drop_highest: f64,
        /// Optional covariate.
        covariate_adjustment: Option<CovariateAdjustment>,
    },
}

impl Statistic {
    /// The config name (`bootstrap_mean`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Statistic::Count => "count",
            Statistic::Sum => "sum",
            Statistic::BootstrapMean { .. } => "bootstrap_mean",
            Statistic::Binomial { .. } => "binomial",
            Statistic::Deciles { .. } => "deciles",
            Statistic::KernelDensityEstimate { .. } => "kernel_density_estimate",
            Statistic::EmpiricalCdf { .. } => "empirical_cdf",
            Statistic::PopulationRatio { .. } => "population_ratio",
            Statistic::LinearModelMean { .. } => "linear_model_mean",
            Statistic::PerClientDauImpact { .. } => "per_client_dau_impact",
        }
    }

    /// Every parameter with its effective value, as a JSON object.
    pub fn params(&self) -> Map<String, Json> {
        let v = match self {
            Statistic::Count | Statistic::Sum => json!({}),
            Statistic::BootstrapMean {
                num_samples,
                drop_highest,
                confidence_interval,
                always_valid,
            } => with_always_valid(
                json!({
                    "num_samples": num_samples,
                    "drop_highest": drop_highest,
                    "confidence_interval": confidence_interval,
                }),
                always_valid,
            ),
            Statistic::Binomial {
                confidence_interval,
                always_valid,
            } => with_always_valid(
                json!({ "confidence_interval": confidence_interval }),
                always_valid,
            ),
            Statistic::Deciles {
                confidence_interval,
                num_samples,
            } => json!({ "confidence_interval": confidence_interval, "num_samples": num_samples }),
            Statistic::KernelDensityEstimate {
                bandwidth,
                adjust,
                kernel,
                grid_size,
                log_space,
            } => json!({
                "bandwidth": bandwidth,
                "adjust": adjust,
                "kernel": kernel,
                "grid_size": grid_size,
                "log_space": log_space,
            }),
            Statistic::EmpiricalCdf {
                log_space,
                grid_size,
            } => json!({ "log_space": log_space, "grid_size": grid_size }),
            Statistic::PopulationRatio {
                numerator,
                denominator,
                confidence_interval,
                drop_highest,
                num_samples,
            } => json!({
                "numerator": numerator,
                "denominator": denominator,
                "confidence_interval": confidence_interval,
                "drop_highest": drop_highest,
                "num_samples": num_samples,
            }),
            Statistic::LinearModelMean {
                drop_highest,
                covariate_adjustment,
                always_valid,
            } => with_always_valid(
                json!({
                    "drop_highest": drop_highest,
                    "covariate_adjustment": covariate_adjustment,
                }),
                always_valid,
            ),
            Statistic::PerClientDauImpact {
                drop_highest,
                covariate_adjustment,
            } => json!({
                "drop_highest": drop_highest,
                "covariate_adjustment": covariate_adjustment,
            }),
        };
        match v {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The always-valid setting of the statistics that take one.
    pub fn always_valid(&self) -> Option<AlwaysValid> {
        match self {
            Statistic::BootstrapMean { always_valid, .. }
            | Statistic::Binomial { always_valid, .. }
            | Statistic::LinearModelMean { always_valid, .. } => *always_valid,
            _ => None,
        }
    }

    /// The covariate adjustment of linear-model statistics.
    pub fn covariate_adjustment(&self) -> Option<CovariateAdjustment> {
        match self {
            Statistic::LinearModelMean {
                covariate_adjustment,
                ..
            }
            | Statistic::PerClientDauImpact {
                covariate_adjustment,
                ..
            } => covariate_adjustment.clone(),
            _ => None,
        }
    }
}

/// `params` plus `always_valid`, `alpha` and `tuning_sample_size` when they are set (a
/// statistic without them shows exactly what it showed before).
fn with_always_valid(mut params: Json, always_valid: &Option<AlwaysValid>) -> Json {
    if let (Some(a), Json::Object(m)) = (always_valid, &mut params) {
        m.insert("always_valid".into(), json!(true));
        m.insert("alpha".into(), json!(a.alpha));
        m.insert("tuning_sample_size".into(), json!(a.tuning_sample_size));
    }
    params
}

/// A pre-treatment applied to a metric column before a statistic.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "name", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PreTreatment {
    /// Drop rows whose value is NULL (infinities are kept).
    RemoveNulls,
    /// Turn `+inf` into NULL and drop NULL rows.
    RemoveIndefinites,
    /// Keep values strictly below the `fraction` quantile.
    CensorHighestValues {
        /// Quantile (default `1 - 1e-5`).
        fraction: f64,
    },
    /// Keep values strictly above the `fraction` quantile.
    CensorLowestValues {
        /// Quantile (default `1e-5`).
        fraction: f64,
    },
    /// Keep values strictly above `threshold`.
    CensorValuesBelowThreshold {
        /// Threshold.
        threshold: f64,
    },
    /// Keep values strictly below `threshold`.
    CensorValuesAboveThreshold {
        /// Threshold.
        threshold: f64,
    },
    /// Divide by the number of days in the analysis window.
    NormalizeOverAnalysisPeriod,
    /// `log(value) / log(base)`; natural log when `base` is absent.
    Log {
        /// Base (default 10).
        base: Option<f64>,
    },
    /// Replace NULL by 0.
    ZeroFill,
}

impl PreTreatment {
    /// The config name.
    pub fn name(&self) -> &'static str {
        match self {
            PreTreatment::RemoveNulls => "remove_nulls",
            PreTreatment::RemoveIndefinites => "remove_indefinites",
            PreTreatment::CensorHighestValues { .. } => "censor_highest_values",
            PreTreatment::CensorLowestValues { .. } => "censor_lowest_values",
            PreTreatment::CensorValuesBelowThreshold { .. } => "censor_values_below_threshold",
            PreTreatment::CensorValuesAboveThreshold { .. } => "censor_values_above_threshold",
            PreTreatment::NormalizeOverAnalysisPeriod => "normalize_over_analysis_period",
            PreTreatment::Log { .. } => "log",
            PreTreatment::ZeroFill => "zero_fill",
        }
    }

    /// Build a pre-treatment from its name and `key=value` arguments (used by the CLI).
    pub fn from_args(name: &str, args: &[(String, f64)]) -> Result<Self, String> {
        let get = |k: &str| args.iter().find(|(key, _)| key == k).map(|(_, v)| *v);
        let allowed: &[&str] = match name {
            "censor_highest_values" | "censor_lowest_values" => &["fraction"],
            "censor_values_below_threshold" | "censor_values_above_threshold" => &["threshold"],
            "log" => &["base"],
            "normalize_over_analysis_period" => &["analysis_period_length"],
            _ => &[],
        };
        if let Some((k, _)) = args.iter().find(|(k, _)| !allowed.contains(&k.as_str())) {
            return Err(format!("pre-treatment {name} has no parameter {k:?}"));
        }
        let need =
            |k: &str| get(k).ok_or_else(|| format!("pre-treatment {name} needs parameter {k:?}"));
        Ok(match name {
            "remove_nulls" => PreTreatment::RemoveNulls,
            "remove_indefinites" => PreTreatment::RemoveIndefinites,
            "censor_highest_values" => PreTreatment::CensorHighestValues {
                fraction: get("fraction").unwrap_or(1.0 - 1e-5),
            },
            "censor_lowest_values" => PreTreatment::CensorLowestValues {
                fraction: get("fraction").unwrap_or(1e-5),
            },
            "censor_values_below_threshold" => PreTreatment::CensorValuesBelowThreshold {
                threshold: need("threshold")?,
            },
            "censor_values_above_threshold" => PreTreatment::CensorValuesAboveThreshold {
                threshold: need("threshold")?,
            },
            "normalize_over_analysis_period" => PreTreatment::NormalizeOverAnalysisPeriod,
            "log" => PreTreatment::Log {
                base: Some(get("base").unwrap_or(10.0)),
            },
            "zero_fill" => PreTreatment::ZeroFill,
            other => return Err(format!("Could not find pre-treatment {other}.")),
        })
    }
}

/// A statistic as declared in a `[metrics.<m>.statistics.<name>]` table, parsed and validated.
#[derive(Debug, Clone, PartialEq)]
pub struct StatisticSpec {
    /// The statistic with its parameters.
    pub statistic: Statistic,
    /// Pre-treatments, in config order.
    pub pre_treatments: Vec<PreTreatment>,
}

fn check_unknown(r: &mut Reader, key: &str, table: &Table, allowed: &[&str]) {
    for e in &table.entries {
        if e.key != "pre_treatments" && !allowed.contains(&e.key.as_str()) {
            let mut expected: Vec<&str> = allowed.to_vec();
            expected.push("pre_treatments");
            r.error(
                ErrorKind::UnknownKey,
                &join(key, &e.key),
                &e.node,
                format!(
                    "not a parameter of this statistic (expected one of: {})",
                    expected.join(", ")
                ),
            );
        }
    }
}

fn fraction(
    r: &mut Reader,
    key: &str,
    table: &Table,
    name: &str,
    default: f64,
    closed_upper: bool,
) -> f64 {
    let Some(node) = table.get(name) else {
        return default;
    };
    let k = join(key, name);
    match r.number(&k, node) {
        Some(v) if v >= 0.0 && (v < 1.0 || (closed_upper && v <= 1.0)) => v,
        Some(_) => {
            let range = if closed_upper { "[0, 1]" } else { "[0, 1)" };
            r.error(
                ErrorKind::InvalidValue,
                &k,
                node,
                format!("must be in {range}"),
            );
            default
        }
        None => default,
    }
}

fn confidence(r: &mut Reader, key: &str, table: &Table) -> f64 {
    let Some(node) = table.get("confidence_interval") else {
        return 0.95;
    };
    let k = join(key, "confidence_interval");
    match r.number(&k, node) {
        Some(v) if v > 0.0 && v < 1.0 => v,
        Some(_) => {
            r.error(
                ErrorKind::InvalidValue,
                &k,
                node,
                "must be between 0 and 1 (exclusive)",
            );
            0.95
        }
        None => 0.95,
    }
}

fn positive_int(
    r: &mut Reader,
    key: &str,
    table: &Table,
    name: &str,
    default: u32,
    min: i64,
) -> u32 {
    let Some(node) = table.get(name) else {
        return default;
    };
    let k = join(key, name);
    match r.integer(&k, node) {
        Some(v) if v >= min && v <= i64::from(u32::MAX) => v as u32,
        Some(_) => {
            r.error(
                ErrorKind::InvalidValue,
                &k,
                node,
                format!("must be an integer >= {min}"),
            );
            default
        }
        None => default,
    }
}

/// The keys of an always-valid statistic.
const ALWAYS_VALID_KEYS: [&str; 3] = ["always_valid", "alpha", "tuning_sample_size"];

/// `always_valid = true` with its `alpha` (in (0, 0.5)) and `tuning_sample_size` (>= 1); the
/// other two keys without it are an error (they would silently do nothing).
fn always_valid(r: &mut Reader, key: &str, table: &Table) -> Option<AlwaysValid> {
    let on = flag(r, key, table, "always_valid");
    if !on {
        for name in &ALWAYS_VALID_KEYS[1..] {
            if let Some(node) = table.get(name) {
                r.error(
                    ErrorKind::InvalidValue,
                    &join(key, name),
                    node,
                    "only applies with `always_valid = true`",
                );
            }
        }
        return None;
    }
    let alpha = match table.get("alpha") {
        None => 0.05,
        Some(node) => {
            let k = join(key, "alpha");
            match r.number(&k, node) {
                Some(v) if v > 0.0 && v < 0.5 => v,
                Some(_) => {
                    r.error(ErrorKind::InvalidValue, &k, node, "must be in (0, 0.5)");
                    0.05
                }
                None => 0.05,
            }
        }
    };
    let tuning_sample_size = table
        .get("tuning_sample_size")
        .map(|_| u64::from(positive_int(r, key, table, "tuning_sample_size", 1, 1)));
    Some(AlwaysValid {
        alpha,
        tuning_sample_size,
    })
}

fn flag(r: &mut Reader, key: &str, table: &Table, name: &str) -> bool {
    table
        .get(name)
        .and_then(|n| r.boolean(&join(key, name), n))
        .unwrap_or(false)
}

fn covariate(r: &mut Reader, key: &str, table: &Table) -> Option<CovariateAdjustment> {
    let node = table.get("covariate_adjustment")?;
    let k = join(key, "covariate_adjustment");
    let t = r.table(&k, node)?;
    let mut metric = None;
    for e in &t.entries {
        match e.key.as_str() {
            "period" => {}
            "metric" => metric = r.string(&join(&k, "metric"), &e.node),
            _ => r.error(
                ErrorKind::UnknownKey,
                &join(&k, &e.key),
                &e.node,
                "covariate_adjustment only takes `period` and `metric`",
            ),
        }
    }
    let Some(pnode) = t.get("period") else {
        r.error_at(
            ErrorKind::Missing,
            &join(&k, "period"),
            Some(node.line),
            "covariate_adjustment needs a `period`",
        );
        return None;
    };
    let pk = join(&k, "period");
    let p = r.string(&pk, pnode)?;
    match AnalysisPeriod::parse(&p) {
        Some(period) if period.is_preenrollment() => Some(CovariateAdjustment { period, metric }),
        _ => {
            r.error(
                ErrorKind::InvalidValue,
                &pk,
                pnode,
                "Covariate adjustment must be done using a pre-treatment analysis period (one of: ['preenrollment_week', 'preenrollment_days28'])",
            );
            None
        }
    }
}

/// Parse one statistic table. `key` is the path of the table, `name` the statistic name.
pub(crate) fn parse_statistic(
    r: &mut Reader,
    key: &str,
    name: &str,
    node: &Node,
) -> Option<StatisticSpec> {
    let empty = Table::default();
    let table = match &node.val {
        Val::Table(t) => t,
        _ => {
            r.table(key, node);
            &empty
        }
    };
    let errors_before = r.errors.len();
    let statistic = match name {
        "count" => {
            check_unknown(r, key, table, &[]);
            Statistic::Count
        }
        "sum" => {
            check_unknown(r, key, table, &[]);
            Statistic::Sum
        }
        "bootstrap_mean" => {
            check_unknown(
                r,
                key,
                table,
                &[
                    "num_samples",
                    "drop_highest",
                    "confidence_interval",
                    ALWAYS_VALID_KEYS[0],
                    ALWAYS_VALID_KEYS[1],
                    ALWAYS_VALID_KEYS[2],
                ],
            );
            Statistic::BootstrapMean {
                num_samples: positive_int(r, key, table, "num_samples", 10_000, 1),
                drop_highest: fraction(r, key, table, "drop_highest", 0.005, false),
                confidence_interval: confidence(r, key, table),
                always_valid: always_valid(r, key, table),
            }
        }
        "binomial" => {
            let mut allowed = vec!["confidence_interval"];
            allowed.extend(ALWAYS_VALID_KEYS);
            check_unknown(r, key, table, &allowed);
            Statistic::Binomial {
                confidence_interval: confidence(r, key, table),
                always_valid: always_valid(r, key, table),
            }
        }
        "deciles" => {
            check_unknown(r, key, table, &["confidence_interval", "num_samples"]);
            Statistic::Deciles {
                confidence_interval: confidence(r, key, table),
                num_samples: positive_int(r, key, table, "num_samples", 10_000, 1),
            }
        }
        "kernel_density_estimate" => {
            check_unknown(
                r,
                key,
                table,
                &["bandwidth", "adjust", "kernel", "grid_size", "log_space"],
            );
            let bandwidth = match table.get("bandwidth") {
                None => Bandwidth::Rule("scott".into()),
                Some(n) => match &n.val {
                    Val::Str(s) if s == "scott" || s == "silverman" => Bandwidth::Rule(s.clone()),
                    Val::Int(_) | Val::Float(_) => {
                        let v = r.number(&join(key, "bandwidth"), n).unwrap_or(1.0);
                        if v <= 0.0 {
                            r.error(
                                ErrorKind::InvalidValue,
                                &join(key, "bandwidth"),
                                n,
                                "must be positive",
                            );
                        }
                        Bandwidth::Value(v)
                    }
                    _ => {
                        r.error(
                            ErrorKind::InvalidValue,
                            &join(key, "bandwidth"),
                            n,
                            "expected \"scott\", \"silverman\" or a positive number",
                        );
                        Bandwidth::Rule("scott".into())
                    }
                },
            };
            let adjust = match table.get("adjust") {
                None => 1.0,
                Some(n) => {
                    let v = r.number(&join(key, "adjust"), n).unwrap_or(1.0);
                    if v != 1.0 {
                        r.error(
                            ErrorKind::InvalidValue,
                            &join(key, "adjust"),
                            n,
                            "KDE Adjust parameter no longer supported",
                        );
                    }
                    v
                }
            };
            let kernel = match table.get("kernel") {
                None => "gaussian".to_string(),
                Some(n) => {
                    let k = join(key, "kernel");
                    let s = r.string(&k, n).unwrap_or_else(|| "gaussian".into());
                    const KERNELS: &[&str] = &[
                        "gaussian",
                        "tophat",
                        "epanechnikov",
                        "exponential",
                        "linear",
                        "cosine",
                    ];
                    if !KERNELS.contains(&s.as_str()) {
                        r.error(
                            ErrorKind::InvalidValue,
                            &k,
                            n,
                            format!("expected one of: {}", KERNELS.join(", ")),
                        );
                    }
                    s
                }
            };
            Statistic::KernelDensityEstimate {
                bandwidth,
                adjust,
                kernel,
                grid_size: positive_int(r, key, table, "grid_size", 256, 2),
                log_space: flag(r, key, table, "log_space"),
            }
        }
        "empirical_cdf" => {
            check_unknown(r, key, table, &["log_space", "grid_size"]);
            Statistic::EmpiricalCdf {
                log_space: flag(r, key, table, "log_space"),
                grid_size: positive_int(r, key, table, "grid_size", 256, 2),
            }
        }
        "population_ratio" => {
            check_unknown(
                r,
                key,
                table,
                &[
                    "numerator",
                    "denominator",
                    "confidence_interval",
                    "drop_highest",
                    "num_samples",
                ],
            );
            let mut metric_name = |which: &str| match table.get(which) {
                Some(n) => r.string(&join(key, which), n).unwrap_or_default(),
                None => {
                    r.error_at(
                        ErrorKind::Missing,
                        &join(key, which),
                        Some(node.line),
                        format!("population_ratio needs `{which}` (a metric name)"),
                    );
                    String::new()
                }
            };
            let numerator = metric_name("numerator");
            let denominator = metric_name("denominator");
            Statistic::PopulationRatio {
                numerator,
                denominator,
                confidence_interval: confidence(r, key, table),
                drop_highest: fraction(r, key, table, "drop_highest", 0.005, false),
                num_samples: positive_int(r, key, table, "num_samples", 10_000, 1),
            }
        }
        "linear_model_mean" | "per_client_dau_impact" => {
            let mut allowed = vec!["drop_highest", "covariate_adjustment"];
            if name == "linear_model_mean" {
                allowed.extend(ALWAYS_VALID_KEYS);
            }
            check_unknown(r, key, table, &allowed);
            let default = if name == "linear_model_mean" {
                0.005
            } else {
                0.0
            };
            let drop_highest = fraction(r, key, table, "drop_highest", default, false);
            let covariate_adjustment = covariate(r, key, table);
            if name == "linear_model_mean" {
                Statistic::LinearModelMean {
                    drop_highest,
                    covariate_adjustment,
                    always_valid: always_valid(r, key, table),
                }
            } else {
                Statistic::PerClientDauImpact {
                    drop_highest,
                    covariate_adjustment,
                }
            }
        }
        other => {
            r.error(
                ErrorKind::InvalidValue,
                key,
                node,
                format!(
                    "Statistic '{other}' does not exist (expected one of: {})",
                    STATISTIC_NAMES.join(", ")
                ),
            );
            return None;
        }
    };
    let pre_treatments = match table.get("pre_treatments") {
        Some(n) => parse_pre_treatments(r, &join(key, "pre_treatments"), n),
        None => Vec::new(),
    };
    (r.errors.len() == errors_before).then_some(StatisticSpec {
        statistic,
        pre_treatments,
    })
}

fn parse_pre_treatments(r: &mut Reader, key: &str, node: &Node) -> Vec<PreTreatment> {
    let Val::Array(items) = &node.val else {
        r.error(
            ErrorKind::WrongType,
            key,
            node,
            format!("expected an array, found {}", node.val.type_name()),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let k = format!("{key}[{i}]");
        let (name, args): (String, Vec<(String, f64)>) = match &item.val {
            Val::Str(s) => (s.clone(), Vec::new()),
            Val::Table(t) => {
                let Some(name_node) = t.get("name") else {
                    r.error(
                        ErrorKind::Missing,
                        &k,
                        item,
                        "a pre-treatment table needs a `name`",
                    );
                    continue;
                };
                let Some(name) = r.string(&join(&k, "name"), name_node) else {
                    continue;
                };
                let mut args = Vec::new();
                for e in t.entries.iter().filter(|e| e.key != "name") {
                    if let Some(v) = r.number(&join(&k, &e.key), &e.node) {
                        args.push((e.key.clone(), v));
                    }
                }
                (name, args)
            }
            _ => {
                r.error(
                    ErrorKind::WrongType,
                    &k,
                    item,
                    "expected a pre-treatment name or table",
                );
                continue;
            }
        };
        if !PRE_TREATMENT_NAMES.contains(&name.as_str()) {
            r.error(
                ErrorKind::InvalidValue,
                &k,
                item,
                format!(
                    "Could not find pre-treatment {name}. (expected one of: {})",
                    PRE_TREATMENT_NAMES.join(", ")
                ),
            );
            continue;
        }
        match PreTreatment::from_args(&name, &args) {
            Ok(pt) => out.push(pt),
            Err(msg) => r.error(ErrorKind::InvalidValue, &k, item, msg),
        }
    }
    out
}

/// Build a statistic from `key=value` parameters and pre-treatments given as
/// `(name, [(key, value)])`, with the same validation (and messages) as a config file.
/// Values that parse as numbers or booleans are typed accordingly; others are strings.
pub fn statistic_from_params(
    name: &str,
    params: &[(String, String)],
    pre_treatments: &[(String, Vec<(String, String)>)],
) -> Result<StatisticSpec, crate::error::ConfigErrors> {
    fn value(v: &str) -> String {
        if v == "true" || v == "false" || v.parse::<f64>().is_ok() {
            v.to_string()
        } else {
            format!("{v:?}")
        }
    }
    let mut text = String::from("[s]\n");
    for (k, v) in params {
        text.push_str(&format!("{k:?} = {}\n", value(v)));
    }
    if !pre_treatments.is_empty() {
        let items: Vec<String> = pre_treatments
            .iter()
            .map(|(n, args)| {
                let mut fields = vec![format!("name = {n:?}")];
                fields.extend(args.iter().map(|(k, v)| format!("{k:?} = {}", value(v))));
                format!("{{ {} }}", fields.join(", "))
            })
            .collect();
        text.push_str(&format!("pre_treatments = [{}]\n", items.join(", ")));
    }
    let table = crate::tree::parse_toml(&text).map_err(crate::error::ConfigErrors::from)?;
    let mut r = Reader::new(None);
    let node = table.get("s").cloned().unwrap_or(Node {
        val: Val::Table(Table::default()),
        line: 1,
    });
    let spec = parse_statistic(&mut r, name, name, &node);
    match spec {
        Some(s) if r.errors.is_empty() => Ok(s),
        _ => Err(crate::error::ConfigErrors(
            r.errors
                .into_iter()
                .map(|mut e| {
                    e.line = None;
                    e
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_and_validated() {
        let s = statistic_from_params(
            "bootstrap_mean",
            &[("drop_highest".into(), "0.01".into())],
            &[],
        )
        .unwrap();
        assert!(
            matches!(s.statistic, Statistic::BootstrapMean { drop_highest, num_samples: 10_000, .. } if drop_highest == 0.01)
        );
        let e = statistic_from_params(
            "bootstrap_mean",
            &[("drop_highest".into(), "lots".into())],
            &[],
        )
        .unwrap_err();
        assert_eq!(e.0[0].key, "bootstrap_mean.drop_highest");
        let e = statistic_from_params("bootstrap_mean", &[("nope".into(), "1".into())], &[])
            .unwrap_err();
        assert_eq!(e.0[0].kind, ErrorKind::UnknownKey);
        let e = statistic_from_params("mean_of_things", &[], &[]).unwrap_err();
        assert!(e.0[0].message.contains("does not exist"));
        let s = statistic_from_params(
            "deciles",
            &[],
            &[("log".into(), vec![("base".into(), "2".into())])],
        )
        .unwrap();
        assert_eq!(
            s.pre_treatments,
            vec![PreTreatment::Log { base: Some(2.0) }]
        );
    }

    #[test]
    fn always_valid_parameters() {
        let p = |stat: &str, kv: &[(&str, &str)]| {
            let kv: Vec<(String, String)> = kv
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            statistic_from_params(stat, &kv, &[])
        };
        for stat in ["bootstrap_mean", "binomial", "linear_model_mean"] {
            let s = p(stat, &[("always_valid", "true")]).unwrap();
            assert_eq!(
                s.statistic.always_valid(),
                Some(AlwaysValid {
                    alpha: 0.05,
                    tuning_sample_size: None
                }),
                "{stat}"
            );
            let params = s.statistic.params();
            assert_eq!(params["always_valid"], json!(true), "{stat}");
            let s = p(
                stat,
                &[
                    ("always_valid", "true"),
                    ("alpha", "0.1"),
                    ("tuning_sample_size", "5000"),
                ],
            )
            .unwrap();
            assert_eq!(
                s.statistic.always_valid(),
                Some(AlwaysValid {
                    alpha: 0.1,
                    tuning_sample_size: Some(5000)
                })
            );
            // without it, nothing changes (and the parameters say nothing of it)
            let s = p(stat, &[]).unwrap();
            assert_eq!(s.statistic.always_valid(), None);
            assert!(!s.statistic.params().contains_key("always_valid"));
            // alpha alone would silently do nothing: an error naming the key
            let e = p(stat, &[("alpha", "0.1")]).unwrap_err();
            assert_eq!(e.0[0].key, format!("{stat}.alpha"), "{stat}");
            assert!(e.0[0].message.contains("always_valid = true"));
            let e = p(stat, &[("always_valid", "true"), ("alpha", "0.7")]).unwrap_err();
            assert_eq!(e.0[0].key, format!("{stat}.alpha"));
            let e = p(
                stat,
                &[("always_valid", "true"), ("tuning_sample_size", "0")],
            )
            .unwrap_err();
            assert_eq!(e.0[0].key, format!("{stat}.tuning_sample_size"));
        }
        // not a parameter of the others
        let e = p("deciles", &[("always_valid", "true")]).unwrap_err();
        assert_eq!(e.0[0].kind, ErrorKind::UnknownKey);
        let e = p("per_client_dau_impact", &[("always_valid", "true")]).unwrap_err();
        assert_eq!(e.0[0].kind, ErrorKind::UnknownKey);
    }
}
