//! The Q2T and ThirdParty side of the transaction manager: send, receive, raw transactions,
//! signed transactions, deletes and queries (docs/protocol.md §10.1, §6).
//!
//! The HTTP layer decodes requests into the plain types here ([`SendParams`],
//! [`SignedParams`]) and renders [`Sent`] and [`Received`]; every rule that decides what is
//! stored, pushed or refused lives in this module (`TransactionManagerImpl`,
//! `PrivacyHelperImpl`).

mod query;
mod send;

use tm_core::payload::PrivacyGroupId;
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};

/// The recipients and privacy settings of a send or a signed send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privacy {
    /// The recipients as given (the sender and forwarding keys are added).
    pub to: Vec<PublicKey>,
    /// The privacy mode.
    pub privacy_mode: PrivacyMode,
    /// Hashes of earlier transactions this one affects.
    pub affected: Vec<TxHash>,
    /// The PSV execution hash as the UTF-8 bytes of what the client sent.
    pub exec_hash: Vec<u8>,
    /// The privacy group: its members become the recipients.
    pub privacy_group_id: Option<PrivacyGroupId>,
    /// Mandatory recipients (MANDATORY_RECIPIENTS only).
    pub mandatory_recipients: Vec<PublicKey>,
}

impl Privacy {
    /// Standard private, to `to`.
    pub fn standard(to: Vec<PublicKey>) -> Self {
        Self {
            to,
            ..Self::default()
        }
    }
}

/// What `/send`, `/sendraw` and `/encodedpayload/create` ask for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendParams {
    /// The plaintext (non-empty).
    pub payload: Vec<u8>,
    /// The sender; the enclave's default key when absent.
    pub from: Option<PublicKey>,
    /// Recipients and privacy settings.
    pub privacy: Privacy,
}

/// What `/sendsignedtx` asks for: a raw transaction stored by `/storeraw`, re-wrapped
/// (forwarding keys and the raw sender are added to the recipients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedParams {
    /// The raw transaction's hash.
    pub hash: TxHash,
    /// Recipients and privacy settings.
    pub privacy: Privacy,
}

/// The result of a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The transaction hash.
    pub hash: TxHash,
    /// Our keys among the sender and the recipients.
    pub managed_parties: Vec<PublicKey>,
    /// The sender key used.
    pub sender: PublicKey,
}

/// A decrypted transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The plaintext.
    pub payload: Vec<u8>,
    /// The privacy mode (raw transactions report STANDARD_PRIVATE).
    pub privacy_mode: PrivacyMode,
    /// Hashes of the affected contract transactions.
    pub affected: Vec<TxHash>,
    /// The exec hash bytes as stored.
    pub exec_hash: Vec<u8>,
    /// Our keys among the payload's recipients.
    pub managed_parties: Vec<PublicKey>,
    /// The sender.
    pub sender: PublicKey,
    /// The privacy group, if any.
    pub privacy_group_id: Option<PrivacyGroupId>,
}

impl Received {
    /// What a receive of `payload` returns, given its plaintext and our keys among its parties.
    pub(crate) fn of(
        payload: EncodedPayload,
        plain: Vec<u8>,
        managed_parties: Vec<PublicKey>,
    ) -> Self {
        Self {
            payload: plain,
            privacy_mode: payload.privacy_mode,
            affected: payload.affected_contract_transactions.into_keys().collect(),
            exec_hash: payload.exec_hash,
            managed_parties,
            sender: payload.sender,
            privacy_group_id: payload.privacy_group_id,
        }
    }
}

/// Tessera's text for a transaction this node does not hold.
pub(crate) fn not_found(hash: &TxHash) -> crate::ManagerError {
    crate::ManagerError::NotFound(format!("Message with hash {hash} was not found"))
}
