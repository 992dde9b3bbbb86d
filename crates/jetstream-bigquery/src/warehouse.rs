//! The BigQuery warehouse.
//!
//! * Queries run as jobs (`jobs.query`, then `jobs.getQueryResults` polled with backoff until
//!   complete or the query timeout passes, then paged). A response carrying `errors` is an
//!   error even with HTTP 200. Every job gets `maximumBytesBilled` when configured; its bytes
//!   processed and slot time are logged at DEBUG and summed in [`Warehouse::usage`].
//! * Tables are written with `CREATE OR REPLACE TABLE … OPTIONS(description = <slug>, labels
//!   = …) AS <query>`: atomic (a failing query leaves the previous table), description in
//!   the same statement. Labels are then set again through `tables.patch` (string values),
//!   which emulators that ignore DDL labels also honour.
//! * Rows computed here (statistics) go through a load job into a fresh staging table, then
//!   the same atomic `CREATE OR REPLACE … AS SELECT` (never streaming inserts: streamed rows
//!   cannot be deleted for up to 90 minutes, which breaks reruns). Log rows are appended
//!   with a load job too.
//! * Window views are wildcard views over `<prefix>_*` with `window_index` from
//!   `_TABLE_SUFFIX`, as the reference publishes them, restricted to numeric suffixes.
//! * Every request is retried on 5xx, 408, 429, `backendError`, `rateLimitExceeded`,
//!   `jobRateLimitExceeded`, timeouts and connection failures ([`RetryPolicy`]).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use gcp_bigquery_client::error::BQError;
use gcp_bigquery_client::model::data_format_options::DataFormatOptions;
use gcp_bigquery_client::model::dataset::Dataset;
use gcp_bigquery_client::model::error_proto::ErrorProto;
use gcp_bigquery_client::model::get_query_results_parameters::GetQueryResultsParameters;
use gcp_bigquery_client::model::query_request::QueryRequest;
use gcp_bigquery_client::model::table_row::TableRow;
use gcp_bigquery_client::model::table_schema::TableSchema;
use gcp_bigquery_client::table::ListOptions;
use jetstream_sql::alias::ProjectAliases;
use jetstream_sql::query::string_literal;
use jetstream_warehouse::{
    Column, Columns, LOG_COLUMNS, LogRecord, QueryUsage, TableMetadata, TableName, Warehouse,
    WarehouseError,
};
use serde_json::{Value, json};

use jetstream_gcp::Credentials;
use jetstream_gcp::retry::{Attempt, RetryPolicy, retry, retryable_status};

use crate::BigQueryAuth;
use crate::values::{ColumnReader, load_schema, ndjson};

/// Error reasons BigQuery marks as worth retrying.
const RETRYABLE_REASONS: [&str; 4] = [
    "backendError",
    "rateLimitExceeded",
    "jobRateLimitExceeded",
    "internalError",
];

/// Prefix of the staging tables of load jobs (dropped after use).
pub(crate) const STAGING_PREFIX: &str = "_jetstream_staging_";

/// How to reach BigQuery and how to run jobs there.
#[derive(Debug, Clone)]
pub struct BigQueryConfig {
    /// The results project: jobs run (and are billed) here, result tables live here.
    pub project: String,
    /// Base URL of an emulator (`http://HOST:PORT`); `None` for Google's endpoint.
    pub endpoint: Option<String>,
    /// Job location (`US`), when not the project's default.
    pub location: Option<String>,
    /// `maximumBytesBilled` of every query job: a query that would bill more fails.
    pub maximum_bytes_billed: Option<u64>,
    /// How long one query may run, polling included.
    pub query_timeout: Duration,
    /// Retries of failed requests.
    pub retry: RetryPolicy,
    /// Source projects read from elsewhere (`--project-alias`).
    pub aliases: ProjectAliases,
}

impl BigQueryConfig {
    /// Defaults for `project` on Google's endpoint.
    pub fn new(project: &str) -> Self {
        Self {
            project: project.to_string(),
            endpoint: None,
            location: None,
            maximum_bytes_billed: None,
            query_timeout: Duration::from_secs(6 * 3600),
            retry: RetryPolicy::default(),
            aliases: ProjectAliases::default(),
        }
    }

    /// As [`BigQueryConfig::new`], with the emulator of `BIGQUERY_EMULATOR_HOST` if set.
    pub fn from_env(project: &str) -> Self {
        Self {
            endpoint: jetstream_gcp::emulator_host(jetstream_gcp::BIGQUERY_EMULATOR_HOST),
            ..Self::new(project)
        }
    }
}

/// A failed API call, before it becomes a [`WarehouseError`].
#[derive(Debug)]
struct ApiError {
    status: Option<i64>,
    message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl ApiError {
    /// An attempt that got no answer within the request deadline `d`.
    fn timed_out(d: Duration) -> Self {
        ApiError {
            status: None,
            message: format!("no answer within {d:?}"),
        }
    }

    fn not_found(&self) -> bool {
        self.status == Some(404)
    }
    fn into_warehouse(self, what: &str) -> WarehouseError {
        let retryable = matches!(self.status, Some(429) | Some(500..=599));
        let mut e = WarehouseError::service(what, self.message).retryable(retryable);
        if let Some(status) = self.status.and_then(|s| u16::try_from(s).ok()) {
            e = e.with_status(status);
        }
        e
    }
}

fn reasons(errors: &[HashMap<String, String>]) -> Vec<String> {
    errors
        .iter()
        .filter_map(|e| e.get("reason").cloned())
        .collect()
}

/// Whether a BigQuery client error is worth retrying, and its message (status, reasons and
/// the service's own words; never a token).
fn classify(e: &BQError) -> (bool, ApiError) {
    match e {
        BQError::ResponseError { error } => {
            let nested = &error.error;
            let reasons = reasons(&nested.errors);
            let retryable = u16::try_from(nested.code).is_ok_and(retryable_status)
                || reasons
                    .iter()
                    .any(|r| RETRYABLE_REASONS.contains(&r.as_str()));
            let status = if nested.status.is_empty() {
                String::new()
            } else {
                format!(" {}", nested.status)
            };
            let why = if reasons.is_empty() {
                String::new()
            } else {
                format!(" ({})", reasons.join(", "))
            };
            (
                retryable,
                ApiError {
                    status: Some(nested.code),
                    message: format!("HTTP {}{status}{why}: {}", nested.code, nested.message),
                },
            )
        }
        BQError::RequestError(re) => {
            let retryable = re.is_timeout()
                || re.is_connect()
                || re.is_request()
                || re.is_body()
                || re.is_decode();
            let message = jetstream_gcp::retry::describe(re);
            (
                retryable,
                ApiError {
                    status: re.status().map(|s| i64::from(s.as_u16())),
                    message,
                },
            )
        }
        other => (
            false,
            ApiError {
                status: None,
                message: other.to_string(),
            },
        ),
    }
}

fn error_text(errors: &[ErrorProto]) -> String {
    errors
        .iter()
        .map(|e| {
            format!(
                "{}{}",
                e.reason
                    .as_deref()
                    .map(|r| format!("{r}: "))
                    .unwrap_or_default(),
                e.message.as_deref().unwrap_or("(no message)")
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A unique id for jobs and staging tables.
fn unique_id(kind: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "jetstream_{kind}_{}_{nanos}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A finished query.
struct QueryResult {
    columns: Columns,
}

/// The warehouse on BigQuery (or an emulator of it).
///
/// A synchronous facade over its own tokio runtime: call it from ordinary threads (rayon's
/// included). From async code, call it inside `tokio::task::spawn_blocking` and drop it there
/// too: blocking on, or dropping, a runtime inside another runtime's worker panics.
pub struct BigQueryWarehouse {
    config: BigQueryConfig,
    runtime: tokio::runtime::Runtime,
    client: gcp_bigquery_client::Client,
    http: reqwest::Client,
    credentials: Credentials,
    api_base: String,
    upload_base: String,
    datasets: Mutex<HashSet<String>>,
    usage: Mutex<QueryUsage>,
    /// Bytes processed per referenced table: a job's bytes count for each table it read
    /// (BigQuery reports bytes per job, not per table).
    reads: Mutex<jetstream_warehouse::TableReads>,
}

impl std::fmt::Debug for BigQueryWarehouse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigQueryWarehouse")
            .field("project", &self.config.project)
            .field("api", &self.api_base)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl BigQueryWarehouse {
    /// A warehouse reached with `credentials`.
    pub fn open(config: BigQueryConfig, credentials: Credentials) -> Result<Self, WarehouseError> {
        let open_err =
            |message: String| WarehouseError::open(format!("bigquery:{}", config.project), message);
        let runtime = jetstream_gcp::runtime("bigquery").map_err(|e| open_err(e.to_string()))?;
        let root = config
            .endpoint
            .clone()
            .unwrap_or_else(|| "https://bigquery.googleapis.com".into());
        let api_base = format!("{root}/bigquery/v2");
        let upload_base = format!("{root}/upload/bigquery/v2");
        let auth = std::sync::Arc::new(BigQueryAuth(credentials.clone()));
        let client = runtime
            .block_on(
                gcp_bigquery_client::client_builder::ClientBuilder::new()
                    .with_v2_base_url(api_base.clone())
                    .build_from_authenticator(auth),
            )
            .map_err(|e| open_err(e.to_string()))?;
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| open_err(e.to_string()))?;
        Ok(Self {
            config,
            runtime,
            client,
            http,
            credentials,
            api_base,
            upload_base,
            datasets: Mutex::new(HashSet::new()),
            usage: Mutex::new(QueryUsage::default()),
            reads: Mutex::new(jetstream_warehouse::TableReads::default()),
        })
    }

    /// The warehouse of `project` as Google's clients find it: the emulator of
    /// `BIGQUERY_EMULATOR_HOST` without credentials, else BigQuery with Application Default
    /// Credentials.
    pub fn from_env(project: &str) -> Result<Self, WarehouseError> {
        Self::with_config(BigQueryConfig::from_env(project))
    }

    /// A warehouse for `config`: anonymous when it names an emulator endpoint, else with
    /// Application Default Credentials.
    pub fn with_config(config: BigQueryConfig) -> Result<Self, WarehouseError> {
        let credentials = if config.endpoint.is_some() {
            Credentials::anonymous()
        } else {
            let what = format!("bigquery:{}", config.project);
            let rt = jetstream_gcp::runtime("auth")
                .map_err(|e| WarehouseError::open(&what, e.to_string()).with_source(e))?;
            rt.block_on(Credentials::application_default())
                .map_err(|e| WarehouseError::open(&what, e.to_string()).with_source(e))?
        };
        Self::open(config, credentials)
    }

    /// The configuration.
    pub fn config(&self) -> &BigQueryConfig {
        &self.config
    }

    fn qualified(&self, name: &TableName) -> String {
        format!("`{}.{}.{}`", self.config.project, name.dataset, name.table)
    }

    /// Run `f` with retries; `what` names the object in messages.
    async fn call<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, BQError>>,
    {
        retry(&self.config.retry, what, ApiError::timed_out, || {
            let fut = f();
            async move {
                match fut.await {
                    Ok(v) => Attempt::Done(Ok(v)),
                    Err(e) => match classify(&e) {
                        (true, err) => Attempt::Retry(err),
                        (false, err) => Attempt::Done(Err(err)),
                    },
                }
            }
        })
        .await
    }

    /// A JSON request of our own (patches, uploads) with retries.
    async fn raw(
        &self,
        what: &str,
        method: reqwest::Method,
        url: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<Value, ApiError> {
        retry(&self.config.retry, what, ApiError::timed_out, || {
            let body = body.clone();
            let method = method.clone();
            async move {
                let token = match self.credentials.token().await {
                    Ok(t) => t,
                    Err(e) => {
                        return Attempt::Done(Err(ApiError {
                            status: None,
                            message: e.to_string(),
                        }));
                    }
                };
                let mut request = self.http.request(method, url);
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                if let Some((content_type, bytes)) = body {
                    request = request
                        .header(reqwest::header::CONTENT_TYPE, content_type)
                        .body(bytes);
                }
                let response = match request.send().await {
                    Ok(r) => r,
                    Err(e) => {
                        return Attempt::Retry(ApiError {
                            status: None,
                            message: e.to_string(),
                        });
                    }
                };
                let status = response.status();
                let text = response.text().await.unwrap_or_default();
                let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                if status.is_success() {
                    return Attempt::Done(Ok(value));
                }
                let reasons: Vec<String> = value["error"]["errors"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|e| e["reason"].as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                let message = value["error"]["message"]
                    .as_str()
                    .map_or_else(|| text.chars().take(300).collect(), str::to_string);
                let why = if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join(", "))
                };
                let err = ApiError {
                    status: Some(i64::from(status.as_u16())),
                    message: format!("HTTP {}{why}: {message}", status.as_u16()),
                };
                if retryable_status(status.as_u16())
                    || reasons
                        .iter()
                        .any(|r| RETRYABLE_REASONS.contains(&r.as_str()))
                {
                    Attempt::Retry(err)
                } else {
                    Attempt::Done(Err(err))
                }
            }
        })
        .await
    }

    fn query_error(what: &str, sql: &str, message: String) -> WarehouseError {
        WarehouseError::query(what, message, sql)
    }

    /// Run one query job to completion and read its rows.
    async fn run_query(&self, sql: &str, what: &str) -> Result<QueryResult, WarehouseError> {
        let sql = self.config.aliases.apply(sql).into_owned();
        let project = self.config.project.as_str();
        let mut request = QueryRequest::new(sql.clone());
        request.timeout_ms = Some(10_000);
        request.maximum_bytes_billed = self.config.maximum_bytes_billed.map(|b| b.to_string());
        request.request_id = Some(unique_id("request"));
        request.location.clone_from(&self.config.location);
        request.format_options = Some(DataFormatOptions {
            use_int64_timestamp: Some(true),
        });
        let qerr = |message: String| Self::query_error(what, &sql, message);
        let started = Instant::now();
        let response = self
            .call(what, || self.client.job().query(project, request.clone()))
            .await
            .map_err(|e| qerr(e.message))?;
        if let Some(errors) = response.errors.as_deref().filter(|e| !e.is_empty()) {
            return Err(qerr(error_text(errors)));
        }
        let job_id = response
            .job_reference
            .as_ref()
            .and_then(|r| r.job_id.clone());
        let location = response
            .job_reference
            .as_ref()
            .and_then(|r| r.location.clone())
            .or_else(|| self.config.location.clone());
        let mut complete = response.job_complete.unwrap_or(false);
        let mut schema = response.schema;
        let mut rows: Vec<TableRow> = response.rows.unwrap_or_default();
        let mut page_token = response.page_token;
        let mut polls = 0;
        let params = |page_token: Option<String>| GetQueryResultsParameters {
            // The client puts these in the query string, which cannot carry the nested
            // `formatOptions`: TIMESTAMP cells then come as float seconds, also understood.
            format_options: None,
            location: location.clone(),
            max_results: None,
            page_token,
            start_index: None,
            timeout_ms: Some(10_000),
        };
        while !complete || page_token.is_some() {
            let Some(job_id) = job_id.as_deref() else {
                return Err(qerr("the service returned no job reference".into()));
            };
            if !complete {
                if started.elapsed() > self.config.query_timeout {
                    let _ = self
                        .client
                        .job()
                        .cancel_job(project, job_id, location.as_deref())
                        .await;
                    return Err(qerr(format!(
                        "job {job_id} did not finish within {:?} (cancelled)",
                        self.config.query_timeout
                    )));
                }
                if polls > 0 {
                    tokio::time::sleep(self.config.retry.poll_wait(polls - 1)).await;
                }
                polls += 1;
            }
            let token = if complete { page_token.take() } else { None };
            let page = self
                .call(what, || {
                    self.client
                        .job()
                        .get_query_results(project, job_id, params(token.clone()))
                })
                .await
                .map_err(|e| qerr(format!("job {job_id}: {}", e.message)))?;
            if let Some(errors) = page.errors.as_deref().filter(|e| !e.is_empty()) {
                return Err(qerr(format!("job {job_id}: {}", error_text(errors))));
            }
            if !complete {
                complete = page.job_complete.unwrap_or(false);
                if !complete {
                    continue;
                }
                // The first complete answer carries the first page.
                schema = page.schema.or(schema);
                rows = page.rows.unwrap_or_default();
            } else {
                rows.extend(page.rows.unwrap_or_default());
            }
            page_token = page.page_token;
        }
        if let Some(job_id) = job_id.as_deref() {
            self.record_usage(job_id, location.as_deref(), what).await;
        }
        let columns = read_rows(schema.as_ref(), &rows).map_err(|e| qerr(e.to_string()))?;
        Ok(QueryResult { columns })
    }

    /// Log and sum a finished job's bytes processed and slot time.
    async fn record_usage(&self, job_id: &str, location: Option<&str>, what: &str) {
        let job = self
            .client
            .job()
            .get_job(&self.config.project, job_id, location)
            .await;
        let (bytes, slot_ms) = match &job {
            Ok(job) => {
                let stats = job.statistics.as_ref();
                let referenced: Vec<String> = stats
                    .and_then(|s| s.query.as_ref())
                    .and_then(|q| q.referenced_tables.as_ref())
                    .map(|tables| {
                        tables
                            .iter()
                            .map(|t| format!("{}.{}.{}", t.project_id, t.dataset_id, t.table_id))
                            .collect()
                    })
                    .unwrap_or_default();
                let bytes = stats
                    .and_then(|s| s.total_bytes_processed.as_deref())
                    .and_then(|b| b.parse::<u64>().ok())
                    .unwrap_or(0);
                let slot_ms = stats
                    .and_then(|s| s.total_slot_ms.as_deref())
                    .and_then(|b| b.parse::<u64>().ok())
                    .unwrap_or(0);
                if let Ok(mut reads) = self.reads.lock() {
                    for table in &referenced {
                        reads.add(table, 0, bytes);
                    }
                }
                (bytes, slot_ms)
            }
            Err(e) => {
                tracing::debug!(%job_id, error = %e, "job statistics unavailable");
                (0, 0)
            }
        };
        tracing::debug!(%what, %job_id, bytes_processed = bytes, slot_ms, "query finished");
        if let Ok(mut usage) = self.usage.lock() {
            usage.queries += 1;
            usage.bytes_processed += bytes;
            usage.slot_millis += slot_ms;
        }
    }

    /// Create `dataset` unless known to exist.
    async fn ensure_dataset(&self, dataset: &str) -> Result<(), WarehouseError> {
        if self
            .datasets
            .lock()
            .map(|d| d.contains(dataset))
            .unwrap_or(false)
        {
            return Ok(());
        }
        let what = format!("dataset {}.{dataset}", self.config.project);
        let mut ds = Dataset::new(&self.config.project, dataset);
        ds.location.clone_from(&self.config.location);
        match self
            .call(&what, || self.client.dataset().create(ds.clone()))
            .await
        {
            Ok(_) => {}
            Err(e) if e.status == Some(409) => {}
            Err(e) => return Err(e.into_warehouse(&what)),
        }
        if let Ok(mut d) = self.datasets.lock() {
            d.insert(dataset.to_string());
        }
        Ok(())
    }

    async fn get_table(
        &self,
        name: &TableName,
    ) -> Result<Option<gcp_bigquery_client::model::table::Table>, WarehouseError> {
        let what = format!("table {}", self.qualified(name));
        match self
            .call(&what, || {
                self.client
                    .table()
                    .get(&self.config.project, &name.dataset, &name.table, None)
            })
            .await
        {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.not_found() => Ok(None),
            Err(e) => Err(e.into_warehouse(&what)),
        }
    }

    fn labels(metadata: &TableMetadata) -> [(String, String); 2] {
        [
            (
                "last_updated".into(),
                metadata.last_updated.timestamp().to_string(),
            ),
            ("schema_version".into(), metadata.schema_version.to_string()),
        ]
    }

    async fn write_table_async(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        self.ensure_dataset(&name.dataset).await?;
        let labels: Vec<String> = Self::labels(metadata)
            .iter()
            .map(|(k, v)| format!("({}, {})", string_literal(k), string_literal(v)))
            .collect();
        let ddl = format!(
            "CREATE OR REPLACE TABLE {} OPTIONS(description = {}, labels = [{}]) AS\n{query}",
            self.qualified(name),
            string_literal(&metadata.description),
            labels.join(", ")
        );
        self.run_query(&ddl, &name.to_string()).await?;
        self.patch_metadata(name, metadata).await?;
        let table = self.get_table(name).await?;
        Ok(table
            .and_then(|t| t.num_rows)
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }

    /// The rows of a table, counted by a query (the table's `numRows` lags behind DML).
    async fn row_count(&self, name: &TableName) -> Result<u64, WarehouseError> {
        let sql = format!("SELECT COUNT(*) AS n FROM {}", self.qualified(name));
        let result = self.run_query(&sql, &name.to_string()).await?;
        Ok(match result.columns.columns().first() {
            Some(Column::Int(v)) => v.first().copied().flatten().unwrap_or(0).max(0) as u64,
            Some(Column::Float(v)) => v.first().copied().flatten().unwrap_or(0.0).max(0.0) as u64,
            _ => 0,
        })
    }

    async fn patch_metadata(
        &self,
        name: &TableName,
        metadata: &TableMetadata,
    ) -> Result<(), WarehouseError> {
        let labels: serde_json::Map<String, Value> = Self::labels(metadata)
            .into_iter()
            .map(|(k, v)| (k, Value::from(v)))
            .collect();
        let body = json!({"description": metadata.description, "labels": labels});
        let url = format!(
            "{}/projects/{}/datasets/{}/tables/{}",
            self.api_base,
            enc(&self.config.project),
            enc(&name.dataset),
            enc(&name.table)
        );
        let what = format!("table {}", self.qualified(name));
        self.raw(
            &what,
            reqwest::Method::PATCH,
            &url,
            Some(("application/json".into(), body.to_string().into_bytes())),
        )
        .await
        .map(|_| ())
        .map_err(|e| e.into_warehouse(&what))
    }

    /// Load `columns` into table `name` with `disposition` (`WRITE_EMPTY`, `WRITE_APPEND`),
    /// waiting for the job.
    async fn load(
        &self,
        name: &TableName,
        columns: &Columns,
        disposition: &str,
    ) -> Result<(), WarehouseError> {
        self.load_bytes(
            name,
            ndjson(columns),
            Some(load_schema(columns)),
            disposition,
        )
        .await
    }

    /// Load newline-delimited JSON rows into a new table `name`, its schema detected from the
    /// rows when `schema` is `None` (a BigQuery `{"fields": [...]}` otherwise): test data,
    /// one-off imports. Fails if the table exists.
    pub fn load_json(
        &self,
        name: &TableName,
        rows: Vec<u8>,
        schema: Option<Value>,
    ) -> Result<(), WarehouseError> {
        self.runtime.block_on(async {
            self.ensure_dataset(&name.dataset).await?;
            self.load_bytes(name, rows, schema, "WRITE_EMPTY").await
        })
    }

    async fn load_bytes(
        &self,
        name: &TableName,
        rows: Vec<u8>,
        schema: Option<Value>,
        disposition: &str,
    ) -> Result<(), WarehouseError> {
        let what = format!("load job into {}", self.qualified(name));
        let job_id = unique_id("load");
        let mut config = json!({
            "jobReference": {"projectId": self.config.project, "jobId": job_id, "location": self.config.location},
            "configuration": {"load": {
                "destinationTable": {"projectId": self.config.project, "datasetId": name.dataset, "tableId": name.table},
                "sourceFormat": "NEWLINE_DELIMITED_JSON",
                "schema": schema,
                "autodetect": schema.is_none(),
                "writeDisposition": disposition,
                "createDisposition": "CREATE_IF_NEEDED",
            }}
        });
        if let Some(load) = config["configuration"]["load"].as_object_mut() {
            load.retain(|_, v| !v.is_null());
        }
        let boundary = format!("jetstream_{}", unique_id("boundary"));
        let mut body = Vec::new();
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{config}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(&rows);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let url = format!(
            "{}/projects/{}/jobs?uploadType=multipart",
            self.upload_base,
            enc(&self.config.project)
        );
        let submitted = self
            .raw(
                &what,
                reqwest::Method::POST,
                &url,
                Some((format!("multipart/related; boundary={boundary}"), body)),
            )
            .await;
        let mut job = match submitted {
            Ok(job) => job,
            // A retried upload whose first attempt got through: the job exists.
            Err(e) if e.status == Some(409) => Value::Null,
            Err(e) => return Err(e.into_warehouse(&what)),
        };
        let started = Instant::now();
        let mut polls = 0;
        loop {
            if job["status"]["state"].as_str() == Some("DONE") {
                let errors = &job["status"]["errorResult"];
                if !errors.is_null() {
                    let reason = errors["reason"].as_str().unwrap_or("error");
                    return Err(WarehouseError::service(
                        what,
                        format!(
                            "job {job_id}: {reason}: {}",
                            errors["message"].as_str().unwrap_or("(no message)")
                        ),
                    )
                    .retryable(RETRYABLE_REASONS.contains(&reason)));
                }
                return Ok(());
            }
            if started.elapsed() > self.config.query_timeout {
                return Err(WarehouseError::service(
                    what,
                    format!(
                        "job {job_id} did not finish within {:?}",
                        self.config.query_timeout
                    ),
                )
                .retryable(true));
            }
            if polls > 0 {
                tokio::time::sleep(self.config.retry.poll_wait(polls - 1)).await;
            }
            polls += 1;
            let mut url = format!(
                "{}/projects/{}/jobs/{}",
                self.api_base,
                enc(&self.config.project),
                enc(&job_id)
            );
            if let Some(location) = &self.config.location {
                url.push_str(&format!("?location={}", enc(location)));
            }
            job = self
                .raw(&what, reqwest::Method::GET, &url, None)
                .await
                .map_err(|e| e.into_warehouse(&what))?;
        }
    }

    async fn delete_async(&self, name: &TableName) -> Result<(), WarehouseError> {
        let what = format!("table {}", self.qualified(name));
        // Views go with DDL: an engine may keep views apart from tables (bqemulator's
        // `tables.delete` cannot drop a view made by `CREATE VIEW`); BigQuery takes both.
        match self.get_table(name).await? {
            None => return Ok(()),
            Some(t) if t.r#type.as_deref() == Some("VIEW") => {
                let sql = format!("DROP VIEW IF EXISTS {}", self.qualified(name));
                return self.run_query(&sql, &name.to_string()).await.map(|_| ());
            }
            Some(_) => {}
        }
        match self
            .call(&what, || {
                self.client
                    .table()
                    .delete(&self.config.project, &name.dataset, &name.table)
            })
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.not_found() => Ok(()),
            Err(e) => Err(e.into_warehouse(&what)),
        }
    }

    async fn list_async(
        &self,
        dataset: &str,
        prefix: &str,
    ) -> Result<Vec<TableName>, WarehouseError> {
        let what = format!("dataset {}.{dataset}", self.config.project);
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = match self
                .call(&what, || {
                    let mut options = ListOptions::default().max_results(1000);
                    if let Some(t) = &token {
                        options = options.page_token(t.clone());
                    }
                    self.client
                        .table()
                        .list(&self.config.project, dataset, options)
                })
                .await
            {
                Ok(page) => page,
                Err(e) if e.not_found() => return Ok(Vec::new()),
                Err(e) => return Err(e.into_warehouse(&what)),
            };
            for t in page.tables.unwrap_or_default() {
                let table = t.table_reference.table_id;
                if table.starts_with(prefix) {
                    names.push(TableName::new(dataset, &table)?);
                }
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        names.sort();
        Ok(names)
    }

    /// The window tables `<prefix>_<n>` of `dataset`, by window number.
    async fn window_tables(
        &self,
        dataset: &str,
        prefix: &str,
    ) -> Result<Vec<(u64, TableName)>, WarehouseError> {
        let listed = self.list_async(dataset, &format!("{prefix}_")).await?;
        Ok(jetstream_warehouse::window_tables(listed, prefix))
    }

    /// `SELECT <columns>, window_index FROM <prefix>_*` restricted to numeric suffixes.
    fn wildcard_select(&self, dataset: &str, prefix: &str, columns: &[String]) -> String {
        let mut select: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
        select.push(
            "CAST(REGEXP_EXTRACT(_TABLE_SUFFIX, r'[0-9]+$') AS INT64) AS window_index".into(),
        );
        format!(
            "SELECT {} FROM `{}.{dataset}.{prefix}_*` WHERE REGEXP_CONTAINS(_TABLE_SUFFIX, r'^[0-9]+$')",
            select.join(", "),
            self.config.project
        )
    }

    async fn table_columns(&self, name: &TableName) -> Result<Vec<String>, WarehouseError> {
        let table = self.get_table(name).await?.ok_or_else(|| {
            WarehouseError::service(
                format!("table {}", self.qualified(name)),
                "vanished while the view was being published",
            )
            .retryable(true)
        })?;
        Ok(table
            .schema
            .fields
            .unwrap_or_default()
            .into_iter()
            .map(|f| f.name)
            .collect())
    }
}

/// One URL path segment.
fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Rows of a query response as columns, typed by the schema.
fn read_rows(schema: Option<&TableSchema>, rows: &[TableRow]) -> Result<Columns, WarehouseError> {
    let fields = schema.and_then(|s| s.fields.as_deref()).unwrap_or_default();
    let mut readers: Vec<ColumnReader> = fields
        .iter()
        .map(|f| {
            let bq_type = serde_json::to_value(&f.r#type)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            ColumnReader::new(&f.name, &bq_type, f.mode.as_deref())
        })
        .collect();
    for row in rows {
        let cells = row.columns.as_deref().unwrap_or_default();
        for (i, reader) in readers.iter_mut().enumerate() {
            reader.push(cells.get(i).and_then(|c| c.value.as_ref()))?;
        }
    }
    Columns::from_pairs(readers.into_iter().map(ColumnReader::finish).collect())
}

/// Log records as the monitoring table's columns.
fn log_columns(records: &[LogRecord]) -> Result<Columns, WarehouseError> {
    let text =
        |f: &dyn Fn(&LogRecord) -> Option<String>| Column::Text(records.iter().map(f).collect());
    let columns = vec![
        Column::Timestamp(records.iter().map(|r| Some(r.timestamp)).collect()),
        text(&|r| Some(r.source.clone())),
        text(&|r| r.experiment.clone()),
        text(&|r| r.metric.clone()),
        text(&|r| r.statistic.clone()),
        text(&|r| r.analysis_basis.clone()),
        text(&|r| r.segment.clone()),
        text(&|r| r.analysis_period.clone()),
        text(&|r| Some(r.message.clone())),
        text(&|r| Some(r.log_level.clone())),
        text(&|r| Some(r.exception.clone())),
        text(&|r| Some(r.filename.clone())),
        text(&|r| Some(r.func_name.clone())),
        text(&|r| r.exception_type.clone()),
    ];
    Columns::from_pairs(
        LOG_COLUMNS
            .iter()
            .map(|n| (*n).to_string())
            .zip(columns)
            .collect(),
    )
}

fn typed_null(column: &Column) -> &'static str {
    match column {
        Column::Bool(_) => "CAST(NULL AS BOOL)",
        Column::Int(_) => "CAST(NULL AS INT64)",
        Column::Float(_) => "CAST(NULL AS FLOAT64)",
        Column::Text(_) => "CAST(NULL AS STRING)",
        Column::Date(_) => "CAST(NULL AS DATE)",
        Column::Timestamp(_) => "CAST(NULL AS TIMESTAMP)",
    }
}

impl Warehouse for BigQueryWarehouse {
    fn execute(&self, sql: &str) -> Result<(), WarehouseError> {
        self.runtime
            .block_on(self.run_query(sql, "statement"))
            .map(|_| ())
    }

    fn write_table(
        &self,
        name: &TableName,
        query: &str,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        self.runtime
            .block_on(self.write_table_async(name, query, metadata))
    }

    fn replace_partitions(
        &self,
        name: &TableName,
        date_column: &str,
        dates: &[chrono::NaiveDate],
        query: &str,
        cluster_by: &[&str],
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        let column = jetstream_sql::query::identifier("column", date_column).map_err(|e| {
            WarehouseError::new(
                jetstream_warehouse::WarehouseErrorKind::Query,
                name.to_string(),
                e.to_string(),
            )
        })?;
        let mut cluster = Vec::new();
        for c in cluster_by {
            cluster.push(
                jetstream_sql::query::identifier("column", c)
                    .map_err(|e| {
                        WarehouseError::new(
                            jetstream_warehouse::WarehouseErrorKind::Query,
                            name.to_string(),
                            e.to_string(),
                        )
                    })?
                    .to_string(),
            );
        }
        self.runtime.block_on(async {
            self.ensure_dataset(&name.dataset).await?;
            let what = name.to_string();
            let target = self.qualified(name);
            if self.get_table(name).await?.is_none() {
                let clustering = if cluster.is_empty() {
                    String::new()
                } else {
                    format!(" CLUSTER BY {}", cluster.join(", "))
                };
                let create = format!(
                    "CREATE TABLE IF NOT EXISTS {target} PARTITION BY {column}{clustering} AS\n\
                     SELECT * FROM (\n{query}\n) WHERE FALSE"
                );
                self.run_query(&create, &what).await?;
            }
            if !dates.is_empty() {
                let list: Vec<String> = dates
                    .iter()
                    .map(|d| format!("DATE '{}'", d.format("%Y-%m-%d")))
                    .collect();
                let delete = format!(
                    "DELETE FROM {target} WHERE {column} IN ({})",
                    list.join(", ")
                );
                self.run_query(&delete, &what).await?;
            }
            let before = self.row_count(name).await?;
            let insert = format!("INSERT INTO {target}\n{query}");
            self.run_query(&insert, &what).await?;
            self.patch_metadata(name, metadata).await?;
            let after = self.row_count(name).await?;
            Ok(after.saturating_sub(before))
        })
    }

    fn write_columns(
        &self,
        name: &TableName,
        columns: &Columns,
        metadata: &TableMetadata,
    ) -> Result<u64, WarehouseError> {
        self.runtime.block_on(async {
            self.ensure_dataset(&name.dataset).await?;
            if columns.rows() == 0 {
                let select: Vec<String> = columns
                    .names()
                    .iter()
                    .zip(columns.columns())
                    .map(|(n, c)| format!("{} AS `{n}`", typed_null(c)))
                    .collect();
                let query = format!("SELECT {} LIMIT 0", select.join(", "));
                return self.write_table_async(name, &query, metadata).await;
            }
            let staging = TableName::new(
                &name.dataset,
                &format!("{STAGING_PREFIX}{}", unique_id("rows")),
            )?;
            let result = async {
                self.load(&staging, columns, "WRITE_EMPTY").await?;
                self.write_table_async(
                    name,
                    &format!("SELECT * FROM {}", self.qualified(&staging)),
                    metadata,
                )
                .await
            }
            .await;
            if let Err(e) = self.delete_async(&staging).await {
                tracing::warn!(table = %staging, error = %e, "staging table not dropped");
            }
            result
        })
    }

    fn table_exists(&self, name: &TableName) -> Result<bool, WarehouseError> {
        self.runtime
            .block_on(self.get_table(name))
            .map(|t| t.is_some())
    }

    fn create_view(&self, name: &TableName, query: &str) -> Result<(), WarehouseError> {
        self.runtime.block_on(async {
            self.ensure_dataset(&name.dataset).await?;
            let sql = format!(
                "CREATE OR REPLACE VIEW {} AS\n{query}",
                self.qualified(name)
            );
            self.run_query(&sql, &name.to_string()).await.map(|_| ())
        })
    }

    fn publish_window_view(
        &self,
        view: &TableName,
        table_prefix: &str,
    ) -> Result<usize, WarehouseError> {
        self.runtime.block_on(async {
            let windows = self.window_tables(&view.dataset, table_prefix).await?;
            let Some((_, newest)) = windows.last() else {
                return Ok(0);
            };
            // Wildcard tables take the newest table's schema; name its columns so that no
            // engine adds `_TABLE_SUFFIX` to `*`.
            let columns = self.table_columns(newest).await?;
            let sql = format!(
                "CREATE OR REPLACE VIEW {} AS\n{}",
                self.qualified(view),
                self.wildcard_select(&view.dataset, table_prefix, &columns)
            );
            self.run_query(&sql, &view.to_string()).await?;
            Ok(windows.len())
        })
    }

    fn publish_joined_window_view(
        &self,
        view: &TableName,
        sources: &[(String, Vec<String>)],
        keys: &[&str],
    ) -> Result<usize, WarehouseError> {
        self.runtime.block_on(async {
            let mut parts = Vec::new();
            for (prefix, columns) in sources {
                if self.window_tables(&view.dataset, prefix).await?.is_empty() {
                    continue;
                }
                let mut select: Vec<String> = keys.iter().map(|k| (*k).to_string()).collect();
                if parts.is_empty() {
                    select.push("exposure_date".into());
                    select.push("num_exposure_events".into());
                }
                select.extend(columns.iter().cloned());
                parts.push(self.wildcard_select(&view.dataset, prefix, &select));
            }
            if parts.is_empty() {
                return Ok(0);
            }
            let mut using: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
            using.push("window_index".into());
            let mut sql = format!(
                "CREATE OR REPLACE VIEW {} AS\nSELECT * FROM ({}) AS s0",
                self.qualified(view),
                parts[0]
            );
            for (i, p) in parts.iter().enumerate().skip(1) {
                sql.push_str(&format!(
                    "\nFULL OUTER JOIN ({p}) AS s{i} USING ({})",
                    using.join(", ")
                ));
            }
            self.run_query(&sql, &view.to_string()).await?;
            Ok(parts.len())
        })
    }

    fn project(&self) -> &str {
        &self.config.project
    }

    fn delete_table(&self, name: &TableName) -> Result<(), WarehouseError> {
        self.runtime.block_on(self.delete_async(name))
    }

    fn list_tables(&self, dataset: &str, prefix: &str) -> Result<Vec<TableName>, WarehouseError> {
        self.runtime.block_on(self.list_async(dataset, prefix))
    }

    fn table_metadata(&self, name: &TableName) -> Result<Option<TableMetadata>, WarehouseError> {
        let Some(table) = self.runtime.block_on(self.get_table(name))? else {
            return Ok(None);
        };
        let labels = table.labels.unwrap_or_default();
        let (Some(description), Some(updated), Some(version)) = (
            table.description,
            labels
                .get("last_updated")
                .and_then(|s| s.parse::<i64>().ok())
                .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0)),
            labels
                .get("schema_version")
                .and_then(|s| s.parse::<u32>().ok()),
        ) else {
            return Ok(None);
        };
        Ok(Some(TableMetadata {
            description,
            last_updated: updated,
            schema_version: version,
        }))
    }

    fn touch_table(&self, name: &TableName, when: DateTime<Utc>) -> Result<bool, WarehouseError> {
        self.runtime.block_on(async {
            let Some(table) = self.get_table(name).await? else {
                return Ok(false);
            };
            let labels = table.labels.unwrap_or_default();
            let metadata = TableMetadata {
                description: table.description.unwrap_or_default(),
                last_updated: when,
                schema_version: labels
                    .get("schema_version")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(jetstream_warehouse::SCHEMA_VERSION),
            };
            self.patch_metadata(name, &metadata).await?;
            Ok(true)
        })
    }

    fn dry_run(&self, query: &str) -> Result<u64, WarehouseError> {
        self.runtime.block_on(async {
            let sql = self.config.aliases.apply(query).into_owned();
            let mut request = QueryRequest::new(sql.clone());
            request.dry_run = Some(true);
            request.location.clone_from(&self.config.location);
            let qerr = |message: String| Self::query_error("dry run", &sql, message);
            let response = self
                .call("dry run", || {
                    self.client
                        .job()
                        .query(&self.config.project, request.clone())
                })
                .await
                .map_err(|e| qerr(e.message))?;
            if let Some(errors) = response.errors.as_deref().filter(|e| !e.is_empty()) {
                return Err(qerr(error_text(errors)));
            }
            Ok(response
                .total_bytes_processed
                .and_then(|b| b.parse().ok())
                .unwrap_or(0))
        })
    }

    fn query_columns(&self, query: &str) -> Result<Columns, WarehouseError> {
        self.runtime
            .block_on(self.run_query(query, "query"))
            .map(|r| r.columns)
    }

    fn append_logs(&self, table: &TableName, records: &[LogRecord]) -> Result<(), WarehouseError> {
        if records.is_empty() {
            return Ok(());
        }
        let columns = log_columns(records)?;
        self.runtime.block_on(async {
            self.ensure_dataset(&table.dataset).await?;
            self.load(table, &columns, "WRITE_APPEND").await
        })
    }

    fn table_reads(&self) -> jetstream_warehouse::TableReads {
        self.reads.lock().map(|r| r.clone()).unwrap_or_default()
    }

    fn usage(&self) -> QueryUsage {
        self.usage.lock().map(|u| *u).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(enc("moz-fx_1"), "moz-fx_1");
    }

    #[test]
    fn log_records_have_the_monitoring_columns() {
        let columns = log_columns(&[LogRecord::default()]).unwrap();
        assert_eq!(columns.names(), LOG_COLUMNS);
        assert_eq!(columns.rows(), 1);
    }
}
