//! What backends share: reading results cell by cell ([`ColumnBuilder`], [`Cell`]) and the
//! naming helpers every backend applies the same way.

pub use crate::columns::{Cell, ColumnBuilder};
pub use crate::{sql_excerpt, window_tables};
