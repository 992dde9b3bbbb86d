//! Summaries of resampled statistics (mozanalysis `summarize_one_branch_samples` /
//! `summarize_joint_samples`) and numpy's default (linear) quantiles.

/// `DEFAULT_QUANTILES` of mozanalysis.
pub const DEFAULT_QUANTILES: [f64; 5] = [0.005, 0.025, 0.5, 0.975, 0.995];

/// numpy `quantile(x, q)` with linear interpolation, on sorted data.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let frac = h - lo as f64;
    let a = sorted[lo.min(n - 1)];
    let b = sorted[hi];
    // numpy's `_lerp`: interpolate from the nearer end.
    if frac == 0.0 {
        a
    } else if frac < 0.5 {
        a + frac * (b - a)
    } else {
        b - (b - a) * (1.0 - frac)
    }
}

/// numpy `quantile` on unsorted data (NaN-free).
pub fn quantile(values: &[f64], q: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// Mean of a slice (NaN for an empty one).
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    // Pairwise-ish accumulation in f64 is plenty for <= 1e5 samples.
    values.iter().sum::<f64>() / values.len() as f64
}

/// Summary of one branch's samples: the requested quantiles and the mean.
#[derive(Debug, Clone, PartialEq)]
pub struct OneBranch {
    /// `(q, value)` pairs.
    pub quantiles: Vec<(f64, f64)>,
    /// Mean of the samples.
    pub mean: f64,
}

impl OneBranch {
    /// The value at quantile `q` (labels match within 1e-5, as jetstream's lookup does).
    pub fn at(&self, q: f64) -> Option<f64> {
        self.quantiles
            .iter()
            .find(|(x, _)| (x - q).abs() < 1e-5)
            .map(|(_, v)| *v)
    }
}

/// `summarize_one_branch_samples`.
pub fn summarize_one(samples: &[f64], quantiles: &[f64]) -> OneBranch {
    // numpy propagates NaN through quantiles and means.
    if samples.iter().any(|v| v.is_nan()) {
        return OneBranch {
            quantiles: quantiles.iter().map(|q| (*q, f64::NAN)).collect(),
            mean: f64::NAN,
        };
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    OneBranch {
        quantiles: quantiles
            .iter()
            .map(|q| (*q, quantile_sorted(&sorted, *q)))
            .collect(),
        mean: mean(samples),
    }
}

/// Summary of paired samples of a focus branch against a reference branch.
#[derive(Debug, Clone, PartialEq)]
pub struct Joint {
    /// Relative uplift `f / r - 1`.
    pub rel: OneBranch,
    /// Absolute uplift `f - r`.
    pub abs: OneBranch,
}

/// `summarize_joint_samples`: pairs the i-th sample of each branch.
pub fn summarize_joint(focus: &[f64], reference: &[f64], quantiles: &[f64]) -> Joint {
    let n = focus.len().min(reference.len());
    let rel: Vec<f64> = (0..n).map(|i| focus[i] / reference[i] - 1.0).collect();
    let abs: Vec<f64> = (0..n).map(|i| focus[i] - reference[i]).collect();
    Joint {
        rel: summarize_nan_aware(&rel, quantiles),
        abs: summarize_one(&abs, quantiles),
    }
}

/// numpy propagates NaN through quantiles and means; a zero reference sample gives NaN/inf.
fn summarize_nan_aware(values: &[f64], quantiles: &[f64]) -> OneBranch {
    if values.iter().any(|v| v.is_nan()) {
        return OneBranch {
            quantiles: quantiles.iter().map(|q| (*q, f64::NAN)).collect(),
            mean: f64::NAN,
        };
    }
    summarize_one(values, quantiles)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numpy_linear_quantiles() {
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 5.5);
        assert!((quantile(&v, 0.025) - 1.225).abs() < 1e-12);
        assert_eq!(quantile(&v, 1.0), 10.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        // filter_outliers(arange(100)+1, 0.99).max() == 99.01
        let w: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!((quantile(&w, 0.99) - 99.01).abs() < 1e-9);
    }

    #[test]
    fn joint_summaries() {
        let j = summarize_joint(&[2.0, 4.0], &[1.0, 2.0], &[0.5]);
        assert_eq!(j.rel.mean, 1.0);
        assert_eq!(j.abs.mean, 1.5);
        assert_eq!(j.abs.at(0.5), Some(1.5));
    }
}
