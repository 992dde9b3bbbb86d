//! `cargo xtask dist`: the release archive that `docs/config-repo-ci.md` installs —
//! `jetstream-<target>.tar.gz` with the `jetstream` binary, and beside it
//! `jetstream-<target>.tar.gz.sha256` (`sha256sum --check` reads it).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;

use crate::{cargo, root, run, target_dir};

/// Options of `dist`: `--profile NAME` (default `release`), `--out DIR` (default
/// `<target>/dist`).
pub(crate) fn parse(args: &[String]) -> anyhow::Result<(String, PathBuf)> {
    let mut profile = "release".to_string();
    let mut out = target_dir().join("dist");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--profile" => profile = it.next().context("--profile needs a name")?.clone(),
            "--out" => out = PathBuf::from(it.next().context("--out needs a folder")?),
            other => anyhow::bail!("dist: unknown argument {other:?} (--profile NAME, --out DIR)"),
        }
    }
    Ok((profile, out))
}

/// The host's target triple (`rustc -vV`).
fn host_triple() -> anyhow::Result<String> {
    let out = Command::new("rustc").arg("-vV").output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV names no host")
}

/// Build `jetstream` with `profile` and package it into `out`; the archive's path.
pub(crate) fn dist(profile: &str, out: &Path) -> anyhow::Result<PathBuf> {
    let mut build = cargo();
    build
        .args([
            "build",
            "--locked",
            "--profile",
            profile,
            "-p",
            "jetstream-cli",
            "--bin",
            "jetstream",
        ])
        .current_dir(root());
    run(
        &format!("cargo build --profile {profile} --bin jetstream"),
        build,
    )?;
    let folder = match profile {
        "dev" | "test" => "debug",
        "release" | "bench" => "release",
        other => other,
    };
    let bin_dir = target_dir().join(folder);
    anyhow::ensure!(
        bin_dir.join("jetstream").is_file(),
        "no {} after the build",
        bin_dir.join("jetstream").display()
    );
    std::fs::create_dir_all(out)?;
    let name = format!("jetstream-{}.tar.gz", host_triple()?);
    let archive = out.join(&name);
    // Written under a temporary name and renamed: a reader never sees half an archive.
    let partial = out.join(format!(".{name}.partial"));
    let mut tar = Command::new("tar");
    tar.args([
        "--create",
        "--gzip",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
    ])
    .arg("--file")
    .arg(&partial)
    .arg("--directory")
    .arg(&bin_dir)
    .arg("jetstream");
    run(&format!("tar {name}"), tar)?;
    std::fs::rename(&partial, &archive)?;
    let sum = Command::new("sha256sum")
        .arg(&name)
        .current_dir(out)
        .output()
        .context("sha256sum")?;
    anyhow::ensure!(sum.status.success(), "sha256sum {name} failed");
    std::fs::write(out.join(format!("{name}.sha256")), &sum.stdout)?;
    eprintln!(
        "==> {} ({} bytes) and its .sha256",
        archive.display(),
        std::fs::metadata(&archive)?.len()
    );
    Ok(archive)
}
