//! Statistics → rows, with the reference's semantics.
//!
//! [`apply`] is the pipeline entry point (jetstream's `Statistic.apply`): per-branch rows once,
//! then comparisons of every branch against every other branch taken as reference, with
//! duplicates dropped. Unlike the reference, every branch is resampled **once** and all
//! comparisons are derived from those samples.

use std::collections::HashMap;

use jetstream_config::statistic::{AlwaysValid, Statistic};
use rand::SeedableRng;
use rand::rngs::Xoshiro256PlusPlus;
use rand_distr::{Beta as BetaDist, Binomial, Distribution};
use statrs::distribution::{Beta, ContinuousCDF};

use crate::data::Frame;
use crate::density;
use crate::error::StatsError;
use crate::linear;
use crate::resample::{Tally, bayesian_bootstrap_means, derive_seed, ratio_bootstrap};
use crate::row::{Comparison, Row, finite, format_parameter};
use crate::sequential;
use crate::summary::{
    DEFAULT_QUANTILES, OneBranch, quantile_sorted, summarize_joint, summarize_one,
};

/// Where a statistic is computed: names that end up in the rows, and the seed.
#[derive(Debug, Clone)]
pub struct Context {
    /// Metric slug written into rows.
    pub metric: String,
    /// Segment (`all` by default).
    pub segment: String,
    /// `enrollments` or `exposures`.
    pub analysis_basis: String,
    /// Reference branch for `count`/`sum` semantics and `per_client_dau_impact`.
    pub reference_branch: String,
    /// Branches of the experiment (for `per_client_dau_impact`); defaults to the data's.
    pub experiment_branches: Option<Vec<String>>,
    /// Whether the analysis period is a pre-enrollment one (no covariate adjustment then).
    pub preenrollment_period: bool,
    /// Seed of every random draw; results are reproducible for a seed.
    pub seed: u64,
    /// Covariate column of linear models (default `<metric column>_pre`).
    pub covariate: Option<String>,
    /// Extra text mixed into every random stream (e.g. period and window), so that different
    /// analyses of the same metric draw independent samples.
    pub stream_key: String,
    /// Where problems of single reference-branch passes go (the reference logs them and goes
    /// on with the other passes).
    pub notes: Notes,
}

/// How serious a [`Note`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteLevel {
    /// Expected with such data (e.g. an all-zero reference branch); the reference logs a
    /// warning.
    Warning,
    /// A failed pass; the reference logs an error.
    Error,
}

/// A problem of one pass of a statistic that did not stop the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Level.
    pub level: NoteLevel,
    /// Message (the reference's wording).
    pub message: String,
}

/// A shared list of [`Note`]s (cloning a [`Context`] shares it).
#[derive(Debug, Clone, Default)]
pub struct Notes(std::sync::Arc<std::sync::Mutex<Vec<Note>>>);

impl Notes {
    /// Add a note.
    pub fn push(&self, level: NoteLevel, message: String) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Note { level, message });
    }

    /// Take the notes added so far.
    pub fn take(&self) -> Vec<Note> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

impl Context {
    /// A context with `segment = all`, `analysis_basis = enrollments`, reference `control`.
    pub fn new(metric: &str) -> Self {
        Self {
            metric: metric.to_string(),
            segment: "all".into(),
            analysis_basis: "enrollments".into(),
            reference_branch: "control".into(),
            experiment_branches: None,
            preenrollment_period: false,
            seed: 0,
            covariate: None,
            stream_key: String::new(),
            notes: Notes::default(),
        }
    }
}

fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Stream id of a branch for a statistic: independent of the other branches and their order.
fn stream(ctx: &Context, stat: &str, branch: &str) -> u64 {
    let mut key = format!(
        "{}\u{1f}{stat}\u{1f}{branch}\u{1f}{}\u{1f}{}",
        ctx.metric, ctx.segment, ctx.analysis_basis
    );
    // The stream key (period and window) separates the analyses of one metric; an empty key
    // leaves the streams as they are.
    if !ctx.stream_key.is_empty() {
        key.push('\u{1f}');
        key.push_str(&ctx.stream_key);
    }
    fnv(&key)
}

impl Row {
    pub(crate) fn individual(ctx: &Context, statistic: &str, branch: &str) -> Row {
        Row {
            metric: ctx.metric.clone(),
            statistic: statistic.to_string(),
            parameter: None,
            branch: branch.to_string(),
            comparison: None,
            comparison_to_branch: None,
            ci_width: None,
            point: None,
            lower: None,
            upper: None,
            segment: ctx.segment.clone(),
            analysis_basis: ctx.analysis_basis.clone(),
            window_index: None,
        }
    }
}

/// Per-branch and pairwise summaries of a resampling statistic.
struct Summaries {
    /// (branch, parameter, summary)
    individual: Vec<(String, Option<String>, OneBranch)>,
    /// (focus, reference, parameter, rel, abs)
    comparative: Vec<(String, String, Option<String>, OneBranch, OneBranch)>,
}

fn ci_bounds(ci: f64) -> (f64, f64) {
    let cp = (1.0 - ci) / 2.0;
    (cp, 1.0 - cp)
}

fn summaries_to_rows(
    ctx: &Context,
    statistic: &str,
    ci: f64,
    s: Summaries,
    point_of_individual: fn(&OneBranch) -> f64,
) -> Vec<Row> {
    let (lo, hi) = ci_bounds(ci);
    let mut rows = Vec::new();
    for (branch, parameter, one) in &s.individual {
        let mut r = Row::individual(ctx, statistic, branch);
        r.parameter = parameter.clone();
        r.ci_width = Some(ci);
        r.point = finite(point_of_individual(one));
        r.lower = one.at(lo).and_then(finite);
        r.upper = one.at(hi).and_then(finite);
        rows.push(r);
    }
    for (focus, reference, parameter, rel, abs) in &s.comparative {
        for (cmp, sum) in [
            (Comparison::Difference, abs),
            (Comparison::RelativeUplift, rel),
        ] {
            let mut r = Row::individual(ctx, statistic, focus);
            r.parameter = parameter.clone();
            r.comparison = Some(cmp);
            r.comparison_to_branch = Some(reference.clone());
            r.ci_width = Some(ci);
            r.point = finite(sum.mean);
            r.lower = sum.at(lo).and_then(finite);
            r.upper = sum.at(hi).and_then(finite);
            rows.push(r);
        }
    }
    rows
}

/// Branch values of `column` with nulls rejected (mozanalysis: "'data' contains null values").
fn non_null(frame: &Frame, column: &str, b: usize) -> Result<Vec<f64>, StatsError> {
    let v = frame.branch_values(column, b)?;
    if v.iter().any(|x| x.is_nan()) {
        return Err(StatsError::Invalid(format!(
            "'data' contains null values (column {column}, branch {}); add the remove_nulls pre-treatment",
            frame.branches()[b]
        )));
    }
    Ok(v)
}

/// mozanalysis `filter_outliers`: clip to `[min, quantile(tq)]`.
pub fn filter_outliers(data: &mut [f64], threshold_quantile: f64) -> Result<(), StatsError> {
    if threshold_quantile == 0.0 {
        return Ok(()); // `if threshold_quantile:` is falsy: no clipping
    }
    if !(0.5..=1.0).contains(&threshold_quantile) {
        return Err(StatsError::Invalid(
            "'threshold_quantile' should be close to, and <= 1".into(),
        ));
    }
    if data.is_empty() {
        return Ok(());
    }
    let mut sorted = data.to_vec();
    sorted.sort_by(f64::total_cmp);
    let hi = quantile_sorted(&sorted, threshold_quantile);
    for x in data.iter_mut() {
        if *x > hi {
            *x = hi;
        }
    }
    Ok(())
}

/// Order in which reference branches are taken: the data's branches in order of appearance.
fn pairs(branches: &[String]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for r in 0..branches.len() {
        for f in 0..branches.len() {
            if f != r {
                out.push((f, r));
            }
        }
    }
    out
}

fn resampled(
    branches: &[String],
    samples: &[Vec<f64>],
    parameter: Option<String>,
    individual_q: &[f64],
    comparative_q: &[f64],
) -> Summaries {
    let individual = branches
        .iter()
        .zip(samples)
        .map(|(b, s)| (b.clone(), parameter.clone(), summarize_one(s, individual_q)))
        .collect();
    let comparative = pairs(branches)
        .into_iter()
        .map(|(f, r)| {
            let j = summarize_joint(&samples[f], &samples[r], comparative_q);
            (
                branches[f].clone(),
                branches[r].clone(),
                parameter.clone(),
                j.rel,
                j.abs,
            )
        })
        .collect();
    Summaries {
        individual,
        comparative,
    }
}

/// Compute `statistic` on `frame[column]` for every branch and every ordered pair of branches
/// (jetstream's `Statistic.apply`), returning rows without duplicates.
pub fn apply(
    statistic: &Statistic,
    frame: &Frame,
    column: &str,
    ctx: &Context,
) -> Result<Vec<Row>, StatsError> {
    if frame.is_empty() {
        return Ok(Vec::new());
    }
    let branches = frame.branches().to_vec();
    let rows = match statistic {
        Statistic::Count => {
            let mut counts = vec![0usize; branches.len()];
            for c in frame.codes() {
                counts[*c as usize] += 1;
            }
            sorted_branches(&branches)
                .into_iter()
                .map(|b| {
                    let mut r = Row::individual(ctx, "count", &branches[b]);
                    r.point = Some(counts[b] as f64);
                    r
                })
                .collect()
        }
        Statistic::Sum => {
            let col = frame.column(column)?;
            // Neumaier-compensated, like pandas' groupby sum.
            let mut sums = vec![0.0; branches.len()];
            let mut comp = vec![0.0; branches.len()];
            for (x, c) in col.iter().zip(frame.codes()) {
                if !x.is_nan() {
                    let b = *c as usize;
                    let t = sums[b] + x;
                    if sums[b].abs() >= x.abs() {
                        comp[b] += (sums[b] - t) + x;
                    } else {
                        comp[b] += (x - t) + sums[b];
                    }
                    sums[b] = t;
                }
            }
            for (s, c) in sums.iter_mut().zip(&comp) {
                *s += c;
            }
            sorted_branches(&branches)
                .into_iter()
                .map(|b| {
                    let mut r = Row::individual(ctx, "sum", &branches[b]);
                    r.point = finite(sums[b]);
                    r
                })
                .collect()
        }
        Statistic::BootstrapMean {
            num_samples,
            drop_highest,
            confidence_interval,
            always_valid,
        } => {
            let (lo, hi) = ci_bounds(*confidence_interval);
            let mut samples = Vec::new();
            let mut counts = Vec::new();
            for (b, name) in branches.iter().enumerate() {
                let mut v = non_null(frame, column, b)?;
                filter_outliers(&mut v, 1.0 - drop_highest)?;
                counts.push(v.len() as u64);
                let tally = Tally::new(&v);
                samples.push(bayesian_bootstrap_means(
                    &tally,
                    *num_samples as usize,
                    ctx.seed,
                    stream(ctx, "mean", name),
                ));
            }
            let s = resampled(&branches, &samples, None, &[lo, hi], &DEFAULT_QUANTILES);
            let mut rows = summaries_to_rows(ctx, "mean", *confidence_interval, s, |o| o.mean);
            if let Some(av) = always_valid {
                let clients = frame.len() as u64;
                always_valid_rows(&mut rows, &branches, &samples, &counts, clients, av);
            }
            rows
        }
        Statistic::Binomial {
            confidence_interval,
            always_valid,
        } => binomial(
            frame,
            column,
            ctx,
            *confidence_interval,
            always_valid.as_ref(),
        )?,
        Statistic::Deciles {
            confidence_interval,
            num_samples,
        } => deciles(
            frame,
            column,
            ctx,
            *confidence_interval,
            *num_samples as usize,
        )?,
        Statistic::PopulationRatio {
            numerator,
            denominator,
            confidence_interval,
            drop_highest,
            num_samples,
        } => {
            let (lo, hi) = ci_bounds(*confidence_interval);
            let mut samples = Vec::new();
            for (b, name) in branches.iter().enumerate() {
                let mut num = non_null(frame, numerator, b)?;
                let mut den = non_null(frame, denominator, b)?;
                clip_pair(&mut num, &mut den, 1.0 - drop_highest)?;
                samples.push(ratio_bootstrap(
                    &num,
                    &den,
                    *num_samples as usize,
                    ctx.seed,
                    stream(ctx, "population_ratio", name),
                ));
            }
            let s = resampled(&branches, &samples, None, &[lo, hi], &DEFAULT_QUANTILES);
            summaries_to_rows(ctx, "population_ratio", *confidence_interval, s, |o| o.mean)
        }
        Statistic::KernelDensityEstimate {
            bandwidth,
            kernel,
            grid_size,
            log_space,
            ..
        } => density::kde_rows(
            frame,
            column,
            ctx,
            bandwidth,
            kernel,
            *grid_size as usize,
            *log_space,
        )?,
        Statistic::EmpiricalCdf {
            log_space,
            grid_size,
        } => density::ecdf_rows(frame, column, ctx, *grid_size as usize, *log_space)?,
        Statistic::LinearModelMean {
            drop_highest,
            covariate_adjustment,
            always_valid,
        } => {
            let covariate = covariate_column(frame, column, ctx, covariate_adjustment.as_ref());
            linear::lm_rows(
                frame,
                column,
                covariate.as_deref(),
                ctx,
                *drop_highest,
                "mean_lm",
                always_valid.as_ref(),
            )?
        }
        Statistic::PerClientDauImpact {
            drop_highest,
            covariate_adjustment,
        } => {
            let covariate = covariate_column(frame, column, ctx, covariate_adjustment.as_ref());
            let rows = linear::lm_rows(
                frame,
                column,
                covariate.as_deref(),
                ctx,
                *drop_highest,
                "per_client_dau_impact",
                None,
            )?;
            let n = frame.len() as f64;
            let experiment_branches = ctx
                .experiment_branches
                .clone()
                .unwrap_or_else(|| branches.clone());
            // A reference iteration whose difference has no value fails in the reference
            // (None * N) and yields nothing: drop that pair's rows.
            let failed: Vec<(String, Option<String>)> = rows
                .iter()
                .filter(|r| {
                    r.comparison == Some(Comparison::Difference)
                        && (r.point.is_none() || r.lower.is_none() || r.upper.is_none())
                })
                .map(|r| (r.branch.clone(), r.comparison_to_branch.clone()))
                .collect();
            for (branch, reference) in &failed {
                ctx.notes.push(
                    NoteLevel::Error,
                    format!(
                        "Error while computing statistic per_client_dau_impact for metric {}: \
                         no difference of {branch} against {} (degenerate data)",
                        ctx.metric,
                        reference.as_deref().unwrap_or("?")
                    ),
                );
            }
            rows.into_iter()
                .filter(|r| !failed.contains(&(r.branch.clone(), r.comparison_to_branch.clone())))
                .filter(|r| r.comparison.is_some() && experiment_branches.contains(&r.branch))
                .map(|mut r| {
                    if r.comparison == Some(Comparison::Difference) {
                        r.point = r.point.map(|x| x * n);
                        r.lower = r.lower.map(|x| x * n);
                        r.upper = r.upper.map(|x| x * n);
                    }
                    r
                })
                .collect()
        }
        _ => {
            return Err(StatsError::Invalid(format!(
                "unsupported statistic {}",
                statistic.name()
            )));
        }
    };
    Ok(dedupe(rows))
}

/// pandas `groupby` orders branches by name.
fn sorted_branches(branches: &[String]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..branches.len()).collect();
    idx.sort_by(|a, b| branches[*a].cmp(&branches[*b]));
    idx
}

/// The covariate column (`<metric>_pre`) when adjustment is configured, present, and the period
/// is not a pre-enrollment one.
fn covariate_column(
    frame: &Frame,
    column: &str,
    ctx: &Context,
    adjustment: Option<&jetstream_config::statistic::CovariateAdjustment>,
) -> Option<String> {
    let adjustment = adjustment?;
    let metric = adjustment.metric.as_deref().unwrap_or(column);
    let name = ctx
        .covariate
        .clone()
        .unwrap_or_else(|| format!("{metric}_pre"));
    (!ctx.preenrollment_period && frame.has_column(&name)).then_some(name)
}

/// `filter_outliers` on the 2-column (numerator, denominator) array: `axis=0`, so each column
/// is capped at its own quantile.
fn clip_pair(num: &mut [f64], den: &mut [f64], tq: f64) -> Result<(), StatsError> {
    if tq == 0.0 {
        return Ok(());
    }
    filter_outliers(num, tq)?;
    filter_outliers(den, tq)
}

/// Replace the comparison intervals of `rows` by always-valid ones around their points: the
/// standard error is the standard deviation of the replicates' differences (or relative
/// uplifts); `counts` are the clients of each branch, `clients` all of them (the default
/// tuning sample size).
fn always_valid_rows(
    rows: &mut [Row],
    branches: &[String],
    samples: &[Vec<f64>],
    counts: &[u64],
    clients: u64,
    av: &AlwaysValid,
) {
    let tuning = av.tuning_sample_size.unwrap_or(clients) as f64;
    let index = |name: &str| branches.iter().position(|b| b == name);
    for r in rows.iter_mut() {
        let (Some(cmp), Some(reference)) = (r.comparison, r.comparison_to_branch.as_deref()) else {
            continue;
        };
        let (Some(f), Some(b)) = (index(&r.branch), index(reference)) else {
            continue;
        };
        let (sf, sb) = (&samples[f], &samples[b]);
        let replicates: Vec<f64> = sf
            .iter()
            .zip(sb)
            .map(|(x, y)| match cmp {
                Comparison::Difference => x - y,
                Comparison::RelativeUplift => x / y - 1.0,
            })
            .collect();
        let se = sequential::std_dev(&replicates);
        let n = (counts[f] + counts[b]) as f64;
        let bounds = r
            .point
            .and_then(|p| sequential::interval(p, se, n, tuning, av.alpha));
        r.lower = bounds.and_then(|(lo, _)| finite(lo));
        r.upper = bounds.and_then(|(_, hi)| finite(hi));
        r.ci_width = Some(1.0 - av.alpha);
    }
}

fn binomial(
    frame: &Frame,
    column: &str,
    ctx: &Context,
    ci: f64,
    always_valid: Option<&AlwaysValid>,
) -> Result<Vec<Row>, StatsError> {
    let branches = frame.branches().to_vec();
    let col = frame.column(column)?;
    let mut n = vec![0u64; branches.len()];
    let mut k = vec![0u64; branches.len()];
    for (x, c) in col.iter().zip(frame.codes()) {
        if *x == 0.0 {
            n[*c as usize] += 1;
        } else if *x == 1.0 {
            n[*c as usize] += 1;
            k[*c as usize] += 1;
        } else {
            {
                return Err(StatsError::Invalid(format!(
                    "All values in column '{column}' must be 0 or 1."
                )));
            }
        }
    }
    let samples: Vec<Vec<f64>> = branches
        .iter()
        .enumerate()
        .map(|(b, name)| {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(
                ctx.seed,
                stream(ctx, "binomial", name),
                0,
            ));
            match BetaDist::new((k[b] + 1) as f64, (n[b] - k[b] + 1) as f64) {
                Ok(d) => (0..10_000).map(|_| d.sample(&mut rng)).collect(),
                Err(_) => vec![f64::NAN; 10_000],
            }
        })
        .collect();
    // Individual summaries are analytic (Beta posterior quantiles); mozanalysis summarises both
    // with DEFAULT_QUANTILES whatever the caller asks.
    let individual = branches
        .iter()
        .enumerate()
        .map(|(b, name)| {
            let (a, bb) = ((k[b] + 1) as f64, (n[b] - k[b] + 1) as f64);
            let quantiles = match Beta::new(a, bb) {
                Ok(d) => DEFAULT_QUANTILES
                    .iter()
                    .map(|q| (*q, beta_quantile(&d, *q)))
                    .collect(),
                Err(_) => DEFAULT_QUANTILES.iter().map(|q| (*q, f64::NAN)).collect(),
            };
            (
                name.clone(),
                None,
                OneBranch {
                    quantiles,
                    mean: a / (a + bb),
                },
            )
        })
        .collect();
    let comparative = pairs(&branches)
        .into_iter()
        .map(|(f, r)| {
            let j = summarize_joint(&samples[f], &samples[r], &DEFAULT_QUANTILES);
            (branches[f].clone(), branches[r].clone(), None, j.rel, j.abs)
        })
        .collect();
    let mut rows = summaries_to_rows(
        ctx,
        "binomial",
        ci,
        Summaries {
            individual,
            comparative,
        },
        |o| o.mean,
    );
    if let Some(av) = always_valid {
        always_valid_rows(&mut rows, &branches, &samples, &n, frame.len() as u64, av);
    }
    Ok(rows)
}

fn deciles(
    frame: &Frame,
    column: &str,
    ctx: &Context,
    ci: f64,
    num_samples: usize,
) -> Result<Vec<Row>, StatsError> {
    const DECILES: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
    let (lo, hi) = ci_bounds(ci);
    let branches = frame.branches().to_vec();
    // samples[branch][decile]
    let mut samples: Vec<Vec<Vec<f64>>> = Vec::new();
    for (b, name) in branches.iter().enumerate() {
        let mut v = non_null(frame, column, b)?;
        v.sort_by(f64::total_cmp);
        let n = v.len() as u64;
        let mut per_q = Vec::new();
        for (qi, q) in DECILES.iter().enumerate() {
            let mut rng = Xoshiro256PlusPlus::seed_from_u64(derive_seed(
                ctx.seed,
                stream(ctx, "deciles", name),
                qi as u64,
            ));
            let s: Vec<f64> = match Binomial::new(n.saturating_sub(1), *q) {
                Ok(d) if n > 0 => (0..num_samples)
                    .map(|_| v[d.sample(&mut rng) as usize])
                    .collect(),
                _ => vec![f64::NAN; num_samples],
            };
            per_q.push(s);
        }
        samples.push(per_q);
    }
    let mut individual = Vec::new();
    let mut comparative = Vec::new();
    for (qi, q) in DECILES.iter().enumerate() {
        let label = Some(format_parameter(*q));
        for (b, name) in branches.iter().enumerate() {
            individual.push((
                name.clone(),
                label.clone(),
                summarize_one(&samples[b][qi], &[lo, hi]),
            ));
        }
    }
    for (f, r) in pairs(&branches) {
        for (qi, q) in DECILES.iter().enumerate() {
            let j = summarize_joint(&samples[f][qi], &samples[r][qi], &[lo, hi]);
            comparative.push((
                branches[f].clone(),
                branches[r].clone(),
                Some(format_parameter(*q)),
                j.rel,
                j.abs,
            ));
        }
    }
    Ok(summaries_to_rows(
        ctx,
        "deciles",
        ci,
        Summaries {
            individual,
            comparative,
        },
        |o| o.mean,
    ))
}

/// Beta quantile by bisection on the CDF (statrs' inverse can stop converging for very
/// unbalanced parameters, e.g. Beta(1, 1e7)); 200 halvings reach full f64 resolution.
fn beta_quantile(d: &Beta, q: f64) -> f64 {
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if d.cdf(mid) < q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// Drop duplicate rows (the reference's dedupe in `Statistic.apply`), keeping the first.
pub fn dedupe(rows: Vec<Row>) -> Vec<Row> {
    // The reference keys a dict by the row's metadata: the first occurrence keeps its
    // position, the last one supplies the values.
    let mut index: HashMap<crate::row::RowKey, usize> = HashMap::new();
    let mut out: Vec<Row> = Vec::new();
    for r in rows {
        match index.get(&r.key()) {
            Some(i) => out[*i] = r,
            None => {
                index.insert(r.key(), out.len());
                out.push(r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_key_separates_the_random_streams_of_a_metric() {
        let week = |key: &str| Context {
            stream_key: key.into(),
            ..Context::new("active_hours")
        };
        let (w1, w2) = (week("week_1"), week("week_2"));
        assert_ne!(
            stream(&w1, "mean", "control"),
            stream(&w2, "mean", "control")
        );
        assert_eq!(
            stream(&w1, "mean", "control"),
            stream(&week("week_1"), "mean", "control")
        );
        // Without a key the streams are those of the metric, statistic, branch, segment, basis.
        assert_eq!(
            stream(&week(""), "mean", "control"),
            fnv("active_hours\u{1f}mean\u{1f}control\u{1f}all\u{1f}enrollments")
        );
    }
}
