//! `linear_model_mean` (mozanalysis `compare_branches_lm`): t-based per-branch means, OLS on
//! branch indicators (plus an optional pre-period covariate) for differences, and the
//! delta-method relative uplift with normal intervals.
//!
//! One model is fitted for all branches; the comparison of any pair is a contrast of its
//! coefficients, identical to refitting with that pair's reference (the reference refits once
//! per reference branch).

use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

use jetstream_config::statistic::AlwaysValid;

use crate::compute::Context;
use crate::compute::NoteLevel;
use crate::data::Frame;
use crate::error::StatsError;
use crate::row::{Comparison, Row, finite};
use crate::sequential;
use crate::summary::{quantile, quantile_sorted};

const ALPHA: f64 = 0.05;

fn is_integer_column(values: &[f64]) -> bool {
    values.iter().all(|v| v.is_finite() && v.fract() == 0.0)
}

/// pandas `Series.quantile` (linear) over the non-null values, `ceil` for integer columns.
fn clip_threshold(values: &[f64], tq: f64) -> f64 {
    let non_null: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    let t = quantile(&non_null, tq);
    if is_integer_column(values) {
        t.ceil()
    } else {
        t
    }
}

/// Student t quantile. statrs' inverse (an incomplete-beta inversion) loses accuracy and can
/// stop converging for very large degrees of freedom, so beyond 1,000 the Cornish-Fisher
/// expansion around the normal quantile is used (error ~1e-15 there).
pub(crate) fn t_quantile(df: f64, p: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df > 1000.0 {
        let z = z_quantile(p);
        let (z2, v) = (z * z, df);
        let g1 = (z2 + 1.0) * z / 4.0;
        let g2 = ((5.0 * z2 + 16.0) * z2 + 3.0) * z / 96.0;
        let g3 = (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) * z / 384.0;
        let g4 = ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) * z / 92160.0;
        return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
    }
    StudentsT::new(0.0, 1.0, df)
        .map(|t| t.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

fn z_quantile(p: f64) -> f64 {
    Normal::new(0.0, 1.0)
        .map(|n| n.inverse_cdf(p))
        .unwrap_or(f64::NAN)
}

/// Solve the symmetric positive definite system `a x = b` and return `a^-1` too.
fn invert(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let p = a.len();
    // Gauss-Jordan with partial pivoting; p is tiny (branches + covariate).
    let mut m: Vec<Vec<f64>> = a
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let mut r = row.clone();
            r.extend((0..p).map(|j| if i == j { 1.0 } else { 0.0 }));
            r
        })
        .collect();
    for col in 0..p {
        let pivot = (col..p).max_by(|x, y| m[*x][col].abs().total_cmp(&m[*y][col].abs()))?;
        if m[pivot][col].abs() < 1e-12 * (1.0 + a[col][col].abs()) {
            return None;
        }
        m.swap(col, pivot);
        let d = m[col][col];
        for v in m[col].iter_mut() {
            *v /= d;
        }
        for r in 0..p {
            if r != col {
                let f = m[r][col];
                if f != 0.0 {
                    for c in 0..2 * p {
                        m[r][c] -= f * m[col][c];
                    }
                }
            }
        }
    }
    Some(m.into_iter().map(|r| r[p..].to_vec()).collect())
}

struct Fit {
    /// [intercept, branch indicators (for every branch but `base`), covariate?]
    beta: Vec<f64>,
    cov: Vec<Vec<f64>>,
    df_resid: f64,
    /// coefficient index of each branch's indicator (None for the base branch)
    branch_coef: Vec<Option<usize>>,
    covariate_coef: Option<usize>,
    /// mean of the covariate grid (quantiles 0, 0.0001, ..., 0.9999)
    covariate_grid_mean: f64,
}

fn fit(codes: &[u32], y: &[f64], x: Option<&[f64]>, n_branches: usize, base: usize) -> Option<Fit> {
    let mut branch_coef = vec![None; n_branches];
    let mut p = 1;
    for (b, slot) in branch_coef.iter_mut().enumerate() {
        if b != base {
            *slot = Some(p);
            p += 1;
        }
    }
    let covariate_coef = x.map(|_| {
        p += 1;
        p - 1
    });
    let n = y.len();
    if n <= p {
        return None;
    }
    let row = |i: usize, out: &mut Vec<f64>| {
        out.clear();
        out.resize(p, 0.0);
        out[0] = 1.0;
        if let Some(c) = branch_coef[codes[i] as usize] {
            out[c] = 1.0;
        }
        if let (Some(c), Some(x)) = (covariate_coef, x) {
            out[c] = x[i];
        }
    };
    let mut xtx = vec![vec![0.0; p]; p];
    let mut xty = vec![0.0; p];
    let mut r = Vec::with_capacity(p);
    for i in 0..n {
        row(i, &mut r);
        for a in 0..p {
            if r[a] == 0.0 {
                continue;
            }
            xty[a] += r[a] * y[i];
            for b in a..p {
                xtx[a][b] += r[a] * r[b];
            }
        }
    }
    for a in 0..p {
        for b in 0..a {
            xtx[a][b] = xtx[b][a];
        }
    }
    let inv = invert(&xtx)?;
    let beta: Vec<f64> = (0..p)
        .map(|a| (0..p).map(|b| inv[a][b] * xty[b]).sum())
        .collect();
    let mut rss = 0.0;
    for i in 0..n {
        row(i, &mut r);
        let fitted: f64 = r.iter().zip(&beta).map(|(a, b)| a * b).sum();
        let e = y[i] - fitted;
        rss += e * e;
    }
    let df_resid = (n - p) as f64;
    let sigma2 = rss / df_resid;
    let cov = inv
        .iter()
        .map(|row| row.iter().map(|v| v * sigma2).collect())
        .collect();
    let covariate_grid_mean = match x {
        Some(x) => {
            let mut sorted = x.to_vec();
            sorted.sort_by(f64::total_cmp);
            (0..10_000)
                .map(|k| quantile_sorted(&sorted, k as f64 * 0.0001))
                .sum::<f64>()
                / 10_000.0
        }
        None => 0.0,
    };
    Some(Fit {
        beta,
        cov,
        df_resid,
        branch_coef,
        covariate_coef,
        covariate_grid_mean,
    })
}

impl Fit {
    fn quad(&self, g: &[f64]) -> f64 {
        let p = g.len();
        let mut s = 0.0;
        for a in 0..p {
            for b in 0..p {
                s += g[a] * self.cov[a][b] * g[b];
            }
        }
        s
    }

    /// Contrast vector of branch `b`'s mean prediction over the covariate grid.
    fn level(&self, b: usize) -> Vec<f64> {
        let mut g = vec![0.0; self.beta.len()];
        g[0] = 1.0;
        if let Some(c) = self.branch_coef[b] {
            g[c] = 1.0;
        }
        if let Some(c) = self.covariate_coef {
            g[c] = self.covariate_grid_mean;
        }
        g
    }

    fn dot(&self, g: &[f64]) -> f64 {
        g.iter().zip(&self.beta).map(|(a, b)| a * b).sum()
    }

    /// (estimate, lower, upper) of `focus - reference`: t interval with the residual df, or
    /// `multiplier` standard errors (always-valid intervals).
    fn difference(
        &self,
        focus: usize,
        reference: usize,
        multiplier: Option<f64>,
    ) -> (f64, f64, f64) {
        let mut g = vec![0.0; self.beta.len()];
        if let Some(c) = self.branch_coef[focus] {
            g[c] += 1.0;
        }
        if let Some(c) = self.branch_coef[reference] {
            g[c] -= 1.0;
        }
        let est = self.dot(&g);
        let se = self.quad(&g).sqrt();
        let t = multiplier.unwrap_or_else(|| t_quantile(self.df_resid, 1.0 - ALPHA / 2.0));
        (est, est - t * se, est + t * se)
    }

    /// (estimate, lower, upper) of `focus / reference - 1` by the delta method on the log ratio
    /// of the mean predictions, with a normal interval (marginaleffects `lnratioavg`), or
    /// `multiplier` standard errors on the log scale (always-valid intervals).
    fn relative(&self, focus: usize, reference: usize, multiplier: Option<f64>) -> (f64, f64, f64) {
        let gf = self.level(focus);
        let gr = self.level(reference);
        let a = self.dot(&gf);
        let c = self.dot(&gr);
        let ratio = a / c;
        if ratio.is_nan() || ratio <= 0.0 || ratio.is_infinite() {
            // log of a non-positive ratio: the reference's estimate is NaN (null rows).
            return (f64::NAN, f64::NAN, f64::NAN);
        }
        let ln_ratio = (a / c).ln();
        let g: Vec<f64> = gf.iter().zip(&gr).map(|(x, y)| x / a - y / c).collect();
        let se = self.quad(&g).sqrt();
        let z = multiplier.unwrap_or_else(|| z_quantile(1.0 - ALPHA / 2.0));
        (
            (a / c) - 1.0,
            (ln_ratio - z * se).exp() - 1.0,
            (ln_ratio + z * se).exp() - 1.0,
        )
    }
}

/// Rows of `linear_model_mean` for every branch and every ordered pair.
/// The reference's `LinearModelMean` as `Statistic.apply` runs it: `transform` once per
/// reference branch, in order of first appearance, on the **same** DataFrame, which
/// `compare_branches_lm(interactive=False)` clips in place. So the data of the i-th reference
/// branch has been clipped i+1 times (each pass at the 1 − `drop_highest` quantile of the
/// current values), the comparisons against it are fitted on that data, and the per-branch
/// rows (the dictionary keeps the last ones written) come from the last pass that ran.
pub(crate) fn lm_rows(
    frame: &Frame,
    column: &str,
    covariate: Option<&str>,
    ctx: &Context,
    drop_highest: f64,
    statistic: &str,
    always_valid: Option<&AlwaysValid>,
) -> Result<Vec<Row>, StatsError> {
    let tq = 1.0 - drop_highest;
    if !(tq > 0.0 && tq <= 1.0) {
        return Err(StatsError::Invalid(
            "Threshold quantile must be in (0,1]".into(),
        ));
    }
    let branches = frame.branches().to_vec();
    let covariate = covariate.filter(|c| frame.has_column(c));
    let mut y_work: Vec<f64> = frame.column(column)?.to_vec();
    let mut x_work: Option<Vec<f64>> = covariate
        .map(|c| frame.column(c).map(<[f64]>::to_vec))
        .transpose()?;
    let codes_all = frame.codes();
    let mut individual: Option<Vec<Row>> = None;
    let mut comparative = Vec::new();
    let mut skipped = 0;
    // The reference loops in the order branches first appear in a BigQuery result, which is
    // arbitrary; the experiment's reference branch goes first here, so the comparisons against
    // it (the ones shown to users) use the data clipped once, as `transform` alone would.
    let mut order: Vec<usize> = (0..branches.len()).collect();
    if let Some(i) = branches.iter().position(|b| *b == ctx.reference_branch) {
        order.remove(i);
        order.insert(0, i);
    }
    for r in order {
        // jetstream's guard, on the current data: a reference branch whose values all clip
        // to zero is skipped (relative uplift undefined) — before any clipping of this pass.
        let threshold = clip_threshold(&y_work, tq);
        let reference: Vec<f64> = y_work
            .iter()
            .zip(codes_all)
            .filter(|(v, c)| **c as usize == r && !v.is_nan())
            .map(|(v, _)| *v)
            .collect();
        if !reference.is_empty() && reference.iter().all(|v| v.min(threshold) == 0.0) {
            skipped += 1;
            let n = reference.len();
            let why = if reference.iter().all(|v| *v == 0.0) {
                format!(
                    "reference branch '{}' has {n} non-null client(s) and all values for metric '{column}' are zero",
                    branches[r]
                )
            } else {
                format!(
                    "reference branch '{}' has {n} non-null client(s) but metric '{column}' became all zeroes after outlier clipping (pooled {tq:.3} quantile threshold is {threshold})",
                    branches[r]
                )
            };
            ctx.notes.push(
                NoteLevel::Warning,
                format!(
                    "Skipping computing statistic {statistic} for metric {column}: {why}. Cannot compute because the relative uplift (treatment/reference) is undefined when the reference mean is zero."
                ),
            );
            continue;
        }
        // `_validate_parameters`: degenerate data (`np.isclose(df[col].std(), 0)` on the
        // current column, before this pass's clipping) yields empty inferences.
        let degenerate = {
            let raw: Vec<f64> = y_work.iter().copied().filter(|v| !v.is_nan()).collect();
            let n = raw.len() as f64;
            let m = raw.iter().sum::<f64>() / n;
            let sd = (raw.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1.0)).sqrt();
            sd.abs() <= 1e-8
        };
        // `prepare_df_for_modeling(copy=False)`: clip target and covariate in place (every
        // row, nulls stay null), then keep the rows where both are present.
        if !degenerate {
            for v in y_work.iter_mut().filter(|v| !v.is_nan()) {
                *v = v.min(threshold);
            }
            if let Some(xs) = x_work.as_mut() {
                let xt = clip_threshold(xs, tq);
                for v in xs.iter_mut().filter(|v| !v.is_nan()) {
                    *v = v.min(xt);
                }
            }
        }
        let mut codes = Vec::new();
        let mut y = Vec::new();
        let mut x = Vec::new();
        for (i, v) in y_work.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            if let Some(xs) = &x_work {
                if xs[i].is_nan() {
                    continue;
                }
                x.push(xs[i]);
            }
            codes.push(codes_all[i]);
            y.push(*v);
        }
        individual = Some(individual_rows(
            &branches, &codes, &y, degenerate, ctx, statistic,
        ));
        comparative.extend(comparison_rows(
            &branches,
            r,
            &codes,
            &y,
            x_work.as_ref().map(|_| x.as_slice()),
            degenerate,
            ctx,
            statistic,
            always_valid.map(|av| (av, frame.len())),
        ));
    }
    if skipped == branches.len() {
        // every pass was skipped (and noted): no rows, as the reference
        return Ok(Vec::new());
    }
    let mut rows = individual.unwrap_or_default();
    rows.extend(comparative);
    Ok(rows)
}

fn lm_row(ctx: &Context, statistic: &str, branch: &str) -> Row {
    Row {
        ci_width: Some(0.95),
        ..Row::individual(ctx, statistic, branch)
    }
}

/// Per-branch t-based means of the modelling rows (branches without rows are left out, as
/// the reference infers the branch list from the modelling frame).
fn individual_rows(
    branches: &[String],
    codes: &[u32],
    y: &[f64],
    degenerate: bool,
    ctx: &Context,
    statistic: &str,
) -> Vec<Row> {
    let t = |n: usize| t_quantile(n as f64 - 1.0, 1.0 - ALPHA / 2.0);
    let mut rows = Vec::new();
    for (b, name) in branches.iter().enumerate() {
        let vals: Vec<f64> = y
            .iter()
            .zip(codes)
            .filter(|(_, c)| **c as usize == b)
            .map(|(v, _)| *v)
            .collect();
        let n = vals.len();
        if n == 0 {
            continue;
        }
        let mut r = lm_row(ctx, statistic, name);
        if !degenerate {
            let m = vals.iter().sum::<f64>() / n as f64;
            let sd =
                (vals.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n as f64 - 1.0)).sqrt();
            let half = t(n) * sd / (n as f64).sqrt();
            r.point = finite(m);
            r.lower = finite(m - half);
            r.upper = finite(m + half);
        }
        rows.push(r);
    }
    rows
}

/// Difference and relative uplift of every other present branch against `reference`, from
/// one OLS fit on the modelling rows (`y ~ branch [+ covariate]`). With `always_valid`
/// (and the clients of the frame, the default tuning sample size) the intervals are
/// always-valid ones, `n` being the modelling rows of the two branches compared.
#[allow(clippy::too_many_arguments)]
fn comparison_rows(
    branches: &[String],
    reference: usize,
    codes: &[u32],
    y: &[f64],
    x: Option<&[f64]>,
    degenerate: bool,
    ctx: &Context,
    statistic: &str,
    always_valid: Option<(&AlwaysValid, usize)>,
) -> Vec<Row> {
    let present: Vec<bool> = (0..branches.len())
        .map(|b| codes.iter().any(|c| *c as usize == b))
        .collect();
    if !present[reference] {
        return Vec::new();
    }
    let remap: Vec<u32> = {
        let mut next = 0u32;
        present
            .iter()
            .map(|p| {
                let v = next;
                if *p {
                    next += 1;
                }
                v
            })
            .collect()
    };
    let model_codes: Vec<u32> = codes.iter().map(|c| remap[*c as usize]).collect();
    let n_present = present.iter().filter(|p| **p).count();
    let fitted = if degenerate || n_present < 2 {
        None
    } else {
        fit(&model_codes, y, x, n_present, 0).or_else(|| fit(&model_codes, y, None, n_present, 0))
    };
    let mut rows = Vec::new();
    for f in 0..branches.len() {
        if f == reference || !present[f] {
            continue;
        }
        let (mf, mr) = (remap[f] as usize, remap[reference] as usize);
        let multiplier = always_valid.map(|(av, clients)| {
            let n = codes
                .iter()
                .filter(|c| **c as usize == f || **c as usize == reference)
                .count();
            let tuning = av.tuning_sample_size.unwrap_or(clients as u64) as f64;
            sequential::multiplier(n as f64, tuning, av.alpha).unwrap_or(f64::NAN)
        });
        let (d, rel) = match &fitted {
            Some(fit) => (
                fit.difference(mf, mr, multiplier),
                fit.relative(mf, mr, multiplier),
            ),
            None => (
                (f64::NAN, f64::NAN, f64::NAN),
                (f64::NAN, f64::NAN, f64::NAN),
            ),
        };
        for (cmp, (p, lo, hi)) in [
            (Comparison::Difference, d),
            (Comparison::RelativeUplift, rel),
        ] {
            let mut row = lm_row(ctx, statistic, &branches[f]);
            row.comparison = Some(cmp);
            row.comparison_to_branch = Some(branches[reference].clone());
            row.point = finite(p);
            row.lower = finite(lo);
            row.upper = finite(hi);
            if let Some((av, _)) = always_valid {
                row.ci_width = Some(1.0 - av.alpha);
            }
            rows.push(row);
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An all-zero reference branch skips its pass with a warning note (the reference logs a
    /// warning); the other passes still run.
    #[test]
    fn an_all_zero_reference_branch_is_a_warning_note() {
        let labels = [
            "control",
            "control",
            "control",
            "treatment",
            "treatment",
            "treatment",
        ];
        let f = Frame::new(&labels)
            .with_column("y", vec![0.0, 0.0, 0.0, 1.0, 2.0, 4.0])
            .unwrap();
        let ctx = Context::new("y");
        let rows = lm_rows(&f, "y", None, &ctx, 0.0, "mean_lm", None).unwrap();
        let notes = ctx.notes.take();
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].level, NoteLevel::Warning);
        assert!(
            notes[0]
                .message
                .contains("reference branch 'control' has 3 non-null client(s)")
        );
        assert!(
            rows.iter()
                .all(|r| r.comparison_to_branch.as_deref() != Some("control"))
        );
        assert!(
            rows.iter()
                .any(|r| r.comparison_to_branch.as_deref() == Some("treatment"))
        );
    }

    /// `Statistic.apply` clips the shared DataFrame once per reference branch: the per-branch
    /// rows are means of the data clipped twice (two branches), the comparisons against the
    /// first branch use the data clipped once.
    #[test]
    fn per_branch_rows_come_from_the_last_of_the_cumulative_clipping_passes() {
        let n = 400;
        let labels: Vec<&str> = (0..n)
            .map(|i| if i % 2 == 0 { "control" } else { "treatment" })
            .collect();
        // a long right tail, so each pass moves the 0.99 quantile
        let y: Vec<f64> = (0..n)
            .map(|i| ((i * 37) % n) as f64 * 1.03f64.powi(i % 97))
            .collect();
        let f = Frame::new(&labels).with_column("y", y.clone()).unwrap();
        let ctx = Context::new("y");
        let rows = lm_rows(&f, "y", None, &ctx, 0.01, "mean_lm", None).unwrap();
        let clip = |v: &[f64]| {
            let t = quantile(v, 0.99);
            v.iter().map(|x| x.min(t)).collect::<Vec<f64>>()
        };
        let once = clip(&y);
        let twice = clip(&once);
        assert_ne!(once, twice);
        let mean = |v: &[f64], b: usize| {
            let xs: Vec<f64> = v.iter().skip(b).step_by(2).copied().collect();
            xs.iter().sum::<f64>() / xs.len() as f64
        };
        let point = |branch: &str, cmp: Option<Comparison>| {
            rows.iter()
                .find(|r| r.branch == branch && r.comparison == cmp)
                .and_then(|r| r.point)
                .unwrap()
        };
        assert!((point("control", None) - mean(&twice, 0)).abs() < 1e-9);
        assert!((point("treatment", None) - mean(&twice, 1)).abs() < 1e-9);
        // treatment vs control: first pass (clipped once); control vs treatment: second pass
        let d1 = point("treatment", Some(Comparison::Difference));
        assert!((d1 - (mean(&once, 1) - mean(&once, 0))).abs() < 1e-9);
        let d2 = point("control", Some(Comparison::Difference));
        assert!((d2 - (mean(&twice, 0) - mean(&twice, 1))).abs() < 1e-9);
    }

    /// mozanalysis' pinned case: y = 0..299, control 0..99, treatment-a 100..199,
    /// treatment-b 200..299.
    #[test]
    fn t_quantiles_for_huge_samples() {
        let z = z_quantile(0.975);
        assert!((z - 1.959963984540054).abs() < 1e-12, "{z}");
        for df in [1e4, 1e6, 1e7, 3e7, 1e9] {
            let t = t_quantile(df, 0.975);
            assert!(t > z && t - z < 3.0 / df, "{df}: {t}");
        }
        // continuity at the switch-over
        assert!((t_quantile(1000.0, 0.975) - t_quantile(1000.5, 0.975)).abs() < 5e-6);
        // scipy.stats.t.ppf(0.975, 1e5) = 1.9599877...
        assert!((t_quantile(1e5, 0.975) - 1.959987711).abs() < 1e-6);
        assert!((t_quantile(99.0, 0.975) - 1.984216951).abs() < 1e-6);
    }

    #[test]
    fn reference_numbers() {
        let labels: Vec<&str> = (0..300)
            .map(|i| ["control", "treatment-a", "treatment-b"][i / 100])
            .collect();
        let f = Frame::new(&labels)
            .with_column("y", (0..300).map(f64::from).collect())
            .unwrap();
        let ctx = Context::new("y");
        let rows = lm_rows(&f, "y", None, &ctx, 0.0, "mean_lm", None).unwrap();
        let get = |b: &str, c: Option<Comparison>, r: Option<&str>| {
            rows.iter()
                .find(|x| {
                    x.branch == b && x.comparison == c && x.comparison_to_branch.as_deref() == r
                })
                .unwrap()
                .clone()
        };
        let ind = get("control", None, None);
        assert!((ind.point.unwrap() - 49.5).abs() < 1e-9);
        assert!((ind.lower.unwrap() - 43.74349058306416).abs() < 1e-6);
        assert!((ind.upper.unwrap() - 55.25650941693584).abs() < 1e-6);
        let abs = get("treatment-a", Some(Comparison::Difference), Some("control"));
        assert!((abs.point.unwrap() - 100.0).abs() < 1e-9);
        assert!((abs.lower.unwrap() - 91.9256695348).abs() < 1e-6);
        assert!((abs.upper.unwrap() - 108.0743304652).abs() < 1e-6);
        let rel = get(
            "treatment-a",
            Some(Comparison::RelativeUplift),
            Some("control"),
        );
        assert!((rel.point.unwrap() - 2.0202020202).abs() < 1e-9);
        assert!(
            (rel.lower.unwrap() - 1.6759891714).abs() < 1e-6,
            "{:?}",
            rel.lower
        );
        assert!((rel.upper.unwrap() - 2.4086910143).abs() < 1e-6);
        let rel_b = get(
            "treatment-b",
            Some(Comparison::RelativeUplift),
            Some("control"),
        );
        assert!((rel_b.lower.unwrap() - 3.4833728944).abs() < 1e-6);
        assert!((rel_b.upper.unwrap() - 4.6666428354).abs() < 1e-6);
        let abs_b = get("treatment-b", Some(Comparison::Difference), Some("control"));
        assert!((abs_b.lower.unwrap() - 191.9256695348).abs() < 1e-6);
        // 3 individual + 6 ordered pairs × 2 comparisons
        assert_eq!(rows.len(), 15);
    }
}
