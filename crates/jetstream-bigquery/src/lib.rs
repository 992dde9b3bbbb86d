//! The BigQuery warehouse: [`BigQueryWarehouse`] implements
//! [`Warehouse`](jetstream_warehouse::Warehouse) over BigQuery's jobs API (through
//! `gcp-bigquery-client`), with statistics rows written by load jobs.
//!
//! The endpoint is found as Google's clients find it: `BIGQUERY_EMULATOR_HOST`
//! (`http://HOST:PORT`) switches to an emulator, without credentials
//! ([`BigQueryConfig::from_env`]). Errors say whether they are worth retrying
//! ([`jetstream_warehouse::WarehouseError::is_retryable`]); requests are retried with the
//! policy of [`jetstream_gcp::RetryPolicy`].

mod values;
mod warehouse;

pub use jetstream_gcp::{Credentials, RetryPolicy};
pub use warehouse::{BigQueryConfig, BigQueryWarehouse};

/// The BigQuery client's view of [`Credentials`].
#[derive(Clone)]
struct BigQueryAuth(Credentials);

#[async_trait::async_trait]
impl gcp_bigquery_client::auth::Authenticator for BigQueryAuth {
    async fn access_token(&self) -> Result<String, gcp_bigquery_client::error::BQError> {
        // The client always sends a bearer header; emulators ignore it.
        match self.0.token().await {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Ok("anonymous".into()),
            Err(e) => Err(
                gcp_bigquery_client::error::BQError::InvalidServiceAccountAuthenticator(
                    std::io::Error::other(e.to_string()),
                ),
            ),
        }
    }
}
