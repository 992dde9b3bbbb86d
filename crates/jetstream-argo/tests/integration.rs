//! Rendered workflows against Argo's JSON schema (vendored in `fixtures/argo/schema.json`).

mod schema;
