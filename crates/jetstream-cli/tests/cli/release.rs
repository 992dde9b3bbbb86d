//! The delivery chain the docs promise: the release archive of `cargo xtask dist`, installed
//! the way the config repository's workflow (`docs/config-repo-ci/jetstream.yml`) installs it,
//! then the workflow's own steps run as a runner would run them — the pull request's
//! validation, and on merge the rerun on the (fake) cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use super::argo::Cluster;
use super::run::scratch;

/// The workflow, as JSON.
fn workflow() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config-repo-ci/jetstream.yml");
    serde_saphyr::from_str(&std::fs::read_to_string(path).expect("the workflow file"))
        .expect("the workflow is YAML")
}

/// `${{ expr }}` replaced by its value in `values` (a step output, `github.*`, `secrets.*`).
fn expand(text: &str, values: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed expression") + start;
        let expr = rest[start + 3..end].trim();
        let value = values
            .get(expr)
            .cloned()
            .unwrap_or_else(|| panic!("no value for the expression {expr:?}"));
        out.push_str(&value);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

fn env_of(node: &Value, values: &BTreeMap<String, String>) -> Vec<(String, String)> {
    node["env"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let v = v
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string());
                    (k.clone(), expand(&v, values))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A GitHub runner, as far as the workflow's `run:` steps can tell: a shell in the checkout,
/// `GITHUB_PATH`, `GITHUB_OUTPUT` per step, `RUNNER_TEMP`, `HOME`.
struct Runner {
    root: PathBuf,
    /// The runner's own variables, then the test's (warehouse, recipes, cluster).
    env: Vec<(String, String)>,
    values: BTreeMap<String, String>,
}

impl Runner {
    /// Run `job`'s steps in `dir`: `uses:` steps are the runner's (checkout, Google auth) and
    /// are skipped; `if:` on a step output is honoured. The stdout of each step by name.
    fn job(&mut self, job: &str, dir: &Path) -> BTreeMap<String, String> {
        let wf = workflow();
        let job = &wf["jobs"][job];
        let mut outputs = BTreeMap::new();
        let path_file = self.root.join("github_path");
        for step in job["steps"].as_array().expect("steps") {
            let Some(script) = step["run"].as_str() else {
                assert!(step["uses"].is_string(), "{step}");
                continue;
            };
            if let Some(cond) = step["if"].as_str() {
                // `steps.<id>.outputs.<name> != '<v>'`, the only form the workflow uses.
                let (lhs, rhs) = cond.split_once("!=").expect("a != condition");
                let value = self.values.get(lhs.trim()).cloned().unwrap_or_default();
                if value == rhs.trim().trim_matches('\'') {
                    continue;
                }
            }
            let name = step["name"].as_str().expect("named step").to_string();
            let output_file = self.root.join("github_output");
            std::fs::write(&output_file, "").unwrap();
            let mut extra_path = std::fs::read_to_string(&path_file).unwrap_or_default();
            extra_path = extra_path.lines().collect::<Vec<_>>().join(":");
            let path = format!(
                "{}{}",
                if extra_path.is_empty() {
                    String::new()
                } else {
                    format!("{extra_path}:")
                },
                // No jetstream but the installed one: only system tools besides.
                "/usr/local/bin:/usr/bin:/bin"
            );
            let mut cmd = Command::new("bash");
            cmd.args(["-eo", "pipefail", "-c", &expand(script, &self.values)])
                .current_dir(dir)
                .env_clear()
                .env("PATH", path)
                .env("GITHUB_PATH", &path_file)
                .env("GITHUB_OUTPUT", &output_file);
            let mut env = env_of(&wf, &self.values);
            env.extend(env_of(job, &self.values));
            env.extend(env_of(step, &self.values));
            env.extend(self.env.iter().cloned());
            cmd.envs(env);
            let out = cmd.output().expect("bash");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                out.status.success(),
                "step {name:?} failed ({})\nstdout: {stdout}\nstderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
            if let Some(id) = step["id"].as_str() {
                for line in std::fs::read_to_string(&output_file).unwrap().lines() {
                    if let Some((k, v)) = line.split_once('=') {
                        self.values
                            .insert(format!("steps.{id}.outputs.{k}"), v.to_string());
                    }
                }
            }
            outputs.insert(name, stdout);
        }
        outputs
    }
}

fn git(dir: &Path, args: &[&str]) {
    super::git(dir, args);
}

#[test]
#[ignore = "release: needs the release archive (cargo xtask test builds it with cargo xtask dist)"]
fn the_config_repository_workflow_runs_with_the_release_archive() {
    let dist = PathBuf::from(jetstream_test_support::required_env("JETSTREAM_DIST"));
    let wf = workflow();
    let archive = wf["env"]["JETSTREAM_ARCHIVE"].as_str().unwrap();
    assert!(
        dist.join(archive).is_file() && dist.join(format!("{archive}.sha256")).is_file(),
        "the archive the workflow installs: {}",
        dist.join(archive).display()
    );
    let root = scratch("config-repo-ci");
    // The config repository: the simulated experiments' configs, analysed once.
    let (db, recipes, hub) = super::configs::simulated_hub(&root);
    let hub_s = hub.display().to_string();
    let out = super::jetstream(&[
        "run",
        "--date",
        "2026-01-28",
        "--warehouse",
        &db,
        "--experiments-file",
        &recipes,
        "--config-repos",
        &hub_s,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A pull request changes one experiment's config (a second later: git keeps seconds).
    let checkout = root.join("checkout");
    git(
        &root,
        &[
            "clone",
            "-q",
            &format!("file://{hub_s}"),
            checkout.to_str().unwrap(),
        ],
    );
    git(&checkout, &["checkout", "-q", "-b", "change"]);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let config = checkout.join("jetstream/jetstream-sim-two-branches.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n# reviewed\n")).unwrap();
    git(&checkout, &["commit", "-q", "-am", "review"]);

    let cluster = Cluster::start(
        "Succeeded",
        vec![("jetstream-sim-two-branches", "Succeeded")],
    );
    let home = root.join("home");
    let temp = root.join("runner-temp");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&temp).unwrap();
    let version = dist.file_name().unwrap().to_string_lossy().into_owned();
    let releases = format!("file://{}", dist.parent().unwrap().display());
    let mut values = BTreeMap::new();
    for (k, v) in [
        ("secrets.WIF_PROVIDER", "projects/1/locations/global/x"),
        (
            "secrets.WIF_SERVICE_ACCOUNT",
            "jetstream@p.iam.gserviceaccount.com",
        ),
        ("github.base_ref", "main"),
        ("github.server_url", "file://"),
        ("github.repository", hub_s.trim_start_matches('/')),
        ("github.ref_name", "main"),
    ] {
        values.insert(k.to_string(), v.to_string());
    }
    let mut runner = Runner {
        root: root.to_path_buf(),
        env: [
            ("HOME", home.display().to_string()),
            ("RUNNER_TEMP", temp.display().to_string()),
            // Where this test keeps the release and the results, in place of GitHub's
            // releases and BigQuery (the workflow's own values otherwise).
            ("JETSTREAM_RELEASES", releases),
            ("JETSTREAM_VERSION", version),
            ("JETSTREAM_WAREHOUSE", db.clone()),
            ("JETSTREAM_EXPERIMENTS_FILE", recipes.clone()),
            (
                "JETSTREAM_CONFIG_CACHE",
                root.join("cache").display().to_string(),
            ),
            (
                "KUBECONFIG",
                cluster.kubeconfig(&root).display().to_string(),
            ),
            // No Artifact Registry here: one image for the rerun.
            ("JETSTREAM_IMAGE_VERSION", "sha256:0123abcd".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        values,
    };

    // The pull request's job, in the checkout.
    let validate = runner.job("validate", &checkout);
    assert_eq!(
        std::fs::read_to_string(checkout.join("changed.txt")).unwrap(),
        "jetstream/jetstream-sim-two-branches.toml\n"
    );
    let planned = &validate["Dry run every query of the changed configs"];
    assert!(
        planned.contains("queries planned, the largest reads"),
        "{planned}"
    );
    // The installed binary is the archive's.
    assert!(home.join(".local/bin/jetstream").is_file());

    // Merged: the push job reruns exactly the changed experiment on the cluster.
    git(
        &hub,
        &[
            "pull",
            "-q",
            "--ff-only",
            checkout.to_str().unwrap(),
            "change",
        ],
    );
    let rerun = runner.job("rerun", &root);
    assert_eq!(
        rerun["What will be rerun"], "jetstream-sim-two-branches\n",
        "{rerun:?}"
    );
    let followed = &rerun["Rerun on the cluster and follow it"];
    assert!(
        followed.contains("submitted workflow") && followed.contains("succeeded"),
        "{followed}"
    );
    assert_eq!(cluster.posts(), 1);
    std::fs::remove_dir_all(root).expect("cleanup");
}
