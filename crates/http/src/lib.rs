//! The actix-web pieces every server of ours shares.
//!
//! - [`ApiError`]: Tessera's error model (docs/protocol.md §4.6): a status and a plain-text body,
//!   never a JSON envelope. Domain errors carry a `tm_core::ErrorKind`; [`status_of`] is the one
//!   place a kind becomes a status.
//! - [`common`]: `GET /`, `/upcheck`, `/version`, `/version/distribution`, `/version/api`
//!   (docs/protocol.md §4.7), served by the Q2T, ThirdParty and P2P apps alike.
//! - [`metrics`]: per-app request counters and `GET /metrics` in Prometheus text format.
//! - [`limits`]: how large a body may be, how long it may take, how much memory bodies in
//!   flight may hold; the middleware that enforces it (docs/security.md).
//! - [`listen`]: where a server listens, TCP or a unix socket (`unix:/path`, as GoQuorum uses).
//! - [`serve`]: a server running in the background ([`Running`]), and the `main` every binary
//!   shares (command line, config, pid file, exit codes, the graceful handover on SIGTERM).
//! - [`drain`]: the graceful handover's drain period (`/readiness` answers 503 first).

pub mod common;
pub mod drain;
mod error;
pub mod limits;
pub mod listen;
pub mod metrics;
pub mod serve;
pub mod trace;

pub use error::{status_of, ApiError};
pub use listen::{Listen, Listener};
pub use serve::{Running, StartError, Started};

/// This build's version, served by `GET /version` (`tm_config::cli::VERSION`).
pub const DISTRIBUTION_VERSION: &str = tm_config::cli::VERSION;
