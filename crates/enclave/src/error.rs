use thiserror::Error;
use tm_core::{Classify, CodecError, CryptoError, ErrorKind};

/// Any failure of an enclave operation, local or remote.
///
/// Messages name public keys at most; private keys and passwords never appear in them.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum EnclaveError {
    /// The remote enclave is down, timed out, or answered something that is not a valid
    /// response. Its kind is `Unavailable` (Tessera's `EnclaveNotAvailableException`).
    #[error("enclave not available: {0}")]
    Unavailable(String),
    /// A public key the enclave holds no private key for (e.g. an unknown sender). 404.
    #[error("{0}")]
    KeyNotFound(String),
    /// Input that cannot be read: bad base64, bad JSON, an undecodable payload. 400.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A well-formed request the enclave could not carry out (a box that does not open, a key
    /// that is not a recipient). 500, as Tessera's enclave answers every failure.
    #[error("{0}")]
    Failed(String),
    /// A request larger than the enclave accepts (its body limit, or one the remote enclave
    /// answered 413 for). 413.
    #[error("request too large for the enclave: {0}")]
    TooLarge(String),
    /// The enclave has no keys (no default key to give).
    #[error("the enclave holds no keys")]
    NoKeys,
}

impl Classify for EnclaveError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::KeyNotFound(_) => ErrorKind::NotFound,
            Self::BadRequest(_) => ErrorKind::Invalid,
            Self::TooLarge(_) => ErrorKind::TooLarge,
            Self::Failed(_) | Self::NoKeys => ErrorKind::Refused,
        }
    }
}

impl From<CryptoError> for EnclaveError {
    fn from(error: CryptoError) -> Self {
        match error {
            CryptoError::UnknownKey(key) => {
                Self::KeyNotFound(format!("No key found for public key {key}"))
            }
            CryptoError::KeyLength { .. } | CryptoError::NonceLength(_) => {
                Self::BadRequest(error.to_string())
            }
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<CodecError> for EnclaveError {
    fn from(error: CodecError) -> Self {
        Self::BadRequest(error.to_string())
    }
}
