//! The log spool: monitoring rows that could not be written to the logs table (the warehouse
//! refused them, was out of memory, was unreachable) are kept in local files instead of being
//! lost; the next run delivers them, and `jetstream errors` shows them meanwhile.
//!
//! One file per refused batch, `<project>.<dataset>.<table>.<time>.<pid>.<n>.jsonl` (a JSON
//! object per row), written to a temporary name and renamed: a reader sees a whole batch or
//! nothing. A delivered file is removed only after its rows were appended.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDateTime;
use jetstream_warehouse::{LogRecord, TableName, Warehouse};
use serde_json::{Value, json};

/// Where refused log rows wait (`JETSTREAM_LOG_SPOOL`, else
/// `$XDG_STATE_HOME/jetstream/log-spool`, else `~/.local/state/jetstream/log-spool`, else the
/// temporary folder).
pub fn default_spool_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("JETSTREAM_LOG_SPOOL").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local/state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("jetstream").join("log-spool")
}

/// The spool folder of the warehouse `url` names (`duckdb:PATH`, `bigquery:PROJECT`) under
/// [`default_spool_dir`]: one folder per warehouse, so that rows are delivered where they
/// belong. `None` for an in-memory database (nothing outlives the process).
pub fn spool_dir_for(url: &str) -> Option<PathBuf> {
    let key = match url.strip_prefix("duckdb:") {
        Some(":memory:") => return None,
        Some(path) => {
            let path = Path::new(path);
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| {
                std::env::current_dir()
                    .map(|d| d.join(path))
                    .unwrap_or_else(|_| path.to_path_buf())
            });
            format!("duckdb:{}", abs.display())
        }
        None => url.to_string(),
    };
    // FNV-1a: stable across builds (std's hasher is not).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let label: String = key
        .rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    Some(default_spool_dir().join(format!("{label}-{hash:016x}")))
}

/// The spool of one logs table of one warehouse.
#[derive(Debug, Clone)]
pub struct LogSpool {
    dir: PathBuf,
    /// `<project>.<dataset>.<table>.`: the files of this table.
    prefix: String,
}

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

impl LogSpool {
    /// The spool in `dir` of `table` in `project`.
    pub fn new(dir: &Path, project: &str, table: &TableName) -> Self {
        let safe = |s: &str| -> String {
            s.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        };
        Self {
            dir: dir.to_path_buf(),
            prefix: format!(
                "{}.{}.{}.",
                safe(project),
                safe(&table.dataset),
                safe(&table.table)
            ),
        }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Keep `records` in a new file of the spool; its path.
    pub fn spill(&self, records: &[LogRecord]) -> std::io::Result<PathBuf> {
        use std::io::Write as _;
        std::fs::create_dir_all(&self.dir)?;
        let name = format!(
            "{}{}.{}.{}.jsonl",
            self.prefix,
            chrono::Utc::now().format("%Y%m%dT%H%M%S%.6f"),
            std::process::id(),
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let written = (|| {
            let mut f = std::fs::File::create(&tmp)?;
            for r in records {
                writeln!(f, "{}", to_json(r))?;
            }
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }

    /// The files of this table whose names end with `suffix`, sorted (oldest first).
    fn files(&self, suffix: &str) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&self.prefix) && n.ends_with(suffix))
            })
            .collect();
        files.sort();
        files
    }

    /// The spooled batches, oldest first, with their rows. A file that cannot be read is left
    /// out (and kept); lines that do not parse are left out with a warning.
    pub fn pending(&self) -> Vec<(PathBuf, Vec<LogRecord>)> {
        self.files(".jsonl")
            .into_iter()
            .filter_map(|path| {
                let (rows, _) = read_batch(&path)?;
                Some((path, rows))
            })
            .collect()
    }

    /// Append every spooled batch to `table`; the rows delivered and the rows still waiting.
    /// Each file is first claimed (renamed), so that two runs never deliver it twice; a
    /// delivered file is removed, or set aside as `.bad` when some of its lines did not parse;
    /// a batch the warehouse refuses goes back for the next time. Claims a killed run left
    /// are taken back first.
    pub fn deliver(&self, warehouse: &dyn Warehouse, table: &TableName) -> (usize, usize) {
        for claim in self
            .files("")
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".jsonl.delivering-"))
        {
            let name = claim.to_string_lossy().into_owned();
            let Some((original, pid)) = name.rsplit_once(".delivering-") else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::rename(&claim, original);
            }
        }
        let (mut delivered, mut waiting) = (0, 0);
        for path in self.files(".jsonl") {
            let claim = PathBuf::from(format!(
                "{}.delivering-{}",
                path.display(),
                std::process::id()
            ));
            if std::fs::rename(&path, &claim).is_err() {
                continue; // another run claimed it
            }
            let Some((rows, bad)) = read_batch(&claim) else {
                let _ = std::fs::rename(&claim, &path);
                continue;
            };
            let appended = rows.is_empty()
                || {
                    match warehouse.append_logs(table, &rows) {
                        Ok(()) => true,
                        Err(e) => {
                            tracing::warn!(file = %path.display(), error = %e, "spooled log rows still refused");
                            false
                        }
                    }
                };
            if !appended {
                waiting += rows.len();
                let _ = std::fs::rename(&claim, &path);
                continue;
            }
            delivered += rows.len();
            let done = if bad > 0 {
                let aside = PathBuf::from(format!("{}.bad", path.display()));
                tracing::error!(file = %aside.display(), lines = bad, "spooled lines that do not parse are kept aside");
                std::fs::rename(&claim, aside)
            } else {
                std::fs::remove_file(&claim)
            };
            if let Err(e) = done {
                tracing::error!(file = %claim.display(), "delivered, but the spool file stays: {e}");
            }
        }
        (delivered, waiting)
    }
}

/// The rows of a spool file and how many lines did not parse; `None` when it cannot be read.
fn read_batch(path: &Path) -> Option<(Vec<LogRecord>, usize)> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(file = %path.display(), "a spool file cannot be read (kept): {e}");
            return None;
        }
    };
    let mut bad = 0;
    let rows = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let row = serde_json::from_str::<Value>(l)
                .ok()
                .and_then(|v| from_json(&v));
            if row.is_none() {
                bad += 1;
                tracing::warn!(file = %path.display(), "a spooled log row does not parse");
            }
            row
        })
        .collect();
    Some((rows, bad))
}

fn to_json(r: &LogRecord) -> Value {
    json!({
        "timestamp": r.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
        "source": r.source,
        "experiment": r.experiment,
        "metric": r.metric,
        "statistic": r.statistic,
        "analysis_basis": r.analysis_basis,
        "segment": r.segment,
        "analysis_period": r.analysis_period,
        "message": r.message,
        "log_level": r.log_level,
        "exception": r.exception,
        "filename": r.filename,
        "func_name": r.func_name,
        "exception_type": r.exception_type,
    })
}

fn from_json(v: &Value) -> Option<LogRecord> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Some(LogRecord {
        timestamp: NaiveDateTime::parse_from_str(&text("timestamp")?, "%Y-%m-%d %H:%M:%S").ok()?,
        source: text("source")?,
        experiment: text("experiment"),
        metric: text("metric"),
        statistic: text("statistic"),
        analysis_basis: text("analysis_basis"),
        segment: text("segment"),
        analysis_period: text("analysis_period"),
        message: text("message")?,
        log_level: text("log_level")?,
        exception: text("exception").unwrap_or_default(),
        filename: text("filename").unwrap_or_default(),
        func_name: text("func_name").unwrap_or_default(),
        exception_type: text("exception_type"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: usize) -> LogRecord {
        LogRecord {
            timestamp: chrono::NaiveDate::from_ymd_opt(2026, 12, 7)
                .unwrap()
                .and_hms_opt(4, 0, 0)
                .unwrap(),
            source: "jetstream".into(),
            experiment: Some(format!("exp-{i}")),
            metric: None,
            statistic: None,
            analysis_basis: Some("enrollments".into()),
            segment: None,
            analysis_period: Some("day_1".into()),
            message: format!("line one\nline {i}"),
            log_level: "ERROR".into(),
            exception: "E: x".into(),
            filename: "f".into(),
            func_name: "g".into(),
            exception_type: Some("E".into()),
        }
    }

    #[test]
    fn batches_round_trip_and_other_tables_are_apart() {
        let dir = jetstream_test_support::scratch("spool");
        let logs = TableName::new("monitoring", "logs").unwrap();
        let other = TableName::new("tmp", "logs_x").unwrap();
        let spool = LogSpool::new(&dir, "p", &logs);
        spool.spill(&[record(1), record(2)]).unwrap();
        spool.spill(&[record(3)]).unwrap();
        LogSpool::new(&dir, "p", &other)
            .spill(&[record(9)])
            .unwrap();
        let pending = spool.pending();
        assert_eq!(pending.len(), 2);
        let rows: Vec<LogRecord> = pending.into_iter().flat_map(|(_, r)| r).collect();
        assert_eq!(rows, vec![record(1), record(2), record(3)]);
    }
}
