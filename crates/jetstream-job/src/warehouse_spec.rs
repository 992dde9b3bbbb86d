//! Which warehouse to open (`duckdb:PATH`, `duckdb::memory:`, `bigquery:PROJECT`) and where the
//! JSON exports go (a local folder or a GCS bucket).

use std::path::{Path, PathBuf};

use jetstream_gcp::{BigQueryConfig, BigQueryWarehouse, GcsBucket};
use jetstream_output::{LocalFolder, OutputSink};
use jetstream_sql::alias::ProjectAliases;
use jetstream_warehouse::{DuckDbWarehouse, Warehouse};

use crate::JobError;

/// The results project when none is given (the reference's default).
pub const DEFAULT_PROJECT: &str = "moz-fx-data-experiments";

/// How to open the warehouse.
#[derive(Debug, Clone)]
pub struct WarehouseSpec {
    /// `duckdb:PATH` (a database file), `duckdb::memory:`, or `bigquery:PROJECT` (BigQuery, or
    /// the emulator of `BIGQUERY_EMULATOR_HOST`; `bigquery:` alone uses `project`).
    pub url: String,
    /// The results project (DuckDB: the catalog name of the results database; BigQuery: the
    /// project of the URL when it names one).
    pub project: String,
    /// Source projects read from elsewhere (BigQuery: `--project-alias FROM=TO`).
    pub aliases: ProjectAliases,
    /// BigQuery: the `maximumBytesBilled` of every query job.
    pub maximum_bytes_billed: Option<u64>,
    /// Telemetry as Parquet, `DIR/<project>/<dataset>/<table>.parquet` or `.../<table>/*.parquet`.
    pub data: Option<PathBuf>,
    /// Memory the warehouse may use before spilling to disk (`2GB`).
    pub memory_limit: Option<String>,
    /// Open an existing DuckDB file read-only (commands that only read): a missing file is an
    /// error naming it, never created; a file on a read-only mount works. BigQuery: no effect.
    pub read_only: bool,
}

impl WarehouseSpec {
    /// `url` with the default project and nothing else.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            project: DEFAULT_PROJECT.into(),
            aliases: ProjectAliases::default(),
            maximum_bytes_billed: None,
            data: None,
            memory_limit: None,
            read_only: false,
        }
    }

    /// Open the embedded DuckDB warehouse this spec names (the simulator writes into it).
    pub fn open_duckdb(&self) -> Result<DuckDbWarehouse, JobError> {
        let Some(path) = self.url.strip_prefix("duckdb:") else {
            return Err(JobError::Input {
                what: format!("warehouse {:?}", self.url),
                message: "expected duckdb:PATH, duckdb::memory: or bigquery:PROJECT".into(),
            });
        };
        let opened = if path == ":memory:" {
            DuckDbWarehouse::in_memory(&self.project)
        } else if self.read_only {
            DuckDbWarehouse::open_read_only(Path::new(path), &self.project)
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

    /// Open the warehouse this spec names, to run configs' SQL: on DuckDB, file access is
    /// then restricted to the `--data` folder and the warehouse's own files, and locked
    /// ([`DuckDbWarehouse::restrict_file_access`]; a config cannot read, write, attach or
    /// install anything else). [`WarehouseSpec::open_duckdb`] leaves it open (the simulator).
    pub fn open(&self) -> Result<Box<dyn Warehouse>, JobError> {
        if let Some(project) = self.url.strip_prefix("bigquery:") {
            return Ok(Box::new(self.open_bigquery(project)?));
        }
        if !self.aliases.is_empty() {
            return Err(JobError::Input {
                what: "--project-alias".into(),
                message: "project aliases apply to BigQuery; on DuckDB, lay the Parquet data out \
                          under the project folder the queries name"
                    .into(),
            });
        }
        let wh = self.open_duckdb()?;
        let folders: Vec<PathBuf> = self.data.iter().cloned().collect();
        wh.restrict_file_access(&folders)
            .map_err(|e| JobError::Input {
                what: format!("warehouse {}", self.url),
                message: e.to_string(),
            })?;
        Ok(Box::new(wh))
    }

    /// The results project of this spec (`bigquery:PROJECT` names it in the URL).
    pub fn results_project(&self) -> &str {
        match self.url.strip_prefix("bigquery:") {
            Some(p) if !p.is_empty() => p,
            _ => &self.project,
        }
    }

    fn open_bigquery(&self, project: &str) -> Result<BigQueryWarehouse, JobError> {
        let project = if project.is_empty() {
            self.project.as_str()
        } else {
            project
        };
        if self.data.is_some() || self.memory_limit.is_some() {
            return Err(JobError::Input {
                what: format!("warehouse {}", self.url),
                message: "--data and --memory-limit are DuckDB's; BigQuery reads its own tables"
                    .into(),
            });
        }
        let mut config = BigQueryConfig::from_env(project);
        config.aliases = self.aliases.clone();
        config.maximum_bytes_billed = self.maximum_bytes_billed;
        let endpoint = config.endpoint.clone();
        let wh = BigQueryWarehouse::with_config(config).map_err(|e| JobError::Input {
            what: format!("warehouse {}", self.url),
            message: e.to_string(),
        })?;
        match endpoint {
            Some(e) => {
                tracing::info!(%project, emulator = %e, "BigQuery emulator (no credentials)")
            }
            None => tracing::info!(%project, "BigQuery (Application Default Credentials)"),
        }
        Ok(wh)
    }
}

/// Where the JSON exports go: a GCS bucket, a local folder, or nowhere.
pub fn open_sink(
    bucket: Option<&str>,
    output_dir: Option<&Path>,
) -> Result<Option<Box<dyn OutputSink>>, JobError> {
    match (bucket, output_dir) {
        (Some(b), Some(d)) => Err(JobError::Input {
            what: format!("--bucket {b} and --output-dir {}", d.display()),
            message: "give one place for the JSON exports".into(),
        }),
        (Some(b), None) => {
            let sink = GcsBucket::from_env(b).map_err(|e| JobError::Input {
                what: format!("--bucket {b}"),
                message: e.to_string(),
            })?;
            Ok(Some(Box::new(sink)))
        }
        (None, Some(d)) => Ok(Some(Box::new(LocalFolder::new(d)))),
        (None, None) => Ok(None),
    }
}
