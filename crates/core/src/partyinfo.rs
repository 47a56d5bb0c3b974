//! The binary party-info exchange (`PartyInfoParser`, docs/protocol.md §2.1).

use std::collections::HashSet;
use std::hash::Hash;

use crate::codec::reader::{put_field, put_len, Reader};
use crate::codec::{Counted, OpCount};
use crate::{CodecError, PublicKey};

/// The parser rejects lengths and counts of `Integer.MAX_VALUE - 1` or more.
const MAX_LEN: i64 = i32::MAX as i64 - 2;

/// A public key and the node URL that serves it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Recipient {
    /// The recipient's public key.
    pub key: PublicKey,
    /// The URL of the node holding it.
    pub url: String,
}

/// What one node tells another about itself and the peers it knows.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PartyInfo {
    /// The sending node's own URL.
    pub url: String,
    /// Keys and the nodes that serve them (no duplicates).
    pub recipients: Vec<Recipient>,
    /// Peer URLs, normalised (no duplicates).
    pub parties: Vec<String>,
}

/// Tessera's `URLNormalizer`: a URL with an empty path gets `/`.
pub fn normalise_party_url(url: &str) -> String {
    let trimmed = url.trim();
    let after_scheme = trimmed.find("://").map_or(0, |i| i + 3);
    if trimmed[after_scheme..].contains('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

impl PartyInfo {
    /// Encodes: `field(url) || u64be(R) || R × (field(key) || field(url)) || array(parties)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.recipients.len() * 96 + self.parties.len() * 48);
        put_field(&mut out, self.url.as_bytes());
        put_len(&mut out, self.recipients.len());
        for recipient in &self.recipients {
            put_field(&mut out, recipient.key.as_bytes());
            put_field(&mut out, recipient.url.as_bytes());
        }
        put_len(&mut out, self.parties.len());
        for party in &self.parties {
            put_field(&mut out, party.as_bytes());
        }
        out
    }

    /// Decodes; duplicates collapse (the first of each is kept, in order), party URLs are
    /// normalised, trailing bytes are ignored.
    ///
    /// Unlike Java (which substitutes U+FFFD), a URL that is not UTF-8 is an error: such a
    /// party info could only corrupt the peer list.
    ///
    /// Linear in the input: one pass to read, then [`first_of_each`] (a hash set) to drop the
    /// duplicates (docs/security.md, "Work that stays linear in its input").
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let (url, recipients, parties) = read(Reader::new(bytes))?;
        Ok(PartyInfo {
            url,
            recipients: first_of_each(recipients),
            parties: first_of_each(parties),
        })
    }

    /// [`PartyInfo::decode`], adding to `ops` one for every read of the input and one for every
    /// hash and equality test the de-duplication makes (for the linearity tests).
    pub fn decode_counted(bytes: &[u8], ops: &OpCount) -> Result<Self, CodecError> {
        let (url, recipients, parties) = read(Reader::counted(bytes, ops))?;
        Ok(PartyInfo {
            url,
            recipients: first_of_each_counted(recipients, ops),
            parties: first_of_each_counted(parties, ops),
        })
    }
}

/// The first of each distinct item, in their order: a hash set of the items seen, so linear
/// in the number of items (never a scan of the output per item).
pub fn first_of_each<T: Hash + Eq>(items: Vec<T>) -> Vec<T> {
    let keep: Vec<bool> = {
        let mut seen = HashSet::with_capacity(items.len());
        items.iter().map(|item| seen.insert(item)).collect()
    };
    items
        .into_iter()
        .zip(keep)
        .filter_map(|(item, keep)| keep.then_some(item))
        .collect()
}

/// [`first_of_each`] over [`Counted`] items, unwrapped again.
fn first_of_each_counted<T: Hash + Eq>(items: Vec<T>, ops: &OpCount) -> Vec<T> {
    let counted = items
        .into_iter()
        .map(|item| Counted::new(item, ops))
        .collect();
    first_of_each(counted)
        .into_iter()
        .map(Counted::into_inner)
        .collect()
}

/// The sender's URL, the recipients and the (normalised) parties, duplicates included.
fn read(mut r: Reader<'_>) -> Result<(String, Vec<Recipient>, Vec<String>), CodecError> {
    let url = utf8(r.field("party info url", MAX_LEN)?, "party info url")?;
    // No capacity from the counts: they are the sender's claim, the bytes are what it sent.
    let mut recipients = Vec::new();
    for _ in 0..r.length("recipient count", MAX_LEN)? {
        let key = PublicKey::from_bytes(r.field("recipient key", MAX_LEN)?);
        let url = utf8(r.field("recipient url", MAX_LEN)?, "recipient url")?;
        recipients.push(Recipient { key, url });
    }
    let mut parties = Vec::new();
    for _ in 0..r.length("party count", MAX_LEN)? {
        parties.push(normalise_party_url(&utf8(
            r.field("party url", MAX_LEN)?,
            "party url",
        )?));
    }
    Ok((url, recipients, parties))
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::Invalid(format!("{what} is not UTF-8")))
}
