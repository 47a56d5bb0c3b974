//! Endpoints every Tessera app (Q2T, ThirdParty, P2P) serves (docs/protocol.md §4.7).

use actix_web::{web, HttpResponse};

use tm_core::version::API_VERSIONS_NUMERIC;

/// What `GET /upcheck` answers.
pub const UPCHECK_BODY: &str = "I'm up!";

/// Adds `GET /`, `/upcheck`, `/version`, `/version/distribution` and `/version/api`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(root))
        .route("/upcheck", web::get().to(upcheck))
        .route("/version", web::get().to(version))
        .route("/version/distribution", web::get().to(version))
        .route("/version/api", web::get().to(api_versions));
}

async fn root() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").finish()
}

async fn upcheck() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(UPCHECK_BODY)
}

async fn version() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(crate::DISTRIBUTION_VERSION)
}

async fn api_versions() -> HttpResponse {
    HttpResponse::Ok().json(API_VERSIONS_NUMERIC)
}
