//! `p2p-node -configfile tessera.json`: serves the config's P2P entry and runs discovery.
//! `p2p-node -configfile tessera.json --recover` recovers the node's transactions from its
//! peers and exits (0 all recovered, 1 partly, 2 failed).

use std::process::ExitCode;

use tm_config::AppType;

#[tokio::main]
async fn main() -> ExitCode {
    tm_service::main_with_recovery(
        AppType::P2P,
        std::env::args_os(),
        p2p_node::start,
        p2p_node::run_recovery,
    )
    .await
}
