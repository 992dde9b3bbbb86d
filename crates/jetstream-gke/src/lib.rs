//! Google Cloud services around the Argo runs: tokens and the GKE lookup for the cluster
//! connection ([`GoogleApis`] implements [`jetstream_argo::GoogleCloud`]), and Artifact
//! Registry for image pinning ([`ArtifactRegistry`] implements
//! [`jetstream_argo::ImageRegistry`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use jetstream_argo::{CloudError, CloudErrorKind, GkeCluster, GkeEndpoint, Image, ImageRegistry};
use serde_json::Value;
use url::Url;

use jetstream_gcp::retry::{describe, status_message};
pub use jetstream_gcp::{Credentials, RetryPolicy};

/// A credentials failure as a [`CloudError`] (the message never holds a token or key).
fn credentials_error(e: jetstream_gcp::AuthError) -> CloudError {
    CloudError::new(
        CloudErrorKind::Credentials,
        format!("Google credentials ({})", e.source_name),
        e.message,
    )
}

/// The GKE API.
pub(crate) const CONTAINER_ENDPOINT: &str = "https://container.googleapis.com";
/// The Artifact Registry API.
pub(crate) const ARTIFACT_REGISTRY_ENDPOINT: &str = "https://artifactregistry.googleapis.com";

struct Inner {
    /// Found on first use: a `KUBECONFIG` connection with a pinned image needs no Google.
    credentials: tokio::sync::OnceCell<Credentials>,
    client: reqwest::Client,
    retry: RetryPolicy,
    container: String,
    artifacts: String,
}

/// A runtime that may be dropped anywhere, async code included (it shuts down in the
/// background instead of blocking).
struct OwnRuntime(Option<tokio::runtime::Runtime>);

impl OwnRuntime {
    fn get(&self) -> &tokio::runtime::Runtime {
        // Only `Drop` takes it out.
        self.0
            .as_ref()
            .unwrap_or_else(|| unreachable!("runtime taken before drop"))
    }
}

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Google's APIs with one set of credentials, on a private runtime (a synchronous facade
/// like the other clients of this crate; async callers get futures that run there).
#[derive(Clone)]
pub struct GoogleApis {
    inner: Arc<Inner>,
    runtime: Arc<OwnRuntime>,
}

impl std::fmt::Debug for GoogleApis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.inner.credentials.get() {
            Some(c) => write!(f, "GoogleApis({c:?})"),
            None => f.write_str("GoogleApis(Application Default Credentials, not loaded yet)"),
        }
    }
}

impl GoogleApis {
    /// With `credentials` (`None`: Application Default Credentials, found on first use);
    /// `container` and `artifacts` override the API endpoints (tests).
    pub fn new(
        credentials: Option<Credentials>,
        container: Option<&str>,
        artifacts: Option<&str>,
        retry: RetryPolicy,
    ) -> Result<Self, CloudError> {
        let setup = |e: String| CloudError::new(CloudErrorKind::Transport, "Google's APIs", e);
        let runtime = jetstream_gcp::runtime("google-apis").map_err(|e| setup(e.to_string()))?;
        let client = reqwest::Client::builder()
            .connect_timeout(retry.request_timeout)
            .build()
            .map_err(|e| setup(describe(&e)))?;
        let base = |v: Option<&str>, d: &str| v.unwrap_or(d).trim_end_matches('/').to_string();
        Ok(Self {
            inner: Arc::new(Inner {
                credentials: tokio::sync::OnceCell::new_with(credentials),
                client,
                retry,
                container: base(container, CONTAINER_ENDPOINT),
                artifacts: base(artifacts, ARTIFACT_REGISTRY_ENDPOINT),
            }),
            runtime: Arc::new(OwnRuntime(Some(runtime))),
        })
    }

    /// Application Default Credentials (found on first use) and Google's endpoints.
    pub fn application_default() -> Result<Self, CloudError> {
        Self::new(None, None, None, RetryPolicy::default())
    }

    async fn credentials(inner: &Inner) -> Result<&Credentials, CloudError> {
        inner
            .credentials
            .get_or_try_init(|| async {
                Credentials::application_default()
                    .await
                    .map_err(credentials_error)
            })
            .await
    }

    /// GET `url` as JSON (retried as every call of this crate).
    async fn get_json(inner: Arc<Inner>, url: Url, what: String) -> Result<Value, CloudError> {
        let credentials = Self::credentials(&inner).await?;
        let make = || inner.client.get(url.clone());
        let (status, body) = jetstream_gcp::retry::send(&inner.retry, credentials, &what, &make)
            .await
            .map_err(|e| CloudError::new(CloudErrorKind::Transport, &what, e))?;
        if !status.is_success() {
            return Err(CloudError::status_of(
                what,
                status.as_u16(),
                status_message(status, &body),
            ));
        }
        serde_json::from_slice(&body).map_err(|e| {
            CloudError::new(
                CloudErrorKind::Answer,
                &what,
                format!("the answer is not JSON: {e}"),
            )
            .with_source(e)
        })
    }

    /// Run `fut` on this facade's runtime (its HTTP connections live there).
    async fn on_runtime<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, CloudError>> + Send + 'static,
    ) -> Result<T, CloudError> {
        self.runtime.get().spawn(fut).await.map_err(|e| {
            CloudError::new(CloudErrorKind::Transport, "Google API task", e.to_string())
                .with_source(e)
        })?
    }

    fn url(base: &str, path: &str) -> Result<Url, CloudError> {
        let url = format!("{base}{path}");
        Url::parse(&url).map_err(|e| {
            CloudError::new(CloudErrorKind::Invalid, url, e.to_string()).with_source(e)
        })
    }
}

#[async_trait::async_trait]
impl jetstream_argo::GoogleCloud for GoogleApis {
    async fn access_token(&self) -> Result<String, CloudError> {
        let inner = self.inner.clone();
        self.on_runtime(async move {
            let credentials = |message: String| {
                CloudError::new(CloudErrorKind::Credentials, "Google credentials", message)
            };
            match Self::credentials(&inner).await?.token().await {
                Ok(Some(token)) => Ok(token),
                Ok(None) => Err(credentials(
                    "none (anonymous, for emulators): a cluster needs Application Default \
                     Credentials"
                        .into(),
                )),
                Err(e) => Err(credentials_error(e)),
            }
        })
        .await
    }

    async fn gke_endpoint(&self, cluster: &GkeCluster) -> Result<GkeEndpoint, CloudError> {
        let inner = self.inner.clone();
        let url = Self::url(
            &inner.container,
            &format!(
                "/v1/projects/{}/locations/{}/clusters/{}",
                cluster.project, cluster.zone, cluster.cluster_id
            ),
        )?;
        let what = format!("looking up the {cluster}");
        self.on_runtime(async move {
            let v = Self::get_json(inner, url, what.clone()).await?;
            let endpoint = v["endpoint"].as_str().filter(|s| !s.is_empty());
            let ca = v["masterAuth"]["clusterCaCertificate"]
                .as_str()
                .filter(|s| !s.is_empty());
            match (endpoint, ca) {
                (Some(e), Some(c)) => Ok(GkeEndpoint {
                    endpoint: e.to_string(),
                    ca_certificate: c.to_string(),
                }),
                _ => Err(CloudError::new(
                    CloudErrorKind::Answer,
                    what,
                    "the answer has no endpoint or masterAuth.clusterCaCertificate",
                )),
            }
        })
        .await
    }
}

/// Where an image lives in Artifact Registry: `LOCATION-docker.pkg.dev/PROJECT/REPO/IMAGE`,
/// or `[us.|eu.|asia.]gcr.io/PROJECT/IMAGE` (gcr.io repositories hosted by Artifact Registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactPath {
    /// Project.
    pub project: String,
    /// Location (`us`, `europe-west1`, …).
    pub location: String,
    /// Repository.
    pub repository: String,
    /// Image path inside the repository.
    pub image: String,
}

impl ArtifactPath {
    /// Parse an image name (no tag or digest).
    pub fn parse(name: &str) -> Result<Self, CloudError> {
        let bad = || {
            CloudError::new(
                CloudErrorKind::Invalid,
                format!("image {name:?}"),
                "expected LOCATION-docker.pkg.dev/PROJECT/REPOSITORY/IMAGE or gcr.io/PROJECT/IMAGE",
            )
        };
        let parts: Vec<&str> = name.split('/').collect();
        if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        let host = parts[0];
        if let Some(location) = host.strip_suffix("-docker.pkg.dev") {
            if parts.len() < 4 {
                return Err(bad());
            }
            return Ok(Self {
                project: parts[1].into(),
                location: location.into(),
                repository: parts[2].into(),
                image: parts[3..].join("/"),
            });
        }
        let location = match host {
            "gcr.io" | "us.gcr.io" => "us",
            "eu.gcr.io" => "europe",
            "asia.gcr.io" => "asia",
            _ => return Err(bad()),
        };
        Ok(Self {
            project: parts[1].into(),
            location: location.into(),
            repository: host.into(),
            image: parts[2..].join("/"),
        })
    }
}

/// Artifact Registry as the registry of the workflow's images.
#[derive(Debug, Clone)]
pub struct ArtifactRegistry {
    apis: GoogleApis,
}

impl ArtifactRegistry {
    /// Over these APIs.
    pub fn new(apis: GoogleApis) -> Self {
        Self { apis }
    }
}

impl ImageRegistry for ArtifactRegistry {
    fn images(&self, name: &str) -> Result<Vec<Image>, CloudError> {
        let path = ArtifactPath::parse(name)?;
        let inner = self.apis.inner.clone();
        let base = format!(
            "/v1/projects/{}/locations/{}/repositories/{}/dockerImages",
            path.project, path.location, path.repository
        );
        let needle = format!("/{}@sha256:", path.image);
        let name = name.to_string();
        self.apis.runtime.get().block_on(async move {
            let mut images = Vec::new();
            let mut page: Option<String> = None;
            loop {
                let mut url = Self::page_url(&inner.artifacts, &base)?;
                url.query_pairs_mut().append_pair("pageSize", "1000");
                if let Some(token) = &page {
                    url.query_pairs_mut().append_pair("pageToken", token);
                }
                let what = format!("listing the images of {name}");
                let v = GoogleApis::get_json(inner.clone(), url, what.clone()).await?;
                for image in v["dockerImages"].as_array().into_iter().flatten() {
                    let uri = image["uri"].as_str().unwrap_or_default();
                    if !uri.contains(&needle) {
                        continue;
                    }
                    let uploaded = image["uploadTime"]
                        .as_str()
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&Utc))
                        .ok_or_else(|| {
                            CloudError::new(
                                CloudErrorKind::Answer,
                                &what,
                                format!("{uri} has no uploadTime"),
                            )
                        })?;
                    images.push(Image {
                        reference: uri.to_string(),
                        uploaded,
                        tags: image["tags"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|t| t.as_str().map(str::to_string))
                            .collect(),
                    });
                }
                match v["nextPageToken"].as_str().filter(|t| !t.is_empty()) {
                    Some(t) => page = Some(t.to_string()),
                    None => return Ok(images),
                }
            }
        })
    }
}

impl ArtifactRegistry {
    fn page_url(base: &str, path: &str) -> Result<Url, CloudError> {
        GoogleApis::url(base, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths() {
        let p = ArtifactPath::parse("us-docker.pkg.dev/moz-fx-data-experiments/gcr.io/jetstream")
            .unwrap();
        assert_eq!(
            (
                p.project.as_str(),
                p.location.as_str(),
                p.repository.as_str(),
                p.image.as_str()
            ),
            ("moz-fx-data-experiments", "us", "gcr.io", "jetstream")
        );
        let p = ArtifactPath::parse("gcr.io/moz-fx-data-experiments/jetstream").unwrap();
        assert_eq!(
            (p.location.as_str(), p.repository.as_str()),
            ("us", "gcr.io")
        );
        let p = ArtifactPath::parse("europe-west1-docker.pkg.dev/p/r/team/jetstream").unwrap();
        assert_eq!(
            (p.location.as_str(), p.image.as_str()),
            ("europe-west1", "team/jetstream")
        );
        for bad in [
            "jetstream",
            "docker.io/library/jetstream",
            "gcr.io//x",
            "us-docker.pkg.dev/p/r",
        ] {
            let err = ArtifactPath::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
            assert_eq!(err.kind(), CloudErrorKind::Invalid);
        }
    }
}
