//! Config repositories against real git repositories made in temporary folders.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jetstream_repos::{ConfigRepos, RepoError, RepoOptions, RepoSpec};
use jetstream_test_support::git_at as git;

use jetstream_test_support::scratch;

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn commit(dir: &Path, at: i64, message: &str) {
    git(dir, &["add", "-A"], None);
    git(dir, &["commit", "-q", "-m", message], Some(at));
}

fn ts(t: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(t, 0).unwrap()
}

const T1: i64 = 1_700_000_000;
const T2: i64 = T1 + 86_400;
const T3: i64 = T2 + 86_400;

fn metric(select: &str) -> String {
    format!(
        "[metrics.active_hours]\nselect_expression = \"{select}\"\ndata_source = \"clients_daily\"\n\n\
         [data_sources.clients_daily]\nfrom_expression = \"mozdata.telemetry.clients_daily\"\n"
    )
}

/// A metric-hub-like repository: T1 first version, T2 a definition change, T3 an experiment
/// config change.
fn history_repo(name: &str) -> jetstream_test_support::Scratch {
    let dir = scratch(name);
    git(&dir, &["init", "-q", "-b", "main"], None);
    write(
        &dir,
        "definitions/firefox_desktop.toml",
        &metric("SUM(active_hours_sum)"),
    );
    write(
        &dir,
        "jetstream/exp-a.toml",
        "[experiment]\nenrollment_period = 7\n",
    );
    write(
        &dir,
        "jetstream/defaults/firefox_desktop.toml",
        "[metrics]\nweekly = []\n",
    );
    write(&dir, "opmon/ignored.toml", "not toml at all [");
    commit(&dir, T1, "first");
    write(
        &dir,
        "definitions/firefox_desktop.toml",
        &metric("SUM(active_hours_sum) * 2"),
    );
    commit(&dir, T2, "definition");
    write(
        &dir,
        "jetstream/exp-a.toml",
        "[experiment]\nenrollment_period = 9\n",
    );
    commit(&dir, T3, "experiment");
    dir
}

fn select_of(c: &jetstream_config::ConfigCollection) -> String {
    c.metric_definition("active_hours", "firefox_desktop")
        .and_then(|m| m.select_expression.clone())
        .unwrap_or_default()
}

fn options(cache: &Path, max_age: u64) -> RepoOptions {
    RepoOptions {
        cache_dir: cache.to_path_buf(),
        max_age: Duration::from_secs(max_age),
        attempts: 3,
        backoff: Duration::from_millis(50),
    }
}

#[test]
fn a_checkout_has_file_times_from_history_and_versions_as_of_a_time() {
    let dir = history_repo("checkout");
    let spec = RepoSpec::parse(dir.to_str().unwrap(), false);
    let repos = ConfigRepos::open(&[spec], &options(&dir.join("cache"), 60)).expect("opens");
    assert!(repos.has_history());
    let now = repos.current();
    assert!(now.broken.is_empty(), "{:?}", now.broken);
    assert_eq!(select_of(&now), "SUM(active_hours_sum) * 2");
    assert_eq!(now.experiment_modified("exp-a"), Some(ts(T3)));
    assert_eq!(now.defaults_modified("firefox_desktop"), Some(ts(T1)));
    // As of a time between the first and second commits: the first version, with its times.
    let old = repos.as_of(ts(T1 + 10)).expect("as of");
    assert_eq!(select_of(&old), "SUM(active_hours_sum)");
    assert_eq!(old.experiment_modified("exp-a"), Some(ts(T1)));
    assert_eq!(
        old.spec_for_experiment("exp-a")
            .unwrap()
            .experiment
            .enrollment_period,
        Some(7)
    );
    // Before the first commit: the oldest version (as the reference).
    assert_eq!(
        select_of(&repos.as_of(ts(T1 - 1000)).unwrap()),
        "SUM(active_hours_sum)"
    );
    // Loaded once per version.
    assert!(std::sync::Arc::ptr_eq(
        &old,
        &repos.as_of(ts(T1 + 20)).unwrap()
    ));
    // After the newest commit: the current configs.
    assert!(std::sync::Arc::ptr_eq(
        &repos.as_of(ts(T3 + 5)).unwrap(),
        &now
    ));
}

#[test]
fn uncommitted_changes_of_a_checkout_count_now_with_their_file_time() {
    let dir = history_repo("dirty");
    write(
        &dir,
        "jetstream/exp-b.toml",
        "[experiment]\nenrollment_period = 3\n",
    );
    let spec = RepoSpec::parse(dir.to_str().unwrap(), false);
    let repos = ConfigRepos::open(&[spec], &options(&dir.join("cache"), 60)).expect("opens");
    let now = repos.current();
    assert!(now.spec_for_experiment("exp-b").is_some());
    let t = now.experiment_modified("exp-b").expect("a time");
    assert!(t > ts(T3), "{t}");
}

#[test]
fn a_subfolder_of_a_checkout_reads_only_that_folder() {
    let dir = history_repo("subfolder");
    let spec = RepoSpec::parse(dir.join("jetstream").to_str().unwrap(), false);
    let repos = ConfigRepos::open(&[spec], &options(&dir.join("cache"), 60)).expect("opens");
    let now = repos.current();
    assert!(now.spec_for_experiment("exp-a").is_some());
    assert!(
        now.definitions.is_empty(),
        "root definitions are outside jetstream/"
    );
    assert_eq!(now.experiment_modified("exp-a"), Some(ts(T3)));
    let old = repos.as_of(ts(T2)).unwrap();
    assert_eq!(
        old.spec_for_experiment("exp-a")
            .unwrap()
            .experiment
            .enrollment_period,
        Some(7)
    );
}

#[test]
fn a_git_url_is_cloned_once_reused_fetched_when_old_and_kept_when_offline() {
    let origin = history_repo("origin");
    let work = scratch("clone-work");
    let cache = work.join("cache");
    let url = format!("file://{}", origin.display());
    let spec = RepoSpec::parse(&url, false);

    let first =
        ConfigRepos::open(std::slice::from_ref(&spec), &options(&cache, 3600)).expect("clones");
    assert_eq!(select_of(&first.current()), "SUM(active_hours_sum) * 2");
    assert_eq!(first.current().experiment_modified("exp-a"), Some(ts(T3)));
    assert!(first.warnings.is_empty());
    let clones: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(clones.len(), 1, "one cached clone");

    // A new commit upstream: a fresh cache is reused as it is (no fetch)...
    write(
        &origin,
        "definitions/firefox_desktop.toml",
        &metric("SUM(active_hours_sum) * 3"),
    );
    commit(&origin, T3 + 100, "third definition");
    let reused = ConfigRepos::open(std::slice::from_ref(&spec), &options(&cache, 3600)).unwrap();
    assert_eq!(select_of(&reused.current()), "SUM(active_hours_sum) * 2");
    // ...and an old one is fetched.
    let fetched = ConfigRepos::open(std::slice::from_ref(&spec), &options(&cache, 0)).unwrap();
    assert_eq!(select_of(&fetched.current()), "SUM(active_hours_sum) * 3");
    assert!(fetched.warnings.is_empty());
    // The pinned versions come from the clone's history.
    assert_eq!(
        select_of(&fetched.as_of(ts(T1 + 1)).unwrap()),
        "SUM(active_hours_sum)"
    );

    // The remote goes away: the cached copy is used, with a warning naming the URL.
    let moved = origin.with_extension("gone");
    std::fs::rename(&origin, &moved).unwrap();
    let offline =
        ConfigRepos::open(std::slice::from_ref(&spec), &options(&cache, 0)).expect("cached copy");
    assert_eq!(select_of(&offline.current()), "SUM(active_hours_sum) * 3");
    assert_eq!(offline.warnings.len(), 1);
    assert!(
        offline.warnings[0].contains(&url),
        "{}",
        offline.warnings[0]
    );
    assert!(offline.warnings[0].contains("using the copy fetched at"));

    // Without a cached copy, it fails, naming the URL and the cache.
    let empty = work.join("empty-cache");
    let err = ConfigRepos::open(&[spec], &options(&empty, 0)).expect_err("no copy");
    assert!(matches!(err, RepoError::Clone { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&url) && message.contains("no cached copy"),
        "{message}"
    );
    assert!(
        !empty.exists() || std::fs::read_dir(&empty).unwrap().next().is_none(),
        "no half clone left"
    );
    let _ = std::fs::remove_dir_all(&moved);
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn a_branch_of_a_url_is_followed() {
    let origin = history_repo("branch-origin");
    git(&origin, &["checkout", "-q", "-b", "next"], None);
    write(
        &origin,
        "jetstream/exp-a.toml",
        "[experiment]\nenrollment_period = 11\n",
    );
    commit(&origin, T3 + 50, "next");
    git(&origin, &["checkout", "-q", "main"], None);
    let cache = scratch("branch-cache");
    let main = RepoSpec::parse(&format!("file://{}", origin.display()), false);
    let next = RepoSpec::parse(&format!("file://{}#next", origin.display()), false);
    let period = |spec: RepoSpec| {
        ConfigRepos::open(&[spec], &options(&cache, 60))
            .unwrap()
            .current()
            .spec_for_experiment("exp-a")
            .unwrap()
            .experiment
            .enrollment_period
    };
    assert_eq!(period(main), Some(9));
    assert_eq!(period(next), Some(11));
    let _ = std::fs::remove_dir_all(&origin);
    let _ = std::fs::remove_dir_all(&cache);
}

#[test]
fn a_plain_folder_loads_as_before_with_file_times() {
    let dir = scratch("plain");
    write(
        &dir,
        "jetstream/exp-c.toml",
        "[experiment]\nenrollment_period = 5\n",
    );
    let repos = ConfigRepos::open(
        &[RepoSpec::parse(dir.to_str().unwrap(), false)],
        &options(&dir.join("cache"), 60),
    )
    .unwrap();
    assert!(!repos.has_history());
    assert!(repos.current().experiment_modified("exp-c").is_some());
    let missing = ConfigRepos::open(
        &[RepoSpec::parse(dir.join("nope").to_str().unwrap(), false)],
        &options(&dir.join("cache"), 60),
    )
    .expect_err("missing folder");
    assert!(missing.to_string().contains("nope"), "{missing}");
}

#[test]
fn the_metric_hub_fixture_reads_the_same_from_git_as_from_the_folder() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub");
    let from_dir = jetstream_config::ConfigCollection::load_dir(&fixture).expect("fixture loads");
    let origin = scratch("fixture-origin");
    copy_dir(&fixture, &origin);
    git(&origin, &["init", "-q", "-b", "main"], None);
    commit(&origin, T1, "fixture");
    let cache = scratch("fixture-cache");
    let repos = ConfigRepos::open(
        &[RepoSpec::parse(
            &format!("file://{}", origin.display()),
            false,
        )],
        &options(&cache, 60),
    )
    .unwrap();
    let from_git = repos.current();
    assert_eq!(from_git.configs.len(), from_dir.configs.len());
    assert_eq!(from_git.outcomes.len(), from_dir.outcomes.len());
    assert_eq!(
        from_git.defaults.keys().collect::<Vec<_>>(),
        from_dir.defaults.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        from_git.definitions.keys().collect::<Vec<_>>(),
        from_dir.definitions.keys().collect::<Vec<_>>()
    );
    assert_eq!(from_git.broken.len(), from_dir.broken.len());
    // The same specs (their origins name different files).
    for (slug, spec) in &from_dir.configs {
        let other = &from_git.configs[slug];
        assert_eq!(
            other.metrics.definitions.keys().collect::<Vec<_>>(),
            spec.metrics.definitions.keys().collect::<Vec<_>>(),
            "{slug}"
        );
        assert_eq!(
            other.experiment.enrollment_period,
            spec.experiment.enrollment_period
        );
        assert_eq!(other.experiment.segments, spec.experiment.segments);
    }
    assert!(from_git.stamps.iter().all(|s| s.last_modified == ts(T1)));
    let _ = std::fs::remove_dir_all(&origin);
    let _ = std::fs::remove_dir_all(&cache);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A `git daemon` serving the repositories under `base` on 127.0.0.1, as a remote host would
/// (partial clones allowed, as GitHub allows them); stopped on drop.
struct Daemon {
    child: Option<std::process::Child>,
    port: u16,
}

impl Daemon {
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn start(base: &Path, port: u16) -> std::process::Child {
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                "--enable=upload-pack",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("git daemon starts");
        // Until it answers.
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        child
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Objects of a clone by kind (`git cat-file --batch-all-objects` sees only what is there).
fn blobs_in(dir: &Path) -> usize {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objecttype)",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| *l == "blob")
        .count()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            if e.path().is_dir() {
                dir_size(&e.path())
            } else {
                e.metadata().map_or(0, |m| m.len())
            }
        })
        .sum()
}

/// Pods clone metric-hub many times a day: a partial clone (commits and trees, blobs of the
/// versions read) keeps pinning exact while fetching a fraction of a full clone. Measured on
/// the vendored metric-hub with a history of changes to one file, over git's own protocol.
#[test]
#[allow(clippy::print_stderr)] // the measurement, for the record (`--nocapture`)
fn a_partial_clone_pins_exactly_and_fetches_only_the_versions_read() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/metric-hub");
    let base = scratch("partial-base");
    let origin = base.join("metric-hub");
    copy_dir(&fixture, &origin);
    git(&origin, &["init", "-q", "-b", "main"], None);
    git(&origin, &["config", "uploadpack.allowFilter", "true"], None);
    git(
        &origin,
        &["config", "uploadpack.allowAnySHA1InWant", "true"],
        None,
    );
    commit(&origin, T1, "fixture");
    // Twenty later versions of one definitions file (each a new blob of ~100 kB).
    let defs = origin.join("definitions/firefox_desktop.toml");
    let original = std::fs::read_to_string(&defs).unwrap();
    for k in 1..=20 {
        std::fs::write(&defs, format!("{original}\n# revision {k}\n")).unwrap();
        commit(&origin, T1 + 3600 * k, &format!("revision {k}"));
    }
    let port = Daemon::free_port();
    let daemon = Daemon {
        child: Some(Daemon::start(&base, port)),
        port,
    };
    let url = daemon.url("metric-hub");
    let cache = scratch("partial-cache");
    let started = std::time::Instant::now();
    let repos =
        ConfigRepos::open(&[RepoSpec::parse(&url, false)], &options(&cache, 3600)).expect("clone");
    let partial_time = started.elapsed();
    let clone = std::fs::read_dir(&cache)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let partial_blobs = blobs_in(&clone);
    let partial_bytes = dir_size(&clone);
    // The same configs as the folder.
    let from_dir = jetstream_config::ConfigCollection::load_dir(&origin).unwrap();
    assert_eq!(repos.current().configs.len(), from_dir.configs.len());
    // Pinned to the first version: its definitions file is fetched then (one request).
    let first = repos.as_of(ts(T1 + 60)).unwrap();
    assert_eq!(first.stamps.len(), repos.current().stamps.len());
    assert!(
        first
            .stamps
            .iter()
            .filter(|s| s.path.ends_with("definitions/firefox_desktop.toml"))
            .all(|s| s.last_modified == ts(T1)),
        "the pinned version's file times"
    );
    let after_pin = blobs_in(&clone);
    assert_eq!(
        after_pin,
        partial_blobs + 1,
        "exactly the pinned version's blob"
    );

    // A full clone of the same history, for comparison.
    let full = scratch("full-clone");
    let started = std::time::Instant::now();
    git(
        &full,
        &[
            "clone",
            "-q",
            "--bare",
            &url,
            full.join("c").to_str().unwrap(),
        ],
        None,
    );
    let full_time = started.elapsed();
    let full_blobs = blobs_in(&full.join("c"));
    let full_bytes = dir_size(&full.join("c"));
    eprintln!(
        "metric-hub fixture, 21 commits: partial clone {partial_blobs} blobs, {partial_bytes} \
         bytes, {partial_time:?} (configs loaded); full clone {full_blobs} blobs, {full_bytes} \
         bytes, {full_time:?}"
    );
    // Distinct blobs of the current version (identical files share one).
    let listing = Command::new("git")
        .arg("-C")
        .arg(&origin)
        .args(["ls-tree", "-r", "--format=%(objectname)", "HEAD"])
        .output()
        .unwrap()
        .stdout;
    let head_files = String::from_utf8_lossy(&listing)
        .lines()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert_eq!(
        full_blobs,
        head_files + 20,
        "every file, and every older revision"
    );
    assert!(partial_blobs <= head_files, "the current configs only");
    assert!(partial_bytes < full_bytes, "{partial_bytes} < {full_bytes}");
    drop(daemon);
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&cache);
    let _ = std::fs::remove_dir_all(&full);
}

/// A remote that does not answer yet (a network hiccup) is tried again with backoff; one that
/// does not exist fails at once.
#[test]
fn clones_are_retried_when_the_remote_is_out_of_reach() {
    let base = scratch("retry-base");
    let origin = base.join("configs");
    std::fs::create_dir_all(&origin).unwrap();
    write(
        &origin,
        "jetstream/exp-r.toml",
        "[experiment]\nenrollment_period = 4\n",
    );
    git(&origin, &["init", "-q", "-b", "main"], None);
    commit(&origin, T1, "first");
    let port = Daemon::free_port();
    // The server comes up only after the first attempt was refused.
    let later = {
        let base = base.to_path_buf();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            Daemon::start(&base, port)
        })
    };
    let url = format!("git://127.0.0.1:{port}/configs");
    let cache = scratch("retry-cache");
    let mut opts = options(&cache, 3600);
    opts.attempts = 6;
    opts.backoff = Duration::from_millis(200);
    let started = std::time::Instant::now();
    let repos = ConfigRepos::open(&[RepoSpec::parse(&url, false)], &opts).expect("retried");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "a retry waited"
    );
    let daemon = Daemon {
        child: Some(later.join().unwrap()),
        port,
    };
    assert_eq!(
        repos
            .current()
            .spec_for_experiment("exp-r")
            .unwrap()
            .experiment
            .enrollment_period,
        Some(4)
    );
    // No such repository on a reachable server: permanent, no waiting (a retry would wait
    // 3 s first).
    let missing = daemon.url("no-such-repo");
    opts.backoff = Duration::from_secs(3);
    let started = std::time::Instant::now();
    let err = ConfigRepos::open(&[RepoSpec::parse(&missing, false)], &opts).expect_err("missing");
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "not retried: {:?}",
        started.elapsed()
    );
    drop(daemon);
    let _ = std::fs::remove_dir_all(&base);
    let _ = std::fs::remove_dir_all(&cache);
}
