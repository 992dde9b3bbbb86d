//! Resampling kernels: the Bayesian bootstrap of a mean and the (Poisson) bootstrap of a ratio
//! of means.
//!
//! Both stream over the data once per block of [`LANES`] replicates, drawing one random number
//! per (observation, replicate) from eight xoshiro256++ generators advanced in lock step (each
//! 64-bit output gives two 24-bit uniforms). The inner loop is written lane-wise so that it
//! vectorises: AVX-512 or AVX2 when the CPU has them (detected at run time), a portable path
//! otherwise. Draws and products are single precision inside a chunk of [`CHUNK`] observations;
//! chunk sums are accumulated in double precision (relative error ~1e-6 of one replicate, far
//! below the Monte-Carlo error). Every block is seeded from `(seed, stream, block)` alone, so
//! results do not depend on the number of threads.
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
pub const LANES: usize = 16;
/// 64-bit generators per block (each feeds two lanes).
const GENS: usize = LANES / 2;
/// Values with at least this many copies get one `Gamma(count)` draw per replicate.
pub const TIE_THRESHOLD: usize = 32;
/// Observations per single-precision partial sum.
pub const CHUNK: usize = 2048;

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

/// Eight xoshiro256++ generators advanced in lock step.
#[derive(Clone)]
struct LaneRng {
    s: [[u64; GENS]; 4],
}

impl LaneRng {
    fn new(seed: u64) -> Self {
        let mut s = [[0u64; GENS]; 4];
        let mut z = seed;
        for lane in 0..GENS {
            for word in s.iter_mut() {
                z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
                word[lane] = mix(z);
            }
        }
        Self { s }
    }

    /// 24-bit uniforms in (0, 1), one per lane, as `f32`.
    #[inline(always)]
    fn uniforms(&mut self, out: &mut [f32; LANES]) {
        let mut bits = [0u32; LANES];
        self.bits(&mut bits);
        for k in 0..LANES {
            out[k] = ((bits[k] >> 8) as i32 as f32 + 0.5) * (1.0 / 16_777_216.0);
        }
    }

    /// 32 random bits per lane.
    #[inline(always)]
    fn bits(&mut self, out: &mut [u32; LANES]) {
        let [s0, s1, s2, s3] = &mut self.s;
        for k in 0..GENS {
            let r = s0[k]
                .wrapping_add(s3[k])
                .rotate_left(23)
                .wrapping_add(s0[k]);
            out[k] = r as u32;
            out[k + GENS] = (r >> 32) as u32;
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

/// `-ln(u)` for `u` in (0, 1): an Exp(1) draw. Branch- and division-free so that it
/// vectorises: `u = 2^e · (1 + t)` with `1 + t` in [√½, √2), and `ln(1 + t) = t·q(t)` with a
/// degree-7 polynomial `q` (Chebyshev fit, absolute error < 1e-7). No fused multiply-adds, so
/// every instruction set gives bit-identical results.
#[inline(always)]
fn neg_ln(u: f32) -> f32 {
    const SQRT2: f32 = std::f32::consts::SQRT_2;
    const Q: [f32; 8] = [
        0.999_999_94,
        -0.500_003_6,
        0.333_351_14,
        -0.249_700_72,
        0.198_985_65,
        -0.172_470_13,
        0.162_341_9,
        -0.101_340_57,
    ];
    let bits = u.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let big = m > SQRT2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let t = m - 1.0;
    let mut q = Q[7];
    q = q * t + Q[6];
    q = q * t + Q[5];
    q = q * t + Q[4];
    q = q * t + Q[3];
    q = q * t + Q[2];
    q = q * t + Q[1];
    q = q * t + Q[0];
    -(t * q + e as f32 * std::f32::consts::LN_2)
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

/// One chunk of the Bayesian bootstrap: `sum += x·E`, `weight += E` per lane.
#[inline(always)]
fn bb_chunk_body(x: &[f32], rng: &mut LaneRng, sum: &mut [f32; LANES], weight: &mut [f32; LANES]) {
    let mut u = [0f32; LANES];
    for &xi in x {
        rng.uniforms(&mut u);
        for k in 0..LANES {
            let e = neg_ln(u[k]);
            sum[k] += xi * e;
            weight[k] += e;
        }
    }
}

/// One chunk of the ratio bootstrap with Poisson(1) weights from integer thresholds.
#[inline(always)]
fn ratio_chunk_body(
    num: &[f32],
    den: &[f32],
    rng: &mut LaneRng,
    sn: &mut [f32; LANES],
    sd: &mut [f32; LANES],
) {
    let mut bits = [0u32; LANES];
    for (x, y) in num.iter().zip(den) {
        rng.bits(&mut bits);
        for k in 0..LANES {
            let mut c = 0u32;
            for t in POISSON1_THRESHOLDS {
                c += (bits[k] >= t) as u32;
            }
            let c = c as f32;
            sn[k] += c * x;
            sd[k] += c * y;
        }
    }
}

macro_rules! dispatch {
    ($body:ident, $avx512:ident, $avx2:ident, ($($arg:ident: $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512dq,avx512vl")]
        fn $avx512($($arg: $ty),*) {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        fn $avx2($($arg: $ty),*) {
            $body($($arg),*)
        }
    };
}

dispatch!(bb_chunk_body, bb_chunk_avx512, bb_chunk_avx2, (x: &[f32], rng: &mut LaneRng, sum: &mut [f32; LANES], weight: &mut [f32; LANES]));
dispatch!(ratio_chunk_body, ratio_chunk_avx512, ratio_chunk_avx2, (num: &[f32], den: &[f32], rng: &mut LaneRng, sn: &mut [f32; LANES], sd: &mut [f32; LANES]));

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Isa {
    Avx512,
    Avx2,
    Portable,
}

fn isa() -> Isa {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512dq")
            && std::is_x86_feature_detected!("avx512vl")
        {
            return Isa::Avx512;
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            return Isa::Avx2;
        }
    }
    Isa::Portable
}

fn bb_chunk(
    isa: Isa,
    x: &[f32],
    rng: &mut LaneRng,
    sum: &mut [f32; LANES],
    weight: &mut [f32; LANES],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` checked that the CPU supports AVX-512F/DQ/VL.
        Isa::Avx512 => unsafe { bb_chunk_avx512(x, rng, sum, weight) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` checked that the CPU supports AVX2 and FMA.
        Isa::Avx2 => unsafe { bb_chunk_avx2(x, rng, sum, weight) },
        _ => bb_chunk_body(x, rng, sum, weight),
    }
}

fn ratio_chunk(
    isa: Isa,
    num: &[f32],
    den: &[f32],
    rng: &mut LaneRng,
    sn: &mut [f32; LANES],
    sd: &mut [f32; LANES],
) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` checked that the CPU supports AVX-512F/DQ/VL.
        Isa::Avx512 => unsafe { ratio_chunk_avx512(num, den, rng, sn, sd) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa()` checked that the CPU supports AVX2 and FMA.
        Isa::Avx2 => unsafe { ratio_chunk_avx2(num, den, rng, sn, sd) },
        _ => ratio_chunk_body(num, den, rng, sn, sd),
    }
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

/// Run `blocks` blocks of [`LANES`] replicates in parallel and keep the first `num_samples`.
fn blocks(num_samples: usize, f: impl Fn(usize) -> [f64; LANES] + Sync + Send) -> Vec<f64> {
    let n_blocks = num_samples.div_ceil(LANES);
    let per_block: Vec<[f64; LANES]> = (0..n_blocks).into_par_iter().map(f).collect();
    per_block.into_iter().flatten().take(num_samples).collect()
}

/// `num_samples` Bayesian-bootstrap means of `tally`, reproducible from `(seed, stream)`.
pub fn bayesian_bootstrap_means(
    tally: &Tally,
    num_samples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    // Centre the light values: replicates are `shift + Σ (x - shift) E / Σ E`, which keeps the
    // single-precision products small relative to the mean.
    let shift = if tally.light.is_empty() {
        0.0
    } else {
        tally.light.iter().sum::<f64>() / tally.light.len() as f64
    };
    let light: Vec<f32> = tally.light.iter().map(|x| (x - shift) as f32).collect();
    let isa = isa();
    blocks(num_samples, |b| {
        let block_seed = derive_seed(seed, stream, b as u64);
        let mut rng = LaneRng::new(block_seed);
        let mut sum = [0.0f64; LANES];
        let mut weight = [0.0f64; LANES];
        for chunk in light.chunks(CHUNK) {
            let mut s = [0.0f32; LANES];
            let mut w = [0.0f32; LANES];
            bb_chunk(isa, chunk, &mut rng, &mut s, &mut w);
            for k in 0..LANES {
                sum[k] += f64::from(s[k]);
                weight[k] += f64::from(w[k]);
            }
        }
        if !tally.heavy.is_empty() {
            let mut g = Xoshiro256PlusPlus::seed_from_u64(mix(block_seed ^ 0x5EED));
            for &(v, c) in &tally.heavy {
                let gamma = Gamma::new(c, 1.0).ok();
                for k in 0..LANES {
                    let d = gamma.map(|d| d.sample(&mut g)).unwrap_or(c);
                    sum[k] += (v - shift) * d;
                    weight[k] += d;
                }
            }
        }
        let mut out = [0.0; LANES];
        for k in 0..LANES {
            out[k] = shift + sum[k] / weight[k];
        }
        out
    })
}

/// Poisson(1) quantile thresholds on 32-bit integers: `X = #{t : bits >= t}` is Poisson(1)
/// up to a truncation at 12 (probability 1e-9) and a resolution of 2^-32.
const POISSON1_THRESHOLDS: [u32; 12] = {
    let mut t = [0u32; 12];
    let mut p = 0.367_879_441_171_442_33; // e^-1
    let mut acc = 0.0;
    let mut k = 0;
    while k < 12 {
        acc += p;
        let v = acc * 4_294_967_296.0;
        t[k] = if v >= 4_294_967_295.0 {
            u32::MAX
        } else {
            v as u32
        };
        p /= (k + 1) as f64;
        k += 1;
    }
    t
};

/// `num_samples` bootstrap replicates of `mean(num) / mean(den)`.
pub fn ratio_bootstrap(
    num: &[f64],
    den: &[f64],
    num_samples: usize,
    seed: u64,
    stream: u64,
) -> Vec<f64> {
    let (num32, den32) = (to_f32(num), to_f32(den));
    let isa = isa();
    blocks(num_samples, |b| {
        let mut rng = LaneRng::new(derive_seed(seed, stream, b as u64));
        let mut sn = [0.0f64; LANES];
        let mut sd = [0.0f64; LANES];
        for (cn, cd) in num32.chunks(CHUNK).zip(den32.chunks(CHUNK)) {
            let mut a = [0.0f32; LANES];
            let mut d = [0.0f32; LANES];
            ratio_chunk(isa, cn, cd, &mut rng, &mut a, &mut d);
            for k in 0..LANES {
                sn[k] += f64::from(a[k]);
                sd[k] += f64::from(d[k]);
            }
        }
        let mut out = [0.0; LANES];
        for k in 0..LANES {
            out[k] = sn[k] / sd[k];
        }
        out
    })
}

/// The RNG floor: `n` exponential draws per replicate for `num_samples` replicates, with no
/// data arithmetic beyond summing the draws. Used by the benchmark to report how close the
/// bootstrap gets to the cost of its randomness.
pub fn exponential_floor(n: usize, num_samples: usize, seed: u64) -> f64 {
    let isa = isa();
    let zeros = vec![0f32; CHUNK];
    blocks(num_samples, |b| {
        let mut rng = LaneRng::new(derive_seed(seed, 0, b as u64));
        let mut out = [0.0f64; LANES];
        let mut left = n;
        while left > 0 {
            let len = left.min(CHUNK);
            let mut s = [0.0f32; LANES];
            let mut w = [0.0f32; LANES];
            bb_chunk(isa, &zeros[..len], &mut rng, &mut s, &mut w);
            for k in 0..LANES {
                out[k] += f64::from(w[k]);
            }
            left -= len;
        }
        out
    })
    .iter()
    .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_log_is_accurate() {
        for i in 1..100_000u32 {
            let u = i as f32 / 100_000.0;
            let want = -(f64::from(u)).ln();
            let got = f64::from(neg_ln(u));
            assert!(
                (got - want).abs() <= 3e-7 * (1.0 + want.abs()),
                "{u}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn exponential_draws_have_unit_mean_and_variance() {
        let mut rng = LaneRng::new(7);
        let mut u = [0f32; LANES];
        let (mut s, mut s2, n) = (0.0f64, 0.0f64, 400_000);
        for _ in 0..n / LANES {
            rng.uniforms(&mut u);
            for x in u {
                let e = f64::from(neg_ln(x));
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
    fn poisson_weights_have_unit_mean_and_variance() {
        let mut rng = LaneRng::new(11);
        let mut bits = [0u32; LANES];
        let (mut s, mut s2, n) = (0.0f64, 0.0f64, 400_000);
        for _ in 0..n / LANES {
            rng.bits(&mut bits);
            for b in bits {
                let c = POISSON1_THRESHOLDS.iter().filter(|t| b >= **t).count() as f64;
                s += c;
                s2 += c * c;
            }
        }
        let m = s / n as f64;
        assert!((m - 1.0).abs() < 0.01, "{m}");
        assert!((s2 / n as f64 - m * m - 1.0).abs() < 0.02);
        assert!((f64::from(POISSON1_THRESHOLDS[0]) / 4_294_967_296.0 - (-1f64).exp()).abs() < 1e-9);
    }

    #[test]
    fn all_instruction_sets_agree() {
        let x: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = |isa: Isa| {
            let mut rng = LaneRng::new(3);
            let (mut s, mut w) = ([0f32; LANES], [0f32; LANES]);
            bb_chunk(isa, &x, &mut rng, &mut s, &mut w);
            (s, w)
        };
        let portable = run(Isa::Portable);
        let native = run(isa());
        for k in 0..LANES {
            assert!((portable.0[k] - native.0[k]).abs() <= 1e-3 * portable.0[k].abs().max(1.0));
            assert!((portable.1[k] - native.1[k]).abs() <= 1e-3 * portable.1[k].abs());
        }
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
