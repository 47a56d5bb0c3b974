//! The remote enclave REST API (docs/protocol.md §8) on actix-web.
//!
//! Request bodies are read as bytes and parsed here, so that a malformed body gets a plain-text
//! 400 naming the problem. Every failure is logged once, at the point it is answered.
//!
//! Bodies are read within `tm_http::limits::BodyLimits::enclave()`: up to
//! [`MAX_BODY_BYTES`], which holds the largest request a node service makes from a body it
//! accepted (a plaintext or a stored payload in base64, inside JSON); a larger one is a
//! plain-text 413, which the enclave client reports as `EnclaveError::TooLarge` (413 to the
//! service's caller). docs/security.md, "Limits on requests".

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::http::StatusCode;
use actix_web::middleware::from_fn;
use actix_web::{web, HttpResponse};
use serde::de::DeserializeOwned;
use tm_core::codec::encode_legacy;
use tm_core::PublicKey;
use tm_http::drain::Draining;
use tm_http::limits::{self, BodyGuard, BodyLimits};
use tm_http::ApiError;

use crate::api;
use crate::{Enclave, EnclaveError};

/// The largest request body accepted: the base64 of the largest payload a node stores (an
/// encoded payload of the largest plaintext Q2T accepts), inside JSON.
pub const MAX_BODY_BYTES: usize = limits::MAX_ENCLAVE_BODY_BYTES;

/// Registers the enclave routes on an actix app (for a server of one's own), with the body
/// limits of the enclave (one memory budget shared by every worker of the server).
pub fn configure(enclave: Arc<Enclave>) -> impl FnOnce(&mut web::ServiceConfig) + Clone {
    let body_limits = BodyLimits::enclave();
    let guard = web::Data::new(BodyGuard::new(body_limits.clone()));
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(enclave))
            .app_data(guard)
            .app_data(body_limits.payload_config())
            .service(
                web::scope("")
                    .wrap(from_fn(limits::guard))
                    .route("/ping", web::get().to(ping))
                    .route("/upcheck", web::get().to(upcheck))
                    .route("/readiness", web::get().to(readiness))
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
                    ),
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

/// Liveness, as the node services answer it: unconditional.
async fn upcheck() -> HttpResponse {
    HttpResponse::Ok()
        .content_type(ContentType::plaintext())
        .body(tm_http::common::UPCHECK_BODY)
}

/// Readiness, what balancers and Kubernetes check: 503 while the server drains before it
/// stops (`tm_http::drain`), else as `/ping`.
async fn readiness(enclave: Shared, draining: Option<web::Data<Draining>>) -> HttpResponse {
    if draining.is_some_and(|d| d.is_draining()) {
        return Draining::not_ready();
    }
    ping(enclave).await
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use tm_core::seal::PrivacyMetadata;
    use tm_core::KeyPair;
    use tm_http::limits::{base64_len, ENVELOPE_BYTES, MAX_CLIENT_BODY_BYTES, MAX_P2P_BODY_BYTES};
    use tm_http::Listener;

    use super::*;

    fn json_len<T: serde::Serialize>(value: &T) -> usize {
        serde_json::to_vec(value).expect("JSON").len()
    }

    /// The requests a node makes grow with their data by its base64 length, plus a fixed
    /// envelope: so the largest ones (a plaintext of the largest client body, a stored payload
    /// of the largest P2P body) fit under the limit.
    #[test]
    fn the_largest_request_a_node_makes_fits_the_limit() {
        let sender = KeyPair::generate().expect("key").public;
        let recipients: Vec<PublicKey> = (0..100)
            .map(|_| KeyPair::generate().expect("key").public)
            .collect();
        let encrypt = |n: usize| {
            json_len(&api::EnclavePayload::new(
                &vec![7u8; n],
                &sender,
                &recipients,
                &PrivacyMetadata::default(),
            ))
        };
        let unencrypt = |n: usize| {
            json_len(&api::EnclaveUnencryptPayload {
                data: vec![7u8; n],
                provided_key: Some(sender.as_bytes().to_vec()),
            })
        };
        let envelope = encrypt(0);
        for n in [1, 2, 3, 1000, 30_001] {
            assert_eq!(encrypt(n), base64_len(n) + envelope);
            assert_eq!(unencrypt(n), base64_len(n) + unencrypt(0));
        }
        assert!(envelope < ENVELOPE_BYTES && unencrypt(0) < ENVELOPE_BYTES);
        assert!(base64_len(MAX_CLIENT_BODY_BYTES) + envelope <= MAX_BODY_BYTES);
        assert!(base64_len(MAX_P2P_BODY_BYTES) + unencrypt(0) <= MAX_BODY_BYTES);
    }

    /// A body declared over the limit is refused at once with a plain-text 413 (nothing of it
    /// is read, the connection is closed), and the enclave keeps serving.
    #[tokio::test]
    async fn a_body_over_the_limit_is_a_plain_text_413() {
        let enclave = Arc::new(Enclave::new(
            vec![KeyPair::generate().expect("key")],
            Vec::new(),
        ));
        let listener = Listener::loopback().expect("listener");
        let port = listener.port().expect("port");
        let running = crate::serve(enclave, listener).expect("serving");
        let answer = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            write!(
                stream,
                "POST /encrypt HTTP/1.1\r\nhost: enclave\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\n\r\n{{",
                MAX_BODY_BYTES + 1
            )
            .expect("head sent");
            let mut answer = String::new();
            stream
                .read_to_string(&mut answer)
                .expect("answer, then closed");
            answer
        })
        .await
        .expect("client");
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
        assert!(answer.contains("content-type: text/plain"), "{answer}");
        assert!(
            answer.contains(&format!("at most {MAX_BODY_BYTES} bytes")),
            "{answer}"
        );
        let ping = reqwest::get(format!("http://127.0.0.1:{port}/ping"))
            .await
            .expect("ping");
        assert_eq!(ping.status(), 200);
        running.stop().await;
    }
}
