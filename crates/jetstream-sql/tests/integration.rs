//! SQL generation over real configs: golden files, parsing, safety.

mod common;
mod decomposition;
mod golden;
