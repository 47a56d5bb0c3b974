//! The API types of our services, once, with typed HTTP clients.
//!
//! Servers, the peer-to-peer push, the xtask load generator and the tests all use these types;
//! nobody writes JSON for our own API by hand twice.
//!
//! - [`p2p`]: the peer-to-peer API (docs/protocol.md §5) and [`p2p::P2pClient`], which carries
//!   Tessera's `tesseraSupportedApiVersions` header and maps connection failures to
//!   [`ClientError::Offline`] (Tessera's NodeOfflineException, 410 to a sender). Calls that
//!   are safe to repeat are retried with short attempts within the call's budget
//!   ([`p2p::P2pTimeouts`]).

use std::time::Duration;

pub mod b64_serde;
mod error;
pub mod p2p;
pub mod q2t;
/// The attempts of a call that is safe to repeat (also used by the remote-enclave client).
pub mod retry;

pub use error::ClientError;
pub use retry::RETRY_PAUSE;

/// How long every client of ours keeps an idle pooled connection: shorter than the servers'
/// keep-alive (60 s), so a client never reuses a connection the server is closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Joins a base URL (with or without a trailing `/`) and an absolute API path.
pub fn join(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}
