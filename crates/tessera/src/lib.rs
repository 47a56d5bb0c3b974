//! The `tessera` launcher as a library (so tests and the xtask can start it the same way).

pub mod keygen;

use std::ffi::OsString;
use std::process::ExitCode;

use tm_config::AppType;
use tm_service::Service;

/// What the command line asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `version`, `-version`, `--version`.
    Version,
    /// `keygen`, `-keygen`, `--keygen`.
    Keygen,
    /// Run a node.
    Node,
}

impl Mode {
    /// Reads the mode from the arguments (the first is the program name).
    pub fn of(args: &[OsString]) -> Self {
        let words: Vec<&str> = args.iter().skip(1).filter_map(|a| a.to_str()).collect();
        if words
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

/// The interfaces the launcher runs when the config has them, with their names.
const APPS: [(AppType, &str); 3] = [
    (AppType::P2P, "p2p"),
    (AppType::Q2T, "q2t"),
    (AppType::ThirdParty, "thirdparty"),
];

/// Runs every configured interface in this process until it is stopped; returns the exit
/// status (Tessera's codes).
pub async fn run(args: Vec<OsString>) -> ExitCode {
    let service = match Service::start(AppType::P2P, "tessera", args).await {
        Ok(service) => service,
        Err(code) => return code,
    };
    let mut servers = Vec::new();
    for (app, name) in APPS {
        if service.config.server(app.clone()).is_none() {
            continue;
        }
        let server = match app {
            AppType::P2P => service.server(app, name, p2p_node::routes(&service.node)),
            AppType::Q2T => service.server(app, name, q2t_api::routes(&service.config)),
            _ => service.server(app, name, thirdparty_api::routes()),
        };
        match server {
            Ok(server) => servers.push(server),
            Err(code) => return code,
        }
    }
    let discovery = tokio::spawn(service.node.clone().run_discovery());
    tracing::info!(
        interfaces = servers.len(),
        p2p = %service.node.settings.own_url,
        "tessera started"
    );
    let mut tasks = tokio::task::JoinSet::new();
    for server in servers {
        tasks.spawn(server);
    }
    // The first server to stop (a signal stops them all) ends the process.
    let code = match tasks.join_next().await {
        Some(Ok(Ok(()))) | None => ExitCode::SUCCESS,
        Some(Ok(Err(e))) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(2)
        }
        Some(Err(e)) => {
            eprintln!("ERROR: {e}");
            ExitCode::from(2)
        }
    };
    discovery.abort();
    code
}
