//! The enclave: the only holder of the node's private keys, and every operation that needs
//! them (docs/protocol.md §8, §14.4).
//!
//! * [`Enclave`] — the in-process key holder over [`tm_core::Keyring`].
//! * [`server`] — Tessera's remote enclave REST API; [`start`] serves it from a config on a
//!   listener it is given, [`serve`] for an `Enclave` of one's own.
//! * [`EnclaveClient`] — what services use: [`EnclaveClient::Local`] or
//!   [`EnclaveClient::Remote`], chosen by [`enclave_from_config`] as Tessera chooses.
//! * [`cli`] — the `enclave` binary's command line.

pub mod api;
pub mod cli;
mod client;
mod error;
mod local;
pub mod server;

use std::sync::Arc;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::web;
use tm_config::{AppType, Config, PasswordPrompt, Profile, ServerAddress, ServerConfig};
use tm_core::PublicKey;
use tm_http::drain::Draining;
use tm_http::listen::{HttpSettings, Transport};
use tm_http::{Listen, Listener, Running, StartError};

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

/// Serves the remote enclave API for `enclave` on `listener`, in the background, over plain
/// HTTP and with the default drain period ([`serve_with`] for TLS and a drain period of one's
/// own).
pub fn serve(enclave: Arc<Enclave>, listener: Listener) -> Result<Running, StartError> {
    serve_with(
        enclave,
        listener,
        Transport::Plain,
        tm_http::drain::DEFAULT_DRAIN_PERIOD,
    )
}

/// Serves the remote enclave API for `enclave` on `listener`, in the background, plain or
/// with TLS as `transport` says (the enclave's server entry: [`Transport::of`]). On SIGTERM
/// its `/readiness` answers 503 for `drain` before it stops (`tm_http::drain`).
pub fn serve_with(
    enclave: Arc<Enclave>,
    listener: Listener,
    transport: Transport,
    drain: Duration,
) -> Result<Running, StartError> {
    let address = tm_http::listen::describe(&listener, &transport);
    let keys = enclave.public_keys().len();
    let app = server::configure(enclave);
    let draining = Draining::new();
    let app_draining = web::Data::new(draining.clone());
    let settings = HttpSettings {
        workers: Some(2),
        ..HttpSettings::server()
    };
    let http = tm_http::listen::serve_http(
        move || {
            actix_web::App::new()
                .app_data(app_draining.clone())
                .app_data(web::Data::new(tm_http::metrics::Metrics::new("enclave")))
                .wrap(from_fn(tm_http::metrics::track))
                .wrap(from_fn(tm_http::drain::close_while_draining))
                .wrap(from_fn(tm_http::trace::requests))
                .configure(tm_http::metrics::configure)
                .configure(app.clone())
        },
        listener,
        transport,
        &settings,
    )
    .map_err(|e| StartError::failure(format!("cannot serve on {address}: {e}")))?;
    tracing::info!(%address, keys, "enclave started");
    Ok(Running::spawn(http, address).with_drain(draining, drain))
}

/// The remote enclave a config describes, started in-process on `listener`: validates the
/// config, loads and unlocks its keys (never prompting: `start_with` for that) and serves.
pub async fn start(config: Config, listener: Listener) -> Result<Running, StartError> {
    start_with(config, listener, PasswordPrompt::Never).await
}

/// [`start`], asking for key passwords as `prompt` says.
pub async fn start_with(
    config: Config,
    listener: Listener,
    prompt: PasswordPrompt,
) -> Result<Running, StartError> {
    let config = tm_http::serve::validated(config, Profile::Enclave)?;
    let transport = match enclave_server_config(&config) {
        Some(server) => Transport::of(server, &listener)?,
        None => Transport::Plain,
    };
    let drain = tm_http::drain::drain_period(enclave_server_config(&config));
    let enclave = local_enclave(&config, prompt)
        .await
        .map_err(|e| StartError::config(e.to_string()))?;
    serve_with(Arc::new(enclave), listener, transport, drain)
}

/// Where the enclave of a config listens: its server entry's `bindingAddress` (default
/// `serverAddress`), opened (a stale socket file from an earlier run is removed first).
pub fn listen(config: &Config) -> Result<Listener, StartError> {
    let server = enclave_server_config(config).ok_or_else(|| {
        StartError::config("Config validation issue: serverConfigs no server to listen on")
    })?;
    let bind = server.binding_address().map_err(|e| {
        StartError::config(format!(
            "Config validation issue: serverConfigs bindingAddress {e}"
        ))
    })?;
    let listen = match (&bind, bind.host_port()) {
        (ServerAddress::Unix(path), _) => Listen::Unix(path.clone()),
        (_, Some(host_port)) => Listen::Tcp(host_port),
        _ => return Err(StartError::config(format!("cannot listen on {bind}"))),
    };
    listen
        .open()
        .map_err(|e| StartError::failure(format!("cannot listen on {listen}: {e}")))
}
