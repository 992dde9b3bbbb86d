//! `statistics`: one statistic on a CSV file of per-client rows, as statistics rows.
//!
//! [`statistics_from_csv`] reads the file (a header row, a branch column, numeric or
//! true/false columns, empty cells NULL), builds the statistic from its name, parameters and
//! pre-treatments as a config would, checks the columns it reads, and runs it.

use std::path::Path;

use jetstream_config::enums::AnalysisPeriod;
use jetstream_config::statistic::{CovariateAdjustment, Statistic, statistic_from_params};
use jetstream_stats::{Context, Frame, Row, run};

use crate::JobError;

/// One statistic over a CSV file.
#[derive(Debug, Clone, Copy)]
pub struct StatisticsRequest<'a> {
    /// The CSV file.
    pub input: &'a Path,
    /// The metric column (and the metric name in the rows).
    pub metric: &'a str,
    /// The statistic (`bootstrap_mean`, `binomial`, …).
    pub statistic: &'a str,
    /// Its parameters as a config gives them (`drop_highest` = `0.01`); `covariate` names the
    /// covariate column of a linear model.
    pub params: &'a [(String, String)],
    /// Pre-treatments applied first, each with its parameters (`log`, [`base` = `2`]).
    pub pre_treatments: &'a [(String, Vec<(String, String)>)],
    /// The reference branch (must be in the data).
    pub reference_branch: &'a str,
    /// The branch column.
    pub branch_column: &'a str,
    /// Seed of the resampling statistics.
    pub seed: u64,
    /// Segment written into the rows.
    pub segment: &'a str,
    /// Analysis basis written into the rows.
    pub analysis_basis: &'a str,
    /// Days in the analysis window (for `normalize_over_analysis_period`).
    pub analysis_period_length: usize,
}

fn data(file: &Path, message: String) -> JobError {
    JobError::Data {
        what: file.display().to_string(),
        message,
    }
}

/// Run the statistic of `request` on its CSV file: the statistics rows (per branch, and the
/// comparisons with the reference branch).
pub fn statistics_from_csv(request: &StatisticsRequest<'_>) -> Result<Vec<Row>, JobError> {
    let r = request;
    let option = |option: String, message: String| JobError::Option { option, message };
    let mut params = Vec::new();
    let mut covariate = None;
    for (k, v) in r.params {
        if k == "covariate" {
            covariate = Some(v.clone());
        } else if k != "covariate_adjustment" {
            // covariate_adjustment is a table in configs; here `covariate` names the column.
            params.push((k.clone(), v.clone()));
        }
    }
    let mut spec = statistic_from_params(r.statistic, &params, r.pre_treatments)
        .map_err(|e| option(format!("--statistic {}", r.statistic), e.to_string()))?;
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
                *covariate_adjustment = Some(CovariateAdjustment {
                    period: AnalysisPeriod::PreenrollmentWeek,
                    metric: None,
                });
            }
            _ => {
                return Err(option(
                    format!("--param covariate={c}"),
                    "only linear_model_mean and per_client_dau_impact take a covariate".into(),
                ));
            }
        }
    }
    let (frame, bad) = read_frame(r.input, r.branch_column)?;
    let depends: Vec<&str> = match &spec.statistic {
        Statistic::PopulationRatio {
            numerator,
            denominator,
            ..
        } => vec![numerator.as_str(), denominator.as_str()],
        _ => Vec::new(),
    };
    let mut needed: Vec<&str> = Vec::new();
    if depends.is_empty() {
        needed.push(r.metric);
    }
    needed.extend(depends.iter().copied());
    if let Some(c) = &covariate {
        needed.push(c);
    }
    check_numeric(&frame, &bad, r.input, &needed)?;
    if frame.branches().len() < 2 {
        return Err(data(
            r.input,
            format!(
                "only one branch ({}) in column {:?}; comparisons need at least two",
                frame.branches().join(", "),
                r.branch_column
            ),
        ));
    }
    if frame.branch_index(r.reference_branch).is_none() {
        return Err(data(
            r.input,
            format!(
                "reference branch {:?} not found (branches: {})",
                r.reference_branch,
                frame.branches().join(", ")
            ),
        ));
    }
    let mut ctx = Context::new(r.metric);
    ctx.seed = r.seed;
    ctx.segment = r.segment.to_string();
    ctx.analysis_basis = r.analysis_basis.to_string();
    ctx.reference_branch = r.reference_branch.to_string();
    ctx.covariate = covariate;
    run(
        &spec.statistic,
        &spec.pre_treatments,
        &frame,
        r.metric,
        &depends,
        r.analysis_period_length,
        &ctx,
    )
    .map_err(|e| JobError::Stats {
        what: format!("{} on {}", r.statistic, r.metric),
        source: e,
    })
}

/// A CSV reading error, naming the file and, when csv knows them, the line and the column.
fn csv_error(file: &Path, header: Option<&csv::StringRecord>, e: csv::Error) -> JobError {
    let text = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Utf8 { pos, err } => {
            let column = match header.and_then(|h| h.get(err.field())) {
                Some(name) => format!("column {name:?}"),
                None => format!("field {}", err.field() + 1),
            };
            data(
                file,
                match pos {
                    Some(pos) => format!("line {}: {column}: not valid UTF-8", pos.line()),
                    None => format!("{column}: not valid UTF-8"),
                },
            )
        }
        csv::ErrorKind::Io(source) => JobError::Io {
            what: format!("reading {}", file.display()),
            source,
        },
        _ => data(file, text),
    }
}

/// A record made of one blank field: an empty or whitespace-only line, skipped.
fn is_blank(record: &csv::StringRecord) -> bool {
    record.len() == 1 && record[0].trim().is_empty()
}

/// The frame, and for each column the line of the first cell that is not a number.
fn read_frame(path: &Path, branch_column: &str) -> Result<(Frame, Vec<(String, usize)>), JobError> {
    // csv strips a UTF-8 BOM at the start, accepts LF, CR and CRLF line ends and skips empty
    // lines; records may differ in length so that the error below can name the line.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .map_err(|e| csv_error(path, None, e))?;
    let mut records = reader.records();
    let header = loop {
        match records.next() {
            None => return Err(data(path, "empty input (no header row)".into())),
            Some(Err(e)) => return Err(csv_error(path, None, e)),
            Some(Ok(r)) if is_blank(&r) => {}
            Some(Ok(r)) => break r,
        }
    };
    let Some(bcol) = header.iter().position(|h| h == branch_column) else {
        return Err(data(
            path,
            format!(
                "branch column {branch_column:?} not found (columns: {})",
                header.iter().collect::<Vec<_>>().join(", ")
            ),
        ));
    };
    let mut branches = Vec::new();
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); header.len()];
    let mut bad: Vec<Option<usize>> = vec![None; header.len()];
    for record in records {
        let record = record.map_err(|e| csv_error(path, Some(&header), e))?;
        if is_blank(&record) {
            continue;
        }
        // The line the record starts on (a quoted field may span lines).
        let line = record.position().map_or(0, |p| p.line() as usize);
        if record.len() != header.len() {
            return Err(data(
                path,
                format!(
                    "line {line}: {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
            ));
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
        return Err(data(path, "empty input (no data rows)".into()));
    }
    let mut frame = Frame::new(&branches);
    for (c, name) in header.iter().enumerate() {
        if c != bcol {
            frame = frame
                .with_column(name, std::mem::take(&mut columns[c]))
                .map_err(|e| JobError::Stats {
                    what: format!("{}: column {name:?}", path.display()),
                    source: e,
                })?;
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
) -> Result<(), JobError> {
    for c in columns {
        if !frame.has_column(c) {
            return Err(data(path, format!("column {c:?} not found")));
        }
        if let Some((_, line)) = bad.iter().find(|(name, _)| name == c) {
            return Err(data(
                path,
                format!("line {line}: column {c:?}: not a number"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Write `bytes` to a scratch file and read it as a frame.
    fn read(name: &str, bytes: &[u8]) -> Result<(Frame, Vec<(String, usize)>), JobError> {
        let dir = jetstream_test_support::scratch("jetstream-stats-csv");
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write csv");
        read_frame(&path, "branch")
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
