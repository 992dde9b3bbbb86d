//! BigQuery's wire values ⇄ [`Columns`]: query results (`f`/`v` cells typed by the schema)
//! into columns, and columns into a load job's schema and newline-delimited JSON.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use jetstream_warehouse::{Column, Columns, WarehouseError};
use serde_json::{Value, json};

/// One result column being filled from cells.
#[derive(Debug)]
pub(crate) struct ColumnReader {
    name: String,
    bq_type: String,
    column: Column,
}

fn bad(name: &str, bq_type: &str, value: &Value) -> WarehouseError {
    WarehouseError::invalid_columns(format!(
        "column {name:?} of type {bq_type}: cannot read value {value}"
    ))
}

/// A float as BigQuery sends it (`"1.5"`, `"NaN"`, `"Infinity"`, `"-Infinity"`).
fn parse_f64(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        other => other.parse().ok(),
    }
}

/// A TIMESTAMP cell: integer microseconds (`useInt64Timestamp`) or float seconds (`"1.7E9"`).
fn parse_timestamp(s: &str) -> Option<NaiveDateTime> {
    if let Ok(micros) = s.parse::<i64>() {
        return DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc());
    }
    let secs: f64 = s.parse().ok()?;
    #[allow(clippy::cast_possible_truncation)]
    let micros = (secs * 1e6).round() as i64;
    DateTime::from_timestamp_micros(micros).map(|t| t.naive_utc())
}

/// A DATETIME cell: `2026-11-30T06:00:01[.ffffff]` (or with a space).
fn parse_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.replace(' ', "T");
    NaiveDateTime::parse_from_str(&s, "%Y-%m-%dT%H:%M:%S%.f").ok()
}

impl ColumnReader {
    /// A reader for a field of BigQuery type `bq_type` (`mode` REPEATED fields and records are
    /// read as their JSON text).
    pub(crate) fn new(name: &str, bq_type: &str, mode: Option<&str>) -> Self {
        let bq_type = if mode == Some("REPEATED") {
            "REPEATED".to_string()
        } else {
            bq_type.to_ascii_uppercase()
        };
        let column = match bq_type.as_str() {
            "INTEGER" | "INT64" => Column::Int(Vec::new()),
            "FLOAT" | "FLOAT64" | "NUMERIC" | "BIGNUMERIC" | "DECIMAL" | "BIGDECIMAL" => {
                Column::Float(Vec::new())
            }
            "BOOLEAN" | "BOOL" => Column::Bool(Vec::new()),
            "DATE" => Column::Date(Vec::new()),
            "TIMESTAMP" | "DATETIME" => Column::Timestamp(Vec::new()),
            _ => Column::Text(Vec::new()),
        };
        Self {
            name: name.to_string(),
            bq_type,
            column,
        }
    }

    /// Append one cell (`null` or absent is NULL).
    pub(crate) fn push(&mut self, value: Option<&Value>) -> Result<(), WarehouseError> {
        let value = value.filter(|v| !v.is_null());
        let text = value.map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        let fail = || bad(&self.name, &self.bq_type, value.unwrap_or(&Value::Null));
        match &mut self.column {
            Column::Int(v) => v.push(match &text {
                Some(t) => Some(t.parse().map_err(|_| fail())?),
                None => None,
            }),
            Column::Float(v) => v.push(match &text {
                Some(t) => Some(parse_f64(t).ok_or_else(fail)?),
                None => None,
            }),
            Column::Bool(v) => v.push(match text.as_deref() {
                Some("true" | "TRUE") => Some(true),
                Some("false" | "FALSE") => Some(false),
                Some(_) => return Err(fail()),
                None => None,
            }),
            Column::Date(v) => v.push(match &text {
                Some(t) => Some(NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| fail())?),
                None => None,
            }),
            Column::Timestamp(v) => v.push(match &text {
                Some(t) if self.bq_type == "DATETIME" => Some(parse_datetime(t).ok_or_else(fail)?),
                Some(t) => Some(parse_timestamp(t).ok_or_else(fail)?),
                None => None,
            }),
            Column::Text(v) => v.push(text),
        }
        Ok(())
    }

    /// The column's name and values.
    pub(crate) fn finish(self) -> (String, Column) {
        (self.name, self.column)
    }
}

/// The BigQuery type a column is loaded as.
pub(crate) fn bq_type(column: &Column) -> &'static str {
    match column {
        Column::Bool(_) => "BOOL",
        Column::Int(_) => "INT64",
        Column::Float(_) => "FLOAT64",
        Column::Text(_) => "STRING",
        Column::Date(_) => "DATE",
        Column::Timestamp(_) => "TIMESTAMP",
    }
}

/// The load job schema of `columns` (every field NULLABLE).
pub(crate) fn load_schema(columns: &Columns) -> Value {
    let fields: Vec<Value> = columns
        .names()
        .iter()
        .zip(columns.columns())
        .map(|(name, column)| json!({"name": name, "type": bq_type(column), "mode": "NULLABLE"}))
        .collect();
    json!({ "fields": fields })
}

fn cell(column: &Column, row: usize) -> Value {
    fn float(x: f64) -> Value {
        if x.is_nan() {
            Value::from("NaN")
        } else if x.is_infinite() {
            Value::from(if x > 0.0 { "Infinity" } else { "-Infinity" })
        } else {
            json!(x)
        }
    }
    match column {
        Column::Bool(v) => v[row].map_or(Value::Null, Value::from),
        Column::Int(v) => v[row].map_or(Value::Null, Value::from),
        Column::Float(v) => v[row].map_or(Value::Null, float),
        Column::Text(v) => v[row].as_deref().map_or(Value::Null, Value::from),
        Column::Date(v) => v[row].map_or(Value::Null, |d| {
            Value::from(d.format("%Y-%m-%d").to_string())
        }),
        Column::Timestamp(v) => v[row].map_or(Value::Null, |t| {
            Value::from(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
        }),
    }
}

/// The rows of `columns` as newline-delimited JSON objects (a load job's body).
pub(crate) fn ndjson(columns: &Columns) -> Vec<u8> {
    let mut out = Vec::new();
    for row in 0..columns.rows() {
        let object: serde_json::Map<String, Value> = columns
            .names()
            .iter()
            .zip(columns.columns())
            .map(|(name, column)| (name.clone(), cell(column, row)))
            .collect();
        // Serialising a map of plain values cannot fail.
        if let Ok(line) = serde_json::to_vec(&Value::Object(object)) {
            out.extend_from_slice(&line);
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bq_type: &str, mode: Option<&str>, cells: &[Value]) -> Column {
        let mut r = ColumnReader::new("c", bq_type, mode);
        for c in cells {
            r.push(Some(c)).unwrap();
        }
        r.push(None).unwrap();
        r.finish().1
    }

    #[test]
    fn cells_are_read_by_schema_type() {
        assert_eq!(
            read("INTEGER", None, &[json!("12")]),
            Column::Int(vec![Some(12), None])
        );
        let f = read(
            "FLOAT",
            None,
            &[json!("2.5"), json!("NaN"), json!("-Infinity")],
        );
        let Column::Float(v) = f else { panic!() };
        assert_eq!(v[0], Some(2.5));
        assert!(v[1].unwrap().is_nan());
        assert_eq!(v[2], Some(f64::NEG_INFINITY));
        assert_eq!(
            read("BOOLEAN", None, &[json!("true")]),
            Column::Bool(vec![Some(true), None])
        );
        let d = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
        assert_eq!(
            read("DATE", None, &[json!("2026-11-30")]),
            Column::Date(vec![Some(d), None])
        );
        let t = d.and_hms_opt(6, 0, 1).unwrap();
        assert_eq!(
            read(
                "TIMESTAMP",
                None,
                &[json!("1796018401000000"), json!("1.796018401E9")]
            ),
            Column::Timestamp(vec![Some(t), Some(t), None])
        );
        assert_eq!(
            read("DATETIME", None, &[json!("2026-11-30T06:00:01")]),
            Column::Timestamp(vec![Some(t), None])
        );
        assert_eq!(
            read("STRING", Some("REPEATED"), &[json!([{"v": "a"}])]),
            Column::Text(vec![Some(r#"[{"v":"a"}]"#.into()), None])
        );
        let mut r = ColumnReader::new("n", "INT64", None);
        let err = r.push(Some(&json!("x"))).unwrap_err().to_string();
        assert!(err.contains("\"n\"") && err.contains("INT64"), "{err}");
    }

    #[test]
    fn columns_become_a_schema_and_ndjson() {
        let d = NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
        let columns = Columns::from_pairs(vec![
            ("i".into(), Column::Int(vec![Some(1), None])),
            ("f".into(), Column::Float(vec![Some(f64::NAN), Some(0.1)])),
            ("s".into(), Column::Text(vec![Some("a\"b".into()), None])),
            ("d".into(), Column::Date(vec![Some(d), None])),
            (
                "t".into(),
                Column::Timestamp(vec![d.and_hms_opt(3, 4, 5), None]),
            ),
            ("b".into(), Column::Bool(vec![None, Some(false)])),
        ])
        .unwrap();
        let schema = load_schema(&columns);
        assert_eq!(
            schema["fields"][1],
            json!({"name": "f", "type": "FLOAT64", "mode": "NULLABLE"})
        );
        let text = String::from_utf8(ndjson(&columns)).unwrap();
        assert_eq!(
            text,
            "{\"i\":1,\"f\":\"NaN\",\"s\":\"a\\\"b\",\"d\":\"2026-01-02\",\"t\":\"2026-01-02 03:04:05.000000\",\"b\":null}\n\
             {\"i\":null,\"f\":0.1,\"s\":null,\"d\":null,\"t\":null,\"b\":false}\n"
        );
    }
}
