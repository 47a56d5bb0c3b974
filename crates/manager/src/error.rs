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
    /// The database failed. The caller sees only [`store_message`]: the database's own text
    /// (which may name tables, columns and values) stays the error's source, which the HTTP
    /// layer logs but never answers.
    #[error("{}", store_message(.0))]
    Store(#[from] StoreError),
    /// A peer answered unexpectedly.
    #[error(transparent)]
    Client(ClientError),
}

/// What a caller is told about a database failure: our own messages as they are, and only a
/// generic text for anything the database itself reported.
fn store_message(error: &StoreError) -> String {
    match error {
        StoreError::Unavailable(_) => "database unavailable".to_owned(),
        StoreError::NotSetUp | StoreError::InvalidExistingTransaction { .. } => error.to_string(),
        StoreError::CorruptRow { hash, .. } => {
            format!("stored transaction {hash} cannot be decoded")
        }
        _ => "database error".to_owned(),
    }
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
            Self::FeatureUnavailable(_) => ErrorKind::Disabled,
            Self::PushFailed(_) | Self::Internal(_) => ErrorKind::Refused,
            Self::Config(_) | Self::Client(_) => ErrorKind::Internal,
            Self::Enclave(e) => e.kind(),
            Self::Store(e) => e.kind(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_database_error_reaches_callers_only_as_a_generic_message() {
        let detail = "value too long for type character varying(2048)";
        let error = ManagerError::from(StoreError::Database(detail.into()));
        assert_eq!(error.to_string(), "database error");
        assert_eq!(error.kind(), ErrorKind::Internal);
        let source = error.source().expect("the database's text is the source");
        assert!(source.to_string().contains(detail), "{source}");

        let down = ManagerError::from(StoreError::Unavailable("host 10.0.0.7 refused".into()));
        assert_eq!(down.to_string(), "database unavailable");
        assert_eq!(down.kind(), ErrorKind::Unavailable);

        let ours = || StoreError::InvalidExistingTransaction { hash: "abc".into() };
        assert_eq!(ManagerError::from(ours()).to_string(), ours().to_string());
    }
}
