//! Submitting workflows to a Kubernetes cluster running Argo, and watching them.
//!
//! Workflows are `argoproj.io/v1alpha1` custom resources created through the Kubernetes API
//! (not the Argo server), as the reference does. The cluster is found in this order:
//!
//! 1. `--cluster-ip` and `--cluster-cert` (the API server's address and its CA certificate,
//!    base64 PEM as GKE gives it, or a PEM file), with a token from Google's Application Default
//!    Credentials;
//! 2. the kubeconfig named by `KUBECONFIG`, or the in-cluster service account inside a pod;
//! 3. the GKE cluster `--cluster-id` in `--zone` of `--project-id`, looked up through the GKE
//!    API (the reference's default), with an ADC token.
//!
//! Every API call has a timeout and is retried with backoff on timeouts, connection errors,
//! 429 and 5xx. A retried creation cannot create a workflow twice: the name is chosen here, and
//! a 409 on a retry is checked against the submission id this client put on the object.
//! Tokens are never logged or printed.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

use crate::CloudError;
use crate::status::WorkflowStatus;

/// The namespace workflows go to unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "argo";

/// The annotation carrying a submission's id (makes retried creations idempotent).
const SUBMISSION_ANNOTATION: &str = "jetstream.mozilla.org/submission-id";

/// A GKE cluster (`--cluster-id` in `--zone` of `--project-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GkeCluster {
    /// Google Cloud project.
    pub project: String,
    /// Zone or region.
    pub zone: String,
    /// Cluster name.
    pub cluster_id: String,
}

impl std::fmt::Display for GkeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GKE cluster {} in {} of project {}",
            self.cluster_id, self.zone, self.project
        )
    }
}

/// Where a GKE cluster's API server is.
#[derive(Clone, PartialEq, Eq)]
pub struct GkeEndpoint {
    /// Host or IP of the API server.
    pub endpoint: String,
    /// Its CA certificate, base64-encoded PEM (`masterAuth.clusterCaCertificate`).
    pub ca_certificate: String,
}

impl std::fmt::Debug for GkeEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GkeEndpoint({})", self.endpoint)
    }
}

/// What the cluster connection needs from Google Cloud: access tokens (ADC) and the GKE
/// lookup. `jetstream-gke` implements it.
#[async_trait::async_trait]
pub trait GoogleCloud: Send + Sync {
    /// An OAuth access token for the cluster's API server.
    async fn access_token(&self) -> Result<String, CloudError>;
    /// The API server of a GKE cluster.
    async fn gke_endpoint(&self, cluster: &GkeCluster) -> Result<GkeEndpoint, CloudError>;
}

/// Backoff of API calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub initial: Duration,
    /// Longest wait between attempts.
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 5,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
        }
    }
}

/// How to reach the cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Namespace of the workflows.
    pub namespace: String,
    /// `--cluster-ip`.
    pub cluster_ip: Option<String>,
    /// `--cluster-cert`: base64 PEM, or a PEM file.
    pub cluster_cert: Option<String>,
    /// Kubeconfig files (`KUBECONFIG`: several are merged, the first one's values winning).
    pub kubeconfig: Option<std::ffi::OsString>,
    /// Running inside a pod (`KUBERNETES_SERVICE_HOST` is set).
    pub in_cluster: bool,
    /// The GKE cluster to look up otherwise.
    pub gke: GkeCluster,
    /// The GKE cluster was named explicitly (`--cluster-id`/`--zone`): look it up even when a
    /// kubeconfig or an in-cluster account is there (which may be another cluster).
    pub prefer_gke: bool,
    /// Timeout of each API request.
    pub request_timeout: Duration,
    /// Retries of API requests.
    pub retry: Retry,
}

impl ClusterOptions {
    /// Options for `gke`, with the kubeconfig and in-cluster settings of this process's
    /// environment (`KUBECONFIG`, `KUBERNETES_SERVICE_HOST`).
    pub fn from_env(gke: GkeCluster) -> Self {
        Self {
            namespace: DEFAULT_NAMESPACE.into(),
            cluster_ip: None,
            cluster_cert: None,
            kubeconfig: std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()),
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            gke,
            prefer_gke: false,
            request_timeout: Duration::from_secs(30),
            retry: Retry::default(),
        }
    }
}

/// Why a cluster call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterError {
    /// The cluster could not be found or configured.
    #[error("connecting to the cluster ({via}): {message}")]
    Connect {
        /// Which way (`--cluster-ip`, kubeconfig path, in-cluster, GKE cluster).
        via: String,
        /// What went wrong.
        message: String,
    },
    /// The API server refused the credentials.
    #[error(
        "{action}: the Kubernetes API at {server} refused the credentials ({code} {reason}): \
         {message}. Check that the account has access to workflows in namespace {namespace} \
         (workflows/rbac.yaml) and that its credentials are current"
    )]
    Unauthorized {
        /// What was being done.
        action: String,
        /// API server.
        server: String,
        /// Namespace.
        namespace: String,
        /// 401 or 403.
        code: u16,
        /// Kubernetes' reason.
        reason: String,
        /// Kubernetes' message.
        message: String,
    },
    /// A workflow of that name exists already.
    #[error("{action}: a workflow named {name} already exists in namespace {namespace}")]
    Conflict {
        /// What was being done.
        action: String,
        /// The name.
        name: String,
        /// Namespace.
        namespace: String,
    },
    /// Any other refusal of the API.
    #[error("{action}: the Kubernetes API at {server} answered {code} {reason}: {message}")]
    Api {
        /// What was being done.
        action: String,
        /// API server.
        server: String,
        /// HTTP status.
        code: u16,
        /// Kubernetes' reason.
        reason: String,
        /// Kubernetes' message.
        message: String,
    },
    /// Retries ran out on timeouts, connection errors, 429 or 5xx.
    #[error("{action}: gave up after {attempts} attempts against {server}: {last}")]
    Exhausted {
        /// What was being done.
        action: String,
        /// API server.
        server: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        last: String,
    },
    /// A manifest that is not a workflow, or a response that cannot be read.
    #[error("{0}")]
    Invalid(String),
}

/// How requests are authenticated.
enum Auth {
    /// The configuration carries its own credentials (kubeconfig, in-cluster).
    Config,
    /// A bearer token from Google, fresh on every call (tokens expire within the hour;
    /// watching a daily workflow takes longer).
    Google(Arc<dyn GoogleCloud>),
}

/// A connection to the workflows of one namespace.
pub struct ArgoCluster {
    runtime: tokio::runtime::Runtime,
    config: kube::Config,
    auth: Auth,
    namespace: String,
    via: String,
    timeout: Duration,
    retry: Retry,
}

impl std::fmt::Debug for ArgoCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ArgoCluster({} via {}, namespace {})",
            self.server(),
            self.via,
            self.namespace
        )
    }
}

fn workflow_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "argoproj.io",
        "v1alpha1",
        "Workflow",
    ))
}

/// A kubeconfig for one API server and CA certificate (`cert`: base64 PEM, or a file).
fn direct_kubeconfig(server: &str, cert: &str) -> Result<Kubeconfig, String> {
    let server = if server.contains("://") {
        server.to_string()
    } else {
        format!("https://{server}")
    };
    if let Some(rest) = server.strip_prefix("http://") {
        // A bearer token must not travel in clear beyond this machine.
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if !matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") && !rest.starts_with("[::1]") {
            return Err(format!(
                "{server}: plain HTTP is only for this machine (127.0.0.1, localhost); use https"
            ));
        }
    }
    let ca = if server.starts_with("http://") {
        // Plain HTTP (a local proxy such as `kubectl proxy`, tests): no TLS, no CA.
        serde_json::json!({})
    } else if std::path::Path::new(cert).is_file() {
        serde_json::json!({"certificate-authority": cert})
    } else {
        serde_json::json!({"certificate-authority-data": cert.trim()})
    };
    let mut cluster = serde_json::json!({"server": server});
    cluster
        .as_object_mut()
        .ok_or("cluster entry")?
        .extend(ca.as_object().cloned().unwrap_or_default());
    let text = serde_json::json!({
        "apiVersion": "v1", "kind": "Config", "current-context": "jetstream",
        "clusters": [{"name": "jetstream", "cluster": cluster}],
        "users": [{"name": "jetstream", "user": {}}],
        "contexts": [{"name": "jetstream", "context": {"cluster": "jetstream", "user": "jetstream"}}],
    })
    .to_string();
    Kubeconfig::from_yaml(&text).map_err(|e| e.to_string())
}

fn submission_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    let mut n = h.finish();
    // Five characters of [a-z0-9], as Kubernetes' generateName suffixes.
    let alphabet = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| {
            let c = alphabet[(n % alphabet.len() as u64) as usize] as char;
            n /= alphabet.len() as u64;
            c
        })
        .collect()
}

/// Whether an error is worth another attempt.
fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(status) => status.code == 429 || status.code >= 500,
        kube::Error::HyperError(_) | kube::Error::Service(_) => true,
        _ => false,
    }
}

impl ArgoCluster {
    /// Connect as the module documentation describes; `google` gives tokens and the GKE
    /// lookup when those ways are used.
    pub fn connect(
        options: &ClusterOptions,
        google: Arc<dyn GoogleCloud>,
    ) -> Result<Self, ClusterError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ClusterError::Connect {
                via: "runtime".into(),
                message: e.to_string(),
            })?;
        let (config, auth, via) = runtime.block_on(Self::configure(options, &google))?;
        Ok(Self {
            runtime,
            config,
            auth,
            namespace: options.namespace.clone(),
            via,
            timeout: options.request_timeout,
            retry: options.retry,
        })
    }

    async fn configure(
        options: &ClusterOptions,
        google: &Arc<dyn GoogleCloud>,
    ) -> Result<(kube::Config, Auth, String), ClusterError> {
        let from_kubeconfig = |kc: Kubeconfig, via: &str| {
            let via = via.to_string();
            async move {
                let mut config =
                    kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
                        .await
                        .map_err(|e| ClusterError::Connect {
                            via: via.clone(),
                            message: e.to_string(),
                        })?;
                config.default_namespace = options.namespace.clone();
                config.connect_timeout = Some(options.request_timeout);
                config.read_timeout = Some(options.request_timeout);
                config.write_timeout = Some(options.request_timeout);
                Ok::<_, ClusterError>((config, via))
            }
        };
        match (&options.cluster_ip, &options.cluster_cert) {
            (Some(ip), Some(cert)) => {
                let via = format!("--cluster-ip {ip}");
                let kc = direct_kubeconfig(ip, cert).map_err(|message| ClusterError::Connect {
                    via: via.clone(),
                    message: format!("--cluster-cert: {message}"),
                })?;
                let (config, via) = from_kubeconfig(kc, &via).await?;
                return Ok((config, Auth::Google(google.clone()), via));
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(ClusterError::Connect {
                    via: "--cluster-ip/--cluster-cert".into(),
                    message: "give both --cluster-ip and --cluster-cert, or neither".into(),
                });
            }
            (None, None) => {}
        }
        if let Some(paths) = options.kubeconfig.as_ref().filter(|_| !options.prefer_gke) {
            let via = format!("kubeconfig {}", paths.to_string_lossy());
            let connect = |message: String| ClusterError::Connect {
                via: via.clone(),
                message,
            };
            let mut merged: Option<Kubeconfig> = None;
            for path in std::env::split_paths(paths).filter(|p| p.is_file()) {
                let kc = Kubeconfig::read_from(&path)
                    .map_err(|e| connect(format!("{}: {e}", path.display())))?;
                merged = Some(match merged {
                    None => kc,
                    Some(m) => m.merge(kc).map_err(|e| connect(e.to_string()))?,
                });
            }
            let kc = merged.ok_or_else(|| connect("no such file".into()))?;
            let (config, via) = from_kubeconfig(kc, &via).await?;
            return Ok((config, Auth::Config, via));
        }
        if options.in_cluster && !options.prefer_gke {
            let via = "in-cluster service account".to_string();
            let mut config = kube::Config::incluster().map_err(|e| ClusterError::Connect {
                via: via.clone(),
                message: e.to_string(),
            })?;
            config.default_namespace = options.namespace.clone();
            config.read_timeout = Some(options.request_timeout);
            return Ok((config, Auth::Config, via));
        }
        let via = options.gke.to_string();
        let endpoint =
            google
                .gke_endpoint(&options.gke)
                .await
                .map_err(|e| ClusterError::Connect {
                    via: via.clone(),
                    message: e.to_string(),
                })?;
        let kc =
            direct_kubeconfig(&endpoint.endpoint, &endpoint.ca_certificate).map_err(|message| {
                ClusterError::Connect {
                    via: via.clone(),
                    message: format!("the cluster's CA certificate: {message}"),
                }
            })?;
        let (config, via) = from_kubeconfig(kc, &via).await?;
        Ok((config, Auth::Google(google.clone()), via))
    }

    /// The API server's URL.
    pub fn server(&self) -> String {
        self.config.cluster_url.to_string()
    }

    /// How the cluster was found.
    pub fn via(&self) -> &str {
        &self.via
    }

    /// The namespace of the workflows.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    async fn api(&self) -> Result<Api<DynamicObject>, ClusterError> {
        let mut config = self.config.clone();
        if let Auth::Google(google) = &self.auth {
            let token = google
                .access_token()
                .await
                .map_err(|e| ClusterError::Connect {
                    via: self.via.clone(),
                    message: e.to_string(),
                })?;
            config.auth_info.token = Some(secrecy::SecretString::from(token));
        }
        let client = kube::Client::try_from(config).map_err(|e| ClusterError::Connect {
            via: self.via.clone(),
            message: e.to_string(),
        })?;
        Ok(Api::namespaced_with(
            client,
            &self.namespace,
            &workflow_resource(),
        ))
    }

    /// The error a failed call ends with.
    fn failure(&self, e: CallError, action: &str, name: &str) -> ClusterError {
        match e {
            CallError::Refused { status, .. } => self.refused(action, name, &status),
            CallError::Failed(e) => e,
        }
    }

    fn refused(&self, action: &str, name: &str, status: &kube::core::Status) -> ClusterError {
        match status.code {
            401 | 403 => ClusterError::Unauthorized {
                action: action.into(),
                server: self.server(),
                namespace: self.namespace.clone(),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            409 => ClusterError::Conflict {
                action: action.into(),
                name: name.into(),
                namespace: self.namespace.clone(),
            },
            code => ClusterError::Api {
                action: action.into(),
                server: self.server(),
                code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
        }
    }

    /// Run `call` with the timeout and retries (the backoff of [`Retry`]).
    async fn with_retries<T, F, Fut>(&self, action: &str, call: F) -> Result<T, CallError>
    where
        F: FnMut(Api<DynamicObject>) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        use backon::Retryable as _;
        /// A failed attempt: worth another (with what went wrong), or final.
        enum Failure {
            Transient(String),
            Final(CallError),
        }
        let attempts = self.retry.attempts.max(1);
        let call = std::cell::RefCell::new(call);
        let attempt = std::cell::Cell::new(0u32);
        let (call, attempt_no) = (&call, &attempt);
        let once = || async move {
            attempt_no.set(attempt_no.get() + 1);
            // A client (and, for Google, a token) per attempt: a token that could not be had
            // (the metadata server busy) may come next time.
            let api = match tokio::time::timeout(self.timeout, self.api()).await {
                Err(_) => {
                    return Err(Failure::Transient(format!(
                        "no token within {:?}",
                        self.timeout
                    )));
                }
                Ok(Err(e)) => return Err(Failure::Transient(e.to_string())),
                Ok(Ok(api)) => api,
            };
            let pending = (call.borrow_mut())(api);
            match tokio::time::timeout(self.timeout, pending).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) if transient(&e) => Err(Failure::Transient(match &e {
                    kube::Error::Api(s) => format!("{} {}: {}", s.code, s.reason, s.message),
                    other => other.to_string(),
                })),
                Ok(Err(kube::Error::Api(status))) => Err(Failure::Final(CallError::Refused {
                    status,
                    attempt: attempt_no.get(),
                })),
                Ok(Err(other)) => Err(Failure::Final(CallError::Failed(ClusterError::Invalid(
                    format!("{action}: {other}"),
                )))),
                Err(_) => Err(Failure::Transient(format!(
                    "no answer within {:?}",
                    self.timeout
                ))),
            }
        };
        let backoff = backon::ExponentialBuilder::new()
            .with_min_delay(self.retry.initial)
            .with_max_delay(self.retry.max)
            .with_max_times(attempts as usize - 1);
        once.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f| matches!(f, Failure::Transient(_)))
            .notify(|f, wait| {
                if let Failure::Transient(last) = f {
                    tracing::warn!(action, error = %last, ?wait, "Kubernetes API call failed; retrying");
                }
            })
            .await
            .map_err(|f| match f {
                Failure::Final(e) => e,
                Failure::Transient(last) => {
                    tracing::warn!(action, error = %last, "Kubernetes API call failed");
                    CallError::Failed(ClusterError::Exhausted {
                        action: action.into(),
                        server: self.server(),
                        attempts,
                        last,
                    })
                }
            })
    }

    /// Create `manifest` (a rendered Workflow) and return its name.
    pub fn submit(&self, manifest: &Value) -> Result<String, ClusterError> {
        self.runtime.block_on(self.submit_async(manifest))
    }

    async fn submit_async(&self, manifest: &Value) -> Result<String, ClusterError> {
        if manifest["kind"] != "Workflow" {
            return Err(ClusterError::Invalid(format!(
                "only a Workflow can be submitted, not {}",
                manifest["kind"]
            )));
        }
        let mut object: DynamicObject = serde_json::from_value(manifest.clone())
            .map_err(|e| ClusterError::Invalid(format!("the workflow manifest: {e}")))?;
        let id = submission_id();
        if object.metadata.name.is_none() {
            let prefix = object
                .metadata
                .generate_name
                .take()
                .unwrap_or_else(|| "jetstream-".into());
            object.metadata.name = Some(format!("{prefix}{id}"));
        }
        object
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(SUBMISSION_ANNOTATION.into(), id.clone());
        let name = object.metadata.name.clone().unwrap_or_default();
        let action = format!("creating workflow {name}");
        let result = self
            .with_retries(&action, |api| {
                let object = object.clone();
                async move { api.create(&PostParams::default(), &object).await }
            })
            .await;
        match result {
            Ok(created) => Ok(created.metadata.name.unwrap_or(name)),
            Err(CallError::Refused { status, attempt }) if status.code == 409 && attempt > 1 => {
                // An earlier attempt may have created it before its answer was lost.
                let existing = self.get(&name).await?;
                if existing["metadata"]["annotations"][SUBMISSION_ANNOTATION] == id.as_str() {
                    Ok(name)
                } else {
                    Err(self.refused(&action, &name, &status))
                }
            }
            Err(e) => Err(self.failure(e, &action, &name)),
        }
    }

    async fn get(&self, name: &str) -> Result<Value, ClusterError> {
        let action = format!("reading workflow {name}");
        let name = name.to_string();
        let object = self
            .with_retries(&action, |api| {
                let name = name.clone();
                async move { api.get(&name).await }
            })
            .await
            .map_err(|e| self.failure(e, &action, &name))?;
        serde_json::to_value(object)
            .map_err(|e| ClusterError::Invalid(format!("workflow {name}: {e}")))
    }

    /// A workflow labelled `key=value` that has not finished, if any (a daily run already
    /// submitted by an earlier attempt of the same job).
    pub fn find_active(&self, key: &str, value: &str) -> Result<Option<String>, ClusterError> {
        let selector = format!("{key}={value}");
        let action = format!("listing workflows labelled {selector}");
        let list = self
            .runtime
            .block_on(self.with_retries(&action, |api| {
                let params = kube::api::ListParams::default().labels(&selector);
                async move { api.list(&params).await }
            }))
            .map_err(|e| self.failure(e, &action, ""))?;
        for item in list.items {
            let object = serde_json::to_value(&item)
                .map_err(|e| ClusterError::Invalid(format!("{action}: {e}")))?;
            // The server filters by the selector; checked here too, so that a server (or a
            // proxy) that ignored it can never make one run follow another.
            if object["metadata"]["labels"][key] != value {
                continue;
            }
            let status = WorkflowStatus::from_object(&object);
            if !status.finished {
                return Ok(Some(status.name));
            }
        }
        Ok(None)
    }

    /// The status of workflow `name`.
    pub fn status(&self, name: &str) -> Result<WorkflowStatus, ClusterError> {
        let object = self.runtime.block_on(self.get(name))?;
        Ok(WorkflowStatus::from_object(&object))
    }

    /// Poll workflow `name` every `interval` until it finishes; `on_change` sees each new
    /// phase or progress. An API server out of reach (a control-plane upgrade takes minutes)
    /// is waited for up to `patience`; a refusal (401, 403, 404) ends the watch at once.
    pub fn wait(
        &self,
        name: &str,
        interval: Duration,
        patience: Duration,
        on_change: &mut dyn FnMut(&WorkflowStatus),
    ) -> Result<WorkflowStatus, ClusterError> {
        let mut seen: Option<(String, Option<String>)> = None;
        let mut last_answer = std::time::Instant::now();
        loop {
            let status = match self.status(name) {
                Ok(s) => s,
                Err(e @ ClusterError::Exhausted { .. }) if last_answer.elapsed() < patience => {
                    tracing::warn!(workflow = %name, error = %e, "no status yet; still waiting");
                    std::thread::sleep(interval);
                    continue;
                }
                Err(e) => return Err(e),
            };
            last_answer = std::time::Instant::now();
            let now = (status.phase.to_string(), status.progress.clone());
            if seen.as_ref() != Some(&now) {
                on_change(&status);
                seen = Some(now);
            }
            if status.finished {
                return Ok(status);
            }
            std::thread::sleep(interval);
        }
    }
}

/// A failed call: refused by the API (4xx other than 429), or failed otherwise.
enum CallError {
    Refused {
        status: Box<kube::core::Status>,
        attempt: u32,
    },
    Failed(ClusterError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn submission_ids_look_like_generated_names() {
        let id = submission_id();
        assert_eq!(id.len(), 5);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        );
    }

    #[test]
    fn direct_kubeconfig_takes_base64_or_a_file() {
        let kc = direct_kubeconfig("10.0.0.1", "TFMwdExTMUNSVWRKVGc9PQ==").unwrap();
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://10.0.0.1"));
        assert!(cluster.certificate_authority_data.is_some());
        let file = std::env::temp_dir().join(format!("jetstream-ca-{}.pem", std::process::id()));
        std::fs::write(&file, "-----BEGIN CERTIFICATE-----\n").unwrap();
        let kc = direct_kubeconfig("https://h:443", file.to_str().unwrap()).unwrap();
        let cluster = kc.clusters[0].cluster.as_ref().unwrap();
        assert_eq!(cluster.server.as_deref(), Some("https://h:443"));
        assert!(cluster.certificate_authority.is_some());
        std::fs::remove_file(file).unwrap();
    }
}
