//! `EncodedPayload`: the encrypted transaction as nodes store and exchange it
//! (docs/protocol.md §1.1).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{b64, CodecError, CryptoError, PublicKey, TxHash};

macro_rules! opaque_bytes {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub Vec<u8>);

        impl $name {
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), b64::encode(&self.0))
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(bytes: Vec<u8>) -> Self {
                Self(bytes)
            }
        }
    };
}

opaque_bytes!(
    /// A NaCl nonce as carried in a payload (24 bytes when valid; opaque on the wire).
    Nonce
);
opaque_bytes!(
    /// The master key sealed for one recipient (48 bytes for NaCl).
    RecipientBox
);
opaque_bytes!(
    /// The ACOTH security hash bound to an affected contract transaction (docs/protocol.md §3.6).
    SecurityHash
);
opaque_bytes!(
    /// A privacy group id (32-byte Keccak-256 for generated ids, the name for resident groups).
    PrivacyGroupId
);

/// How a transaction's privacy is enforced (`PrivacyMode.java`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum PrivacyMode {
    /// Flag 0.
    #[default]
    StandardPrivate,
    /// Flag 1.
    PartyProtection,
    /// Flag 2.
    MandatoryRecipients,
    /// Flag 3 ("PSV").
    PrivateStateValidation,
}

impl PrivacyMode {
    /// The wire flag.
    pub fn flag(self) -> u8 {
        match self {
            Self::StandardPrivate => 0,
            Self::PartyProtection => 1,
            Self::MandatoryRecipients => 2,
            Self::PrivateStateValidation => 3,
        }
    }

    /// Tessera's `fromFlag`: an unknown value is STANDARD_PRIVATE.
    pub fn from_flag(flag: i64) -> Self {
        match flag {
            1 => Self::PartyProtection,
            2 => Self::MandatoryRecipients,
            3 => Self::PrivateStateValidation,
            _ => Self::StandardPrivate,
        }
    }
}

/// An encrypted transaction with everything a recipient needs to open it.
///
/// Fields are public for reading and for the codecs; anything that builds one from outside
/// data calls [`EncodedPayload::validate`], as Tessera's builder does on every `build()`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct EncodedPayload {
    /// The sender's public key.
    pub sender: PublicKey,
    /// The payload sealed under the master key (tag ‖ cipher text).
    pub cipher_text: Vec<u8>,
    /// Nonce of `cipher_text`.
    pub cipher_text_nonce: Nonce,
    /// The master key boxed per recipient, index-aligned with `recipient_keys`.
    pub recipient_boxes: Vec<RecipientBox>,
    /// The one nonce shared by every recipient box.
    pub recipient_nonce: Nonce,
    /// Recipients; may be empty in payloads from very old nodes (docs/protocol.md §1.4).
    pub recipient_keys: Vec<PublicKey>,
    /// The privacy mode.
    pub privacy_mode: PrivacyMode,
    /// Affected contract transactions and their security hashes ("ACOTHs").
    pub affected_contract_transactions: BTreeMap<TxHash, SecurityHash>,
    /// The private state validation hash (PSV only), as the UTF-8 bytes Quorum sent.
    pub exec_hash: Vec<u8>,
    /// The privacy group, if any.
    pub privacy_group_id: Option<PrivacyGroupId>,
    /// Mandatory recipients (MANDATORY_RECIPIENTS only).
    pub mandatory_recipients: BTreeSet<PublicKey>,
}

impl EncodedPayload {
    /// Checks Tessera's builder invariants: PSV iff an exec hash is present, and
    /// MANDATORY_RECIPIENTS iff mandatory recipients are present.
    pub fn validate(&self) -> Result<(), CodecError> {
        let psv = self.privacy_mode == PrivacyMode::PrivateStateValidation;
        let has_exec_hash = !self.exec_hash.is_empty();
        if psv != has_exec_hash {
            return Err(CodecError::Invariant(
                "exec hash must be present exactly when the privacy mode is PRIVATE_STATE_VALIDATION",
            ));
        }
        let mr = self.privacy_mode == PrivacyMode::MandatoryRecipients;
        let has_mandatory = !self.mandatory_recipients.is_empty();
        if mr != has_mandatory {
            return Err(CodecError::Invariant(
                "mandatory recipients must be present exactly when the privacy mode is MANDATORY_RECIPIENTS",
            ));
        }
        Ok(())
    }

    /// The transaction hash of this payload (SHA3-512 of the cipher text).
    pub fn hash(&self) -> TxHash {
        TxHash::of_cipher_text(&self.cipher_text)
    }

    /// The copy pushed to one remote recipient (`Builder.forRecipient`, docs/protocol.md §1.6):
    /// only that recipient's box, and only its key, except in PSV mode where the full key
    /// list is kept with the recipient moved to the front.
    pub fn for_recipient(&self, recipient: &PublicKey) -> Result<Self, CryptoError> {
        let index = self
            .recipient_keys
            .iter()
            .position(|key| key == recipient)
            .ok_or_else(|| CryptoError::NotARecipient(recipient.to_base64()))?;
        let recipient_box = self
            .recipient_boxes
            .get(index)
            .cloned()
            .ok_or(CryptoError::NoBox)?;
        let recipient_keys = if self.privacy_mode == PrivacyMode::PrivateStateValidation {
            let mut keys = Vec::with_capacity(self.recipient_keys.len());
            keys.push(recipient.clone());
            keys.extend(
                self.recipient_keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != index)
                    .map(|(_, key)| key.clone()),
            );
            keys
        } else {
            vec![recipient.clone()]
        };
        Ok(Self {
            recipient_boxes: vec![recipient_box],
            recipient_keys,
            ..self.clone()
        })
    }

    /// Whether `other` is the same transaction as this stored copy: Tessera refuses to merge a
    /// push whose cipher text, nonces, sender, privacy mode, exec hash or affected transactions
    /// differ from the stored row ("Invalid existing transaction", docs/protocol.md §10.2).
    pub fn is_same_transaction(&self, other: &EncodedPayload) -> bool {
        self.cipher_text == other.cipher_text
            && self.cipher_text_nonce == other.cipher_text_nonce
            && self.recipient_nonce == other.recipient_nonce
            && self.sender == other.sender
            && self.privacy_mode == other.privacy_mode
            && self.exec_hash == other.exec_hash
            && self.affected_contract_transactions == other.affected_contract_transactions
    }

    /// Merges a later push of the same transaction into this stored copy, as
    /// `TransactionManagerImpl.storePayload` does (docs/protocol.md §10.2): a box already held is a
    /// no-op; a new box is prepended together with its key (in PSV mode, where every key is already
    /// listed, the key is moved to the front instead). Call [`Self::is_same_transaction`] first.
    ///
    /// Returns whether anything was added.
    pub fn merge_recipients_from(&mut self, incoming: &EncodedPayload) -> bool {
        let psv = self.privacy_mode == PrivacyMode::PrivateStateValidation;
        let mut added = false;
        for (index, recipient_box) in incoming.recipient_boxes.iter().enumerate().rev() {
            if self.recipient_boxes.contains(recipient_box) {
                continue;
            }
            if let Some(key) = incoming.recipient_keys.get(index) {
                if psv {
                    self.recipient_keys.retain(|k| k != key);
                    self.recipient_keys.insert(0, key.clone());
                } else if self.recipient_keys.contains(key) {
                    // A different box for a key we already hold: keep what we have.
                    continue;
                } else if !self.recipient_keys.is_empty() || self.recipient_boxes.is_empty() {
                    // (A copy stored without keys gets boxes only, or keys and boxes would
                    // no longer line up.)
                    self.recipient_keys.insert(0, key.clone());
                }
            }
            self.recipient_boxes.insert(0, recipient_box.clone());
            added = true;
        }
        added
    }
}
