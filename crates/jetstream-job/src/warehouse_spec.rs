//! Which warehouse to open (`duckdb:PATH`, `duckdb::memory:`, `bigquery:PROJECT`) and where the
//! JSON exports go (a local folder or a GCS bucket).
//!
//! A warehouse URL is `SCHEME:REST`; the [`Registry`] maps schemes to the backends this build
//! has (features `duckdb` and `bigquery`), and another tool can register its own
//! ([`Registry::register`]).

use std::path::{Path, PathBuf};

use jetstream_output::{LocalFolder, OutputSink};
use jetstream_sql::alias::ProjectAliases;
use jetstream_warehouse::Warehouse;

use crate::JobError;

/// The results project when none is given (the reference's default).
pub const DEFAULT_PROJECT: &str = "moz-fx-data-experiments";

/// The backends jetstream knows, with the feature of `jetstream-job` that builds each: a URL
/// of a known scheme whose feature is off is told so (instead of "unknown scheme").
const KNOWN: [(&str, &str); 2] = [("duckdb", "duckdb"), ("bigquery", "bigquery")];

/// How a [`Backend`] opens a spec whose URL is `scheme:rest` (given `rest`).
pub type OpenFn = fn(spec: &WarehouseSpec, rest: &str) -> Result<Box<dyn Warehouse>, JobError>;

/// A warehouse backend: how to open the URLs of one scheme.
#[derive(Debug, Clone, Copy)]
pub struct Backend {
    /// The URL scheme, before the first `:` (`duckdb`, `bigquery`).
    pub scheme: &'static str,
    /// The URL forms it takes, for messages (`duckdb:PATH, duckdb::memory:`).
    pub forms: &'static str,
    /// Open `spec`, whose URL is `scheme:rest`, to run configs' SQL.
    pub open: OpenFn,
    /// The results project a URL of this scheme names (`bigquery:PROJECT`), if any.
    pub project_in_url: fn(rest: &str) -> Option<&str>,
}

/// The warehouse backends by URL scheme.
#[derive(Debug, Clone)]
pub struct Registry {
    backends: Vec<Backend>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::enabled()
    }
}

impl Registry {
    /// No backend at all (then [`Registry::register`] some).
    pub fn empty() -> Self {
        Self {
            backends: Vec::new(),
        }
    }

    /// The backends this build has: `duckdb` (feature `duckdb`), `bigquery` (feature
    /// `bigquery`).
    pub fn enabled() -> Self {
        #[allow(unused_mut)] // empty without backend features
        let mut registry = Self::empty();
        #[cfg(feature = "duckdb")]
        registry.register(Backend {
            scheme: "duckdb",
            forms: "duckdb:PATH, duckdb::memory:",
            open: duckdb_backend::open,
            project_in_url: |_| None,
        });
        #[cfg(feature = "bigquery")]
        registry.register(Backend {
            scheme: "bigquery",
            forms: "bigquery:PROJECT",
            open: bigquery_backend::open,
            project_in_url: |rest| Some(rest).filter(|p| !p.is_empty()),
        });
        registry
    }

    /// Add `backend`, replacing one of the same scheme.
    pub fn register(&mut self, backend: Backend) {
        self.backends.retain(|b| b.scheme != backend.scheme);
        self.backends.push(backend);
    }

    /// The schemes registered, in order.
    pub fn schemes(&self) -> Vec<&'static str> {
        self.backends.iter().map(|b| b.scheme).collect()
    }

    /// The backend for `url` and the rest of the URL after `scheme:`; an unknown scheme, or a
    /// known one this build lacks, is an error naming it and what this build opens.
    pub fn backend<'u>(&self, url: &'u str) -> Result<(&Backend, &'u str), JobError> {
        let (scheme, rest) = url.split_once(':').unwrap_or((url, ""));
        if let Some(backend) = self.backends.iter().find(|b| b.scheme == scheme) {
            return Ok((backend, rest));
        }
        let forms: Vec<&str> = self.backends.iter().map(|b| b.forms).collect();
        let opens = if forms.is_empty() {
            "this build opens no warehouse".to_string()
        } else {
            format!("expected {}", forms.join(", "))
        };
        let message = match KNOWN.iter().find(|(s, _)| *s == scheme) {
            Some((_, feature)) => format!(
                "this build has no {scheme} backend (feature `{feature}` of jetstream-job); \
                 {opens}"
            ),
            None => opens,
        };
        Err(JobError::Option {
            option: format!("warehouse {url:?}"),
            message,
        })
    }

    /// Open the warehouse `spec` names.
    pub fn open(&self, spec: &WarehouseSpec) -> Result<Box<dyn Warehouse>, JobError> {
        let (backend, rest) = self.backend(&spec.url)?;
        (backend.open)(spec, rest)
    }
}

/// How to open the warehouse.
#[derive(Debug, Clone)]
pub struct WarehouseSpec {
    /// `duckdb:PATH` (a database file), `duckdb::memory:`, or `bigquery:PROJECT` (BigQuery, or
    /// the emulator of `BIGQUERY_EMULATOR_HOST`; `bigquery:` alone uses `project`): a scheme
    /// of the [`Registry`].
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

    /// Open the warehouse this spec names, with the backends of this build
    /// ([`Registry::enabled`]), to run configs' SQL: on DuckDB, file access is then restricted
    /// to the `--data` folder and the warehouse's own files, and locked (a config cannot read,
    /// write, attach or install anything else).
    pub fn open(&self) -> Result<Box<dyn Warehouse>, JobError> {
        Registry::enabled().open(self)
    }

    /// The results project of this spec (`bigquery:PROJECT` names it in the URL).
    pub fn results_project(&self) -> &str {
        let registry = Registry::enabled();
        match registry.backend(&self.url) {
            Ok((backend, rest)) => (backend.project_in_url)(rest).unwrap_or(&self.project),
            Err(_) => &self.project,
        }
    }

    /// The URL's scheme (`duckdb`, `bigquery`).
    pub fn scheme(&self) -> &str {
        self.url
            .split_once(':')
            .map_or(self.url.as_str(), |(s, _)| s)
    }
}

#[cfg(feature = "duckdb")]
mod duckdb_backend {
    use std::path::{Path, PathBuf};

    use jetstream_duckdb::DuckDbWarehouse;
    use jetstream_warehouse::Warehouse;

    use super::WarehouseSpec;
    use crate::JobError;

    impl WarehouseSpec {
        /// Open the embedded DuckDB warehouse this spec names, file access left open (the
        /// simulator writes into it); [`WarehouseSpec::open`] restricts it (feature `duckdb`).
        pub fn open_duckdb(&self) -> Result<DuckDbWarehouse, JobError> {
            let Some(path) = self.url.strip_prefix("duckdb:") else {
                return Err(JobError::Option {
                    option: format!("warehouse {:?}", self.url),
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
            let wh = opened.map_err(|e| JobError::Open {
                what: format!("warehouse {}", self.url),
                source: Box::new(e),
            })?;
            if let Some(limit) = &self.memory_limit {
                wh.set_memory_limit(limit).map_err(|e| JobError::Open {
                    what: format!("memory limit {limit:?}"),
                    source: Box::new(e),
                })?;
            }
            if let Some(dir) = &self.data {
                let tables = wh.attach_parquet_dir(dir).map_err(|e| JobError::Open {
                    what: format!("data folder {}", dir.display()),
                    source: Box::new(e),
                })?;
                tracing::info!(count = tables.len(), dir = %dir.display(), "parquet tables exposed");
            }
            // In BigQuery `mozdata` holds views of `moz-fx-data-shared-prod`: either project's
            // name finds a table given under the other.
            for (from, to) in [
                ("moz-fx-data-shared-prod", "mozdata"),
                ("mozdata", "moz-fx-data-shared-prod"),
            ] {
                wh.mirror_catalog(from, to).map_err(|e| JobError::Open {
                    what: format!("linking {from} tables under {to}"),
                    source: Box::new(e),
                })?;
            }
            Ok(wh)
        }
    }

    /// Open a `duckdb:` spec with file access restricted to `--data` and the warehouse's own
    /// files, and locked ([`DuckDbWarehouse::restrict_file_access`]).
    pub(super) fn open(spec: &WarehouseSpec, _rest: &str) -> Result<Box<dyn Warehouse>, JobError> {
        if !spec.aliases.is_empty() {
            return Err(JobError::Option {
                option: "--project-alias".into(),
                message: "project aliases apply to BigQuery; on DuckDB, lay the Parquet data out \
                          under the project folder the queries name"
                    .into(),
            });
        }
        let wh = spec.open_duckdb()?;
        let folders: Vec<PathBuf> = spec.data.iter().cloned().collect();
        wh.restrict_file_access(&folders)
            .map_err(|e| JobError::Open {
                what: format!("warehouse {}", spec.url),
                source: Box::new(e),
            })?;
        Ok(Box::new(wh))
    }
}

#[cfg(feature = "bigquery")]
mod bigquery_backend {
    use jetstream_bigquery::{BigQueryConfig, BigQueryWarehouse};
    use jetstream_warehouse::Warehouse;

    use super::WarehouseSpec;
    use crate::JobError;

    /// Open a `bigquery:PROJECT` spec (the emulator of `BIGQUERY_EMULATOR_HOST` when set).
    pub(super) fn open(
        spec: &WarehouseSpec,
        project: &str,
    ) -> Result<Box<dyn Warehouse>, JobError> {
        Ok(Box::new(open_bigquery(spec, project)?))
    }

    fn open_bigquery(spec: &WarehouseSpec, project: &str) -> Result<BigQueryWarehouse, JobError> {
        let project = if project.is_empty() {
            spec.project.as_str()
        } else {
            project
        };
        if spec.data.is_some() || spec.memory_limit.is_some() {
            return Err(JobError::Option {
                option: format!("warehouse {}", spec.url),
                message: "--data and --memory-limit are DuckDB's; BigQuery reads its own tables"
                    .into(),
            });
        }
        let mut config = BigQueryConfig::from_env(project);
        config.aliases = spec.aliases.clone();
        config.maximum_bytes_billed = spec.maximum_bytes_billed;
        let endpoint = config.endpoint.clone();
        let wh = BigQueryWarehouse::with_config(config).map_err(|e| JobError::Open {
            what: format!("warehouse {}", spec.url),
            source: Box::new(e),
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
        (Some(b), Some(d)) => Err(JobError::Option {
            option: format!("--bucket {b} and --output-dir {}", d.display()),
            message: "give one place for the JSON exports".into(),
        }),
        #[cfg(feature = "gcs")]
        (Some(b), None) => {
            // A bucket name is a GCS bucket; a URL (`gs://`, `s3://`, `az://` as the build
            // allows) names any object store.
            let sink: Box<dyn OutputSink> = if b.contains("://") {
                jetstream_gcs::sink_from_url(b)
            } else {
                jetstream_gcs::GcsBucket::from_env(b).map(|s| Box::new(s) as _)
            }
            .map_err(|e| JobError::Open {
                what: format!("--bucket {b}"),
                source: Box::new(e),
            })?;
            Ok(Some(sink))
        }
        #[cfg(not(feature = "gcs"))]
        (Some(b), None) => Err(JobError::Option {
            option: format!("--bucket {b}"),
            message: "this build has no GCS sink (feature `gcs` of jetstream-job); use \
                      --output-dir"
                .into(),
        }),
        (None, Some(d)) => Ok(Some(Box::new(LocalFolder::new(d)))),
        (None, None) => Ok(None),
    }
}
