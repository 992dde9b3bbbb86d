//! Always-valid intervals: the asymptotic confidence sequence of Waudby-Smith et al. (2023,
//! "Time-uniform central limit theory and asymptotic confidence sequences"), as GrowthBook and
//! Eppo apply it to a comparison's standard error.
//!
//! With `n` the clients of the two branches compared, `N*` the tuning sample size and `α` the
//! error rate over all looks: `ρ² = (−2 ln α + ln(1 − 2 ln α)) / N*`, `a = n ρ²`, and the
//! interval is `estimate ± SE · √((a + 1)/a · (2 ln(1/α) + ln(a + 1)))`. It is wider than the
//! fixed-horizon `estimate ± z₁₋α/₂ · SE` at every `n` (by about 1.5–2× near `N*`), and in
//! exchange the chance that it ever excludes the true value, looked at as often as one likes,
//! stays below `α`.

use statrs::distribution::{ContinuousCDF, Normal};

/// The half-width of the always-valid interval in standard errors, for `n` clients, tuning
/// sample size `tuning` and error rate `alpha`; `None` when an input is out of range.
pub fn multiplier(n: f64, tuning: f64, alpha: f64) -> Option<f64> {
    if !(n > 0.0 && tuning > 0.0 && alpha > 0.0 && alpha < 1.0) {
        return None;
    }
    let rho2 = (-2.0 * alpha.ln() + (1.0 - 2.0 * alpha.ln()).ln()) / tuning;
    let a = n * rho2;
    let m = ((a + 1.0) / a * (2.0 * (1.0 / alpha).ln() + (a + 1.0).ln())).sqrt();
    m.is_finite().then_some(m)
}

/// The fixed-horizon half-width in standard errors: the normal `1 − α/2` quantile.
pub fn fixed_multiplier(alpha: f64) -> Option<f64> {
    let z = Normal::new(0.0, 1.0).ok()?.inverse_cdf(1.0 - alpha / 2.0);
    z.is_finite().then_some(z)
}

/// `(lower, upper)` of the always-valid interval around `estimate`.
pub fn interval(estimate: f64, se: f64, n: f64, tuning: f64, alpha: f64) -> Option<(f64, f64)> {
    let m = multiplier(n, tuning, alpha)?;
    (estimate.is_finite() && se.is_finite() && se >= 0.0)
        .then_some((estimate - m * se, estimate + m * se))
}

/// Sample standard deviation (n − 1); NaN with fewer than two finite values.
pub(crate) fn std_dev(values: &[f64]) -> f64 {
    let finite: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if finite.len() < 2 || finite.len() < values.len() {
        return f64::NAN;
    }
    let n = finite.len() as f64;
    let mean = finite.iter().sum::<f64>() / n;
    (finite.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GrowthBook's `TestSequentialTTest` (gbstats): A sum 1396.87, sum of squares
    /// 52377.9767, n 3000; B 2422.7, 134698.29, 3461; N* = 1000 → relative lift 0.50336,
    /// SE 0.33341, interval (−0.55844, 1.56516).
    #[test]
    fn growthbooks_published_check_value() {
        let (sa, ssa, na) = (1396.87, 52377.9767, 3000.0);
        let (sb, ssb, nb) = (2422.7, 134698.29, 3461.0);
        let (ma, mb) = (sa / na, sb / nb);
        let var = |s: f64, ss: f64, n: f64| (ss - s * s / n) / (n - 1.0);
        let (va, vb) = (var(sa, ssa, na), var(sb, ssb, nb));
        let lift = mb / ma - 1.0;
        // delta method of the ratio of means
        let se = (vb / (nb * ma * ma) + va * mb * mb / (na * ma.powi(4))).sqrt();
        assert!((lift - 0.50336).abs() < 5e-6, "{lift}");
        assert!((se - 0.33341).abs() < 5e-6, "{se}");
        let (lo, hi) = interval(lift, se, na + nb, 1000.0, 0.05).unwrap();
        assert!((lo - -0.55844).abs() < 5e-5, "{lo}");
        assert!((hi - 1.56516).abs() < 5e-5, "{hi}");
    }

    #[test]
    fn always_wider_than_the_fixed_horizon_interval() {
        for alpha in [0.01, 0.05, 0.1, 0.2] {
            let z = fixed_multiplier(alpha).unwrap();
            for tuning in [10.0, 1_000.0, 100_000.0, 10_000_000.0] {
                for n in [2.0, 50.0, 1_000.0, 100_000.0, 1e8] {
                    let m = multiplier(n, tuning, alpha).unwrap();
                    assert!(m > z, "alpha {alpha} N* {tuning} n {n}: {m} <= {z}");
                }
            }
        }
        // near the tuning size, about 1.5–2x wider
        let ratio = multiplier(10_000.0, 10_000.0, 0.05).unwrap() / fixed_multiplier(0.05).unwrap();
        assert!((1.4..2.0).contains(&ratio), "{ratio}");
    }

    #[test]
    fn out_of_range_inputs_give_nothing() {
        assert_eq!(multiplier(0.0, 10.0, 0.05), None);
        assert_eq!(multiplier(10.0, 0.0, 0.05), None);
        assert_eq!(multiplier(10.0, 10.0, 1.0), None);
        assert_eq!(interval(f64::NAN, 1.0, 10.0, 10.0, 0.05), None);
        assert!(std_dev(&[1.0]).is_nan());
        assert!((std_dev(&[1.0, 3.0]) - 2f64.sqrt()).abs() < 1e-12);
    }
}
