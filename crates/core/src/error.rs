use thiserror::Error;

/// Any error of the core crate.
#[derive(Debug, Error)]
pub enum CoreError {
    /// Bytes that do not decode as a payload or party info.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// A key, box or cipher text that does not open.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A key file that cannot be read or written.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
}

/// Bytes from the network or the database that are not a valid encoding.
///
/// The messages name what was wrong and where, never the bytes themselves.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CodecError {
    /// The input ended inside a field.
    #[error("truncated input: needed {needed} more bytes for {what}")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// How many bytes were missing.
        needed: u64,
    },
    /// A length or count that is negative or larger than Tessera accepts.
    #[error("invalid length {value} for {what}")]
    BadLength {
        /// What was being read.
        what: &'static str,
        /// The length as read (signed, as Java reads it).
        value: i64,
    },
    /// Structurally invalid data (wrong CBOR type, bad UTF-8, ...).
    #[error("invalid payload data: {0}")]
    Invalid(String),
    /// A payload that breaks the `EncodedPayload` builder invariants (docs/protocol.md §1.1).
    #[error("invalid payload: {0}")]
    Invariant(&'static str),
    /// Base64 text that does not decode.
    #[error("invalid base64 for {what}")]
    Base64 {
        /// What was being decoded.
        what: &'static str,
    },
}

/// A failure of a NaCl operation or of the key material given to it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// A key of the wrong length for NaCl (32 bytes).
    #[error("{what} must be 32 bytes, got {len}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A nonce of the wrong length for NaCl (24 bytes).
    #[error("nonce must be 24 bytes, got {0}")]
    NonceLength(usize),
    /// Authentication failed: wrong key, or tampered data.
    #[error("could not open {0}: wrong key or corrupted data")]
    Open(&'static str),
    /// We hold no private key for this public key.
    #[error("no private key held for public key {0}")]
    UnknownKey(String),
    /// The key is not among the payload's recipients.
    #[error("key {0} is not a recipient of this payload")]
    NotARecipient(String),
    /// The payload has no recipient box to open.
    #[error("payload has no recipient box")]
    NoBox,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Random,
}

/// A key file that cannot be parsed, unlocked or written.
#[derive(Debug, Error)]
pub enum KeyFileError {
    /// The JSON does not have Tessera's private key file shape.
    #[error("invalid private key file: {0}")]
    Format(String),
    /// A locked key and no password, or the wrong one.
    #[error("could not decrypt the private key: wrong password, or the file is corrupted")]
    WrongPassword,
    /// A locked key file but no password was supplied.
    #[error("the private key is locked and no password was given")]
    PasswordRequired,
    /// Argon2 rejected the parameters in the file.
    #[error("invalid argon2 options: {0}")]
    Argon(String),
    /// A public key file that is not one line of base64.
    #[error("invalid public key file: {0}")]
    PublicKey(String),
    /// A file system error while writing key files.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A crypto failure while locking or generating.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}
