//! The two binary encodings of [`EncodedPayload`] (docs/protocol.md §1) and the choice between
//! them.

mod cbor;
mod legacy;
pub(crate) mod reader;

use std::fmt;
use std::str::FromStr;

use crate::{CodecError, EncodedPayload};

pub use cbor::{decode as decode_cbor, encode as encode_cbor};
pub use legacy::{decode as decode_legacy, encode as encode_legacy};

/// A payload encoding (`EncodedPayloadCodec`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadCodec {
    /// Length-prefixed binary; every Tessera version reads it.
    Legacy,
    /// A CBOR map; peers advertising API version "5.0" read it.
    Cbor,
}

impl PayloadCodec {
    /// The codec a current Tessera writes to its database.
    pub const CURRENT: Self = Self::Cbor;

    /// The name stored in `ENCRYPTED_TRANSACTION.PAYLOAD_CODEC`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Legacy => "LEGACY",
            Self::Cbor => "CBOR",
        }
    }

    /// Tessera's `getPreferredCodec`: CBOR iff the peer advertises exactly `"5.0"`.
    pub fn preferred_for<'a>(versions: impl IntoIterator<Item = &'a str>) -> Self {
        if versions
            .into_iter()
            .any(|v| v.trim() == crate::version::CBOR_VERSION)
        {
            Self::Cbor
        } else {
            Self::Legacy
        }
    }

    /// Encodes a payload.
    pub fn encode(self, payload: &EncodedPayload) -> Vec<u8> {
        match self {
            Self::Legacy => encode_legacy(payload),
            Self::Cbor => encode_cbor(payload),
        }
    }

    /// Decodes a payload and checks the builder invariants.
    pub fn decode(self, bytes: &[u8]) -> Result<EncodedPayload, CodecError> {
        match self {
            Self::Legacy => decode_legacy(bytes),
            Self::Cbor => decode_cbor(bytes),
        }
    }
}

impl fmt::Display for PayloadCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PayloadCodec {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "LEGACY" => Ok(Self::Legacy),
            "CBOR" => Ok(Self::Cbor),
            other => Err(CodecError::Invalid(format!(
                "unknown payload codec {other:?} (expected LEGACY or CBOR)"
            ))),
        }
    }
}
