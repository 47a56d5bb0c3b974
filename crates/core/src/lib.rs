//! The pure core of the transaction manager.
//!
//! Everything here is a function over bytes: NaCl keys and key files, payload encryption exactly
//! as Tessera does it, the `EncodedPayload` model with its LEGACY and CBOR codecs, the party-info
//! codec, transaction hashes and privacy group ids. No async, no network, no database. The one
//! exception is [`keyfile::write_new_key_pair`], which creates key files the way Tessera's keygen
//! does (create-new, never overwrite), so every launcher shares that logic.
//!
//! The spec sections named in comments (`formats.md §N`) refer to `shared/spec/formats.md`.

pub mod b64;
pub mod codec;
mod error;
pub mod hash;
pub mod keyfile;
pub mod keys;
pub mod nacl;
pub mod partyinfo;
pub mod payload;
pub mod privacy_group;
pub mod seal;
pub mod version;

pub use codec::PayloadCodec;
pub use error::{CodecError, CoreError, CryptoError, KeyFileError};
pub use hash::TxHash;
pub use keys::{KeyPair, PrivateKey, PublicKey};
pub use payload::{EncodedPayload, PrivacyMode};
pub use seal::{Keyring, SharedKeyCache};
