//! The error of the cloud services behind [`GoogleCloud`](crate::GoogleCloud) and
//! [`ImageRegistry`](crate::ImageRegistry): what was being done, what went wrong, of which
//! kind, the HTTP status when the service answered one, and the cause.

/// A cause carried by a [`CloudError`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Which way a cloud call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloudErrorKind {
    /// No usable credentials (none found, or refused when a token was asked for).
    Credentials,
    /// The request is wrong before it is sent (an image name or URL that cannot be used).
    Invalid,
    /// The service answered with an error status ([`CloudError::status`]).
    Status,
    /// No answer: network, timeout, or the retries ran out.
    Transport,
    /// An answer that is not what the API documents (not JSON, a field missing).
    Answer,
}

/// A failed call to a cloud service: `"{what}: {message}"`.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct CloudError {
    kind: CloudErrorKind,
    what: String,
    message: String,
    status: Option<u16>,
    #[source]
    source: Option<BoxError>,
}

impl CloudError {
    /// An error of `kind` while doing `what`.
    pub fn new(kind: CloudErrorKind, what: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind,
            what: what.into(),
            message: message.into(),
            status: None,
            source: None,
        }
    }

    /// The service answered `status` (kind [`CloudErrorKind::Status`]).
    pub fn status_of(what: impl Into<String>, status: u16, message: impl Into<String>) -> Self {
        let mut e = Self::new(CloudErrorKind::Status, what, message);
        e.status = Some(status);
        e
    }

    /// The same error with `source` as its cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Which way it failed.
    pub fn kind(&self) -> CloudErrorKind {
        self.kind
    }

    /// What was being done.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status the service answered, if it answered one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether trying again later may help: no answer, or a status that says so (408, 429,
    /// 5xx). Credentials, invalid requests and other refusals will fail the same way.
    pub fn is_retryable(&self) -> bool {
        match self.kind {
            CloudErrorKind::Transport => true,
            CloudErrorKind::Status => self
                .status
                .is_some_and(|s| s == 408 || s == 429 || (500..600).contains(&s)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_what_and_the_status_decides_retries() {
        let e = CloudError::status_of("looking up the GKE cluster c", 404, "HTTP 404 Not Found");
        assert_eq!(
            e.to_string(),
            "looking up the GKE cluster c: HTTP 404 Not Found"
        );
        assert_eq!((e.kind(), e.status()), (CloudErrorKind::Status, Some(404)));
        assert!(!e.is_retryable());
        assert!(CloudError::status_of("x", 503, "busy").is_retryable());
        assert!(CloudError::status_of("x", 429, "slow down").is_retryable());
        assert!(CloudError::new(CloudErrorKind::Transport, "x", "timed out").is_retryable());
        assert!(!CloudError::new(CloudErrorKind::Credentials, "x", "none").is_retryable());
        let io = std::io::Error::other("cause");
        let e = CloudError::new(CloudErrorKind::Answer, "x", "not JSON").with_source(io);
        assert_eq!(
            std::error::Error::source(&e).map(ToString::to_string),
            Some("cause".to_string())
        );
    }
}
