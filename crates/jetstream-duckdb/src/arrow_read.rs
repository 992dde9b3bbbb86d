//! Query results through DuckDB's Arrow interface: whole columns at a time instead of one
//! `Value` per cell, for the large per-client pulls of the analysis run.

use chrono::{DateTime, NaiveDate};
use duckdb::arrow::array::{Array, ArrayRef, AsArray};
use duckdb::arrow::datatypes::{
    DataType, Date32Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type, Int64Type,
    TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type,
};

use jetstream_warehouse::Column;

/// The kind of [`Column`] an Arrow type becomes; `None` for types read cell by cell.
fn kind(t: &DataType) -> Option<Column> {
    Some(match t {
        DataType::Boolean => Column::Bool(Vec::new()),
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Column::Int(Vec::new()),
        DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => {
            Column::Float(Vec::new())
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Column::Text(Vec::new()),
        DataType::Date32 => Column::Date(Vec::new()),
        DataType::Timestamp(_, None) => Column::Timestamp(Vec::new()),
        _ => return None,
    })
}

/// Empty columns for a schema, or `None` if a type is not read this way.
pub(crate) fn empty_columns(types: &[DataType]) -> Option<Vec<Column>> {
    types.iter().map(kind).collect()
}

macro_rules! extend_ints {
    ($out:expr, $a:expr, $($t:ty),*) => {
        match $a.data_type() {
            $(d if d == &<$t as duckdb::arrow::datatypes::ArrowPrimitiveType>::DATA_TYPE => {
                $out.extend($a.as_primitive::<$t>().iter().map(|v| v.map(i64::from)));
                true
            })*
            _ => false,
        }
    };
}

/// Append an Arrow array to a column made by [`empty_columns`]; false if it does not fit.
pub(crate) fn extend(column: &mut Column, array: &ArrayRef) -> bool {
    match (column, array.data_type()) {
        (Column::Bool(out), DataType::Boolean) => {
            out.extend(array.as_boolean().iter());
            true
        }
        (Column::Int(out), _) => extend_ints!(
            out, array, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
            UInt32Type
        ),
        (Column::Float(out), DataType::Float64) => {
            out.extend(array.as_primitive::<Float64Type>().iter());
            true
        }
        (Column::Float(out), DataType::Float32) => {
            out.extend(
                array
                    .as_primitive::<Float32Type>()
                    .iter()
                    .map(|v| v.map(f64::from)),
            );
            true
        }
        (Column::Float(out), DataType::Decimal128(_, scale)) => {
            let div = 10f64.powi(i32::from(*scale));
            #[allow(clippy::cast_precision_loss)]
            out.extend(
                array
                    .as_primitive::<duckdb::arrow::datatypes::Decimal128Type>()
                    .iter()
                    .map(|v| v.map(|x| x as f64 / div)),
            );
            true
        }
        (Column::Text(out), DataType::Utf8) => {
            out.extend(
                array
                    .as_string::<i32>()
                    .iter()
                    .map(|v| v.map(str::to_string)),
            );
            true
        }
        (Column::Text(out), DataType::LargeUtf8) => {
            out.extend(
                array
                    .as_string::<i64>()
                    .iter()
                    .map(|v| v.map(str::to_string)),
            );
            true
        }
        (Column::Text(out), DataType::Utf8View) => {
            out.extend(array.as_string_view().iter().map(|v| v.map(str::to_string)));
            true
        }
        (Column::Date(out), DataType::Date32) => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            let days = array.as_primitive::<Date32Type>();
            let dates: Vec<Option<NaiveDate>> = days
                .iter()
                .map(|v| {
                    v.and_then(|d| epoch.checked_add_signed(chrono::TimeDelta::days(i64::from(d))))
                })
                .collect();
            // A date chrono cannot hold is not NULL: leave the column to the cell-by-cell
            // reader, which reports it as an error (as it does for every other path).
            if dates
                .iter()
                .zip(days.iter())
                .any(|(d, v)| d.is_none() && v.is_some())
            {
                return false;
            }
            out.extend(dates);
            true
        }
        (Column::Timestamp(out), DataType::Timestamp(unit, None)) => {
            let micros: Vec<Option<i64>> = match unit {
                TimeUnit::Second => array
                    .as_primitive::<TimestampSecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(1_000_000)))
                    .collect(),
                TimeUnit::Millisecond => array
                    .as_primitive::<TimestampMillisecondType>()
                    .iter()
                    .map(|v| v.and_then(|x| x.checked_mul(1_000)))
                    .collect(),
                TimeUnit::Microsecond => array
                    .as_primitive::<TimestampMicrosecondType>()
                    .iter()
                    .collect(),
                TimeUnit::Nanosecond => array
                    .as_primitive::<TimestampNanosecondType>()
                    .iter()
                    .map(|v| v.map(|x| x / 1_000))
                    .collect(),
            };
            let raw_nulls: Vec<bool> = (0..array.len()).map(|i| array.is_null(i)).collect();
            let times: Vec<_> = micros
                .into_iter()
                .map(|v| {
                    v.and_then(DateTime::from_timestamp_micros)
                        .map(|t| t.naive_utc())
                })
                .collect();
            // Out of range is an error (through the cell reader), never a silent NULL.
            if times
                .iter()
                .zip(&raw_nulls)
                .any(|(t, null)| t.is_none() && !null)
            {
                return false;
            }
            out.extend(times);
            true
        }
        _ => false,
    }
}
