//! Sample ratio mismatch: did the branches get the share of clients they were configured for?
//! Pearson's chi-square goodness-of-fit test of the enrolled counts against the configured
//! ratios (what GrowthBook, Statsig and Eppo check; the reference does not).

use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::StatsError;

/// The p-value below which a mismatch is flagged (the peers' usual threshold).
pub const SRM_THRESHOLD: f64 = 0.001;

/// The result of a sample-ratio test.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRatioTest {
    /// Pearson's chi-square statistic.
    pub chi_square: f64,
    /// Degrees of freedom (branches − 1).
    pub degrees_of_freedom: usize,
    /// P-value of the statistic under the configured ratios.
    pub p_value: f64,
    /// Each branch's expected count (total × its share of the ratios).
    pub expected: Vec<f64>,
}

impl SampleRatioTest {
    /// Whether the counts contradict the ratios (p below [`SRM_THRESHOLD`]).
    pub fn mismatch(&self) -> bool {
        self.p_value < SRM_THRESHOLD
    }
}

/// Test `counts` (clients per branch) against the configured `ratios` (same order; any
/// positive weights, e.g. Experimenter's `ratio` fields). `None` when there is nothing to test:
/// fewer than two branches or no client.
pub fn sample_ratio_test(
    counts: &[u64],
    ratios: &[f64],
) -> Result<Option<SampleRatioTest>, StatsError> {
    if counts.len() != ratios.len() {
        return Err(StatsError::Input(format!(
            "{} branch counts but {} ratios",
            counts.len(),
            ratios.len()
        )));
    }
    if let Some(bad) = ratios.iter().find(|r| !(r.is_finite() && **r > 0.0)) {
        return Err(StatsError::Input(format!(
            "branch ratio {bad}: ratios must be positive"
        )));
    }
    let total: u64 = counts.iter().sum();
    if counts.len() < 2 || total == 0 {
        return Ok(None);
    }
    let weight: f64 = ratios.iter().sum();
    let expected: Vec<f64> = ratios.iter().map(|r| total as f64 * r / weight).collect();
    let chi_square: f64 = counts
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| (o as f64 - e).powi(2) / e)
        .sum();
    let degrees_of_freedom = counts.len() - 1;
    let dist = ChiSquared::new(degrees_of_freedom as f64)
        .map_err(|e| StatsError::Input(format!("chi-square distribution: {e}")))?;
    Ok(Some(SampleRatioTest {
        chi_square,
        degrees_of_freedom,
        p_value: dist.sf(chi_square),
        expected,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(counts: &[u64], ratios: &[f64]) -> SampleRatioTest {
        sample_ratio_test(counts, ratios)
            .expect("valid input")
            .expect("something to test")
    }

    #[test]
    fn fifty_two_forty_eight_of_ten_thousand_is_a_mismatch() {
        let t = test(&[5200, 4800], &[1.0, 1.0]);
        // (200² / 5000) × 2 = 16, 1 degree of freedom: p ≈ 6.3e-5.
        assert!((t.chi_square - 16.0).abs() < 1e-9);
        assert!((t.p_value - 6.334e-5).abs() < 1e-7, "{}", t.p_value);
        assert!(t.mismatch());
    }

    #[test]
    fn a_balanced_split_is_not() {
        let t = test(&[5030, 4970], &[1.0, 1.0]);
        assert!((t.p_value - 0.5485).abs() < 1e-3, "{}", t.p_value);
        assert!(!t.mismatch());
    }

    #[test]
    fn unequal_ratios_of_three_branches() {
        // Configured 50/25/25: counts that follow it pass, an even split does not.
        let fits = test(&[5010, 2480, 2510], &[2.0, 1.0, 1.0]);
        assert_eq!(fits.degrees_of_freedom, 2);
        assert_eq!(fits.expected, vec![5000.0, 2500.0, 2500.0]);
        assert!(!fits.mismatch(), "{}", fits.p_value);
        let even = test(&[3334, 3333, 3333], &[2.0, 1.0, 1.0]);
        assert!(even.mismatch(), "{}", even.p_value);
        // Small deviations on small samples are not flagged.
        assert!(!test(&[60, 20, 30], &[2.0, 1.0, 1.0]).mismatch());
    }

    #[test]
    fn nothing_to_test_and_bad_input() {
        assert_eq!(sample_ratio_test(&[10], &[1.0]).unwrap(), None);
        assert_eq!(sample_ratio_test(&[0, 0], &[1.0, 1.0]).unwrap(), None);
        assert!(sample_ratio_test(&[1, 2], &[1.0]).is_err());
        assert!(sample_ratio_test(&[1, 2], &[1.0, 0.0]).is_err());
    }
}
