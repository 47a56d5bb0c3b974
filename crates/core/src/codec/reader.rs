//! A bounds-checked cursor over untrusted bytes, with Tessera's length-prefixed primitives
//! (`BinaryEncoder`, docs/protocol.md §1.2).

use super::OpCount;
use crate::CodecError;

/// Reads from a byte slice; every read checks the remaining length first.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
    /// Where to count each read, for the linearity tests (`OpCount`).
    ops: Option<&'a OpCount>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            position: 0,
            ops: None,
        }
    }

    /// A reader that adds one to `ops` for every read it makes.
    pub(crate) fn counted(bytes: &'a [u8], ops: &'a OpCount) -> Self {
        Self {
            bytes,
            position: 0,
            ops: Some(ops),
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len() - self.position
    }

    pub(crate) fn take(&mut self, len: usize, what: &'static str) -> Result<&'a [u8], CodecError> {
        if let Some(ops) = self.ops {
            ops.add(1);
        }
        if len > self.remaining() {
            return Err(CodecError::Truncated {
                what,
                needed: (len - self.remaining()) as u64,
            });
        }
        let slice = &self.bytes[self.position..self.position + len];
        self.position += len;
        Ok(slice)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, CodecError> {
        Ok(self.take(1, what)?[0])
    }

    /// A big-endian signed 64-bit integer (Java `ByteBuffer.getLong`).
    pub(crate) fn i64(&mut self, what: &'static str) -> Result<i64, CodecError> {
        let bytes = self.take(8, what)?;
        let mut array = [0u8; 8];
        array.copy_from_slice(bytes);
        Ok(i64::from_be_bytes(array))
    }

    /// A length or count that must be `0..=max`, as Java's `Math.toIntExact` and the
    /// party-info parser's checks require.
    pub(crate) fn length(&mut self, what: &'static str, max: i64) -> Result<usize, CodecError> {
        let value = self.i64(what)?;
        if !(0..=max).contains(&value) {
            return Err(CodecError::BadLength { what, value });
        }
        usize::try_from(value).map_err(|_| CodecError::BadLength { what, value })
    }

    /// `u64be(len) || bytes`.
    pub(crate) fn field(&mut self, what: &'static str, max: i64) -> Result<&'a [u8], CodecError> {
        let len = self.length(what, max)?;
        self.take(len, what)
    }
}

/// Appends `u64be(len) || bytes`.
pub(crate) fn put_field(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

/// Appends a big-endian 64-bit length or count.
pub(crate) fn put_len(out: &mut Vec<u8>, len: usize) {
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

/// Appends `u64be(count) || field(e0) || field(e1) ...`.
pub(crate) fn put_array<'b>(out: &mut Vec<u8>, items: impl ExactSizeIterator<Item = &'b [u8]>) {
    put_len(out, items.len());
    for item in items {
        put_field(out, item);
    }
}
