//! Fault injection on the BigQuery REST protocol (wiremock): retries with backoff, clear
//! errors, polling, and the bytes-billed cap.

use std::time::Duration;

use jetstream_bigquery::{BigQueryConfig, BigQueryWarehouse, Credentials, RetryPolicy};
use jetstream_test_support::FakeServer;
use jetstream_warehouse::{TableName, Warehouse};
use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, ResponseTemplate};

const QUERIES: &str = "/bigquery/v2/projects/p/queries";

/// The fake BigQuery REST API: a wiremock server on its own runtime (the clients under test
/// block on theirs).
struct Fake(FakeServer);

impl Fake {
    fn new() -> Self {
        Self(FakeServer::new())
    }

    fn mount(&self, mock: Mock) {
        self.0.mount(mock);
    }

    fn warehouse(&self, tweak: impl FnOnce(&mut BigQueryConfig)) -> BigQueryWarehouse {
        let mut config = BigQueryConfig::new("p");
        config.endpoint = Some(self.0.uri());
        config.retry = RetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(80),
            request_timeout: Duration::from_millis(800),
        };
        tweak(&mut config);
        BigQueryWarehouse::open(config, Credentials::anonymous()).unwrap()
    }

    fn requests(&self, to: &str) -> Vec<Value> {
        self.0
            .requests_to(to)
            .into_iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }
}

fn error(code: u16, status: &str, reason: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {
        "code": code, "message": message, "status": status,
        "errors": [{"reason": reason, "message": message, "domain": "global"}]}}))
}

fn rows_answer(job: &str, complete: bool) -> Value {
    let mut answer = json!({
        "kind": "bigquery#queryResponse",
        "jobReference": {"projectId": "p", "jobId": job, "location": "US"},
        "jobComplete": complete,
    });
    if complete {
        answer["schema"] =
            json!({"fields": [{"name": "x", "type": "INTEGER", "mode": "NULLABLE"}]});
        answer["rows"] = json!([{"f": [{"v": "7"}]}]);
        answer["totalRows"] = json!("1");
    }
    answer
}

fn job_stats(fake: &Fake, job: &str) {
    fake.mount(
        Mock::given(method("GET"))
            .and(path(format!("/bigquery/v2/projects/p/jobs/{job}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "jobReference": {"projectId": "p", "jobId": job},
                "status": {"state": "DONE"},
                "statistics": {"totalBytesProcessed": "1048576", "totalSlotMs": "250"}}))),
    );
}

fn x(wh: &BigQueryWarehouse) -> String {
    let cols = wh.query_columns("SELECT 7 AS x").expect("query");
    cols.get("x").unwrap().display(0)
}

#[test]
fn server_errors_are_retried_with_backoff() {
    for (code, status, reason) in [
        (500, "INTERNAL", "backendError"),
        (503, "UNAVAILABLE", "backendError"),
        (403, "PERMISSION_DENIED", "rateLimitExceeded"),
        (400, "INVALID_ARGUMENT", "jobRateLimitExceeded"),
    ] {
        let fake = Fake::new();
        fake.mount(
            Mock::given(method("POST"))
                .and(path(QUERIES))
                .respond_with(error(code, status, reason, "try again"))
                .up_to_n_times(2)
                .with_priority(1),
        );
        fake.mount(
            Mock::given(method("POST"))
                .and(path(QUERIES))
                .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("j1", true))),
        );
        job_stats(&fake, "j1");
        let wh = fake.warehouse(|_| {});
        assert_eq!(x(&wh), "7", "{code} {reason}");
        let sent = fake.requests(QUERIES);
        assert_eq!(
            sent.len(),
            3,
            "two failures, then success ({code} {reason})"
        );
        assert_eq!(
            sent[0]["requestId"], sent[2]["requestId"],
            "retries reuse the request id, so BigQuery runs the query once"
        );
        assert_eq!(wh.usage().bytes_processed, 1_048_576);
        assert_eq!(wh.usage().slot_millis, 250);
    }
}

#[test]
fn timeouts_are_retried_and_retries_end() {
    let fake = Fake::new();
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(rows_answer("j1", true))
                    .set_delay(Duration::from_secs(3)),
            )
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("j1", true))),
    );
    job_stats(&fake, "j1");
    let wh = fake.warehouse(|_| {});
    assert_eq!(x(&wh), "7");
    assert_eq!(
        fake.requests(QUERIES).len(),
        2,
        "the slow answer was abandoned"
    );

    let down = Fake::new();
    down.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(error(
                503,
                "UNAVAILABLE",
                "backendError",
                "down for maintenance",
            )),
    );
    let wh = down.warehouse(|_| {});
    let err = wh.query_columns("SELECT 7 AS x").unwrap_err().to_string();
    assert!(
        err.contains("503") && err.contains("down for maintenance"),
        "{err}"
    );
    assert_eq!(
        down.requests(QUERIES).len(),
        4,
        "max_attempts, then the last error"
    );
}

#[test]
fn permission_and_missing_objects_are_reported_clearly_without_retries() {
    let fake = Fake::new();
    let table = "/bigquery/v2/projects/p/datasets/ds/tables/statistics_slug_weekly";
    fake.mount(Mock::given(method("GET")).and(path(table)).respond_with(error(
        403,
        "PERMISSION_DENIED",
        "accessDenied",
        "Access Denied: Table p:ds.statistics_slug_weekly: Permission bigquery.tables.get denied",
    )));
    let wh = fake.warehouse(|_| {});
    let name = TableName::new("ds", "statistics_slug_weekly").unwrap();
    let err = wh.table_exists(&name).unwrap_err().to_string();
    assert!(
        err.contains("`p.ds.statistics_slug_weekly`") && err.contains("HTTP 403"),
        "names the table and the status: {err}"
    );
    assert!(err.contains("accessDenied"), "{err}");
    assert_eq!(fake.requests(table).len(), 1, "403 is not retried");

    // A job that vanished while it was polled.
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("job_42", false))),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path("/bigquery/v2/projects/p/queries/job_42"))
            .respond_with(error(
                404,
                "NOT_FOUND",
                "notFound",
                "Not found: Job p:US.job_42",
            )),
    );
    let err = wh.query_columns("SELECT 7 AS x").unwrap_err().to_string();
    assert!(err.contains("job_42") && err.contains("HTTP 404"), "{err}");
    assert!(err.contains("SELECT 7 AS x"), "names the query: {err}");
}

#[test]
fn errors_in_a_200_answer_are_errors_naming_the_query() {
    let fake = Fake::new();
    let mut answer = rows_answer("j1", true);
    answer["errors"] = json!([{"reason": "invalidQuery", "message": "Unrecognized name: nope"}]);
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer)),
    );
    let wh = fake.warehouse(|_| {});
    let err = wh
        .query_columns("SELECT nope FROM t")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalidQuery: Unrecognized name: nope"),
        "{err}"
    );
    assert!(err.contains("query: SELECT nope FROM t"), "{err}");
}

#[test]
fn unfinished_jobs_are_polled_until_complete() {
    let fake = Fake::new();
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("slow", false))),
    );
    let results = "/bigquery/v2/projects/p/queries/slow";
    fake.mount(
        Mock::given(method("GET"))
            .and(path(results))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("slow", false)))
            .up_to_n_times(2)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(results))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("slow", true))),
    );
    job_stats(&fake, "slow");
    let wh = fake.warehouse(|_| {});
    assert_eq!(x(&wh), "7");
    assert_eq!(fake.requests(results).len(), 3, "polled until complete");

    // A job that never completes is cancelled at the query timeout.
    let stuck = Fake::new();
    stuck.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("stuck", false))),
    );
    stuck.mount(
        Mock::given(method("GET"))
            .and(path("/bigquery/v2/projects/p/queries/stuck"))
            .respond_with(ResponseTemplate::new(200).set_body_json(rows_answer("stuck", false))),
    );
    stuck.mount(
        Mock::given(method("POST"))
            .and(path("/bigquery/v2/projects/p/jobs/stuck/cancel"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"kind": "bigquery#jobCancelResponse"})),
            ),
    );
    let wh = stuck.warehouse(|c| c.query_timeout = Duration::from_millis(300));
    let err = wh.query_columns("SELECT 7 AS x").unwrap_err().to_string();
    assert!(
        err.contains("stuck") && err.contains("did not finish"),
        "{err}"
    );
    assert_eq!(
        stuck
            .requests("/bigquery/v2/projects/p/jobs/stuck/cancel")
            .len(),
        1,
        "cancelled"
    );
}

#[test]
fn maximum_bytes_billed_goes_with_every_job_and_fails_clearly() {
    let fake = Fake::new();
    fake.mount(
        Mock::given(method("POST"))
            .and(path(QUERIES))
            .and(body_partial_json(json!({"maximumBytesBilled": "1000000"})))
            .respond_with(error(
                400,
                "INVALID_ARGUMENT",
                "bytesBilledLimitExceeded",
                "Query exceeded limit for bytes billed: 1000000. 20971520 or higher required.",
            )),
    );
    let wh = fake.warehouse(|c| c.maximum_bytes_billed = Some(1_000_000));
    let err = wh
        .write_table(
            &TableName::new("ds", "enrollments_slug").unwrap(),
            "SELECT * FROM huge",
            &jetstream_warehouse::TableMetadata::now("slug"),
        )
        .unwrap_err()
        .to_string();
    // The dataset is created first (the fake has no dataset endpoint: 404 is not retried).
    assert!(err.contains("ds"), "{err}");
    let query = fake.warehouse(|c| c.maximum_bytes_billed = Some(1_000_000));
    let err = query
        .query_columns("SELECT * FROM huge")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bytesBilledLimitExceeded"), "{err}");
    assert!(err.contains("limit for bytes billed: 1000000"), "{err}");
    assert!(err.contains("SELECT * FROM huge"), "{err}");
    assert_eq!(fake.requests(QUERIES).len(), 1, "not retried");
}
