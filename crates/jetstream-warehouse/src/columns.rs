//! Query results as typed columns.

use chrono::{NaiveDate, NaiveDateTime};

use crate::WarehouseError;

/// One result column; NULL is `None`.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    /// BOOLEAN.
    Bool(Vec<Option<bool>>),
    /// Integer types.
    Int(Vec<Option<i64>>),
    /// Floating-point and decimal types.
    Float(Vec<Option<f64>>),
    /// Strings.
    Text(Vec<Option<String>>),
    /// DATE.
    Date(Vec<Option<NaiveDate>>),
    /// TIMESTAMP (UTC, microseconds).
    Timestamp(Vec<Option<NaiveDateTime>>),
}

impl Column {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            Column::Bool(v) => v.len(),
            Column::Int(v) => v.len(),
            Column::Float(v) => v.len(),
            Column::Text(v) => v.len(),
            Column::Date(v) => v.len(),
            Column::Timestamp(v) => v.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as numbers (booleans as 0/1), as statistics read metric columns; `None` for
    /// text and date columns.
    pub fn to_f64(&self) -> Option<Vec<Option<f64>>> {
        Some(match self {
            Column::Bool(v) => v
                .iter()
                .map(|x| x.map(|b| f64::from(u8::from(b))))
                .collect(),
            #[allow(clippy::cast_precision_loss)]
            Column::Int(v) => v.iter().map(|x| x.map(|i| i as f64)).collect(),
            Column::Float(v) => v.clone(),
            Column::Text(_) | Column::Date(_) | Column::Timestamp(_) => return None,
        })
    }

    /// One value as text (`NULL` for a missing one), for display.
    pub fn display(&self, row: usize) -> String {
        fn show<T: std::fmt::Display>(v: &[Option<T>], row: usize) -> String {
            v.get(row)
                .and_then(Option::as_ref)
                .map_or_else(|| "NULL".to_string(), ToString::to_string)
        }
        match self {
            Column::Bool(v) => show(v, row),
            Column::Int(v) => show(v, row),
            Column::Float(v) => show(v, row),
            Column::Text(v) => show(v, row),
            Column::Date(v) => show(v, row),
            Column::Timestamp(v) => show(v, row),
        }
    }

    /// The values as text (anything but text gives `None`).
    pub fn as_text(&self) -> Option<&[Option<String>]> {
        match self {
            Column::Text(v) => Some(v),
            _ => None,
        }
    }
}

/// A query result: named columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Columns {
    names: Vec<String>,
    columns: Vec<Column>,
}

impl Columns {
    /// The first difference between `self` and `other`, or `None` when they are equal: the
    /// same names and rows, numbers to `rel` relative (sums of floats added in another order
    /// differ in their last bits), everything else exactly.
    pub fn difference(&self, other: &Columns, rel: f64) -> Option<String> {
        if self.names() != other.names() {
            return Some(format!("columns {:?} != {:?}", self.names(), other.names()));
        }
        for ((name, x), y) in self.names().iter().zip(self.columns()).zip(other.columns()) {
            match (x.to_f64(), y.to_f64()) {
                (Some(p), Some(q)) if p.len() == q.len() => {
                    for (i, (u, v)) in p.iter().zip(&q).enumerate() {
                        let close = match (u, v) {
                            (Some(u), Some(v)) => {
                                (u - v).abs() <= rel * u.abs().max(v.abs())
                                    || (u.is_nan() && v.is_nan())
                            }
                            (u, v) => u == v,
                        };
                        if !close {
                            return Some(format!("{name}, row {i}: {u:?} != {v:?}"));
                        }
                    }
                }
                _ if x != y => return Some(format!("{name}: {x:?} != {y:?}")),
                _ => {}
            }
        }
        None
    }

    /// Named columns as a backend read them (names and columns in query order, columns of
    /// equal length; [`Columns::from_pairs`] checks what a caller gives).
    pub fn new(names: Vec<String>, columns: Vec<Column>) -> Self {
        Self { names, columns }
    }

    /// Named columns for writing; names must be unique and columns of equal length.
    pub fn from_pairs(pairs: Vec<(String, Column)>) -> Result<Self, WarehouseError> {
        let rows = pairs.first().map_or(0, |(_, c)| c.len());
        let mut names: Vec<String> = Vec::with_capacity(pairs.len());
        let mut columns = Vec::with_capacity(pairs.len());
        for (name, column) in pairs {
            if names.contains(&name) || column.len() != rows {
                return Err(WarehouseError::invalid_columns(format!(
                    "column {name:?}: duplicate name or {} rows where the first column has {rows}",
                    column.len()
                )));
            }
            names.push(name);
            columns.push(column);
        }
        Ok(Self { names, columns })
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Column names in query order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// A column by name.
    pub fn get(&self, name: &str) -> Option<&Column> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| &self.columns[i])
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, Column::len)
    }
}

/// Builds one column from cells of the same kind (backends reading a result cell by cell).
#[derive(Debug, Default)]
pub struct ColumnBuilder {
    name: String,
    kind: Option<&'static str>,
    rows: usize,
    bools: Vec<Option<bool>>,
    ints: Vec<Option<i64>>,
    floats: Vec<Option<f64>>,
    texts: Vec<Option<String>>,
    dates: Vec<Option<NaiveDate>>,
    timestamps: Vec<Option<NaiveDateTime>>,
}

/// One cell, as read from a backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (also decimals).
    Float(f64),
    /// Text.
    Text(String),
    /// A date.
    Date(NaiveDate),
    /// A timestamp without time zone (UTC).
    Timestamp(NaiveDateTime),
}

impl ColumnBuilder {
    /// An empty column called `name`.
    pub fn new(name: String) -> Self {
        Self {
            name,
            ..Self::default()
        }
    }

    /// Append a cell; a cell of another kind than the first non-null one is an error naming
    /// the column.
    pub fn push(&mut self, cell: Cell) -> Result<(), WarehouseError> {
        let kind = match &cell {
            Cell::Null => None,
            Cell::Bool(_) => Some("boolean"),
            Cell::Int(_) => Some("integer"),
            Cell::Float(_) => Some("float"),
            Cell::Text(_) => Some("text"),
            Cell::Date(_) => Some("date"),
            Cell::Timestamp(_) => Some("timestamp"),
        };
        if let Some(k) = kind {
            match self.kind {
                None => {
                    self.kind = Some(k);
                    self.backfill(k);
                }
                Some(first) if first != k => {
                    return Err(WarehouseError::invalid_columns(format!(
                        "column {:?} mixes {first} and {k} values",
                        self.name
                    )));
                }
                Some(_) => {}
            }
        }
        self.rows += 1;
        match (self.kind, cell) {
            (None, _) => {}
            (Some(_), Cell::Null) => self.push_null(),
            (_, Cell::Bool(b)) => self.bools.push(Some(b)),
            (_, Cell::Int(i)) => self.ints.push(Some(i)),
            (_, Cell::Float(x)) => self.floats.push(Some(x)),
            (_, Cell::Text(s)) => self.texts.push(Some(s)),
            (_, Cell::Date(d)) => self.dates.push(Some(d)),
            (_, Cell::Timestamp(t)) => self.timestamps.push(Some(t)),
        }
        Ok(())
    }

    fn push_null(&mut self) {
        match self.kind {
            Some("boolean") => self.bools.push(None),
            Some("integer") => self.ints.push(None),
            Some("float") => self.floats.push(None),
            Some("date") => self.dates.push(None),
            Some("timestamp") => self.timestamps.push(None),
            _ => self.texts.push(None),
        }
    }

    /// The NULLs seen before the first value.
    fn backfill(&mut self, kind: &'static str) {
        let n = self.rows;
        match kind {
            "boolean" => self.bools.resize(n, None),
            "integer" => self.ints.resize(n, None),
            "float" => self.floats.resize(n, None),
            "date" => self.dates.resize(n, None),
            "timestamp" => self.timestamps.resize(n, None),
            _ => self.texts.resize(n, None),
        }
    }

    /// The column's name and values (only NULLs: a float column).
    pub fn finish(self) -> (String, Column) {
        let column = match self.kind {
            Some("boolean") => Column::Bool(self.bools),
            Some("integer") => Column::Int(self.ints),
            Some("float") => Column::Float(self.floats),
            Some("date") => Column::Date(self.dates),
            Some("timestamp") => Column::Timestamp(self.timestamps),
            Some(_) => Column::Text(self.texts),
            // Only NULLs: a numeric column of NULLs reads naturally as missing metric values.
            None => Column::Float(vec![None; self.rows]),
        };
        (self.name, column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_nulls_are_kept_in_place() {
        let mut b = ColumnBuilder::new("x".into());
        for c in [Cell::Null, Cell::Int(3), Cell::Null, Cell::Int(4)] {
            b.push(c).expect("push");
        }
        assert_eq!(
            b.finish().1,
            Column::Int(vec![None, Some(3), None, Some(4)])
        );
    }

    #[test]
    fn mixed_kinds_are_an_error_naming_the_column() {
        let mut b = ColumnBuilder::new("metric".into());
        b.push(Cell::Int(1)).expect("push");
        let err = b.push(Cell::Text("a".into())).expect_err("mixed");
        assert!(err.to_string().contains("\"metric\""), "{err}");
    }

    #[test]
    fn all_null_column_is_numeric() {
        let mut b = ColumnBuilder::new("m".into());
        b.push(Cell::Null).expect("push");
        b.push(Cell::Null).expect("push");
        assert_eq!(b.finish().1.to_f64(), Some(vec![None, None]));
    }
}
