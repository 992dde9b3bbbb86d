//! `jetstream statistics`: one statistic on a CSV of per-client rows, as JSON rows.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use jetstream_config::statistic::{Statistic, statistic_from_params};
use jetstream_stats::{Context, Frame, Row, run};
use serde_json::{Value, json};

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

/// A CSV reading error, naming the file and, when csv knows them, the line and the column.
fn csv_error(file: &Path, header: Option<&csv::StringRecord>, e: &csv::Error) -> anyhow::Error {
    let file = file.display();
    match e.kind() {
        csv::ErrorKind::Utf8 { pos, err } => {
            let column = match header.and_then(|h| h.get(err.field())) {
                Some(name) => format!("column {name:?}"),
                None => format!("field {}", err.field() + 1),
            };
            match pos {
                Some(pos) => {
                    anyhow::anyhow!("{file}: line {}: {column}: not valid UTF-8", pos.line())
                }
                None => anyhow::anyhow!("{file}: {column}: not valid UTF-8"),
            }
        }
        csv::ErrorKind::Io(_) => anyhow::anyhow!("reading {file}: {e}"),
        _ => anyhow::anyhow!("{file}: {e}"),
    }
}

/// A record made of one blank field: an empty or whitespace-only line, skipped.
fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].trim().is_empty()
}

/// The frame, and for each column the line of the first cell that is not a number.
fn read_frame(path: &Path, branch_column: &str) -> anyhow::Result<(Frame, Vec<(String, usize)>)> {
    let file = path.display();
    // csv strips a UTF-8 BOM at the start, accepts LF, CR and CRLF line ends and skips empty
    // lines; records may differ in length so that the error below can name the line.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("reading {file}"))?;
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => bail!("{file}: empty input (no header row)"),
            Some(Err(e)) => return Err(csv_error(path, None, &e)),
            Some(Ok(r)) if is_blank(&r) => {}
            Some(Ok(r)) => break r,
        }
    };
    let Some(bcol) = header.iter().position(|h| h == branch_column) else {
        bail!(
            "{file}: branch column {branch_column:?} not found (columns: {})",
            header.iter().collect::<Vec<_>>().join(", ")
        );
    };
    let mut branches = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    let mut bad: Vec<Option<usize>> = vec![None; header.len()];
    for record in records {
        let record = record.map_err(|e| csv_error(path, Some(&header), &e))?;
        if is_blank(&record) {
            continue;
        }
        // The line the record starts on (a quoted field may span lines).
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != header.len() {
            bail!(
                "{file}: line {line}: {} fields, the header has {}",
                record.len(),
                header.len()
            );
        }
        for (c, f) in record.iter().enumerate() {
            if c == bcol {
                branches.push(f.to_string());
                continue;
            }
            let v = match f.trim() {
                "" | "NULL" | "null" | "NA" | "nan" | "NaN" => f64::NAN,
                "true" | "True" | "TRUE" => 1.0,
                "false" | "False" | "FALSE" => 0.0,
                s => s.parse::<f64>().unwrap_or_else(|_| {
                    // Only columns the statistic reads must be numeric; remember the first.
                    bad[c].get_or_insert(line);
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
        .filter_map(|(name, line)| line.map(|l| (name.to_string(), l)))
        .collect();
    Ok((frame, bad))
}

/// Reject non-numeric cells in the columns the statistic reads.
fn check_numeric(
    frame: &Frame,
    bad: &[(String, usize)],
    path: &Path,
    columns: &[&str],
) -> anyhow::Result<()> {
    for c in columns {
        if !frame.has_column(c) {
            bail!("{}: column {c:?} not found", path.display());
        }
        if let Some((_, line)) = bad.iter().find(|(name, _)| name == c) {
            bail!(
                "{}: line {line}: column {c:?}: not a number",
                path.display()
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
    let (frame, bad) = read_frame(&args.input, &args.branch_column)?;
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
    check_numeric(&frame, &bad, &args.input, &needed)?;
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
    crate::out_doc!("{}", serde_json::to_string_pretty(&json)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write `bytes` to a fresh file of this test process and read it as a frame.
    fn read(name: &str, bytes: &[u8]) -> anyhow::Result<(Frame, Vec<(String, usize)>)> {
        let dir = std::env::temp_dir().join(format!("jetstream-stats-cmd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write csv");
        let result = read_frame(&path, "branch");
        std::fs::remove_file(&path).expect("remove csv");
        result
    }

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        let (frame, bad) = read(
            "quoted.csv",
            b"branch,x\n\"control, the old one\",1\n\"treat \"\"A\"\"\",2.5\n",
        )
        .expect("frame");
        assert!(bad.is_empty(), "{bad:?}");
        let mut branches = frame.branches().to_vec();
        branches.sort();
        assert_eq!(branches, ["control, the old one", "treat \"A\""]);
        assert_eq!(frame.column("x").expect("x"), [1.0, 2.5]);
    }

    #[test]
    fn a_utf8_bom_before_the_header_is_ignored() {
        let (frame, _) = read(
            "bom.csv",
            "\u{feff}branch,x\ncontrol,1\ntreatment,2\n".as_bytes(),
        )
        .expect("the BOM is not part of the branch column's name");
        assert_eq!(frame.len(), 2);
        assert!(frame.has_column("x"));
    }

    #[test]
    fn crlf_line_ends_and_blank_lines() {
        let (frame, bad) = read(
            "crlf.csv",
            b"branch,x,flag\r\ncontrol,1,true\r\n\r\n  \r\ntreatment,2,FALSE\r\n",
        )
        .expect("frame");
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(frame.column("x").expect("x"), [1.0, 2.0]);
        // no stray `\r` at the end of the last column
        assert_eq!(frame.column("flag").expect("flag"), [1.0, 0.0]);
    }

    #[test]
    fn a_bad_number_names_the_line_and_column() {
        let path = Path::new("bad.csv");
        let (frame, bad) = read(
            "bad.csv",
            b"branch,x,y\ncontrol,1,2\n\"treat\nment\",3,4\ntreatment,oops,5\n",
        )
        .expect("frame");
        // Only the columns the statistic reads have to be numeric.
        check_numeric(&frame, &bad, path, &["y"]).expect("y is numeric");
        let e = check_numeric(&frame, &bad, path, &["y", "x"]).expect_err("x is not");
        // the quoted branch spans lines 3-4, so the bad cell is on line 5
        assert_eq!(e.to_string(), "bad.csv: line 5: column \"x\": not a number");
    }

    #[test]
    fn a_short_record_names_the_file_and_line() {
        let e = read("short.csv", b"branch,x\ncontrol,1\ntreatment\n").expect_err("short record");
        let msg = e.to_string();
        assert!(
            msg.ends_with("short.csv: line 3: 1 fields, the header has 2"),
            "{msg}"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line_and_column() {
        let e =
            read("latin1.csv", b"branch,x\ncontrol,1\ntreatment,\xe9\n").expect_err("not UTF-8");
        let msg = e.to_string();
        assert!(
            msg.ends_with("latin1.csv: line 3: column \"x\": not valid UTF-8"),
            "{msg}"
        );
    }
}
