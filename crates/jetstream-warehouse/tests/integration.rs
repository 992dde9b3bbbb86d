//! The DuckDB warehouse for real: the conformance suite of the `Warehouse` trait, then what is
//! DuckDB's own (database files, Parquet folders, mozfun macros, translation errors) and
//! generated SQL executed.

mod conformance;
mod duckdb;
mod generated_sql;
