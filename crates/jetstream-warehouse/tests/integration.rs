//! The DuckDB warehouse for real: atomic replacement, metadata, views, Parquet folders, and
//! generated SQL executed.

mod duckdb;
mod generated_sql;
