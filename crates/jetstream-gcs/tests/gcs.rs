//! The GCS sink: the sink conformance suite and failed uploads against fake-gcs-server
//! (`STORAGE_EMULATOR_HOST`, started by `cargo xtask test`), then faults from a mock server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use jetstream_gcs::{Credentials, GcsBucket, GcsConfig, RetryPolicy};
use jetstream_output::{OutputError, OutputSink};

fn install_crypto() {
    // reqwest is built without a TLS provider of its own; installing twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A small runtime for the test's own requests (the sink has its own).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
        request_timeout: Duration::from_secs(30),
    }
}

/// The in-memory object store: the sink conformance suite, always run.
mod memory {
    use super::*;

    fn fresh() -> Box<dyn OutputSink> {
        Box::new(jetstream_gcs::ObjectStoreSink::memory().expect("memory store"))
    }

    jetstream_output::sink_conformance!(fresh);
}

mod emulator {
    use super::*;

    /// The emulator's base URL; the tests never skip silently without one.
    pub(crate) fn base() -> String {
        jetstream_gcp::emulator_host(jetstream_gcp::STORAGE_EMULATOR_HOST).unwrap_or_else(|| {
            panic!(
                "STORAGE_EMULATOR_HOST is not set: the GCS tests need fake-gcs-server. Run \
                 `cargo xtask test` (starts the emulators for the tests), or start them with \
                 `cargo xtask emulators` and export the variables it prints"
            )
        })
    }

    /// A new empty bucket with a unique name (cases run in parallel).
    pub(crate) fn new_bucket() -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "jetstream{}x{}x{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        install_crypto();
        let url = format!("{}/storage/v1/b?project=test", base());
        runtime().block_on(async {
            let response = reqwest::Client::new()
                .post(&url)
                .json(&serde_json::json!({ "name": name }))
                .send()
                .await
                .unwrap_or_else(|e| panic!("create bucket {name} at {url}: {e}"));
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "create bucket {name}: {status} {body}");
        });
        name
    }

    pub(crate) fn sink(bucket: &str) -> GcsBucket {
        GcsBucket::new(
            GcsConfig {
                bucket: bucket.to_string(),
                endpoint: Some(base()),
                retry: quick_retries(),
            },
            Credentials::anonymous(),
        )
        .expect("sink")
    }

    fn fresh() -> Box<dyn OutputSink> {
        Box::new(sink(&new_bucket()))
    }

    jetstream_output::sink_conformance!(
        fresh;
        #[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
    );

    /// `from_env` finds the emulator and needs no credentials there.
    #[test]
    #[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
    fn from_env_uses_the_emulator_without_credentials() {
        base();
        let bucket = new_bucket();
        let sink = GcsBucket::from_env(&bucket).expect("from_env");
        sink.put("metadata/metadata_x.json", b"{}").expect("put");
        assert_eq!(
            sink.get("metadata/metadata_x.json")
                .expect("get")
                .as_deref(),
            Some(&b"{}"[..])
        );
        assert_eq!(
            sink.location("metadata/metadata_x.json"),
            format!("gs://{bucket}/metadata/metadata_x.json")
        );
    }

    /// A bucket that does not exist: `put` and `list` fail naming it and the status.
    #[test]
    #[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
    fn a_missing_bucket_is_a_clear_error() {
        let sink = sink("jetstream-no-such-bucket");
        let err = sink.put("statistics/a.json", b"[]").expect_err("no bucket");
        let message = err.to_string();
        assert!(matches!(err, OutputError::Remote { .. }), "{message}");
        assert!(
            message.contains("gs://jetstream-no-such-bucket/statistics/a.json"),
            "{message}"
        );
        assert!(message.contains("404"), "{message}");
        let err = sink.list("statistics/").expect_err("no bucket");
        assert!(err.to_string().contains("404"), "{err}");
    }

    /// A request body that yields `first` and then fails: the body of a response a local
    /// server cuts off after its first chunk (a response's byte stream is a stream of
    /// `Result` chunks whose second item is an error).
    async fn failing_body(first: &'static [u8]) -> reqwest::Body {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
                first.len()
            );
            let _ = stream.write_all(first);
            let _ = stream.write_all(b"\r\n");
            let _ = stream.flush();
            // Long enough for the first chunk to be sent on; then the connection ends
            // without the last chunk: the body fails.
            std::thread::sleep(Duration::from_millis(500));
        });
        let response = reqwest::Client::new()
            .get(format!("http://{addr}/"))
            .send()
            .await
            .expect("source response");
        reqwest::Body::wrap_stream(response.bytes_stream())
    }

    /// Send an upload of `key` to the emulator, the way the sink does, with a body that fails
    /// midway; the upload must fail.
    fn failed_upload(bucket: &str, key: &str) {
        let mut url = url::Url::parse(&base()).expect("base");
        url.path_segments_mut()
            .expect("base path")
            .pop_if_empty()
            .extend(["upload", "storage", "v1", "b", bucket, "o"]);
        url.query_pairs_mut()
            .append_pair("uploadType", "media")
            .append_pair("name", key);
        install_crypto();
        runtime().block_on(async {
            let body = failing_body(b"[{\"metric\":\"partial\",").await;
            let sent = reqwest::Client::new()
                .post(url.clone())
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await;
            match sent {
                Err(e) => assert!(e.is_body() || e.is_request(), "unexpected error: {e:?}"),
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    assert!(
                        !status.is_success(),
                        "an upload whose body failed midway was accepted: {status} {text}"
                    );
                }
            }
        });
    }

    /// An upload that fails midway leaves no object at its name, and leaves the previous
    /// object there as it was.
    #[test]
    #[ignore = "emulators: needs STORAGE_EMULATOR_HOST (cargo xtask test starts fake-gcs-server)"]
    fn an_upload_failing_midway_leaves_no_partial_object() {
        let bucket = new_bucket();
        let sink = sink(&bucket);
        let fresh_key = "statistics/statistics_x_weekly.json";
        failed_upload(&bucket, fresh_key);
        assert_eq!(sink.get(fresh_key).expect("get"), None, "no partial object");
        assert_eq!(sink.modified(fresh_key).expect("modified"), None);
        assert_eq!(sink.list("").expect("list"), Vec::<String>::new());

        let key = "statistics/statistics_x_daily.json";
        sink.put(key, b"[\"v1\"]").expect("v1");
        let written = sink.modified(key).expect("modified").expect("v1 there");
        failed_upload(&bucket, key);
        assert_eq!(
            sink.get(key).expect("get").as_deref(),
            Some(&b"[\"v1\"]"[..]),
            "the previous object is intact"
        );
        assert_eq!(
            sink.modified(key).expect("modified"),
            Some(written),
            "the previous object was not replaced"
        );
        assert_eq!(sink.list("").expect("list"), [key]);
    }
}

mod faults {
    use super::*;
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    const UPLOAD: &str = "/upload/storage/v1/b/my-bucket/o";
    const KEY: &str = "statistics/statistics_x_weekly.json";

    fn sink(server: &MockServer, request_timeout: Duration) -> GcsBucket {
        GcsBucket::new(
            GcsConfig {
                bucket: "my-bucket".into(),
                endpoint: Some(server.uri()),
                retry: RetryPolicy {
                    request_timeout,
                    ..quick_retries()
                },
            },
            Credentials::anonymous(),
        )
        .expect("sink")
    }

    fn uploaded() -> ResponseTemplate {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "name": KEY, "bucket": "my-bucket", "updated": "2026-11-30T06:00:00.123Z"
        }))
    }

    /// Mock `responses` in order: the first `n - 1` once each, the last for good.
    fn mount(rt: &tokio::runtime::Runtime, server: &MockServer, responses: Vec<ResponseTemplate>) {
        let last = responses.len() - 1;
        for (i, response) in responses.into_iter().enumerate() {
            let mock = Mock::given(method("POST"))
                .and(path(UPLOAD))
                .and(query_param("uploadType", "media"))
                .and(query_param("name", KEY))
                .respond_with(response);
            let mock = if i < last {
                mock.up_to_n_times(1)
            } else {
                mock
            };
            rt.block_on(mock.mount(server));
        }
    }

    fn requests(rt: &tokio::runtime::Runtime, server: &MockServer) -> Vec<wiremock::Request> {
        rt.block_on(server.received_requests()).unwrap_or_default()
    }

    #[test]
    fn a_503_is_retried_and_the_upload_succeeds() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        mount(
            &rt,
            &server,
            vec![
                ResponseTemplate::new(503).set_body_json(
                    serde_json::json!({"error": {"code": 503, "message": "backend"}}),
                ),
                uploaded(),
            ],
        );
        sink(&server, Duration::from_secs(5))
            .put(KEY, b"[1]")
            .expect("put after a retry");
        let received = requests(&rt, &server);
        assert_eq!(received.len(), 2, "one failure, one retry");
        for r in &received {
            assert_eq!(r.body, b"[1]", "the whole body on every attempt");
            assert_eq!(
                r.headers.get("content-type").and_then(|v| v.to_str().ok()),
                Some("application/json")
            );
            assert!(
                r.headers.get("authorization").is_none(),
                "anonymous credentials send no Authorization header"
            );
            // The name is one query parameter, `/` included.
            assert!(
                r.url
                    .as_str()
                    .contains("name=statistics%2Fstatistics_x_weekly.json"),
                "{}",
                r.url
            );
        }
    }

    #[test]
    fn a_request_timing_out_is_retried() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        mount(
            &rt,
            &server,
            vec![uploaded().set_delay(Duration::from_secs(3)), uploaded()],
        );
        let started = std::time::Instant::now();
        sink(&server, Duration::from_millis(300))
            .put(KEY, b"[1]")
            .expect("put after a timeout");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "did not wait out the delay"
        );
        assert_eq!(requests(&rt, &server).len(), 2, "one timeout, one retry");
    }

    #[test]
    fn persistent_failures_give_up_after_the_attempts_with_the_last_error() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        mount(&rt, &server, vec![ResponseTemplate::new(500)]);
        let err = sink(&server, Duration::from_secs(5))
            .put(KEY, b"[1]")
            .expect_err("always 500");
        let message = err.to_string();
        assert!(message.contains("HTTP 500"), "{message}");
        assert!(
            message.contains(&format!("gs://my-bucket/{KEY}")),
            "{message}"
        );
        assert_eq!(requests(&rt, &server).len(), 3, "max_attempts");
    }

    #[test]
    fn a_403_is_a_clear_error_and_not_retried() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        mount(
            &rt,
            &server,
            vec![ResponseTemplate::new(403).set_body_json(serde_json::json!({
                "error": {
                    "code": 403,
                    "message": "jetstream@example.iam.gserviceaccount.com does not have storage.objects.create access",
                    "errors": [{"reason": "forbidden"}]
                }
            }))],
        );
        let err = sink(&server, Duration::from_secs(5))
            .put(KEY, b"[1]")
            .expect_err("forbidden");
        let message = err.to_string();
        assert!(matches!(err, OutputError::Remote { .. }), "{message}");
        assert!(
            message.contains(&format!("gs://my-bucket/{KEY}")),
            "{message}"
        );
        assert!(message.contains("403 Forbidden"), "{message}");
        assert!(
            message.contains("does not have storage.objects.create access"),
            "{message}"
        );
        assert_eq!(requests(&rt, &server).len(), 1, "not retried");
    }

    #[test]
    fn reads_encode_the_name_as_one_segment_and_404_is_absent() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        let object = "/storage/v1/b/my-bucket/o/statistics%2Fstatistics_x_weekly.json";
        rt.block_on(
            Mock::given(method("GET"))
                .and(path(object))
                .and(query_param("alt", "media"))
                .respond_with(ResponseTemplate::new(200).set_body_bytes(b"[1]".to_vec()))
                .mount(&server),
        );
        rt.block_on(
            Mock::given(method("GET"))
                .and(path(object))
                .respond_with(uploaded())
                .mount(&server),
        );
        let sink = sink(&server, Duration::from_secs(5));
        assert_eq!(sink.get(KEY).expect("get").as_deref(), Some(&b"[1]"[..]));
        assert_eq!(
            sink.modified(KEY)
                .expect("modified")
                .map(|t| t.to_rfc3339()),
            Some("2026-11-30T06:00:00.123+00:00".to_string())
        );
        // Anything else: wiremock answers 404.
        assert_eq!(sink.get("statistics/other.json").expect("get"), None);
        assert_eq!(
            sink.modified("statistics/other.json").expect("modified"),
            None
        );
    }

    #[test]
    fn listings_follow_page_tokens() {
        let rt = runtime();
        let server = rt.block_on(MockServer::start());
        let listing = "/storage/v1/b/my-bucket/o";
        rt.block_on(
            Mock::given(method("GET"))
                .and(path(listing))
                .and(query_param("prefix", "statistics/"))
                .and(query_param("pageToken", "page-2"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "items": [{"name": "statistics/a.json"}, {"name": "statistics//odd"}]
                })))
                .mount(&server),
        );
        rt.block_on(
            Mock::given(method("GET"))
                .and(path(listing))
                .and(query_param("prefix", "statistics/"))
                .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                    "items": [{"name": "statistics/c.json"}, {"name": "statistics/b.json"}],
                    "nextPageToken": "page-2"
                })))
                .mount(&server),
        );
        let keys = sink(&server, Duration::from_secs(5))
            .list("statistics/")
            .expect("list");
        assert_eq!(
            keys,
            [
                "statistics/a.json",
                "statistics/b.json",
                "statistics/c.json"
            ],
            "both pages, sorted, names that are not keys left out"
        );
        assert_eq!(requests(&rt, &server).len(), 2);
    }
}
