//! Config repositories for jetstream (metric-hub layout): local folders, local git checkouts and
//! git URLs, cloned once into a cache folder and fetched again when the copy is older than a
//! configurable age.
//!
//! Git is driven through the `git` executable, as the reference's GitPython does: users'
//! credentials (SSH agents, credential helpers, proxies) work unchanged, and no git library is
//! compiled. Each config file's last change is the time its change landed on the branch (the
//! first-parent history, so a merged pull request counts from its merge, not from its older
//! commits). [`ConfigRepos::as_of`] gives the configs as they were at a time: an experiment's
//! configs are pinned to its first analysis.

mod git;
pub mod spec;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use jetstream_config::ConfigCollection;
use jetstream_config::collection::RepoFile;

pub use spec::{Location, METRIC_HUB_REPO, RepoSpec};

/// Why config repositories could not be opened or read. Every variant names the repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The `git` executable is missing.
    #[error(
        "git is not installed (or not on PATH): config repositories given as git URLs or git checkouts need it"
    )]
    NoGit,
    /// A git command failed.
    #[error("{repo}: `{command}` failed: {message}")]
    Git {
        /// The repository.
        repo: String,
        /// The command.
        command: String,
        /// git's message.
        message: String,
    },
    /// A remote repository could not be cloned and there is no cached copy.
    #[error("cannot clone config repository {url}: {message} (no cached copy in {cache})")]
    Clone {
        /// The URL.
        url: String,
        /// git's message.
        message: String,
        /// Where the copy would be.
        cache: String,
    },
    /// A local folder or file problem.
    #[error("{path}: {message}")]
    Io {
        /// The folder or file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// How remote repositories are kept.
#[derive(Debug, Clone)]
pub struct RepoOptions {
    /// Where clones are kept.
    pub cache_dir: PathBuf,
    /// A cached clone older than this is fetched again.
    pub max_age: Duration,
    /// Attempts of each clone or fetch (the first included): a failure that may pass (a
    /// network error, a 5xx, a stalled transfer) is tried again; one that will not (no such
    /// repository, refused credentials) fails at once.
    pub attempts: u32,
    /// The wait before the first retry, doubled after each.
    pub backoff: Duration,
}

impl Default for RepoOptions {
    /// Three attempts, 2 s then 4 s apart.
    fn default() -> Self {
        Self {
            cache_dir: default_cache_dir(),
            max_age: Duration::from_secs(15 * 60),
            attempts: 3,
            backoff: Duration::from_secs(2),
        }
    }
}

/// Run the git operation `f` (on `url`) with `options`' retries: failures git reports as
/// permanent ([`git::is_permanent`]) end it at once.
fn with_retries<T>(
    options: &RepoOptions,
    url: &str,
    mut f: impl FnMut() -> Result<T, RepoError>,
) -> Result<T, RepoError> {
    let attempts = options.attempts.max(1);
    let mut wait = options.backoff;
    for attempt in 1.. {
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= attempts || git::is_permanent(&e) => return Err(e),
            Err(e) => {
                tracing::warn!(%url, attempt, of = attempts, wait_ms = wait.as_millis() as u64,
                    error = %e, "git failed; trying again");
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2);
            }
        }
    }
    unreachable!("the loop returns")
}

/// `$XDG_CACHE_HOME/jetstream/config-repos`, else `~/.cache/jetstream/config-repos`, else the
/// temporary folder.
pub fn default_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("jetstream").join("config-repos")
}

/// One commit of a repository's first-parent history that changed config files.
#[derive(Debug, Clone)]
struct Commit {
    hash: String,
    time: DateTime<Utc>,
    /// Changed paths, relative to the repository's config folder.
    files: Vec<String>,
}

#[derive(Debug)]
enum Kind {
    /// A folder without git: read as it is, file times from the file system.
    Folder(PathBuf),
    /// A git repository (a cached bare clone, or a checkout whose work tree is `work_tree`).
    Git {
        dir: PathBuf,
        work_tree: Option<PathBuf>,
        /// Newest first.
        history: Vec<Commit>,
    },
}

#[derive(Debug)]
struct Repo {
    label: String,
    subpath: String,
    private: bool,
    kind: Kind,
}

/// The config repositories of a run, opened: remote ones cloned or fetched, histories read.
#[derive(Debug)]
pub struct ConfigRepos {
    repos: Vec<Repo>,
    /// Notes for the user (an offline fetch, say), already logged.
    pub warnings: Vec<String>,
    current: Arc<ConfigCollection>,
    pinned: Mutex<HashMap<Vec<String>, Arc<ConfigCollection>>>,
}

impl ConfigRepos {
    /// Open `specs` in order (later ones override earlier ones): clone or fetch remote ones,
    /// read histories, load the current configs.
    pub fn open(specs: &[RepoSpec], options: &RepoOptions) -> Result<Self, RepoError> {
        let mut warnings = Vec::new();
        let mut repos = Vec::new();
        // A URL named twice (metric-hub and its `jetstream/` folder, say) is cloned or
        // fetched once per opening.
        let mut fetched = std::collections::HashSet::new();
        for spec in specs {
            repos.push(open_one(spec, options, &mut fetched, &mut warnings)?);
        }
        let mut current = ConfigCollection::new();
        for repo in &repos {
            repo.load_current(&mut current)?;
        }
        Ok(Self {
            repos,
            warnings,
            current: Arc::new(current),
            pinned: Mutex::new(HashMap::new()),
        })
    }

    /// The configs as they are now (a checkout's work tree with its uncommitted changes).
    pub fn current(&self) -> Arc<ConfigCollection> {
        Arc::clone(&self.current)
    }

    /// Whether any repository has a history (otherwise [`ConfigRepos::as_of`] is the current
    /// configs).
    pub fn has_history(&self) -> bool {
        self.repos
            .iter()
            .any(|r| matches!(&r.kind, Kind::Git { history, .. } if !history.is_empty()))
    }

    /// The configs as they were at `t`: for each git repository, its newest commit at or before
    /// `t` (its oldest commit when all are newer, as the reference); folders without history as
    /// they are. Loaded once per distinct set of commits.
    pub fn as_of(&self, t: DateTime<Utc>) -> Result<Arc<ConfigCollection>, RepoError> {
        let picks: Vec<Option<usize>> = self.repos.iter().map(|r| r.pick(t)).collect();
        if picks.iter().all(|p| matches!(p, None | Some(0))) {
            // Every repository at its newest version: the current configs (a checkout's
            // uncommitted changes included).
            return Ok(self.current());
        }
        let key: Vec<String> = self
            .repos
            .iter()
            .zip(&picks)
            .map(|(r, p)| r.version(*p))
            .collect();
        if let Some(c) = self.pinned.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(c);
        }
        let mut configs = ConfigCollection::new();
        for (repo, pick) in self.repos.iter().zip(&picks) {
            match pick {
                Some(i) if *i > 0 => repo.load_commit(*i, &mut configs)?,
                _ => repo.load_current(&mut configs)?,
            }
        }
        let configs = Arc::new(configs);
        if let Ok(mut m) = self.pinned.lock() {
            m.insert(key, Arc::clone(&configs));
        }
        Ok(configs)
    }
}

impl Repo {
    /// Index into the history of the commit in effect at `t` (`None`: no history).
    fn pick(&self, t: DateTime<Utc>) -> Option<usize> {
        let Kind::Git { history, .. } = &self.kind else {
            return None;
        };
        if history.is_empty() {
            return None;
        }
        Some(
            history
                .iter()
                .position(|c| c.time <= t)
                .unwrap_or(history.len() - 1),
        )
    }

    fn version(&self, pick: Option<usize>) -> String {
        match (&self.kind, pick) {
            (Kind::Git { history, .. }, Some(i)) => {
                format!("{}@{}", self.label, short(&history[i].hash))
            }
            _ => self.label.clone(),
        }
    }

    /// Load the current version on top of `configs`.
    fn load_current(&self, configs: &mut ConfigCollection) -> Result<(), RepoError> {
        match &self.kind {
            Kind::Folder(dir) => {
                configs
                    .extend_from_dir(dir, self.private)
                    .map_err(|e| RepoError::Io {
                        path: dir.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Kind::Git {
                work_tree: Some(top),
                dir,
                history,
                ..
            } => {
                let root = join_sub(top, &self.subpath);
                let mut files = read_folder(&root)?;
                let dirty = changed_paths(dir, &self.subpath, &self.label)?;
                let times = file_times(history, 0);
                for f in &mut files {
                    f.last_modified = if dirty.contains(&f.path) {
                        std::fs::metadata(root.join(&f.path))
                            .and_then(|m| m.modified())
                            .ok()
                            .map(DateTime::<Utc>::from)
                    } else {
                        times.get(&f.path).copied()
                    };
                }
                configs.extend_from_files(
                    &self.version(self.pick(Utc::now())),
                    &files,
                    self.private,
                );
                Ok(())
            }
            Kind::Git { history, .. } if history.is_empty() => Ok(()),
            Kind::Git { .. } => self.load_commit(0, configs),
        }
    }

    /// Load the version of history entry `i` on top of `configs`.
    fn load_commit(&self, i: usize, configs: &mut ConfigCollection) -> Result<(), RepoError> {
        let Kind::Git { dir, history, .. } = &self.kind else {
            return self.load_current(configs);
        };
        let commit = &history[i].hash;
        let mut files = tree_files(dir, commit, &self.subpath, &self.label)?;
        let times = file_times(history, i);
        for f in &mut files {
            f.last_modified = times.get(&f.path).copied();
        }
        configs.extend_from_files(&self.version(Some(i)), &files, self.private);
        Ok(())
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

fn join_sub(dir: &Path, subpath: &str) -> PathBuf {
    if subpath.is_empty() {
        dir.to_path_buf()
    } else {
        dir.join(subpath)
    }
}

/// When each file last changed as of history entry `from` (newest first).
fn file_times(history: &[Commit], from: usize) -> HashMap<String, DateTime<Utc>> {
    let mut times = HashMap::new();
    for c in &history[from..] {
        for f in &c.files {
            times.entry(f.clone()).or_insert(c.time);
        }
    }
    times
}

fn open_one(
    spec: &RepoSpec,
    options: &RepoOptions,
    fetched: &mut std::collections::HashSet<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<Repo, RepoError> {
    match &spec.location {
        Location::Folder(dir) => {
            if !dir.is_dir() {
                return Err(RepoError::Io {
                    path: dir.display().to_string(),
                    message: "config repository is not a folder (or does not exist)".into(),
                });
            }
            let label = dir.display().to_string();
            let top = git::run(Some(dir), &["rev-parse", "--show-toplevel"], &label)
                .ok()
                .map(|s| PathBuf::from(s.trim()));
            let Some(top) = top else {
                return Ok(Repo {
                    label,
                    subpath: String::new(),
                    private: spec.private,
                    kind: Kind::Folder(dir.clone()),
                });
            };
            let abs = std::fs::canonicalize(dir).map_err(|e| RepoError::Io {
                path: label.clone(),
                message: e.to_string(),
            })?;
            let top_abs = std::fs::canonicalize(&top).unwrap_or(top.clone());
            let subpath = abs
                .strip_prefix(&top_abs)
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let has_head = git::succeeds(Some(&top), &["rev-parse", "--verify", "-q", "HEAD"]);
            let history = if has_head {
                read_history(&top, "HEAD", &subpath, &label)?
            } else {
                Vec::new()
            };
            Ok(Repo {
                label,
                subpath,
                private: spec.private,
                kind: Kind::Git {
                    dir: top.clone(),
                    work_tree: Some(top),
                    history,
                },
            })
        }
        Location::Remote { url, branch } => {
            let dir = options
                .cache_dir
                .join(spec::cache_name(url, branch.as_deref()));
            if fetched.insert(dir.clone()) {
                fetch(url, branch.as_deref(), &dir, options, warnings)?;
            }
            let rev = branch.clone().unwrap_or_else(|| "HEAD".into());
            let label = match branch {
                Some(b) => format!("{url}#{b}"),
                None => url.clone(),
            };
            let history = read_history(&dir, &rev, &spec.subpath, &label)?;
            Ok(Repo {
                label,
                subpath: spec.subpath.clone(),
                private: spec.private,
                kind: Kind::Git {
                    dir,
                    work_tree: None,
                    history,
                },
            })
        }
    }
}

/// The file whose modification time says when a cached clone was last fetched.
const FETCHED: &str = "jetstream-fetched";

/// Make `dir` a bare clone of `url` no older than `options.max_age`.
fn fetch(
    url: &str,
    branch: Option<&str>,
    dir: &Path,
    options: &RepoOptions,
    warnings: &mut Vec<String>,
) -> Result<(), RepoError> {
    let stamp = dir.join(FETCHED);
    if dir.join("HEAD").is_file() {
        let age = std::fs::metadata(&stamp)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        if age.is_some_and(|a| a <= options.max_age) {
            tracing::debug!(%url, cache = %dir.display(), "cached config repository is fresh");
            return Ok(());
        }
        let refspec = match branch {
            Some(b) => format!("+refs/heads/{b}:refs/heads/{b}"),
            None => "+refs/heads/*:refs/heads/*".to_string(),
        };
        // From `origin` (the clone's own remote, the URL): in a partial clone, the promisor
        // remote keeps the fetch filtered (new history without blobs).
        let fetched = with_retries(options, url, || {
            let mut args = vec!["fetch", "--quiet", "--prune"];
            if git::is_partial(dir) {
                args.extend(["--filter=blob:none", "origin"]);
            } else {
                args.push(url);
            }
            args.push(&refspec);
            git::run(Some(dir), &args, url)
        });
        match fetched {
            Ok(_) => {
                touch(&stamp);
                tracing::info!(%url, cache = %dir.display(), "config repository fetched");
            }
            Err(e) => {
                let when = std::fs::metadata(&stamp)
                    .and_then(|m| m.modified())
                    .map(|t| {
                        DateTime::<Utc>::from(t)
                            .format("%Y-%m-%d %H:%M UTC")
                            .to_string()
                    })
                    .unwrap_or_else(|_| "an unknown time".into());
                let w = format!(
                    "could not update config repository {url} ({e}); using the copy fetched at {when} in {}",
                    dir.display()
                );
                tracing::warn!("{w}");
                warnings.push(w);
            }
        }
        return Ok(());
    }
    std::fs::create_dir_all(&options.cache_dir).map_err(|e| RepoError::Io {
        path: options.cache_dir.display().to_string(),
        message: format!("cannot create the config cache: {e}"),
    })?;
    // Clone beside the final folder and rename: a failed or concurrent clone never leaves a
    // half-written copy where the next run would take it for a good one.
    let tmp = dir.with_extension(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let tmp_s = tmp.to_string_lossy().into_owned();
    // A partial clone: the whole history of commits and trees (pinning reads it), blobs only
    // when a version is read (`tree_files` fetches a commit's missing configs in one go). A
    // server without filter support sends a full clone instead.
    let mut args = vec!["clone", "--bare", "--quiet", "--filter=blob:none"];
    if let Some(b) = branch {
        args.extend(["--branch", b]);
    }
    args.extend([url, tmp_s.as_str()]);
    let cloned = with_retries(options, url, || {
        let _ = std::fs::remove_dir_all(&tmp);
        git::run(None, &args, url)
    });
    if let Err(e) = cloned {
        let _ = std::fs::remove_dir_all(&tmp);
        let message = match e {
            RepoError::Git { message, .. } => message,
            other => other.to_string(),
        };
        return Err(RepoError::Clone {
            url: url.to_string(),
            message,
            cache: dir.display().to_string(),
        });
    }
    touch(&tmp.join(FETCHED));
    if std::fs::rename(&tmp, dir).is_err() {
        // Another run cloned it meanwhile: theirs is as good.
        let _ = std::fs::remove_dir_all(&tmp);
        if !dir.join("HEAD").is_file() {
            return Err(RepoError::Io {
                path: dir.display().to_string(),
                message: "cannot move the new clone into the config cache".into(),
            });
        }
    }
    tracing::info!(%url, cache = %dir.display(), "config repository cloned");
    Ok(())
}

fn touch(path: &Path) {
    if let Err(e) = std::fs::write(path, Utc::now().to_rfc3339()) {
        tracing::warn!(path = %path.display(), "cannot record the fetch time: {e}");
    }
}

/// The first-parent history of `rev` that touched `subpath`, newest first, with paths relative
/// to `subpath`.
fn read_history(
    dir: &Path,
    rev: &str,
    subpath: &str,
    what: &str,
) -> Result<Vec<Commit>, RepoError> {
    let pathspec = if subpath.is_empty() { "." } else { subpath };
    let out = git::run(
        Some(dir),
        &[
            "log",
            "--first-parent",
            "-m",
            "--name-only",
            "--no-renames",
            "--format=%x01%H %ct",
            rev,
            "--",
            pathspec,
        ],
        what,
    )?;
    Ok(parse_log(&out, subpath))
}

fn parse_log(out: &str, subpath: &str) -> Vec<Commit> {
    let prefix = if subpath.is_empty() {
        String::new()
    } else {
        format!("{subpath}/")
    };
    let mut commits: Vec<Commit> = Vec::new();
    for line in out.lines() {
        if let Some(header) = line.strip_prefix('\u{1}') {
            let mut parts = header.split(' ');
            let (Some(hash), Some(secs)) = (parts.next(), parts.next()) else {
                continue;
            };
            let Some(time) = secs
                .parse::<i64>()
                .ok()
                .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
            else {
                continue;
            };
            commits.push(Commit {
                hash: hash.to_string(),
                time,
                files: Vec::new(),
            });
        } else if !line.is_empty()
            && let Some(c) = commits.last_mut()
            && let Some(rel) = line.strip_prefix(prefix.as_str())
        {
            c.files.push(rel.to_string());
        }
    }
    commits
}

/// The TOML files of `subpath` at `commit`, relative to `subpath` (times not set).
fn tree_files(
    dir: &Path,
    commit: &str,
    subpath: &str,
    what: &str,
) -> Result<Vec<RepoFile>, RepoError> {
    let mut args = vec!["ls-tree", "-r", "-z", "--full-tree", commit];
    if !subpath.is_empty() {
        args.extend(["--", subpath]);
    }
    let out = git::run(Some(dir), &args, what)?;
    let prefix = if subpath.is_empty() {
        String::new()
    } else {
        format!("{subpath}/")
    };
    let mut paths = Vec::new();
    let mut objects = Vec::new();
    for entry in out.split('\0').filter(|e| !e.is_empty()) {
        let Some((meta, path)) = entry.split_once('\t') else {
            continue;
        };
        let mut m = meta.split(' ');
        let (_, kind, oid) = (m.next(), m.next(), m.next());
        let (Some("blob"), Some(oid)) = (kind, oid) else {
            continue;
        };
        let Some(rel) = path.strip_prefix(prefix.as_str()) else {
            continue;
        };
        if rel.ends_with(".toml") {
            paths.push(rel.to_string());
            objects.push(oid.to_string());
        }
    }
    // Only the files the loader reads.
    let wanted: std::collections::HashSet<String> = {
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        jetstream_config::collection::config_paths(&refs)
            .into_iter()
            .map(str::to_string)
            .collect()
    };
    let (paths, objects): (Vec<_>, Vec<_>) = paths
        .into_iter()
        .zip(objects)
        .filter(|(p, _)| wanted.contains(p))
        .unzip();
    if git::is_partial(dir)
        && let Err(e) = git::prefetch(dir, commit, &objects, what)
    {
        // `git cat-file` below still fetches them, one at a time.
        tracing::warn!(repo = %what, error = %e, "could not fetch the configs of {commit} in one go");
    }
    let blobs = git::read_blobs(dir, &objects, what)?;
    Ok(paths
        .into_iter()
        .zip(blobs)
        .map(|(path, bytes)| RepoFile {
            path,
            text: String::from_utf8_lossy(&bytes).into_owned(),
            last_modified: None,
        })
        .collect())
}

/// The TOML files a loader reads from a folder on disk, relative to it (times not set).
fn read_folder(root: &Path) -> Result<Vec<RepoFile>, RepoError> {
    let mut all: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|e| RepoError::Io {
            path: dir.display().to_string(),
            message: format!("cannot list: {e}"),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() && depth < 3 {
                stack.push((path, depth + 1));
            } else if name.ends_with(".toml")
                && let Ok(rel) = path.strip_prefix(root)
            {
                all.insert(rel.to_string_lossy().replace('\\', "/"), path);
            }
        }
    }
    let keys: Vec<&str> = all.keys().map(String::as_str).collect();
    let wanted = jetstream_config::collection::config_paths(&keys);
    wanted
        .into_iter()
        .map(|rel| {
            let path = &all[rel];
            let text = jetstream_config::collection::read_text_bounded(
                path,
                jetstream_config::collection::MAX_CONFIG_FILE_BYTES,
            )
            .map_err(|e| RepoError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
            Ok(RepoFile {
                path: rel.to_string(),
                text,
                last_modified: None,
            })
        })
        .collect()
}

/// Files of a checkout's `subpath` that differ from HEAD (changed, added or untracked),
/// relative to `subpath`.
fn changed_paths(
    top: &Path,
    subpath: &str,
    what: &str,
) -> Result<std::collections::HashSet<String>, RepoError> {
    let pathspec = if subpath.is_empty() { "." } else { subpath };
    let out = git::run(
        Some(top),
        &[
            "status",
            "--porcelain=v1",
            "-z",
            "--untracked-files=all",
            "--",
            pathspec,
        ],
        what,
    )?;
    let prefix = if subpath.is_empty() {
        String::new()
    } else {
        format!("{subpath}/")
    };
    Ok(out
        .split('\0')
        .filter(|e| e.len() > 3)
        .filter_map(|e| e[3..].strip_prefix(prefix.as_str()).map(str::to_string))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_become_commits_with_relative_paths() {
        let out = "\u{1}bbb 200\n\njetstream/a.toml\nopmon/x.toml\n\u{1}aaa 100\n\njetstream/defaults/firefox_desktop.toml\n";
        let commits = parse_log(out, "jetstream");
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].files, vec!["a.toml"]);
        assert_eq!(commits[1].files, vec!["defaults/firefox_desktop.toml"]);
        let times = file_times(&commits, 1);
        assert!(!times.contains_key("a.toml"));
        assert_eq!(times["defaults/firefox_desktop.toml"].timestamp(), 100);
    }
}
