//! Persistence for the transaction manager: Tessera's own tables on embedded SQLite or on
//! PostgreSQL, shared by every service and by every instance behind a load balancer.
//!
//! * The backend comes from Tessera's `jdbc.url` ([`DatabaseUrl`]); [`Store::connect`] takes
//!   the `jdbc` values as plain arguments.
//! * Tables keep Tessera's names and types (`docs/protocol.md` §13.1), so a node runs on a
//!   database Java Tessera created and the other way round; what we add (the party store)
//!   lives in tables prefixed `tm_`. Migrations are under `migrations/` at the repository root
//!   and compiled in.
//! * [`Store`] is the blocking repository; [`AsyncStore`] runs the same calls on tokio's
//!   blocking pool.
//!
//! `docs/store.md` describes the tables, the SQLite settings and the HA behaviour.

mod async_store;
mod db;
mod error;
pub mod h2_import;
mod model;
mod pool;
pub mod schema;
mod store;
mod url;

pub use async_store::AsyncStore;
pub use error::{StoreError, NOT_SET_UP_MESSAGE};
pub use h2_import::{import_script as import_h2_script, H2ImportError, ImportReport};
pub use model::{
    Candidate, CandidatesAdded, EncryptedRawTransaction, Peer, PrivacyGroupRow, RecipientRoute,
    StagedPayload, StagingCounts, StoreOutcome, StoredTransaction,
};
pub use pool::{
    StoreSettings, MIGRATION_LOCK_KEY, PG_RECHECK_AFTER, POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS,
};
pub use store::{RoutesAndPayload, Store, MAX_PEER_ERROR_CHARS};
pub use url::{DatabaseUrl, PostgresTarget, Secret, SqliteTarget, SUPPORTED_URLS};
