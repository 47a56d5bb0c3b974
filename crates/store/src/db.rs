//! The row-level operations, written once and compiled for each backend.
//!
//! [`Db`] is object safe so the repository logic above it (merging, decoding) is written once
//! against `&mut dyn Db`; the diesel query code in `common_methods!` is expanded for both
//! connection types, and only locking and transactions differ per backend.
//!
//! Every statement of the send and receive paths is one diesel caches prepared (a static query
//! id, no SQL literal), and lookups by primary key use `get_result`, never `first`: `first`
//! adds `LIMIT ?`, and SQLite plans a bound `LIMIT` as a constant, so it marks the statement
//! expired each time that parameter is bound again and recompiles it on the next step
//! (`sqlite3Reprepare`: a tenth of q2t-api's CPU per send; docs/benchmarks.md, "Send path work").

use diesel::backend::Backend;
use diesel::dsl::sql;
use diesel::expression::{AppearsOnTable, ValidGrouping};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable};
use diesel::upsert::excluded;

use crate::schema::{
    encrypted_raw_transaction as raw, encrypted_transaction as et, privacy_group as pg,
    st_affected_transaction, st_transaction, tm_candidate, tm_peer, tm_recipient,
};
use crate::StoreError;

/// A row of `ENCRYPTED_TRANSACTION` as stored.
#[derive(Queryable)]
pub(crate) struct TxRow {
    pub hash: Vec<u8>,
    pub encoded_payload: Vec<u8>,
    pub payload_codec: Option<String>,
    pub timestamp: Option<i64>,
}

/// A row of `ENCRYPTED_RAW_TRANSACTION` as stored.
#[derive(Queryable)]
pub(crate) struct RawRow {
    pub hash: Vec<u8>,
    pub encrypted_payload: Vec<u8>,
    pub encrypted_key: Vec<u8>,
    pub nonce: Vec<u8>,
    pub sender: Vec<u8>,
    pub timestamp: Option<i64>,
}

/// A row of `PRIVACY_GROUP` as stored.
#[derive(Queryable)]
pub(crate) struct GroupRow {
    pub id: Vec<u8>,
    pub lookup_id: Vec<u8>,
    pub data: Vec<u8>,
    pub timestamp: Option<i64>,
}

/// A row of `tm_peer`.
#[derive(Queryable)]
pub(crate) struct PeerRow {
    pub url: String,
    pub api_versions: Option<String>,
    pub last_contact: Option<i64>,
    pub created: i64,
    pub unreachable_since: Option<i64>,
    pub last_error: Option<String>,
}

/// A row of `tm_candidate`.
#[derive(Queryable)]
pub(crate) struct CandidateRow {
    pub url: String,
    pub created: i64,
}

/// A row of `ST_TRANSACTION`, without its codec and timestamp.
#[derive(Queryable)]
pub(crate) struct StagingRowData {
    pub id: i64,
    pub hash: String,
    pub payload: Option<Vec<u8>>,
    pub privacy_mode: Option<i32>,
    pub validation_stage: Option<i64>,
}

/// An id read by a raw query.
#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Where a page of staging rows starts: after this row in the order of
/// [`Db::staging_page`].
#[derive(Clone, Debug)]
pub(crate) struct StagingAfter {
    pub stage: Option<i64>,
    pub hash: String,
    pub id: i64,
}

/// The staging rows that may be staged now (Tessera's `StagingTransaction.stagingQuery`): not
/// staged yet, and no affected transaction of any staging row with the same hash has a copy
/// that is unstaged, or is missing from staging. `{limit}` is an integer.
const STAGEABLE_IDS: &str = "SELECT st.id AS id FROM st_transaction st \
    WHERE st.validation_stage IS NULL AND NOT EXISTS ( \
        SELECT 1 FROM st_transaction src \
        JOIN st_affected_transaction act ON act.txn_id = src.id \
        WHERE src.hash = st.hash AND ( \
            SELECT COALESCE(SUM(CASE WHEN ast.validation_stage IS NULL THEN 1 ELSE 0 END), 1) \
            FROM st_transaction ast WHERE ast.hash = act.affected_hash) > 0) \
    ORDER BY st.id LIMIT {limit}";

/// A row of `tm_recipient`.
#[derive(Queryable)]
pub(crate) struct RecipientRow {
    pub public_key: Vec<u8>,
    pub peer_url: String,
    pub updated: i64,
}

/// `CAST(<column> AS BIGINT)`: a `TIMESTAMP` column read as `BIGINT` on both backends (it is
/// `DECIMAL(19)` in Tessera's PostgreSQL DDL). An expression of its own, not an SQL literal: a
/// literal has no static query id, so diesel would build and hash the statement's text on every
/// run to find it in its cache (and diesel's `cast` knows no cast of a type to itself).
#[derive(Debug, Clone, Copy, QueryId)]
struct Ts<C>(C);

fn ts<C>(column: C) -> Ts<C> {
    Ts(column)
}

impl<C: Expression> Expression for Ts<C> {
    type SqlType = Nullable<BigInt>;
}

impl<C: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Ts<C> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("CAST(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" AS BIGINT)");
        Ok(())
    }
}

impl<C: AppearsOnTable<QS>, QS> AppearsOnTable<QS> for Ts<C> where Self: Expression {}

impl<C: SelectableExpression<QS>, QS> SelectableExpression<QS> for Ts<C> where
    Self: AppearsOnTable<QS>
{
}

impl<C: ValidGrouping<G>, G> ValidGrouping<G> for Ts<C> {
    type IsAggregate = C::IsAggregate;
}

type TxColumns = (
    et::hash,
    et::encoded_payload,
    et::payload_codec,
    Ts<et::timestamp>,
);

fn tx_columns() -> TxColumns {
    (
        et::hash,
        et::encoded_payload,
        et::payload_codec,
        ts(et::timestamp),
    )
}

type RawColumns = (
    raw::hash,
    raw::encrypted_payload,
    raw::encrypted_key,
    raw::nonce,
    raw::sender,
    Ts<raw::timestamp>,
);

fn raw_columns() -> RawColumns {
    (
        raw::hash,
        raw::encrypted_payload,
        raw::encrypted_key,
        raw::nonce,
        raw::sender,
        ts(raw::timestamp),
    )
}

type GroupColumns = (pg::id, pg::lookup_id, pg::data, Ts<pg::timestamp>);

fn group_columns() -> GroupColumns {
    (pg::id, pg::lookup_id, pg::data, ts(pg::timestamp))
}

/// The operations the repository is built from. Each is one statement unless it says otherwise.
pub(crate) trait Db {
    /// Runs `f` in a write transaction: `BEGIN IMMEDIATE` on SQLite (one writer at a time,
    /// waiting up to the busy timeout), a plain transaction on PostgreSQL where rows are
    /// locked with `FOR UPDATE` by [`Db::find_tx`].
    fn write_tx(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;

    /// One transaction; `lock` takes a row lock on PostgreSQL (inside [`Db::write_tx`]).
    fn find_tx(&mut self, hash: &[u8], lock: bool) -> QueryResult<Option<TxRow>>;
    fn find_txs(&mut self, hashes: &[Vec<u8>]) -> QueryResult<Vec<TxRow>>;
    fn insert_tx_if_absent(
        &mut self,
        hash: &[u8],
        encoded: &[u8],
        codec: &str,
        now: i64,
    ) -> QueryResult<bool>;
    fn update_tx(&mut self, hash: &[u8], encoded: &[u8]) -> QueryResult<bool>;
    fn delete_tx(&mut self, hash: &[u8]) -> QueryResult<bool>;
    /// Up to `limit` rows with hashes after `after`, in hash order (keyset pagination).
    fn page_txs(&mut self, after: Option<&[u8]>, limit: i64) -> QueryResult<Vec<TxRow>>;
    fn count_txs(&mut self) -> QueryResult<i64>;
    /// Tessera's upcheck: both transaction tables answer a query over every column we use.
    fn upcheck(&mut self) -> QueryResult<()>;

    fn insert_raw_if_absent(
        &mut self,
        hash: &[u8],
        payload: &[u8],
        key: &[u8],
        nonce: &[u8],
        sender: &[u8],
        now: i64,
    ) -> QueryResult<bool>;
    fn find_raw(&mut self, hash: &[u8]) -> QueryResult<Option<RawRow>>;
    fn delete_raw(&mut self, hash: &[u8]) -> QueryResult<bool>;

    fn upsert_group(&mut self, id: &[u8], lookup: &[u8], data: &[u8], now: i64) -> QueryResult<()>;
    fn insert_group_if_absent(
        &mut self,
        id: &[u8],
        lookup: &[u8],
        data: &[u8],
        now: i64,
    ) -> QueryResult<bool>;
    fn find_group(&mut self, id: &[u8]) -> QueryResult<Option<GroupRow>>;
    fn find_groups_by_lookup(&mut self, lookup: &[u8]) -> QueryResult<Vec<GroupRow>>;
    fn list_groups(&mut self) -> QueryResult<Vec<GroupRow>>;

    fn insert_peer_if_absent(&mut self, url: &str, now: i64) -> QueryResult<bool>;
    /// Records a successful contact: `last_contact = at`, the unreachable state cleared, the
    /// API versions replaced when `versions` is given (kept otherwise); inserts the peer if
    /// needed.
    fn upsert_peer_contact(
        &mut self,
        url: &str,
        versions: Option<&str>,
        at: i64,
        now: i64,
    ) -> QueryResult<()>;
    /// Marks a peer unreachable after a failed attempt that started at `started`:
    /// `unreachable_since` keeps its first value, `last_error` is replaced. A peer whose last
    /// contact is not older than `started` (another replica reached it meanwhile) is left
    /// alone. Returns whether the row was updated.
    fn mark_peer_unreachable(
        &mut self,
        url: &str,
        started: i64,
        now: i64,
        error: &str,
    ) -> QueryResult<bool>;
    /// Deletes the peer if its last contact (its creation when it has none) is older than
    /// `cutoff`. Returns whether it was deleted.
    fn delete_peer_if_stale(&mut self, url: &str, cutoff: i64) -> QueryResult<bool>;
    fn list_peers(&mut self) -> QueryResult<Vec<PeerRow>>;
    /// Which of `urls` are peers already (one indexed read; keep `urls` within the bound
    /// parameters a statement may have).
    fn known_peers(&mut self, urls: &[String]) -> QueryResult<Vec<String>>;
    fn find_peer(&mut self, url: &str) -> QueryResult<Option<PeerRow>>;
    fn delete_peer(&mut self, url: &str) -> QueryResult<bool>;
    fn upsert_recipient(&mut self, key: &[u8], url: &str, now: i64) -> QueryResult<()>;
    fn find_recipient(&mut self, key: &[u8]) -> QueryResult<Option<RecipientRow>>;
    fn list_recipients(&mut self) -> QueryResult<Vec<RecipientRow>>;
    fn delete_recipient(&mut self, key: &[u8]) -> QueryResult<bool>;
    /// The keys routed to `url` (through the `peer_url` index, not a scan of every route).
    fn recipients_of(&mut self, url: &str) -> QueryResult<Vec<Vec<u8>>>;
    /// Deletes the route of `key` if it still goes to `url`.
    fn delete_route(&mut self, key: &[u8], url: &str) -> QueryResult<bool>;
    fn delete_recipients_of(&mut self, url: &str) -> QueryResult<usize>;
    /// Deletes every staging row (two statements; run inside [`Db::write_tx`]).
    fn clear_staging(&mut self) -> QueryResult<()>;
    /// Keeps other writers of the staging tables out until the transaction ends (PostgreSQL;
    /// SQLite's write transaction already does), so ids can be taken as `MAX(ID) + 1`.
    fn lock_staging(&mut self) -> QueryResult<()>;
    /// The largest ids of `ST_TRANSACTION` and `ST_AFFECTED_TRANSACTION` (0 when empty).
    fn max_staging_ids(&mut self) -> QueryResult<(i64, i64)>;
    #[allow(clippy::too_many_arguments)]
    fn insert_staging(
        &mut self,
        id: i64,
        codec: &str,
        hash: &str,
        payload: &[u8],
        privacy_mode: i32,
        now: i64,
    ) -> QueryResult<()>;
    fn insert_staging_affected(
        &mut self,
        id: i64,
        affected_hash: &str,
        txn_id: i64,
    ) -> QueryResult<()>;
    /// Rows of `ST_TRANSACTION`, of them staged, rows of `ST_AFFECTED_TRANSACTION`.
    fn count_staging(&mut self) -> QueryResult<(i64, i64, i64)>;
    /// Sets `VALIDATION_STAGE = stage` on up to `limit` rows that may be staged now (see
    /// [`STAGEABLE_IDS`]; two statements, run inside [`Db::write_tx`]). Returns how many.
    fn stage_batch(&mut self, limit: i64, stage: i64) -> QueryResult<usize>;
    /// Up to `limit` staging rows in the order recovery moves them: staged rows by stage, hash
    /// and id, then unstaged rows by hash and id; after `after` when given.
    fn staging_page(
        &mut self,
        after: Option<&StagingAfter>,
        limit: i64,
    ) -> QueryResult<Vec<StagingRowData>>;

    fn insert_candidate_if_absent(&mut self, url: &str, now: i64) -> QueryResult<bool>;
    /// Which of `urls` are candidates already (one indexed read; keep `urls` within the bound
    /// parameters a statement may have).
    fn known_candidates(&mut self, urls: &[String]) -> QueryResult<Vec<String>>;
    fn count_candidates(&mut self) -> QueryResult<i64>;
    fn count_recipients(&mut self) -> QueryResult<i64>;
    fn find_candidate(&mut self, url: &str) -> QueryResult<Option<CandidateRow>>;
    /// Up to `limit` candidates, oldest first.
    fn oldest_candidates(&mut self, limit: i64) -> QueryResult<Vec<CandidateRow>>;
    fn delete_candidate(&mut self, url: &str) -> QueryResult<bool>;
}

/// The method bodies shared by both backends (the DSL is backend-generic; the connection type
/// is concrete in each expansion).
macro_rules! common_methods {
    () => {
        fn find_txs(&mut self, hashes: &[Vec<u8>]) -> QueryResult<Vec<TxRow>> {
            et::table
                .select(tx_columns())
                .filter(et::hash.eq_any(hashes))
                .load(self)
        }

        fn insert_tx_if_absent(
            &mut self,
            hash: &[u8],
            encoded: &[u8],
            codec: &str,
            now: i64,
        ) -> QueryResult<bool> {
            diesel::insert_into(et::table)
                .values((
                    et::hash.eq(hash),
                    et::encoded_payload.eq(encoded),
                    et::payload_codec.eq(codec),
                    et::timestamp.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|n| n == 1)
        }

        fn update_tx(&mut self, hash: &[u8], encoded: &[u8]) -> QueryResult<bool> {
            // TIMESTAMP is the insert time (JPA @PrePersist); updates leave it alone.
            diesel::update(et::table.filter(et::hash.eq(hash)))
                .set(et::encoded_payload.eq(encoded))
                .execute(self)
                .map(|n| n == 1)
        }

        fn delete_tx(&mut self, hash: &[u8]) -> QueryResult<bool> {
            diesel::delete(et::table.filter(et::hash.eq(hash)))
                .execute(self)
                .map(|n| n > 0)
        }

        fn page_txs(&mut self, after: Option<&[u8]>, limit: i64) -> QueryResult<Vec<TxRow>> {
            let query = et::table
                .select(tx_columns())
                .order(et::hash.asc())
                .limit(limit);
            match after {
                Some(after) => query.filter(et::hash.gt(after)).load(self),
                None => query.load(self),
            }
        }

        fn count_txs(&mut self) -> QueryResult<i64> {
            et::table.count().get_result(self)
        }

        fn upcheck(&mut self) -> QueryResult<()> {
            et::table
                .select(tx_columns())
                .limit(1)
                .load::<TxRow>(self)?;
            raw::table
                .select(raw_columns())
                .limit(1)
                .load::<RawRow>(self)?;
            Ok(())
        }

        fn insert_raw_if_absent(
            &mut self,
            hash: &[u8],
            payload: &[u8],
            key: &[u8],
            nonce: &[u8],
            sender: &[u8],
            now: i64,
        ) -> QueryResult<bool> {
            diesel::insert_into(raw::table)
                .values((
                    raw::hash.eq(hash),
                    raw::encrypted_payload.eq(payload),
                    raw::encrypted_key.eq(key),
                    raw::nonce.eq(nonce),
                    raw::sender.eq(sender),
                    raw::timestamp.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|n| n == 1)
        }

        fn find_raw(&mut self, hash: &[u8]) -> QueryResult<Option<RawRow>> {
            raw::table
                .select(raw_columns())
                .filter(raw::hash.eq(hash))
                .get_result(self)
                .optional()
        }

        fn delete_raw(&mut self, hash: &[u8]) -> QueryResult<bool> {
            diesel::delete(raw::table.filter(raw::hash.eq(hash)))
                .execute(self)
                .map(|n| n > 0)
        }

        fn upsert_group(
            &mut self,
            id: &[u8],
            lookup: &[u8],
            data: &[u8],
            now: i64,
        ) -> QueryResult<()> {
            diesel::insert_into(pg::table)
                .values((
                    pg::id.eq(id),
                    pg::lookup_id.eq(lookup),
                    pg::data.eq(data),
                    pg::timestamp.eq(now),
                ))
                .on_conflict(pg::id)
                .do_update()
                .set((
                    pg::lookup_id.eq(excluded(pg::lookup_id)),
                    pg::data.eq(excluded(pg::data)),
                ))
                .execute(self)
                .map(|_| ())
        }

        fn insert_group_if_absent(
            &mut self,
            id: &[u8],
            lookup: &[u8],
            data: &[u8],
            now: i64,
        ) -> QueryResult<bool> {
            diesel::insert_into(pg::table)
                .values((
                    pg::id.eq(id),
                    pg::lookup_id.eq(lookup),
                    pg::data.eq(data),
                    pg::timestamp.eq(now),
                ))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|n| n == 1)
        }

        fn find_group(&mut self, id: &[u8]) -> QueryResult<Option<GroupRow>> {
            pg::table
                .select(group_columns())
                .filter(pg::id.eq(id))
                .get_result(self)
                .optional()
        }

        fn find_groups_by_lookup(&mut self, lookup: &[u8]) -> QueryResult<Vec<GroupRow>> {
            pg::table
                .select(group_columns())
                .filter(pg::lookup_id.eq(lookup))
                .order(pg::id.asc())
                .load(self)
        }

        fn list_groups(&mut self) -> QueryResult<Vec<GroupRow>> {
            pg::table
                .select(group_columns())
                .order(pg::id.asc())
                .load(self)
        }

        fn insert_peer_if_absent(&mut self, url: &str, now: i64) -> QueryResult<bool> {
            diesel::insert_into(tm_peer::table)
                .values((tm_peer::url.eq(url), tm_peer::created.eq(now)))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|n| n == 1)
        }

        fn upsert_peer_contact(
            &mut self,
            url: &str,
            versions: Option<&str>,
            at: i64,
            now: i64,
        ) -> QueryResult<()> {
            let insert = diesel::insert_into(tm_peer::table).values((
                tm_peer::url.eq(url),
                tm_peer::api_versions.eq(versions),
                tm_peer::last_contact.eq(at),
                tm_peer::created.eq(now),
            ));
            let contact = (
                tm_peer::last_contact.eq(excluded(tm_peer::last_contact)),
                tm_peer::unreachable_since.eq(None::<i64>),
                tm_peer::last_error.eq(None::<String>),
            );
            match versions {
                Some(_) => insert
                    .on_conflict(tm_peer::url)
                    .do_update()
                    .set((
                        tm_peer::api_versions.eq(excluded(tm_peer::api_versions)),
                        contact,
                    ))
                    .execute(self)
                    .map(|_| ()),
                None => insert
                    .on_conflict(tm_peer::url)
                    .do_update()
                    .set(contact)
                    .execute(self)
                    .map(|_| ()),
            }
        }

        fn mark_peer_unreachable(
            &mut self,
            url: &str,
            started: i64,
            now: i64,
            error: &str,
        ) -> QueryResult<bool> {
            // One statement, so replicas polling at once never undo each other: the first
            // failure sets `unreachable_since`, later ones only the error, and a contact newer
            // than this attempt (another replica got through) wins.
            diesel::update(
                tm_peer::table.filter(tm_peer::url.eq(url)).filter(
                    tm_peer::last_contact
                        .is_null()
                        .or(tm_peer::last_contact.lt(started)),
                ),
            )
            .set((
                tm_peer::unreachable_since.eq(sql::<Nullable<BigInt>>(
                    "COALESCE(unreachable_since, ",
                )
                .bind::<BigInt, _>(now)
                .sql(")")),
                tm_peer::last_error.eq(error),
            ))
            .execute(self)
            .map(|n| n > 0)
        }

        fn delete_peer_if_stale(&mut self, url: &str, cutoff: i64) -> QueryResult<bool> {
            diesel::delete(
                tm_peer::table.filter(tm_peer::url.eq(url)).filter(
                    tm_peer::last_contact.lt(cutoff).or(tm_peer::last_contact
                        .is_null()
                        .and(tm_peer::created.lt(cutoff))),
                ),
            )
            .execute(self)
            .map(|n| n > 0)
        }

        fn list_peers(&mut self) -> QueryResult<Vec<PeerRow>> {
            tm_peer::table.order(tm_peer::url.asc()).load(self)
        }

        fn known_peers(&mut self, urls: &[String]) -> QueryResult<Vec<String>> {
            tm_peer::table
                .select(tm_peer::url)
                .filter(tm_peer::url.eq_any(urls))
                .load(self)
        }

        fn find_peer(&mut self, url: &str) -> QueryResult<Option<PeerRow>> {
            tm_peer::table
                .filter(tm_peer::url.eq(url))
                .get_result(self)
                .optional()
        }

        fn delete_peer(&mut self, url: &str) -> QueryResult<bool> {
            diesel::delete(tm_peer::table.filter(tm_peer::url.eq(url)))
                .execute(self)
                .map(|n| n > 0)
        }

        fn upsert_recipient(&mut self, key: &[u8], url: &str, now: i64) -> QueryResult<()> {
            diesel::insert_into(tm_recipient::table)
                .values((
                    tm_recipient::public_key.eq(key),
                    tm_recipient::peer_url.eq(url),
                    tm_recipient::updated.eq(now),
                ))
                .on_conflict(tm_recipient::public_key)
                .do_update()
                .set((
                    tm_recipient::peer_url.eq(excluded(tm_recipient::peer_url)),
                    tm_recipient::updated.eq(excluded(tm_recipient::updated)),
                ))
                .execute(self)
                .map(|_| ())
        }

        fn find_recipient(&mut self, key: &[u8]) -> QueryResult<Option<RecipientRow>> {
            tm_recipient::table
                .filter(tm_recipient::public_key.eq(key))
                .get_result(self)
                .optional()
        }

        fn list_recipients(&mut self) -> QueryResult<Vec<RecipientRow>> {
            tm_recipient::table
                .order((tm_recipient::peer_url.asc(), tm_recipient::public_key.asc()))
                .load(self)
        }

        fn delete_recipient(&mut self, key: &[u8]) -> QueryResult<bool> {
            diesel::delete(tm_recipient::table.filter(tm_recipient::public_key.eq(key)))
                .execute(self)
                .map(|n| n > 0)
        }

        fn recipients_of(&mut self, url: &str) -> QueryResult<Vec<Vec<u8>>> {
            tm_recipient::table
                .select(tm_recipient::public_key)
                .filter(tm_recipient::peer_url.eq(url))
                .load(self)
        }

        fn delete_route(&mut self, key: &[u8], url: &str) -> QueryResult<bool> {
            diesel::delete(
                tm_recipient::table
                    .filter(tm_recipient::public_key.eq(key))
                    .filter(tm_recipient::peer_url.eq(url)),
            )
            .execute(self)
            .map(|n| n > 0)
        }

        fn delete_recipients_of(&mut self, url: &str) -> QueryResult<usize> {
            diesel::delete(tm_recipient::table.filter(tm_recipient::peer_url.eq(url))).execute(self)
        }

        fn clear_staging(&mut self) -> QueryResult<()> {
            diesel::delete(st_affected_transaction::table).execute(self)?;
            diesel::delete(st_transaction::table).execute(self)?;
            Ok(())
        }

        fn max_staging_ids(&mut self) -> QueryResult<(i64, i64)> {
            let tx: Option<i64> = st_transaction::table
                .select(diesel::dsl::max(st_transaction::id))
                .get_result(self)?;
            let affected: Option<i64> = st_affected_transaction::table
                .select(diesel::dsl::max(st_affected_transaction::id))
                .get_result(self)?;
            Ok((tx.unwrap_or(0), affected.unwrap_or(0)))
        }

        fn insert_staging(
            &mut self,
            id: i64,
            codec: &str,
            hash: &str,
            payload: &[u8],
            privacy_mode: i32,
            now: i64,
        ) -> QueryResult<()> {
            diesel::insert_into(st_transaction::table)
                .values((
                    st_transaction::id.eq(id),
                    st_transaction::payload_codec.eq(codec),
                    st_transaction::hash.eq(hash),
                    st_transaction::payload.eq(payload),
                    st_transaction::privacy_mode.eq(privacy_mode),
                    st_transaction::timestamp.eq(now),
                ))
                .execute(self)
                .map(|_| ())
        }

        fn insert_staging_affected(
            &mut self,
            id: i64,
            affected_hash: &str,
            txn_id: i64,
        ) -> QueryResult<()> {
            diesel::insert_into(st_affected_transaction::table)
                .values((
                    st_affected_transaction::id.eq(id),
                    st_affected_transaction::affected_hash.eq(affected_hash),
                    st_affected_transaction::txn_id.eq(txn_id),
                ))
                .execute(self)
                .map(|_| ())
        }

        fn count_staging(&mut self) -> QueryResult<(i64, i64, i64)> {
            let all = st_transaction::table.count().get_result(self)?;
            let staged = st_transaction::table
                .filter(st_transaction::validation_stage.is_not_null())
                .count()
                .get_result(self)?;
            let affected = st_affected_transaction::table.count().get_result(self)?;
            Ok((all, staged, affected))
        }

        fn stage_batch(&mut self, limit: i64, stage: i64) -> QueryResult<usize> {
            let ids: Vec<i64> =
                diesel::sql_query(STAGEABLE_IDS.replace("{limit}", &limit.to_string()))
                    .load::<IdRow>(self)?
                    .into_iter()
                    .map(|row| row.id)
                    .collect();
            let mut updated = 0;
            // Within the bound parameters one statement may have, on both backends.
            for chunk in ids.chunks(10_000) {
                updated +=
                    diesel::update(st_transaction::table.filter(st_transaction::id.eq_any(chunk)))
                        .set(st_transaction::validation_stage.eq(stage))
                        .execute(self)?;
            }
            Ok(updated)
        }

        fn staging_page(
            &mut self,
            after: Option<&StagingAfter>,
            limit: i64,
        ) -> QueryResult<Vec<StagingRowData>> {
            use st_transaction::dsl as st;
            let columns = (
                st::id,
                st::hash,
                st::payload,
                st::privacy_mode,
                st::validation_stage,
            );
            let mut rows = Vec::new();
            // Staged rows first (unless the page starts among the unstaged ones).
            if after.map_or(true, |a| a.stage.is_some()) {
                let mut query = st::st_transaction
                    .select(columns)
                    .filter(st::validation_stage.is_not_null())
                    .into_boxed();
                if let Some(a) = after {
                    let stage = a.stage.unwrap_or_default();
                    query = query.filter(
                        st::validation_stage
                            .gt(stage)
                            .or(st::validation_stage
                                .eq(stage)
                                .and(st::hash.gt(a.hash.clone())))
                            .or(st::validation_stage
                                .eq(stage)
                                .and(st::hash.eq(a.hash.clone()))
                                .and(st::id.gt(a.id))),
                    );
                }
                rows = query
                    .order((st::validation_stage.asc(), st::hash.asc(), st::id.asc()))
                    .limit(limit)
                    .load::<StagingRowData>(self)?;
            }
            let missing = limit - rows.len() as i64;
            if missing > 0 {
                let mut query = st::st_transaction
                    .select(columns)
                    .filter(st::validation_stage.is_null())
                    .into_boxed();
                if let Some(a) = after.filter(|a| a.stage.is_none()) {
                    query = query.filter(
                        st::hash
                            .gt(a.hash.clone())
                            .or(st::hash.eq(a.hash.clone()).and(st::id.gt(a.id))),
                    );
                }
                rows.extend(
                    query
                        .order((st::hash.asc(), st::id.asc()))
                        .limit(missing)
                        .load::<StagingRowData>(self)?,
                );
            }
            Ok(rows)
        }

        fn insert_candidate_if_absent(&mut self, url: &str, now: i64) -> QueryResult<bool> {
            diesel::insert_into(tm_candidate::table)
                .values((tm_candidate::url.eq(url), tm_candidate::created.eq(now)))
                .on_conflict_do_nothing()
                .execute(self)
                .map(|n| n == 1)
        }

        fn known_candidates(&mut self, urls: &[String]) -> QueryResult<Vec<String>> {
            tm_candidate::table
                .select(tm_candidate::url)
                .filter(tm_candidate::url.eq_any(urls))
                .load(self)
        }

        fn count_recipients(&mut self) -> QueryResult<i64> {
            tm_recipient::table.count().get_result(self)
        }

        fn count_candidates(&mut self) -> QueryResult<i64> {
            tm_candidate::table.count().get_result(self)
        }

        fn find_candidate(&mut self, url: &str) -> QueryResult<Option<CandidateRow>> {
            tm_candidate::table
                .filter(tm_candidate::url.eq(url))
                .get_result(self)
                .optional()
        }

        fn oldest_candidates(&mut self, limit: i64) -> QueryResult<Vec<CandidateRow>> {
            tm_candidate::table
                .order((tm_candidate::created.asc(), tm_candidate::url.asc()))
                .limit(limit)
                .load(self)
        }

        fn delete_candidate(&mut self, url: &str) -> QueryResult<bool> {
            diesel::delete(tm_candidate::table.filter(tm_candidate::url.eq(url)))
                .execute(self)
                .map(|n| n > 0)
        }
    };
}

impl Db for SqliteConnection {
    fn write_tx(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
        // writes can fail with SQLITE_BUSY at once instead of waiting (two-writer deadlock).
        self.immediate_transaction(|conn| f(conn))
    }

    fn lock_staging(&mut self) -> QueryResult<()> {
        // The immediate transaction already excludes other writers.
        Ok(())
    }

    fn find_tx(&mut self, hash: &[u8], _lock: bool) -> QueryResult<Option<TxRow>> {
        // The immediate transaction already excludes other writers.
        et::table
            .select(tx_columns())
            .filter(et::hash.eq(hash))
            .get_result(self)
            .optional()
    }

    common_methods!();
}

impl Db for PgConnection {
    fn write_tx(
        &mut self,
        f: &mut dyn FnMut(&mut dyn Db) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.transaction(|conn| f(conn))
    }

    fn lock_staging(&mut self) -> QueryResult<()> {
        // Writers of staging rows take turns; readers are not blocked.
        diesel::sql_query("LOCK TABLE st_transaction IN SHARE ROW EXCLUSIVE MODE")
            .execute(self)
            .map(|_| ())
    }

    fn find_tx(&mut self, hash: &[u8], lock: bool) -> QueryResult<Option<TxRow>> {
        let query = et::table.select(tx_columns()).filter(et::hash.eq(hash));
        if lock {
            query.for_update().get_result(self).optional()
        } else {
            query.get_result(self).optional()
        }
    }

    common_methods!();
}
