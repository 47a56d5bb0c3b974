//! What kind of failure an error is, independent of any transport.
//!
//! Domain crates (the transaction manager, the enclave, the store) classify their errors with
//! [`Classify`]; the HTTP layer (`tm_http::ApiError`) turns a kind into Tessera's status code
//! and body in exactly one place. Nothing below the HTTP layer knows a status code.

/// The kinds of failure a caller can be told about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request cannot be read: bad base64, bad JSON, an undecodable payload, a key of the
    /// wrong length.
    Invalid,
    /// The caller is not allowed to call at all (not on the whitelist).
    Unauthorized,
    /// A privacy rule or a disabled feature forbids what was asked.
    Forbidden,
    /// No such transaction, key, recipient or group.
    NotFound,
    /// A recipient's node could not be reached.
    RecipientOffline,
    /// The request body is larger than this service, or one it calls, accepts.
    TooLarge,
    /// The request body is of a media type the endpoint does not read.
    UnsupportedMediaType,
    /// A well-formed request that Tessera refuses with a server error rather than a 4xx (a
    /// sender key we hold no private key for, a push a recipient refused, a box that does not
    /// open). We answer as Tessera does so that clients see the same status.
    Refused,
    /// A peer's party info advertised no key that could be validated (Tessera's
    /// `SecurityException`: a server error with an empty body).
    KeyValidation,
    /// The database or the enclave cannot be used right now; retrying may succeed.
    Unavailable,
    /// A feature the request needs is switched off in the node's config (Tessera answers
    /// 503, e.g. `GET /groups/resident` without multiple private states).
    Disabled,
    /// Anything else: a bug, or a failure with no better description.
    Internal,
}

/// An error that knows its [`ErrorKind`].
pub trait Classify: std::fmt::Display {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;
}
