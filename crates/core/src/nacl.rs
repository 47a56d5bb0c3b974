//! The NaCl primitives Tessera uses (docs/protocol.md §3.1), over `crypto_box`/`crypto_secretbox`.
//!
//! Tessera's `sealAfterPrecomputation` output is the Poly1305 tag followed by the XSalsa20
//! cipher text, which is exactly `crypto_secretbox_easy` and what these crates produce.

use crypto_box::aead::{Aead, KeyInit};
use crypto_box::SalsaBox;
use crypto_secretbox::XSalsa20Poly1305;
use rand_core::{OsRng, RngCore};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::{CryptoError, PrivateKey, PublicKey};

/// Length of a NaCl nonce.
pub const NONCE_LEN: usize = 24;
/// Length of a secretbox key (master keys, shared keys).
pub const KEY_LEN: usize = 32;
/// Bytes a seal adds to its message (the Poly1305 tag).
pub const TAG_LEN: usize = 16;

/// Fills `buf` from the operating system's random number generator.
pub fn fill_random(buf: &mut [u8]) -> Result<(), CryptoError> {
    OsRng.try_fill_bytes(buf).map_err(|_| CryptoError::Random)
}

/// A fresh random 24-byte nonce.
pub fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    let mut nonce = [0u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    Ok(nonce)
}

/// The symmetric key that seals one transaction's payload (Tessera's "master key").
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; KEY_LEN]);

impl MasterKey {
    /// Wraps 32 bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Takes a slice that must be 32 bytes (an opened recipient box).
    pub fn from_slice(bytes: &[u8]) -> Result<Self, CryptoError> {
        let array: [u8; KEY_LEN] = bytes.try_into().map_err(|_| CryptoError::KeyLength {
            what: "master key",
            len: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// A fresh random key.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self([0u8; KEY_LEN]);
        fill_random(&mut key.0)?;
        Ok(key)
    }

    /// The raw bytes (used in the ACOTH security hash, docs/protocol.md §3.6).
    pub fn expose_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// `crypto_secretbox_easy(message, nonce, self)`.
    pub fn seal(&self, message: &[u8], nonce: &[u8]) -> Result<Vec<u8>, CryptoError> {
        secretbox_seal(&self.0, nonce, message)
    }

    /// `crypto_secretbox_open_easy(sealed, nonce, self)`; `what` names the data in the error.
    pub fn open(
        &self,
        sealed: &[u8],
        nonce: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, CryptoError> {
        secretbox_open(&self.0, nonce, sealed, what)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

fn nonce_of(nonce: &[u8]) -> Result<&crypto_box::Nonce, CryptoError> {
    if nonce.len() != NONCE_LEN {
        return Err(CryptoError::NonceLength(nonce.len()));
    }
    Ok(crypto_box::Nonce::from_slice(nonce))
}

/// Seals with a 32-byte secretbox key; output is tag ‖ cipher text.
pub fn secretbox_seal(
    key: &[u8; KEY_LEN],
    nonce: &[u8],
    message: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let cipher = XSalsa20Poly1305::new(key.into());
    cipher
        .encrypt(nonce_of(nonce)?, message)
        .map_err(|_| CryptoError::Open("message"))
}

/// Opens what [`secretbox_seal`] sealed.
pub fn secretbox_open(
    key: &[u8; KEY_LEN],
    nonce: &[u8],
    sealed: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, CryptoError> {
    let cipher = XSalsa20Poly1305::new(key.into());
    cipher
        .decrypt(nonce_of(nonce)?, sealed)
        .map_err(|_| CryptoError::Open(what))
}

/// A precomputed `crypto_box_beforenm(theirs, ours)`: seals and opens without another X25519.
///
/// `beforenm` is symmetric, so the sender's `(recipient, sender_priv)` and the recipient's
/// `(sender, recipient_priv)` give the same key.
pub struct SharedKey(SalsaBox);

impl SharedKey {
    /// Runs X25519 and HSalsa20 once.
    pub fn compute(theirs: &PublicKey, ours: &PrivateKey) -> Result<Self, CryptoError> {
        Ok(Self(SalsaBox::new(&theirs.to_nacl()?, &ours.to_nacl())))
    }

    /// Seals `message` (a master key, in practice) with this shared key.
    pub fn seal(&self, message: &[u8], nonce: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.0
            .encrypt(nonce_of(nonce)?, message)
            .map_err(|_| CryptoError::Open("message"))
    }

    /// Opens a box sealed with this shared key.
    pub fn open(
        &self,
        sealed: &[u8],
        nonce: &[u8],
        what: &'static str,
    ) -> Result<Vec<u8>, CryptoError> {
        self.0
            .decrypt(nonce_of(nonce)?, sealed)
            .map_err(|_| CryptoError::Open(what))
    }
}

impl std::fmt::Debug for SharedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedKey(<redacted>)")
    }
}
