//! What every node service (`p2p-node`, `q2t-api`, `thirdparty-api`, the `tessera` launcher)
//! shares: building the transaction manager from a typed config and serving an app's routes,
//! with the common endpoints, metrics and `/readiness`, on a listener it is given.
//!
//! Each service library has `start(config, listener)`, built on [`Service::build`] and
//! [`Service::serve`]; tests and the xtask call it in-process on a listener bound to port 0.
//! Each binary's `main` is [`main`] around that function: Tessera's command line (`-configfile`,
//! `-o/--override`, `-pidfile`, `--dump-config`, `--migrate-only`) and its exit codes.

use std::ffi::OsString;
use std::future::Future;
use std::process::ExitCode;

use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tm_config::{AppType, Config, Profile};
use tm_http::metrics::{self, Metrics};
use tm_http::{common, Listen, Listener, Running, StartError, Started};
use tm_manager::Node;

/// Largest request body accepted (payloads can be large contracts).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub use tm_config::cli::{init_logging, normalize_args, Cli, Exit};

/// The readiness endpoint: like `/upcheck`, but 503 while the database or the enclave cannot
/// be used, so that a load balancer or Kubernetes takes such an instance out of rotation.
/// (`/upcheck` stays unconditional, as in Tessera: it is the liveness check.)
pub const READINESS_PATH: &str = "/readiness";

async fn readiness(node: web::Data<Node>) -> actix_web::HttpResponse {
    use actix_web::HttpResponse;
    match node.readiness().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {e}")),
    }
}

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
        let node = Node::from_config(&config)
            .await
            .map_err(|e| StartError::failure(e.to_string()))?;
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
    /// in the background. `name` labels logs and metrics (`p2p`, `q2t`, `thirdparty`);
    /// `routes` gets the [`Node`] as `web::Data<Node>` app data.
    pub fn serve<F>(
        &self,
        name: &'static str,
        listener: Listener,
        routes: F,
    ) -> Result<Running, StartError>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let address = listener.describe();
        let metrics = Metrics::new(name);
        let node = web::Data::new(self.node.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(node.clone())
                .app_data(web::Data::new(metrics.clone()))
                .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
                .app_data(web::JsonConfig::default().limit(MAX_BODY_BYTES))
                .wrap(from_fn(metrics::track))
                .configure(common::configure)
                .configure(metrics::configure)
                .route(READINESS_PATH, web::get().to(readiness))
                .configure(routes.clone())
        });
        let server = tm_http::listen_on!(server, listener)
            .map_err(|e| StartError::failure(format!("cannot serve on {address}: {e}")))?
            .run();
        tracing::info!(listen = %address, "{name} listening");
        Ok(Running::spawn(server, address))
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
/// upgrades the tables and exits instead.
pub async fn main<F, Fut>(
    app: AppType,
    args: impl IntoIterator<Item = OsString>,
    start: F,
) -> ExitCode
where
    F: FnOnce(Config, Listener) -> Fut,
    Fut: Future<Output = Result<Running, StartError>>,
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
        let listener = listen(&config, &app)?;
        Ok(Started::Serving(start(config, listener).await?))
    })
    .await
}
