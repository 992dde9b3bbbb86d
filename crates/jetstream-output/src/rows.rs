//! Statistics rows as warehouse columns and back: the one conversion between
//! [`jetstream_stats::Row`] and the statistics tables and views, used by the analysis that
//! writes the tables, the export, the report and the CLI's summaries.

use jetstream_stats::{Comparison, Row};
use jetstream_warehouse::{Column, Columns, WarehouseError};

use crate::OutputError;

/// Rows as the columns of a statistics table (schema version 4: every field of
/// [`Row::FIELDS`] but `window_index`, which the views add).
pub fn statistics_columns(rows: &[Row]) -> Result<Columns, WarehouseError> {
    let text = |f: &dyn Fn(&Row) -> Option<String>| Column::Text(rows.iter().map(f).collect());
    let float = |f: &dyn Fn(&Row) -> Option<f64>| Column::Float(rows.iter().map(f).collect());
    let columns: [Column; 12] = [
        text(&|r| Some(r.metric.clone())),
        text(&|r| Some(r.statistic.clone())),
        text(&|r| r.parameter.clone()),
        text(&|r| Some(r.branch.clone())),
        text(&|r| r.comparison.map(|c| c.as_str().to_string())),
        text(&|r| r.comparison_to_branch.clone()),
        float(&|r| r.ci_width),
        float(&|r| r.point),
        float(&|r| r.lower),
        float(&|r| r.upper),
        text(&|r| Some(r.segment.clone())),
        text(&|r| Some(r.analysis_basis.clone())),
    ];
    Columns::from_pairs(
        Row::FIELDS
            .iter()
            .map(|f| (*f).to_string())
            .zip(columns)
            .collect(),
    )
}

/// The rows of a statistics table or view (`what` names it in errors). Columns of
/// [`Row::FIELDS`] that are absent read as NULL, except `segment` (`all`) and
/// `analysis_basis` (`enrollments`), as in tables written before segments and bases; a
/// missing or NULL required field ([`Row::REQUIRED`]), an unknown `comparison` or a
/// non-numeric number is an error naming the row and field.
pub fn statistics_rows(what: &str, columns: &Columns) -> Result<Vec<Row>, OutputError> {
    let err = |message: String| OutputError::Format {
        what: what.to_string(),
        message,
    };
    for required in Row::REQUIRED {
        if columns.get(required).is_none() {
            return Err(err(format!("no column {required:?}")));
        }
    }
    let text = |name: &str, row: usize| -> Option<String> {
        match columns.get(name)? {
            Column::Text(v) => v[row].clone(),
            other => Some(other.display(row)).filter(|v| v != "NULL"),
        }
    };
    let required = |name: &str, row: usize| {
        text(name, row).ok_or_else(|| err(format!("row {row} has NULL {name}")))
    };
    let float = |name: &str, row: usize| -> Result<Option<f64>, OutputError> {
        Ok(match columns.get(name) {
            None => None,
            Some(Column::Float(v)) => v[row],
            #[allow(clippy::cast_precision_loss)]
            Some(Column::Int(v)) => v[row].map(|i| i as f64),
            Some(Column::Text(v)) => match v[row].as_deref() {
                None => None,
                Some(s) => Some(
                    s.parse()
                        .map_err(|_| err(format!("row {row}: {name} {s:?} is not a number")))?,
                ),
            },
            Some(other) => {
                return Err(err(format!(
                    "row {row}: {name} {} is not a number",
                    other.display(row)
                )));
            }
        })
    };
    (0..columns.rows())
        .map(|row| {
            let comparison = match text("comparison", row).as_deref() {
                None => None,
                Some("difference") => Some(Comparison::Difference),
                Some("relative_uplift") => Some(Comparison::RelativeUplift),
                Some(other) => {
                    return Err(err(format!(
                        "row {row}: comparison {other:?} is neither \"difference\" nor \
                         \"relative_uplift\""
                    )));
                }
            };
            #[allow(clippy::cast_possible_truncation)]
            let window_index = float("window_index", row)?.map(|w| w as i64);
            Ok(Row {
                metric: required("metric", row)?,
                statistic: required("statistic", row)?,
                parameter: text("parameter", row),
                branch: required("branch", row)?,
                comparison,
                comparison_to_branch: text("comparison_to_branch", row),
                ci_width: float("ci_width", row)?,
                point: float("point", row)?,
                lower: float("lower", row)?,
                upper: float("upper", row)?,
                segment: text("segment", row).unwrap_or_else(|| "all".into()),
                analysis_basis: text("analysis_basis", row).unwrap_or_else(|| "enrollments".into()),
                window_index,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(comparison: Option<Comparison>, point: Option<f64>) -> Row {
        Row {
            metric: "active_hours".into(),
            statistic: "mean".into(),
            parameter: Some("0.5".into()),
            branch: "treatment".into(),
            comparison,
            comparison_to_branch: comparison.map(|_| "control".into()),
            ci_width: Some(0.95),
            point,
            lower: Some(-1.0),
            upper: None,
            segment: "all".into(),
            analysis_basis: "exposures".into(),
            window_index: None,
        }
    }

    #[test]
    fn rows_survive_a_table_round_trip() {
        let rows = vec![
            row(None, Some(1.5)),
            row(Some(Comparison::Difference), None),
            row(Some(Comparison::RelativeUplift), Some(0.25)),
        ];
        let columns = statistics_columns(&rows).unwrap();
        assert_eq!(columns.names(), &Row::FIELDS[..12]);
        assert_eq!(statistics_rows("t", &columns).unwrap(), rows);
    }

    #[test]
    fn a_views_window_index_and_integer_columns_are_read() {
        let table = statistics_columns(&[row(None, Some(2.0))]).unwrap();
        let mut names = table.names().to_vec();
        let mut cells = table.columns().to_vec();
        names.push("window_index".into());
        cells.push(Column::Int(vec![Some(3)]));
        let columns = Columns::new(names, cells);
        let rows = statistics_rows("v", &columns).unwrap();
        assert_eq!(rows[0].window_index, Some(3));
        assert_eq!(rows[0].point, Some(2.0));
    }

    #[test]
    fn bad_cells_are_errors_naming_the_row_and_field() {
        let good = statistics_columns(&[row(None, None)]).unwrap();
        let with = |name: &str, column: Column| {
            let cells = good
                .names()
                .iter()
                .zip(good.columns())
                .map(|(n, c)| if n == name { column.clone() } else { c.clone() })
                .collect();
            statistics_rows("v", &Columns::new(good.names().to_vec(), cells))
                .unwrap_err()
                .to_string()
        };
        let e = with("comparison", Column::Text(vec![Some("ratio".into())]));
        assert!(e.contains("row 0") && e.contains("\"ratio\""), "{e}");
        let e = with("point", Column::Text(vec![Some("high".into())]));
        assert!(e.contains("point \"high\" is not a number"), "{e}");
        let e = with("branch", Column::Text(vec![None]));
        assert!(e.contains("row 0 has NULL branch"), "{e}");
        let only_metric = Columns::from_pairs(vec![(
            "metric".into(),
            Column::Text(vec![Some("m".into())]),
        )])
        .unwrap();
        let e = statistics_rows("v", &only_metric).unwrap_err().to_string();
        assert!(
            e.contains("export of v") && e.contains("\"statistic\""),
            "{e}"
        );
    }
}
