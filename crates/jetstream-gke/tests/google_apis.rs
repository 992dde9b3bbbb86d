//! The GKE lookup and Artifact Registry listing against a fake Google API (wiremock): paths,
//! paging, the image filter, retries of 5xx, and errors that name what was asked.

use std::time::Duration;

use jetstream_argo::{CloudErrorKind, GkeCluster, GoogleCloud, ImageChoice, ImageRegistry};
use jetstream_gke::{ArtifactRegistry, Credentials, GoogleApis, RetryPolicy};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use jetstream_test_support::FakeServer as Fake;

trait FakeGoogle {
    fn apis(&self) -> GoogleApis;
}

impl FakeGoogle for Fake {
    fn apis(&self) -> GoogleApis {
        let retry = RetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            request_timeout: Duration::from_secs(5),
        };
        let uri = self.uri();
        GoogleApis::new(
            Some(Credentials::anonymous()),
            Some(&uri),
            Some(&uri),
            retry,
        )
        .unwrap()
    }
}

#[test]
fn gke_cluster_lookup() {
    let fake = Fake::new();
    fake.mount(
        Mock::given(method("GET"))
            .and(path(
                "/v1/projects/p/locations/us-central1-a/clusters/jetstream",
            ))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(1)
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(
                "/v1/projects/p/locations/us-central1-a/clusters/jetstream",
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": "jetstream", "endpoint": "34.1.2.3",
                "masterAuth": {"clusterCaCertificate": "LS0tLS1CRUdJTg=="}})))
            .with_priority(2),
    );
    let apis = fake.apis();
    let cluster = GkeCluster {
        project: "p".into(),
        zone: "us-central1-a".into(),
        cluster_id: "jetstream".into(),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let endpoint = rt.block_on(apis.gke_endpoint(&cluster)).unwrap();
    assert_eq!(endpoint.endpoint, "34.1.2.3");
    assert_eq!(endpoint.ca_certificate, "LS0tLS1CRUdJTg==");
    let missing = GkeCluster {
        cluster_id: "nope".into(),
        ..cluster
    };
    let err = rt.block_on(apis.gke_endpoint(&missing)).unwrap_err();
    assert!(err.to_string().contains("GKE cluster nope"), "{err}");
    assert_eq!(
        (err.kind(), err.status()),
        (CloudErrorKind::Status, Some(404))
    );
    assert!(!err.is_retryable(), "a missing cluster stays missing");
    // Anonymous credentials cannot authenticate to a cluster: said plainly.
    let err = rt.block_on(apis.access_token()).unwrap_err();
    assert!(
        err.to_string().contains("Application Default Credentials"),
        "{err}"
    );
    assert_eq!(err.kind(), CloudErrorKind::Credentials);
}

#[test]
fn artifact_registry_lists_every_page_and_keeps_the_image() {
    let fake = Fake::new();
    let images =
        "/v1/projects/moz-fx-data-experiments/locations/us/repositories/gcr.io/dockerImages";
    let image = |name: &str, digest: &str, at: &str, tags: &[&str]| {
        json!({"name": format!("projects/x/dockerImages/{name}@sha256:{digest}"),
               "uri": format!("us-docker.pkg.dev/moz-fx-data-experiments/gcr.io/{name}@sha256:{digest}"),
               "tags": tags, "uploadTime": at})
    };
    fake.mount(
        Mock::given(method("GET"))
            .and(path(images))
            .and(query_param("pageToken", "2"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"dockerImages": [
                    image("jetstream", "xxxxx", "2023-03-01T00:00:00Z", &["latest", "breaking"]),
                ]})),
            )
            .with_priority(1),
    );
    fake.mount(
        Mock::given(method("GET"))
            .and(path(images))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"dockerImages": [
                image("jetstream", "8c766a", "2023-01-01T00:00:00Z", &[]),
                image("unrelated", "aaaaa", "2024-01-01T00:00:00Z", &["latest"]),
                image("jetstream-old", "bbbbb", "2024-01-01T00:00:00Z", &[]),
            ], "nextPageToken": "2"})),
            )
            .with_priority(2),
    );
    let registry = ArtifactRegistry::new(fake.apis());
    let name = "us-docker.pkg.dev/moz-fx-data-experiments/gcr.io/jetstream";
    let found = registry.images(name).unwrap();
    let digests: Vec<&str> = found
        .iter()
        .map(|i| i.reference.rsplit(':').next().unwrap())
        .collect();
    assert_eq!(digests, ["8c766a", "xxxxx"]);
    assert_eq!(found[1].tags, ["latest", "breaking"]);
    // The reference's pinned case through the registry: breaking moves the anchor.
    let first = chrono::DateTime::parse_from_rfc3339("2023-01-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let pinned = ImageChoice::new(name, None)
        .resolve(&found, Some(first))
        .unwrap();
    assert!(pinned.ends_with("@sha256:xxxxx"), "{pinned}");
    let err = registry.images("docker.io/library/jetstream").unwrap_err();
    assert!(
        err.to_string().contains("docker.io/library/jetstream"),
        "{err}"
    );
    assert_eq!(err.kind(), CloudErrorKind::Invalid);
}
