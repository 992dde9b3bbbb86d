//! Credentials, found the way Google's own clients find them.
//!
//! * An emulator (`BIGQUERY_EMULATOR_HOST`, `STORAGE_EMULATOR_HOST`) gets no credentials.
//! * Otherwise Application Default Credentials: the JSON file named by
//!   `GOOGLE_APPLICATION_CREDENTIALS`, else gcloud's user credentials
//!   (`~/.config/gcloud/application_default_credentials.json`, from
//!   `gcloud auth application-default login`), else the metadata server (GKE workload
//!   identity, Compute Engine).
//!
//! Tokens are fetched and refreshed by `yup-oauth2` and never logged: [`Credentials`] prints
//! only its kind.

use std::path::PathBuf;
use std::sync::Arc;

/// The one OAuth scope asked for: BigQuery and GCS both accept it.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

/// Why credentials could not be found or a token could not be had.
#[derive(Debug, thiserror::Error)]
#[error("Google credentials ({source_name}): {message}")]
pub struct AuthError {
    /// Where the credentials came from (a file path, `metadata server`).
    pub source_name: String,
    /// What went wrong (never a token or key).
    pub message: String,
}

#[derive(Clone)]
enum Inner {
    Anonymous,
    OAuth {
        origin: String,
        authenticator: Arc<yup_oauth2::authenticator::DefaultAuthenticator>,
    },
}

/// A source of access tokens, or none (emulators).
#[derive(Clone)]
pub struct Credentials(Inner);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Inner::Anonymous => f.write_str("Credentials(anonymous)"),
            Inner::OAuth { origin, .. } => write!(f, "Credentials(OAuth from {origin})"),
        }
    }
}

fn default_adc_path() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".config/gcloud/application_default_credentials.json"))
}

impl Credentials {
    /// No credentials: requests carry no `Authorization` header (emulators).
    pub fn anonymous() -> Self {
        Self(Inner::Anonymous)
    }

    /// Whether these are the anonymous credentials.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.0, Inner::Anonymous)
    }

    /// Application Default Credentials (see the module documentation).
    pub async fn application_default() -> Result<Self, AuthError> {
        let err = |source_name: &str, message: String| AuthError {
            source_name: source_name.to_string(),
            message,
        };
        let explicit = std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from);
        let file = explicit
            .clone()
            .or_else(|| default_adc_path().filter(|p| p.is_file()));
        let Some(path) = file else {
            let origin = "metadata server";
            let opts = yup_oauth2::ApplicationDefaultCredentialsFlowOpts::default();
            let built = match yup_oauth2::ApplicationDefaultCredentialsAuthenticator::builder(opts)
                .await
            {
                yup_oauth2::authenticator::ApplicationDefaultCredentialsTypes::InstanceMetadata(
                    b,
                ) => b.build().await,
                yup_oauth2::authenticator::ApplicationDefaultCredentialsTypes::ServiceAccount(
                    b,
                ) => b.build().await,
            };
            let authenticator = built.map_err(|e| err(origin, e.to_string()))?;
            return Ok(Self(Inner::OAuth {
                origin: origin.into(),
                authenticator: Arc::new(authenticator),
            }));
        };
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|e| err(&origin, e.to_string()))?;
        let kind: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| err(&origin, format!("not JSON: {e}")))?;
        let authenticator = match kind.get("type").and_then(|t| t.as_str()) {
            Some("authorized_user") => {
                let secret: yup_oauth2::authorized_user::AuthorizedUserSecret =
                    serde_json::from_str(&text).map_err(|e| err(&origin, e.to_string()))?;
                yup_oauth2::AuthorizedUserAuthenticator::builder(secret)
                    .build()
                    .await
            }
            Some("service_account") => {
                let key: yup_oauth2::ServiceAccountKey =
                    serde_json::from_str(&text).map_err(|e| err(&origin, e.to_string()))?;
                yup_oauth2::ServiceAccountAuthenticator::builder(key)
                    .build()
                    .await
            }
            other => {
                return Err(err(
                    &origin,
                    format!(
                        "key \"type\" is {other:?}: expected \"service_account\" or \"authorized_user\""
                    ),
                ));
            }
        }
        .map_err(|e| err(&origin, e.to_string()))?;
        Ok(Self(Inner::OAuth {
            origin,
            authenticator: Arc::new(authenticator),
        }))
    }

    /// A bearer token for the cloud-platform scope; `None` for anonymous credentials.
    pub async fn token(&self) -> Result<Option<String>, AuthError> {
        match &self.0 {
            Inner::Anonymous => Ok(None),
            Inner::OAuth {
                origin,
                authenticator,
            } => {
                let token = authenticator
                    .token(&[CLOUD_PLATFORM_SCOPE])
                    .await
                    .map_err(|e| AuthError {
                        source_name: origin.clone(),
                        message: e.to_string(),
                    })?;
                token.token().map(|t| Some(t.to_string())).ok_or(AuthError {
                    source_name: origin.clone(),
                    message: "the token response carried no access token".into(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_kind() {
        assert_eq!(
            format!("{:?}", Credentials::anonymous()),
            "Credentials(anonymous)"
        );
        assert!(Credentials::anonymous().is_anonymous());
    }
}
