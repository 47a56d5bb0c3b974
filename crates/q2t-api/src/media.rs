//! Media-type negotiation as Jersey does it for Tessera's Q2T resources (docs/protocol.md §4.4),
//! and Tessera's answers when nothing matches (docs/protocol.md §4.6: Jersey's 406 and 415 reach
//! Tessera's WebApplicationExceptionMapper without a cause and come out as 500).

use actix_web::http::header::{ACCEPT, CONTENT_TYPE};
use actix_web::HttpRequest;
use tm_client::q2t::{MediaType, JSON, OCTET_STREAM, ORION};
use tm_http::ApiError;

/// Jersey's 415, as Tessera reports it.
pub fn unsupported_media_type() -> ApiError {
    ApiError::internal("HTTP 415 Unsupported Media Type")
}

/// Jersey's 406, as Tessera reports it.
pub fn not_acceptable() -> ApiError {
    ApiError::internal("HTTP 406 Not Acceptable")
}

fn header(req: &HttpRequest, name: actix_web::http::header::HeaderName) -> Option<&str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// The essence of a media type (`application/json; charset=utf-8` → `application/json`),
/// lower case.
fn essence(value: &str) -> String {
    value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether the request's `Accept` admits `produced` (no header, `*/*` and `application/*`
/// admit anything).
pub fn accepts(req: &HttpRequest, produced: &str) -> bool {
    let Some(accept) = header(req, ACCEPT) else {
        return true;
    };
    if accept.trim().is_empty() {
        return true;
    }
    let produced_type = produced.split('/').next().unwrap_or_default();
    accept.split(',').map(essence).any(|range| {
        range == "*/*"
            || range == "*"
            || range == produced
            || range.strip_suffix("/*").is_some_and(|t| t == produced_type)
    })
}

/// The variant of a JSON POST endpoint: chosen by `Content-Type` among `allowed`, and the
/// response (the same type) must be acceptable.
pub fn json_variant(req: &HttpRequest, allowed: &[MediaType]) -> Result<MediaType, ApiError> {
    let media = header(req, CONTENT_TYPE)
        .and_then(MediaType::parse)
        .filter(|m| allowed.contains(m))
        .ok_or_else(unsupported_media_type)?;
    if accepts(req, media.as_str()) {
        Ok(media)
    } else {
        Err(not_acceptable())
    }
}

/// The variant of a GET endpoint: chosen by `Accept` among `allowed` (the first acceptable,
/// in the client's order; `application/json` when the client accepts anything).
pub fn accept_variant(req: &HttpRequest, allowed: &[MediaType]) -> Result<MediaType, ApiError> {
    let Some(accept) = header(req, ACCEPT).filter(|a| !a.trim().is_empty()) else {
        return Ok(allowed.first().copied().unwrap_or(MediaType::Json));
    };
    for range in accept.split(',').map(essence) {
        if range == "*/*" || range == "*" || range == "application/*" {
            return Ok(allowed.first().copied().unwrap_or(MediaType::Json));
        }
        if let Some(media) = MediaType::parse(&range).filter(|m| allowed.contains(m)) {
            return Ok(media);
        }
    }
    Err(not_acceptable())
}

/// Whether the request declares a binary body (`application/octet-stream`).
pub fn is_octet_stream(req: &HttpRequest) -> bool {
    header(req, CONTENT_TYPE).is_some_and(|c| essence(c) == OCTET_STREAM)
}

/// For endpoints consuming only `application/octet-stream`: a request declaring another type
/// is refused; one declaring none is accepted (a GET without a body).
pub fn require_octet_stream_or_none(req: &HttpRequest) -> Result<(), ApiError> {
    match header(req, CONTENT_TYPE) {
        None => Ok(()),
        Some(c) if essence(c) == OCTET_STREAM || c.trim().is_empty() => Ok(()),
        Some(_) => Err(unsupported_media_type()),
    }
}

/// Orion mode's `POST /receive`: the body is `application/json` or Besu's
/// `application/vnd.orion.v1+json`, and the answer (`application/json`) must be acceptable.
pub fn orion_json(req: &HttpRequest) -> Result<(), ApiError> {
    let declared = header(req, CONTENT_TYPE).map(essence);
    if !matches!(declared.as_deref(), Some(JSON) | Some(ORION)) {
        return Err(unsupported_media_type());
    }
    if accepts(req, JSON) {
        Ok(())
    } else {
        Err(not_acceptable())
    }
}
