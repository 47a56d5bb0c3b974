//! `q2t-api -configfile tessera.json`: serves the config's Q2T entry (TCP or unix socket).

use std::process::ExitCode;

use tm_config::AppType;
use tm_service::Service;

#[tokio::main]
async fn main() -> ExitCode {
    let service = match Service::start(AppType::Q2T, "q2t", std::env::args_os()).await {
        Ok(service) => service,
        Err(code) => return code,
    };
    let routes = q2t_api::routes(&service.config);
    service.serve(routes).await
}
