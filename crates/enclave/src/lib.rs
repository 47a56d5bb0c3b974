//! The enclave: the only holder of the node's private keys, and every operation that needs
//! them (api.md §6, node.md §5.4).
//!
//! * [`Enclave`] — the in-process key holder over [`tm_core::Keyring`].
//! * [`server`] — Tessera's remote enclave REST API, and [`start_server`] to run it.
//! * [`EnclaveClient`] — what services use: [`EnclaveClient::Local`] or
//!   [`EnclaveClient::Remote`], chosen by [`enclave_from_config`] as Tessera chooses.
//! * [`cli`] — the `enclave` binary's command line.

pub mod api;
pub mod cli;
mod client;
mod error;
mod local;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;

use tm_config::{AppType, Config, PasswordPrompt, ServerAddress, ServerConfig};
use tm_core::PublicKey;

pub use client::{enclave_from_config, enclave_from_config_with, EnclaveClient, RemoteEnclave};
pub use error::EnclaveError;
pub use local::{Enclave, Status};

/// Default port of the remote enclave in Tessera's samples.
pub const DEFAULT_PORT: u16 = 9081;

/// Builds the in-process enclave for `config`: loads and unlocks `keys` on a blocking thread
/// (Argon2 is slow) and takes `alwaysSendTo` as forwarding keys.
pub async fn local_enclave(
    config: &Config,
    prompt: PasswordPrompt,
) -> Result<Enclave, EnclaveError> {
    let keys = config
        .keys
        .clone()
        .ok_or_else(|| EnclaveError::BadRequest("no keys configured".into()))?;
    let forwarding = config
        .always_send_to
        .iter()
        .enumerate()
        .map(|(i, key)| {
            PublicKey::from_base64(key).map_err(|_| {
                EnclaveError::BadRequest(format!("alwaysSendTo[{i}]: invalid base64 key"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let pairs = tokio::task::spawn_blocking(move || tm_config::load_key_pairs(&keys, prompt))
        .await
        .map_err(|_| EnclaveError::Failed("key loading was interrupted".into()))?
        .map_err(|e| EnclaveError::BadRequest(e.to_string()))?;
    Ok(Enclave::new(pairs, forwarding))
}

/// The server entry a standalone enclave serves on: the `ENCLAVE` entry, else the first entry
/// (Tessera's enclave takes the first).
pub fn enclave_server_config(config: &Config) -> Option<&ServerConfig> {
    config
        .server(AppType::Enclave)
        .or_else(|| config.server_configs().first())
}

/// A started enclave server.
pub struct RunningServer {
    /// The server future: await it (or spawn it) to serve until stopped.
    pub server: actix_web::dev::Server,
    /// The TCP addresses it listens on (empty for a unix socket).
    pub addresses: Vec<SocketAddr>,
}

/// Binds the enclave API for `enclave` to `bind` (TCP host and port as written, or a unix
/// socket). Binding happens now; serving starts when the returned server is awaited.
pub fn start_server(enclave: Arc<Enclave>, bind: &ServerAddress) -> std::io::Result<RunningServer> {
    let app = server::configure(enclave);
    let http = actix_web::HttpServer::new(move || actix_web::App::new().configure(app.clone()))
        .workers(2)
        .shutdown_timeout(5);
    let http = match bind {
        ServerAddress::Tcp { .. } => {
            let host_port = bind.host_port().unwrap_or_default();
            http.bind(host_port)?
        }
        #[cfg(unix)]
        ServerAddress::Unix(path) => {
            // A socket file left by a previous run would make bind fail.
            let _ = std::fs::remove_file(path);
            http.bind_uds(path)?
        }
        #[cfg(not(unix))]
        ServerAddress::Unix(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "unix sockets are not supported on this platform",
            ))
        }
    };
    let addresses = http.addrs();
    Ok(RunningServer {
        server: http.run(),
        addresses,
    })
}
