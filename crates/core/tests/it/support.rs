//! Loading the test vectors in `testdata/`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;
use tm_core::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};

/// `testdata/` at the root of the repository (see `testdata/README.md`).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Reads one vector file; a missing file fails the test (vectors are required, never skipped).
pub fn load(relative: &str) -> Value {
    let path = vectors_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector file is JSON")
}

pub fn hex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

pub fn b64(value: &Value) -> Vec<u8> {
    tm_core::b64::decode(value.as_str().expect("base64 string"), "vector").expect("valid base64")
}

pub fn key(value: &Value) -> PublicKey {
    PublicKey::from_base64(value.as_str().expect("key string")).expect("valid key")
}

fn bytes_list(fields: &Value, name: &str) -> Option<Vec<Vec<u8>>> {
    if let Some(list) = fields.get(format!("{name}_hex")) {
        return Some(list.as_array()?.iter().map(hex).collect());
    }
    let list = fields.get(format!("{name}_base64"))?;
    Some(list.as_array()?.iter().map(b64).collect())
}

fn bytes(fields: &Value, name: &str) -> Option<Vec<u8>> {
    if let Some(value) = fields.get(format!("{name}_hex")) {
        return Some(hex(value));
    }
    fields.get(format!("{name}_base64")).map(b64)
}

/// Builds the payload a vector's `fields`/`decoded` object describes.
pub fn payload_from_fields(fields: &Value) -> EncodedPayload {
    let affected_list = fields
        .get("affected")
        .or_else(|| fields.get("affectedContractTransactions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut affected = BTreeMap::new();
    for entry in &affected_list {
        let tx = bytes(entry, "txHash").expect("txHash");
        let security = bytes(entry, "securityHash").expect("securityHash");
        affected.insert(TxHash::from_bytes(tx), SecurityHash(security));
    }
    EncodedPayload {
        sender: PublicKey::from_bytes(bytes(fields, "sender").expect("sender")),
        cipher_text: bytes(fields, "cipherText").expect("cipherText"),
        cipher_text_nonce: Nonce(bytes(fields, "cipherTextNonce").expect("nonce")),
        recipient_boxes: bytes_list(fields, "recipientBoxes")
            .expect("boxes")
            .into_iter()
            .map(RecipientBox)
            .collect(),
        recipient_nonce: Nonce(bytes(fields, "recipientNonce").expect("recipient nonce")),
        recipient_keys: bytes_list(fields, "recipientKeys")
            .unwrap_or_default()
            .into_iter()
            .map(PublicKey::from_bytes)
            .collect(),
        privacy_mode: PrivacyMode::from_flag(fields["privacyFlag"].as_i64().unwrap_or(0)),
        affected_contract_transactions: affected,
        exec_hash: bytes(fields, "execHash").unwrap_or_default(),
        privacy_group_id: fields
            .get("privacyGroupId_hex")
            .filter(|v| !v.is_null())
            .map(|v| PrivacyGroupId(hex(v))),
        mandatory_recipients: bytes_list(fields, "mandatoryRecipients")
            .unwrap_or_default()
            .into_iter()
            .map(PublicKey::from_bytes)
            .collect::<BTreeSet<_>>(),
    }
}

/// The payload of a `fields_ascii` object (codec-only vectors with ASCII stand-ins).
pub fn payload_from_ascii(fields: &Value) -> EncodedPayload {
    let text = |name: &str| {
        fields[name]
            .as_str()
            .unwrap_or_default()
            .as_bytes()
            .to_vec()
    };
    let list = |name: &str| -> Vec<Vec<u8>> {
        fields[name]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|v| v.as_str().expect("string").as_bytes().to_vec())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut affected = BTreeMap::new();
    if let Some(map) = fields["affected"].as_object() {
        for (tx, security) in map {
            affected.insert(
                TxHash::from_bytes(tx.as_bytes().to_vec()),
                SecurityHash(security.as_str().expect("string").as_bytes().to_vec()),
            );
        }
    }
    EncodedPayload {
        sender: PublicKey::from_bytes(text("sender")),
        cipher_text: text("cipherText"),
        cipher_text_nonce: Nonce(text("nonce")),
        recipient_boxes: list("recipientBoxes")
            .into_iter()
            .map(RecipientBox)
            .collect(),
        recipient_nonce: Nonce(text("recipientNonce")),
        recipient_keys: list("recipients")
            .into_iter()
            .map(PublicKey::from_bytes)
            .collect(),
        privacy_mode: PrivacyMode::from_flag(fields["privacyFlag"].as_i64().unwrap_or(0)),
        affected_contract_transactions: affected,
        exec_hash: text("execHash"),
        privacy_group_id: Some(PrivacyGroupId(text("privacyGroupId"))).filter(|g| !g.0.is_empty()),
        mandatory_recipients: list("mandatoryFor")
            .into_iter()
            .map(PublicKey::from_bytes)
            .collect(),
    }
}

/// The member whose name starts with `prefix` (vector files annotate some names).
pub fn starting<'a>(object: &'a Value, prefix: &str) -> &'a Value {
    object
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.starts_with(prefix)))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("vector has no member starting with {prefix}"))
}
