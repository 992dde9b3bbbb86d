//! `jetstream statistics`: one statistic on a CSV of per-client rows, as JSON rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use jetstream_job::statistics::{StatisticsRequest, statistics_from_csv};

/// Arguments of `statistics`.
#[derive(Debug, clap::Args)]
pub(crate) struct StatisticsArgs {
    /// CSV file with a header row: a branch column and numeric (or true/false) columns; empty
    /// cells are NULL.
    #[arg(long, value_name = "FILE.csv")]
    input: PathBuf,
    /// The metric column (and the metric name in the rows).
    #[arg(long, value_name = "COLUMN")]
    metric: String,
    /// Statistic name (bootstrap_mean, binomial, count, deciles, empirical_cdf,
    /// kernel_density_estimate, linear_model_mean, per_client_dau_impact, population_ratio, sum).
    #[arg(long, value_name = "NAME")]
    statistic: String,
    /// Statistic parameter, e.g. `drop_highest=0.01`, `numerator=COL`; for linear models
    /// `covariate=COL` names the covariate column.
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Pre-treatment applied before the statistic, e.g. `remove_nulls` or `log:base=2`.
    #[arg(
        long = "pre-treatment",
        alias = "pre_treatment",
        value_name = "NAME[:KEY=VALUE,...]"
    )]
    pre_treatments: Vec<String>,
    /// Reference branch (must be present in the data).
    #[arg(long, alias = "reference_branch", default_value = "control")]
    reference_branch: String,
    /// Name of the branch column.
    #[arg(long, alias = "branch_column", default_value = "branch")]
    branch_column: String,
    /// Seed of the resampling statistics.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Segment written into the rows.
    #[arg(long, default_value = "all")]
    segment: String,
    /// Analysis basis written into the rows.
    #[arg(long, alias = "analysis_basis", default_value = "enrollments")]
    analysis_basis: String,
    /// Days in the analysis window (for normalize_over_analysis_period; 1 to 100,000).
    #[arg(long, alias = "analysis_period_length", default_value_t = 1,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000))]
    analysis_period_length: usize,
}

fn split_kv(s: &str, what: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => bail!("{what} {s:?}: expected KEY=VALUE"),
    }
}

pub(crate) fn statistics(args: StatisticsArgs) -> anyhow::Result<ExitCode> {
    let params = args
        .params
        .iter()
        .map(|p| split_kv(p, "--param"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut pre = Vec::new();
    for p in &args.pre_treatments {
        let (name, rest) = p.split_once(':').unwrap_or((p.as_str(), ""));
        let kv = rest
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| split_kv(s, "--pre-treatment"))
            .collect::<anyhow::Result<Vec<_>>>()?;
        pre.push((name.trim().to_string(), kv));
    }
    let rows = statistics_from_csv(&StatisticsRequest {
        input: &args.input,
        metric: &args.metric,
        statistic: &args.statistic,
        params: &params,
        pre_treatments: &pre,
        reference_branch: &args.reference_branch,
        branch_column: &args.branch_column,
        seed: args.seed,
        segment: &args.segment,
        analysis_basis: &args.analysis_basis,
        analysis_period_length: args.analysis_period_length,
    })?;
    crate::out_doc!("{}", serde_json::to_string_pretty(&rows)?);
    Ok(ExitCode::SUCCESS)
}
