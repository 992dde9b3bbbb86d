//! The local-folder sink.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

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

    fn location(&self, key: &str) -> String {
        self.root.join(key).display().to_string()
    }
}
