//! The CBOR encoding (`CBOREncoder`, docs/protocol.md §1.5).
//!
//! Written by hand rather than with a general CBOR crate: Tessera's output is one fixed map whose
//! key order and header quirks (Jackson's 23-byte text strings) must be reproduced byte for byte,
//! and its decoder has an odd rule (an unknown key ends decoding) that a serde model would hide.

use super::reader::Reader;
use super::OpCount;
use crate::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use crate::{b64, CodecError, EncodedPayload, PrivacyMode, PublicKey, TxHash};

const MAJOR_UNSIGNED: u8 = 0;
const MAJOR_NEGATIVE: u8 = 1;
const MAJOR_BYTES: u8 = 2;
const MAJOR_TEXT: u8 = 3;
const MAJOR_ARRAY: u8 = 4;
const MAJOR_MAP: u8 = 5;

/// Encodes as Tessera does: a definite map of 11 keys in a fixed order, all always present.
pub fn encode(payload: &EncodedPayload) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(256 + payload.cipher_text.len() + payload.recipient_boxes.len() * 96);
    put_header(&mut out, MAJOR_MAP, 11);
    put_text(&mut out, "sender");
    put_bytes(&mut out, payload.sender.as_bytes());
    put_text(&mut out, "cipherText");
    put_bytes(&mut out, &payload.cipher_text);
    put_text(&mut out, "nonce");
    put_bytes(&mut out, payload.cipher_text_nonce.as_bytes());
    put_text(&mut out, "recipientNonce");
    put_bytes(&mut out, payload.recipient_nonce.as_bytes());
    put_text(&mut out, "recipientBoxes");
    put_header(&mut out, MAJOR_ARRAY, payload.recipient_boxes.len() as u64);
    for recipient_box in &payload.recipient_boxes {
        put_bytes(&mut out, recipient_box.as_bytes());
    }
    put_text(&mut out, "recipients");
    put_header(&mut out, MAJOR_ARRAY, payload.recipient_keys.len() as u64);
    for key in &payload.recipient_keys {
        put_bytes(&mut out, key.as_bytes());
    }
    put_text(&mut out, "privacyFlag");
    put_header(
        &mut out,
        MAJOR_UNSIGNED,
        u64::from(payload.privacy_mode.flag()),
    );
    put_text(&mut out, "affected");
    put_header(
        &mut out,
        MAJOR_MAP,
        payload.affected_contract_transactions.len() as u64,
    );
    for (tx_hash, security_hash) in &payload.affected_contract_transactions {
        put_text(&mut out, &tx_hash.to_base64());
        put_bytes(&mut out, security_hash.as_bytes());
    }
    put_text(&mut out, "execHash");
    put_bytes(&mut out, &payload.exec_hash);
    put_text(&mut out, "mandatoryFor");
    put_header(
        &mut out,
        MAJOR_ARRAY,
        payload.mandatory_recipients.len() as u64,
    );
    for key in &payload.mandatory_recipients {
        put_bytes(&mut out, key.as_bytes());
    }
    put_text(&mut out, "privacyGroupId");
    put_bytes(
        &mut out,
        payload
            .privacy_group_id
            .as_ref()
            .map_or(&[][..], PrivacyGroupId::as_bytes),
    );
    out
}

/// A minimal-length CBOR header.
fn put_header(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    if value < 24 {
        out.push(major | value as u8);
    } else if value <= 0xff {
        out.extend_from_slice(&[major | 24, value as u8]);
    } else if value <= 0xffff {
        out.push(major | 25);
        out.extend_from_slice(&(value as u16).to_be_bytes());
    } else if value <= 0xffff_ffff {
        out.push(major | 26);
        out.extend_from_slice(&(value as u32).to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_header(out, MAJOR_BYTES, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Jackson's `CBORGenerator` text header: the one-byte form only below 23 bytes, and the
/// one-byte length form only below 255 (docs/protocol.md §1.5).
fn put_text(out: &mut Vec<u8>, text: &str) {
    let len = text.len();
    if len < 23 {
        out.push((MAJOR_TEXT << 5) | len as u8);
    } else if len < 255 {
        out.extend_from_slice(&[(MAJOR_TEXT << 5) | 24, len as u8]);
    } else if len <= 0xffff {
        out.push((MAJOR_TEXT << 5) | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        put_header(out, MAJOR_TEXT, len as u64);
    }
    out.extend_from_slice(text.as_bytes());
}

/// One CBOR data item header.
struct Header {
    major: u8,
    value: u64,
}

fn read_header(r: &mut Reader<'_>, what: &'static str) -> Result<Header, CodecError> {
    let initial = r.u8(what)?;
    let major = initial >> 5;
    let info = initial & 0x1f;
    let value = match info {
        0..=23 => u64::from(info),
        24 => u64::from(r.u8(what)?),
        25 => {
            let b = r.take(2, what)?;
            u64::from(u16::from_be_bytes([b[0], b[1]]))
        }
        26 => {
            let b = r.take(4, what)?;
            u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        27 => {
            let b = r.take(8, what)?;
            let mut array = [0u8; 8];
            array.copy_from_slice(b);
            u64::from_be_bytes(array)
        }
        _ => {
            return Err(CodecError::Invalid(format!(
                "{what}: indefinite-length or reserved CBOR item"
            )))
        }
    };
    Ok(Header { major, value })
}

fn expect(header: &Header, major: u8, what: &'static str) -> Result<(), CodecError> {
    if header.major == major {
        Ok(())
    } else {
        Err(CodecError::Invalid(format!(
            "{what} has the wrong CBOR type"
        )))
    }
}

/// A length that must fit in what is left of the input (each item takes at least one byte).
fn bounded(value: u64, r: &Reader<'_>, what: &'static str) -> Result<usize, CodecError> {
    match usize::try_from(value) {
        Ok(len) if len <= r.remaining() => Ok(len),
        _ => Err(CodecError::Truncated {
            what,
            needed: value.saturating_sub(r.remaining() as u64),
        }),
    }
}

fn read_bytes<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a [u8], CodecError> {
    let header = read_header(r, what)?;
    expect(&header, MAJOR_BYTES, what)?;
    let len = bounded(header.value, r, what)?;
    r.take(len, what)
}

fn read_text<'a>(r: &mut Reader<'a>, what: &'static str) -> Result<&'a str, CodecError> {
    let header = read_header(r, what)?;
    expect(&header, MAJOR_TEXT, what)?;
    let len = bounded(header.value, r, what)?;
    std::str::from_utf8(r.take(len, what)?)
        .map_err(|_| CodecError::Invalid(format!("{what} is not UTF-8")))
}

fn read_byte_array<'a>(
    r: &mut Reader<'a>,
    what: &'static str,
) -> Result<Vec<&'a [u8]>, CodecError> {
    let header = read_header(r, what)?;
    expect(&header, MAJOR_ARRAY, what)?;
    let count = bounded(header.value, r, what)?;
    (0..count).map(|_| read_bytes(r, what)).collect()
}

/// Decodes Tessera's CBOR map. Keys may come in any order; a key Tessera does not know ends
/// decoding with what was read so far, as Jackson's `nextFieldName()` loop does.
///
/// One pass over the input: every item is read once (a repeated key replaces what the earlier
/// one read, so the work stays bounded by the input), and every count is checked against the
/// bytes left before anything is allocated for it.
pub fn decode(bytes: &[u8]) -> Result<EncodedPayload, CodecError> {
    read(Reader::new(bytes))
}

/// [`decode`], adding one to `ops` for every read of the input (for the linearity tests).
pub fn decode_counted(bytes: &[u8], ops: &OpCount) -> Result<EncodedPayload, CodecError> {
    read(Reader::counted(bytes, ops))
}

fn read(mut r: Reader<'_>) -> Result<EncodedPayload, CodecError> {
    let header = read_header(&mut r, "payload")?;
    expect(&header, MAJOR_MAP, "payload")?;
    let entries = bounded(header.value, &r, "payload")?;
    let mut payload = EncodedPayload::default();
    for _ in 0..entries {
        let key = read_text(&mut r, "field name")?;
        match key {
            "sender" => payload.sender = PublicKey::from_bytes(read_bytes(&mut r, "sender")?),
            "cipherText" => payload.cipher_text = read_bytes(&mut r, "cipherText")?.to_vec(),
            "nonce" => payload.cipher_text_nonce = Nonce(read_bytes(&mut r, "nonce")?.to_vec()),
            "recipientNonce" => {
                payload.recipient_nonce = Nonce(read_bytes(&mut r, "recipientNonce")?.to_vec());
            }
            "recipientBoxes" => {
                payload.recipient_boxes = read_byte_array(&mut r, "recipientBoxes")?
                    .into_iter()
                    .map(|b| RecipientBox(b.to_vec()))
                    .collect();
            }
            "recipients" => {
                payload.recipient_keys = read_byte_array(&mut r, "recipients")?
                    .into_iter()
                    .map(PublicKey::from_bytes)
                    .collect();
            }
            "privacyFlag" => {
                let flag = read_header(&mut r, "privacyFlag")?;
                payload.privacy_mode = match flag.major {
                    MAJOR_UNSIGNED => {
                        PrivacyMode::from_flag(i64::try_from(flag.value).unwrap_or(-1))
                    }
                    MAJOR_NEGATIVE => PrivacyMode::StandardPrivate,
                    _ => {
                        return Err(CodecError::Invalid(
                            "privacyFlag has the wrong CBOR type".into(),
                        ))
                    }
                };
            }
            "affected" => {
                let map = read_header(&mut r, "affected")?;
                expect(&map, MAJOR_MAP, "affected")?;
                let count = bounded(map.value, &r, "affected")?;
                payload.affected_contract_transactions.clear();
                for _ in 0..count {
                    let tx_hash = TxHash::from_bytes(b64::decode(
                        read_text(&mut r, "affected transaction hash")?,
                        "affected transaction hash",
                    )?);
                    let security_hash = SecurityHash(read_bytes(&mut r, "security hash")?.to_vec());
                    payload
                        .affected_contract_transactions
                        .insert(tx_hash, security_hash);
                }
            }
            "execHash" => payload.exec_hash = read_bytes(&mut r, "execHash")?.to_vec(),
            "mandatoryFor" => {
                payload.mandatory_recipients = read_byte_array(&mut r, "mandatoryFor")?
                    .into_iter()
                    .map(PublicKey::from_bytes)
                    .collect();
            }
            "privacyGroupId" => {
                let group = read_bytes(&mut r, "privacyGroupId")?;
                payload.privacy_group_id =
                    (!group.is_empty()).then(|| PrivacyGroupId(group.to_vec()));
            }
            _ => break,
        }
    }
    payload.validate()?;
    Ok(payload)
}
