//! Public and private keys.
//!
//! Tessera treats a public key as opaque bytes (32 for NaCl, 91 for its EC encryptor), and so
//! do payloads on the wire: a [`PublicKey`] holds any length, and NaCl operations check for 32
//! bytes when they need it. A [`PrivateKey`] is always a 32-byte NaCl key, wiped on drop and
//! never printed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::{b64, CodecError, CryptoError};

/// Length of a NaCl (X25519) key.
pub const NACL_KEY_LEN: usize = 32;

/// A public key: opaque bytes, base64 in text form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// Wraps raw key bytes (any length, as Tessera does).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Self(bytes.into())
    }

    /// Parses standard base64.
    pub fn from_base64(text: &str) -> Result<Self, CodecError> {
        b64::decode(text, "public key").map(Self)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The base64 text form.
    pub fn to_base64(&self) -> String {
        b64::encode(&self.0)
    }

    /// The key as a NaCl X25519 public key.
    pub fn to_nacl(&self) -> Result<crypto_box::PublicKey, CryptoError> {
        let bytes: [u8; NACL_KEY_LEN] =
            self.0
                .as_slice()
                .try_into()
                .map_err(|_| CryptoError::KeyLength {
                    what: "public key",
                    len: self.0.len(),
                })?;
        Ok(crypto_box::PublicKey::from(bytes))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64())
    }
}

impl FromStr for PublicKey {
    type Err = CodecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64(s)
    }
}

impl Serialize for PublicKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

/// A NaCl private key. Wiped from memory on drop; `Debug` prints nothing of it.
#[derive(Clone, ZeroizeOnDrop)]
pub struct PrivateKey([u8; NACL_KEY_LEN]);

impl PrivateKey {
    /// Wraps 32 raw bytes (stored unclamped, as Tessera stores them).
    pub fn from_bytes(bytes: [u8; NACL_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Takes a slice that must be 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; NACL_KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength {
            what: "private key",
            len: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// Parses standard base64. The error never contains the text.
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = Zeroizing::new(b64::decode(text, "private key").map_err(|_| {
            CryptoError::KeyLength {
                what: "private key (not valid base64)",
                len: 0,
            }
        })?);
        Self::from_slice(&bytes)
    }

    /// Generates a new random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut bytes = [0u8; NACL_KEY_LEN];
        crate::nacl::fill_random(&mut bytes)?;
        let key = Self(bytes);
        zeroize::Zeroize::zeroize(&mut bytes);
        Ok(key)
    }

    /// The raw bytes. Handle with care.
    pub fn expose_bytes(&self) -> &[u8; NACL_KEY_LEN] {
        &self.0
    }

    /// The base64 text form, for writing an unlocked key file. Wiped on drop.
    pub fn expose_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(b64::encode(self.0))
    }

    /// The matching X25519 public key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.to_nacl().public_key().as_bytes().to_vec())
    }

    pub(crate) fn to_nacl(&self) -> crypto_box::SecretKey {
        crypto_box::SecretKey::from(self.0)
    }
}

impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for PrivateKey {}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

/// A public key with its private key.
///
/// Tessera does not check that the two belong together (docs/protocol.md §3.8), and neither does
/// this type: [`KeyPair::is_consistent`] tells, for callers that want to warn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    /// The public half, as configured.
    pub public: PublicKey,
    /// The private half.
    pub private: PrivateKey,
}

impl KeyPair {
    /// Generates a fresh random pair.
    pub fn generate() -> Result<Self, CryptoError> {
        let private = PrivateKey::generate()?;
        Ok(Self {
            public: private.public_key(),
            private,
        })
    }

    /// Builds the pair for a private key, deriving its public key.
    pub fn from_private(private: PrivateKey) -> Self {
        Self {
            public: private.public_key(),
            private,
        }
    }

    /// Whether the public key is the one the private key derives.
    pub fn is_consistent(&self) -> bool {
        self.private.public_key() == self.public
    }
}
