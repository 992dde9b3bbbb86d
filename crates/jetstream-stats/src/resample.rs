//! Resampling kernels: the Bayesian bootstrap of a mean and the (Poisson) bootstrap of a ratio
//! of means.
//!
//! Both stream over the data once per block of [`LANES`] replicates, keeping one random-number
//! generator per lane so that the inner loop vectorises (AVX-512 or AVX2 when the CPU has them,
//! detected at run time; a portable path otherwise). Every block is seeded from
//! `(seed, stream, block)` alone, so results do not depend on the number of threads.
//!
//! * Bayesian bootstrap: a replicate is `Σ x_i E_i / Σ E_i` with `E_i ~ Exp(1)`, i.e. Dirichlet
//!   weights over the observations — the reference's Dirichlet over distinct values with
//!   multiplicities as concentrations is the same distribution aggregated by value. Values that
//!   occur at least [`TIE_THRESHOLD`] times are drawn once per replicate as `Gamma(count)`
//!   instead (exact use of ties, which makes zero-heavy metrics cheap).
//! * Ratio bootstrap: weights `c_i ~ Poisson(1)` instead of multinomial counts. A ratio of sums
//!   is invariant to the total weight, so this has the same first-order distribution as the
//!   reference's index resampling while streaming over the data.

#![allow(unsafe_code)] // run-time CPU feature dispatch only; see `SAFETY` comments

use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Distribution, Gamma};
use rayon::prelude::*;

/// Replicates computed together in one pass over the data.
pub const LANES: usize = 8;
/// Values with at least this many copies get one `Gamma(count)` draw per replicate.
pub const TIE_THRESHOLD: usize = 32;

/// SplitMix64 finaliser, used to derive independent seeds.
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for `(seed, stream, index)`.
pub(crate) fn derive_seed(seed: u64, stream: u64, index: u64) -> u64 {
    mix(mix(mix(seed) ^ stream.wrapping_mul(0xA24B_AED4_963E_E407)) ^ index)
}

/// Eight xoshiro256+ generators advanced in lock step.
#[derive(Clone)]
struct LaneRng {
    s: [[u64; LANES]; 4],
}

impl LaneRng {
    fn new(seed: u64) -> Self {
        let mut s = [[0u64; LANES]; 4];
        let mut z = seed;
        for lane in 0..LANES {
            for word in s.iter_mut() {
                z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
                word[lane] = mix(z);
            }
        }
        Self { s }
    }

    /// Next 64 random bits per lane (xoshiro256+).
    #[inline(always)]
    fn next(&mut self, out: &mut [u64; LANES]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for k in 0..LANES {
            out[k] = s0[k].wrapping_add(s3[k]);
            let t = s1[k] << 17;
            s2[k] ^= s0[k];
            s3[k] ^= s1[k];
            s1[k] ^= s2[k];
            s0[k] ^= s3[k];
            s2[k] ^= t;
            s3[k] = s3[k].rotate_left(45);
        }
    }
}

/// Uniform in (0, 1] from the top 53 bits.
#[inline(always)]
fn unit(bits: u64) -> f64 {
    ((bits >> 11) + 1) as f64 * (1.0 / 9_007_199_254_740_992.0)
}

/// `ln(u)` for `u` in (0, 1], accurate to ~1e-12 relative, branch-free so that it vectorises.
#[inline(always)]
fn ln_unit(u: f64) -> f64 {
    const SQRT2: f64 = std::f64::consts::SQRT_2;
    let bits = u.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    let big = m > SQRT2;
    m = if big { m * 0.5 } else { m };
    e += big as i64;
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    // 2 atanh(s) = ln(m)
    let p = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0
                + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0 + s2 * (1.0 / 13.0))))));
    2.0 * s * p + e as f64 * std::f64::consts::LN_2
}

/// Distinct values with their multiplicities, split into "light" observations (expanded, one
/// exponential each) and "heavy" tied values (one Gamma draw each).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    /// Observations whose value occurs fewer than [`TIE_THRESHOLD`] times.
    pub light: Vec<f64>,
    /// `(value, count)` of values occurring at least [`TIE_THRESHOLD`] times.
    pub heavy: Vec<(f64, f64)>,
}

impl Tally {
    /// Tally NaN-free data.
    pub fn new(data: &[f64]) -> Self {
        let mut sorted = data.to_vec();
        sorted.sort_by(f64::total_cmp);
        let mut t = Tally::default();
        let mut i = 0;
        while i < sorted.len() {
            let v = sorted[i];
            let mut j = i + 1;
            while j < sorted.len() && sorted[j] == v {
                j += 1;
            }
            let count = j - i;
            if count >= TIE_THRESHOLD {
                t.heavy.push((v, count as f64));
            } else {
                t.light.extend(std::iter::repeat_n(v, count));
            }
            i = j;
        }
        t
    }
}

#[inline(always)]
fn bb_block_body(
    light: &[f64],
    rng: &mut LaneRng,
    sum: &mut [f64; LANES],
    weight: &mut [f64; LANES],
) {
    let mut bits = [0u64; LANES];
    for &x in light {
        rng.next(&mut bits);
        for k in 0..LANES {
            let e = -ln_unit(unit(bits[k]));
            sum[k] += x * e;
            weight[k] += e;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn bb_block_avx512(
    light: &[f64],
    rng: &mut LaneRng,
    sum: &mut [f64; LANES],
    weight: &mut [f64; LANES],
) {
    bb_block_body(light, rng, sum, weight);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn bb_block_avx2(
    light: &[f64],
    rng: &mut LaneRng,
    sum: &mut [f64; LANES],
    weight: &mut [f64; LANES],
) {
    bb_block_body(light, rng, sum, weight);
}

fn bb_block(light: &[f64], rng: &mut LaneRng, sum: &mut [f64; LANES], weight: &mut [f64; LANES]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { bb_block_avx512(light, rng, sum, weight) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { bb_block_avx2(light, rng, sum, weight) };
            return;
        }
    }
    bb_block_body(light, rng, sum, weight);
}

/// Chunk of data processed at once, so that a block of lanes revisits cached data.
const CHUNK: usize = 1 << 14;

/// `num_samples` Bayesian-bootstrap means of `tally`, reproducible from `(seed, stream)`.
pub fn bayesian_bootstrap_means(
    tally: &Tally,
    num_samples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    let blocks = num_samples.div_ceil(LANES);
    let per_block: Vec<[f64; LANES]> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let block_seed = derive_seed(seed, stream, b as u64);
            let mut rng = LaneRng::new(block_seed);
            let mut sum = [0.0; LANES];
            let mut weight = [0.0; LANES];
            for chunk in tally.light.chunks(CHUNK) {
                let mut s = [0.0; LANES];
                let mut w = [0.0; LANES];
                bb_block(chunk, &mut rng, &mut s, &mut w);
                for k in 0..LANES {
                    sum[k] += s[k];
                    weight[k] += w[k];
                }
            }
            if !tally.heavy.is_empty() {
                let mut g = Xoshiro256PlusPlus::seed_from_u64(mix(block_seed ^ 0x5EED));
                for &(v, c) in &tally.heavy {
                    let gamma = Gamma::new(c, 1.0).ok();
                    for k in 0..LANES {
                        let d = gamma.map(|d| d.sample(&mut g)).unwrap_or(c);
                        sum[k] += v * d;
                        weight[k] += d;
                    }
                }
            }
            let mut out = [0.0; LANES];
            for k in 0..LANES {
                out[k] = sum[k] / weight[k];
            }
            out
        })
        .collect();
    per_block.into_iter().flatten().take(num_samples).collect()
}

/// Poisson(1) cumulative probabilities `P(X <= k)` for k = 0..15.
const POISSON1_CDF: [f64; 16] = {
    let mut cdf = [0.0; 16];
    let mut p = 0.367_879_441_171_442_33; // e^-1
    let mut acc = 0.0;
    let mut k = 0;
    while k < 16 {
        acc += p;
        cdf[k] = acc;
        p /= (k + 1) as f64;
        k += 1;
    }
    cdf
};

#[inline(always)]
fn ratio_block_body(
    num: &[f64],
    den: &[f64],
    rng: &mut LaneRng,
    sn: &mut [f64; LANES],
    sd: &mut [f64; LANES],
) {
    let mut bits = [0u64; LANES];
    for (x, y) in num.iter().zip(den) {
        rng.next(&mut bits);
        for k in 0..LANES {
            let u = unit(bits[k]);
            let mut c = 0.0;
            for t in POISSON1_CDF {
                c += if u > t { 1.0 } else { 0.0 };
            }
            sn[k] += c * x;
            sd[k] += c * y;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn ratio_block_avx512(
    num: &[f64],
    den: &[f64],
    rng: &mut LaneRng,
    sn: &mut [f64; LANES],
    sd: &mut [f64; LANES],
) {
    ratio_block_body(num, den, rng, sn, sd);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn ratio_block_avx2(
    num: &[f64],
    den: &[f64],
    rng: &mut LaneRng,
    sn: &mut [f64; LANES],
    sd: &mut [f64; LANES],
) {
    ratio_block_body(num, den, rng, sn, sd);
}

fn ratio_block(
    num: &[f64],
    den: &[f64],
    rng: &mut LaneRng,
    sn: &mut [f64; LANES],
    sd: &mut [f64; LANES],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            unsafe { ratio_block_avx512(num, den, rng, sn, sd) };
            return;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { ratio_block_avx2(num, den, rng, sn, sd) };
            return;
        }
    }
    ratio_block_body(num, den, rng, sn, sd);
}

/// `num_samples` bootstrap replicates of `mean(num) / mean(den)`.
pub fn ratio_bootstrap(
    num: &[f64],
    den: &[f64],
    num_samples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    let blocks = num_samples.div_ceil(LANES);
    let per_block: Vec<[f64; LANES]> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let mut rng = LaneRng::new(derive_seed(seed, stream, b as u64));
            let mut sn = [0.0; LANES];
            let mut sd = [0.0; LANES];
            for (cn, cd) in num.chunks(CHUNK).zip(den.chunks(CHUNK)) {
                let mut a = [0.0; LANES];
                let mut d = [0.0; LANES];
                ratio_block(cn, cd, &mut rng, &mut a, &mut d);
                for k in 0..LANES {
                    sn[k] += a[k];
                    sd[k] += d[k];
                }
            }
            let mut out = [0.0; LANES];
            for k in 0..LANES {
                out[k] = sn[k] / sd[k];
            }
            out
        })
        .collect();
    per_block.into_iter().flatten().take(num_samples).collect()
}

/// Draws from the RNG floor: `n` exponential draws per replicate with no arithmetic on data,
/// used by the benchmark to report how close the bootstrap gets to the cost of its randomness.
pub fn exponential_floor(n: usize, num_samples: usize, seed: u64) -> f64 {
    let zeros = vec![0.0; n];
    let t = Tally {
        light: zeros,
        heavy: Vec::new(),
    };
    bayesian_bootstrap_means(&t, num_samples, seed, 0)
        .iter()
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log_is_accurate() {
        for i in 1..10_000u64 {
            let u = i as f64 / 10_000.0;
            assert!(
                (ln_unit(u) - u.ln()).abs() < 1e-12 * (1.0 + u.ln().abs()),
                "{u}"
            );
        }
        assert_eq!(ln_unit(1.0), 0.0);
        assert!((ln_unit(f64::MIN_POSITIVE) - f64::MIN_POSITIVE.ln()).abs() < 1e-9);
    }

    #[test]
    fn exponential_draws_have_unit_mean_and_variance() {
        let mut rng = LaneRng::new(7);
        let mut bits = [0u64; LANES];
        let (mut s, mut s2, n) = (0.0, 0.0, 200_000);
        for _ in 0..n / LANES {
            rng.next(&mut bits);
            for b in bits {
                let e = -ln_unit(unit(b));
                s += e;
                s2 += e * e;
            }
        }
        let m = s / n as f64;
        let v = s2 / n as f64 - m * m;
        assert!((m - 1.0).abs() < 0.01, "{m}");
        assert!((v - 1.0).abs() < 0.02, "{v}");
    }

    #[test]
    fn poisson_table() {
        assert!((POISSON1_CDF[0] - (-1f64).exp()).abs() < 1e-15);
        assert!((POISSON1_CDF[15] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bootstrap_is_reproducible_and_centered() {
        let data: Vec<f64> = (0..1000).map(|i| f64::from(i % 20)).collect();
        let t = Tally::new(&data);
        assert!(!t.heavy.is_empty() && t.light.is_empty());
        let a = bayesian_bootstrap_means(&t, 1000, 42, 1);
        let b = bayesian_bootstrap_means(&t, 1000, 42, 1);
        assert_eq!(a, b);
        let c = bayesian_bootstrap_means(&t, 1000, 42, 2);
        assert_ne!(a, c);
        let m = crate::summary::mean(&a);
        let truth = crate::summary::mean(&data);
        assert!((m - truth).abs() < 0.1, "{m} vs {truth}");
    }

    #[test]
    fn thread_count_does_not_change_results() {
        let data: Vec<f64> = (0..5000).map(|i| (f64::from(i) * 0.37).sin()).collect();
        let t = Tally::new(&data);
        let one = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap();
        let a = one.install(|| bayesian_bootstrap_means(&t, 100, 9, 0));
        let b = bayesian_bootstrap_means(&t, 100, 9, 0);
        assert_eq!(a, b);
        let r1 = one.install(|| ratio_bootstrap(&data, &data, 50, 9, 0));
        let r2 = ratio_bootstrap(&data, &data, 50, 9, 0);
        assert_eq!(r1, r2);
    }
}
