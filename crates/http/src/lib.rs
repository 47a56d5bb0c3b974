//! The actix-web pieces every server of ours shares.
//!
//! - [`ApiError`]: Tessera's error model (api.md §2.6): a status and a plain-text body, never a
//!   JSON envelope. Domain crates convert their errors into it in one place each.
//! - [`common`]: `GET /`, `/upcheck`, `/version`, `/version/distribution`, `/version/api`
//!   (api.md §2.7), served by the Q2T, ThirdParty and P2P apps alike.
//! - [`metrics`]: per-app request counters and `GET /metrics` in Prometheus text format.
//! - [`listen`]: where a server listens, TCP or a unix socket (`unix:/path`, as GoQuorum uses).

pub mod common;
mod error;
pub mod listen;
pub mod metrics;

pub use error::ApiError;
pub use listen::Listen;

/// This build's version, served by `GET /version`.
pub const DISTRIBUTION_VERSION: &str = env!("CARGO_PKG_VERSION");
