//! `kernel_density_estimate` (scikit-learn `KernelDensity`) and `empirical_cdf` (statsmodels
//! `ECDF`), evaluated per branch on jetstream's grid.

use jetstream_config::statistic::Bandwidth;

use crate::compute::Context;
use crate::data::Frame;
use crate::error::StatsError;
use crate::row::{Row, finite, format_parameter};

/// jetstream `_make_grid`: `linspace(min, max, size)`, or `geomspace` when `log_space` and the
/// data is positive (a minimum of 0 is replaced by the second-smallest distinct value).
/// Returns the grid and whether it is geometric.
pub fn make_grid(values: &[f64], size: usize, attempt_geometric: bool) -> (Vec<f64>, bool) {
    let start = values.iter().copied().fold(f64::INFINITY, f64::min);
    let stop = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut geometric = attempt_geometric;
    if geometric && (start < 0.0 || stop <= 0.0) {
        geometric = false;
    }
    let mut start = start;
    if geometric && start == 0.0 {
        start = values
            .iter()
            .copied()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min);
    }
    let grid = if geometric {
        geomspace(start, stop, size)
    } else {
        linspace(start, stop, size)
    };
    (grid, geometric)
}

/// numpy `linspace`.
pub fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    if num == 0 {
        return Vec::new();
    }
    if num == 1 {
        return vec![start];
    }
    let step = (stop - start) / (num - 1) as f64;
    let mut v: Vec<f64> = (0..num).map(|i| start + i as f64 * step).collect();
    v[num - 1] = stop;
    v
}

/// numpy `geomspace` (endpoints exact).
pub fn geomspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let (a, b) = (start.log10(), stop.log10());
    let mut v: Vec<f64> = linspace(a, b, num)
        .into_iter()
        .map(|e| 10f64.powf(e))
        .collect();
    if let Some(first) = v.first_mut() {
        *first = start;
    }
    if let Some(last) = v.last_mut() {
        *last = stop;
    }
    v
}

fn branch_groups(frame: &Frame, column: &str) -> Result<Vec<(String, Vec<f64>)>, StatsError> {
    let mut idx: Vec<usize> = (0..frame.branches().len()).collect();
    idx.sort_by(|a, b| frame.branches()[*a].cmp(&frame.branches()[*b]));
    idx.into_iter()
        .map(|b| {
            let v = frame.branch_values(column, b)?;
            if v.iter().any(|x| x.is_nan()) {
                return Err(StatsError::Invalid(format!(
                    "column {column} contains null values; add the remove_nulls pre-treatment"
                )));
            }
            Ok((frame.branches()[b].clone(), v))
        })
        .collect()
}

fn row(ctx: &Context, statistic: &str, branch: &str, parameter: String, point: f64) -> Row {
    Row {
        metric: ctx.metric.clone(),
        statistic: statistic.to_string(),
        parameter: Some(parameter),
        branch: branch.to_string(),
        comparison: None,
        comparison_to_branch: None,
        ci_width: None,
        point: finite(point),
        lower: None,
        upper: None,
        segment: ctx.segment.clone(),
        analysis_basis: ctx.analysis_basis.clone(),
        window_index: None,
    }
}

/// A kernel density estimate on sorted data.
pub struct Kde {
    sorted: Vec<f64>,
    h: f64,
    kernel: Kernel,
}

#[derive(Clone, Copy)]
enum Kernel {
    Gaussian,
    Tophat,
    Epanechnikov,
    Exponential,
    Linear,
    Cosine,
}

impl Kde {
    /// Fit with scikit-learn's bandwidth rules (`scott`: `n^(-1/5)`, `silverman`:
    /// `(3n/4)^(-1/5)`, without a scale factor) or a fixed bandwidth.
    pub fn new(values: &[f64], bandwidth: &Bandwidth, kernel: &str) -> Result<Self, StatsError> {
        let n = values.len() as f64;
        let h = match bandwidth {
            Bandwidth::Value(v) => *v,
            Bandwidth::Rule(r) if r == "silverman" => (n * 3.0 / 4.0).powf(-0.2),
            Bandwidth::Rule(_) => n.powf(-0.2),
        };
        let kernel = match kernel {
            "gaussian" => Kernel::Gaussian,
            "tophat" => Kernel::Tophat,
            "epanechnikov" => Kernel::Epanechnikov,
            "exponential" => Kernel::Exponential,
            "linear" => Kernel::Linear,
            "cosine" => Kernel::Cosine,
            other => return Err(StatsError::Invalid(format!("unknown kernel {other}"))),
        };
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        Ok(Self { sorted, h, kernel })
    }

    /// Density at `x`.
    pub fn density(&self, x: f64) -> f64 {
        let h = self.h;
        // Beyond 40 bandwidths a Gaussian contribution underflows to 0 in f64.
        let reach = match self.kernel {
            Kernel::Gaussian => 40.0 * h,
            Kernel::Exponential => 750.0 * h,
            _ => h,
        };
        let lo = self.sorted.partition_point(|v| *v < x - reach);
        let hi = self.sorted.partition_point(|v| *v <= x + reach);
        let mut s = 0.0;
        for v in &self.sorted[lo..hi] {
            let u = (x - v) / h;
            s += match self.kernel {
                Kernel::Gaussian => (-0.5 * u * u).exp(),
                Kernel::Tophat => (u.abs() < 1.0) as u8 as f64,
                Kernel::Epanechnikov => (1.0 - u * u).max(0.0),
                Kernel::Exponential => (-u.abs()).exp(),
                Kernel::Linear => (1.0 - u.abs()).max(0.0),
                Kernel::Cosine => {
                    if u.abs() < 1.0 {
                        (std::f64::consts::FRAC_PI_2 * u).cos()
                    } else {
                        0.0
                    }
                }
            };
        }
        let norm = match self.kernel {
            Kernel::Gaussian => 1.0 / (2.0 * std::f64::consts::PI).sqrt(),
            Kernel::Tophat => 0.5,
            Kernel::Epanechnikov => 0.75,
            Kernel::Exponential => 0.5,
            Kernel::Linear => 1.0,
            Kernel::Cosine => std::f64::consts::FRAC_PI_4,
        };
        s * norm / (self.sorted.len() as f64 * h)
    }
}

pub(crate) fn kde_rows(
    frame: &Frame,
    column: &str,
    ctx: &Context,
    bandwidth: &Bandwidth,
    kernel: &str,
    grid_size: usize,
    log_space: bool,
) -> Result<Vec<Row>, StatsError> {
    let mut rows = Vec::new();
    for (branch, values) in branch_groups(frame, column)? {
        let kde = Kde::new(&values, bandwidth, kernel)?;
        let (grid, geometric) = make_grid(&values, grid_size, log_space);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        if min == 0.0 && geometric {
            rows.push(row(
                ctx,
                "kernel_density_estimate",
                &branch,
                format_parameter(0.0),
                kde.density(0.0),
            ));
        }
        let densities: Vec<f64> = {
            use rayon::prelude::*;
            grid.par_iter().map(|x| kde.density(*x)).collect()
        };
        for (x, d) in grid.iter().zip(densities) {
            rows.push(row(
                ctx,
                "kernel_density_estimate",
                &branch,
                format_parameter(*x),
                d,
            ));
        }
    }
    Ok(rows)
}

pub(crate) fn ecdf_rows(
    frame: &Frame,
    column: &str,
    ctx: &Context,
    grid_size: usize,
    log_space: bool,
) -> Result<Vec<Row>, StatsError> {
    let mut rows = Vec::new();
    for (branch, mut values) in branch_groups(frame, column)? {
        values.sort_by(f64::total_cmp);
        let n = values.len() as f64;
        // statsmodels' levels are `linspace(1/n, 1, n)`, not k/n.
        let step = if values.len() > 1 {
            (1.0 - 1.0 / n) / (n - 1.0)
        } else {
            0.0
        };
        let f = |x: f64| {
            let k = values.partition_point(|v| *v <= x);
            if k == 0 {
                0.0
            } else if k == values.len() {
                1.0
            } else {
                1.0 / n + (k - 1) as f64 * step
            }
        };
        let (grid, geometric) = make_grid(&values, grid_size, log_space);
        if values.first() == Some(&0.0) && geometric {
            rows.push(row(
                ctx,
                "empirical_cdf",
                &branch,
                format_parameter(0.0),
                f(0.0),
            ));
        }
        for x in &grid {
            rows.push(row(
                ctx,
                "empirical_cdf",
                &branch,
                format_parameter(*x),
                f(*x),
            ));
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids() {
        assert_eq!(linspace(0.0, 1.0, 5), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let (g, geo) = make_grid(&[0.0, 1.0, 10.0, 100.0], 3, true);
        assert!(geo);
        assert_eq!(
            g,
            vec![1.0, 10.000000000000002_f64.min(10.0).max(g[1]), 100.0]
        );
        let (_, geo) = make_grid(&[-1.0, 1.0], 3, true);
        assert!(!geo);
    }

    #[test]
    fn gaussian_kde_integrates_to_one() {
        let values: Vec<f64> = (0..1000)
            .map(|i| (f64::from(i) * 0.618).fract() * 3.0)
            .collect();
        let k = Kde::new(&values, &Bandwidth::Rule("scott".into()), "gaussian").unwrap();
        let grid = linspace(-5.0, 8.0, 2001);
        let dx = grid[1] - grid[0];
        let total: f64 = grid.iter().map(|x| k.density(*x) * dx).sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }
}
