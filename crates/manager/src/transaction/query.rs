//! Reading and deleting: `/transaction/{hash}` (GET, DELETE, isSender, participants,
//! mandatory), `/receiveraw`, `/delete` and `/encodedpayload/decrypt`
//! (`TransactionManagerImpl.receive`, `EncodedPayloadManagerImpl.decrypt`).

use tm_core::seal::RawTransaction;
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};

use super::{not_found, Received};
use crate::{ManagerError, Node};

impl Node {
    /// The stored payload with this hash (404 `Message with hash ... was not found`).
    async fn fetch_payload(&self, hash: &TxHash) -> Result<EncodedPayload, ManagerError> {
        Ok(self
            .store
            .find_payload(hash.clone())
            .await?
            .ok_or_else(|| not_found(hash))?
            .payload)
    }

    /// The first of our keys that opens `payload` (`searchForRecipientKey`).
    async fn search_for_recipient_key(
        &self,
        payload: &EncodedPayload,
    ) -> Result<Option<PublicKey>, ManagerError> {
        Ok(self.open_with_any_key(payload).await?.map(|(key, _)| key))
    }

    /// The first of our keys that opens `payload`, and what it opened to. Tessera searches for
    /// the key, then decrypts again with it; the first decryption's answer is the same, so a
    /// receive without `to` asks the enclave once less.
    async fn open_with_any_key(
        &self,
        payload: &EncodedPayload,
    ) -> Result<Option<(PublicKey, Vec<u8>)>, ManagerError> {
        for key in self.enclave.public_keys().await? {
            if let Ok(plain) = self
                .enclave
                .unencrypt_transaction(payload, Some(&key))
                .await
            {
                return Ok(Some((key, plain)));
            }
        }
        Ok(None)
    }

    /// `GET /transaction/{hash}`: decrypts a stored transaction with `to`, or with whichever
    /// of our keys opens it; `raw` reads the `/storeraw` table instead.
    pub async fn receive(
        &self,
        hash: &TxHash,
        to: Option<PublicKey>,
        raw: bool,
    ) -> Result<Received, ManagerError> {
        crate::measure::counted(
            &tm_metrics::metrics().receives,
            &[],
            self.receive_unmeasured(hash, to, raw),
        )
        .await
    }

    async fn receive_unmeasured(
        &self,
        hash: &TxHash,
        to: Option<PublicKey>,
        raw: bool,
    ) -> Result<Received, ManagerError> {
        if raw {
            return self.receive_raw_table(hash).await;
        }
        let payload = self.fetch_payload(hash).await?;
        let plain = match to {
            Some(key) => {
                self.enclave
                    .unencrypt_transaction(&payload, Some(&key))
                    .await?
            }
            None => {
                self.open_with_any_key(&payload)
                    .await?
                    .ok_or_else(|| {
                        ManagerError::Internal(format!(
                            "No suitable recipient keys found to decrypt payload for : {hash}"
                        ))
                    })?
                    .1
            }
        };
        let managed_parties = if payload.recipient_keys.is_empty() {
            // A payload from a very old node lists no keys: find ours box by box.
            let mut found = Vec::new();
            for recipient_box in &payload.recipient_boxes {
                let single = EncodedPayload {
                    recipient_boxes: vec![recipient_box.clone()],
                    ..payload.clone()
                };
                if let Some(key) = self.search_for_recipient_key(&single).await? {
                    if !found.contains(&key) {
                        found.push(key);
                    }
                }
            }
            found
        } else {
            self.enclave
                .public_keys()
                .await?
                .into_iter()
                .filter(|key| payload.recipient_keys.contains(key))
                .collect()
        };
        Ok(Received::of(payload, plain, managed_parties))
    }

    async fn receive_raw_table(&self, hash: &TxHash) -> Result<Received, ManagerError> {
        let stored = self.store.find_raw(hash.clone()).await?.ok_or_else(|| {
            ManagerError::NotFound(format!("Raw Message with hash {hash} was not found"))
        })?;
        let raw = RawTransaction {
            encrypted_payload: stored.encrypted_payload,
            encrypted_key: stored.encrypted_key,
            nonce: stored.nonce.into(),
            sender: stored.sender,
        };
        let plain = self.enclave.unencrypt_raw_payload(&raw).await?;
        Ok(Received {
            payload: plain,
            privacy_mode: PrivacyMode::StandardPrivate,
            affected: Vec::new(),
            exec_hash: Vec::new(),
            managed_parties: vec![raw.sender.clone()],
            sender: raw.sender,
            privacy_group_id: None,
        })
    }

    /// `DELETE /transaction/{hash}` and `/delete`: removes a stored transaction; 404 with an
    /// empty message when there is none (Tessera's JPA EntityNotFoundException).
    pub async fn delete_transaction(&self, hash: &TxHash) -> Result<(), ManagerError> {
        if self.store.delete_payload(hash.clone()).await? {
            Ok(())
        } else {
            Err(ManagerError::NotFound(String::new()))
        }
    }

    /// `GET /transaction/{hash}/isSender`: whether we hold the payload's sender key.
    pub async fn is_sender(&self, hash: &TxHash) -> Result<bool, ManagerError> {
        let payload = self.fetch_payload(hash).await?;
        Ok(self.enclave.public_keys().await?.contains(&payload.sender))
    }

    /// `GET /transaction/{hash}/participants`: the stored recipient keys, in stored order.
    pub async fn participants(&self, hash: &TxHash) -> Result<Vec<PublicKey>, ManagerError> {
        Ok(self.fetch_payload(hash).await?.recipient_keys)
    }

    /// `GET /transaction/{hash}/mandatory`: the mandatory recipients of a MANDATORY_RECIPIENTS
    /// transaction (400 for any other privacy mode).
    pub async fn mandatory_recipients(
        &self,
        hash: &TxHash,
    ) -> Result<Vec<PublicKey>, ManagerError> {
        let payload = self.fetch_payload(hash).await?;
        if payload.privacy_mode != PrivacyMode::MandatoryRecipients {
            return Err(ManagerError::BadRequest(
                "Operation invalid. Transaction found is not a mandatory recipients privacy type"
                    .into(),
            ));
        }
        Ok(payload.mandatory_recipients.into_iter().collect())
    }

    /// `/encodedpayload/decrypt`: decrypts a payload given in the request with whichever of our
    /// keys opens it. Nothing is read from or written to the database.
    pub async fn decrypt_only(&self, payload: EncodedPayload) -> Result<Received, ManagerError> {
        let (_, plain) = self.open_with_any_key(&payload).await?.ok_or_else(|| {
            ManagerError::Internal(format!(
                "No suitable recipient keys found to decrypt payload for {}",
                self.store.hash_of(&payload)
            ))
        })?;
        Ok(Received::of(payload, plain, Vec::new()))
    }
}
