//! The remote enclave REST API (docs/protocol.md §8) on actix-web.
//!
//! Request bodies are read as bytes and parsed here, so that a malformed body gets a plain-text
//! 400 naming the problem. Every failure is logged once, at the point it is answered.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use tm_core::codec::encode_legacy;
use tm_core::PublicKey;
use tm_http::ApiError;

use crate::api;
use crate::{Enclave, EnclaveError};

/// The largest request body accepted (a payload with many affected transactions is large).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Registers the enclave routes on an actix app (for a server of one's own).
pub fn configure(enclave: Arc<Enclave>) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(enclave))
            .app_data(web::PayloadConfig::new(MAX_BODY_BYTES))
            .route("/ping", web::get().to(ping))
            .route("/default", web::get().to(default_key))
            .route("/forwarding", web::get().to(forwarding))
            .route("/public", web::get().to(public))
            .route("/encrypt", web::post().to(encrypt))
            .route("/encrypt/raw", web::post().to(encrypt_raw))
            .route("/encrypt/toraw", web::post().to(encrypt_to_raw))
            .route("/unencrypt", web::post().to(unencrypt))
            .route("/unencrypt/raw", web::post().to(unencrypt_raw))
            .route("/addRecipient", web::post().to(add_recipient))
            .route(
                "/findinvalidsecurityhashes",
                web::post().to(find_invalid_security_hashes),
            );
    }
}

type Shared = web::Data<Enclave>;

/// The answer to a request: failures become Tessera's plain-text errors through their kind
/// (`tm_http::ApiError`, which also logs each once; messages name public keys at most).
fn answer(result: Result<HttpResponse, EnclaveError>) -> Result<HttpResponse, ApiError> {
    result.map_err(ApiError::from)
}

fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, EnclaveError> {
    serde_json::from_slice(body).map_err(|e| {
        EnclaveError::BadRequest(format!(
            "invalid JSON body ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

fn octets(bytes: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::octet_stream())
        .body(bytes)
}

fn key_list(keys: Vec<PublicKey>) -> HttpResponse {
    let list: Vec<String> = keys.iter().map(PublicKey::to_base64).collect();
    HttpResponse::Ok().json(list)
}

async fn ping(enclave: Shared) -> HttpResponse {
    let status = enclave.status();
    let code = if status == crate::Status::Started {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    HttpResponse::build(code)
        .content_type(ContentType::plaintext())
        .body(status.name())
}

async fn default_key(enclave: Shared) -> Result<HttpResponse, ApiError> {
    let key = enclave.default_public_key()?;
    Ok(octets(key.as_bytes().to_vec()))
}

async fn forwarding(enclave: Shared) -> HttpResponse {
    key_list(enclave.forwarding_keys())
}

async fn public(enclave: Shared) -> HttpResponse {
    key_list(enclave.public_keys())
}

async fn encrypt(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclavePayload = parse(&body)?;
        let payload = enclave.encrypt_payload(
            &request.data,
            &request.sender(),
            &request.recipients(),
            &request.metadata()?,
        )?;
        Ok(octets(encode_legacy(&payload)))
    })())
}

async fn encrypt_raw(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclaveRawPayload = parse(&body)?;
        let payload = enclave.encrypt_raw_for_recipients(
            &request.raw(),
            &request.recipients(),
            &request.metadata()?,
        )?;
        Ok(octets(encode_legacy(&payload)))
    })())
}

async fn encrypt_to_raw(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclavePayload = parse(&body)?;
        let raw = enclave.encrypt_raw_payload(&request.data, &request.sender())?;
        Ok(HttpResponse::Ok().json(api::EnclaveRawPayload::from_raw(&raw)))
    })())
}

async fn unencrypt(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclaveUnencryptPayload = parse(&body)?;
        let payload = api::decode_payload(&request.data)?;
        let key = request.provided_key.map(PublicKey::from_bytes);
        Ok(octets(
            enclave.unencrypt_transaction(&payload, key.as_ref())?,
        ))
    })())
}

async fn unencrypt_raw(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclaveRawPayload = parse(&body)?;
        Ok(octets(enclave.unencrypt_raw_payload(&request.raw())?))
    })())
}

async fn add_recipient(enclave: Shared, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::EnclaveUnencryptPayload = parse(&body)?;
        let payload = api::decode_payload(&request.data)?;
        let recipient = request
            .provided_key
            .map(PublicKey::from_bytes)
            .ok_or_else(|| EnclaveError::BadRequest("providedKey is required".into()))?;
        Ok(octets(
            enclave.create_new_recipient_box(&payload, &recipient)?,
        ))
    })())
}

async fn find_invalid_security_hashes(
    enclave: Shared,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    answer((|| {
        let request: api::FindInvalidSecurityHashesRequest = parse(&body)?;
        let payload = api::decode_payload(&request.encoded_payload)?;
        let affected = api::affected_from_wire(&request.affected_contract_transactions)?;
        let invalid = enclave.find_invalid_security_hashes(&payload, &affected)?;
        Ok(
            HttpResponse::Ok().json(api::FindInvalidSecurityHashesResponse {
                invalid_security_hashes: invalid
                    .into_iter()
                    .map(|h| h.as_bytes().to_vec())
                    .collect(),
            }),
        )
    })())
}
