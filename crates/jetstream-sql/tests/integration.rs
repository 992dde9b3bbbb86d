//! SQL generation over real configs: golden files, parsing, safety.

mod duckdb_coverage;
mod golden;
