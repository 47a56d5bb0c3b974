//! Connection pools, per-connection SQLite settings, migrations and Tessera's startup check.

use std::fmt;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, Pool};
use diesel::sql_types::BigInt;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::db::Db;
use crate::url::{redact_url, scrub, DatabaseUrl, Secret, SqliteTarget};
use crate::StoreError;

/// Our migrations for PostgreSQL (`migrations/postgres`), compiled into the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Our migrations for SQLite (`migrations/sqlite`), compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Key of the PostgreSQL advisory lock that serialises migrations of instances starting
/// together ("tm_migra" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x746d_5f6d_6967_7261;

pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub(crate) type PgPool = Pool<ConnectionManager<PgConnection>>;

/// One pool per backend; the repository code runs on either through [`Db`].
pub(crate) enum Pools {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Everything that shapes the pool; [`crate::Store::connect`] fills the defaults.
#[derive(Clone)]
pub struct StoreSettings {
    /// Tessera's `jdbc.url`.
    pub url: String,
    /// `jdbc.username`.
    pub username: Option<String>,
    /// `jdbc.password` (already decrypted if it was `ENC(...)`).
    pub password: Option<Secret>,
    /// `jdbc.autoCreateTables` (docs/protocol.md §13.2).
    pub auto_create_tables: bool,
    /// Most connections the pool holds (ignored for `:memory:`, which has exactly one).
    pub pool_size: u32,
    /// How long a caller waits for a connection before [`StoreError::Unavailable`].
    pub connection_timeout: Duration,
    /// SQLite `busy_timeout`: how long a writer waits for another writer's lock.
    pub sqlite_busy_timeout: Duration,
    /// How payloads are hashed into the keys they are stored under (Orion mode's differs).
    pub digest: tm_core::PayloadDigest,
}

impl StoreSettings {
    /// Settings with our defaults for everything Tessera's config does not carry.
    pub fn new(
        url: impl Into<String>,
        username: Option<&str>,
        password: Option<&str>,
        auto_create_tables: bool,
        pool_size: u32,
    ) -> Self {
        Self {
            url: url.into(),
            username: username.map(str::to_owned),
            password: password.map(Secret::new),
            auto_create_tables,
            pool_size,
            connection_timeout: Duration::from_secs(5),
            sqlite_busy_timeout: Duration::from_secs(5),
            digest: tm_core::PayloadDigest::default(),
        }
    }
}

impl fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry `?password=`; the password field is a `Secret`.
        f.debug_struct("StoreSettings")
            .field("url", &redact_url(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auto_create_tables", &self.auto_create_tables)
            .field("pool_size", &self.pool_size)
            .field("connection_timeout", &self.connection_timeout)
            .field("sqlite_busy_timeout", &self.sqlite_busy_timeout)
            .finish()
    }
}

/// The pragmas every pooled SQLite connection gets.
#[derive(Debug)]
struct SqlitePragmas {
    busy_timeout_ms: u128,
}

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        // busy_timeout first, so switching to WAL waits for other connections instead of failing.
        // WAL lets readers run beside the one writer; NORMAL sync is durable in WAL mode except
        // for the last commits on power loss; foreign keys are off by default in SQLite.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            self.busy_timeout_ms
        ))
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// Logs pool errors (e.g. reconnect failures while the database is down) through tracing,
/// with the password scrubbed, instead of r2d2's default `log` output.
#[derive(Debug)]
struct ScrubbingErrorHandler {
    password: Option<Secret>,
}

impl HandleError<diesel::r2d2::Error> for ScrubbingErrorHandler {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        tracing::warn!(
            error = %scrub(&error.to_string(), self.password.as_ref()),
            "database connection error"
        );
    }
}

impl Pools {
    /// Builds the pool without connecting: a database that is down is reported by the first
    /// use, not by a hang or a panic here.
    pub(crate) fn build(url: &DatabaseUrl, settings: &StoreSettings) -> Self {
        let handler = Box::new(ScrubbingErrorHandler {
            password: url.password().cloned(),
        });
        let size = settings.pool_size.max(1);
        match url {
            DatabaseUrl::Sqlite(target) => {
                let (location, memory) = match target {
                    SqliteTarget::File(path) => (path.to_string_lossy().into_owned(), false),
                    SqliteTarget::Memory => (":memory:".to_owned(), true),
                };
                let builder = Pool::builder()
                    .connection_timeout(settings.connection_timeout)
                    .error_handler(handler)
                    .connection_customizer(Box::new(SqlitePragmas {
                        busy_timeout_ms: settings.sqlite_busy_timeout.as_millis(),
                    }));
                // Every `:memory:` connection is a separate database: keep exactly one, forever.
                let builder = if memory {
                    builder
                        .max_size(1)
                        .min_idle(Some(1))
                        .idle_timeout(None)
                        .max_lifetime(None)
                } else {
                    builder.max_size(size).min_idle(Some(1))
                };
                Self::Sqlite(builder.build_unchecked(ConnectionManager::new(location)))
            }
            DatabaseUrl::Postgres(pg) => Self::Postgres(
                Pool::builder()
                    .max_size(size)
                    .min_idle(Some(1))
                    .connection_timeout(settings.connection_timeout)
                    .error_handler(handler)
                    .build_unchecked(ConnectionManager::new(pg.conninfo())),
            ),
        }
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with_db<T>(
        &self,
        f: impl FnOnce(&mut dyn Db) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match self {
            Self::Sqlite(pool) => f(&mut *measured_get(pool, "sqlite")?),
            Self::Postgres(pool) => f(&mut *measured_get(pool, "postgresql")?),
        }
    }

    /// Creates the tables that are missing (`autoCreateTables = true`).
    pub(crate) fn migrate(&self) -> Result<(), StoreError> {
        let failed =
            |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Migration(e.to_string());
        match self {
            Self::Sqlite(pool) => {
                let mut conn = pool.get()?;
                conn.immediate_transaction(|c| {
                    c.run_pending_migrations(SQLITE_MIGRATIONS)
                        .map(|_| ())
                        .map_err(failed)
                })
            }
            Self::Postgres(pool) => {
                let mut conn = pool.get()?;
                // Instances starting at once would otherwise race on CREATE TABLE and on
                // diesel's version table; the transaction-scoped lock is released on commit,
                // rollback or a dropped connection, so it can never be left behind.
                conn.transaction(|c| {
                    diesel::sql_query("SELECT pg_advisory_xact_lock($1)")
                        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
                        .execute(c)?;
                    c.run_pending_migrations(POSTGRES_MIGRATIONS)
                        .map(|_| ())
                        .map_err(failed)
                })
            }
        }
    }

    /// Tessera's startup check: both transaction tables must answer. A database that cannot
    /// be reached is [`StoreError::Unavailable`]; one that answers with an error is
    /// [`StoreError::NotSetUp`] with Tessera's message.
    pub(crate) fn upcheck(&self, password: Option<&Secret>) -> Result<(), StoreError> {
        self.with_db(|db| match db.upcheck() {
            Ok(()) => Ok(()),
            Err(error) => match StoreError::from(error) {
                StoreError::Unavailable(message) => Err(StoreError::Unavailable(message)),
                other => {
                    tracing::error!(
                        cause = %scrub(&other.to_string(), password),
                        "transaction tables check failed"
                    );
                    Err(StoreError::NotSetUp)
                }
            },
        })
    }

    /// Whether our own tables (party store) exist; they are only created by migrations.
    pub(crate) fn has_own_tables(&self) -> Result<bool, StoreError> {
        self.with_db(|db| match db.find_peer("") {
            Ok(_) => Ok(true),
            Err(error) => match StoreError::from(error) {
                StoreError::Unavailable(message) => Err(StoreError::Unavailable(message)),
                _ => Ok(false),
            },
        })
    }
}

/// A connection from `pool`, with the wait and the pool's state recorded in the process's
/// metrics (`tm_db_pool_wait_seconds`, `tm_db_pool_connections`).
fn measured_get<M: diesel::r2d2::ManageConnection>(
    pool: &Pool<M>,
    database: &str,
) -> Result<diesel::r2d2::PooledConnection<M>, diesel::r2d2::PoolError> {
    let started = std::time::Instant::now();
    let connection = pool.get();
    let metrics = tm_metrics::metrics();
    tm_metrics::Metrics::observe(&metrics.db_pool_wait, &[database], started.elapsed());
    let state = pool.state();
    let idle = i64::from(state.idle_connections);
    let total = i64::from(state.connections);
    metrics
        .db_pool_connections
        .with_label_values(&["in_use"])
        .set(total - idle);
    metrics
        .db_pool_connections
        .with_label_values(&["idle"])
        .set(idle);
    connection
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::sql_types::{BigInt as SqlBigInt, Text};

    #[derive(QueryableByName)]
    struct Value {
        #[diesel(sql_type = Text)]
        value: String,
    }

    #[derive(QueryableByName)]
    struct Number {
        #[diesel(sql_type = SqlBigInt)]
        value: i64,
    }

    #[test]
    fn every_pooled_sqlite_connection_gets_the_pragmas() {
        let dir = std::env::temp_dir().join(format!("tm-store-pragmas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let url = format!("jdbc:sqlite:{}", dir.join("p.db").display());
        let settings = StoreSettings::new(url.clone(), None, None, true, 3);
        let parsed = DatabaseUrl::parse(&url, None, None).expect("url");
        let Pools::Sqlite(pool) = Pools::build(&parsed, &settings) else {
            panic!("sqlite pool")
        };
        // Hold several connections at once so more than one is created and customised.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = pool.get().expect("connection");
            let mode: Value =
                diesel::sql_query("SELECT journal_mode AS value FROM pragma_journal_mode")
                    .get_result(&mut *conn)
                    .expect("journal_mode");
            assert_eq!(mode.value.to_lowercase(), "wal");
            for (pragma, column, expected) in [
                ("foreign_keys", "foreign_keys", 1),
                ("busy_timeout", "timeout", 5000),
                ("synchronous", "synchronous", 1),
            ] {
                let n: Number =
                    diesel::sql_query(format!("SELECT {column} AS value FROM pragma_{pragma}"))
                        .get_result(&mut *conn)
                        .expect(pragma);
                assert_eq!(n.value, expected, "{pragma}");
            }
            held.push(conn);
        }
        drop(held);
        drop(pool);
        let _ = std::fs::remove_dir_all(dir);
    }
}
