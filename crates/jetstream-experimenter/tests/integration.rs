//! The HTTP client against a local fake Experimenter (wiremock on 127.0.0.1).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use jetstream_experimenter::client::{Client, ClientConfig, FetchError, fetch_blocking};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 26).expect("date")
}

fn recipe(slug: &str) -> serde_json::Value {
    serde_json::json!({
        "slug": slug, "appName": "fenix", "appId": "org.mozilla.firefox",
        "branches": [{"slug": "control", "ratio": 1}, {"slug": "treatment", "ratio": 1}],
        "startDate": "2026-10-01", "endDate": null, "enrollmentEndDate": "2026-10-08",
        "proposedEnrollment": 7, "referenceBranch": "control",
        "bucketConfig": {"randomizationUnit": "nimbus_id", "namespace": "n", "start": 0, "count": 100, "total": 10000},
        "outcomes": [{"slug": "default_browser", "priority": "primary"}], "segments": [], "isRollout": false
    })
}

fn config(server: &MockServer) -> ClientConfig {
    ClientConfig {
        base_url: server.uri(),
        timeout: Duration::from_millis(500),
        attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
        max_bytes: jetstream_experimenter::MAX_PAYLOAD_BYTES,
    }
}

/// An answer larger than the limit is refused with its size, not buffered, and not retried.
#[tokio::test]
async fn an_answer_beyond_the_limit_is_refused() {
    let server = MockServer::start().await;
    let body = serde_json::json!([recipe("a"), recipe("b"), recipe("c")]).to_string();
    Mock::given(method("GET"))
        .and(path("/api/v8/experiments/"))
        .respond_with(ResponseTemplate::new(200).set_body_string(body.clone()))
        .mount(&server)
        .await;
    let mut small = config(&server);
    small.max_bytes = 100;
    let err = Client::new(small)
        .expect("client")
        .experiments(today())
        .await
        .expect_err("too large");
    assert!(
        err.to_string().contains(&format!(
            "the answer is {} bytes or more: at most 100",
            body.len()
        )),
        "{err}"
    );
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "not retried"
    );
    // Within the limit, the same answer reads.
    let mut enough = config(&server);
    enough.max_bytes = body.len() as u64;
    let parsed = Client::new(enough)
        .expect("client")
        .experiments(today())
        .await
        .expect("fits");
    assert_eq!(parsed.experiments.len(), 3);
}

#[tokio::test]
async fn success_with_user_agent() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v8/experiments/"))
        .and(header("user-agent", "jetstream"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(serde_json::json!([recipe("a"), recipe("b")])),
        )
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::new(config(&server)).expect("client");
    let parsed = client.experiments(today()).await.expect("fetch");
    assert_eq!(parsed.experiments.len(), 2);
    assert_eq!(parsed.experiments[0].app_name, "fenix");
    assert_eq!(parsed.experiments[0].outcomes, vec!["default_browser"]);
}

/// Fails `failures` times with `status`, then answers.
struct Flaky {
    calls: Arc<AtomicUsize>,
    failures: usize,
    status: u16,
}

impl Respond for Flaky {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if n < self.failures {
            ResponseTemplate::new(self.status).set_body_string("try later")
        } else {
            ResponseTemplate::new(200).set_body_json(serde_json::json!([recipe("a")]))
        }
    }
}

/// A server on `/api/v8/experiments/` that fails `failures` times with `status`, and
/// the counter of requests it saw.
async fn flaky_server(failures: usize, status: u16) -> (MockServer, Arc<AtomicUsize>) {
    let server = MockServer::start().await;
    let calls = Arc::new(AtomicUsize::new(0));
    Mock::given(method("GET"))
        .and(path("/api/v8/experiments/"))
        .respond_with(Flaky {
            calls: calls.clone(),
            failures,
            status,
        })
        .mount(&server)
        .await;
    (server, calls)
}

#[tokio::test]
async fn retries_500_500_then_200() {
    let (server, calls) = flaky_server(2, 500).await;
    let parsed = Client::new(config(&server))
        .expect("client")
        .experiments(today())
        .await
        .expect("fetch");
    assert_eq!(parsed.experiments.len(), 1);
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn gives_up_after_the_configured_attempts() {
    let (server, calls) = flaky_server(10, 503).await;
    let err = Client::new(config(&server))
        .expect("client")
        .experiments(today())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, FetchError::RetriesExhausted { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (server, calls) = flaky_server(10, 403).await;
    let err = Client::new(config(&server))
        .expect("client")
        .experiments(today())
        .await
        .expect_err("must fail");
    assert!(
        matches!(err, FetchError::Status { status: 403, .. }),
        "{err}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(30)))
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.timeout = Duration::from_millis(200);
    let started = Instant::now();
    let err = Client::new(cfg)
        .expect("client")
        .experiments(today())
        .await
        .expect_err("must time out");
    let elapsed = started.elapsed();
    assert!(err.to_string().contains("no response within"), "{err}");
    // 3 attempts × 200 ms + backoff (10 + 20 ms), with slack for a loaded machine
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn malformed_json_is_an_error_naming_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("[{\"slug\": "))
        .mount(&server)
        .await;
    let err = Client::new(config(&server))
        .expect("client")
        .experiments(today())
        .await
        .expect_err("must fail");
    assert!(matches!(err, FetchError::Payload { .. }), "{err}");
    assert!(err.to_string().contains("/api/v8/experiments/"), "{err}");
}

#[tokio::test]
async fn one_invalid_recipe_among_valid_ones() {
    let server = MockServer::start().await;
    let bad = serde_json::json!({"id": null, "slug": "broken-one", "startDate": "not a date", "branches": [{"slug": "a"}]});
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([
            recipe("a"),
            bad,
            recipe("b")
        ])))
        .mount(&server)
        .await;
    let parsed = Client::new(config(&server))
        .expect("client")
        .experiments(today())
        .await
        .expect("fetch");
    let slugs: Vec<_> = parsed
        .experiments
        .iter()
        .map(|e| e.normandy_slug.as_str())
        .collect();
    assert_eq!(slugs, ["a", "b"]);
    assert_eq!(parsed.rejected.len(), 1);
    assert_eq!(parsed.rejected[0].0, "broken-one");
    assert!(parsed.rejected[0].1.contains("startDate"));
}

#[tokio::test]
async fn unknown_slug_is_not_found() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v8/experiments/nope/"))
        .respond_with(
            ResponseTemplate::new(404).set_body_json(serde_json::json!({"detail": "Not found."})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v8/experiments/a/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(recipe("a")))
        .mount(&server)
        .await;
    let client = Client::new(config(&server)).expect("client");
    let err = client.experiment("nope", today()).await.expect_err("404");
    assert!(matches!(err, FetchError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("not found"));
    let one = client.experiment("a", today()).await.expect("a");
    assert_eq!(one.experiments.len(), 1);
}

#[test]
fn blocking_fetch_reports_unknown_slugs_and_keeps_the_others() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let server = rt.block_on(async {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v8/experiments/a/"))
            .respond_with(ResponseTemplate::new(200).set_body_json(recipe("a")))
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/v8/experiments/bogus/"))
            .respond_with(ResponseTemplate::new(404))
            .mount(&server)
            .await;
        server
    });
    let parsed =
        fetch_blocking(config(&server), &["a".into(), "bogus".into()], today()).expect("fetch");
    assert_eq!(parsed.experiments.len(), 1);
    assert_eq!(
        parsed.rejected,
        vec![("bogus".to_string(), "not found in Experimenter".to_string())]
    );
    drop(rt);
}
