//! Architecture invariants checked as tests, on the `cargo metadata` dependency graph: pure
//! crates never depend, even transitively, on IO crates of this workspace or on
//! network/async/database crates; heavy dependencies (DuckDB, kube, k8s-openapi, the BigQuery
//! client, Google credentials) have owners, and the crates that must not build DuckDB do not
//! reach it; every ignored test names its tier.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// Crates that must stay free of IO.
pub(crate) const PURE: &[&str] = &[
    "jetstream-config",
    "jetstream-sql",
    "jetstream-stats",
    "jetstream-report",
];

/// Crates a pure crate must never reach.
pub(crate) const FORBIDDEN: &[&str] = &[
    // workspace IO crates
    "jetstream-experimenter",
    "jetstream-warehouse",
    "jetstream-output",
    "jetstream-gcp",
    "jetstream-bigquery",
    "jetstream-gcs",
    "jetstream-gke",
    "jetstream-duckdb",
    "jetstream-job",
    "jetstream-argo",
    "jetstream-analysis",
    "jetstream-simulate",
    "jetstream-repos",
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

/// Crates that only some workspace crates may depend on directly (normal dependencies), with
/// why: each heavy or specialised stack has one owner, so a user of the other crates never
/// builds it.
pub(crate) const OWNERS: &[(&str, &[&str], &str)] = &[
    (
        "duckdb",
        &["jetstream-duckdb"],
        "DuckDB's C++ build is owned by jetstream-duckdb",
    ),
    (
        "libduckdb-sys",
        &[],
        "DuckDB's C++ build is owned by jetstream-duckdb",
    ),
    (
        "sqlparser",
        &["jetstream-duckdb", "jetstream-sql"],
        "SQL is parsed by the translation (jetstream-duckdb) and the metric decomposition (jetstream-sql)",
    ),
    (
        "object_store",
        &["jetstream-gcs"],
        "the object-store sinks live in jetstream-gcs (behind jetstream-job's `gcs`)",
    ),
    (
        "kube",
        &["jetstream-argo"],
        "Kubernetes is jetstream-argo's",
    ),
    (
        "k8s-openapi",
        // The binary chooses the Kubernetes version (k8s-openapi's `v1_*` feature).
        &["jetstream-argo", "jetstream-cli"],
        "Kubernetes is jetstream-argo's (the binary only chooses its version)",
    ),
    (
        "gcp-bigquery-client",
        &["jetstream-bigquery"],
        "BigQuery is jetstream-bigquery's",
    ),
    (
        "yup-oauth2",
        &["jetstream-gcp"],
        "Google credentials are jetstream-gcp's",
    ),
    (
        "jetstream-test-support",
        &[],
        "test helpers are a dev-dependency only",
    ),
];

/// Crates that must not build DuckDB, even transitively: they need only the warehouse trait.
pub(crate) const WITHOUT_DUCKDB: &[&str] = &[
    "jetstream-warehouse",
    "jetstream-output",
    "jetstream-analysis",
    "jetstream-experimenter",
    "jetstream-repos",
    "jetstream-argo",
    "jetstream-gcp",
    "jetstream-bigquery",
    "jetstream-gcs",
    "jetstream-gke",
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
    let problems = paths_to(&g, PURE, FORBIDDEN);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "pure crates depend on IO crates:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Check the build-cost rules: the stacks of [`OWNERS`] are depended on only by their
/// owners, and the crates of [`WITHOUT_DUCKDB`] never reach DuckDB.
pub(crate) fn check_owners(meta: &Value) -> Result<(), String> {
    let g = graph(meta);
    let mut problems = Vec::new();
    for (from, deps) in &g {
        if !from.starts_with("jetstream-") {
            continue;
        }
        for dep in deps {
            if let Some((_, owners, why)) = OWNERS.iter().find(|(c, _, _)| c == dep)
                && !owners.contains(&from.as_str())
            {
                problems.push(format!("{from} depends on {dep}: {why}"));
            }
        }
    }
    for path in paths_to(&g, WITHOUT_DUCKDB, &["duckdb", "libduckdb-sys"]) {
        problems.push(format!("{path}: this crate needs only the warehouse trait"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "dependency rules broken:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// Every path (`a -> b -> c`) from a crate of `roots` to a crate of `targets`, over normal
/// dependencies.
fn paths_to(
    g: &BTreeMap<String, BTreeSet<String>>,
    roots: &[&str],
    targets: &[&str],
) -> Vec<String> {
    let mut problems = Vec::new();
    for pure in roots.iter().filter(|p| g.contains_key(**p)) {
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
                if targets.contains(&dep.as_str()) {
                    problems.push(p.join(" -> "));
                } else {
                    stack.push((dep.clone(), p));
                }
            }
        }
    }
    problems
}

/// Crates the CLI may depend on directly: the job library, which re-exports what the commands
/// print or take (the pure crates' types, the simulator behind its feature).
pub(crate) const CLI_ALLOWED: &[&str] = &["jetstream-job"];

/// The workspace crates CLI code may name (in `use`s and paths): the job library only. Test
/// code (`tests.rs`) may also name the test helpers and the crates that prepare warehouses.
const CLI_NAMES: &[&str] = &["jetstream_job"];

/// `jetstream_*` crate names on a line, as paths name them (not inside a longer identifier).
fn crate_names(line: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = line;
    let mut offset = 0;
    while let Some(i) = rest.find("jetstream_") {
        let start = offset + i;
        let before = line[..start].chars().next_back();
        let end = line[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(line.len(), |n| start + n);
        let is_path = line[end..].starts_with("::");
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') && is_path {
            names.push(&line[start..end]);
        }
        offset = end;
        rest = &line[end..];
    }
    names
}

/// Calls that are orchestration, not argument parsing or printing: the CLI must leave them to
/// `jetstream-job`.
const CLI_FORBIDDEN_CALLS: &[&str] = &[
    // jobs are assembled by `JobBuilder`, in one place
    "Job::new(",
    ".write_table(",
    ".write_columns(",
    ".create_table_if_absent(",
    ".delete_table(",
    ".list_tables(",
    ".append_logs(",
    ".create_view(",
    ".publish_window_view(",
    ".publish_joined_window_view(",
    ".query_columns(",
    ".table_metadata(",
    ".touch_table(",
    "planned_queries(",
    "run_analysis(",
    "resolve_experiment(experiment, spec",
    "daily_selection(",
    "export_statistics(self",
];

/// The CLI stays thin: its direct workspace dependencies are in [`CLI_ALLOWED`], and its
/// source calls no warehouse method or analysis step (`sources` = `(path, text)` of its files).
pub(crate) fn check_cli_is_thin(meta: &Value, sources: &[(String, String)]) -> Result<(), String> {
    let g = graph(meta);
    let mut problems = Vec::new();
    for dep in g.get("jetstream-cli").into_iter().flatten() {
        if dep.starts_with("jetstream-") && !CLI_ALLOWED.contains(&dep.as_str()) {
            problems.push(format!(
                "jetstream-cli depends on {dep}: go through jetstream-job instead"
            ));
        }
    }
    for (path, text) in sources {
        let test_code = path.ends_with("tests.rs");
        for (n, line) in text.lines().enumerate() {
            for name in crate_names(line) {
                if !test_code && !CLI_NAMES.contains(&name) {
                    problems.push(format!(
                        "{path}:{}: names `{name}`: the CLI uses jetstream_job (and its \
                         re-exports) only",
                        n + 1
                    ));
                }
            }
            for call in CLI_FORBIDDEN_CALLS {
                if line.contains(call) {
                    problems.push(format!(
                        "{path}:{}: `{call}` is orchestration; it belongs in jetstream-job",
                        n + 1
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the CLI grows orchestration:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The test tiers (`jetstream_test_support::tier`): every `#[ignore = "…"]` reason starts
/// with one of them followed by `:`, so `cargo xtask test` (which runs them all) and a reader
/// know why a test is not in the plain run.
pub(crate) const TIERS: [&str; 4] = ["emulators", "chromium", "release", "slow"];

/// Every ignored test names its tier (`#[ignore = "<tier>: why"]`); a bare `#[ignore]` or an
/// unknown tier is an error naming the file and line.
pub(crate) fn check_test_tiers(sources: &[(String, String)]) -> Result<(), String> {
    let mut problems = Vec::new();
    for (path, text) in sources {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            let Some(rest) = line.strip_prefix("#[ignore") else {
                continue;
            };
            let tier = rest
                .trim_start()
                .strip_prefix('=')
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('"'))
                .and_then(|r| r.split_once(':'))
                .map(|(tier, _)| tier);
            if !tier.is_some_and(|t| TIERS.contains(&t)) {
                problems.push(format!(
                    "{path}:{}: `{line}` names no test tier (expected #[ignore = \"<tier>: why\"] with a tier of {TIERS:?})",
                    n + 1
                ));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "ignored tests without a tier:\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The `.rs` files below `dir`, as `(path, text)`.
pub(crate) fn rust_sources(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs")
                && let Ok(text) = std::fs::read_to_string(&path)
            {
                out.push((path.display().to_string(), text));
            }
        }
    }
    out.sort();
    out
}

/// What a path into the team's reference folder looks like (assembled so that this file does
/// not match itself).
fn shared_markers() -> [String; 2] {
    [
        ["..", "/shared/"].concat(),
        ["shared", "/fixtures"].concat(),
    ]
}

/// No test, benchmark or script reads the team's `../shared` folder (a user's clone has none):
/// fixtures are vendored under `fixtures/`. `files` = `(path, text)` of the source files.
pub(crate) fn check_no_shared_paths(files: &[(String, String)]) -> Result<(), String> {
    let markers = shared_markers();
    let mut problems = Vec::new();
    for (path, text) in files {
        for (n, line) in text.lines().enumerate() {
            if markers.iter().any(|m| line.contains(m.as_str())) {
                problems.push(format!("{path}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "paths into ../shared (use the vendored fixtures/ instead):\n  {}",
            problems.join("\n  ")
        ))
    }
}

/// The files of the workspace that run: sources, build files and scripts (not `fixtures/`,
/// not `target/`, not prose).
pub(crate) fn workspace_files(root: &std::path::Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(
                    name.as_str(),
                    "target" | "fixtures" | ".git" | "node_modules"
                ) && !name.starts_with('.')
                    || name == ".ci"
                    || name == ".cargo"
                {
                    stack.push(path);
                }
                continue;
            }
            let runs = ["rs", "sh", "py", "toml", "yaml", "yml"]
                .iter()
                .any(|e| path.extension().is_some_and(|x| x == *e))
                || name == "run";
            if runs && let Ok(text) = std::fs::read_to_string(&path) {
                out.push((path.display().to_string(), text));
            }
        }
    }
    out.sort();
    out
}

/// The workspace root.
pub(crate) fn root() -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// Every tidy check.
pub(crate) fn check_all() -> Result<(), String> {
    let meta = metadata()?;
    check_layers(&meta)?;
    check_owners(&meta)?;
    check_test_tiers(&rust_sources(&root().join("crates")))?;
    check_cli_is_thin(
        &meta,
        &rust_sources(&root().join("crates/jetstream-cli/src")),
    )?;
    check_no_shared_paths(&workspace_files(&root()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_cli_is_thin() {
        let meta = metadata().expect("cargo metadata");
        let sources = rust_sources(&root().join("crates/jetstream-cli/src"));
        assert!(sources.len() >= 5, "the CLI sources are found");
        check_cli_is_thin(&meta, &sources).expect("thin CLI");
    }

    #[test]
    fn orchestration_in_the_cli_is_caught() {
        let meta = fake(&[
            ("jetstream-cli", "jetstream-warehouse"),
            ("jetstream-cli", "jetstream-job"),
        ]);
        let src = vec![
            (
                "main.rs".to_string(),
                "fn f(wh: &W) { wh.delete_table(&t).unwrap(); }".to_string(),
            ),
            (
                "stats_cmd.rs".to_string(),
                "use jetstream_job::Row;\nuse jetstream_stats::{Frame, run};\n\
                 let s = jetstream_config::statistic::parse(x); // jetstream_sim_x is a slug\n"
                    .to_string(),
            ),
            (
                "tests.rs".to_string(),
                "use jetstream_test_support::fixtures;".to_string(),
            ),
        ];
        let err = check_cli_is_thin(&meta, &src).unwrap_err();
        assert!(err.contains("depends on jetstream-warehouse"), "{err}");
        assert!(err.contains("main.rs:1: `.delete_table(`"), "{err}");
        assert!(!err.contains("depends on jetstream-job"), "{err}");
        assert!(
            err.contains("stats_cmd.rs:2: names `jetstream_stats`"),
            "{err}"
        );
        assert!(
            err.contains("stats_cmd.rs:3: names `jetstream_config`"),
            "{err}"
        );
        assert!(!err.contains("jetstream_job`"), "{err}");
        assert!(!err.contains("jetstream_sim_x"), "{err}");
        assert!(!err.contains("tests.rs"), "{err}");
    }

    #[test]
    fn nothing_reads_the_shared_folder() {
        let files = workspace_files(&root());
        assert!(
            files.iter().any(|(p, _)| p.ends_with("tidy.rs")),
            "the workspace files are found"
        );
        check_no_shared_paths(&files).expect("no ../shared paths");
    }

    #[test]
    fn a_shared_path_is_caught() {
        let line = format!(
            "let p = Path::new(\"{}fixtures/metric-hub\");",
            shared_markers()[0]
        );
        let err = check_no_shared_paths(&[("t.rs".into(), line)]).unwrap_err();
        assert!(err.contains("t.rs:1"), "{err}");
    }

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
    fn build_cost_rules_hold_and_catch_a_planted_violation() {
        let meta = metadata().expect("cargo metadata");
        check_owners(&meta).expect("dependency rules");
        let g = graph(&meta);
        assert!(
            g.get("jetstream-duckdb")
                .is_some_and(|d| d.contains("duckdb")),
            "the check must see jetstream-duckdb's own edge to duckdb"
        );
        // Planted: the trait crate builds DuckDB through a helper, the CLI uses kube, a
        // library uses the test helpers.
        let bad = fake(&[
            ("jetstream-warehouse", "helper"),
            ("helper", "libduckdb-sys"),
            ("jetstream-cli", "kube"),
            ("jetstream-job", "jetstream-test-support"),
            ("jetstream-duckdb", "duckdb"),
        ]);
        let err = check_owners(&bad).unwrap_err();
        assert!(
            err.contains("jetstream-warehouse -> helper -> libduckdb-sys"),
            "{err}"
        );
        assert!(err.contains("jetstream-cli depends on kube"), "{err}");
        assert!(
            err.contains("jetstream-job depends on jetstream-test-support"),
            "{err}"
        );
        assert!(!err.contains("jetstream-duckdb depends on duckdb"), "{err}");
    }

    #[test]
    fn ignored_tests_name_their_tier() {
        check_test_tiers(&rust_sources(&root().join("crates"))).expect("tiers");
        let planted = [(
            "t.rs".to_string(),
            "#[test]\n#[ignore]\nfn a() {}\n#[ignore = \"later: x\"]\nfn b() {}\n#[ignore = \"slow: minutes\"]\nfn c() {}".to_string(),
        )];
        let err = check_test_tiers(&planted).unwrap_err();
        assert!(err.contains("t.rs:2"), "{err}");
        assert!(err.contains("t.rs:4"), "{err}");
        assert!(!err.contains("t.rs:6"), "{err}");
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
