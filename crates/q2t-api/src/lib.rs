//! The Q2T API (api.md §3): what GoQuorum calls to send and receive private transactions, as
//! thin routes over the transaction manager ([`tm_manager::transaction`]).
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
use tm_client::q2t::PrivacyGroupResponse;
use tm_config::Config;

/// What the Q2T routes read from the config besides the [`tm_manager::Node`].
#[derive(Clone, Debug, Default)]
pub struct Q2tSettings {
    /// `features.enableMultiplePrivateStates`.
    pub multiple_private_states: bool,
    /// The configured `residentGroups`, as `/groups/resident` lists them.
    pub resident_groups: Vec<PrivacyGroupResponse>,
}

impl Q2tSettings {
    /// Reads the settings from a validated config. A resident group's id is its name's bytes.
    pub fn from_config(config: &Config) -> Self {
        Self {
            multiple_private_states: config.features.enable_multiple_private_states,
            resident_groups: config
                .resident_groups
                .iter()
                .map(|group| PrivacyGroupResponse {
                    privacy_group_id: tm_core::b64::encode(group.name.as_bytes()),
                    name: group.name.clone(),
                    description: group.description.clone().unwrap_or_default(),
                    group_type: "RESIDENT".into(),
                    members: group.members.clone(),
                })
                .collect(),
        }
    }
}

/// Jersey's answer to a path no resource serves (Tessera's NotFoundExceptionMapper).
async fn no_such_path() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("HTTP 404 Not Found")
}

/// The Q2T routes, ready for [`tm_service::Service::serve`] (which adds `/`, `/upcheck`,
/// `/version`, `/version/api` and `/metrics`).
pub fn routes(config: &Config) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let settings = Q2tSettings::from_config(config);
    move |cfg: &mut web::ServiceConfig| {
        use handlers as h;
        cfg.app_data(web::Data::new(settings.clone()))
            .route("/send", web::post().to(h::send))
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
            .route("/groups/{type}", web::get().to(h::groups))
            .route("/partyinfo/keys", web::get().to(h::party_info_keys))
            .default_service(web::to(no_such_path));
    }
}
