//! The embedded DuckDB warehouse: jetstream's default [`Warehouse`](jetstream_warehouse::Warehouse).
//!
//! * [`DuckDbWarehouse`]: result tables, views and metadata in a DuckDB file (or in memory),
//!   telemetry from Parquet folders ([`DuckDbWarehouse::attach_parquet_dir`]), file access
//!   restricted to what the run needs ([`DuckDbWarehouse::restrict_file_access`]).
//! * [`translate`]: BigQuery SQL (what jetstream generates and metric-hub is written in) to
//!   DuckDB SQL, by rewriting the sqlparser AST; [`translate::MOZFUN_MACROS`] stand in for the
//!   `mozfun` UDFs.
//!
//! This is the only crate of the workspace that builds DuckDB (the tidy check enforces it):
//! crates that need only the trait depend on `jetstream-warehouse`.

mod arrow_read;
pub mod translate;
mod warehouse;

pub use translate::TranslateError;
pub use warehouse::DuckDbWarehouse;
