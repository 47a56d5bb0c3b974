//! The two binary encodings of [`EncodedPayload`] (docs/protocol.md §1) and the choice between
//! them.

mod cbor;
mod legacy;
pub(crate) mod reader;

use std::cell::Cell;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use crate::{CodecError, EncodedPayload};

pub use cbor::{
    decode as decode_cbor, decode_counted as decode_cbor_counted, encode as encode_cbor,
};
pub use legacy::{
    decode as decode_legacy, decode_counted as decode_legacy_counted, encode as encode_legacy,
};

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

/// A tally of the elementary steps a decoder or a merge takes, so that tests can check that the
/// work grows linearly with the input by counting instead of timing (docs/security.md, "Work
/// that stays linear in its input").
///
/// The `*_counted` variants of the decoders add one per read of the input; values wrapped in
/// [`Counted`] add one per hash, equality test, ordering comparison and clone made of them.
#[derive(Debug, Default)]
pub struct OpCount(Cell<u64>);

impl OpCount {
    /// A tally at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` steps.
    pub fn add(&self, n: u64) {
        self.0.set(self.0.get().saturating_add(n));
    }

    /// The steps counted so far.
    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

/// A value that counts into an [`OpCount`] every hash, equality test, ordering comparison and
/// clone made of it: give a generic de-duplication or merge `Counted` elements and the count
/// covers every comparison it makes, hidden ones (`Vec::contains`, `retain`) included.
pub struct Counted<'a, T> {
    value: T,
    ops: &'a OpCount,
}

impl<'a, T> Counted<'a, T> {
    /// Wraps `value`, counting into `ops`.
    pub fn new(value: T, ops: &'a OpCount) -> Self {
        Self { value, ops }
    }

    /// The value.
    pub fn get(&self) -> &T {
        &self.value
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: Hash> Hash for Counted<'_, T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ops.add(1);
        self.value.hash(state);
    }
}

impl<T: PartialEq> PartialEq for Counted<'_, T> {
    fn eq(&self, other: &Self) -> bool {
        self.ops.add(1);
        self.value == other.value
    }
}

impl<T: Eq> Eq for Counted<'_, T> {}

impl<T: PartialOrd> PartialOrd for Counted<'_, T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        self.ops.add(1);
        self.value.partial_cmp(&other.value)
    }
}

impl<T: Ord> Ord for Counted<'_, T> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.ops.add(1);
        self.value.cmp(&other.value)
    }
}

impl<T: Clone> Clone for Counted<'_, T> {
    fn clone(&self) -> Self {
        self.ops.add(1);
        Self {
            value: self.value.clone(),
            ops: self.ops,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Counted<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}
