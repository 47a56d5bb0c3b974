//! The LEGACY length-prefixed encoding (`PayloadEncoderImpl`, docs/protocol.md §1.3 and §1.4).

use super::reader::{put_array, put_field, put_len, Reader};
use super::OpCount;
use crate::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use crate::{CodecError, EncodedPayload, PrivacyMode, PublicKey, TxHash};

/// Java reads every length with `Math.toIntExact`.
const MAX_LEN: i64 = i32::MAX as i64;

/// Encodes as the current Tessera encoder does: items 1–8 always, then exec hash (PSV only),
/// mandatory recipients (MANDATORY_RECIPIENTS only) and the privacy group id (when set).
pub fn encode(payload: &EncodedPayload) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(256 + payload.cipher_text.len() + payload.recipient_boxes.len() * 96);
    put_field(&mut out, payload.sender.as_bytes());
    put_field(&mut out, &payload.cipher_text);
    put_field(&mut out, payload.cipher_text_nonce.as_bytes());
    put_array(
        &mut out,
        payload.recipient_boxes.iter().map(RecipientBox::as_bytes),
    );
    put_field(&mut out, payload.recipient_nonce.as_bytes());
    put_array(
        &mut out,
        payload.recipient_keys.iter().map(PublicKey::as_bytes),
    );
    put_field(&mut out, &[payload.privacy_mode.flag()]);
    put_len(&mut out, payload.affected_contract_transactions.len());
    for (tx_hash, security_hash) in &payload.affected_contract_transactions {
        put_field(&mut out, tx_hash.as_bytes());
        put_field(&mut out, security_hash.as_bytes());
    }
    if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
        put_field(&mut out, &payload.exec_hash);
    }
    if payload.privacy_mode == PrivacyMode::MandatoryRecipients {
        put_array(
            &mut out,
            payload.mandatory_recipients.iter().map(PublicKey::as_bytes),
        );
    }
    if let Some(group) = &payload.privacy_group_id {
        put_field(&mut out, group.as_bytes());
    }
    out
}

/// Decodes every historical form of the LEGACY encoding; trailing bytes are ignored.
///
/// One pass over the input: each item is read once, and the only collections built are the
/// lists (appended to) and the ACOTH map and mandatory set (`O(log n)` per insert).
pub fn decode(bytes: &[u8]) -> Result<EncodedPayload, CodecError> {
    read(Reader::new(bytes))
}

/// [`decode`], adding one to `ops` for every read of the input (for the linearity tests).
pub fn decode_counted(bytes: &[u8], ops: &OpCount) -> Result<EncodedPayload, CodecError> {
    read(Reader::counted(bytes, ops))
}

fn read(mut r: Reader<'_>) -> Result<EncodedPayload, CodecError> {
    let mut payload = EncodedPayload {
        sender: PublicKey::from_bytes(r.field("sender key", MAX_LEN)?),
        cipher_text: r.field("cipher text", MAX_LEN)?.to_vec(),
        cipher_text_nonce: Nonce(r.field("cipher text nonce", MAX_LEN)?.to_vec()),
        ..EncodedPayload::default()
    };
    let boxes = r.length("recipient box count", MAX_LEN)?;
    for _ in 0..boxes {
        payload
            .recipient_boxes
            .push(RecipientBox(r.field("recipient box", MAX_LEN)?.to_vec()));
    }
    payload.recipient_nonce = Nonce(r.field("recipient nonce", MAX_LEN)?.to_vec());

    if r.remaining() > 0 {
        let keys = r.length("recipient key count", MAX_LEN)?;
        for _ in 0..keys {
            payload
                .recipient_keys
                .push(PublicKey::from_bytes(r.field("recipient key", MAX_LEN)?));
        }
    }
    if r.remaining() > 0 {
        let flag = r.field("privacy flag", MAX_LEN)?;
        let first = *flag
            .first()
            .ok_or(CodecError::Invalid("empty privacy flag".into()))?;
        payload.privacy_mode = PrivacyMode::from_flag(i64::from(first as i8));

        let affected = r.length("affected transaction count", MAX_LEN)?;
        for _ in 0..affected {
            let tx_hash = TxHash::from_bytes(r.field("affected transaction hash", MAX_LEN)?);
            let security_hash = SecurityHash(r.field("security hash", MAX_LEN)?.to_vec());
            payload
                .affected_contract_transactions
                .insert(tx_hash, security_hash);
        }
        if r.remaining() > 0 && payload.privacy_mode == PrivacyMode::PrivateStateValidation {
            payload.exec_hash = r.field("exec hash", MAX_LEN)?.to_vec();
        }
        if r.remaining() > 0 && payload.privacy_mode == PrivacyMode::MandatoryRecipients {
            let count = r.length("mandatory recipient count", MAX_LEN)?;
            for _ in 0..count {
                payload.mandatory_recipients.insert(PublicKey::from_bytes(
                    r.field("mandatory recipient", MAX_LEN)?,
                ));
            }
        }
        if r.remaining() > 0 {
            let group = r.field("privacy group id", MAX_LEN)?;
            if !group.is_empty() {
                payload.privacy_group_id = Some(PrivacyGroupId(group.to_vec()));
            }
        }
    }
    payload.validate()?;
    Ok(payload)
}
