//! What every service binary (`p2p-node`, `q2t-api`, `thirdparty-api`) shares.
//!
//! Each binary is `main` calling [`Service::start`] with its app type, spawning what it runs in
//! the background, and [`Service::serve`] with its routes. The command line is Tessera's
//! (`-configfile`, `-o/--override`, `-pidfile`), so an operator's start script keeps working.

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{web, App, HttpServer};
use tm_config::{AppType, Config, EnvOverrides, LoadOptions, Profile};
use tm_http::metrics::{self, Metrics};
use tm_http::{common, Listen};
use tm_manager::Node;

/// Largest request body accepted (payloads can be large contracts).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

pub use tm_config::cli::{init_logging, normalize_args, Cli};

/// The readiness endpoint: like `/upcheck`, but 503 while the database or the enclave cannot
/// be used, so that a load balancer or Kubernetes takes such an instance out of rotation.
/// (`/upcheck` stays unconditional, as in Tessera: it is the liveness check.)
pub const READINESS_PATH: &str = "/readiness";

async fn readiness(node: web::Data<Node>) -> actix_web::HttpResponse {
    use actix_web::HttpResponse;
    if let Err(e) = node.store.upcheck().await {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(format!("not ready: {e}"));
    }
    if let tm_enclave::Status::Stopped = node.enclave.status().await {
        return HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready: enclave not available");
    }
    HttpResponse::Ok().content_type("text/plain").body("ready")
}

/// A service that has read its config and connected its database and enclave.
pub struct Service {
    /// Which `serverConfigs` entry it serves.
    pub app: AppType,
    /// Its name in logs and metrics (`p2p`, `q2t`, `thirdparty`).
    pub name: &'static str,
    /// The config.
    pub config: Config,
    /// The transaction manager.
    pub node: Node,
}

impl Service {
    /// Parses the command line, loads and validates the config, connects the database and the
    /// enclave. On failure prints why and returns the exit code (Tessera's: 1 invalid config,
    /// 2 other errors, 3 unreadable config, 4 bad command line; 0 after `--dump-config`).
    pub async fn start(
        app: AppType,
        name: &'static str,
        args: impl IntoIterator<Item = OsString>,
    ) -> Result<Self, ExitCode> {
        let cli = tm_config::cli::parse(args).map_err(ExitCode::from)?;
        init_logging(cli.json_logs);
        let options = LoadOptions {
            overrides: cli.overrides.clone(),
            env: EnvOverrides::Process,
            profile: Profile::Node,
        };
        let config = match tm_config::load_file(&cli.configfile, &options) {
            Ok(loaded) => loaded.config,
            Err(e) => {
                eprintln!("ERROR: {e}");
                return Err(ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2)));
            }
        };
        if cli.dump_config {
            // A closed pipe (`--dump-config | head`) is not an error worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", config.to_redacted_json());
            return Err(ExitCode::SUCCESS);
        }
        if config.server(app.clone()).is_none() {
            eprintln!(
                "ERROR: Config validation issue: serverConfigs has no {} server",
                app.as_str()
            );
            return Err(ExitCode::from(1));
        }
        if cli.migrate_only {
            return Err(match tm_manager::open_store(&config, true).await {
                Ok(_) => {
                    println!("migrations applied: the database tables are up to date");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("ERROR: {e}");
                    ExitCode::from(2)
                }
            });
        }
        let node = match Node::from_config(&config).await {
            Ok(node) => node,
            Err(e) => {
                eprintln!("ERROR: {e}");
                return Err(ExitCode::from(2));
            }
        };
        if let Some(pidfile) = &cli.pidfile {
            if let Err(e) = tm_config::cli::write_pidfile(pidfile) {
                eprintln!("ERROR: {e}");
                return Err(ExitCode::from(2));
            }
        }
        Ok(Self {
            app,
            name,
            config,
            node,
        })
    }

    /// Serves the common endpoints, metrics and `routes` until the process is stopped.
    /// `routes` gets the [`Node`] as `web::Data<Node>` app data.
    pub async fn serve<F>(self, routes: F) -> ExitCode
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let server = match self.server(self.app.clone(), self.name, routes) {
            Ok(server) => server,
            Err(code) => return code,
        };
        match server.await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ERROR: {e}");
                ExitCode::from(2)
            }
        }
    }

    /// Binds the server of `app` (its `bindingAddress`, default `serverAddress`) with the
    /// common endpoints, metrics, `/readiness` and `routes`, and returns it running (await it
    /// to serve until stopped). The all-in-one launcher builds one per configured app.
    pub fn server<F>(&self, app: AppType, name: &'static str, routes: F) -> Result<Server, ExitCode>
    where
        F: Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
    {
        let listen = listen_address(&self.config, &app).map_err(|e| {
            eprintln!("ERROR: {e}");
            ExitCode::from(1)
        })?;
        let bound = listen.open().map_err(|e| {
            eprintln!("ERROR: cannot listen on {listen}: {e}");
            ExitCode::from(2)
        })?;
        let where_ = bound.describe();
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
        let server = tm_http::listen_on!(server, bound)
            .map_err(|e| {
                eprintln!("ERROR: cannot serve on {where_}: {e}");
                ExitCode::from(2)
            })?
            .run();
        tracing::info!(app = app.as_str(), listen = %where_, "{name} listening");
        Ok(server)
    }
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
