//! Architecture invariants checked as tests: pure crates never depend, even transitively, on
//! IO crates of this workspace or on network/async/database crates.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Crates that must stay free of IO.
pub(crate) const PURE: &[&str] = &["jetstream-config", "jetstream-sql", "jetstream-stats"];

/// Crates a pure crate must never reach.
pub(crate) const FORBIDDEN: &[&str] = &[
    // workspace IO crates
    "jetstream-experimenter",
    "jetstream-warehouse",
    "jetstream-output",
    "jetstream-bigquery",
    "jetstream-gcs",
    "jetstream-argo",
    "jetstream-analysis",
    "jetstream-simulate",
    "jetstream-cli",
    // external IO stacks
    "tokio",
    "reqwest",
    "hyper",
    "duckdb",
    "libduckdb-sys",
    "kube",
    "gcp-bigquery-client",
    "object_store",
    "google-cloud-storage",
];

/// `cargo metadata` of the workspace.
pub(crate) fn metadata() -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())
}

/// Normal (non-dev, non-build) dependency edges by package name.
fn graph(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for p in meta["packages"].as_array().into_iter().flatten() {
        if let (Some(id), Some(name)) = (p["id"].as_str(), p["name"].as_str()) {
            names.insert(id.to_string(), name.to_string());
        }
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(from) = node["id"].as_str().and_then(|id| names.get(id)) else {
            continue;
        };
        let entry = g.entry(from.clone()).or_default();
        for dep in node["deps"].as_array().into_iter().flatten() {
            let normal = dep["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].is_null());
            if let (true, Some(to)) = (normal, dep["pkg"].as_str().and_then(|id| names.get(id))) {
                entry.insert(to.clone());
            }
        }
    }
    g
}

/// Check that no pure crate reaches a forbidden crate; the error lists every offending path.
pub(crate) fn check_layers(meta: &Value) -> Result<(), String> {
    let g = graph(meta);
    let mut problems = Vec::new();
    for pure in PURE.iter().filter(|p| g.contains_key(**p)) {
        // Depth-first search remembering the path.
        let mut stack: Vec<(String, Vec<String>)> =
            vec![(pure.to_string(), vec![pure.to_string()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            if !seen.insert(node.clone()) {
                continue;
            }
            for dep in g.get(&node).into_iter().flatten() {
                let mut p = path.clone();
                p.push(dep.clone());
                if FORBIDDEN.contains(&dep.as_str()) {
                    problems.push(p.join(" -> "));
                } else {
                    stack.push((dep.clone(), p));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "pure crates depend on IO crates:\n  {}",
            problems.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn workspace_layers_hold() {
        let meta = metadata().expect("cargo metadata");
        check_layers(&meta).expect("layering");
        // The check must actually see the pure crates, or it proves nothing.
        let g = graph(&meta);
        assert!(
            g.contains_key("jetstream-config"),
            "jetstream-config not in the graph"
        );
    }

    fn fake(edges: &[(&str, &str)]) -> Value {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for (a, b) in edges {
            names.insert(a);
            names.insert(b);
        }
        let packages: Vec<Value> = names.iter().map(|n| json!({"id": n, "name": n})).collect();
        let nodes: Vec<Value> = names
            .iter()
            .map(|n| {
                let deps: Vec<Value> = edges
                    .iter()
                    .filter(|(a, _)| a == n)
                    .map(|(_, b)| json!({"pkg": b, "dep_kinds": [{"kind": null}]}))
                    .collect();
                json!({"id": n, "deps": deps})
            })
            .collect();
        json!({"packages": packages, "resolve": {"nodes": nodes}})
    }

    #[test]
    fn a_transitive_io_dependency_is_caught() {
        let meta = fake(&[("jetstream-sql", "helper"), ("helper", "tokio")]);
        let err = check_layers(&meta).unwrap_err();
        assert!(err.contains("jetstream-sql -> helper -> tokio"), "{err}");
        let ok = fake(&[("jetstream-sql", "helper"), ("jetstream-cli", "tokio")]);
        assert!(check_layers(&ok).is_ok());
    }
}
