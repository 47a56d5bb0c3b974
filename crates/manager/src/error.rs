use thiserror::Error;
use tm_client::ClientError;
use tm_enclave::EnclaveError;
use tm_http::ApiError;
use tm_store::StoreError;

/// Why an operation of the transaction manager failed. Converted to Tessera's status codes
/// and plain-text bodies in one place: `impl From<ManagerError> for ApiError` below.
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

impl From<ManagerError> for ApiError {
    fn from(error: ManagerError) -> Self {
        match error {
            ManagerError::BadRequest(m) => ApiError::bad_request(m),
            ManagerError::Forbidden(m) => ApiError::forbidden(m),
            ManagerError::NotFound(m) => ApiError::not_found(m),
            ManagerError::KeyValidation(peer) => {
                tracing::warn!(%peer, "party info rejected: no advertised key could be validated");
                ApiError::internal("")
            }
            ManagerError::NodeOffline(m) => ApiError::gone(m),
            ManagerError::PushFailed(m) | ManagerError::Internal(m) => ApiError::internal(m),
            ManagerError::Config(m) => ApiError::internal(m),
            ManagerError::Enclave(e) => match e.status_code() {
                503 => ApiError::unavailable(e.to_string()),
                404 => ApiError::not_found(e.to_string()),
                400 => ApiError::bad_request(e.to_string()),
                _ => ApiError::internal(e.to_string()),
            },
            ManagerError::Store(e) if e.is_unavailable() => ApiError::unavailable(e.to_string()),
            ManagerError::Store(e) => ApiError::internal(e.to_string()),
            ManagerError::Client(e) => ApiError::internal(e.to_string()),
        }
    }
}
