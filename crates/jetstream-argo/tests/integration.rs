//! Rendered workflows against Argo's JSON schema (vendored in `fixtures/argo/schema.json`), and
//! the cluster client against a fake Kubernetes API server.

mod cluster;
mod schema;
