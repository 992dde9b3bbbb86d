//! The `git` executable, run with a clean, non-interactive environment.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use crate::RepoError;

/// Run `git args…` in `dir`; its standard output, or an error naming the command and `what`
/// (the repository) with git's message.
pub(crate) fn run(dir: Option<&Path>, args: &[&str], what: &str) -> Result<String, RepoError> {
    let out = command(dir, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| spawn_error(e, what))?;
    if !out.status.success() {
        return Err(RepoError::Git {
            repo: what.to_string(),
            command: format!("git {}", args.join(" ")),
            message: last_lines(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `git args…` in `dir` succeeds (its output is dropped).
pub(crate) fn succeeds(dir: Option<&Path>, args: &[&str]) -> bool {
    command(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn command(dir: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    if let Some(d) = dir {
        c.arg("-C").arg(d);
    }
    c.args(["-c", "core.quotePath=false"])
        .args(args)
        // Never wait for a password on a terminal nobody watches; give up on a stalled
        // transfer (below 1 KB/s for a minute) instead of hanging the daily run.
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "true")
        .env("GIT_HTTP_LOW_SPEED_LIMIT", "1000")
        .env("GIT_HTTP_LOW_SPEED_TIME", "60")
        .env("LC_ALL", "C");
    c
}

fn spawn_error(e: std::io::Error, what: &str) -> RepoError {
    if e.kind() == std::io::ErrorKind::NotFound {
        RepoError::NoGit
    } else {
        RepoError::Io {
            path: what.to_string(),
            message: format!("cannot run git: {e}"),
        }
    }
}

fn last_lines(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join("; ")
}

/// Whether a failure of git will not pass on a second try: the repository does not exist
/// or the credentials are refused (network errors, 5xx answers and stalled transfers may).
pub(crate) fn is_permanent(e: &RepoError) -> bool {
    let RepoError::Git { message, .. } = e else {
        // No git executable, a local file system error: trying again changes nothing.
        return true;
    };
    let m = message.to_ascii_lowercase();
    [
        "does not appear to be a git repository",
        "repository not found",
        "not found",
        "access denied",
        "not exported",
        "authentication failed",
        "could not read username",
        "permission denied",
        "invalid refspec",
        "couldn't find remote ref",
        "remote branch",
        "already exists and is not an empty directory",
    ]
    .iter()
    .any(|p| m.contains(p))
}

/// Whether the repository at `dir` is a partial clone (blobs fetched when needed).
pub(crate) fn is_partial(dir: &Path) -> bool {
    run(
        Some(dir),
        &["config", "--get", "remote.origin.promisor"],
        "",
    )
    .is_ok_and(|v| v.trim() == "true")
}

/// In a partial clone, fetch those of `objects` (blobs of `commit`) that are not there yet, in
/// one request: `git cat-file` would otherwise fetch each missing blob on its own (one round
/// trip per config file).
pub(crate) fn prefetch(
    dir: &Path,
    commit: &str,
    objects: &[String],
    what: &str,
) -> Result<(), RepoError> {
    if objects.is_empty() {
        return Ok(());
    }
    // Objects reachable from the commit's tree that are absent, as `?<oid>`; nothing is
    // fetched by this listing.
    let listing = run(
        Some(dir),
        &[
            "rev-list",
            "--objects",
            "--no-walk",
            "--missing=print",
            commit,
        ],
        what,
    )?;
    let missing: std::collections::HashSet<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix('?'))
        .map(str::trim)
        .collect();
    let wanted: Vec<&str> = objects
        .iter()
        .map(String::as_str)
        .filter(|o| missing.contains(o))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let mut child = command(
        Some(dir),
        &[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--filter=blob:none",
            "--stdin",
            "origin",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .map_err(|e| spawn_error(e, what))?;
    let input: String = wanted.iter().map(|o| format!("{o}\n")).collect();
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| spawn_error(e, what))?;
    if !out.status.success() {
        return Err(RepoError::Git {
            repo: what.to_string(),
            command: format!("git fetch origin <{} blobs>", wanted.len()),
            message: last_lines(&String::from_utf8_lossy(&out.stderr)),
        });
    }
    tracing::debug!(repo = %what, blobs = wanted.len(), "fetched the configs of {commit}");
    Ok(())
}

/// The contents of `objects` (blob ids) of the repository at `dir`, through one
/// `git cat-file --batch`.
pub(crate) fn read_blobs(
    dir: &Path,
    objects: &[String],
    what: &str,
) -> Result<Vec<Vec<u8>>, RepoError> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = command(Some(dir), &["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(e, what))?;
    let input: String = objects.iter().map(|o| format!("{o}\n")).collect();
    let mut stdin = child.stdin.take().ok_or_else(|| RepoError::Io {
        path: what.to_string(),
        message: "git cat-file has no input".into(),
    })?;
    // Written from another thread: git answers while it reads, and both pipes are bounded.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let mut raw = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut raw).map_err(|e| RepoError::Io {
            path: what.to_string(),
            message: format!("reading git cat-file: {e}"),
        })?;
    }
    let _ = writer.join();
    let status = child.wait().map_err(|e| spawn_error(e, what))?;
    if !status.success() {
        return Err(RepoError::Git {
            repo: what.to_string(),
            command: "git cat-file --batch".into(),
            message: format!("exited with {status}"),
        });
    }
    parse_batch(&raw, objects.len()).ok_or_else(|| RepoError::Git {
        repo: what.to_string(),
        command: "git cat-file --batch".into(),
        message: "unexpected output".into(),
    })
}

/// Split `git cat-file --batch` output (`<oid> <type> <size>\n<content>\n` per object).
fn parse_batch(raw: &[u8], n: usize) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::with_capacity(n);
    let mut rest = raw;
    while out.len() < n {
        let nl = rest.iter().position(|b| *b == b'\n')?;
        let header = std::str::from_utf8(&rest[..nl]).ok()?;
        let size: usize = header.rsplit(' ').next()?.parse().ok()?;
        let start = nl + 1;
        let end = start.checked_add(size)?;
        out.push(rest.get(start..end)?.to_vec());
        rest = rest.get(end + 1..).unwrap_or_default();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_output_is_split_by_sizes() {
        let raw = b"aaa blob 3\nx\ny\nbbb blob 0\n\n";
        let got = parse_batch(raw, 2).unwrap();
        assert_eq!(got, vec![b"x\ny".to_vec(), Vec::new()]);
        assert!(parse_batch(b"aaa missing\n", 1).is_none());
    }

    #[test]
    fn messages_keep_the_last_lines() {
        assert_eq!(last_lines("a\n\nb\nc\nd\n"), "b; c; d");
    }
}
