//! What `--config-repos` names: a folder or a git URL (a GitHub `tree/<branch>/<path>` URL too).

use std::path::PathBuf;

/// metric-hub's public repository: the default config repository.
pub const METRIC_HUB_REPO: &str = "https://github.com/mozilla/metric-hub";

/// Where a config repository is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local folder (a git checkout or not).
    Folder(PathBuf),
    /// A git URL, cloned into the cache.
    Remote {
        /// What `git clone` is given.
        url: String,
        /// The branch (default: the remote's default branch).
        branch: Option<String>,
    },
}

/// One `--config-repos` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// Where it is.
    pub location: Location,
    /// The folder inside the repository that holds the configs (`jetstream` for the reference's
    /// `…/tree/main/jetstream`), `/`-separated; empty for the root.
    pub subpath: String,
    /// Its experiment configs are private (`--private-config-repos`).
    pub private: bool,
}

impl RepoSpec {
    /// Read a value: a git URL (`https://`, `http://`, `ssh://`, `git://`, `file://`, or
    /// `user@host:path`), optionally a GitHub tree URL
    /// (`https://github.com/<owner>/<repo>/tree/<branch>/<path>`) or `URL#<branch>`; anything
    /// else is a local folder.
    pub fn parse(value: &str, private: bool) -> Self {
        let v = value.trim();
        if !is_url(v) {
            return Self {
                location: Location::Folder(PathBuf::from(v)),
                subpath: String::new(),
                private,
            };
        }
        let (v, branch) = match v.split_once('#') {
            Some((u, b)) if !b.is_empty() => (u, Some(b.to_string())),
            _ => (v, None),
        };
        if let Some((repo, rest)) = v.split_once("/tree/")
            && (repo.starts_with("https://github.com/") || repo.starts_with("http://github.com/"))
        {
            let (branch_part, path) = rest.split_once('/').unwrap_or((rest, ""));
            return Self {
                location: Location::Remote {
                    url: repo.to_string(),
                    branch: branch.or_else(|| Some(branch_part.to_string())),
                },
                subpath: path.trim_matches('/').to_string(),
                private,
            };
        }
        Self {
            location: Location::Remote {
                url: v.trim_end_matches('/').to_string(),
                branch,
            },
            subpath: String::new(),
            private,
        }
    }
}

impl RepoSpec {
    /// The value [`RepoSpec::parse`] reads back as this repository (what an Argo pod is given
    /// to clone): `URL`, `URL#BRANCH`, or a GitHub tree URL when the configs are in a folder
    /// of the repository. `None` for a local folder, which only this machine can read.
    pub fn to_url(&self) -> Option<String> {
        let Location::Remote { url, branch } = &self.location else {
            return None;
        };
        Some(match (branch, self.subpath.is_empty()) {
            (_, false) => format!(
                "{url}/tree/{}/{}",
                branch.as_deref().unwrap_or("HEAD"),
                self.subpath
            ),
            (Some(b), true) => format!("{url}#{b}"),
            (None, true) => url.clone(),
        })
    }
}

fn is_url(v: &str) -> bool {
    ["https://", "http://", "ssh://", "git://", "file://"]
        .iter()
        .any(|p| v.starts_with(p))
        || (v.starts_with("git@") && v.contains(':'))
}

/// A folder name for the cached clone of `url` (readable, and unique through a hash).
pub(crate) fn cache_name(url: &str, branch: Option<&str>) -> String {
    let key = format!("{url}#{}", branch.unwrap_or_default());
    // FNV-1a: stable across Rust versions and machines, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let readable: String = url
        .rsplit(['/', ':'])
        .find(|s| !s.is_empty())
        .unwrap_or("repo")
        .trim_end_matches(".git")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    format!("{readable}-{h:016x}.git")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a pod is given reads back as the same repository, branch and folder.
    #[test]
    fn to_url_reads_back_as_the_same_spec() {
        for value in [
            "https://github.com/mozilla/metric-hub/tree/main/jetstream",
            "https://github.com/mozilla/metric-hub/tree/main/jetstream#release",
            "https://github.com/mozilla/metric-hub",
            "https://github.com/mozilla/metric-hub#dev",
            "file:///srv/configs.git#release",
            "git@github.com:mozilla/private-configs.git",
            "ssh://git@example.com/configs.git",
        ] {
            for private in [false, true] {
                let spec = RepoSpec::parse(value, private);
                let url = spec.to_url().expect("a remote has a URL");
                assert_eq!(RepoSpec::parse(&url, private), spec, "{value} -> {url}");
            }
        }
        assert_eq!(
            RepoSpec::parse(
                "https://github.com/mozilla/metric-hub/tree/main/jetstream",
                false
            )
            .to_url()
            .as_deref(),
            Some("https://github.com/mozilla/metric-hub/tree/main/jetstream")
        );
        assert_eq!(RepoSpec::parse("/srv/configs", false).to_url(), None);
    }

    #[test]
    fn urls_folders_and_github_trees() {
        let tree = RepoSpec::parse(
            "https://github.com/mozilla/metric-hub/tree/main/jetstream",
            false,
        );
        assert_eq!(
            tree.location,
            Location::Remote {
                url: "https://github.com/mozilla/metric-hub".into(),
                branch: Some("main".into())
            }
        );
        assert_eq!(tree.subpath, "jetstream");
        let plain = RepoSpec::parse("https://github.com/mozilla/metric-hub", true);
        assert!(plain.private);
        assert_eq!(
            plain.location,
            Location::Remote {
                url: METRIC_HUB_REPO.into(),
                branch: None
            }
        );
        let pinned = RepoSpec::parse("file:///srv/configs.git#release", false);
        assert_eq!(
            pinned.location,
            Location::Remote {
                url: "file:///srv/configs.git".into(),
                branch: Some("release".into())
            }
        );
        assert!(matches!(
            RepoSpec::parse("git@github.com:o/r.git", false).location,
            Location::Remote { .. }
        ));
        assert_eq!(
            RepoSpec::parse("../metric-hub", false).location,
            Location::Folder("../metric-hub".into())
        );
    }

    #[test]
    fn cache_names_are_readable_and_distinct() {
        let a = cache_name("https://github.com/mozilla/metric-hub", None);
        assert!(a.starts_with("metric-hub-"), "{a}");
        assert_ne!(a, cache_name("https://github.com/other/metric-hub", None));
        assert_ne!(
            a,
            cache_name("https://github.com/mozilla/metric-hub", Some("dev"))
        );
        assert_eq!(a, cache_name("https://github.com/mozilla/metric-hub", None));
    }
}
