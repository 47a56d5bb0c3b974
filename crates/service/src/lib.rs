//! What every node service (`p2p-node`, `q2t-api`, `thirdparty-api`, the `tessera` launcher)
//! shares: building the transaction manager from a typed config and serving an app's routes,
//! with the common endpoints, metrics and `/readiness`, on a listener it is given.
//!
//! Each service library has `start(config, listener)`, built on [`Service::build`] and
//! [`Service::serve`]; tests and the xtask call it in-process on a listener bound to port 0.
//! Each binary's `main` is [`main`] around that function: Tessera's command line (`-configfile`,
//! `-o/--override`, `-pidfile`, `--dump-config`, `--migrate-only`, `--recover`) and its exit
//! codes.

use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{web, App};
use tm_config::{AppType, Config, Profile};
use tm_enclave::EnclaveError;
use tm_http::drain::{self, Draining};
use tm_http::limits::{self, BodyGuard, BodyLimits};
use tm_http::listen::{describe, serve_http, HttpSettings, Transport};
use tm_http::metrics::{self, Metrics};
use tm_http::{common, Listen, Listener, Running, StartError, Started};
use tm_manager::{ManagerError, Node};

/// Largest request body the Q2T and ThirdParty servers accept by default (a `/sendraw`
/// plaintext can be a large contract). P2P accepts an encoded payload of that size
/// ([`limits::MAX_P2P_BODY_BYTES`]) and JSON carrying one in base64
/// ([`limits::MAX_P2P_JSON_BYTES`]); the enclave accepts the base64 of that
/// ([`limits::MAX_ENCLAVE_BODY_BYTES`]). Lower limits come from each server's `properties`
/// ([`body_limits`]); docs/security.md, "Limits on requests".
pub const MAX_BODY_BYTES: usize = limits::MAX_CLIENT_BODY_BYTES;

/// What a node sends a peer fits the peer's default limits, checked when compiling: a payload
/// of the largest client body fits a push, and a `/pushBatch` of resent payloads (base64 inside
/// `{"encodedPayloads":[...]}`, at most [`tm_manager::resend::MAX_BATCH_BYTES`] of it) fits
/// the JSON limit.
const _: () = {
    assert!(MAX_BODY_BYTES + limits::ENVELOPE_BYTES <= limits::MAX_P2P_BODY_BYTES);
    assert!(
        tm_manager::resend::MAX_BATCH_BYTES + limits::ENVELOPE_BYTES <= limits::MAX_P2P_JSON_BYTES
    );
};

/// How long a client may take to send a request's head: slow-header connections are closed
/// after it.
pub const REQUEST_HEAD_TIMEOUT: Duration = tm_http::listen::REQUEST_HEAD_TIMEOUT;

/// How long an idle keep-alive connection stays open: 60 s, longer than our clients' and the
/// balancers' 30 s idle timeout (docs/operations.md, "High availability: timeouts as one
/// budget").
pub const KEEP_ALIVE: Duration = tm_http::listen::KEEP_ALIVE;

/// How long a connection may linger after we close it before it is dropped.
pub const DISCONNECT_TIMEOUT: Duration = tm_http::listen::DISCONNECT_TIMEOUT;

/// The body limits of the server serving `app` in `config`: the defaults for its kind (P2P,
/// or Q2T and ThirdParty), lowered by its `serverConfigs[].properties`.
pub fn body_limits(config: &Config, app: &AppType) -> BodyLimits {
    let defaults = match app {
        AppType::P2P => BodyLimits::p2p(),
        _ => BodyLimits::client(),
    };
    match config.server(app.clone()) {
        Some(server) => defaults.with_properties(&server.properties),
        None => defaults,
    }
}

/// The app a service name of [`Service::serve`] labels.
fn app_of(name: &str) -> AppType {
    match name {
        "p2p" => AppType::P2P,
        "thirdparty" => AppType::ThirdParty,
        _ => AppType::Q2T,
    }
}

/// Warns when a client body the Q2T or ThirdParty server accepts would not fit a push to a
/// peer with this config's P2P limit.
fn warn_on_misaligned_limits(config: &Config) {
    let p2p = body_limits(config, &AppType::P2P);
    for app in [AppType::Q2T, AppType::ThirdParty] {
        if config.server(app.clone()).is_none() {
            continue;
        }
        let client = body_limits(config, &app);
        if client.max_body + limits::ENVELOPE_BYTES > p2p.max_body {
            tracing::warn!(
                "{} accepts bodies of {} bytes, but P2P only {} bytes: a payload that large \
                 cannot be pushed to a peer with the same limits",
                app.as_str(),
                client.max_body,
                p2p.max_body
            );
        }
    }
}

pub use tm_config::cli::{init_logging, normalize_args, Cli, Exit};

pub mod readiness;

/// The readiness endpoint: like `/upcheck`, but 503 while the instance drains before it stops,
/// or while the database or the enclave cannot be used, so that a load balancer or Kubernetes
/// takes such an instance out of rotation. (`/upcheck` stays unconditional, as in Tessera: it
/// is the liveness check.) [`readiness`] says how it is checked.
pub const READINESS_PATH: &str = "/readiness";

/// A node service built from its config: the config and the transaction manager.
pub struct Service {
    config: Config,
    node: Node,
}

impl Service {
    /// Validates `config` for a node, checks that it has a server entry for `app`, and
    /// connects the database and the enclave.
    pub async fn build(app: AppType, config: Config) -> Result<Self, StartError> {
        let config = tm_http::serve::validated(config, Profile::Node)?;
        if config.server(app.clone()).is_none() {
            return Err(StartError::config(format!(
                "Config validation issue: serverConfigs has no {} server",
                app.as_str()
            )));
        }
        let node = Node::from_config(&config).await.map_err(|e| match e {
            // Settings, TLS material or keys that cannot be used: the config is invalid.
            ManagerError::Config(_) | ManagerError::Enclave(EnclaveError::BadRequest(_)) => {
                StartError::config(e.to_string())
            }
            _ => StartError::failure(e.to_string()),
        })?;
        // Tessera's `ResidentGroupHandler.onCreate` at start: a violation ends its `main` with
        // "ERROR: Cause is <message>" and exit 2 (not a config-validation exit 1).
        node.store_resident_groups()
            .await
            .map_err(|e| StartError::failure(format!("Cause is {e}")))?;
        warn_on_misaligned_limits(&config);
        Ok(Self { config, node })
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The transaction manager.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Serves `routes` (with the common endpoints, metrics and `/readiness`) on `listener`,
    /// in the background. `name` labels logs and metrics (`p2p`, `q2t`, `thirdparty`) and
    /// chooses the body limits ([`body_limits`] of that app, with a memory budget of its own);
    /// `routes` gets the [`Node`] as `web::Data<Node>` app data. TLS as the app's server entry
    /// says ([`Transport::of`]: a TLS entry is served with TLS or refused, never plain).
    pub fn serve<F>(
        &self,
        name: &'static str,
        listener: Listener,
        routes: F,
    ) -> Result<Running, StartError>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let server_config = self.config.server(app_of(name));
        let transport = match server_config {
            Some(server) => Transport::of(server, &listener)?,
            None => Transport::Plain,
        };
        let address = describe(&listener, &transport);
        let metrics = Metrics::new(name);
        let node = web::Data::new(self.node.clone());
        let draining = Draining::new();
        let readiness = readiness::Readiness::new(self.node.clone(), draining.clone());
        let app_limits = body_limits(&self.config, &app_of(name));
        tracing::debug!(limits = ?app_limits, "{name} body limits");
        // One memory budget for every worker of this server.
        let guard = web::Data::new(BodyGuard::new(app_limits.clone()));
        let app_readiness = web::Data::from(readiness.clone());
        let app_draining = web::Data::new(draining.clone());
        let factory = move || {
            App::new()
                .app_data(node.clone())
                .app_data(web::Data::new(metrics.clone()))
                .app_data(guard.clone())
                .app_data(app_readiness.clone())
                .app_data(app_draining.clone())
                .app_data(app_limits.payload_config())
                .app_data(app_limits.json_config())
                // The guard reads bodies within the limits; metrics count its refusals too.
                .wrap(from_fn(limits::guard))
                .wrap(from_fn(metrics::track))
                .wrap(from_fn(drain::close_while_draining))
                .wrap(from_fn(tm_http::trace::requests))
                .configure(common::configure)
                .configure(metrics::configure)
                .route(READINESS_PATH, web::get().to(readiness::readiness))
                .configure(routes.clone())
        };
        let server = serve_http(factory, listener, transport, &HttpSettings::server())
            .map_err(|e| StartError::failure(format!("cannot serve on {address}: {e}")))?;
        tracing::info!(listen = %address, "{name} listening");
        Ok(Running::spawn(server, address)
            .with_drain(draining, drain::drain_period(server_config))
            .with_task(readiness.refresh()))
    }
}

/// Opens where `app` listens: its `bindingAddress` (default `serverAddress`); a stale unix
/// socket file from an earlier run is removed first.
pub fn listen(config: &Config, app: &AppType) -> Result<Listener, StartError> {
    let listen = listen_address(config, app).map_err(StartError::config)?;
    listen
        .open()
        .map_err(|e| StartError::failure(format!("cannot listen on {listen}: {e}")))
}

/// Where `app` listens: its `bindingAddress` (default `serverAddress`).
pub fn listen_address(config: &Config, app: &AppType) -> Result<Listen, String> {
    let server = config
        .server(app.clone())
        .ok_or_else(|| format!("no {} server configured", app.as_str()))?;
    let address = server.binding_address().map_err(|e| e.to_string())?;
    match (&address, address.host_port()) {
        (tm_config::ServerAddress::Unix(path), _) => Ok(Listen::Unix(path.clone())),
        (_, Some(host_port)) => Ok(Listen::Tcp(host_port)),
        _ => Err(format!("cannot listen on {address:?}")),
    }
}

/// A node binary's `main`: Tessera's command line and exit codes around `start`, which gets
/// the loaded config and the listener of `app`'s server entry. `--migrate-only` creates or
/// upgrades the tables and exits instead; `--recover` is refused (only the P2P service
/// recovers: [`main_with_recovery`]).
pub async fn main<F, Fut>(
    app: AppType,
    args: impl IntoIterator<Item = OsString>,
    start: F,
) -> ExitCode
where
    F: FnOnce(Config, Listener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
{
    type NoRecovery = fn(Config, Listener) -> std::future::Ready<Result<Started, StartError>>;
    run_main(app, args, start, None::<NoRecovery>).await
}

/// [`main`] for the binaries that serve P2P (`p2p-node`, `tessera`): with `--recover`,
/// `recover` gets the config and the P2P listener instead of `start`, runs recovery and says
/// how the process ends ([`Started::Finished`]).
pub async fn main_with_recovery<F, Fut, R, RFut>(
    app: AppType,
    args: impl IntoIterator<Item = OsString>,
    start: F,
    recover: R,
) -> ExitCode
where
    F: FnOnce(Config, Listener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
    R: FnOnce(Config, Listener) -> RFut,
    RFut: Future<Output = Result<Started, StartError>>,
{
    run_main(app, args, start, Some(recover)).await
}

async fn run_main<F, Fut, R, RFut>(
    app: AppType,
    args: impl IntoIterator<Item = OsString>,
    start: F,
    recover: Option<R>,
) -> ExitCode
where
    F: FnOnce(Config, Listener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
    R: FnOnce(Config, Listener) -> RFut,
    RFut: Future<Output = Result<Started, StartError>>,
{
    tm_http::serve::main(args, Profile::Node, |cli, config| async move {
        if config.server(app.clone()).is_none() {
            return Err(StartError::config(format!(
                "Config validation issue: serverConfigs has no {} server",
                app.as_str()
            )));
        }
        if cli.migrate_only {
            tm_manager::open_store(&config, true)
                .await
                .map_err(|e| StartError::failure(e.to_string()))?;
            return Ok(Started::Done(
                "migrations applied: the database tables are up to date".into(),
            ));
        }
        if cli.recover {
            let Some(recover) = recover else {
                return Err(StartError::config(
                    "--recover is for the P2P service: run it with p2p-node or tessera",
                ));
            };
            let listener = listen(&config, &AppType::P2P)?;
            return recover(config, listener).await;
        }
        let listener = listen(&config, &app)?;
        Ok(Started::Serving(start(config, listener).await?))
    })
    .await
}

#[cfg(test)]
mod tests {
    use tm_config::ServerConfig;

    use super::*;

    fn config(q2t_max: Option<&str>) -> Config {
        let server = |app: AppType, max: Option<&str>| ServerConfig {
            app: Some(app),
            properties: max
                .map(|m| [(limits::PROPERTY_MAX_BODY.to_owned(), m.to_owned())].into())
                .unwrap_or_default(),
            ..ServerConfig::default()
        };
        Config {
            server_configs: Some(vec![
                server(AppType::P2P, None),
                server(AppType::Q2T, q2t_max),
            ]),
            ..Config::default()
        }
    }

    #[test]
    fn each_server_gets_the_limits_of_its_kind_lowered_by_its_properties() {
        let defaults = config(None);
        assert_eq!(body_limits(&defaults, &AppType::P2P), BodyLimits::p2p());
        assert_eq!(body_limits(&defaults, &AppType::Q2T), BodyLimits::client());
        assert_eq!(
            body_limits(&defaults, &AppType::ThirdParty),
            BodyLimits::client()
        );
        assert_eq!(
            body_limits(&config(Some("1000")), &AppType::Q2T).max_body,
            1000
        );
        assert_eq!(app_of("p2p"), AppType::P2P);
        assert_eq!(app_of("q2t"), AppType::Q2T);
        assert_eq!(app_of("thirdparty"), AppType::ThirdParty);
    }
}
