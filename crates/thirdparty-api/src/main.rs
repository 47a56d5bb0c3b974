//! `thirdparty-api -configfile tessera.json`: serves the config's ThirdParty entry.

use std::process::ExitCode;

use tm_config::AppType;
use tm_service::Service;

#[tokio::main]
async fn main() -> ExitCode {
    let service = match Service::start(AppType::ThirdParty, "thirdparty", std::env::args_os()).await
    {
        Ok(service) => service,
        Err(code) => return code,
    };
    service.serve(thirdparty_api::routes()).await
}
