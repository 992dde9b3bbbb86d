//! Result rows shaped like the reference's statistics table.

/// `comparison` of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// `focus - reference`.
    Difference,
    /// `focus / reference - 1`.
    RelativeUplift,
}

impl Comparison {
    /// Spelling in outputs.
    pub fn as_str(self) -> &'static str {
        match self {
            Comparison::Difference => "difference",
            Comparison::RelativeUplift => "relative_uplift",
        }
    }
}

/// One row of a statistics table or view (`StatisticResult`, schema version 4): the one
/// statistics-row type of every crate that computes, stores, exports or reports them.
/// Serialized with the reference's keys in its order ([`Row::FIELDS`]; NULL as `null`,
/// `window_index` left out when unset).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Row {
    /// Metric slug (`identity` for counts).
    pub metric: String,
    /// Output statistic name (`mean`, `mean_lm`, `binomial`, `deciles`, ...).
    pub statistic: String,
    /// x-value for distributions, formatted as the reference (`str(round(v, 6))`).
    pub parameter: Option<String>,
    /// Branch.
    pub branch: String,
    /// `None` for per-branch rows.
    pub comparison: Option<Comparison>,
    /// Reference branch of a comparison.
    pub comparison_to_branch: Option<String>,
    /// Interval width.
    pub ci_width: Option<f64>,
    /// Point estimate (None for NaN/inf).
    pub point: Option<f64>,
    /// Lower bound.
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
    /// Segment (`all` by default).
    pub segment: String,
    /// `enrollments` or `exposures`.
    pub analysis_basis: String,
    /// The window of a row read from a statistics view (1 for overall); `None` while computed,
    /// and in a window's own table, which holds one window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_index: Option<i64>,
}

impl Row {
    /// The keys of a row, in the reference's order: the columns of a statistics view and the
    /// keys of its export. A statistics table has all but the last.
    pub const FIELDS: [&'static str; 13] = [
        "metric",
        "statistic",
        "parameter",
        "branch",
        "comparison",
        "comparison_to_branch",
        "ci_width",
        "point",
        "lower",
        "upper",
        "segment",
        "analysis_basis",
        "window_index",
    ];

    /// The keys every row has a value for (the export schema's `required`).
    pub const REQUIRED: [&'static str; 3] = ["metric", "statistic", "branch"];
}

/// NaN and ±inf become NULL.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Python `str(round(v, 6))` for a float: correctly rounded to 6 decimals, then the shortest
/// repr, with Python's exponent rule (exponent < -4 or >= 16) and signed zero.
pub fn format_parameter(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let r: f64 = format!("{v:.6}").parse().unwrap_or(v);
    if r == 0.0 {
        return if r.is_sign_negative() || (v < 0.0) {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let exp = r.abs().log10().floor() as i32;
    if !(-4..16).contains(&exp) {
        return python_exp_repr(r);
    }
    let s = format!("{r}");
    if s.contains('.') { s } else { format!("{s}.0") }
}

fn python_exp_repr(r: f64) -> String {
    // e.g. 5e-06, 1e+20, 1.5e-05
    let s = format!("{r:e}");
    match s.split_once('e') {
        Some((mant, exp)) => {
            let exp: i32 = exp.parse().unwrap_or(0);
            let sign = if exp < 0 { '-' } else { '+' };
            format!("{mant}e{sign}{:02}", exp.abs())
        }
        None => s,
    }
}

/// Key used by the reference to drop duplicate rows.
pub(crate) type RowKey = (
    String,
    String,
    String,
    Option<String>,
    Option<Comparison>,
    Option<String>,
    Option<u64>,
    String,
    String,
);

impl Row {
    pub(crate) fn key(&self) -> RowKey {
        (
            self.metric.clone(),
            self.statistic.clone(),
            self.branch.clone(),
            self.parameter.clone(),
            self.comparison,
            self.comparison_to_branch.clone(),
            self.ci_width.map(f64::to_bits),
            self.segment.clone(),
            self.analysis_basis.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_formatting_matches_python() {
        assert_eq!(format_parameter(0.1), "0.1");
        assert_eq!(format_parameter(2.04), "2.04");
        assert_eq!(format_parameter(3.0), "3.0");
        assert_eq!(format_parameter(1.23456789), "1.234568");
        assert_eq!(format_parameter(0.000005), "5e-06");
        assert_eq!(format_parameter(0.0), "0.0");
        assert_eq!(format_parameter(-0.0000001), "-0.0");
        assert_eq!(format_parameter(1e20), "1e+20");
        assert_eq!(format_parameter(f64::NAN), "nan");
        assert_eq!(format_parameter(0.0000015), "2e-06");
    }
}
