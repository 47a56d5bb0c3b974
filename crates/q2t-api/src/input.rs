//! Reading request parts the way Tessera's resources read them, with its statuses for bad
//! input (docs/protocol.md §4.6): values the JSON binding decodes (`byte[]` fields, the body
//! itself) are 400; keys and hashes Tessera decodes in its own code are 500 (its
//! `IllegalArgumentException` quirk), except where a `@ValidBase64` constraint makes them 400.

use actix_web::HttpRequest;
use serde::de::DeserializeOwned;
use tm_core::{PublicKey, TxHash};
use tm_http::ApiError;

/// Tessera's answer to base64 its own code cannot decode (500).
fn illegal_base64(what: &str) -> ApiError {
    ApiError::internal(format!("Illegal base64 character in {what}"))
}

/// A JSON body: empty is 400 (bean validation `@NotNull`), malformed is 400 (unmarshal error).
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("a request body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("invalid JSON: {e}")))
}

/// A base64 key decoded by Tessera's code: bad text is a 500.
pub fn key(text: &str, what: &str) -> Result<PublicKey, ApiError> {
    PublicKey::from_base64(text).map_err(|_| illegal_base64(what))
}

/// A list of base64 keys decoded by Tessera's code (`null` is none).
pub fn keys(list: Option<&[String]>, what: &str) -> Result<Vec<PublicKey>, ApiError> {
    list.unwrap_or_default()
        .iter()
        .map(|text| key(text, what))
        .collect()
}

/// A base64 transaction hash decoded by Tessera's code: bad text is a 500.
pub fn hash(text: &str, what: &str) -> Result<TxHash, ApiError> {
    TxHash::from_base64(text).map_err(|_| illegal_base64(what))
}

/// A list of base64 transaction hashes decoded by Tessera's code.
pub fn hashes(list: Option<&[String]>, what: &str) -> Result<Vec<TxHash>, ApiError> {
    list.unwrap_or_default()
        .iter()
        .map(|text| hash(text, what))
        .collect()
}

/// A `c11n-to` header: comma-separated base64 keys, empty or absent for none.
pub fn header_keys(req: &HttpRequest, name: &str) -> Result<Vec<PublicKey>, ApiError> {
    match req.headers().get(name) {
        None => Ok(Vec::new()),
        Some(value) => {
            let text = value
                .to_str()
                .map_err(|_| illegal_base64(&format!("header {name}")))?;
            text.split(',')
                .filter(|part| !text.is_empty() && !part.is_empty())
                .map(|part| key(part.trim(), &format!("header {name}")))
                .collect()
        }
    }
}

/// A header value checked by `@ValidBase64` (a bad value is 400); `None` when absent.
pub fn header_base64(req: &HttpRequest, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
    let Some(value) = req.headers().get(name) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::bad_request(format!("header {name} is not valid base64")))?;
    tm_core::b64::decode(text, "header")
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("header {name} is not valid base64")))
}

/// Percent-decodes a path segment. A literal `+` stays `+` (path, not form, decoding), so a
/// hash arrives intact whether the client escaped `+`, `/` and `=` (Java's `URLEncoder`) or only
/// `/` (Go's `url.PathEscape`).
pub fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(value) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `{hash}` path segment, decoded. actix leaves `%2F`, `%2B` and `%25` encoded in match
/// info and decodes the rest; decoding what is left gives the client's text exactly.
pub fn path_hash_text(req: &HttpRequest) -> String {
    percent_decode(req.match_info().get("hash").unwrap_or_default())
}

/// The `{hash}` of `GET /transaction/{hash}` (`@ValidBase64`: a bad value is 400).
pub fn path_hash_validated(req: &HttpRequest) -> Result<TxHash, ApiError> {
    let text = path_hash_text(req);
    TxHash::from_base64(&text)
        .map_err(|_| ApiError::bad_request("hash in path is not valid base64"))
}

/// The `{hash}` of the other `/transaction/{hash}/...` endpoints (not validated by Tessera:
/// a bad value is a 500).
pub fn path_hash(req: &HttpRequest) -> Result<TxHash, ApiError> {
    let text = path_hash_text(req);
    TxHash::from_base64(&text).map_err(|_| illegal_base64("transaction hash"))
}

/// A query parameter, form-decoded as Jersey decodes it, except that a space is read back as
/// `+` (a base64 value never holds a space, so an unescaped `+` still works).
pub fn query_param(req: &HttpRequest, name: &str) -> Option<String> {
    req.query_string().split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(&key.replace('+', " ")) == name)
            .then(|| percent_decode(value).replace(' ', "+"))
    })
}
