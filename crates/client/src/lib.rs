//! The API types of our services, once, with typed HTTP clients.
//!
//! Servers, the peer-to-peer push, the xtask load generator and the tests all use these types;
//! nobody writes JSON for our own API by hand twice.
//!
//! - [`p2p`]: the peer-to-peer API (docs/protocol.md §5) and [`p2p::P2pClient`], which carries
//!   Tessera's `tesseraSupportedApiVersions` header and maps connection failures to
//!   [`ClientError::Offline`] (Tessera's NodeOfflineException, 410 to a sender).

pub mod b64_serde;
mod error;
pub mod p2p;
pub mod q2t;

pub use error::ClientError;

/// Joins a base URL (with or without a trailing `/`) and an absolute API path.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
