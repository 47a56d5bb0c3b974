//! What the repository stores and returns.

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::{lookup_id, PrivacyGroupRecord};
use tm_core::{CodecError, EncodedPayload, PayloadCodec, PublicKey, TxHash};

/// A row of `ENCRYPTED_TRANSACTION`, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredTransaction {
    /// The transaction hash (primary key).
    pub hash: TxHash,
    /// The payload.
    pub payload: EncodedPayload,
    /// The codec the row is stored with (NULL in the database reads as LEGACY).
    pub codec: PayloadCodec,
    /// Insert time in epoch milliseconds; NULL in rows written before Tessera had the column.
    pub timestamp: Option<i64>,
}

/// What [`crate::Store::store_payload`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreOutcome {
    /// The hash was new; the payload was inserted (CBOR).
    Inserted,
    /// The hash was held; new recipient boxes were merged in and the row re-encoded with its
    /// existing codec.
    Merged,
    /// The hash was held with every incoming box already present; nothing changed.
    Unchanged,
}

/// A row of `ENCRYPTED_RAW_TRANSACTION` (`/storeraw`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptedRawTransaction {
    /// Digest of `encrypted_payload` (primary key).
    pub hash: TxHash,
    /// The cipher text.
    pub encrypted_payload: Vec<u8>,
    /// The master key sealed for the sender.
    pub encrypted_key: Vec<u8>,
    /// The nonce.
    pub nonce: Vec<u8>,
    /// The sender's public key.
    pub sender: PublicKey,
    /// Insert time in epoch milliseconds; ignored on store (the store sets it).
    pub timestamp: Option<i64>,
}

/// A row of `PRIVACY_GROUP`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivacyGroupRow {
    /// The group id (primary key).
    pub id: PrivacyGroupId,
    /// The id derived from the member set, for searching by members.
    pub lookup_id: Vec<u8>,
    /// The encoded [`PrivacyGroupRecord`].
    pub data: Vec<u8>,
    /// Insert time in epoch milliseconds; ignored on store (the store sets it).
    pub timestamp: Option<i64>,
}

impl PrivacyGroupRow {
    /// The row Tessera stores for a group: id from its type, members and seed, lookup id from
    /// its members, data from its encoding.
    pub fn from_record(record: &PrivacyGroupRecord) -> Self {
        Self {
            id: record.id(),
            lookup_id: lookup_id(&record.members).0,
            data: record.encode(),
            timestamp: None,
        }
    }

    /// Decodes the stored group.
    pub fn record(&self) -> Result<PrivacyGroupRecord, CodecError> {
        PrivacyGroupRecord::decode(&self.data)
    }
}

/// A peer in the party store (our table `tm_peer`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's P2P URL.
    pub url: String,
    /// API versions it advertised, if it has answered yet.
    pub api_versions: Option<Vec<String>>,
    /// Last successful contact, epoch milliseconds.
    pub last_contact: Option<i64>,
    /// When it was first recorded, epoch milliseconds.
    pub created: i64,
    /// Since when every attempt to reach it has failed, epoch milliseconds; `None` while it
    /// answers.
    pub unreachable_since: Option<i64>,
    /// Why the last attempt to reach it failed; `None` while it answers.
    pub last_error: Option<String>,
}

impl Peer {
    /// Whether the last attempt to reach it failed (its keys stay routed until the grace
    /// period passes without a successful contact).
    pub fn is_unreachable(&self) -> bool {
        self.unreachable_since.is_some()
    }
}

/// A URL learned from another node's party info that we have not reached yet (our table
/// `tm_candidate`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The URL as listed.
    pub url: String,
    /// When it was first listed to us, epoch milliseconds.
    pub created: i64,
}

/// What [`crate::Store::add_candidates`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CandidatesAdded {
    /// URLs recorded as new candidates.
    pub added: usize,
    /// New URLs not recorded because the candidates had reached their cap.
    pub ignored: usize,
}

/// Which peer serves a recipient key (our table `tm_recipient`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecipientRoute {
    /// The recipient's public key.
    pub public_key: PublicKey,
    /// The URL of the peer holding it.
    pub peer_url: String,
    /// When the mapping was last set, epoch milliseconds.
    pub updated: i64,
}

/// A payload held in the recovery staging tables (`ST_TRANSACTION`), as recovery reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagedPayload {
    /// The row id.
    pub id: i64,
    /// The transaction hash, base64 (as Tessera stores it in staging).
    pub hash: String,
    /// The payload as the peer sent it (LEGACY).
    pub payload: Vec<u8>,
    /// Its privacy mode flag.
    pub privacy_mode: Option<i32>,
    /// Its stage (`VALIDATION_STAGE`): `None` while its affected transactions are not staged.
    pub stage: Option<i64>,
}

/// How full the recovery staging tables are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StagingCounts {
    /// Rows of `ST_TRANSACTION`.
    pub payloads: u64,
    /// Of them, rows with a stage.
    pub staged: u64,
    /// Rows of `ST_AFFECTED_TRANSACTION`.
    pub affected: u64,
}

impl StagingCounts {
    /// Whether both tables are empty.
    pub fn is_empty(&self) -> bool {
        self.payloads == 0 && self.affected == 0
    }
}
