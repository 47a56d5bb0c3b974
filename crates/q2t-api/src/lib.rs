//! The Q2T API (docs/protocol.md §6): what GoQuorum calls to send and receive private transactions,
//! as thin routes over the transaction manager ([`tm_manager::transaction`]).
//!
//! Served on TCP (`http://localhost:9101`) or on a unix socket (`unix:/path/tm.ipc`, how
//! GoQuorum is usually wired); `tm_service::Service` binds either. Media types, paths, JSON
//! names, statuses and plain-text errors follow Tessera; `docs/q2t.md` lists them. Bad input is
//! refused before anything is stored, and each error is logged once, where it becomes a
//! response ([`tm_http::ApiError`]).

pub mod handlers;
pub mod input;
pub mod media;

use actix_web::{web, HttpResponse};
use tm_config::{AppType, ClientMode, Config};
use tm_http::{Listener, Running, StartError};
use tm_service::Service;

/// Starts the Q2T service of `config` on `listener` (TCP, or a unix socket as GoQuorum is
/// usually wired), in the background on the current tokio runtime.
pub async fn start(config: Config, listener: Listener) -> Result<Running, StartError> {
    let service = Service::build(AppType::Q2T, config).await?;
    let routes = routes(&service.config().mode);
    service.serve("q2t", listener, routes)
}

/// Jersey's answer to a path no resource serves (Tessera's NotFoundExceptionMapper).
async fn no_such_path() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("HTTP 404 Not Found")
}

/// The Q2T routes of a node in `mode`, ready for [`tm_service::Service::serve`] (which adds
/// `/`, `/upcheck`, `/version`, `/version/api` and `/metrics`). In orion mode only Besu's set
/// is served, as Tessera's `Q2TRestApp` registers it (docs/privacy-groups.md).
pub fn routes(mode: &ClientMode) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let orion = *mode == ClientMode::Orion;
    move |cfg: &mut web::ServiceConfig| {
        use handlers as h;
        if orion {
            cfg.route("/send", web::post().to(h::orion_send))
                .route("/receive", web::post().to(h::orion_receive))
                .route("/storeraw", web::post().to(h::store_raw));
        } else {
            tessera_routes(cfg);
        }
        group_routes(cfg);
        cfg.default_service(web::to(no_such_path));
    }
}

/// What only a node in tessera mode (GoQuorum's) serves.
fn tessera_routes(cfg: &mut web::ServiceConfig) {
    use handlers as h;
    cfg.route("/send", web::post().to(h::send))
        .route("/sendsignedtx", web::post().to(h::send_signed))
        .route("/sendraw", web::post().to(h::send_raw))
        .route("/storeraw", web::post().to(h::store_raw))
        .route("/receiveraw", web::get().to(h::receive_raw))
        .route("/delete", web::post().to(h::delete_deprecated))
        .route("/transaction/{hash}", web::get().to(h::receive))
        .route("/transaction/{hash}", web::delete().to(h::delete))
        .route("/transaction/{hash}/isSender", web::get().to(h::is_sender))
        .route(
            "/transaction/{hash}/participants",
            web::get().to(h::participants),
        )
        .route("/transaction/{hash}/mandatory", web::get().to(h::mandatory))
        .route(
            "/encodedpayload/create",
            web::post().to(h::encoded_payload_create),
        )
        .route(
            "/encodedpayload/decrypt",
            web::post().to(h::encoded_payload_decrypt),
        )
        .route("/partyinfo/keys", web::get().to(h::party_info_keys));
}

/// Tessera's `PrivacyGroupResource`, served in both modes.
fn group_routes(cfg: &mut web::ServiceConfig) {
    use handlers as h;
    cfg.route("/groups/{type}", web::get().to(h::groups))
        .route(
            "/createPrivacyGroup",
            web::post().to(h::create_privacy_group),
        )
        .route("/findPrivacyGroup", web::post().to(h::find_privacy_group))
        .route(
            "/retrievePrivacyGroup",
            web::post().to(h::retrieve_privacy_group),
        )
        .route(
            "/deletePrivacyGroup",
            web::post().to(h::delete_privacy_group),
        );
}
