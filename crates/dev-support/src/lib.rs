//! Development support for our tests and the xtask: one crate for what every test suite and
//! tool needs to run real nodes on loopback.
//!
//! - [`ports`]: listeners bound to `127.0.0.1:0` (and bound again on a known port for a
//!   restart): the only place ports come from; nothing picks a port by probing.
//! - [`config`]: [`NodeConfig`], a builder of typed [`tm_config::Config`] values, writing them
//!   as Tessera's JSON file ([`config::write`]), and key files ([`config::write_key_files`],
//!   [`config::generate_key_files`]).
//! - [`runtime`]: one shared multi-thread tokio runtime on which in-process servers run, and
//!   [`block_on`] for synchronous callers.
//! - [`node`]: [`TestNode`], a node with keys, a database and its services ([`Service`])
//!   started in-process on its own listeners; stopped when dropped.
//! - [`otlp`]: an OTLP/HTTP trace receiver standing in for an OpenTelemetry collector.
//! - [`postgres`]: the test PostgreSQL server's URL, a fresh [`postgres::Schema`] per test,
//!   and [`postgres::psql`].
//! - [`process`]: a child [`process::Process`] with its log file, waited on until healthy,
//!   killed on drop (a binary's own command line, the xtask's clusters).
//! - [`tls`]: certificates made with `openssl` ([`tls::Pki`]) and `sslConfig` entries that
//!   use them ([`tls::strict`]).
//! - [`wait`]: [`eventually`], and the [`upcheck`] and [`http_ok`] checks.
//!
//! Tests start services in-process: `cargo test` needs no binary built beforehand. A test of a
//! binary's own command line spawns it from `env!("CARGO_BIN_EXE_<name>")`, which cargo builds
//! before that crate's tests.
//!
//! ```no_run
//! use tm_dev_support::{block_on, eventually, Service, TestNode};
//!
//! let mut a = TestNode::new("a", 1, &[]);
//! a.config.features.enable_privacy_enhancements = true; // the typed config, before starting
//! a.start(Service::P2p).start(Service::Q2t);
//! let mut b = TestNode::new("b", 1, &[a.p2p_url()]);
//! b.start(Service::P2p);
//! // ... call a.q2t_url() / b.p2p_url() with tm-client inside `block_on(...)` ...
//! b.stop(Service::P2p); // and `b.start(Service::P2p)` again, on the same port
//! // Dropping a node stops its services.
//! ```

pub mod config;
pub mod node;
pub mod otlp;
pub mod ports;
pub mod postgres;
pub mod process;
pub mod runtime;
pub mod tls;
pub mod wait;

pub use config::NodeConfig;
pub use node::{Service, TestNode};
pub use runtime::block_on;
pub use wait::{eventually, http_ok, upcheck};
