//! The ThirdParty API (api.md §4): `/storeraw` for third-party signers and the key listings,
//! as thin routes over the transaction manager. The handlers are the Q2T service's own
//! ([`q2t_api::handlers`]), so both answer `/storeraw` identically.

use actix_web::{web, HttpResponse};
use q2t_api::handlers;

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
