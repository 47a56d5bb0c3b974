//! Fresh databases for each test on both backends, and sample payloads.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tm_core::payload::{Nonce, RecipientBox};
use tm_core::{EncodedPayload, PublicKey};
use tm_store::{Store, StoreSettings};

/// The default matches `.ci/postgres.sh`.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://tm:tm-test-pw@127.0.0.1:55432/tm";

/// Every PostgreSQL test holds this shared; the outage test holds it exclusively while it
/// stops the server, so no other test sees the outage.
pub static PG_GATE: RwLock<()> = RwLock::new(());

pub fn pg_gate() -> RwLockReadGuard<'static, ()> {
    PG_GATE.read().unwrap_or_else(|e| e.into_inner())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body against a fresh SQLite database and a fresh PostgreSQL schema.
macro_rules! both_backends {
    ($( $(#[$meta:meta])* fn $name:ident($db:ident) $body:block )*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                fn body($db: &crate::support::TestDb) $body

                $(#[$meta])*
                #[test]
                fn sqlite() {
                    body(&crate::support::TestDb::new(crate::support::Backend::Sqlite));
                }

                $(#[$meta])*
                #[test]
                fn postgres() {
                    body(&crate::support::TestDb::new(crate::support::Backend::Postgres));
                }
            }
        )*
    };
}
pub(crate) use both_backends;

/// `TM_TEST_POSTGRES_URL` (`postgres://user:password@host:port/database`), split up.
#[derive(Clone, Debug)]
pub struct PgEnv {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl PgEnv {
    pub fn from_env() -> Self {
        let url = std::env::var("TM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .expect("TM_TEST_POSTGRES_URL must be postgres://user:password@host:port/database");
        let (userinfo, location) = rest.split_once('@').expect("user:password@ in URL");
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let (hostport, database) = location.split_once('/').expect("/database in URL");
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, "5432"));
        Self {
            user: user.to_owned(),
            password: password.to_owned(),
            host: host.to_owned(),
            port: port.parse().expect("numeric port"),
            database: database.split('?').next().unwrap_or("").to_owned(),
        }
    }

    /// A libpq URL for the test's own admin connections.
    pub fn libpq_url(&self, database: &str) -> String {
        format!(
            "postgres://{}:{}@{}:{}/{}?connect_timeout=5",
            self.user, self.password, self.host, self.port, database
        )
    }

    /// The `jdbc.url` a node config would carry, optionally with a schema.
    pub fn jdbc_url(&self, database: &str, schema: Option<&str>) -> String {
        let base = format!("jdbc:postgresql://{}:{}/{}", self.host, self.port, database);
        match schema {
            Some(schema) => format!("{base}?currentSchema={schema}"),
            None => base,
        }
    }

    /// An admin connection; PostgreSQL being unreachable fails the test (never skips).
    pub fn admin(&self, database: &str) -> PgConnection {
        PgConnection::establish(&self.libpq_url(database)).unwrap_or_else(|e| {
            panic!(
                "PostgreSQL at {}:{} is unreachable ({e}); run `bash .ci/postgres.sh` or set \
                 TM_TEST_POSTGRES_URL",
                self.host, self.port
            )
        })
    }
}

/// A name no other test (or earlier run) uses.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// One test's database: a fresh SQLite file, or a fresh schema in the PostgreSQL database.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub store: Store,
    cleanup: Cleanup,
    _gate: Option<RwLockReadGuard<'static, ()>>,
}

enum Cleanup {
    Dir(PathBuf),
    Schema(PgEnv, String),
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        Self::with_pool(backend, 4)
    }

    pub fn with_pool(backend: Backend, pool_size: u32) -> Self {
        let (gate, url, username, password, cleanup) = Self::blank(backend);
        let store = Store::connect(
            &url,
            username.as_deref(),
            password.as_deref(),
            true,
            pool_size,
        )
        .expect("store opens with autoCreateTables");
        Self {
            backend,
            url,
            username,
            password,
            store,
            cleanup,
            _gate: gate,
        }
    }

    /// An empty database (no tables) and how to reach it.
    #[allow(clippy::type_complexity)]
    fn blank(
        backend: Backend,
    ) -> (
        Option<RwLockReadGuard<'static, ()>>,
        String,
        Option<String>,
        Option<String>,
        Cleanup,
    ) {
        match backend {
            Backend::Sqlite => {
                let dir = sqlite_dir();
                let url = format!("jdbc:sqlite:{}", dir.join("tm.db").display());
                (None, url, None, None, Cleanup::Dir(dir))
            }
            Backend::Postgres => {
                let gate = pg_gate();
                let env = PgEnv::from_env();
                let schema = unique_name("t");
                env.admin(&env.database)
                    .batch_execute(&format!("CREATE SCHEMA {schema}"))
                    .expect("create schema");
                let url = env.jdbc_url(&env.database, Some(&schema));
                (
                    Some(gate),
                    url,
                    Some(env.user.clone()),
                    Some(env.password.clone()),
                    Cleanup::Schema(env, schema),
                )
            }
        }
    }

    /// Another store (another "instance") on the same database.
    pub fn another_instance(&self, auto_create: bool, pool_size: u32) -> Store {
        Store::open(&self.settings(auto_create, pool_size)).expect("second instance opens")
    }

    pub fn settings(&self, auto_create: bool, pool_size: u32) -> StoreSettings {
        StoreSettings::new(
            self.url.clone(),
            self.username.as_deref(),
            self.password.as_deref(),
            auto_create,
            pool_size,
        )
    }

    /// Runs SQL directly against the test's database (schema-qualified where needed).
    pub fn exec(&self, sql: &str) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let mut conn = diesel::SqliteConnection::establish(
                    dir.join("tm.db").to_str().expect("utf-8 path"),
                )
                .expect("open sqlite");
                conn.batch_execute(sql).expect("sql runs");
            }
            Cleanup::Schema(env, schema) => {
                let mut conn = env.admin(&env.database);
                conn.batch_execute(&format!("SET search_path TO {schema}; {sql}"))
                    .expect("sql runs");
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Cleanup::Schema(env, schema) => {
                if let Ok(mut conn) = PgConnection::establish(&env.libpq_url(&env.database)) {
                    let _ = conn.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
            }
        }
    }
}

/// A fresh directory for one SQLite database.
pub fn sqlite_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique_name("sqlite"));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// A fresh PostgreSQL database (for tests that need a whole database, e.g. Tessera's DDL);
/// dropped again on drop.
pub struct FreshPgDatabase {
    pub env: PgEnv,
    pub name: String,
    _gate: RwLockReadGuard<'static, ()>,
}

impl FreshPgDatabase {
    pub fn new() -> Self {
        let gate = pg_gate();
        let env = PgEnv::from_env();
        let name = unique_name("tmdb");
        env.admin(&env.database)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database (the test role needs CREATEDB)");
        Self {
            env,
            name,
            _gate: gate,
        }
    }

    pub fn connect(&self) -> PgConnection {
        self.env.admin(&self.name)
    }

    pub fn jdbc_url(&self) -> String {
        self.env.jdbc_url(&self.name, None)
    }
}

impl Drop for FreshPgDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = PgConnection::establish(&self.env.libpq_url(&self.env.database)) {
            let _ = conn.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

pub fn key(tag: u8) -> PublicKey {
    PublicKey::from_bytes(vec![tag; 32])
}

/// A standard-private payload whose cipher text is derived from `tag`, with one box per
/// recipient key tag.
pub fn payload(tag: &str, recipients: &[u8]) -> EncodedPayload {
    EncodedPayload {
        sender: key(0xEE),
        cipher_text: format!("cipher text of {tag}").into_bytes(),
        cipher_text_nonce: Nonce(vec![1; 24]),
        recipient_nonce: Nonce(vec![2; 24]),
        recipient_keys: recipients.iter().map(|r| key(*r)).collect(),
        recipient_boxes: recipients
            .iter()
            .map(|r| RecipientBox(vec![*r; 48]))
            .collect(),
        ..EncodedPayload::default()
    }
}

/// The copy of `full` pushed to one recipient (one key, one box).
pub fn copy_for(full: &EncodedPayload, recipient: u8) -> EncodedPayload {
    full.for_recipient(&key(recipient))
        .expect("recipient of the payload")
}

pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl TestDb {
    /// `(PAYLOAD_CODEC, ENCODED_PAYLOAD)` of one row, read with plain SQL.
    pub fn raw_row(&self, hash: &tm_core::TxHash) -> (Option<String>, Vec<u8>) {
        use diesel::prelude::*;
        use tm_store::schema::encrypted_transaction as et;
        let query = et::table
            .select((et::payload_codec, et::encoded_payload))
            .filter(et::hash.eq(hash.as_bytes().to_vec()));
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let mut conn = diesel::SqliteConnection::establish(
                    dir.join("tm.db").to_str().expect("utf-8 path"),
                )
                .expect("open sqlite");
                query.first(&mut conn).expect("row")
            }
            Cleanup::Schema(env, schema) => {
                let mut conn = env.admin(&env.database);
                conn.batch_execute(&format!("SET search_path TO {schema}"))
                    .expect("search path");
                query.first(&mut conn).expect("row")
            }
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

impl TestDb {
    /// Rows in a table, counted with plain SQL.
    pub fn count(&self, table: &str) -> i64 {
        use diesel::RunQueryDsl;
        let query = diesel::sql_query(format!("SELECT COUNT(*) AS n FROM {table}"));
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                let mut conn = diesel::SqliteConnection::establish(
                    dir.join("tm.db").to_str().expect("utf-8 path"),
                )
                .expect("open sqlite");
                query.get_result::<Count>(&mut conn).expect("count").n
            }
            Cleanup::Schema(env, schema) => {
                let mut conn = env.admin(&env.database);
                conn.batch_execute(&format!("SET search_path TO {schema}"))
                    .expect("search path");
                query.get_result::<Count>(&mut conn).expect("count").n
            }
        }
    }
}
