//! The pure core of the transaction manager.
//!
//! Everything here is a function over bytes: NaCl keys and key files, payload encryption exactly
//! as Tessera does it, the `EncodedPayload` model with its LEGACY and CBOR codecs, the party-info
//! codec, transaction hashes and privacy group ids. No async, no network, no database. The one
//! exception is [`keyfile::write_new_key_pair`], which creates key files the way Tessera's keygen
//! does (create-new, never overwrite), so every launcher shares that logic.
//!
//! Sections named in comments (`docs/protocol.md §N`) are those of the repository's protocol
//! reference, `docs/protocol.md`.

pub mod b64;
pub mod checks;
pub mod codec;
mod error;
pub mod hash;
pub mod keyfile;
pub mod keys;
pub mod kind;
pub mod nacl;
pub mod partyinfo;
pub mod payload;
pub mod privacy_group;
pub mod seal;
pub mod version;

pub use codec::PayloadCodec;
pub use error::{CodecError, CoreError, CryptoError, KeyFileError};
pub use hash::{PayloadDigest, TxHash};
pub use keys::{KeyPair, PrivateKey, PublicKey};
pub use kind::{Classify, ErrorKind};
pub use payload::{EncodedPayload, PrivacyMode};
pub use seal::{Keyring, SharedKeyCache};
