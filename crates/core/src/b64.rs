//! Base64 as Tessera writes it: RFC 4648 standard alphabet, padded, never wrapped.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::CodecError;

/// Encodes bytes as standard padded base64.
pub fn encode(bytes: impl AsRef<[u8]>) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard padded base64; `what` names the value in the error.
pub fn decode(text: &str, what: &'static str) -> Result<Vec<u8>, CodecError> {
    STANDARD
        .decode(text.trim())
        .map_err(|_| CodecError::Base64 { what })
}
