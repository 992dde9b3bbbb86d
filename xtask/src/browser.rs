//! Headless Chromium for the report tests: Debian's `chromium` package, installed on first
//! use (the tests find it through `JETSTREAM_CHROMIUM`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

/// The environment variable the report tests read.
pub(crate) const CHROMIUM_ENV: &str = "JETSTREAM_CHROMIUM";

/// `name` on the `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn found() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CHROMIUM_ENV).map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    ["chromium", "chromium-browser"]
        .into_iter()
        .find_map(on_path)
}

/// Chromium's path, installing Debian's package (`apt-get`, as root or through `sudo`) when
/// it is missing; the install's output goes to `log`.
pub(crate) fn chromium(log: &Path) -> anyhow::Result<PathBuf> {
    if let Some(p) = found() {
        return Ok(p);
    }
    if on_path("apt-get").is_none() {
        bail!(
            "Chromium is needed by the report tests and this machine has no apt-get: install \
             Chromium and set {CHROMIUM_ENV} to its path"
        );
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let apt = |args: &[&str]| -> anyhow::Result<()> {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        };
        let out =
            std::fs::File::create(log).with_context(|| format!("create {}", log.display()))?;
        let status = cmd
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .status()
            .with_context(|| format!("cannot run apt-get {args:?}"))?;
        if !status.success() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            bail!(
                "apt-get {args:?} failed ({status}); its last lines:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        Ok(())
    };
    eprintln!(
        "==> installing Debian's chromium for the report tests (log: {})",
        log.display()
    );
    apt(&["update", "-qq"])?;
    apt(&[
        "install",
        "-y",
        "-qq",
        "--no-install-recommends",
        "chromium",
    ])?;
    found().context("apt-get installed chromium but no chromium is on the PATH")
}
