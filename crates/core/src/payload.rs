//! `EncodedPayload`: the encrypted transaction as nodes store and exchange it
//! (docs/protocol.md §1.1).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::hash::Hash;

use crate::codec::{Counted, OpCount};
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

    /// The transaction hash of this payload under `digest` (Orion mode's differs).
    pub fn hash_with(&self, digest: crate::hash::PayloadDigest) -> TxHash {
        digest.of(&self.cipher_text)
    }

    /// The copy pushed to one remote recipient (`Builder.forRecipient`, docs/protocol.md §1.6):
    /// only that recipient's box, and only its key, except in PSV mode where the full key
    /// list is kept with the recipient moved to the front.
    pub fn for_recipient(&self, recipient: &PublicKey) -> Result<Self, CryptoError> {
        self.for_recipients(std::slice::from_ref(recipient))
    }

    /// The copy pushed to a node that serves several of the recipients, in one push
    /// (docs/protocol.md §1.6; only to nodes that merge such a push, docs/p2p.md): their boxes
    /// and their keys, in the order of `recipients`; in PSV mode the full key list with these
    /// recipients moved to the front in that order, so box `i` stays key `i`'s. With one
    /// recipient this is [`Self::for_recipient`]. `recipients` must be distinct.
    pub fn for_recipients(&self, recipients: &[PublicKey]) -> Result<Self, CryptoError> {
        let index: std::collections::HashMap<&PublicKey, usize> = self
            .recipient_keys
            .iter()
            .enumerate()
            .rev()
            .map(|(i, key)| (key, i))
            .collect();
        let mut chosen = Vec::with_capacity(recipients.len());
        for recipient in recipients {
            let at = *index
                .get(recipient)
                .ok_or_else(|| CryptoError::NotARecipient(recipient.to_base64()))?;
            chosen.push(at);
        }
        let recipient_boxes = chosen
            .iter()
            .map(|&at| {
                self.recipient_boxes
                    .get(at)
                    .cloned()
                    .ok_or(CryptoError::NoBox)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let recipient_keys = if self.privacy_mode == PrivacyMode::PrivateStateValidation {
            let picked: std::collections::HashSet<usize> = chosen.iter().copied().collect();
            let mut keys = Vec::with_capacity(self.recipient_keys.len());
            keys.extend(recipients.iter().cloned());
            keys.extend(
                self.recipient_keys
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !picked.contains(i))
                    .map(|(_, key)| key.clone()),
            );
            keys
        } else {
            recipients.to_vec()
        };
        Ok(Self {
            recipient_boxes,
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
    /// Linear in the boxes and keys of both copies ([`merge_recipients`]).
    ///
    /// Returns whether anything was added.
    pub fn merge_recipients_from(&mut self, incoming: &EncodedPayload) -> bool {
        let psv = self.privacy_mode == PrivacyMode::PrivateStateValidation;
        merge_recipients(
            &mut self.recipient_boxes,
            &mut self.recipient_keys,
            &incoming.recipient_boxes,
            &incoming.recipient_keys,
            psv,
        )
    }

    /// [`Self::merge_recipients_from`], adding to `ops` one for every hash, equality test and
    /// clone of a box or key the merge makes (for the linearity tests).
    pub fn merge_recipients_from_counted(
        &mut self,
        incoming: &EncodedPayload,
        ops: &OpCount,
    ) -> bool {
        let psv = self.privacy_mode == PrivacyMode::PrivateStateValidation;
        let mut boxes = counted(std::mem::take(&mut self.recipient_boxes), ops);
        let mut keys = counted(std::mem::take(&mut self.recipient_keys), ops);
        let added = merge_recipients(
            &mut boxes,
            &mut keys,
            &counted(incoming.recipient_boxes.clone(), ops),
            &counted(incoming.recipient_keys.clone(), ops),
            psv,
        );
        self.recipient_boxes = boxes.into_iter().map(Counted::into_inner).collect();
        self.recipient_keys = keys.into_iter().map(Counted::into_inner).collect();
        added
    }
}

fn counted<T>(items: Vec<T>, ops: &OpCount) -> Vec<Counted<'_, T>> {
    items
        .into_iter()
        .map(|item| Counted::new(item, ops))
        .collect()
}

/// The recipient merge of [`EncodedPayload::merge_recipients_from`] over any box and key type.
///
/// Its result is exactly that of Tessera's loop, which walks the incoming boxes from the last to
/// the first and for each: skips a box already held; otherwise, if the box has a key, in PSV
/// mode moves (or adds) the key to the front, else skips the box when the key is already held,
/// else prepends the key (unless the stored copy has boxes but no keys, which would misalign
/// them); then prepends the box. Done literally that is quadratic (a scan per box, a shift per
/// prepend); here it is one pass with hash sets, and each list is rebuilt once: what was
/// prepended (last prepended first), then what was there. Linear in all four lists.
///
/// Returns whether a box was added.
pub fn merge_recipients<B, K>(
    boxes: &mut Vec<B>,
    keys: &mut Vec<K>,
    incoming_boxes: &[B],
    incoming_keys: &[K],
    psv: bool,
) -> bool
where
    B: Hash + Eq + Clone,
    K: Hash + Eq + Clone,
{
    // What the loop prepends, in the order it prepends it (so the front of the result is the
    // end of these lists).
    let mut new_boxes: Vec<&B> = Vec::new();
    let mut new_keys: Vec<&K> = Vec::new();
    {
        let mut held_boxes: HashSet<&B> =
            HashSet::with_capacity(boxes.len() + incoming_boxes.len());
        held_boxes.extend(boxes.iter());
        let mut held_keys: HashSet<&K> = HashSet::new();
        if !psv {
            held_keys.reserve(keys.len() + incoming_keys.len());
            held_keys.extend(keys.iter());
        }
        let mut key_count = keys.len();
        let mut box_count = boxes.len();
        for (index, recipient_box) in incoming_boxes.iter().enumerate().rev() {
            if held_boxes.contains(recipient_box) {
                continue;
            }
            if let Some(key) = incoming_keys.get(index) {
                if psv {
                    new_keys.push(key);
                } else if held_keys.contains(key) {
                    // A different box for a key we already hold: keep what we have.
                    continue;
                } else if key_count > 0 || box_count == 0 {
                    // (A copy stored without keys gets boxes only, or keys and boxes would no
                    // longer line up.)
                    held_keys.insert(key);
                    new_keys.push(key);
                    key_count += 1;
                }
            }
            held_boxes.insert(recipient_box);
            new_boxes.push(recipient_box);
            box_count += 1;
        }
    }
    if new_boxes.is_empty() {
        return false;
    }
    let mut merged_boxes = Vec::with_capacity(new_boxes.len() + boxes.len());
    merged_boxes.extend(new_boxes.iter().rev().map(|b| (*b).clone()));
    merged_boxes.append(boxes);
    *boxes = merged_boxes;
    if psv {
        // Each moved key ends up where its last move put it, ahead of every key not moved.
        let mut moved: HashSet<&K> = HashSet::with_capacity(new_keys.len());
        let mut merged_keys = Vec::with_capacity(new_keys.len() + keys.len());
        for key in new_keys.iter().rev() {
            if moved.insert(*key) {
                merged_keys.push((*key).clone());
            }
        }
        merged_keys.extend(keys.iter().filter(|k| !moved.contains(k)).cloned());
        *keys = merged_keys;
    } else if !new_keys.is_empty() {
        let mut merged_keys = Vec::with_capacity(new_keys.len() + keys.len());
        merged_keys.extend(new_keys.iter().rev().map(|k| (*k).clone()));
        merged_keys.append(keys);
        *keys = merged_keys;
    }
    true
}
