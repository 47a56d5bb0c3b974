//! Transaction hashes (docs/protocol.md §3.5).

use std::fmt;

use sha2::Sha512_256;
use sha3::{Digest, Sha3_512};

use crate::{b64, CodecError};

/// A transaction hash: SHA3-512 of the cipher text (64 bytes), base64 in text form.
///
/// Held as bytes of any length, because hashes from the network (affected-contract keys,
/// Orion-mode 32-byte digests) are opaque to us.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxHash(Vec<u8>);

impl TxHash {
    /// Wraps raw hash bytes.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// The hash Tessera gives a transaction with this cipher text: SHA3-512 (FIPS 202).
    pub fn of_cipher_text(cipher_text: &[u8]) -> Self {
        Self(Sha3_512::digest(cipher_text).to_vec())
    }

    /// The digest used in Orion client mode: SHA-512/256 of the cipher text.
    pub fn of_cipher_text_orion(cipher_text: &[u8]) -> Self {
        Self(Sha512_256::digest(cipher_text).to_vec())
    }

    /// Parses standard base64.
    pub fn from_base64(text: &str) -> Result<Self, CodecError> {
        b64::decode(text, "transaction hash").map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The base64 text form used in every API.
    pub fn to_base64(&self) -> String {
        b64::encode(&self.0)
    }
}

/// How a node hashes cipher texts into transaction hashes (Tessera's `PayloadDigest`): SHA3-512
/// normally, SHA-512/256 in Orion client mode (`"mode": "orion"`, for Besu). Every node of a
/// network must use the same: a pushed payload is stored under the receiver's digest of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PayloadDigest {
    /// SHA3-512 (64 bytes): Tessera's default.
    #[default]
    Sha3_512,
    /// SHA-512/256 (32 bytes): Orion mode.
    Sha512_256,
}

impl PayloadDigest {
    /// The digest of a client mode: Orion's for `orion`, the default otherwise.
    pub fn for_orion_mode(orion: bool) -> Self {
        if orion {
            Self::Sha512_256
        } else {
            Self::Sha3_512
        }
    }

    /// The transaction hash of `cipher_text`.
    pub fn of(self, cipher_text: &[u8]) -> TxHash {
        match self {
            Self::Sha3_512 => TxHash::of_cipher_text(cipher_text),
            Self::Sha512_256 => TxHash::of_cipher_text_orion(cipher_text),
        }
    }
}

impl fmt::Display for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for TxHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TxHash({})", self.to_base64())
    }
}

/// SHA3-512 over the concatenation of `parts`.
pub fn sha3_512(parts: &[&[u8]]) -> Vec<u8> {
    let mut digest = Sha3_512::new();
    for part in parts {
        digest.update(part);
    }
    digest.finalize().to_vec()
}
