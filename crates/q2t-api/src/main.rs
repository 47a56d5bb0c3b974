//! `q2t-api -configfile tessera.json`: serves the config's Q2T entry (TCP or unix socket).

use std::process::ExitCode;

use tm_config::AppType;

#[tokio::main]
async fn main() -> ExitCode {
    tm_service::main(AppType::Q2T, std::env::args_os(), q2t_api::start).await
}
