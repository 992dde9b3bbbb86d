//! Which warehouse to open: `duckdb:PATH` or `duckdb::memory:` (BigQuery arrives with its
//! backend).

use std::path::{Path, PathBuf};

use jetstream_warehouse::{DuckDbWarehouse, Warehouse};

use crate::JobError;

/// The results project when none is given (the reference's default).
pub const DEFAULT_PROJECT: &str = "moz-fx-data-experiments";

/// How to open the warehouse.
#[derive(Debug, Clone)]
pub struct WarehouseSpec {
    /// `duckdb:PATH` (a database file) or `duckdb::memory:`.
    pub url: String,
    /// The results project (DuckDB: the catalog name of the results database).
    pub project: String,
    /// Telemetry as Parquet, `DIR/<project>/<dataset>/<table>.parquet` or `.../<table>/*.parquet`.
    pub data: Option<PathBuf>,
    /// Memory the warehouse may use before spilling to disk (`2GB`).
    pub memory_limit: Option<String>,
}

impl WarehouseSpec {
    /// `url` with the default project and nothing else.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            project: DEFAULT_PROJECT.into(),
            data: None,
            memory_limit: None,
        }
    }

    /// Open the embedded DuckDB warehouse this spec names (the simulator writes into it).
    pub fn open_duckdb(&self) -> Result<DuckDbWarehouse, JobError> {
        let Some(path) = self.url.strip_prefix("duckdb:") else {
            return Err(JobError::Input {
                what: format!("warehouse {:?}", self.url),
                message: "expected duckdb:PATH or duckdb::memory: (BigQuery is not available \
                          in this build)"
                    .into(),
            });
        };
        let opened = if path == ":memory:" {
            DuckDbWarehouse::in_memory(&self.project)
        } else {
            DuckDbWarehouse::open(Path::new(path), &self.project)
        };
        let wh = opened.map_err(|e| JobError::Input {
            what: format!("warehouse {}", self.url),
            message: e.to_string(),
        })?;
        if let Some(limit) = &self.memory_limit {
            wh.set_memory_limit(limit).map_err(|e| JobError::Input {
                what: format!("memory limit {limit:?}"),
                message: e.to_string(),
            })?;
        }
        if let Some(dir) = &self.data {
            let tables = wh.attach_parquet_dir(dir).map_err(|e| JobError::Input {
                what: format!("data folder {}", dir.display()),
                message: e.to_string(),
            })?;
            tracing::info!(count = tables.len(), dir = %dir.display(), "parquet tables exposed");
        }
        // In BigQuery `mozdata` holds views of `moz-fx-data-shared-prod`: either project's
        // name finds a table given under the other.
        for (from, to) in [
            ("moz-fx-data-shared-prod", "mozdata"),
            ("mozdata", "moz-fx-data-shared-prod"),
        ] {
            wh.mirror_catalog(from, to).map_err(|e| JobError::Input {
                what: format!("linking {from} tables under {to}"),
                message: e.to_string(),
            })?;
        }
        Ok(wh)
    }

    /// Open the warehouse this spec names.
    pub fn open(&self) -> Result<Box<dyn Warehouse>, JobError> {
        Ok(Box::new(self.open_duckdb()?))
    }
}
