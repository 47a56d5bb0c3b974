use thiserror::Error;
use tm_client::ClientError;
use tm_core::{Classify, ErrorKind};
use tm_enclave::EnclaveError;
use tm_store::StoreError;

/// Why an operation of the transaction manager failed. Each variant has an [`ErrorKind`]
/// ([`Classify`]); the HTTP layer turns kinds into Tessera's status codes in one place
/// (`tm_http::status_of`).
#[derive(Debug, Error)]
pub enum ManagerError {
    /// Malformed input (bad base64, undecodable payload). 400.
    #[error("{0}")]
    BadRequest(String),
    /// A privacy rule or a disabled feature forbids it. 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such transaction or recipient. 404.
    #[error("{0}")]
    NotFound(String),
    /// Remote key validation failed for every key a peer advertised (Tessera's
    /// SecurityException: 500 with an empty body).
    #[error("no key advertised by {0} could be validated")]
    KeyValidation(String),
    /// A feature this request needs is switched off in the config and Tessera answers 503
    /// for it (`GET /groups/resident` without multiple private states).
    #[error("{0}")]
    FeatureUnavailable(String),
    /// A recipient's node could not be reached. 410.
    #[error("{0}")]
    NodeOffline(String),
    /// A recipient's node answered a push with an error status (Tessera's
    /// PublishPayloadException). 500.
    #[error("{0}")]
    PushFailed(String),
    /// Any other failure Tessera reports as 500 with its message (e.g. no local key opens a
    /// payload: RecipientKeyNotFoundException).
    #[error("{0}")]
    Internal(String),
    /// The settings cannot be used.
    #[error("configuration: {0}")]
    Config(String),
    /// The enclave failed.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A peer answered unexpectedly.
    #[error(transparent)]
    Client(ClientError),
}

impl From<ClientError> for ManagerError {
    fn from(error: ClientError) -> Self {
        if error.is_offline() {
            Self::NodeOffline(error.to_string())
        } else {
            Self::Client(error)
        }
    }
}

impl Classify for ManagerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BadRequest(_) => ErrorKind::Invalid,
            Self::Forbidden(_) => ErrorKind::Forbidden,
            Self::NotFound(_) => ErrorKind::NotFound,
            Self::KeyValidation(_) => ErrorKind::KeyValidation,
            Self::NodeOffline(_) => ErrorKind::RecipientOffline,
            Self::FeatureUnavailable(_) => ErrorKind::Unavailable,
            Self::PushFailed(_) | Self::Internal(_) => ErrorKind::Refused,
            Self::Config(_) | Self::Client(_) => ErrorKind::Internal,
            Self::Enclave(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}
