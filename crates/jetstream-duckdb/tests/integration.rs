//! The DuckDB warehouse for real: the conformance suite of the `Warehouse` trait, then what is
//! DuckDB's own (database files, Parquet folders, mozfun macros, translation errors), generated
//! SQL executed, and every SQL snippet of the vendored metric-hub translated and parsed.

// The vendored metric-hub and date helpers, shared with jetstream-sql's tests (one file).
#[path = "../../jetstream-sql/tests/common.rs"]
mod common;
mod conformance;
mod duckdb;
mod generated_sql;
mod translate_coverage;
