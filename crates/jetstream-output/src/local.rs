//! The local-folder sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::{OutputError, OutputSink, check_key};

/// Files under a root folder (created on first write).
#[derive(Debug, Clone)]
pub struct LocalFolder {
    root: PathBuf,
}

impl LocalFolder {
    /// A sink writing below `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn read_err(path: &Path, source: std::io::Error) -> OutputError {
    OutputError::Read {
        path: path.display().to_string(),
        source,
    }
}

/// Errors that mean "no file at this key": absent, or a folder where a file would be (a
/// folder is not an object), or a file where a folder would be.
fn is_absent(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{IsADirectory, NotADirectory, NotFound};
    matches!(e.kind(), NotFound | NotADirectory | IsADirectory)
}

/// Whether `name` is one of [`LocalFolder::put`]'s temporary files (`.<name>.<pid>.<n>.tmp`).
fn is_temporary(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".tmp")
}

/// Every file below `dir` whose key (`<base>/<name>...`) starts with `prefix`, appended to
/// `keys`; temporary files and names that are not UTF-8 are left out. Symbolic links to
/// folders are not followed.
fn walk(dir: &Path, base: &str, prefix: &str, keys: &mut Vec<String>) -> Result<(), OutputError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(read_err(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| read_err(dir, e))?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let key = format!("{base}{name}");
        let kind = entry.file_type().map_err(|e| read_err(&entry.path(), e))?;
        if kind.is_dir() {
            let sub = format!("{key}/");
            // Only folders that can hold a matching key.
            if sub.starts_with(prefix) || prefix.starts_with(&sub) {
                walk(&entry.path(), &sub, prefix, keys)?;
            }
        } else if !is_temporary(&name) && key.starts_with(prefix) && check_key(&key).is_ok() {
            let is_file = kind.is_file() || entry.path().is_file();
            if is_file {
                keys.push(key);
            }
        }
    }
    Ok(())
}

impl OutputSink for LocalFolder {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), OutputError> {
        check_key(key)?;
        let path = self.root.join(key);
        let io = |p: &Path, source| OutputError::Io {
            path: p.display().to_string(),
            source,
        };
        let dir = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&path, e));
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, OutputError> {
        check_key(key)?;
        let path = self.root.join(key);
        match std::fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(read_err(&path, e)),
        }
    }

    /// The file's modification time.
    fn modified(&self, key: &str) -> Result<Option<DateTime<Utc>>, OutputError> {
        check_key(key)?;
        let path = self.root.join(key);
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let time = meta.modified().map_err(|e| read_err(&path, e))?;
                Ok(Some(DateTime::<Utc>::from(time)))
            }
            Ok(_) => Ok(None),
            Err(e) if is_absent(&e) => Ok(None),
            Err(e) => Err(read_err(&path, e)),
        }
    }

    /// Walks the folder (only the part that can hold matching keys), leaving out `put`'s
    /// temporary files.
    fn list(&self, prefix: &str) -> Result<Vec<String>, OutputError> {
        let mut keys = Vec::new();
        walk(&self.root, "", prefix, &mut keys)?;
        keys.sort();
        Ok(keys)
    }

    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}
