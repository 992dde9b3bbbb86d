//! Output sinks and exports against the real DuckDB warehouse and the nimbus schemas.

mod conformance;
mod export;
mod local;
mod metadata;
mod schema;
