//! The DuckDB warehouse for real: atomic replacement, metadata, views, Parquet folders.

mod duckdb;
