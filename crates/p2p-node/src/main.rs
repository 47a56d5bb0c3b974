//! `p2p-node -configfile tessera.json`: serves the config's P2P entry and runs discovery.

use std::process::ExitCode;

use tm_config::AppType;

#[tokio::main]
async fn main() -> ExitCode {
    tm_service::main(AppType::P2P, std::env::args_os(), p2p_node::start).await
}
