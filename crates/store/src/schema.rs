//! Diesel's view of the tables.
//!
//! Tessera's tables keep Tessera's names: its PostgreSQL DDL uses unquoted upper-case names,
//! which PostgreSQL folds to lower case, and SQLite matches names case-insensitively, so the
//! lower-case names below address the tables Java Tessera creates on both backends.
//!
//! `timestamp` columns are `DECIMAL(19)` on PostgreSQL (`NUMBER(19)` on SQLite) in Tessera's
//! DDL, and `BIGINT` where Tessera's JPA auto-create made them. They are declared `BigInt` so
//! that inserts and comparisons bind an `int8` (PostgreSQL casts it on assignment), but they are
//! never selected directly: reads go through [`crate::db`]'s `CAST(... AS BIGINT)`.

diesel::table! {
    /// `ENCRYPTED_TRANSACTION`: one encoded payload per transaction hash.
    encrypted_transaction (hash) {
        /// SHA3-512 of the cipher text (raw bytes).
        hash -> Binary,
        /// The payload, encoded with `payload_codec`.
        encoded_payload -> Binary,
        /// `CBOR` or `LEGACY`; NULL means LEGACY.
        payload_codec -> Nullable<Text>,
        /// Insert time, epoch milliseconds.
        timestamp -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// `ENCRYPTED_RAW_TRANSACTION`: payloads stored by `/storeraw`.
    encrypted_raw_transaction (hash) {
        /// Master key sealed for the sender.
        encrypted_key -> Binary,
        /// Cipher text.
        encrypted_payload -> Binary,
        /// Nonce of the cipher text and the sealed key.
        nonce -> Binary,
        /// Sender public key bytes.
        sender -> Binary,
        /// Insert time, epoch milliseconds.
        timestamp -> Nullable<BigInt>,
        /// Digest of `encrypted_payload`.
        hash -> Binary,
    }
}

diesel::table! {
    /// `PRIVACY_GROUP`.
    privacy_group (id) {
        /// Group id bytes.
        id -> Binary,
        /// Id derived from the member set.
        lookup_id -> Binary,
        /// Encoded privacy group record.
        data -> Binary,
        /// Insert time, epoch milliseconds.
        timestamp -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// `ST_TRANSACTION`: recovery staging.
    st_transaction (id) {
        /// Generated id.
        id -> BigInt,
        /// Codec of `payload`.
        payload_codec -> Nullable<Text>,
        /// Base64 transaction hash.
        hash -> Text,
        /// Encoded payload as received.
        payload -> Nullable<Binary>,
        /// Privacy mode flag.
        privacy_mode -> Nullable<Integer>,
        /// Insert time, epoch milliseconds.
        timestamp -> Nullable<BigInt>,
        /// NULL until staged.
        validation_stage -> Nullable<BigInt>,
    }
}

diesel::table! {
    /// `ST_AFFECTED_TRANSACTION`: affected contract transactions of staged rows.
    st_affected_transaction (id) {
        /// Generated id.
        id -> BigInt,
        /// Base64 hash of the affected transaction.
        affected_hash -> Text,
        /// The staged transaction (`ST_TRANSACTION.ID`).
        txn_id -> BigInt,
    }
}

diesel::table! {
    /// Ours: peers in the party store.
    tm_peer (url) {
        /// The peer's P2P URL as advertised (normalised by the caller).
        url -> Text,
        /// Comma-separated API versions the peer advertised; NULL until known.
        api_versions -> Nullable<Text>,
        /// Last successful contact, epoch milliseconds; NULL if never.
        last_contact -> Nullable<BigInt>,
        /// When the peer was first recorded, epoch milliseconds.
        created -> BigInt,
        /// Since when every contact attempt has failed, epoch milliseconds; NULL while the
        /// peer answers.
        unreachable_since -> Nullable<BigInt>,
        /// Why the last contact attempt failed (at most 1024 characters); NULL while the
        /// peer answers.
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    /// Ours: URLs learned from another node's party info that we have not reached yet.
    tm_candidate (url) {
        /// The URL as listed (normalised by the caller).
        url -> Text,
        /// When it was first listed to us, epoch milliseconds.
        created -> BigInt,
    }
}

diesel::table! {
    /// Ours: which peer URL serves a recipient public key.
    tm_recipient (public_key) {
        /// Recipient public key bytes.
        public_key -> Binary,
        /// The peer URL (`tm_peer.url`; removing the peer removes its keys).
        peer_url -> Text,
        /// Last time the mapping was set, epoch milliseconds.
        updated -> BigInt,
    }
}

diesel::joinable!(st_affected_transaction -> st_transaction (txn_id));
diesel::allow_tables_to_appear_in_same_query!(st_transaction, st_affected_transaction);
