//! `jetstream statistics`: one statistic on a CSV of per-client rows, as JSON rows.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jetstream_config::statistic::{Statistic, statistic_from_params};
use jetstream_stats::{Context, Frame, Row, run};
use serde_json::{Value, json};

use crate::out;

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
    /// Days in the analysis window (for normalize_over_analysis_period).
    #[arg(long, alias = "analysis_period_length", default_value_t = 1)]
    analysis_period_length: usize,
}

fn split_kv(s: &str, what: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => bail!("{what} {s:?}: expected KEY=VALUE"),
    }
}

/// Split one CSV line (double quotes, doubled quotes inside).
fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// The frame, and for each column the first row whose cell is not a number.
fn read_frame(args: &StatisticsArgs) -> anyhow::Result<(Frame, Vec<(String, usize)>)> {
    let text = std::fs::read_to_string(&args.input)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let file = args.input.display();
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!("{file}: empty input (no header row)");
    };
    let header = csv_fields(header);
    let Some(bcol) = header.iter().position(|h| *h == args.branch_column) else {
        bail!(
            "{file}: branch column {:?} not found (columns: {})",
            args.branch_column,
            header.join(", ")
        );
    };
    let mut branches = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    let mut bad: Vec<Option<usize>> = vec![None; header.len()];
    for (i, line) in lines {
        let fields = csv_fields(line);
        if fields.len() != header.len() {
            bail!(
                "{file}: row {}: {} fields, the header has {}",
                i + 1,
                fields.len(),
                header.len()
            );
        }
        for (c, f) in fields.iter().enumerate() {
            if c == bcol {
                branches.push(f.clone());
                continue;
            }
            let v = match f.trim() {
                "" | "NULL" | "null" | "NA" | "nan" | "NaN" => f64::NAN,
                "true" | "True" | "TRUE" => 1.0,
                "false" | "False" | "FALSE" => 0.0,
                s => s.parse::<f64>().unwrap_or_else(|_| {
                    // Only columns the statistic reads must be numeric; remember the first.
                    bad[c].get_or_insert(i + 1);
                    f64::NAN
                }),
            };
            columns[c].push(v);
        }
    }
    if branches.is_empty() {
        bail!("{file}: empty input (no data rows)");
    }
    let mut frame = Frame::new(&branches);
    for (c, name) in header.iter().enumerate() {
        if c != bcol {
            frame = frame.with_column(name, std::mem::take(&mut columns[c]))?;
        }
    }
    let bad = header
        .iter()
        .zip(bad)
        .filter_map(|(name, row)| row.map(|r| (name.clone(), r)))
        .collect();
    Ok((frame, bad))
}

/// Reject non-numeric cells in the columns the statistic reads.
fn check_numeric(
    frame: &Frame,
    bad: &[(String, usize)],
    args: &StatisticsArgs,
    columns: &[&str],
) -> anyhow::Result<()> {
    for c in columns {
        if !frame.has_column(c) {
            bail!("{}: column {c:?} not found", args.input.display());
        }
        if let Some((_, row)) = bad.iter().find(|(name, _)| name == c) {
            bail!(
                "{}: line {row}: column {c:?}: not a number",
                args.input.display()
            );
        }
    }
    Ok(())
}

fn row_json(r: &Row) -> Value {
    json!({
        "metric": r.metric,
        "statistic": r.statistic,
        "parameter": r.parameter,
        "branch": r.branch,
        "comparison": r.comparison.map(|c| c.as_str()),
        "comparison_to_branch": r.comparison_to_branch,
        "ci_width": r.ci_width,
        "point": r.point,
        "lower": r.lower,
        "upper": r.upper,
        "segment": r.segment,
        "analysis_basis": r.analysis_basis,
    })
}

pub(crate) fn statistics(args: StatisticsArgs) -> anyhow::Result<ExitCode> {
    let mut params = Vec::new();
    let mut covariate = None;
    for p in &args.params {
        let (k, v) = split_kv(p, "--param")?;
        if k == "covariate" {
            covariate = Some(v);
        } else {
            params.push((k, v));
        }
    }
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
    if covariate.is_some()
        && matches!(
            args.statistic.as_str(),
            "linear_model_mean" | "per_client_dau_impact"
        )
    {
        params.push(("covariate_adjustment".into(), String::new()));
    }
    // covariate_adjustment is a table in configs; the CLI names the column directly.
    params.retain(|(k, _)| k != "covariate_adjustment");
    let mut spec = statistic_from_params(&args.statistic, &params, &pre)
        .map_err(|e| anyhow::anyhow!("invalid statistic: {e}"))?;
    if let Some(c) = &covariate {
        match &mut spec.statistic {
            Statistic::LinearModelMean {
                covariate_adjustment,
                ..
            }
            | Statistic::PerClientDauImpact {
                covariate_adjustment,
                ..
            } => {
                *covariate_adjustment = Some(jetstream_config::statistic::CovariateAdjustment {
                    period: jetstream_config::enums::AnalysisPeriod::PreenrollmentWeek,
                    metric: None,
                });
            }
            _ => bail!(
                "--param covariate={c}: only linear_model_mean and per_client_dau_impact take a covariate"
            ),
        }
    }
    let (frame, bad) = read_frame(&args)?;
    let mut needed: Vec<&str> = Vec::new();
    let depends: Vec<&str> = match &spec.statistic {
        Statistic::PopulationRatio {
            numerator,
            denominator,
            ..
        } => vec![numerator.as_str(), denominator.as_str()],
        _ => Vec::new(),
    };
    if depends.is_empty() {
        needed.push(&args.metric);
    }
    needed.extend(depends.iter().copied());
    if let Some(c) = &covariate {
        needed.push(c);
    }
    check_numeric(&frame, &bad, &args, &needed)?;
    if frame.branches().len() < 2 {
        bail!(
            "{}: only one branch ({}) in column {:?}; comparisons need at least two",
            args.input.display(),
            frame.branches().join(", "),
            args.branch_column
        );
    }
    if frame.branch_index(&args.reference_branch).is_none() {
        bail!(
            "{}: reference branch {:?} not found (branches: {})",
            args.input.display(),
            args.reference_branch,
            frame.branches().join(", ")
        );
    }
    let mut ctx = Context::new(&args.metric);
    ctx.seed = args.seed;
    ctx.segment = args.segment.clone();
    ctx.analysis_basis = args.analysis_basis.clone();
    ctx.reference_branch = args.reference_branch.clone();
    ctx.covariate = covariate;
    let rows = run(
        &spec.statistic,
        &spec.pre_treatments,
        &frame,
        &args.metric,
        &depends,
        args.analysis_period_length,
        &ctx,
    )
    .map_err(|e| anyhow::anyhow!("{} on {}: {e}", args.statistic, args.metric))?;
    let json: Vec<Value> = rows.iter().map(row_json).collect();
    out!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}
