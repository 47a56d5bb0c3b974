//! The P2P API (docs/protocol.md §5) as thin routes over the transaction manager.
//!
//! Garbage on any endpoint gets a 4xx with a plain-text reason and changes nothing: bodies are
//! decoded completely before anything is stored.

mod whitelist;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::http::Method;
use actix_web::middleware::{from_fn, Condition, Next};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError as _};
use serde::Deserialize;
use tm_client::p2p::{
    PushBatchRequest, ResendBatchRequest, ResendBatchResponse, ResendType, OCTET_STREAM,
};
use tm_config::cli::Exit;
use tm_config::{AppType, Config};
use tm_core::partyinfo::{normalise_party_url, PartyInfo};
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::version::{
    parse_header_values, GROUPED_PUSH_HEADER, GROUPED_PUSH_MARK, GROUPED_PUSH_VALUE, VERSION_HEADER,
};
use tm_core::{PayloadCodec, PublicKey, TxHash};
use tm_http::limits;
use tm_http::ApiError;
use tm_http::{Listener, Running, StartError, Started};
use tm_manager::Node;
use tm_service::Service;

pub use whitelist::Whitelist;

/// Starts the P2P service of `config` on `listener`, in the background on the current tokio
/// runtime: the routes, and discovery beside them until it is stopped. The P2P entry's
/// `serverAddress` is what peers are told, so with a listener on port 0 build the config
/// with the port it got.
pub async fn start(config: Config, listener: Listener) -> Result<Running, StartError> {
    let service = Service::build(AppType::P2P, config).await?;
    serve_with_discovery(&service, listener, Mode::Normal)
}

/// Starts the recovery-mode P2P service of `config` on `listener` (Tessera's
/// `RecoveryResource`: party info, `/pushBatch` into the staging tables, `/push` of
/// standard-private payloads), with discovery beside it; [`recover`] runs recovery over it.
pub async fn start_recovery_mode(
    config: Config,
    listener: Listener,
) -> Result<(Node, Running), StartError> {
    let service = Service::build(AppType::P2P, config).await?;
    let running = serve_with_discovery(&service, listener, Mode::Recovery)?;
    Ok((service.node().clone(), running))
}

/// Serves the P2P routes of `mode`, and runs discovery until the server stops. Every replica
/// runs discovery, sharing the party store in the database.
fn serve_with_discovery(
    service: &Service,
    listener: Listener,
    mode: Mode,
) -> Result<Running, StartError> {
    let routes = routes_of(service.node(), mode);
    let discovery = tokio::spawn(service.node().clone().run_discovery());
    Ok(service.serve("p2p", listener, routes)?.with_task(discovery))
}

/// Runs recovery (`--recover`, docs/operations.md "Recovering a node"): serves the
/// recovery-mode P2P routes of `config` on `listener` with discovery beside them, asks every
/// peer to resend, moves what arrived into the database, stops serving and reports. The
/// caller exits with [`tm_manager::recovery::RecoveryResult::code`] of
/// [`tm_manager::recovery::RecoveryReport::result`].
pub async fn recover(
    config: Config,
    listener: Listener,
) -> Result<tm_manager::recovery::RecoveryReport, StartError> {
    let (node, running) = start_recovery_mode(config, listener).await?;
    tracing::info!("recovery mode: serving P2P only");
    let report = node.recover().await;
    running.stop().await;
    Ok(report)
}

/// [`recover`] as a binary's `--recover` ends: the exit status of the result and a summary
/// that says what to do next.
pub async fn run_recovery(config: Config, listener: Listener) -> Result<Started, StartError> {
    use tm_manager::recovery::RecoveryResult;
    let report = recover(config, listener).await?;
    let (exit, next) = match report.result() {
        RecoveryResult::Success => (Exit::Success, "start the node normally"),
        RecoveryResult::PartialSuccess => (
            Exit::PartialSuccess,
            "some transactions are missing: fix what the log names (a peer down, a refused \
             payload) and run --recover again; it is safe to repeat",
        ),
        RecoveryResult::Failure => (
            Exit::Failure,
            "nothing was recovered: check the log, the peers and the database, then run \
             --recover again",
        ),
    };
    Ok(Started::Finished(exit, format!("{report}\nnext: {next}")))
}

/// The P2P routes for `node`, ready for [`tm_service::Service::serve`].
pub fn routes(node: &Node) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    routes_of(node, Mode::Normal)
}

/// Which P2P resources a node serves (docs/protocol.md §5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Everything but `/pushBatch`.
    Normal,
    /// Party info, `/push` (standard private only) and `/pushBatch`.
    Recovery,
}

fn routes_of(node: &Node, mode: Mode) -> impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static {
    let whitelist = Whitelist::from_peers(&node.settings().configured_peers);
    let enabled = node.settings().use_white_list;
    move |cfg: &mut web::ServiceConfig| {
        // Bodies are read innermost, after the whitelist and the content type have been
        // checked (docs/security.md, "Limits on requests").
        let scope = web::scope("")
            .wrap(from_fn(limits::scope_guard))
            .wrap(from_fn(octet_stream_only))
            .wrap(Condition::new(enabled, from_fn(whitelist::check)))
            .route("/partyinfo", web::post().to(post_party_info))
            .route("/partyinfo", web::get().to(get_party_info))
            .route("/partyinfo/validate", web::post().to(validate));
        let scope = match mode {
            Mode::Normal => scope
                .route("/push", web::post().to(push))
                .route("/resend", web::post().to(resend))
                .route("/resendBatch", web::post().to(resend_batch))
                .route("/pushPrivacyGroup", web::post().to(push_privacy_group)),
            Mode::Recovery => scope
                .route("/push", web::post().to(push_in_recovery))
                .route("/pushBatch", web::post().to(push_batch)),
        };
        cfg.app_data(web::Data::new(whitelist.clone()))
            .app_data(web::Data::new(limits::GuardInScope))
            .service(scope);
    }
}

/// The endpoints whose body is binary: Tessera declares them
/// `@Consumes(APPLICATION_OCTET_STREAM)` (`TransactionResource`, `PartyInfoResource`,
/// `PrivacyGroupResource`).
const BINARY_PATHS: [&str; 4] = [
    "/partyinfo",
    "/partyinfo/validate",
    "/push",
    "/pushPrivacyGroup",
];

/// Middleware: a POST to a binary endpoint that declares a `Content-Type` other than
/// `application/octet-stream` (parameters and case aside) is refused with 415 and Jersey's
/// text before its body is read. Tessera's mapper turns Jersey's 415 into a 500; we keep the
/// 4xx (docs/security.md). A request without `Content-Type` is let through, as Jersey matches
/// it to any `@Consumes`; our client and Tessera's always send `application/octet-stream`.
async fn octet_stream_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() == Method::POST && BINARY_PATHS.contains(&req.path()) {
        if let Some(value) = req.headers().get(CONTENT_TYPE) {
            let essence = value
                .to_str()
                .ok()
                .and_then(|v| v.split(';').next())
                .map(|v| v.trim().to_ascii_lowercase());
            if essence.as_deref() != Some(OCTET_STREAM) {
                let refusal = ApiError::new(
                    tm_core::ErrorKind::UnsupportedMediaType,
                    "HTTP 415 Unsupported Media Type",
                );
                return Ok(req.into_response(refusal.error_response()));
            }
        }
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

/// The caller's API versions, from every `tesseraSupportedApiVersions` header value.
fn caller_versions(req: &HttpRequest) -> Vec<String> {
    parse_header_values(
        req.headers()
            .get_all(VERSION_HEADER)
            .filter_map(|value| value.to_str().ok()),
    )
}

/// The longest URL the party store holds (`tm_peer.url`, `tm_recipient.peer_url`:
/// `VARCHAR(2048)` in migrations/).
const MAX_URL_CHARS: usize = 2048;
/// The longest version list the party store holds (`tm_peer.api_versions`, comma-joined:
/// `VARCHAR(1024)` in migrations/).
const MAX_VERSIONS_CHARS: usize = 1024;
/// The longest public key accepted in party info: far above any key's encoding, and under
/// PostgreSQL's limit on an index entry (`tm_recipient.public_key` is a primary key).
const MAX_KEY_BYTES: usize = 1024;

/// The caller's versions as the party store keeps them: refused (400) when their comma-joined
/// list is longer than the column holds.
fn stored_caller_versions(req: &HttpRequest) -> Result<Vec<String>, ApiError> {
    let mut versions = caller_versions(req);
    // A node that merges grouped pushes says so in a header of its own; the mark is kept with
    // its versions (docs/p2p.md, "One push per node").
    let grouped = req
        .headers()
        .get_all(GROUPED_PUSH_HEADER)
        .any(|value| value.as_bytes() == GROUPED_PUSH_VALUE.as_bytes());
    if grouped && !versions.iter().any(|v| v == GROUPED_PUSH_MARK) {
        versions.push(GROUPED_PUSH_MARK.to_owned());
    }
    let joined = versions
        .iter()
        .map(|v| v.chars().count() + 1)
        .sum::<usize>();
    if joined.saturating_sub(1) > MAX_VERSIONS_CHARS {
        return Err(ApiError::bad_request(format!(
            "{VERSION_HEADER} is longer than {MAX_VERSIONS_CHARS} characters"
        )));
    }
    Ok(versions)
}

/// A URL of party info that the party store could hold: at most [`MAX_URL_CHARS`] characters
/// once normalised, no NUL or other control character (PostgreSQL refuses a NUL in text).
fn check_party_url(url: &str, what: &str) -> Result<(), ApiError> {
    if normalise_party_url(url).chars().count() > MAX_URL_CHARS {
        return Err(ApiError::bad_request(format!(
            "invalid party info: {what} is longer than {MAX_URL_CHARS} characters"
        )));
    }
    if url.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "invalid party info: {what} contains a control character"
        )));
    }
    Ok(())
}

/// Party info whose every URL and key the party store can hold (docs/security.md): what would
/// make the database fail is refused here, with a 400 naming it.
fn check_party_info(info: &PartyInfo) -> Result<(), ApiError> {
    check_party_url(&info.url, "url")?;
    for recipient in &info.recipients {
        check_party_url(&recipient.url, "recipient url")?;
        if recipient.key.as_bytes().len() > MAX_KEY_BYTES {
            return Err(ApiError::bad_request(format!(
                "invalid party info: a recipient key is longer than {MAX_KEY_BYTES} bytes"
            )));
        }
    }
    for party in &info.parties {
        check_party_url(party, "party url")?;
    }
    Ok(())
}

fn octets(body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok().content_type(OCTET_STREAM).body(body)
}

async fn post_party_info(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let large = body.len() > tm_manager::party::LARGE_PARTY_INFO_BYTES;
    let decode = move || -> Result<PartyInfo, ApiError> {
        let info = PartyInfo::decode(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid party info: {e}")))?;
        check_party_info(&info)?;
        Ok(info)
    };
    // A large party info is decoded and checked off the async workers (docs/security.md).
    let info = if large {
        web::block(decode)
            .await
            .map_err(|e| ApiError::internal(format!("party info decoding: {e}")))??
    } else {
        decode()?
    };
    let versions = stored_caller_versions(&req)?;
    let reply = node.receive_party_info(info, versions).await?;
    Ok(octets(reply))
}

async fn get_party_info(node: web::Data<Node>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(node.party_info_json().await?))
}

async fn validate(node: web::Data<Node>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let answer = node.answer_validation(&body).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body(answer))
}

/// A pushed payload, decoded with the codec the caller's versions pick.
fn pushed_payload(req: &HttpRequest, body: &[u8]) -> Result<tm_core::EncodedPayload, ApiError> {
    let versions = caller_versions(req);
    let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
    codec
        .decode(body)
        .map_err(|e| ApiError::bad_request(format!("invalid {codec} payload: {e}")))
}

fn pushed(hash: &TxHash) -> HttpResponse {
    HttpResponse::Created()
        .content_type("text/plain")
        .body(hash.to_base64())
}

async fn push(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let (hash, _) = node.receive_push(pushed_payload(&req, &body)?).await?;
    Ok(pushed(&hash))
}

/// Recovery-mode `/push`: standard-private payloads only (403 otherwise).
async fn push_in_recovery(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let payload = pushed_payload(&req, &body)?;
    let (hash, _) = node.receive_push_in_recovery(payload).await?;
    Ok(pushed(&hash))
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

/// `POST /pushBatch` (recovery mode only, as in Tessera): the payloads a peer resends to us in
/// answer to our `/resendBatch`, always LEGACY, staged all or nothing: every entry must decode
/// and be storable, and all are staged in one database transaction.
async fn push_batch(
    node: web::Data<Node>,
    body: web::Json<PushBatchRequest>,
) -> Result<HttpResponse, ApiError> {
    let payloads = body
        .encoded_payloads
        .iter()
        .enumerate()
        .map(|(i, bytes)| {
            PayloadCodec::Legacy
                .decode(bytes)
                .map(|payload| (bytes.clone(), payload))
                .map_err(|e| {
                    ApiError::bad_request(format!("invalid LEGACY payload at index {i}: {e}"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    node.stage_push_batch(payloads).await?;
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
