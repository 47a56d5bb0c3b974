//! The `tessera` launcher as a library (so tests and the xtask can start it the same way).

pub mod import;
pub mod keygen;

use std::ffi::OsString;
use std::process::ExitCode;

use tm_config::{AppType, Config};
use tm_http::{Listener, Running, StartError};
use tm_service::Service;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `version`, `-version`, `--version`.
    Version,
    /// `keygen`, `-keygen`, `--keygen`.
    Keygen,
    /// `import-h2`: import a Tessera H2 database from H2's SQL script.
    ImportH2,
    /// Run a node.
    Node,
}

impl Mode {
    /// Reads the mode from the arguments (the first is the program name).
    pub fn of(args: &[OsString]) -> Self {
        let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
        if words
            .iter()
            .any(|w| matches!(*w, "import-h2" | "-import-h2" | "--import-h2"))
        {
            Self::ImportH2
        } else if words
            .iter()
            .any(|w| matches!(*w, "keygen" | "-keygen" | "--keygen"))
        {
            Self::Keygen
        } else if words
            .iter()
            .any(|w| matches!(*w, "version" | "-version" | "--version"))
        {
            Self::Version
        } else {
            Self::Node
        }
    }
}

/// The interfaces the launcher runs when the config has them.
pub const APPS: [AppType; 3] = [AppType::P2P, AppType::Q2T, AppType::ThirdParty];

/// Runs every configured interface in this process until it is stopped (with `--recover`,
/// recovers the node's transactions from its peers and ends); returns the exit status
/// (Tessera's codes).
pub async fn run(args: Vec<OsString>) -> ExitCode {
    tm_service::main_with_recovery(
        AppType::P2P,
        args,
        |config, p2p| async move {
            let mut listeners = vec![(AppType::P2P, p2p)];
            for app in &APPS[1..] {
                if config.server(app.clone()).is_some() {
                    listeners.push((app.clone(), tm_service::listen(&config, app)?));
                }
            }
            start(config, listeners).await
        },
        // Recovery mode serves P2P only, as Tessera's does.
        p2p_node::run_recovery,
    )
    .await
}

/// Starts the interfaces of `config` in-process, each on its listener (P2P first), sharing one
/// transaction manager, with discovery beside them.
pub async fn start(
    config: Config,
    listeners: Vec<(AppType, Listener)>,
) -> Result<Running, StartError> {
    let service = Service::build(AppType::P2P, config).await?;
    let mut running: Option<Running> = None;
    for (app, listener) in listeners {
        let server = match app {
            AppType::P2P => service.serve("p2p", listener, p2p_node::routes(service.node()))?,
            AppType::Q2T => {
                service.serve("q2t", listener, q2t_api::routes(&service.config().mode))?
            }
            AppType::ThirdParty => {
                service.serve("thirdparty", listener, thirdparty_api::routes())?
            }
            other => {
                return Err(StartError::config(format!(
                    "the launcher does not serve {}",
                    other.as_str()
                )))
            }
        };
        running = Some(match running {
            Some(running) => running.join(server),
            None => server,
        });
    }
    let running = running.ok_or_else(|| StartError::config("no interface to serve"))?;
    let discovery = tokio::spawn(service.node().clone().run_discovery());
    tracing::info!(
        listen = %running.address(),
        p2p = %service.node().settings().own_url,
        "tessera started"
    );
    Ok(running.with_task(discovery))
}
