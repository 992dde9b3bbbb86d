//! The daily job over the embedded warehouse, and property tests of what it does with
//! arbitrary recipes.

mod bigquery;
mod catch_up;
mod history;
mod job;
mod parallel;
mod recipes;
mod sequential;
