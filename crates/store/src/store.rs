//! The blocking repository. Call it from blocking threads only; async code uses
//! [`crate::AsyncStore`].

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use diesel::{Connection, RunQueryDsl};
use tm_core::payload::PrivacyGroupId;
use tm_core::{EncodedPayload, PayloadCodec, PublicKey, TxHash};

use crate::db::{CandidateRow, Db, GroupRow, PeerRow, RawRow, RecipientRow, StagingAfter, TxRow};
use crate::model::{
    Candidate, CandidatesAdded, EncryptedRawTransaction, Peer, PrivacyGroupRow, RecipientRoute,
    StagedPayload, StagingCounts, StoreOutcome, StoredTransaction,
};
use crate::pool::{Pools, StoreSettings};
use crate::url::{scrub, DatabaseUrl, SqliteTarget};
use crate::StoreError;

/// How often a read-merge-write retries when a concurrent writer inserted the same hash
/// between our read and our insert (PostgreSQL; SQLite's immediate transaction excludes it).
const UPSERT_ATTEMPTS: usize = 3;

/// How many rows one write transaction of a party-store batch writes: the SQLite write lock is
/// released between chunks, so a large party info never keeps a local send waiting for long.
const PARTY_WRITE_CHUNK: usize = 500;

/// The longest pause between two chunks of a party-store batch on SQLite (see
/// `Store::write_in_chunks`).
const MAX_CHUNK_PAUSE: Duration = Duration::from_millis(100);

/// Key of the PostgreSQL advisory lock [`Store::update_privacy_groups`] holds while it reads
/// and rewrites privacy groups ("tm_prgrp" in ASCII).
const PRIVACY_GROUP_LOCK_KEY: i64 = 0x746d_5f70_7267_7270;

/// The longest `last_error` kept, in characters (the column is `VARCHAR(1024)`).
pub const MAX_PEER_ERROR_CHARS: usize = 1024;

/// The persistence of one node: Tessera's tables plus our own, on SQLite or PostgreSQL.
///
/// Cloning is cheap and shares the pool. Every method blocks on the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    pools: Pools,
    url: DatabaseUrl,
    digest: tm_core::PayloadDigest,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

/// Epoch milliseconds, as Tessera's `TIMESTAMP` columns hold.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Store {
    /// Opens the database named by Tessera's `jdbc` config: `url`, `username`, `password`,
    /// `autoCreateTables`, and the pool size.
    ///
    /// With `auto_create_tables` the missing tables are created (under a lock on PostgreSQL,
    /// so instances may start together) and the staging tables are emptied, as Tessera's
    /// drop-and-create does; without it nothing is created. Either way both transaction tables
    /// must then answer, else [`StoreError::NotSetUp`] (Tessera's startup message).
    pub fn connect(
        url: &str,
        username: Option<&str>,
        password: Option<&str>,
        auto_create_tables: bool,
        pool_size: u32,
    ) -> Result<Self, StoreError> {
        Self::open(&StoreSettings::new(
            url,
            username,
            password,
            auto_create_tables,
            pool_size,
        ))
    }

    /// [`Store::connect`] with every setting explicit.
    pub fn open(settings: &StoreSettings) -> Result<Self, StoreError> {
        let url = DatabaseUrl::parse(
            &settings.url,
            settings.username.as_deref(),
            settings.password.as_ref().map(|p| p.expose()),
        )?;
        if let DatabaseUrl::Sqlite(SqliteTarget::File(path)) = &url {
            // Opening a missing SQLite file creates it; without autoCreateTables nothing may be
            // created, and the tables could not be there anyway.
            if !settings.auto_create_tables && !path.exists() {
                tracing::error!(path = %path.display(), "SQLite database file does not exist");
                return Err(StoreError::NotSetUp);
            }
        }
        let pools = Pools::build(&url, settings);
        let store = Self {
            inner: Arc::new(Inner {
                pools,
                url,
                digest: settings.digest,
            }),
        };
        store.start(settings.auto_create_tables)?;
        Ok(store)
    }

    fn start(&self, auto_create_tables: bool) -> Result<(), StoreError> {
        let pools = &self.inner.pools;
        let password = self.inner.url.password();
        let result = (|| {
            if auto_create_tables {
                pools.migrate()?;
                self.clear_staging()?;
            }
            pools.upcheck(password)?;
            if !pools.has_own_tables()? {
                tracing::warn!(
                    "party store tables (tm_peer, tm_recipient) are missing: set \
                     jdbc.autoCreateTables to true once, or apply migrations/ by hand"
                );
            }
            Ok(())
        })();
        result.map_err(|e| self.scrubbed(e))
    }

    /// The database this store uses, password masked.
    pub fn url(&self) -> &DatabaseUrl {
        &self.inner.url
    }

    /// Whether both transaction tables answer (Tessera's upcheck).
    pub fn upcheck(&self) -> Result<(), StoreError> {
        self.inner
            .pools
            .upcheck(self.inner.url.password())
            .map_err(|e| self.scrubbed(e))
    }

    /// Runs `f` on a pooled connection, with the password scrubbed from any error.
    fn with_db<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.inner.pools.with_db(f).map_err(|e| self.scrubbed(e))
    }

    /// Runs `f` in a write transaction (see `Db::write_tx`).
    fn write<T>(
        &self,
        mut f: impl FnMut(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.with_db(|db| {
            let mut out = None;
            db.write_tx(&mut |db| {
                out = Some(f(db)?);
                Ok(())
            })?;
            out.ok_or_else(|| StoreError::Database("write transaction produced no result".into()))
        })
    }

    fn scrubbed(&self, error: StoreError) -> StoreError {
        let password = self.inner.url.password();
        if password.is_none() {
            return error;
        }
        match error {
            StoreError::Unavailable(m) => StoreError::Unavailable(scrub(&m, password)),
            StoreError::Database(m) => StoreError::Database(scrub(&m, password)),
            StoreError::Migration(m) => StoreError::Migration(scrub(&m, password)),
            StoreError::Task(m) => StoreError::Task(scrub(&m, password)),
            other => other,
        }
    }

    // ---- ENCRYPTED_TRANSACTION -------------------------------------------------------------

    /// The hash `payload` is stored under: its cipher text's digest, as this node's client
    /// mode computes it ([`StoreSettings::digest`]).
    pub fn hash_of(&self, payload: &EncodedPayload) -> TxHash {
        payload.hash_with(self.inner.digest)
    }

    /// The digest of this node's client mode.
    pub fn digest(&self) -> tm_core::PayloadDigest {
        self.inner.digest
    }

    /// Stores a payload pushed to or created by this node, as
    /// `TransactionManagerImpl.storePayload` does: a new hash is inserted (CBOR); for a hash we
    /// hold, the stored copy must be the same transaction (else
    /// [`StoreError::InvalidExistingTransaction`]) and the incoming recipient boxes are merged
    /// in, re-encoding with the row's codec.
    ///
    /// The read-merge-write is one transaction holding the row (PostgreSQL `FOR UPDATE`,
    /// SQLite `BEGIN IMMEDIATE`), so instances storing the same hash at once lose nothing.
    pub fn store_payload(&self, payload: &EncodedPayload) -> Result<StoreOutcome, StoreError> {
        let hash = self.hash_of(payload);
        self.write(|db| upsert(db, &hash, |existing| merge_push(&hash, existing, payload)))
    }

    /// [`Store::store_payload`] for several payloads in one database transaction: all are
    /// stored, or (on the first error) none.
    pub fn store_payloads(
        &self,
        payloads: &[EncodedPayload],
    ) -> Result<Vec<StoreOutcome>, StoreError> {
        self.write(|db| {
            payloads
                .iter()
                .map(|payload| {
                    let hash = self.hash_of(payload);
                    upsert(db, &hash, |existing| merge_push(&hash, existing, payload))
                })
                .collect()
        })
    }

    /// The read-modify-write under [`Store::store_payload`], for callers with their own merge
    /// (e.g. rebuilding a transaction we sent): `f` gets the stored payload (or `None`) and
    /// returns the payload to write, or `None` to leave the row as it is. New rows are written
    /// with CBOR, updates with the row's codec; the insert timestamp is kept.
    ///
    /// `f` may be called more than once if a concurrent writer inserts the hash first.
    pub fn upsert_payload_with<F>(
        &self,
        hash: &TxHash,
        mut f: F,
    ) -> Result<StoreOutcome, StoreError>
    where
        F: FnMut(Option<&EncodedPayload>) -> Result<Option<EncodedPayload>, StoreError>,
    {
        self.write(|db| upsert(db, hash, &mut f))
    }

    /// The transaction with this hash.
    pub fn find_payload(&self, hash: &TxHash) -> Result<Option<StoredTransaction>, StoreError> {
        self.with_db(|db| {
            db.find_tx(hash.as_bytes(), false)?
                .map(decode_row)
                .transpose()
        })
    }

    /// The transactions we hold among `hashes` (Tessera's `findByHashes`), in no set order.
    pub fn find_payloads(&self, hashes: &[TxHash]) -> Result<Vec<StoredTransaction>, StoreError> {
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<Vec<u8>> = hashes.iter().map(|h| h.as_bytes().to_vec()).collect();
        // Bounded chunks keep within SQLite's bound-parameter limit.
        let mut found = Vec::new();
        for chunk in keys.chunks(500) {
            let rows = self.with_db(|db| Ok(db.find_txs(chunk)?))?;
            for row in rows {
                found.push(decode_row(row)?);
            }
        }
        Ok(found)
    }

    /// Deletes a transaction; `false` if there was none.
    pub fn delete_payload(&self, hash: &TxHash) -> Result<bool, StoreError> {
        self.with_db(|db| Ok(db.delete_tx(hash.as_bytes())?))
    }

    /// One page of all transactions in hash order, starting after `after` (keyset
    /// pagination: stable while rows are added or removed, and an index lookup per page).
    /// Pass the last hash of a page to get the next; an empty page is the end.
    pub fn page_payloads(
        &self,
        after: Option<&TxHash>,
        limit: u32,
    ) -> Result<Vec<StoredTransaction>, StoreError> {
        let rows = self
            .with_db(|db| Ok(db.page_txs(after.map(TxHash::as_bytes), i64::from(limit.max(1)))?))?;
        rows.into_iter().map(decode_row).collect()
    }

    /// How many transactions are stored.
    pub fn count_payloads(&self) -> Result<u64, StoreError> {
        let count = self.with_db(|db| Ok(db.count_txs()?))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    // ---- ENCRYPTED_RAW_TRANSACTION ---------------------------------------------------------

    /// Stores a raw transaction (`/storeraw`); `false` if the hash was already held (the
    /// stored row is kept). The timestamp is set here.
    pub fn store_raw(&self, raw: &EncryptedRawTransaction) -> Result<bool, StoreError> {
        self.with_db(|db| {
            Ok(db.insert_raw_if_absent(
                raw.hash.as_bytes(),
                &raw.encrypted_payload,
                &raw.encrypted_key,
                &raw.nonce,
                raw.sender.as_bytes(),
                now_millis(),
            )?)
        })
    }

    /// The raw transaction with this hash.
    pub fn find_raw(&self, hash: &TxHash) -> Result<Option<EncryptedRawTransaction>, StoreError> {
        self.with_db(|db| Ok(db.find_raw(hash.as_bytes())?.map(raw_from_row)))
    }

    /// Deletes a raw transaction; `false` if there was none.
    pub fn delete_raw(&self, hash: &TxHash) -> Result<bool, StoreError> {
        self.with_db(|db| Ok(db.delete_raw(hash.as_bytes())?))
    }

    // ---- PRIVACY_GROUP ----------------------------------------------------------------------

    /// Inserts or replaces a privacy group (Tessera's save/update); the first insert time is
    /// kept.
    pub fn save_privacy_group(&self, group: &PrivacyGroupRow) -> Result<(), StoreError> {
        self.with_db(|db| {
            Ok(db.upsert_group(
                group.id.as_bytes(),
                &group.lookup_id,
                &group.data,
                now_millis(),
            )?)
        })
    }

    /// Tessera's `retrieveOrSave`: inserts the group unless its id is held, and returns the
    /// stored row either way.
    pub fn retrieve_or_save_privacy_group(
        &self,
        group: &PrivacyGroupRow,
    ) -> Result<PrivacyGroupRow, StoreError> {
        let id = group.id.as_bytes();
        self.write(|db| {
            db.insert_group_if_absent(id, &group.lookup_id, &group.data, now_millis())?;
            db.find_group(id)?.map(group_from_row).ok_or_else(|| {
                StoreError::Database("privacy group vanished while being saved".into())
            })
        })
    }

    /// The privacy group with this id.
    pub fn find_privacy_group(
        &self,
        id: &PrivacyGroupId,
    ) -> Result<Option<PrivacyGroupRow>, StoreError> {
        self.with_db(|db| Ok(db.find_group(id.as_bytes())?.map(group_from_row)))
    }

    /// The privacy groups whose member set has this lookup id.
    pub fn find_privacy_groups_by_lookup_id(
        &self,
        lookup_id: &[u8],
    ) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        self.with_db(|db| {
            Ok(db
                .find_groups_by_lookup(lookup_id)?
                .into_iter()
                .map(group_from_row)
                .collect())
        })
    }

    /// Every privacy group, in id order.
    pub fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        self.with_db(|db| Ok(db.list_groups()?.into_iter().map(group_from_row).collect()))
    }

    /// Reads every privacy group (in id order) and saves the rows `merge` returns for them
    /// (inserted, or replaced keeping the first insert time), as one transaction that no
    /// other call of this function overlaps: on PostgreSQL it holds a transaction-scoped
    /// advisory lock (`PRIVACY_GROUP_LOCK_KEY`, released at commit or rollback, also when
    /// the connection drops), on SQLite the immediate transaction excludes other writers.
    /// So instances starting at once with different configs each merge into what the other
    /// saved, and neither overwrites the other's members. When `merge` fails nothing is
    /// written and its error is returned. Returns the rows saved.
    pub fn update_privacy_groups<E: From<StoreError>>(
        &self,
        merge: impl FnOnce(Vec<PrivacyGroupRow>) -> Result<Vec<PrivacyGroupRow>, E>,
    ) -> Result<Vec<PrivacyGroupRow>, E> {
        let mut merge = Some(merge);
        let mut refused: Option<E> = None;
        let mut body = |db: &mut dyn Db| -> Result<Vec<PrivacyGroupRow>, StoreError> {
            let merge = merge.take().ok_or_else(|| {
                StoreError::Database("privacy group merge ran twice in one transaction".into())
            })?;
            let stored = db.list_groups()?.into_iter().map(group_from_row).collect();
            let rows = match merge(stored) {
                Ok(rows) => rows,
                Err(e) => {
                    refused = Some(e);
                    // Rolls the transaction back; the caller gets `refused`.
                    return Err(StoreError::Database("privacy group merge refused".into()));
                }
            };
            let now = now_millis();
            for row in &rows {
                db.upsert_group(row.id.as_bytes(), &row.lookup_id, &row.data, now)?;
            }
            Ok(rows)
        };
        let result = match &self.inner.pools {
            Pools::Postgres(pool) => (|| {
                let mut pooled = pool.get()?;
                let conn: &mut diesel::PgConnection = &mut pooled;
                conn.transaction(|conn| {
                    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                        .bind::<diesel::sql_types::BigInt, _>(PRIVACY_GROUP_LOCK_KEY)
                        .execute(conn)?;
                    body(conn)
                })
            })(),
            Pools::Sqlite(_) => self.write(&mut body),
        };
        match (result, refused) {
            (_, Some(refused)) => Err(refused),
            (Ok(rows), None) => Ok(rows),
            (Err(e), None) => Err(self.scrubbed(e).into()),
        }
    }

    // ---- staging (ST_TRANSACTION, ST_AFFECTED_TRANSACTION) ----------------------------------

    /// Empties the recovery staging tables (what Tessera's drop-and-create does at startup
    /// with `autoCreateTables`; recovery requires them empty).
    pub fn clear_staging(&self) -> Result<(), StoreError> {
        self.write(|db| Ok(db.clear_staging()?))
    }

    /// Stages payloads a peer resent to a recovering node (`/pushBatch` in recovery mode), as
    /// Tessera's `StagingTransactionUtils.fromRawPayload` does: one `ST_TRANSACTION` row each
    /// (LEGACY codec, base64 hash, the bytes as received, the privacy mode) and one
    /// `ST_AFFECTED_TRANSACTION` row per affected transaction. All in one database
    /// transaction, or none. `payloads` pairs each received encoding with its decoding.
    pub fn stage_payloads(&self, payloads: &[(Vec<u8>, EncodedPayload)]) -> Result<(), StoreError> {
        let now = now_millis();
        self.write(|db| {
            db.lock_staging()?;
            let (mut tx_id, mut affected_id) = db.max_staging_ids()?;
            for (raw, payload) in payloads {
                tx_id += 1;
                db.insert_staging(
                    tx_id,
                    PayloadCodec::Legacy.name(),
                    &self.hash_of(payload).to_base64(),
                    raw,
                    i32::from(payload.privacy_mode.flag()),
                    now,
                )?;
                for affected in payload.affected_contract_transactions.keys() {
                    affected_id += 1;
                    db.insert_staging_affected(affected_id, &affected.to_base64(), tx_id)?;
                }
            }
            Ok(())
        })
    }

    /// How many rows the staging tables hold.
    pub fn staging_counts(&self) -> Result<StagingCounts, StoreError> {
        self.with_db(|db| {
            let (payloads, staged, affected) = db.count_staging()?;
            Ok(StagingCounts {
                payloads: payloads as u64,
                staged: staged as u64,
                affected: affected as u64,
            })
        })
    }

    /// One pass of Tessera's staging (`updateStageForBatch`): gives stage `stage` to up to
    /// `limit` unstaged rows whose affected transactions are all staged already. A row whose
    /// affected transaction is not in staging at all stays unstaged, as in Tessera. Returns
    /// how many rows were staged; recovery repeats with the next stage number until none is.
    pub fn stage_next(&self, limit: u32, stage: i64) -> Result<usize, StoreError> {
        self.write(|db| Ok(db.stage_batch(i64::from(limit), stage)?))
    }

    /// Up to `limit` staged payloads in the order recovery moves them into the live table:
    /// staged rows by stage, hash and id, then unstaged ones by hash and id (Tessera's
    /// `findAllOrderByStage`); after `after` (the last row of the previous page) when given.
    pub fn staging_page(
        &self,
        after: Option<&StagedPayload>,
        limit: u32,
    ) -> Result<Vec<StagedPayload>, StoreError> {
        let after = after.map(|row| StagingAfter {
            stage: row.stage,
            hash: row.hash.clone(),
            id: row.id,
        });
        self.with_db(|db| {
            Ok(db
                .staging_page(after.as_ref(), i64::from(limit))?
                .into_iter()
                .map(|row| StagedPayload {
                    id: row.id,
                    hash: row.hash,
                    payload: row.payload.unwrap_or_default(),
                    privacy_mode: row.privacy_mode,
                    stage: row.validation_stage,
                })
                .collect())
        })
    }

    // ---- party store (our tables tm_peer, tm_recipient, tm_candidate) ----------------------

    /// Adds a peer URL to the party store if it is not there, with no contact yet. Discovery
    /// adds peers only on a successful contact ([`Store::record_peer_contact`]); this is for
    /// tools and tests. Returns whether it was new.
    pub fn add_peer(&self, url: &str) -> Result<bool, StoreError> {
        self.with_db(|db| Ok(db.insert_peer_if_absent(url, now_millis())?))
    }

    /// Records a successful contact with a peer (it posted its party info to us): its time
    /// (epoch ms) and the API versions it advertised. Adds the peer if needed, clears its
    /// unreachable state and removes it from the candidates.
    pub fn record_peer_contact(
        &self,
        url: &str,
        at_millis: i64,
        api_versions: &[String],
    ) -> Result<(), StoreError> {
        let versions = api_versions.join(",");
        self.contact(url, at_millis, Some(&versions))
    }

    /// Records a successful poll of a peer or candidate (it accepted our party info): as
    /// [`Store::record_peer_contact`], but the API versions it advertised earlier are kept
    /// (a poll's answer carries none).
    pub fn record_peer_reached(&self, url: &str, at_millis: i64) -> Result<(), StoreError> {
        self.contact(url, at_millis, None)
    }

    fn contact(&self, url: &str, at: i64, versions: Option<&str>) -> Result<(), StoreError> {
        self.with_db(|db| {
            db.upsert_peer_contact(url, versions, at, now_millis())?;
            db.delete_candidate(url)?;
            Ok(())
        })
    }

    /// Records a failed attempt to reach a peer that started at `started_millis`: the first
    /// failure sets `unreachable_since` to now, every failure sets `last_error` (cut to
    /// [`MAX_PEER_ERROR_CHARS`]). A peer contacted at or after `started_millis` (by another
    /// replica, or by its own party info) is left as it is, as is a URL that is no peer.
    /// One conditional statement, safe with replicas polling at once. Returns whether the
    /// peer was marked.
    pub fn mark_peer_unreachable(
        &self,
        url: &str,
        started_millis: i64,
        error: &str,
    ) -> Result<bool, StoreError> {
        let error = truncate_chars(error, MAX_PEER_ERROR_CHARS);
        self.with_db(|db| Ok(db.mark_peer_unreachable(url, started_millis, now_millis(), error)?))
    }

    /// Removes a peer and its recipient routes if no successful contact happened since
    /// `cutoff_millis` (a peer never contacted counts from when it was recorded). The
    /// condition is checked by the DELETE itself, so a contact recorded by another replica
    /// a moment earlier keeps the peer. Returns whether it was removed.
    pub fn remove_peer_if_stale(&self, url: &str, cutoff_millis: i64) -> Result<bool, StoreError> {
        self.write(|db| {
            if !db.delete_peer_if_stale(url, cutoff_millis)? {
                return Ok(false);
            }
            // The foreign key cascades too; deleting explicitly keeps this right on a database
            // whose tables were made by hand without it.
            db.delete_recipients_of(url)?;
            Ok(true)
        })
    }

    /// The peer with this URL.
    pub fn find_peer(&self, url: &str) -> Result<Option<Peer>, StoreError> {
        self.with_db(|db| Ok(db.find_peer(url)?.map(peer_from_row)))
    }

    /// Every peer, in URL order.
    pub fn list_peers(&self) -> Result<Vec<Peer>, StoreError> {
        self.with_db(|db| Ok(db.list_peers()?.into_iter().map(peer_from_row).collect()))
    }

    /// Removes a peer and the recipient keys routed to it; `false` if it was not there.
    pub fn remove_peer(&self, url: &str) -> Result<bool, StoreError> {
        self.write(|db| {
            // The foreign key cascades too; deleting explicitly keeps this right on a database
            // whose tables were made by hand without it.
            db.delete_recipients_of(url)?;
            Ok(db.delete_peer(url)?)
        })
    }

    /// Routes a recipient key to a peer URL (adding the peer if needed), replacing any
    /// earlier route of that key.
    pub fn upsert_recipient(&self, key: &PublicKey, peer_url: &str) -> Result<(), StoreError> {
        self.write(|db| {
            let now = now_millis();
            db.insert_peer_if_absent(peer_url, now)?;
            Ok(db.upsert_recipient(key.as_bytes(), peer_url, now)?)
        })
    }

    /// Records what one party info says about its sender (docs/protocol.md §9.3), replacing the
    /// sender's entry: its contact time and API versions, routes of exactly `keys` to `url`
    /// (added or moved there), and no more route to `url` for a key it stopped advertising.
    ///
    /// Linear in `keys` and in the routes to `url`, and only what changed is written: one
    /// indexed read of the routes to `url`, hash sets to find the new and the stale ones, then
    /// one statement per change, in write transactions of [`PARTY_WRITE_CHUNK`] rows so that
    /// other writers can take the lock in between (the batch as a whole is not atomic, as the
    /// calls it replaces were not either). A peer repeating its party info writes nothing but
    /// its contact time.
    pub fn replace_peer_recipients(
        &self,
        url: &str,
        at_millis: i64,
        api_versions: &[String],
        keys: &[PublicKey],
    ) -> Result<(), StoreError> {
        self.record_peer_contact(url, at_millis, api_versions)?;
        let routed = self.with_db(|db| Ok(db.recipients_of(url)?))?;
        let advertised: HashSet<&[u8]> = keys.iter().map(PublicKey::as_bytes).collect();
        let stale: Vec<&[u8]> = routed
            .iter()
            .map(Vec::as_slice)
            .filter(|key| !advertised.contains(key))
            .collect();
        let routed: HashSet<&[u8]> = routed.iter().map(Vec::as_slice).collect();
        let mut new: Vec<&[u8]> = Vec::new();
        let mut seen = HashSet::with_capacity(keys.len());
        for key in keys.iter().map(PublicKey::as_bytes) {
            if !routed.contains(key) && seen.insert(key) {
                new.push(key);
            }
        }
        self.write_in_chunks(&stale, |db, chunk| {
            for key in chunk {
                // Only if still routed here: another replica may have moved it meanwhile.
                db.delete_route(key, url)?;
            }
            Ok(0)
        })?;
        self.write_in_chunks(&new, |db, chunk| {
            let now = now_millis();
            db.insert_peer_if_absent(url, now)?;
            for key in chunk {
                db.upsert_recipient(key, url, now)?;
            }
            Ok(0)
        })?;
        Ok(())
    }

    /// Records URLs listed in a party info as candidates, except those that are peers or
    /// candidates already, while fewer than `cap` candidates are stored (the rest are
    /// ignored: a hostile party info cannot grow the table without bound). The known ones are
    /// read first (an indexed read per [`PARTY_WRITE_CHUNK`] URLs of each table), only the
    /// others are written, in write transactions of [`PARTY_WRITE_CHUNK`] statements. Linear,
    /// and a repeated list writes nothing. The cap is checked once, before writing: replicas
    /// adding at once may pass it by what each adds.
    pub fn add_candidates(
        &self,
        urls: &[String],
        cap: usize,
    ) -> Result<CandidatesAdded, StoreError> {
        let mut known: HashSet<String> = HashSet::new();
        for chunk in urls.chunks(PARTY_WRITE_CHUNK) {
            known.extend(self.with_db(|db| {
                let mut found = db.known_peers(chunk)?;
                found.extend(db.known_candidates(chunk)?);
                Ok(found)
            })?);
        }
        let mut seen = HashSet::with_capacity(urls.len());
        let missing: Vec<&String> = urls
            .iter()
            .filter(|url| !known.contains(*url) && seen.insert(*url))
            .collect();
        if missing.is_empty() {
            return Ok(CandidatesAdded::default());
        }
        let stored = self.with_db(|db| Ok(db.count_candidates()?))?;
        let room = cap.saturating_sub(usize::try_from(stored).unwrap_or(usize::MAX));
        let (taken, ignored) = missing.split_at(missing.len().min(room));
        let added = self.write_in_chunks(taken, |db, chunk| {
            let now = now_millis();
            let mut new = 0;
            for url in chunk {
                new += usize::from(db.insert_candidate_if_absent(url, now)?);
            }
            Ok(new)
        })?;
        Ok(CandidatesAdded {
            added,
            ignored: ignored.len(),
        })
    }

    /// Up to `limit` candidates, oldest first (the ones a discovery round polls).
    pub fn oldest_candidates(&self, limit: u32) -> Result<Vec<Candidate>, StoreError> {
        self.with_db(|db| {
            Ok(db
                .oldest_candidates(i64::from(limit))?
                .into_iter()
                .map(candidate_from_row)
                .collect())
        })
    }

    /// The candidate with this URL.
    pub fn find_candidate(&self, url: &str) -> Result<Option<Candidate>, StoreError> {
        self.with_db(|db| Ok(db.find_candidate(url)?.map(candidate_from_row)))
    }

    /// How many keys the party store routes to other nodes.
    pub fn count_recipients(&self) -> Result<u64, StoreError> {
        let count = self.with_db(|db| Ok(db.count_recipients()?))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// How many candidates are stored.
    pub fn count_candidates(&self) -> Result<u64, StoreError> {
        let count = self.with_db(|db| Ok(db.count_candidates()?))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Removes a candidate; `false` if it was not there.
    pub fn remove_candidate(&self, url: &str) -> Result<bool, StoreError> {
        self.with_db(|db| Ok(db.delete_candidate(url)?))
    }

    /// Runs `f` over `items` in write transactions of [`PARTY_WRITE_CHUNK`] items and sums what
    /// it returns. On SQLite, between two chunks the write lock stays free for as long as the
    /// chunk held it (at most [`MAX_CHUNK_PAUSE`]): SQLite has no queue of writers, a waiting
    /// one retries every 100 ms at most, so without such gaps a long batch could starve a local
    /// send until its busy timeout ("database is locked"). A batch of one chunk never waits.
    fn write_in_chunks<T>(
        &self,
        items: &[T],
        mut f: impl FnMut(&mut dyn Db, &[T]) -> Result<usize, StoreError>,
    ) -> Result<usize, StoreError> {
        let sqlite = matches!(self.inner.url, DatabaseUrl::Sqlite(_));
        let mut total = 0;
        for (i, chunk) in items.chunks(PARTY_WRITE_CHUNK).enumerate() {
            let started = Instant::now();
            total += self.write(|db| f(db, chunk))?;
            let more = (i + 1) * PARTY_WRITE_CHUNK < items.len();
            if sqlite && more {
                std::thread::sleep(started.elapsed().min(MAX_CHUNK_PAUSE));
            }
        }
        Ok(total)
    }

    /// For each key, in order, the peer it is routed to (`None` when no peer serves the key, or
    /// the peer is gone): what a send or a group push looks up for its remote recipients, on
    /// one pooled connection, each peer read once.
    pub fn find_routes(&self, keys: &[PublicKey]) -> Result<Vec<Option<Peer>>, StoreError> {
        self.with_db(|db| routes_of(db, keys))
    }

    /// [`Store::find_routes`] and [`Store::find_payload`] of `hash`, on one pooled connection:
    /// a send's lookups before it pushes.
    pub fn find_routes_and_payload(
        &self,
        keys: &[PublicKey],
        hash: &TxHash,
    ) -> Result<RoutesAndPayload, StoreError> {
        self.with_db(|db| {
            let routes = routes_of(db, keys)?;
            let payload = db
                .find_tx(hash.as_bytes(), false)?
                .map(decode_row)
                .transpose()?;
            Ok((routes, payload))
        })
    }

    /// The route of one recipient key.
    pub fn find_recipient(&self, key: &PublicKey) -> Result<Option<RecipientRoute>, StoreError> {
        self.with_db(|db| Ok(db.find_recipient(key.as_bytes())?.map(route_from_row)))
    }

    /// Every recipient route, by peer URL then key.
    pub fn list_recipients(&self) -> Result<Vec<RecipientRoute>, StoreError> {
        self.with_db(|db| {
            Ok(db
                .list_recipients()?
                .into_iter()
                .map(route_from_row)
                .collect())
        })
    }

    /// Removes one recipient route; `false` if there was none.
    pub fn remove_recipient(&self, key: &PublicKey) -> Result<bool, StoreError> {
        self.with_db(|db| Ok(db.delete_recipient(key.as_bytes())?))
    }
}

/// Decodes a row with its own codec; NULL is LEGACY (docs/protocol.md §13.1).
fn decode_row(row: TxRow) -> Result<StoredTransaction, StoreError> {
    let hash = TxHash::from_bytes(row.hash);
    let corrupt = |source| StoreError::CorruptRow {
        hash: hash.to_base64(),
        source,
    };
    let codec = match row.payload_codec.as_deref() {
        None => PayloadCodec::Legacy,
        Some(name) => PayloadCodec::from_str(name).map_err(corrupt)?,
    };
    let payload = codec.decode(&row.encoded_payload).map_err(corrupt)?;
    Ok(StoredTransaction {
        hash,
        payload,
        codec,
        timestamp: row.timestamp,
    })
}

fn raw_from_row(row: RawRow) -> EncryptedRawTransaction {
    EncryptedRawTransaction {
        hash: TxHash::from_bytes(row.hash),
        encrypted_payload: row.encrypted_payload,
        encrypted_key: row.encrypted_key,
        nonce: row.nonce,
        sender: PublicKey::from_bytes(row.sender),
        timestamp: row.timestamp,
    }
}

fn group_from_row(row: GroupRow) -> PrivacyGroupRow {
    PrivacyGroupRow {
        id: PrivacyGroupId(row.id),
        lookup_id: row.lookup_id,
        data: row.data,
        timestamp: row.timestamp,
    }
}

/// A send's routes and the copy of its hash held, if any: see
/// [`Store::find_routes_and_payload`].
pub type RoutesAndPayload = (Vec<Option<Peer>>, Option<StoredTransaction>);

/// [`Store::find_routes`] on a connection.
fn routes_of(db: &mut dyn Db, keys: &[PublicKey]) -> Result<Vec<Option<Peer>>, StoreError> {
    // Each peer row read once, found again by URL.
    let mut peers: std::collections::HashMap<String, Option<Peer>> =
        std::collections::HashMap::new();
    let mut routes = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(route) = db.find_recipient(key.as_bytes())? else {
            routes.push(None);
            continue;
        };
        let peer = match peers.get(&route.peer_url) {
            Some(peer) => peer.clone(),
            None => {
                let peer = db.find_peer(&route.peer_url)?.map(peer_from_row);
                peers.insert(route.peer_url, peer.clone());
                peer
            }
        };
        routes.push(peer);
    }
    Ok(routes)
}

fn peer_from_row(row: PeerRow) -> Peer {
    Peer {
        url: row.url,
        api_versions: row
            .api_versions
            .map(|v| tm_core::version::parse_header_values(std::iter::once(v.as_str()))),
        last_contact: row.last_contact,
        created: row.created,
        unreachable_since: row.unreachable_since,
        last_error: row.last_error,
    }
}

fn candidate_from_row(row: CandidateRow) -> Candidate {
    Candidate {
        url: row.url,
        created: row.created,
    }
}

/// `text` cut to at most `max` characters (on a character boundary).
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

fn route_from_row(row: RecipientRow) -> RecipientRoute {
    RecipientRoute {
        public_key: PublicKey::from_bytes(row.public_key),
        peer_url: row.peer_url,
        updated: row.updated,
    }
}

/// Tessera's `storePayload` merge: a new hash is stored as pushed; for a hash we hold, the
/// stored copy must be the same transaction, and the pushed recipient boxes are merged in.
fn merge_push(
    hash: &TxHash,
    existing: Option<&EncodedPayload>,
    payload: &EncodedPayload,
) -> Result<Option<EncodedPayload>, StoreError> {
    match existing {
        None => Ok(Some(payload.clone())),
        Some(existing) => {
            if !existing.is_same_transaction(payload) {
                return Err(StoreError::InvalidExistingTransaction {
                    hash: hash.to_base64(),
                });
            }
            let mut merged = existing.clone();
            Ok(merged.merge_recipients_from(payload).then_some(merged))
        }
    }
}

/// One read-modify-write of a transaction row inside a write transaction (see
/// [`Store::upsert_payload_with`]).
fn upsert<F>(db: &mut dyn Db, hash: &TxHash, mut f: F) -> Result<StoreOutcome, StoreError>
where
    F: FnMut(Option<&EncodedPayload>) -> Result<Option<EncodedPayload>, StoreError>,
{
    let key = hash.as_bytes();
    for _ in 0..UPSERT_ATTEMPTS {
        match db.find_tx(key, true)? {
            Some(row) => {
                let stored = decode_row(row)?;
                return match f(Some(&stored.payload))? {
                    None => Ok(StoreOutcome::Unchanged),
                    Some(updated) => {
                        db.update_tx(key, &stored.codec.encode(&updated))?;
                        Ok(StoreOutcome::Merged)
                    }
                };
            }
            None => {
                let Some(new) = f(None)? else {
                    return Ok(StoreOutcome::Unchanged);
                };
                let codec = PayloadCodec::CURRENT;
                if db.insert_tx_if_absent(key, &codec.encode(&new), codec.name(), now_millis())? {
                    return Ok(StoreOutcome::Inserted);
                }
                // Another instance committed this hash after our read (PostgreSQL, read
                // committed): the next locked read sees its row.
                tracing::debug!(%hash, "hash inserted concurrently; merging into it");
            }
        }
    }
    Err(StoreError::Database(format!(
        "transaction {hash} kept changing under concurrent writers"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: usize) -> PublicKey {
        let mut bytes = vec![9u8; 32];
        bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
        PublicKey::from_bytes(bytes)
    }

    fn routes_to(store: &Store, url: &str) -> Vec<PublicKey> {
        let mut keys: Vec<PublicKey> = store
            .list_recipients()
            .expect("list")
            .into_iter()
            .filter(|r| r.peer_url == url)
            .map(|r| r.public_key)
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn replacing_a_peers_keys_in_chunks_keeps_exactly_the_advertised_ones() {
        let store = Store::connect("jdbc:sqlite::memory:", None, None, true, 1).expect("store");
        let (a, b) = ("http://a:9001/", "http://b:9001/");
        // More keys than one chunk, so several transactions are written.
        let first: Vec<PublicKey> = (0..PARTY_WRITE_CHUNK * 2 + 7).map(key).collect();
        store
            .replace_peer_recipients(a, 11, &["5.0".to_owned()], &first)
            .expect("first round");
        assert_eq!(routes_to(&store, a), first);
        let peer = store.find_peer(a).expect("find").expect("peer");
        assert_eq!(peer.last_contact, Some(11));
        assert_eq!(peer.api_versions, Some(vec!["5.0".to_owned()]));

        // Key 0 moves to b; the next round from a no longer lists keys 0..10 and adds one.
        store.upsert_recipient(&key(0), b).expect("moved");
        let second: Vec<PublicKey> = (10..PARTY_WRITE_CHUNK * 2 + 8).map(key).collect();
        store
            .replace_peer_recipients(a, 12, &[], &second)
            .expect("second round");
        assert_eq!(routes_to(&store, a), second);
        assert_eq!(
            routes_to(&store, b),
            vec![key(0)],
            "a route moved away stays"
        );

        store
            .replace_peer_recipients(a, 13, &[], &[])
            .expect("no keys");
        assert!(routes_to(&store, a).is_empty());
    }

    #[test]
    fn adding_many_candidates_counts_the_new_ones_and_stops_at_the_cap() {
        let store = Store::connect("jdbc:sqlite::memory:", None, None, true, 1).expect("store");
        let urls: Vec<String> = (0..PARTY_WRITE_CHUNK + 3)
            .map(|i| format!("http://h{i}:9001/"))
            .collect();
        store.record_peer_contact(&urls[0], 1, &[]).expect("a peer");
        let first = store.add_candidates(&urls[..10], usize::MAX).expect("some");
        assert_eq!(
            (first.added, first.ignored),
            (9, 0),
            "a peer is no candidate"
        );
        let all = store.add_candidates(&urls, usize::MAX).expect("all");
        assert_eq!(all.added, urls.len() - 10);
        assert_eq!(
            store.add_candidates(&urls, usize::MAX).expect("again"),
            CandidatesAdded::default()
        );
        assert_eq!(
            store.count_candidates().expect("count"),
            (urls.len() - 1) as u64
        );
        assert_eq!(
            store.list_peers().expect("peers").len(),
            1,
            "peers untouched"
        );

        let more: Vec<String> = (0..5).map(|i| format!("http://more{i}:9001/")).collect();
        let capped = store.add_candidates(&more, urls.len() + 1).expect("capped");
        assert_eq!((capped.added, capped.ignored), (2, 3));
    }

    #[test]
    fn an_error_is_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_PEER_ERROR_CHARS + 10);
        assert_eq!(
            truncate_chars(&long, MAX_PEER_ERROR_CHARS).chars().count(),
            MAX_PEER_ERROR_CHARS
        );
        assert_eq!(truncate_chars("short", MAX_PEER_ERROR_CHARS), "short");
    }
}
