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

/// The error and its causes, one line (reqwest's own message alone is "error sending request").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
