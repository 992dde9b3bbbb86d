//! Result rows shaped like the reference's statistics table.

/// `comparison` of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// One row of a statistics table (`StatisticResult`, schema version 4).
#[derive(Debug, Clone, PartialEq)]
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
}

/// NaN and ±inf become NULL.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// Python `str(round(v, 6))` for a float: shortest repr after rounding to 6 decimals.
pub fn format_parameter(v: f64) -> String {
    let r = (v * 1e6).round() / 1e6;
    let r = if r == 0.0 { 0.0 } else { r };
    if r.fract() == 0.0 && r.abs() < 1e16 {
        return format!("{r:.1}");
    }
    // Rust's `{}` for f64 is the shortest round-tripping representation, like Python's repr,
    // except that Python switches to exponent notation below 1e-4 and above 1e16.
    let s = format!("{r}");
    if r.abs() < 1e-4 {
        return python_exp_repr(r);
    }
    s
}

fn python_exp_repr(r: f64) -> String {
    // e.g. 5e-06 -> "5e-06"
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
        assert_eq!(format_parameter(-0.0000001), "0.0");
    }
}
