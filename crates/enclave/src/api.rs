//! The JSON bodies of Tessera's remote enclave API (docs/protocol.md §8), as its
//! `RestfulEnclaveClient` and `EnclaveResource` exchange them: MOXy binding, byte arrays as
//! standard base64, null members omitted. Encoded payloads inside these bodies use the LEGACY
//! codec.

use serde::{Deserialize, Serialize};
use tm_core::codec::{decode_legacy, encode_legacy};
use tm_core::payload::PrivacyGroupId;
use tm_core::seal::{PrivacyMetadata, RawTransaction};
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};

use crate::EnclaveError;

/// Paths of the enclave API, relative to its base URL.
pub mod paths {
    /// `GET`: `STARTED` (200) or the status name (503).
    pub const PING: &str = "ping";
    /// `GET`: the default public key, raw bytes.
    pub const DEFAULT: &str = "default";
    /// `GET`: JSON array of base64 forwarding keys.
    pub const FORWARDING: &str = "forwarding";
    /// `GET`: JSON array of base64 public keys.
    pub const PUBLIC: &str = "public";
    /// `POST` [`super::EnclavePayload`]: LEGACY payload bytes.
    pub const ENCRYPT: &str = "encrypt";
    /// `POST` [`super::EnclaveRawPayload`]: LEGACY payload bytes (`sendsignedtx`).
    pub const ENCRYPT_RAW: &str = "encrypt/raw";
    /// `POST` [`super::EnclavePayload`] (data, senderKey): [`super::EnclaveRawPayload`].
    pub const ENCRYPT_TO_RAW: &str = "encrypt/toraw";
    /// `POST` [`super::EnclaveUnencryptPayload`]: the plaintext.
    pub const UNENCRYPT: &str = "unencrypt";
    /// `POST` [`super::EnclaveRawPayload`]: the plaintext.
    pub const UNENCRYPT_RAW: &str = "unencrypt/raw";
    /// `POST` [`super::EnclaveUnencryptPayload`] (providedKey = new recipient): the box.
    pub const ADD_RECIPIENT: &str = "addRecipient";
    /// `POST` [`super::FindInvalidSecurityHashesRequest`]: the response of that name.
    pub const FIND_INVALID_SECURITY_HASHES: &str = "findinvalidsecurityhashes";
}

/// Base64 (de)serialisation of byte fields, as MOXy writes `byte[]`.
pub mod b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&tm_core::b64::encode(bytes))
    }

    /// Reads base64 (null reads as empty).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        tm_core::b64::decode(&text, "field").map_err(serde::de::Error::custom)
    }

    /// Optional byte fields.
    pub mod option {
        use super::*;

        /// Serialises present bytes as base64.
        pub fn serialize<S: Serializer>(bytes: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match bytes {
                Some(bytes) => super::serialize(bytes, s),
                None => s.serialize_none(),
            }
        }

        /// Reads optional base64.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(text) => tm_core::b64::decode(&text, "field")
                    .map(Some)
                    .map_err(serde::de::Error::custom),
            }
        }
    }

    /// Lists of byte fields (null reads as empty).
    pub mod list {
        use super::*;
        use serde::ser::SerializeSeq;

        /// Serialises a list of byte strings.
        pub fn serialize<S: Serializer>(items: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(items.len()))?;
            for item in items {
                seq.serialize_element(&tm_core::b64::encode(item))?;
            }
            seq.end()
        }

        /// Reads a list of base64 strings.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            Option::<Vec<String>>::deserialize(d)?
                .unwrap_or_default()
                .iter()
                .map(|text| tm_core::b64::decode(text, "list item"))
                .collect::<Result<_, _>>()
                .map_err(serde::de::Error::custom)
        }
    }
}

/// `PrivacyMode` by enum name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WirePrivacyMode {
    /// Flag 0.
    #[default]
    StandardPrivate,
    /// Flag 1.
    PartyProtection,
    /// Flag 2.
    MandatoryRecipients,
    /// Flag 3.
    PrivateStateValidation,
}

impl From<PrivacyMode> for WirePrivacyMode {
    fn from(mode: PrivacyMode) -> Self {
        match mode {
            PrivacyMode::StandardPrivate => Self::StandardPrivate,
            PrivacyMode::PartyProtection => Self::PartyProtection,
            PrivacyMode::MandatoryRecipients => Self::MandatoryRecipients,
            PrivacyMode::PrivateStateValidation => Self::PrivateStateValidation,
        }
    }
}

impl From<WirePrivacyMode> for PrivacyMode {
    fn from(mode: WirePrivacyMode) -> Self {
        match mode {
            WirePrivacyMode::StandardPrivate => Self::StandardPrivate,
            WirePrivacyMode::PartyProtection => Self::PartyProtection,
            WirePrivacyMode::MandatoryRecipients => Self::MandatoryRecipients,
            WirePrivacyMode::PrivateStateValidation => Self::PrivateStateValidation,
        }
    }
}

/// `{"key": <b64 tx hash>, "value": <b64 LEGACY payload>}`: an affected contract transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValuePair {
    /// The transaction hash.
    #[serde(with = "b64")]
    pub key: Vec<u8>,
    /// Its LEGACY-encoded payload.
    #[serde(with = "b64")]
    pub value: Vec<u8>,
}

/// `EnclavePayload`: the request of `/encrypt` and `/encrypt/toraw`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnclavePayload {
    /// The plaintext.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
    /// The sender (one of the enclave's keys).
    #[serde(with = "b64")]
    pub sender_key: Vec<u8>,
    /// Recipients, in order.
    #[serde(with = "b64::list")]
    pub recipient_public_keys: Vec<Vec<u8>>,
    /// The privacy mode.
    pub privacy_mode: WirePrivacyMode,
    /// Affected contract transactions.
    pub affected_contract_transactions: Vec<KeyValuePair>,
    /// PSV execution hash (may be empty).
    #[serde(with = "b64")]
    pub exec_hash: Vec<u8>,
    /// Mandatory recipients.
    #[serde(with = "b64::list")]
    pub mandatory_recipients: Vec<Vec<u8>>,
    /// Privacy group id.
    #[serde(with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<Vec<u8>>,
}

/// `EnclaveRawPayload`: a raw transaction, with the privacy settings for `/encrypt/raw`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnclaveRawPayload {
    /// `secretbox(payload, nonce, MK)`.
    #[serde(with = "b64")]
    pub encrypted_payload: Vec<u8>,
    /// `secretbox(MK, nonce, beforenm(from, from_priv))`.
    #[serde(with = "b64")]
    pub encrypted_key: Vec<u8>,
    /// The nonce of both.
    #[serde(with = "b64")]
    pub nonce: Vec<u8>,
    /// The sender.
    #[serde(with = "b64")]
    pub from: Vec<u8>,
    /// Recipients (`/encrypt/raw`).
    #[serde(with = "b64::list", skip_serializing_if = "Vec::is_empty")]
    pub recipient_public_keys: Vec<Vec<u8>>,
    /// Privacy mode (`/encrypt/raw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_mode: Option<WirePrivacyMode>,
    /// Affected contract transactions (`/encrypt/raw`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub affected_contract_transactions: Vec<KeyValuePair>,
    /// PSV execution hash (`/encrypt/raw`).
    #[serde(with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub exec_hash: Option<Vec<u8>>,
    /// Mandatory recipients (`/encrypt/raw`).
    #[serde(with = "b64::list", skip_serializing_if = "Vec::is_empty")]
    pub mandatory_recipients: Vec<Vec<u8>>,
    /// Privacy group id (`/encrypt/raw`).
    #[serde(with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<Vec<u8>>,
}

/// `EnclaveUnencryptPayload`: `/unencrypt` and `/addRecipient`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EnclaveUnencryptPayload {
    /// The LEGACY-encoded payload.
    #[serde(with = "b64")]
    pub data: Vec<u8>,
    /// `/unencrypt`: our key to decrypt with; `/addRecipient`: the new recipient.
    #[serde(with = "b64::option", skip_serializing_if = "Option::is_none")]
    pub provided_key: Option<Vec<u8>>,
}

/// The request of `/findinvalidsecurityhashes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FindInvalidSecurityHashesRequest {
    /// The LEGACY-encoded payload whose ACOTHs are checked.
    #[serde(with = "b64")]
    pub encoded_payload: Vec<u8>,
    /// The affected transactions as stored locally.
    pub affected_contract_transactions: Vec<KeyValuePair>,
}

/// The response of `/findinvalidsecurityhashes`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FindInvalidSecurityHashesResponse {
    /// Hashes of affected transactions whose security hash does not verify.
    #[serde(with = "b64::list")]
    pub invalid_security_hashes: Vec<Vec<u8>>,
}

// Conversions between the wire and domain types. Decoding anything from the wire is a
// `BadRequest`: it came from outside.

pub(crate) fn decode_payload(bytes: &[u8]) -> Result<EncodedPayload, EnclaveError> {
    decode_legacy(bytes).map_err(|e| EnclaveError::BadRequest(format!("encoded payload: {e}")))
}

pub(crate) fn affected_to_wire(affected: &[(TxHash, EncodedPayload)]) -> Vec<KeyValuePair> {
    affected
        .iter()
        .map(|(hash, payload)| KeyValuePair {
            key: hash.as_bytes().to_vec(),
            value: encode_legacy(payload),
        })
        .collect()
}

pub(crate) fn affected_from_wire(
    pairs: &[KeyValuePair],
) -> Result<Vec<(TxHash, EncodedPayload)>, EnclaveError> {
    pairs
        .iter()
        .map(|pair| {
            Ok((
                TxHash::from_bytes(pair.key.clone()),
                decode_payload(&pair.value)?,
            ))
        })
        .collect()
}

fn keys(list: &[Vec<u8>]) -> Vec<PublicKey> {
    list.iter()
        .map(|k| PublicKey::from_bytes(k.clone()))
        .collect()
}

impl EnclavePayload {
    /// The request for an encryption.
    pub fn new(
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Self {
        Self {
            data: message.to_vec(),
            sender_key: sender.as_bytes().to_vec(),
            recipient_public_keys: recipients.iter().map(|k| k.as_bytes().to_vec()).collect(),
            privacy_mode: metadata.privacy_mode.into(),
            affected_contract_transactions: affected_to_wire(&metadata.affected),
            exec_hash: metadata.exec_hash.clone(),
            mandatory_recipients: metadata
                .mandatory_recipients
                .iter()
                .map(|k| k.as_bytes().to_vec())
                .collect(),
            privacy_group_id: metadata.privacy_group_id.as_ref().map(|g| g.0.clone()),
        }
    }

    /// The sender key.
    pub fn sender(&self) -> PublicKey {
        PublicKey::from_bytes(self.sender_key.clone())
    }

    /// The recipients.
    pub fn recipients(&self) -> Vec<PublicKey> {
        keys(&self.recipient_public_keys)
    }

    /// The privacy metadata (decodes the affected payloads).
    pub fn metadata(&self) -> Result<PrivacyMetadata, EnclaveError> {
        Ok(PrivacyMetadata {
            privacy_mode: self.privacy_mode.into(),
            affected: affected_from_wire(&self.affected_contract_transactions)?,
            exec_hash: self.exec_hash.clone(),
            privacy_group_id: self.privacy_group_id.clone().map(PrivacyGroupId),
            mandatory_recipients: keys(&self.mandatory_recipients).into_iter().collect(),
        })
    }
}

impl EnclaveRawPayload {
    /// A raw transaction alone (`/encrypt/toraw` response, `/unencrypt/raw` request).
    pub fn from_raw(raw: &RawTransaction) -> Self {
        Self {
            encrypted_payload: raw.encrypted_payload.clone(),
            encrypted_key: raw.encrypted_key.clone(),
            nonce: raw.nonce.as_bytes().to_vec(),
            from: raw.sender.as_bytes().to_vec(),
            ..Self::default()
        }
    }

    /// A raw transaction with recipients and privacy settings (`/encrypt/raw` request).
    pub fn for_recipients(
        raw: &RawTransaction,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Self {
        Self {
            recipient_public_keys: recipients.iter().map(|k| k.as_bytes().to_vec()).collect(),
            privacy_mode: Some(metadata.privacy_mode.into()),
            affected_contract_transactions: affected_to_wire(&metadata.affected),
            exec_hash: Some(metadata.exec_hash.clone()),
            mandatory_recipients: metadata
                .mandatory_recipients
                .iter()
                .map(|k| k.as_bytes().to_vec())
                .collect(),
            privacy_group_id: metadata.privacy_group_id.as_ref().map(|g| g.0.clone()),
            ..Self::from_raw(raw)
        }
    }

    /// The raw transaction.
    pub fn raw(&self) -> RawTransaction {
        RawTransaction {
            encrypted_payload: self.encrypted_payload.clone(),
            encrypted_key: self.encrypted_key.clone(),
            nonce: self.nonce.clone().into(),
            sender: PublicKey::from_bytes(self.from.clone()),
        }
    }

    /// The recipients.
    pub fn recipients(&self) -> Vec<PublicKey> {
        keys(&self.recipient_public_keys)
    }

    /// The privacy metadata.
    pub fn metadata(&self) -> Result<PrivacyMetadata, EnclaveError> {
        Ok(PrivacyMetadata {
            privacy_mode: self.privacy_mode.unwrap_or_default().into(),
            affected: affected_from_wire(&self.affected_contract_transactions)?,
            exec_hash: self.exec_hash.clone().unwrap_or_default(),
            privacy_group_id: self.privacy_group_id.clone().map(PrivacyGroupId),
            mandatory_recipients: keys(&self.mandatory_recipients).into_iter().collect(),
        })
    }
}
