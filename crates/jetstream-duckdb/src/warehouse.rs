//! The embedded DuckDB backend.
//!
//! The results database is attached under the name of the results project, and made the
//! default catalog, so the three-part names that BigQuery-dialect queries use
//! (`` `project.dataset.table` `` → `"project"."dataset"."table"`) resolve, and so do the
//! two-part `dataset.table` names of result tables. Source data projects
//! (`moz-fx-data-shared-prod`, ...) are further catalogs: in-memory ones holding views over
//! Parquet files ([`DuckDbWarehouse::attach_parquet_dir`]) or tables written by the simulator.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use duckdb::types::ToSql;
use duckdb::types::Value;
use duckdb::{Connection, appender_params_from_iter, params};
use jetstream_warehouse::backend::{Cell, ColumnBuilder, window_tables};
use jetstream_warehouse::{
    Column, Columns, LOG_COLUMNS, LogRecord, TableMetadata, TableName, Warehouse, WarehouseError,
    WarehouseErrorKind,
};

use crate::translate::{MOZFUN_MACROS, translate};

/// Schema of the catalog that holds jetstream's own bookkeeping.
const META_SCHEMA: &str = "_jetstream";

/// A DuckDB database: a file (the default) or `:memory:` (tests).
pub struct DuckDbWarehouse {
    conn: Mutex<Connection>,
    /// Held while a window view is listed and replaced: a view published concurrently for
    /// another date must not replace it with an older list of window tables.
    publishing: Mutex<()>,
    /// Idle extra connections for reads ([`Warehouse::query_columns`]): analyses running in
    /// parallel read at the same time; writes and session state (TEMP objects of
    /// [`DuckDbWarehouse::execute_native`]) stay on the one main connection.
    readers: Mutex<Vec<Connection>>,
    /// What the queries that wrote tables read, per table (DuckDB's profiler).
    reads: Mutex<jetstream_warehouse::TableReads>,
    project: String,
    /// For a file database `X.duckdb`: the folder `X.duckdb.sources/` holding one database file
    /// per source project, so simulated telemetry persists next to the results.
    sources_dir: Option<std::path::PathBuf>,
    /// Opened read-only: nothing is written, no file is created.
    read_only: bool,
    /// Fault injection (feature `fault-injection`, tests only): `(table prefix, row)` — the
    /// next [`Warehouse::write_columns`] of a table with that prefix fails after writing that
    /// many rows.
    #[cfg(feature = "fault-injection")]
    fail_point: Mutex<Option<(String, usize)>>,
}

impl std::fmt::Debug for DuckDbWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuckDbWarehouse")
            .field("project", &self.project)
            .finish_non_exhaustive()
    }
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The session of every connection: the results project as the default catalog, and the
/// in-memory catalog (the `mozfun` macros) on the search path.
fn session_sql(project: &str) -> String {
    let p = quote_ident(project);
    format!(
        "USE {p}; SET search_path = {};",
        quote_literal(&format!("{p}.main,memory.main"))
    )
}

/// `'text'` with embedded quotes doubled.
fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn qualified(name: &TableName) -> String {
    format!(
        "{}.{}",
        quote_ident(&name.dataset),
        quote_ident(&name.table)
    )
}

/// A value of a result that cannot be read (no SQL to quote).
fn read_error(what: &str, message: String) -> WarehouseError {
    WarehouseError::new(WarehouseErrorKind::Query, what, message)
}

fn query_error(what: &str, sql: &str, e: &duckdb::Error) -> WarehouseError {
    let conflict = is_conflict(&e.to_string());
    let error = WarehouseError::query(what, e.to_string(), sql).retryable(conflict);
    if conflict {
        error.into_kind(WarehouseErrorKind::Conflict, what)
    } else {
        error
    }
}

impl DuckDbWarehouse {
    /// Open (or create) the database file at `path`, as results project `project`.
    pub fn open(path: &Path, project: &str) -> Result<Self, WarehouseError> {
        Self::open_file(path, project, false)
    }

    /// Open the existing database file at `path` read-only (the commands that only read:
    /// `errors`, `report`, `query`, exports, dry runs): a missing file is an error naming it,
    /// never a new empty database, and a file on a read-only mount can be read.
    pub fn open_read_only(path: &Path, project: &str) -> Result<Self, WarehouseError> {
        if !path.is_file() {
            return Err(WarehouseError::open(
                path.display().to_string(),
                "no such warehouse file (a command that only reads does not create one; check \
                 the path)",
            ));
        }
        Self::open_file(path, project, true)
    }

    fn open_file(path: &Path, project: &str, read_only: bool) -> Result<Self, WarehouseError> {
        if let Some(parent) = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !read_only)
        {
            std::fs::create_dir_all(parent)
                .map_err(|e| WarehouseError::open(parent.display().to_string(), e.to_string()))?;
        }
        let to_open = |e: WarehouseError| match e.kind() {
            WarehouseErrorKind::Query => {
                e.into_kind(WarehouseErrorKind::Open, path.display().to_string())
            }
            _ => e,
        };
        let mut wh =
            Self::with_attachment(&path.to_string_lossy(), project, read_only).map_err(to_open)?;
        let mut dir = path.as_os_str().to_owned();
        dir.push(".sources");
        let dir = std::path::PathBuf::from(dir);
        if dir.is_dir() {
            let entries = sorted_entries(&dir)
                .map_err(|e| WarehouseError::open(dir.display().to_string(), e.to_string()))?;
            let conn = wh.conn();
            for file in entries {
                if file.extension().is_some_and(|e| e == "duckdb") {
                    let name = file
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let sql = format!(
                        "ATTACH {} AS {}{}",
                        quote_literal(&file.to_string_lossy()),
                        quote_ident(&name),
                        if read_only { " (READ_ONLY)" } else { "" }
                    );
                    conn.execute_batch(&sql).map_err(|e| {
                        WarehouseError::open(file.display().to_string(), e.to_string())
                    })?;
                }
            }
        }
        wh.sources_dir = Some(dir);
        Ok(wh)
    }

    /// A fresh in-memory database (nothing persists).
    pub fn in_memory(project: &str) -> Result<Self, WarehouseError> {
        Self::with_attachment(":memory:", project, false)
    }

    fn with_attachment(
        target: &str,
        project: &str,
        read_only: bool,
    ) -> Result<Self, WarehouseError> {
        let conn = Connection::open_in_memory().map_err(|e| query_error("open", target, &e))?;
        let mut setup = format!(
            "ATTACH {} AS {p}{mode}; ",
            quote_literal(target),
            p = quote_ident(project),
            mode = if read_only { " (READ_ONLY)" } else { "" },
        );
        if !read_only {
            setup.push_str(&format!(
                "USE {p}; CREATE SCHEMA IF NOT EXISTS {m}; \
                 CREATE TABLE IF NOT EXISTS {m}.table_metadata (\
                   dataset VARCHAR, table_name VARCHAR, description VARCHAR, \
                   last_updated VARCHAR, schema_version INTEGER, \
                   PRIMARY KEY (dataset, table_name));",
                p = quote_ident(project),
                m = quote_ident(META_SCHEMA),
            ));
        }
        conn.execute_batch(&setup)
            .map_err(|e| query_error("open", &setup, &e))?;
        // The `mozfun` macros live in the in-memory catalog (never written into the results
        // file, and there on a read-only one too), found through the search path.
        conn.execute_batch("USE memory")
            .map_err(|e| query_error("open", "USE memory", &e))?;
        for (name, sql) in MOZFUN_MACROS {
            conn.execute_batch(sql)
                .map_err(|e| query_error(&format!("macro {name}"), sql, &e))?;
        }
        let session = session_sql(project);
        conn.execute_batch(&session)
            .map_err(|e| query_error("open", &session, &e))?;
        Ok(Self {
            conn: Mutex::new(conn),
            publishing: Mutex::new(()),
            readers: Mutex::new(Vec::new()),
            reads: Mutex::new(jetstream_warehouse::TableReads::default()),
            project: project.to_string(),
            sources_dir: None,
            read_only,
            #[cfg(feature = "fault-injection")]
            fail_point: Mutex::new(None),
        })
    }

    /// Forbid every file access of SQL outside `folders` (the `--data` folder) and the
    /// warehouse's own files (its sources folder, its spill folder), then lock DuckDB's
    /// configuration: no query — a config's `from_expression` calling `read_csv('/etc/…')`,
    /// an `ATTACH`, a `COPY … TO`, an `INSTALL` — can read, write, attach or install anything
    /// else, and no `SET` can undo it. Call it last: settings cannot change afterwards.
    pub fn restrict_file_access(
        &self,
        folders: &[std::path::PathBuf],
    ) -> Result<(), WarehouseError> {
        let mut allowed: Vec<std::path::PathBuf> = folders.to_vec();
        if let Some(dir) = &self.sources_dir {
            allowed.push(dir.clone());
        }
        let conn = self.conn();
        // Spilling goes to DuckDB's temporary folder: keep it allowed and explicit.
        let temp: String = conn
            .query_row("SELECT current_setting('temp_directory')", [], |r| r.get(0))
            .unwrap_or_default();
        if !temp.is_empty() {
            let temp = std::path::PathBuf::from(temp);
            let temp = if temp.is_absolute() {
                temp
            } else {
                std::env::current_dir().unwrap_or_default().join(temp)
            };
            allowed.push(temp);
        }
        let list: Vec<String> = allowed
            .iter()
            .map(|d| {
                let abs = std::fs::canonicalize(d).unwrap_or_else(|_| d.clone());
                let mut s = abs.to_string_lossy().into_owned();
                if !s.ends_with('/') {
                    s.push('/');
                }
                quote_literal(&s)
            })
            .collect();
        let sql = format!(
            "SET allowed_directories = [{}]; SET enable_external_access = false; \
             SET lock_configuration = true;",
            list.join(", ")
        );
        conn.execute_batch(&sql)
            .map_err(|e| query_error("restricting file access", &sql, &e))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half-done transaction behind (DuckDB rolls
        // back on error), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn publishing(&self) -> MutexGuard<'_, ()> {
        self.publishing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The UNION ALL BY NAME of the window tables `<prefix>_<n>` of `dataset` (selecting
    /// `select` plus `window_index`), and how many there are; `None` when there is none.
    fn window_union(
        &self,
        dataset: &str,
        table_prefix: &str,
        select: &str,
    ) -> Result<Option<(usize, String)>, WarehouseError> {
        let windows = window_tables(
            self.list_tables(dataset, &format!("{table_prefix}_"))?,
            table_prefix,
        );
        if windows.is_empty() {
            return Ok(None);
        }
        let parts: Vec<String> = windows
            .iter()
            .map(|(n, t)| {
                format!(
                    "SELECT {select}, CAST({n} AS BIGINT) AS window_index FROM {}",
                    qualified(t)
                )
            })
            .collect();
        Ok(Some((windows.len(), parts.join("\nUNION ALL BY NAME\n"))))
    }

    /// Run `once` again when it fails on a write conflict: transactions that touch the same
    /// catalog entries conflict (DuckDB's optimistic concurrency). Five attempts, 40 ms
    /// doubling, with jitter so that the writers drift apart.
    fn retrying_conflicts<T>(
        &self,
        what: &str,
        once: impl FnMut() -> Result<T, WarehouseError>,
    ) -> Result<T, WarehouseError> {
        use backon::BlockingRetryable as _;
        let backoff = backon::ExponentialBuilder::new()
            .with_min_delay(std::time::Duration::from_millis(40))
            .with_jitter()
            .with_max_times(4);
        once.retry(backoff)
            .sleep(std::thread::sleep)
            .when(|e: &WarehouseError| e.kind() == WarehouseErrorKind::Conflict)
            .notify(|_, wait| {
                tracing::debug!(table = %what, ?wait, "write conflict: trying again");
            })
            .call()
    }

    /// Run the statement `sql` (DuckDB dialect) under the profiler and count the rows each
    /// table scan of its plan read ([`Warehouse::table_reads`]).
    fn profiled(&self, conn: &Connection, what: &str, sql: &str) -> Result<(), WarehouseError> {
        let explain = format!("EXPLAIN (ANALYZE, FORMAT JSON) {sql}");
        let plan: String = conn
            .query_row(&explain, [], |r| r.get(1))
            .map_err(|e| query_error(what, sql, &e))?;
        let scans = plan_scans(&plan);
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (table, rows) in scans {
            reads.add(&table, rows, 0);
        }
        Ok(())
    }

    /// `<create> name AS <translated>` (profiled) with its metadata, inside the caller's
    /// transaction on `conn`; the rows written.
    fn create_from_query(
        &self,
        conn: &Connection,
        name: &TableName,
        create: &str,
        translated: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        let what = name.to_string();
        let target = qualified(name);
        self.profiled(conn, &what, &format!("{create} {target} AS\n{translated}"))?;
        let count = format!("SELECT count(*) FROM {target}");
        let n: i64 = conn
            .query_row(&count, [], |r| r.get(0))
            .map_err(|e| query_error(&what, &count, &e))?;
        Self::upsert_metadata(conn, name, metadata)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn translated(what: &str, sql: &str) -> Result<String, WarehouseError> {
        translate(sql).map_err(|source| WarehouseError::translate(what, source))
    }

    /// Fault injection for tests of atomicity (feature `fault-injection`): the next
    /// [`Warehouse::write_columns`] of a table whose name starts with `table_prefix` fails
    /// after `after_rows` rows, inside its transaction (as a crash or a lost connection would).
    #[cfg(feature = "fault-injection")]
    pub fn inject_write_failure(&self, table_prefix: &str, after_rows: usize) {
        *self
            .fail_point
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((table_prefix.to_string(), after_rows));
    }

    /// Bound DuckDB's memory (e.g. `2GB`); beyond it, operators spill to disk.
    pub fn set_memory_limit(&self, limit: &str) -> Result<(), WarehouseError> {
        let sql = format!("SET memory_limit = {}", quote_literal(limit));
        self.conn()
            .execute_batch(&sql)
            .map_err(|e| query_error("memory limit", &sql, &e))
    }

    /// A read connection: an idle one, or a new one on the same database (`USE` the results
    /// project as the main one does). It goes back to the pool when dropped.
    fn reader(&self) -> Result<Reader<'_>, WarehouseError> {
        let idle = self
            .readers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let sql = session_sql(&self.project);
                let c = self
                    .conn()
                    .try_clone()
                    .map_err(|e| query_error("a read connection", &sql, &e))?;
                c.execute_batch(&sql)
                    .map_err(|e| query_error("a read connection", &sql, &e))?;
                c
            }
        };
        Ok(Reader {
            conn: Some(conn),
            pool: &self.readers,
        })
    }

    /// Read DuckDB-dialect SQL as it is on the main connection, which sees the TEMP objects
    /// of [`DuckDbWarehouse::execute_native`] (the simulator).
    pub fn query_native(&self, sql: &str) -> Result<Columns, WarehouseError> {
        Self::read_columns(&self.conn(), "query", sql)
    }

    /// Run DuckDB-dialect statements as they are (the simulator, tests, maintenance).
    pub fn execute_native(&self, sql: &str) -> Result<(), WarehouseError> {
        self.conn()
            .execute_batch(sql)
            .map_err(|e| query_error("statement", sql, &e))
    }

    /// Make `catalog` exist unless it is the results project or already attached: a database
    /// file in the sources folder for a file warehouse (it persists), else in memory.
    pub fn ensure_catalog(&self, catalog: &str) -> Result<(), WarehouseError> {
        let conn = self.conn();
        self.ensure_catalog_locked(&conn, catalog, true)
    }

    fn ensure_catalog_locked(
        &self,
        conn: &Connection,
        catalog: &str,
        persistent: bool,
    ) -> Result<(), WarehouseError> {
        let sql = "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?";
        let n: i64 = conn
            .query_row(sql, params![catalog], |r| r.get(0))
            .map_err(|e| query_error(catalog, sql, &e))?;
        if n == 0 {
            let persistent = persistent && !self.read_only;
            let target = match self.sources_dir.as_ref().filter(|_| persistent) {
                Some(dir) => {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        WarehouseError::open(dir.display().to_string(), e.to_string())
                    })?;
                    dir.join(format!("{catalog}.duckdb"))
                        .to_string_lossy()
                        .into_owned()
                }
                None => ":memory:".to_string(),
            };
            let attach = format!(
                "ATTACH {} AS {}",
                quote_literal(&target),
                quote_ident(catalog)
            );
            conn.execute_batch(&attach)
                .map_err(|e| query_error(catalog, &attach, &e))?;
        }
        Ok(())
    }

    /// Expose a folder of Parquet data laid out as `DIR/<project>/<dataset>/<table>.parquet`
    /// or `DIR/<project>/<dataset>/<table>/*.parquet` as views `"<project>"."<dataset>"."<table>"`,
    /// the names the generated SQL reads. Returns the names exposed, sorted.
    pub fn attach_parquet_dir(&self, dir: &Path) -> Result<Vec<String>, WarehouseError> {
        let io = |path: &Path, e: std::io::Error| {
            WarehouseError::open(path.display().to_string(), e.to_string())
        };
        let mut exposed = Vec::new();
        let conn = self.conn();
        for project in sorted_entries(dir).map_err(|e| io(dir, e))? {
            if !project.is_dir() {
                continue;
            }
            let project_name = file_name(&project);
            for dataset in sorted_entries(&project).map_err(|e| io(&project, e))? {
                if !dataset.is_dir() {
                    continue;
                }
                let dataset_name = file_name(&dataset);
                for table in sorted_entries(&dataset).map_err(|e| io(&dataset, e))? {
                    let (table_name, pattern) = if table.is_dir() {
                        (file_name(&table), table.join("*.parquet"))
                    } else if table.extension().is_some_and(|e| e == "parquet") {
                        let stem = table
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        (stem, table.clone())
                    } else {
                        continue;
                    };
                    self.ensure_catalog_locked(&conn, &project_name, false)?;
                    let sql = format!(
                        "CREATE SCHEMA IF NOT EXISTS {p}.{d}; \
                         CREATE OR REPLACE VIEW {p}.{d}.{t} AS SELECT * FROM read_parquet({f});",
                        p = quote_ident(&project_name),
                        d = quote_ident(&dataset_name),
                        t = quote_ident(&table_name),
                        f = quote_literal(&pattern.to_string_lossy()),
                    );
                    conn.execute_batch(&sql).map_err(|e| {
                        WarehouseError::open(table.display().to_string(), e.to_string())
                    })?;
                    exposed.push(format!("{project_name}.{dataset_name}.{table_name}"));
                }
            }
        }
        Ok(exposed)
    }

    /// Make every table of `from` (e.g. `moz-fx-data-shared-prod`) readable under `to` (e.g.
    /// `mozdata`, whose tables are views of the former in BigQuery) where `to` has no table of
    /// that name: views `"to"."dataset"."table"`. Returns the names linked.
    pub fn mirror_catalog(&self, from: &str, to: &str) -> Result<Vec<String>, WarehouseError> {
        let conn = self.conn();
        let sql = "SELECT database_name, schema_name, table_name FROM duckdb_tables() \
                   WHERE database_name IN (?, ?) \
                   UNION ALL SELECT database_name, schema_name, view_name FROM duckdb_views() \
                   WHERE database_name IN (?, ?) AND NOT internal";
        let mut stmt = conn
            .prepare(sql)
            .map_err(|e| query_error("mirror", sql, &e))?;
        let rows: Vec<(String, String, String)> = stmt
            .query_map(params![from, to, from, to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .and_then(|rows| rows.collect())
            .map_err(|e| query_error("mirror", sql, &e))?;
        let mut linked = Vec::new();
        for (db, schema, table) in rows.iter().filter(|(db, ..)| db == from) {
            if rows
                .iter()
                .any(|(d, s, t)| d == to && s == schema && t == table)
            {
                continue;
            }
            self.ensure_catalog_locked(&conn, to, false)?;
            let sql = format!(
                "CREATE SCHEMA IF NOT EXISTS {t}.{s}; CREATE OR REPLACE VIEW {t}.{s}.{n} AS SELECT * FROM {f}.{s}.{n};",
                t = quote_ident(to),
                s = quote_ident(schema),
                n = quote_ident(table),
                f = quote_ident(db),
            );
            conn.execute_batch(&sql)
                .map_err(|e| query_error("mirror", &sql, &e))?;
            linked.push(format!("{to}.{schema}.{table}"));
        }
        Ok(linked)
    }

    /// Run `body` in a transaction: committed when it succeeds, rolled back on any failure
    /// (including a failed COMMIT), so the previous state stays intact.
    fn in_transaction<T>(
        conn: &Connection,
        what: &str,
        body: impl FnOnce() -> Result<T, WarehouseError>,
    ) -> Result<T, WarehouseError> {
        conn.execute_batch("BEGIN TRANSACTION")
            .map_err(|e| query_error(what, "BEGIN TRANSACTION", &e))?;
        let result = body().and_then(|v| {
            conn.execute_batch("COMMIT")
                .map_err(|e| query_error(what, "COMMIT", &e))?;
            Ok(v)
        });
        if result.is_err() {
            // The transaction may already be gone (a failed COMMIT); the data is intact either way.
            if let Err(e) = conn.execute_batch("ROLLBACK") {
                tracing::debug!(table = %what, error = %e, "rollback after a failed write");
            }
        }
        result
    }

    /// `BASE TABLE` or `VIEW` when `name` exists in the results catalog, else `None`.
    fn table_type(conn: &Connection, name: &TableName) -> Result<Option<String>, WarehouseError> {
        let sql = "SELECT table_type FROM information_schema.tables \
                   WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?";
        let err = |e: duckdb::Error| query_error(&name.to_string(), sql, &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let mut rows = stmt.query(params![name.dataset, name.table]).map_err(err)?;
        match rows.next().map_err(err)? {
            Some(row) => Ok(Some(row.get(0).map_err(err)?)),
            None => Ok(None),
        }
    }

    fn upsert_metadata(
        conn: &Connection,
        name: &TableName,
        metadata: &TableMetadata,
    ) -> Result<(), WarehouseError> {
        let upsert = format!(
            "INSERT OR REPLACE INTO {}.table_metadata VALUES (?, ?, ?, ?, ?)",
            quote_ident(META_SCHEMA)
        );
        conn.execute(
            &upsert,
            params![
                name.dataset,
                name.table,
                metadata.description,
                metadata.last_updated.to_rfc3339(),
                metadata.schema_version
            ],
        )
        .map_err(|e| query_error(&name.to_string(), &upsert, &e))?;
        Ok(())
    }

    fn read_columns(conn: &Connection, what: &str, sql: &str) -> Result<Columns, WarehouseError> {
        match Self::read_arrow(conn, what, sql)? {
            Some(columns) => Ok(columns),
            None => Self::read_cells(conn, what, sql),
        }
    }

    /// Whole columns through Arrow; `None` when a column type is not read this way (the
    /// query then runs again, read cell by cell).
    fn read_arrow(
        conn: &Connection,
        what: &str,
        sql: &str,
    ) -> Result<Option<Columns>, WarehouseError> {
        let err = |e: duckdb::Error| query_error(what, sql, &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let batches = stmt.query_arrow([]).map_err(err)?;
        let schema = batches.get_schema();
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        let types: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let Some(mut columns) = crate::arrow_read::empty_columns(&types) else {
            return Ok(None);
        };
        for batch in batches {
            for (column, array) in columns.iter_mut().zip(batch.columns()) {
                if !crate::arrow_read::extend(column, array) {
                    return Ok(None);
                }
            }
        }
        Ok(Some(Columns::new(names, columns)))
    }

    fn read_cells(conn: &Connection, what: &str, sql: &str) -> Result<Columns, WarehouseError> {
        let err = |e: duckdb::Error| query_error(what, sql, &e);
        let mut stmt = conn.prepare(sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let names = rows.as_ref().map(|s| s.column_names()).unwrap_or_default();
        let mut builders: Vec<ColumnBuilder> =
            names.iter().cloned().map(ColumnBuilder::new).collect();
        while let Some(row) = rows.next().map_err(err)? {
            for (i, b) in builders.iter_mut().enumerate() {
                let value: Value = row.get(i).map_err(err)?;
                b.push(cell(value, &names[i])?)?;
            }
        }
        let (names, columns) = builders.into_iter().map(ColumnBuilder::finish).unzip();
        Ok(Columns::new(names, columns))
    }
}

/// Whether a DuckDB error is a transaction conflict (optimistic concurrency), which a retry
/// of the whole transaction resolves.
fn is_conflict(message: &str) -> bool {
    message.contains("TransactionContext Error")
        && message.to_ascii_lowercase().contains("conflict")
}

/// A pooled read connection of [`DuckDbWarehouse`].
struct Reader<'a> {
    conn: Option<Connection>,
    pool: &'a Mutex<Vec<Connection>>,
}

impl Reader<'_> {
    fn connection(&self) -> &Connection {
        // Only `Drop` takes it out.
        self.conn
            .as_ref()
            .unwrap_or_else(|| unreachable!("read connection taken before drop"))
    }
}

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            // A transaction left open (a panic inside one) would give the next user a stale
            // snapshot: roll it back, or drop the connection.
            if !conn.is_autocommit()
                && (conn.execute_batch("ROLLBACK").is_err() || !conn.is_autocommit())
            {
                return;
            }
            self.pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(conn);
        }
    }
}

fn sql_type(c: &Column) -> &'static str {
    match c {
        Column::Bool(_) => "BOOLEAN",
        Column::Int(_) => "BIGINT",
        Column::Float(_) => "DOUBLE",
        Column::Text(_) => "VARCHAR",
        Column::Date(_) => "DATE",
        Column::Timestamp(_) => "TIMESTAMP",
    }
}

fn placeholder(c: &Column) -> &'static str {
    match c {
        Column::Date(_) => "CAST(? AS DATE)",
        Column::Timestamp(_) => "CAST(? AS TIMESTAMP)",
        _ => "?",
    }
}

fn bind(c: &Column, row: usize) -> Box<dyn ToSql> {
    match c {
        Column::Bool(v) => Box::new(v[row]),
        Column::Int(v) => Box::new(v[row]),
        Column::Float(v) => Box::new(v[row]),
        Column::Text(v) => Box::new(v[row].clone()),
        Column::Date(v) => Box::new(v[row].map(|d| d.to_string())),
        Column::Timestamp(v) => {
            Box::new(v[row].map(|t| t.format("%Y-%m-%d %H:%M:%S%.f").to_string()))
        }
    }
}

fn sorted_entries(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut v = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<Vec<_>>>()?;
    v.sort();
    Ok(v)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn cell(value: Value, column: &str) -> Result<Cell, WarehouseError> {
    let int = |i: i128| i64::try_from(i).map_or_else(|_| Cell::Float(i as f64), Cell::Int);
    Ok(match value {
        Value::Null => Cell::Null,
        Value::Boolean(b) => Cell::Bool(b),
        Value::TinyInt(i) => Cell::Int(i.into()),
        Value::SmallInt(i) => Cell::Int(i.into()),
        Value::Int(i) => Cell::Int(i.into()),
        Value::BigInt(i) => Cell::Int(i),
        Value::UTinyInt(i) => Cell::Int(i.into()),
        Value::USmallInt(i) => Cell::Int(i.into()),
        Value::UInt(i) => Cell::Int(i.into()),
        Value::UBigInt(i) => int(i.into()),
        Value::HugeInt(i) => int(i),
        Value::Float(x) => Cell::Float(x.into()),
        Value::Double(x) => Cell::Float(x),
        Value::Decimal(d) => Cell::Float(d.to_string().parse().map_err(|e| {
            read_error(
                column,
                format!("DECIMAL value {d} cannot be read as a number: {e}"),
            )
        })?),
        Value::Text(s) | Value::Enum(s) => Cell::Text(s),
        Value::Date32(days) => Cell::Date(
            NaiveDate::from_ymd_opt(1970, 1, 1)
                .and_then(|e| e.checked_add_signed(TimeDelta::days(days.into())))
                .ok_or_else(|| {
                    read_error(
                        column,
                        format!("date out of range: {days} days since 1970-01-01"),
                    )
                })?,
        ),
        Value::Timestamp(unit, v) => Cell::Timestamp(
            DateTime::from_timestamp_micros(unit.to_micros(v))
                .map(|t| t.naive_utc())
                .ok_or_else(|| read_error(column, format!("timestamp out of range: {v}")))?,
        ),
        other => {
            return Err(read_error(
                column,
                format!(
                    "unsupported result type {}; cast it in the query",
                    kind_name(&other)
                ),
            ));
        }
    })
}

/// A name for a value kind the columns do not hold (nested types have no `data_type`).
fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::List(_) | Value::Array(_) => "list",
        Value::Struct(_) => "struct",
        Value::Map(_) => "map",
        Value::Union(_) => "union",
        Value::Blob(_) => "blob",
        Value::Time64(..) => "time",
        Value::Interval { .. } => "interval",
        _ => "value",
    }
}

impl Warehouse for DuckDbWarehouse {
    fn project(&self) -> &str {
        &self.project
    }

    fn execute(&self, sql: &str) -> Result<(), WarehouseError> {
        let translated = Self::translated("statement", sql)?;
        self.execute_native(&translated)
    }

    fn write_columns(
        &self,
        name: &TableName,
        columns: &Columns,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        let what = name.to_string();
        if columns.names().is_empty() {
            return Err(WarehouseError::invalid_columns(format!(
                "{what}: no columns"
            )));
        }
        let target = qualified(name);
        let defs: Vec<String> = columns
            .names()
            .iter()
            .zip(columns.columns())
            .map(|(n, c)| format!("{} {}", quote_ident(n), sql_type(c)))
            .collect();
        let placeholders: Vec<&str> = columns.columns().iter().map(placeholder).collect();
        let create = format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE OR REPLACE TABLE {target} ({});",
            quote_ident(&name.dataset),
            defs.join(", ")
        );
        let insert = format!("INSERT INTO {target} VALUES ({})", placeholders.join(", "));
        #[cfg(not(feature = "fault-injection"))]
        let fail_after: Option<usize> = None;
        #[cfg(feature = "fault-injection")]
        let fail_after = {
            let mut fp = self
                .fail_point
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match fp.as_ref() {
                Some((prefix, n)) if name.table.starts_with(prefix.as_str()) => {
                    let n = *n;
                    *fp = None;
                    Some(n)
                }
                _ => None,
            }
        };
        let conn = self.conn();
        Self::in_transaction(&conn, &what, || {
            conn.execute_batch(&create)
                .map_err(|e| query_error(&what, &create, &e))?;
            // DuckDB's appender: one prepared INSERT per row costs a statement execution each
            // (seconds for the thousands of rows of a density or ECDF).
            let mut appender = conn
                .appender_to_db(&name.table, &name.dataset)
                .map_err(|e| query_error(&what, &insert, &e))?;
            for row in 0..columns.rows() {
                if fail_after == Some(row) {
                    return Err(read_error(
                        &what,
                        format!("injected failure after {row} rows"),
                    ));
                }
                let values: Vec<Box<dyn ToSql>> =
                    columns.columns().iter().map(|c| bind(c, row)).collect();
                appender
                    .append_row(appender_params_from_iter(values.iter()))
                    .map_err(|e| query_error(&what, &insert, &e))?;
            }
            appender
                .flush()
                .map_err(|e| query_error(&what, &insert, &e))?;
            drop(appender);
            Self::upsert_metadata(&conn, name, metadata)?;
            Ok(columns.rows() as u64)
        })
    }

    fn write_table(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        let what = name.to_string();
        let translated = Self::translated(&what, query)?;
        let schema = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&name.dataset));
        self.conn()
            .execute_batch(&schema)
            .map_err(|e| query_error(&what, &schema, &e))?;
        // The query runs on a connection of its own: analyses running in parallel write
        // their tables at the same time.
        self.retrying_conflicts(&what, || {
            let worker = self.reader()?;
            let conn = worker.connection();
            Self::in_transaction(conn, &what, || {
                self.create_from_query(conn, name, "CREATE OR REPLACE TABLE", &translated, metadata)
            })
        })
    }

    fn replace_partitions(
        &self,
        name: &TableName,
        date_column: &str,
        dates: &[NaiveDate],
        query: &str,
        _cluster_by: &[&str],
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        let what = name.to_string();
        let translated = Self::translated(&what, query)?;
        let target = qualified(name);
        let column = quote_ident(date_column);
        let schema = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(&name.dataset));
        self.conn()
            .execute_batch(&schema)
            .map_err(|e| query_error(&what, &schema, &e))?;
        let list: Vec<String> = dates
            .iter()
            .map(|d| format!("DATE '{}'", d.format("%Y-%m-%d")))
            .collect();
        self.retrying_conflicts(&what, || {
            let worker = self.reader()?;
            let conn = worker.connection();
            Self::in_transaction(conn, &what, || {
                if Self::table_type(conn, name)?.is_none() {
                    // A new table is created from the query itself. (Created empty and filled
                    // in the same transaction, DuckDB's optimizer kept the empty table's column
                    // statistics in this process and pruned joins on its dates: found by
                    // `cargo xtask bench daily`; tests/duckdb.rs pins it.)
                    return self.create_from_query(
                        conn,
                        name,
                        "CREATE TABLE",
                        &translated,
                        metadata,
                    );
                }
                let count = format!("SELECT count(*) FROM {target}");
                if !list.is_empty() {
                    let delete = format!(
                        "DELETE FROM {target} WHERE {column} IN ({})",
                        list.join(", ")
                    );
                    conn.execute_batch(&delete)
                        .map_err(|e| query_error(&what, &delete, &e))?;
                }
                let count_rows = || -> Result<i64, WarehouseError> {
                    conn.query_row(&count, [], |r| r.get(0))
                        .map_err(|e| query_error(&what, &count, &e))
                };
                let before = count_rows()?;
                let insert = format!("INSERT INTO {target} BY NAME\n{translated}");
                self.profiled(conn, &what, &insert)?;
                let after = count_rows()?;
                Self::upsert_metadata(conn, name, metadata)?;
                Ok(u64::try_from(after - before).unwrap_or(0))
            })
        })
    }

    fn table_exists(&self, name: &TableName) -> Result<bool, WarehouseError> {
        Ok(Self::table_type(&self.conn(), name)?.is_some())
    }

    fn create_view(&self, name: &TableName, query: &str) -> Result<(), WarehouseError> {
        let what = name.to_string();
        let translated = Self::translated(&what, query)?;
        let sql = format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE OR REPLACE VIEW {} AS\n{translated}",
            quote_ident(&name.dataset),
            qualified(name)
        );
        self.conn()
            .execute_batch(&sql)
            .map_err(|e| query_error(&what, &sql, &e))
    }

    fn publish_window_view(
        &self,
        view: &TableName,
        table_prefix: &str,
    ) -> Result<usize, WarehouseError> {
        // DuckDB has no wildcard tables: the view is a UNION ALL BY NAME of the window tables
        // that exist now, so it is republished whenever a window table is written.
        let _publishing = self.publishing();
        let Some((n, union)) = self.window_union(&view.dataset, table_prefix, "*")? else {
            return Ok(0);
        };
        let sql = format!("CREATE OR REPLACE VIEW {} AS\n{union}", qualified(view));
        self.conn()
            .execute_batch(&sql)
            .map_err(|e| query_error(&view.to_string(), &sql, &e))?;
        Ok(n)
    }

    fn publish_joined_window_view(
        &self,
        view: &TableName,
        sources: &[(String, Vec<String>)],
        keys: &[&str],
    ) -> Result<usize, WarehouseError> {
        let _publishing = self.publishing();
        let mut parts = Vec::new();
        for (prefix, columns) in sources {
            let mut select: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
            if parts.is_empty() {
                select.push("exposure_date".into());
                select.push("num_exposure_events".into());
            }
            select.extend(columns.iter().map(|c| quote_ident(c)));
            if let Some((_, union)) =
                self.window_union(&view.dataset, prefix, &select.join(", "))?
            {
                parts.push(union);
            }
        }
        if parts.is_empty() {
            return Ok(0);
        }
        let mut using: Vec<String> = keys.iter().map(|k| quote_ident(k)).collect();
        using.push("window_index".into());
        let mut sql = format!(
            "CREATE OR REPLACE VIEW {} AS\nSELECT * FROM ({})",
            qualified(view),
            parts[0]
        );
        for (i, p) in parts.iter().enumerate().skip(1) {
            sql.push_str(&format!(
                "\nFULL OUTER JOIN ({p}) AS s{i} USING ({})",
                using.join(", ")
            ));
        }
        self.conn()
            .execute_batch(&sql)
            .map_err(|e| query_error(&view.to_string(), &sql, &e))?;
        Ok(parts.len())
    }

    fn delete_table(&self, name: &TableName) -> Result<(), WarehouseError> {
        let what = name.to_string();
        let conn = self.conn();
        let kind = Self::table_type(&conn, name)?;
        let drop = match kind.as_deref() {
            Some("VIEW") => format!("DROP VIEW IF EXISTS {};", qualified(name)),
            Some(_) => format!("DROP TABLE IF EXISTS {};", qualified(name)),
            None => String::new(),
        };
        let sql = format!(
            "BEGIN TRANSACTION; {drop} DELETE FROM {}.table_metadata WHERE dataset = {} AND table_name = {}; COMMIT;",
            quote_ident(META_SCHEMA),
            quote_literal(&name.dataset),
            quote_literal(&name.table)
        );
        conn.execute_batch(&sql).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            query_error(&what, &sql, &e)
        })
    }

    fn list_tables(&self, dataset: &str, prefix: &str) -> Result<Vec<TableName>, WarehouseError> {
        let sql = "SELECT table_name FROM information_schema.tables \
                   WHERE table_catalog = current_database() AND table_schema = ? \
                   AND starts_with(table_name, ?) ORDER BY table_name";
        let conn = self.conn();
        let mut stmt = conn
            .prepare(sql)
            .map_err(|e| query_error(dataset, sql, &e))?;
        let names = stmt
            .query_map(params![dataset, prefix], |r| r.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| query_error(dataset, sql, &e))?;
        Ok(names
            .into_iter()
            .map(|table| TableName {
                dataset: dataset.to_string(),
                table,
            })
            .collect())
    }

    fn table_metadata(&self, name: &TableName) -> Result<Option<TableMetadata>, WarehouseError> {
        let what = name.to_string();
        let sql = format!(
            "SELECT description, last_updated, schema_version FROM {}.table_metadata \
             WHERE dataset = ? AND table_name = ?",
            quote_ident(META_SCHEMA)
        );
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| query_error(&what, &sql, &e))?;
        let mut rows = stmt
            .query(params![name.dataset, name.table])
            .map_err(|e| query_error(&what, &sql, &e))?;
        let Some(row) = rows.next().map_err(|e| query_error(&what, &sql, &e))? else {
            return Ok(None);
        };
        let get = |e: duckdb::Error| query_error(&what, &sql, &e);
        let description: String = row.get(0).map_err(get)?;
        let updated: String = row.get(1).map_err(get)?;
        let schema_version: u32 = row.get(2).map_err(get)?;
        let last_updated = DateTime::parse_from_rfc3339(&updated)
            .map_err(|e| read_error(&what, format!("bad last_updated {updated:?}: {e}")))?
            .with_timezone(&Utc);
        Ok(Some(TableMetadata {
            description,
            last_updated,
            schema_version,
        }))
    }

    fn touch_table(&self, name: &TableName, when: DateTime<Utc>) -> Result<bool, WarehouseError> {
        let what = name.to_string();
        let sql = format!(
            "UPDATE {}.table_metadata SET last_updated = ? WHERE dataset = ? AND table_name = ?",
            quote_ident(META_SCHEMA)
        );
        let conn = self.conn();
        let n = conn
            .execute(&sql, params![when.to_rfc3339(), name.dataset, name.table])
            .map_err(|e| query_error(&what, &sql, &e))?;
        Ok(n > 0)
    }

    fn dry_run(&self, query: &str) -> Result<u64, WarehouseError> {
        let translated = Self::translated("dry run", query)?;
        let sql = format!("EXPLAIN (FORMAT json) {translated}");
        let reader = self.reader()?;
        let conn = reader.connection();
        let mut stmt = conn
            .prepare(&sql)
            .map_err(|e| query_error("dry run", &translated, &e))?;
        let plans: Vec<String> = stmt
            .query_map([], |r| r.get::<_, String>(1))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(|e| query_error("dry run", &translated, &e))?;
        Ok(plans.iter().map(|p| plan_bytes(p)).sum())
    }

    fn query_columns(&self, query: &str) -> Result<Columns, WarehouseError> {
        let translated = Self::translated("query", query)?;
        let reader = self.reader()?;
        Self::read_columns(reader.connection(), "query", &translated)
    }

    fn table_reads(&self) -> jetstream_warehouse::TableReads {
        self.reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn append_logs(&self, table: &TableName, records: &[LogRecord]) -> Result<(), WarehouseError> {
        let what = table.to_string();
        let target = qualified(table);
        let columns: Vec<String> = LOG_COLUMNS
            .iter()
            .map(|c| {
                let ty = if *c == "timestamp" {
                    "TIMESTAMP"
                } else {
                    "VARCHAR"
                };
                format!("{} {ty}", quote_ident(c))
            })
            .collect();
        let create = format!(
            "CREATE SCHEMA IF NOT EXISTS {}; CREATE TABLE IF NOT EXISTS {target} ({});",
            quote_ident(&table.dataset),
            columns.join(", ")
        );
        let insert = format!(
            "INSERT INTO {target} ({}) VALUES (CAST(? AS TIMESTAMP), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            LOG_COLUMNS.map(quote_ident).join(", ")
        );
        let conn = self.conn();
        conn.execute_batch(&create)
            .map_err(|e| query_error(&what, &create, &e))?;
        Self::in_transaction(&conn, &what, || {
            let mut stmt = conn
                .prepare(&insert)
                .map_err(|e| query_error(&what, &insert, &e))?;
            for r in records {
                stmt.execute(params![
                    r.timestamp.format("%Y-%m-%d %H:%M:%S").to_string(),
                    r.source,
                    r.experiment,
                    r.metric,
                    r.statistic,
                    r.analysis_basis,
                    r.segment,
                    r.analysis_period,
                    r.message,
                    r.log_level,
                    r.exception,
                    r.filename,
                    r.func_name,
                    r.exception_type
                ])
                .map_err(|e| query_error(&what, &insert, &e))?;
            }
            Ok(())
        })
    }
}

/// The table scans of a profiled plan (`EXPLAIN (ANALYZE, FORMAT JSON)`): per scan, the table
/// (`catalog.schema.table`) and the rows it scanned (`rows_scanned`, or the rows it produced
/// where the profiler does not say).
fn plan_scans(plan: &str) -> Vec<(String, u64)> {
    fn walk(node: &serde_json::Value, out: &mut Vec<(String, u64)>) {
        match node {
            serde_json::Value::Array(nodes) => nodes.iter().for_each(|n| walk(n, out)),
            serde_json::Value::Object(map) => {
                let kind = map.get("type").and_then(|t| t.as_str()).unwrap_or_default();
                if kind == "TABLE_SCAN"
                    && let Some(table) = map
                        .get("extra_info")
                        .and_then(|i| i.get("Table"))
                        .and_then(|t| t.as_str())
                {
                    let rows = map
                        .get("rows_scanned")
                        .or_else(|| map.get("intermediate_rows"))
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(0);
                    // `"moz-fx-data-shared-prod".telemetry.t` → the BigQuery-style path.
                    out.push((table.replace('"', ""), rows));
                }
                for key in ["operator", "children"] {
                    if let Some(c) = map.get(key) {
                        walk(c, out);
                    }
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(plan) {
        walk(&value, &mut out);
    }
    out
}

/// Bytes a DuckDB plan (`EXPLAIN (FORMAT json)`) reads, estimated as BigQuery counts them: for
/// each scan, its estimated rows × the columns it reads × 8 bytes.
fn plan_bytes(plan: &str) -> u64 {
    fn walk(node: &serde_json::Value, total: &mut u64) {
        if let Some(nodes) = node.as_array() {
            for n in nodes {
                walk(n, total);
            }
            return;
        }
        let name = node
            .get("name")
            .and_then(|n| n.as_str())
            .unwrap_or_default();
        let info = node.get("extra_info");
        if name.contains("SCAN") || name.starts_with("READ_") {
            let rows = info
                .and_then(|i| i.get("Estimated Cardinality"))
                .and_then(|c| match c {
                    serde_json::Value::String(s) => s.trim_start_matches('~').parse::<u64>().ok(),
                    other => other.as_u64(),
                })
                .unwrap_or(0);
            let columns = match info.and_then(|i| i.get("Projections")) {
                Some(serde_json::Value::Array(a)) => a.len(),
                Some(serde_json::Value::String(_)) => 1,
                _ => 1,
            };
            *total = total.saturating_add(rows.saturating_mul(columns as u64 * 8));
        }
        if let Some(children) = node.get("children") {
            walk(children, total);
        }
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(plan) else {
        return 0;
    };
    let mut total = 0;
    walk(&value, &mut total);
    total
}

#[cfg(test)]
mod plan_tests {
    #[test]
    fn plan_bytes_count_scanned_columns_times_rows() {
        let plan = r#"[{"name":"UNGROUPED_AGGREGATE","children":[{"name":"PROJECTION","children":[
            {"name":"READ_PARQUET ","children":[],"extra_info":{"Projections":["a","s"],"Estimated Cardinality":"100000"}}],
            "extra_info":{"Projections":["a","s"],"Estimated Cardinality":"100000"}},
            {"name":"SEQ_SCAN ","children":[],"extra_info":{"Table":"t","Projections":"a","Estimated Cardinality":"20000"}}]}]"#;
        assert_eq!(super::plan_bytes(plan), 100_000 * 2 * 8 + 20_000 * 8);
        assert_eq!(super::plan_bytes("not json"), 0);
    }
}
