//! The binary party-info exchange (`PartyInfoParser`, docs/protocol.md §2.1).

use crate::codec::reader::{put_field, put_len, Reader};
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

    /// Decodes; duplicates collapse, party URLs are normalised, trailing bytes are ignored.
    ///
    /// Unlike Java (which substitutes U+FFFD), a URL that is not UTF-8 is an error: such a
    /// party info could only corrupt the peer list.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        let mut r = Reader::new(bytes);
        let url = utf8(r.field("party info url", MAX_LEN)?, "party info url")?;
        let mut info = PartyInfo {
            url,
            ..PartyInfo::default()
        };
        let recipients = r.length("recipient count", MAX_LEN)?;
        for _ in 0..recipients {
            let key = PublicKey::from_bytes(r.field("recipient key", MAX_LEN)?);
            let url = utf8(r.field("recipient url", MAX_LEN)?, "recipient url")?;
            let recipient = Recipient { key, url };
            if !info.recipients.contains(&recipient) {
                info.recipients.push(recipient);
            }
        }
        let parties = r.length("party count", MAX_LEN)?;
        for _ in 0..parties {
            let party = normalise_party_url(&utf8(r.field("party url", MAX_LEN)?, "party url")?);
            if !info.parties.contains(&party) {
                info.parties.push(party);
            }
        }
        Ok(info)
    }
}

fn utf8(bytes: &[u8], what: &str) -> Result<String, CodecError> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| CodecError::Invalid(format!("{what} is not UTF-8")))
}
