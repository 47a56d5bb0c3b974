//! `thirdparty-api -configfile tessera.json`: serves the config's ThirdParty entry.

use std::process::ExitCode;

use tm_config::AppType;

#[tokio::main]
async fn main() -> ExitCode {
    tm_service::main(
        AppType::ThirdParty,
        std::env::args_os(),
        thirdparty_api::start,
    )
    .await
}
