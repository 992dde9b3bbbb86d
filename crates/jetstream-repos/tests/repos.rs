//! Config repositories against real git repositories made in temporary folders.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use jetstream_repos::{ConfigRepos, RepoError, RepoOptions, RepoSpec};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("jetstream-repos-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

fn git(dir: &Path, args: &[&str], at: Option<i64>) {
    let mut c = Command::new("git");
    c.arg("-C").arg(dir).args(args);
    c.env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    if let Some(t) = at {
        let date = format!("@{t} +0000");
        c.env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date);
    }
    let out = c.output().expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

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
fn history_repo(name: &str) -> PathBuf {
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
    let _ = std::fs::remove_dir_all(&dir);
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
