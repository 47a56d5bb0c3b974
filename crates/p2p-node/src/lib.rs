//! The P2P API (docs/protocol.md §5) as thin routes over the transaction manager.
//!
//! Garbage on any endpoint gets a 4xx with a plain-text reason and changes nothing: bodies are
//! decoded completely before anything is stored.

mod whitelist;

use actix_web::middleware::{from_fn, Condition};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use tm_client::p2p::{
    PushBatchRequest, ResendBatchRequest, ResendBatchResponse, ResendType, OCTET_STREAM,
};
use tm_config::{AppType, Config};
use tm_core::partyinfo::PartyInfo;
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::version::{parse_header_values, VERSION_HEADER};
use tm_core::{PayloadCodec, PublicKey, TxHash};
use tm_http::ApiError;
use tm_http::{Listener, Running, StartError};
use tm_manager::Node;
use tm_service::Service;

pub use whitelist::Whitelist;

/// Starts the P2P service of `config` on `listener`, in the background on the current tokio
/// runtime: the routes, and discovery beside them until it is stopped. The P2P entry's
/// `serverAddress` is what peers are told, so with a listener on port 0 build the config
/// with the port it got.
pub async fn start(config: Config, listener: Listener) -> Result<Running, StartError> {
    let service = Service::build(AppType::P2P, config).await?;
    let routes = routes(service.node());
    // Every replica runs discovery, sharing the party store in the database.
    let discovery = tokio::spawn(service.node().clone().run_discovery());
    Ok(service.serve("p2p", listener, routes)?.with_task(discovery))
}

/// The P2P routes for `node`, ready for [`tm_service::Service::serve`].
pub fn routes(node: &Node) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let whitelist = Whitelist::from_peers(&node.settings().configured_peers);
    let enabled = node.settings().use_white_list;
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::new(whitelist.clone())).service(
            web::scope("")
                .wrap(Condition::new(enabled, from_fn(whitelist::check)))
                .route("/partyinfo", web::post().to(post_party_info))
                .route("/partyinfo", web::get().to(get_party_info))
                .route("/partyinfo/validate", web::post().to(validate))
                .route("/push", web::post().to(push))
                .route("/resend", web::post().to(resend))
                .route("/resendBatch", web::post().to(resend_batch))
                .route("/pushBatch", web::post().to(push_batch))
                .route("/pushPrivacyGroup", web::post().to(push_privacy_group)),
        );
    }
}

/// The caller's API versions, from every `tesseraSupportedApiVersions` header value.
fn caller_versions(req: &HttpRequest) -> Vec<String> {
    parse_header_values(
        req.headers()
            .get_all(VERSION_HEADER)
            .filter_map(|value| value.to_str().ok()),
    )
}

fn octets(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type(OCTET_STREAM).body(body)
}

async fn post_party_info(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let info = PartyInfo::decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid party info: {e}")))?;
    let reply = node.receive_party_info(info, caller_versions(&req)).await?;
    Ok(octets(reply))
}

async fn get_party_info(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(node.party_info_json().await?))
}

async fn validate(node: web::Data<Node>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let answer = node.answer_validation(&body).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body(answer))
}

async fn push(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let versions = caller_versions(&req);
    let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
    let payload = codec
        .decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid {codec} payload: {e}")))?;
    let (hash, _) = node.receive_push(payload).await?;
    Ok(HttpResponse::Created()
        .content_type("text/plain")
        .body(hash.to_base64()))
}

/// `POST /resend` as received: `type` is read as text so that a wrong value is a 400.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResendBody {
    #[serde(rename = "type")]
    resend_type: Option<String>,
    public_key: Option<String>,
    key: Option<String>,
}

async fn resend(
    node: web::Data<Node>,
    body: web::Json<ResendBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let resend_type = match body.resend_type.as_deref() {
        Some("ALL") => ResendType::All,
        Some("INDIVIDUAL") => ResendType::Individual,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown resend type {other:?}"
            )))
        }
        None => return Err(ApiError::bad_request("resend type is required")),
    };
    let key = PublicKey::from_base64(body.public_key.as_deref().unwrap_or_default())
        .map_err(|_| ApiError::bad_request("publicKey is not valid base64"))?;
    if key.as_bytes().is_empty() {
        return Err(ApiError::bad_request("publicKey is required"));
    }
    match resend_type {
        ResendType::All => {
            node.resend_all(&key).await?;
            Ok(HttpResponse::Ok().finish())
        }
        ResendType::Individual => {
            let hash = TxHash::from_base64(body.key.as_deref().unwrap_or_default())
                .map_err(|_| ApiError::bad_request("key is not a valid base64 transaction hash"))?;
            let bytes = node.resend_individual(&key, &hash).await?;
            // Tessera declares text/plain although the body is a binary payload.
            Ok(HttpResponse::Ok().content_type("text/plain").body(bytes))
        }
    }
}

async fn resend_batch(
    node: web::Data<Node>,
    body: web::Json<ResendBatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let total = node.resend_batch(&body.public_key, body.batch_size).await?;
    Ok(HttpResponse::Ok().json(ResendBatchResponse { total }))
}

/// `POST /pushBatch`: the payloads a peer resends to us in answer to our `/resendBatch`,
/// always LEGACY. Tessera serves it only in recovery mode and stages the payloads; we serve it
/// always and store them as pushes, all or nothing: every entry must decode and pass the push
/// checks, and all are stored in one database transaction.
async fn push_batch(
    node: web::Data<Node>,
    body: web::Json<PushBatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let payloads = body
        .encoded_payloads
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            PayloadCodec::Legacy.decode(bytes).map_err(|e| {
                ApiError::bad_request(format!("invalid LEGACY payload at index {i}: {e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    node.receive_push_batch(payloads).await?;
    Ok(HttpResponse::Ok().finish())
}

async fn push_privacy_group(
    node: web::Data<Node>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let record = PrivacyGroupRecord::decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid privacy group: {e}")))?;
    node.receive_privacy_group(record).await?;
    Ok(HttpResponse::Ok().finish())
}
