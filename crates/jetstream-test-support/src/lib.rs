//! Helpers shared by jetstream's test suites (a dev-dependency only; never in a library's
//! normal dependencies — the tidy check enforces it).
//!
//! * Test tiers ([`tier`]): plain `cargo test --workspace` needs no emulator, browser, release
//!   archive or long statistical run. Tests that do are `#[ignore = "<tier>: <why>"]`;
//!   `cargo xtask test` runs them all (`--include-ignored`) after starting what they need, and
//!   they fail loudly there when it is missing ([`required_env`]) — never skipped silently.
//! * [`FakeServer`]: a wiremock server on its own runtime, for clients that block on theirs.
//! * [`git`]: run git in a folder with a fixed identity (and time).
//! * [`scratch`]: a temporary folder removed when the test ends.
//! * [`fixtures`]: the fixtures vendored in the repository.

use std::path::{Path, PathBuf};
use std::process::Command;

use wiremock::{Mock, MockServer, Request};

/// The test tiers: the prefix of every `#[ignore = "…"]` reason (`cargo xtask tidy` checks
/// that each ignored test names one of them).
pub mod tier {
    /// Needs the BigQuery and GCS emulators (`BIGQUERY_EMULATOR_HOST`,
    /// `STORAGE_EMULATOR_HOST`).
    pub const EMULATORS: &str = "emulators";
    /// Needs headless Chromium.
    pub const CHROMIUM: &str = "chromium";
    /// Needs the release archive of `cargo xtask dist` (`JETSTREAM_DIST`).
    pub const RELEASE: &str = "release";
    /// A long statistical validation (minutes).
    pub const SLOW: &str = "slow";
    /// Every tier, in the order `cargo xtask test` documents them.
    pub const ALL: [&str; 4] = [EMULATORS, CHROMIUM, RELEASE, SLOW];
}

/// Whether the slow tier is on (`JETSTREAM_SLOW_TESTS=1`, set by `cargo xtask test`): property
/// tests then run their full case counts.
pub fn slow_tier() -> bool {
    std::env::var_os("JETSTREAM_SLOW_TESTS").is_some_and(|v| v == "1")
}

/// `full` cases in the slow tier (or `JETSTREAM_FUZZ_CASES` when set), else `quick`.
pub fn cases(quick: u32, full: u32) -> u32 {
    if let Some(n) = std::env::var("JETSTREAM_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    if slow_tier() { full } else { quick }
}

/// The value of environment variable `var`, which `cargo xtask test` sets for the tier that
/// needs it; a test of that tier run without it fails naming the variable.
pub fn required_env(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v,
        _ => panic!(
            "{var} is not set: this test belongs to a tier that `cargo xtask test` runs with \
             its services started (or start them with `cargo xtask emulators` and export what \
             it prints, then run with --include-ignored)"
        ),
    }
}

/// The fixtures vendored in the repository (`fixtures/`).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A temporary folder whose name starts with `jetstream-<prefix>-` (unique, so tests and
/// concurrent runs never share one), removed with its content when dropped. It derefs to its
/// [`Path`], so `dir.join(..)` and `&dir` as a `&Path` read as with a `PathBuf`.
pub fn scratch(prefix: &str) -> Scratch {
    Scratch(
        tempfile::Builder::new()
            .prefix(&format!("jetstream-{prefix}-"))
            .tempdir()
            .unwrap_or_else(|e| panic!("a scratch folder for {prefix}: {e}")),
    )
}

/// A folder of [`scratch`], removed when dropped.
#[derive(Debug)]
pub struct Scratch(tempfile::TempDir);

impl Scratch {
    /// The folder.
    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        self.0.path()
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.path().as_os_str()
    }
}

/// Run `git args` in `dir` with a fixed identity, at `time` (seconds since the epoch) when
/// given; panics with git's message when it fails. Returns its standard output.
pub fn git_at(dir: &Path, args: &[&str], time: Option<i64>) -> String {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_CONFIG_NOSYSTEM", "1");
    if let Some(t) = time {
        let date = format!("@{t} +0000");
        command
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let out = command.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`git_at`] at the current time.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_at(dir, args, None)
}

/// A wiremock server on a runtime of its own: the clients under test block on theirs.
pub struct FakeServer {
    server: MockServer,
    runtime: tokio::runtime::Runtime,
}

impl Default for FakeServer {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeServer {
    /// A server on a free loopback port.
    pub fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime for the fake server");
        let server = runtime.block_on(MockServer::start());
        Self { server, runtime }
    }

    /// Its base URL (`http://127.0.0.1:PORT`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Its address.
    pub fn address(&self) -> std::net::SocketAddr {
        *self.server.address()
    }

    /// Answer requests matching `mock`.
    pub fn mount(&self, mock: Mock) {
        self.runtime.block_on(mock.mount(&self.server));
    }

    /// Forget every mock and recorded request.
    pub fn reset(&self) {
        self.runtime.block_on(self.server.reset());
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.runtime
            .block_on(self.server.received_requests())
            .unwrap_or_default()
    }

    /// The requests received so far to `path`.
    pub fn requests_to(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.url.path() == path)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_folders_are_removed() {
        let dir = scratch("t");
        let path = dir.path().to_path_buf();
        std::fs::write(path.join("x"), "1").expect("write");
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn the_fake_server_answers_and_records_requests() {
        use std::io::{Read, Write};
        use wiremock::ResponseTemplate;
        use wiremock::matchers::method;
        let fake = FakeServer::new();
        fake.mount(Mock::given(method("GET")).respond_with(ResponseTemplate::new(204)));
        let mut stream = std::net::TcpStream::connect(fake.address()).expect("connect");
        stream
            .write_all(b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
        assert_eq!(fake.requests_to("/x").len(), 1);
        assert!(fake.requests_to("/y").is_empty());
    }

    #[test]
    fn git_runs_with_a_fixed_identity() {
        let dir = scratch("git");
        git(dir.path(), &["init", "-q", "-b", "main"]);
        std::fs::write(dir.path().join("f"), "x").expect("write");
        git(dir.path(), &["add", "f"]);
        git_at(
            dir.path(),
            &["commit", "-q", "-m", "m"],
            Some(1_700_000_000),
        );
        let log = git(dir.path(), &["log", "--format=%an %at"]);
        assert_eq!(log.trim(), "t 1700000000");
    }
}
