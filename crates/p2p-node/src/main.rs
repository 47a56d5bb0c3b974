//! `p2p-node -configfile tessera.json`: serves the config's P2P entry and runs discovery.

use std::process::ExitCode;

use tm_config::AppType;
use tm_service::Service;

#[tokio::main]
async fn main() -> ExitCode {
    let service = match Service::start(AppType::P2P, "p2p", std::env::args_os()).await {
        Ok(service) => service,
        Err(code) => return code,
    };
    let routes = p2p_node::routes(&service.node);
    // Discovery runs beside the server; every replica runs one, sharing the database.
    let discovery = tokio::spawn(service.node.clone().run_discovery());
    let code = service.serve(routes).await;
    discovery.abort();
    code
}
