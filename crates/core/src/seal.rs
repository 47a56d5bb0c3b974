//! Payload encryption exactly as Tessera's `EnclaveImpl` does it (docs/protocol.md §3).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use crate::hash::sha3_512;
use crate::nacl::{MasterKey, SharedKey};
use crate::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use crate::{CryptoError, EncodedPayload, KeyPair, PrivacyMode, PrivateKey, PublicKey, TxHash};

/// How many shared keys the cache holds before it starts over. Keys come from requests and
/// pushes, so the cache must not grow without bound.
const SHARED_KEY_CACHE_LIMIT: usize = 4096;

/// Precomputed shared keys per (our public key, their public key), so repeated traffic with the
/// same party skips the X25519 step.
#[derive(Default)]
pub struct SharedKeyCache {
    keys: Mutex<HashMap<(PublicKey, PublicKey), Arc<SharedKey>>>,
}

impl SharedKeyCache {
    /// The shared key of `ours` (whose private key is `private`) with `theirs`.
    pub fn get(
        &self,
        ours: &PublicKey,
        private: &PrivateKey,
        theirs: &PublicKey,
    ) -> Result<Arc<SharedKey>, CryptoError> {
        let id = (ours.clone(), theirs.clone());
        if let Some(key) = self.lock().get(&id) {
            return Ok(Arc::clone(key));
        }
        let key = Arc::new(SharedKey::compute(theirs, private)?);
        let mut keys = self.lock();
        if keys.len() >= SHARED_KEY_CACHE_LIMIT {
            keys.clear();
        }
        keys.insert(id, Arc::clone(&key));
        Ok(key)
    }

    /// How many shared keys are cached.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(PublicKey, PublicKey), Arc<SharedKey>>> {
        // A panic while holding the lock cannot leave the map inconsistent; keep using it.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The random values one encryption uses; fixed in tests to reproduce vectors.
#[derive(Debug)]
pub struct SealRandomness {
    /// The master key.
    pub master_key: MasterKey,
    /// Nonce of the cipher text.
    pub cipher_text_nonce: [u8; 24],
    /// Nonce shared by every recipient box.
    pub recipient_nonce: [u8; 24],
}

impl SealRandomness {
    /// Fresh values from the operating system.
    pub fn generate() -> Result<Self, CryptoError> {
        Ok(Self {
            master_key: MasterKey::generate()?,
            cipher_text_nonce: crate::nacl::random_nonce()?,
            recipient_nonce: crate::nacl::random_nonce()?,
        })
    }
}

/// The privacy settings of a transaction being encrypted (`PrivacyMetadata`).
#[derive(Clone, Debug, Default)]
pub struct PrivacyMetadata {
    /// The mode.
    pub privacy_mode: PrivacyMode,
    /// Affected contract transactions, with their stored payloads (to compute security hashes).
    pub affected: Vec<(TxHash, EncodedPayload)>,
    /// PSV execution hash (UTF-8 bytes of what Quorum sent).
    pub exec_hash: Vec<u8>,
    /// Privacy group.
    pub privacy_group_id: Option<PrivacyGroupId>,
    /// Mandatory recipients.
    pub mandatory_recipients: BTreeSet<PublicKey>,
}

/// A transaction stored by `storeraw`, waiting for `sendsignedtx` (docs/protocol.md §3.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawTransaction {
    /// `secretbox(payload, nonce, MK)`.
    pub encrypted_payload: Vec<u8>,
    /// `secretbox(MK, nonce, beforenm(sender, sender_priv))`: the same nonce.
    pub encrypted_key: Vec<u8>,
    /// The one nonce used for both.
    pub nonce: Nonce,
    /// The sender's key.
    pub sender: PublicKey,
}

impl RawTransaction {
    /// The raw hash: SHA3-512 of the encrypted payload.
    pub fn hash(&self) -> TxHash {
        TxHash::of_cipher_text(&self.encrypted_payload)
    }

    /// The raw hash under `digest` (Orion mode's differs).
    pub fn hash_with(&self, digest: crate::hash::PayloadDigest) -> TxHash {
        digest.of(&self.encrypted_payload)
    }
}

/// The key pairs a node holds, with the shared-key cache, doing every private-key operation.
#[derive(Default)]
pub struct Keyring {
    pairs: Vec<KeyPair>,
    cache: SharedKeyCache,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "public_keys",
                &self.pairs.iter().map(|p| &p.public).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Keyring {
    /// Holds these pairs; the first is the default key, as in Tessera.
    pub fn new(pairs: Vec<KeyPair>) -> Self {
        Self {
            pairs,
            cache: SharedKeyCache::default(),
        }
    }

    /// Our public keys in configuration order.
    pub fn public_keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.pairs.iter().map(|pair| &pair.public)
    }

    /// The default sender key (the first configured).
    pub fn default_key(&self) -> Option<&PublicKey> {
        self.pairs.first().map(|pair| &pair.public)
    }

    /// Whether we hold the private key for `key`.
    pub fn contains(&self, key: &PublicKey) -> bool {
        self.pairs.iter().any(|pair| &pair.public == key)
    }

    /// The shared-key cache (for metrics and benchmarks).
    pub fn cache(&self) -> &SharedKeyCache {
        &self.cache
    }

    fn private(&self, key: &PublicKey) -> Result<&PrivateKey, CryptoError> {
        self.pairs
            .iter()
            .find(|pair| &pair.public == key)
            .map(|pair| &pair.private)
            .ok_or_else(|| CryptoError::UnknownKey(key.to_base64()))
    }

    fn shared(&self, ours: &PublicKey, theirs: &PublicKey) -> Result<Arc<SharedKey>, CryptoError> {
        self.cache.get(ours, self.private(ours)?, theirs)
    }

    /// Encrypts `message` from `sender` (one of ours) to `recipients`, with fresh randomness.
    pub fn encrypt_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, CryptoError> {
        self.encrypt_payload_with(
            message,
            sender,
            recipients,
            metadata,
            &SealRandomness::generate()?,
        )
    }

    /// `EnclaveImpl.encryptPayload` with the randomness given (docs/protocol.md §3.2).
    pub fn encrypt_payload_with(
        &self,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
        randomness: &SealRandomness,
    ) -> Result<EncodedPayload, CryptoError> {
        let cipher_text = randomness
            .master_key
            .seal(message, &randomness.cipher_text_nonce)?;
        self.build_payload(
            cipher_text,
            randomness.cipher_text_nonce.to_vec(),
            &randomness.master_key,
            &randomness.recipient_nonce,
            sender,
            recipients,
            metadata,
        )
    }

    /// Boxes the master key for every recipient and assembles the payload.
    #[allow(clippy::too_many_arguments)]
    fn build_payload(
        &self,
        cipher_text: Vec<u8>,
        cipher_text_nonce: Vec<u8>,
        master_key: &MasterKey,
        recipient_nonce: &[u8; 24],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, CryptoError> {
        let recipient_boxes = recipients
            .iter()
            .map(|recipient| {
                self.shared(sender, recipient)?
                    .seal(master_key.expose_bytes(), recipient_nonce)
                    .map(RecipientBox)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut affected_contract_transactions = BTreeMap::new();
        for (tx_hash, affected) in &metadata.affected {
            let affected_key = self.master_key(affected)?;
            let security_hash = SecurityHash(sha3_512(&[
                &cipher_text,
                &affected.cipher_text,
                affected_key.expose_bytes(),
            ]));
            affected_contract_transactions.insert(tx_hash.clone(), security_hash);
        }
        let payload = EncodedPayload {
            sender: sender.clone(),
            cipher_text,
            cipher_text_nonce: Nonce(cipher_text_nonce),
            recipient_boxes,
            recipient_nonce: Nonce(recipient_nonce.to_vec()),
            recipient_keys: recipients.to_vec(),
            privacy_mode: metadata.privacy_mode,
            affected_contract_transactions,
            exec_hash: metadata.exec_hash.clone(),
            privacy_group_id: metadata.privacy_group_id.clone(),
            mandatory_recipients: metadata.mandatory_recipients.clone(),
        };
        payload
            .validate()
            .map_err(|_| CryptoError::Open("privacy metadata (inconsistent mode)"))?;
        Ok(payload)
    }

    /// `storeraw`: seals `message` for the sender alone, with fresh randomness.
    pub fn encrypt_raw(
        &self,
        message: &[u8],
        sender: &PublicKey,
    ) -> Result<RawTransaction, CryptoError> {
        self.encrypt_raw_with(
            message,
            sender,
            &MasterKey::generate()?,
            &crate::nacl::random_nonce()?,
        )
    }

    /// `EnclaveImpl.encryptRawPayload` with the randomness given: the same nonce seals the
    /// payload and the master key.
    pub fn encrypt_raw_with(
        &self,
        message: &[u8],
        sender: &PublicKey,
        master_key: &MasterKey,
        nonce: &[u8; 24],
    ) -> Result<RawTransaction, CryptoError> {
        let encrypted_payload = master_key.seal(message, nonce)?;
        let encrypted_key = self
            .shared(sender, sender)?
            .seal(master_key.expose_bytes(), nonce)?;
        Ok(RawTransaction {
            encrypted_payload,
            encrypted_key,
            nonce: Nonce(nonce.to_vec()),
            sender: sender.clone(),
        })
    }

    fn raw_master_key(&self, raw: &RawTransaction) -> Result<MasterKey, CryptoError> {
        let key = self.shared(&raw.sender, &raw.sender)?.open(
            &raw.encrypted_key,
            raw.nonce.as_bytes(),
            "raw transaction key",
        )?;
        MasterKey::from_slice(&key)
    }

    /// Opens a raw transaction (`unencryptRawPayload`).
    pub fn decrypt_raw(&self, raw: &RawTransaction) -> Result<Vec<u8>, CryptoError> {
        self.raw_master_key(raw)?.open(
            &raw.encrypted_payload,
            raw.nonce.as_bytes(),
            "raw transaction payload",
        )
    }

    /// `sendsignedtx`: boxes a raw transaction's master key for `recipients` with a fresh
    /// recipient nonce; the cipher text and its nonce are the raw ones, unchanged.
    pub fn encrypt_raw_for_recipients(
        &self,
        raw: &RawTransaction,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, CryptoError> {
        self.encrypt_raw_for_recipients_with(
            raw,
            recipients,
            metadata,
            &crate::nacl::random_nonce()?,
        )
    }

    /// [`Keyring::encrypt_raw_for_recipients`] with the recipient nonce given.
    pub fn encrypt_raw_for_recipients_with(
        &self,
        raw: &RawTransaction,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
        recipient_nonce: &[u8; 24],
    ) -> Result<EncodedPayload, CryptoError> {
        let master_key = self.raw_master_key(raw)?;
        self.build_payload(
            raw.encrypted_payload.clone(),
            raw.nonce.as_bytes().to_vec(),
            &master_key,
            recipient_nonce,
            &raw.sender,
            recipients,
            metadata,
        )
    }

    /// Recovers a payload's master key with one of our keys (`getMasterKey`,
    /// docs/protocol.md §3.6).
    pub fn master_key(&self, payload: &EncodedPayload) -> Result<MasterKey, CryptoError> {
        let first_box = payload.recipient_boxes.first().ok_or(CryptoError::NoBox)?;
        let nonce = payload.recipient_nonce.as_bytes();
        if self.contains(&payload.sender) {
            let theirs = payload
                .recipient_keys
                .first()
                .ok_or_else(|| CryptoError::NotARecipient(payload.sender.to_base64()))?;
            let key = self.shared(&payload.sender, theirs)?.open(
                first_box.as_bytes(),
                nonce,
                "recipient box",
            )?;
            return MasterKey::from_slice(&key);
        }
        for ours in self.public_keys() {
            if let Ok(key) = self
                .shared(ours, &payload.sender)
                .and_then(|shared| shared.open(first_box.as_bytes(), nonce, "recipient box"))
            {
                return MasterKey::from_slice(&key);
            }
        }
        Err(CryptoError::Open("recipient box"))
    }

    /// The ACOTH security hash of `affected` as seen from a payload with `cipher_text`.
    pub fn security_hash(
        &self,
        cipher_text: &[u8],
        affected: &EncodedPayload,
    ) -> Result<SecurityHash, CryptoError> {
        let key = self.master_key(affected)?;
        Ok(SecurityHash(sha3_512(&[
            cipher_text,
            &affected.cipher_text,
            key.expose_bytes(),
        ])))
    }

    /// Decrypts `payload` for our key `my_key` (`unencryptTransaction`, docs/protocol.md §3.3).
    pub fn decrypt(
        &self,
        payload: &EncodedPayload,
        my_key: &PublicKey,
    ) -> Result<Vec<u8>, CryptoError> {
        let keys = &payload.recipient_keys;
        let index_of_mine = || {
            keys.iter()
                .position(|key| key == my_key)
                .ok_or_else(|| CryptoError::NotARecipient(my_key.to_base64()))
        };
        let mut other_party = &payload.sender;
        let index = if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
            let index = index_of_mine()?;
            if index >= payload.recipient_boxes.len()
                && my_key == &payload.sender
                && self.contains(&payload.sender)
                && !keys.is_empty()
            {
                // Ours, not Tessera's: a transaction we sent, rebuilt by recovery from a
                // recipient's copy, has no box for our key (nobody else holds it); that
                // recipient's box, first with its key first, opens with our key as sender.
                other_party = &keys[0];
                0
            } else {
                index
            }
        } else if keys.is_empty() {
            0
        } else if keys.contains(&payload.sender) {
            index_of_mine()?
        } else if self.contains(&payload.sender) && my_key == &payload.sender {
            // A very old Tessera did not list the sender among the recipients.
            other_party = &keys[0];
            0
        } else {
            index_of_mine()?
        };
        let recipient_box = payload
            .recipient_boxes
            .get(index)
            .ok_or(CryptoError::NoBox)?;
        let key = self.shared(my_key, other_party)?.open(
            recipient_box.as_bytes(),
            payload.recipient_nonce.as_bytes(),
            "recipient box",
        )?;
        MasterKey::from_slice(&key)?.open(
            &payload.cipher_text,
            payload.cipher_text_nonce.as_bytes(),
            "cipher text",
        )
    }

    /// Decrypts with whichever of our keys opens the payload (`searchForRecipientKey`), and
    /// says which key that was.
    pub fn decrypt_any(
        &self,
        payload: &EncodedPayload,
    ) -> Result<(PublicKey, Vec<u8>), CryptoError> {
        for key in self.public_keys() {
            if let Ok(plain) = self.decrypt(payload, key) {
                return Ok((key.clone(), plain));
            }
        }
        Err(CryptoError::Open("payload (no local key can decrypt it)"))
    }
}
