//! The in-process enclave: the node's key pairs and every operation that needs a private key.

use std::collections::BTreeSet;

use tm_core::nacl::MasterKey;
use tm_core::seal::{PrivacyMetadata, RawTransaction, SealRandomness};
use tm_core::{EncodedPayload, KeyPair, Keyring, PublicKey, TxHash};

use crate::EnclaveError;

/// Whether the enclave can serve requests (Tessera's `Service.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Serving.
    Started,
    /// Not serving (a remote enclave that is down).
    Stopped,
}

impl Status {
    /// The name Tessera's `/ping` answers with.
    pub fn name(self) -> &'static str {
        match self {
            Self::Started => "STARTED",
            Self::Stopped => "STOPPED",
        }
    }
}

/// The key holder. Private keys live only here (wiped on drop by [`tm_core::PrivateKey`]);
/// `Debug` shows public keys only.
#[derive(Debug)]
pub struct Enclave {
    keyring: Keyring,
    forwarding: Vec<PublicKey>,
}

impl Enclave {
    /// Holds `pairs` (the first is the default key) and forwards to `always_send_to`.
    pub fn new(pairs: Vec<KeyPair>, always_send_to: Vec<PublicKey>) -> Self {
        for pair in &pairs {
            if !pair.is_consistent() {
                // Tessera does not check this either (docs/protocol.md §3.8); say so once.
                tracing::warn!(
                    public_key = %pair.public,
                    "configured public key does not match its private key; payloads sent to it cannot be decrypted"
                );
            }
        }
        Self {
            keyring: Keyring::new(pairs),
            forwarding: always_send_to,
        }
    }

    /// Always [`Status::Started`]: an in-process enclave is up while it exists.
    pub fn status(&self) -> Status {
        Status::Started
    }

    /// The default key (the first configured).
    pub fn default_public_key(&self) -> Result<PublicKey, EnclaveError> {
        self.keyring
            .default_key()
            .cloned()
            .ok_or(EnclaveError::NoKeys)
    }

    /// The `alwaysSendTo` keys.
    pub fn forwarding_keys(&self) -> Vec<PublicKey> {
        self.forwarding.clone()
    }

    /// Our public keys in configuration order.
    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keyring.public_keys().cloned().collect()
    }

    /// Encrypts `message` from `sender` for `recipients` (`/encrypt`).
    pub fn encrypt_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        self.check_sender(sender)?;
        Ok(self
            .keyring
            .encrypt_payload(message, sender, recipients, metadata)?)
    }

    /// Seals `message` for the sender alone (`storeraw`, `/encrypt/toraw`).
    pub fn encrypt_raw_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
    ) -> Result<RawTransaction, EnclaveError> {
        self.check_sender(sender)?;
        Ok(self.keyring.encrypt_raw(message, sender)?)
    }

    /// Boxes a raw transaction's key for `recipients` (`sendsignedtx`, `/encrypt/raw`).
    pub fn encrypt_raw_for_recipients(
        &self,
        raw: &RawTransaction,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        self.check_sender(&raw.sender)?;
        Ok(self
            .keyring
            .encrypt_raw_for_recipients(raw, recipients, metadata)?)
    }

    /// Decrypts `payload` with our key `my_key` (`/unencrypt`). Without a key, every one of
    /// ours is tried (Tessera would fail; trying is what its callers do next anyway).
    pub fn unencrypt_transaction(
        &self,
        payload: &EncodedPayload,
        my_key: Option<&PublicKey>,
    ) -> Result<Vec<u8>, EnclaveError> {
        match my_key {
            Some(key) => {
                self.check_sender(key)?;
                Ok(self.keyring.decrypt(payload, key)?)
            }
            None => Ok(self.keyring.decrypt_any(payload)?.1),
        }
    }

    /// Opens a raw transaction (`/unencrypt/raw`).
    pub fn unencrypt_raw_payload(&self, raw: &RawTransaction) -> Result<Vec<u8>, EnclaveError> {
        self.check_sender(&raw.sender)?;
        Ok(self.keyring.decrypt_raw(raw)?)
    }

    /// A recipient box for `recipient` of a payload we sent (`/addRecipient`,
    /// `EnclaveImpl.createNewRecipientBox`): the master key boxed from the sender to the new
    /// recipient with the payload's recipient nonce.
    pub fn create_new_recipient_box(
        &self,
        payload: &EncodedPayload,
        recipient: &PublicKey,
    ) -> Result<Vec<u8>, EnclaveError> {
        self.create_new_recipient_boxes(payload, std::slice::from_ref(recipient))?
            .pop()
            .ok_or_else(|| EnclaveError::Failed("no recipient box was produced".into()))
    }

    /// [`Enclave::create_new_recipient_box`] for several recipients, opening the master key
    /// once: the boxes in the order of `recipients`.
    pub fn create_new_recipient_boxes(
        &self,
        payload: &EncodedPayload,
        recipients: &[PublicKey],
    ) -> Result<Vec<Vec<u8>>, EnclaveError> {
        if payload.recipient_keys.is_empty() || payload.recipient_boxes.is_empty() {
            return Err(EnclaveError::Failed(
                "No key or recipient-box to use".into(),
            ));
        }
        self.check_sender(&payload.sender)?;
        let master_key = self.keyring.master_key(payload)?;
        let recipient_nonce: [u8; 24] = payload
            .recipient_nonce
            .as_bytes()
            .try_into()
            .map_err(|_| EnclaveError::BadRequest("recipient nonce must be 24 bytes".into()))?;
        // Keyring boxes master keys only while building a payload: build a throwaway one with
        // the recovered master key and the payload's nonce, and keep its boxes.
        let randomness = SealRandomness {
            master_key: MasterKey::from_bytes(*master_key.expose_bytes()),
            cipher_text_nonce: tm_core::nacl::random_nonce()?,
            recipient_nonce,
        };
        let boxed = self.keyring.encrypt_payload_with(
            &[],
            &payload.sender,
            recipients,
            &PrivacyMetadata::default(),
            &randomness,
        )?;
        let boxes: Vec<Vec<u8>> = boxed.recipient_boxes.into_iter().map(|b| b.0).collect();
        if boxes.len() != recipients.len() {
            return Err(EnclaveError::Failed(format!(
                "{} recipient boxes were produced for {} recipients",
                boxes.len(),
                recipients.len()
            )));
        }
        Ok(boxes)
    }

    /// The affected transactions whose security hash in `payload` does not verify, or that
    /// are missing from `affected` (`EnclaveImpl.findInvalidSecurityHashes`).
    pub fn find_invalid_security_hashes(
        &self,
        payload: &EncodedPayload,
        affected: &[(TxHash, EncodedPayload)],
    ) -> Result<BTreeSet<TxHash>, EnclaveError> {
        let mut invalid = BTreeSet::new();
        for (hash, security_hash) in &payload.affected_contract_transactions {
            let Some((_, stored)) = affected.iter().find(|(h, _)| h == hash) else {
                invalid.insert(hash.clone());
                continue;
            };
            let computed = self.keyring.security_hash(&payload.cipher_text, stored)?;
            if &computed != security_hash {
                invalid.insert(hash.clone());
            }
        }
        Ok(invalid)
    }

    fn check_sender(&self, key: &PublicKey) -> Result<(), EnclaveError> {
        if self.keyring.contains(key) {
            Ok(())
        } else {
            Err(EnclaveError::KeyNotFound(format!(
                "No key found for public key {key}"
            )))
        }
    }
}
