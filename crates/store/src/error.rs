use diesel::result::{DatabaseErrorKind, Error as DieselError};
use thiserror::Error;
use tm_core::CodecError;

use crate::url::SUPPORTED_URLS;

/// Tessera's startup failure when the transaction tables are missing or wrong
/// (docs/protocol.md §13.2).
pub const NOT_SET_UP_MESSAGE: &str =
    "The database has not been setup correctly. Please ensure transaction tables are present and correct";

/// Any failure of the store. Texts never contain the database password.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A `jdbc.url` for a database we do not support (H2, HSQLDB, MySQL, Oracle, ...).
    #[error("unsupported jdbc.url {url}: supported are {SUPPORTED_URLS}")]
    UnsupportedUrl {
        /// The URL with any password masked.
        url: String,
    },
    /// A `jdbc:postgresql:` or `jdbc:sqlite:` URL that does not parse.
    #[error("invalid jdbc.url {url}: {reason}")]
    InvalidUrl {
        /// The URL with any password masked.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database cannot be reached (down, refusing connections, connection lost, or no
    /// pooled connection free within the timeout). Retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The transaction tables are missing or do not have Tessera's columns.
    #[error("{NOT_SET_UP_MESSAGE}")]
    NotSetUp,
    /// Creating or upgrading the tables failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// A stored row that cannot be decoded (unknown codec, corrupted bytes).
    #[error("stored transaction {hash} cannot be decoded: {source}")]
    CorruptRow {
        /// Base64 hash of the row.
        hash: String,
        /// Why it does not decode.
        source: CodecError,
    },
    /// A payload was pushed for a hash we hold, but its cipher text, nonces, sender, privacy
    /// mode, exec hash or affected transactions differ from the stored copy
    /// (`TransactionManagerImpl.storePayload`, docs/protocol.md §10.2 step 6).
    #[error("Invalid existing transaction {hash}")]
    InvalidExistingTransaction {
        /// Base64 hash of the transaction.
        hash: String,
    },
    /// Any other error reported by the database.
    #[error("database error: {0}")]
    Database(String),
    /// A blocking database task panicked or was cancelled.
    #[error("database task failed: {0}")]
    Task(String),
}

impl StoreError {
    /// Whether the failure is the database being unreachable (worth a retry later).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

impl tm_core::Classify for StoreError {
    fn kind(&self) -> tm_core::ErrorKind {
        if self.is_unavailable() {
            tm_core::ErrorKind::Unavailable
        } else {
            tm_core::ErrorKind::Internal
        }
    }
}

impl From<DieselError> for StoreError {
    fn from(error: DieselError) -> Self {
        match &error {
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => Self::Unavailable(error.to_string()),
            DieselError::DatabaseError(_, info) if looks_disconnected(info.message()) => {
                Self::Unavailable(error.to_string())
            }
            _ => Self::Database(error.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for StoreError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(error.to_string())
    }
}

/// PostgreSQL reports a shutdown or lost backend as an ordinary error (SQLSTATE 57P01, 08xxx),
/// and a write on a server demoted under an open connection as 25006 (`cannot execute ... in a
/// read-only transaction`: nothing was written); diesel does not expose the SQLSTATE, so the
/// server's wording is matched.
fn looks_disconnected(message: &str) -> bool {
    const SIGNS: [&str; 7] = [
        "terminating connection",
        "server closed the connection",
        "no connection to the server",
        "could not connect",
        "connection refused",
        "the database system is shutting down",
        "read-only transaction",
    ];
    let lower = message.to_ascii_lowercase();
    SIGNS.iter().any(|sign| lower.contains(sign))
}
