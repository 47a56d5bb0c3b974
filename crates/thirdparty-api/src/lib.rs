//! The ThirdParty API (docs/protocol.md §7): `/storeraw` for third-party signers and the key
//! listings, as thin routes over the transaction manager. The handlers are the Q2T service's own
//! ([`q2t_api::handlers`]), so both answer `/storeraw` identically.

use actix_web::{web, HttpResponse};
use q2t_api::handlers;
use tm_config::{AppType, Config};
use tm_http::{Listener, Running, StartError};
use tm_service::Service;

/// Starts the ThirdParty service of `config` on `listener`, in the background on the current
/// tokio runtime.
pub async fn start(config: Config, listener: Listener) -> Result<Running, StartError> {
    let service = Service::build(AppType::ThirdParty, config).await?;
    service.serve("thirdparty", listener, routes())
}

async fn no_such_path() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("HTTP 404 Not Found")
}

/// The ThirdParty routes, ready for [`tm_service::Service::serve`] (which adds `/`,
/// `/upcheck`, `/version`, `/version/api` and `/metrics`).
pub fn routes() -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    |cfg: &mut web::ServiceConfig| {
        cfg.route("/storeraw", web::post().to(handlers::store_raw))
            .route("/keys", web::get().to(handlers::keys))
            .route("/partyinfo/keys", web::get().to(handlers::party_info_keys))
            .default_service(web::to(no_such_path));
    }
}
