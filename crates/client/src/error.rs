use thiserror::Error;

/// What can go wrong calling another service.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The peer could not be reached: refused, timed out, reset (Tessera's NodeOfflineException;
    /// a send answers 410 and discovery drops the peer).
    #[error("node {url} is offline: {reason}")]
    Offline {
        /// The URL called.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// The peer answered with an unexpected status.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The URL called.
        url: String,
        /// The status code.
        status: u16,
        /// The plain-text body (truncated).
        body: String,
    },
    /// The peer answered 2xx with a body we cannot read.
    #[error("{url} answered with an unreadable body: {reason}")]
    Decode {
        /// The URL called.
        url: String,
        /// Why the body could not be read.
        reason: String,
    },
}

impl ClientError {
    pub(crate) fn from_reqwest(url: &str, error: &reqwest::Error) -> Self {
        if error.is_decode() || error.is_body() {
            Self::Decode {
                url: url.to_owned(),
                reason: error.to_string(),
            }
        } else {
            // Connection refused, timeouts, resets, TLS: the node is offline for our purposes.
            Self::Offline {
                url: url.to_owned(),
                reason: error_chain(error),
            }
        }
    }

    /// Whether this is [`ClientError::Offline`].
    pub fn is_offline(&self) -> bool {
        matches!(self, Self::Offline { .. })
    }
}

/// Whether a TLS error is among the causes: a certificate not trusted (ours by the peer or the
/// peer's by us), a handshake that failed. Such a call is refused, not transient; another
/// attempt would be refused the same way.
pub fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<rustls::Error>() {
            return true;
        }
        // tokio-rustls wraps the rustls error in an io::Error (sometimes in two), and an
        // io::Error's `source()` skips the error it wraps: follow `get_ref()` instead.
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => cause.source(),
        };
    }
    false
}

/// The error and its causes, one line (reqwest's own message alone is "error sending request").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
