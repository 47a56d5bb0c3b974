//! Connection pools, per-connection SQLite settings, migrations and Tessera's startup check.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, HandleError, ManageConnection, Pool};
use diesel::sql_types::{BigInt, Bool};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::db::Db;
use crate::url::{redact_url, scrub, DatabaseUrl, PostgresTarget, Secret, SqliteTarget};
use crate::StoreError;

/// Our migrations for PostgreSQL (`migrations/postgres`), compiled into the binary.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
/// Our migrations for SQLite (`migrations/sqlite`), compiled into the binary.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// Key of the PostgreSQL advisory lock that serialises migrations of instances starting
/// together ("tm_migra" in ASCII).
pub const MIGRATION_LOCK_KEY: i64 = 0x746d_5f6d_6967_7261;

pub(crate) type SqlitePool = Pool<ConnectionManager<SqliteConnection>>;
pub(crate) type PgPool = Pool<PgManager>;

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
    /// PostgreSQL: how long after its last check a pooled connection is handed out again
    /// without checking that its server still takes writes ([`PG_RECHECK_AFTER`]; zero checks
    /// every checkout).
    pub pg_recheck_after: Duration,
}

/// How long a PostgreSQL connection checked writable is handed out without a new check. Under
/// load each connection leaves the pool many times a second: checking every checkout was one
/// extra round trip per store call (docs/benchmarks.md, "Send path work, second part");
/// within this window a server demoted under the connection fails the write itself (503,
/// `read-only transaction`), as it would between a check and the write anyway.
pub const PG_RECHECK_AFTER: Duration = Duration::from_secs(1);

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
            pg_recheck_after: PG_RECHECK_AFTER,
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

/// The page cache of each pooled SQLite connection, in KiB (`PRAGMA cache_size`).
const SQLITE_CACHE_KIB: i64 = 1024;

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
        // Each connection's page cache is held to SQLITE_CACHE_KIB (SQLite's default is 2 MiB,
        // 20 MiB over a full pool: a service reading at full speed grew past 30 MiB resident
        // with it); pages it drops stay in the operating system's page cache.
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -{SQLITE_CACHE_KIB};",
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

/// The text of the error a read-only server gives: when no primary answers, it is what a
/// caller waiting for a connection (and `/readiness`) is told.
pub(crate) const READ_ONLY_SERVER: &str = "the PostgreSQL server is read-only (a standby, or \
     default_transaction_read_only is on): no primary is reachable";

/// PostgreSQL connections for r2d2 that only ever hand out a connection to a server that
/// takes writes (unless the URL asks for a standby).
///
/// After a failover the old primary is gone or comes back as a standby, and a server can be
/// made read-only by its operator: a pooled connection to it would fail every write. So a new
/// connection is refused when its server is read-only, and every connection is checked again
/// as it leaves the pool (r2d2's `test_on_check_out`), with one query that replaces diesel's
/// `SELECT 1`: a connection whose server died or turned read-only is dropped there, and the
/// caller gets another one or, once `connection_timeout` has passed without one, an
/// [`StoreError::Unavailable`] that names the reason. libpq's `target_session_attrs` already
/// picks a writable host among several; this check also covers a single host and a server
/// that changes role under an open connection.
///
/// A connection checked less than `recheck_after` ago is handed out unchecked (see
/// [`PG_RECHECK_AFTER`]), unless a call on any connection of the pool has failed since: then
/// every connection is checked again before its next use, so connections all ended together
/// (a primary that died or restarted) fail at most the calls already running on them.
#[derive(Debug)]
pub(crate) struct PgManager {
    inner: ConnectionManager<PgConnection>,
    require_writable: bool,
    recheck_after: Duration,
    /// Bumped by every failed call: a connection checked before the last bump is checked again.
    failures: Arc<AtomicU64>,
}

impl PgManager {
    fn new(target: &PostgresTarget, recheck_after: Duration) -> Self {
        Self {
            inner: ConnectionManager::new(target.conninfo()),
            require_writable: !target.target_session_attrs().wants_read_only(),
            recheck_after,
            failures: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// A pooled PostgreSQL connection, and when it was last found to take writes (alive, for a
/// standby URL) with the pool's failure count at that time.
pub(crate) struct PgConn {
    conn: PgConnection,
    checked: (Instant, u64),
    failures: Arc<AtomicU64>,
}

impl PgConn {
    /// A call on this connection failed: the pool's failure count moves on, so this and every
    /// other connection of the pool is checked before its next use.
    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::AcqRel);
    }
}

impl std::ops::Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl std::ops::DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

#[derive(QueryableByName)]
struct ServerRole {
    #[diesel(sql_type = Bool)]
    standby: bool,
    #[diesel(sql_type = Bool)]
    read_only: bool,
}

/// Whether the server behind `conn` takes writes now: not in recovery (a standby) and not
/// defaulting to read-only transactions (what libpq's `read-write` checks at connect).
fn check_writable(conn: &mut PgConnection) -> Result<(), diesel::r2d2::Error> {
    let role: ServerRole = diesel::sql_query(
        "SELECT pg_is_in_recovery() AS standby, \
         current_setting('transaction_read_only') = 'on' AS read_only",
    )
    .get_result(conn)
    .map_err(diesel::r2d2::Error::QueryError)?;
    if role.standby || role.read_only {
        return Err(diesel::r2d2::Error::ConnectionError(
            ConnectionError::BadConnection(READ_ONLY_SERVER.to_owned()),
        ));
    }
    Ok(())
}

impl ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConn, Self::Error> {
        let failures = self.failures.load(Ordering::Acquire);
        let mut conn = self.inner.connect()?;
        if self.require_writable {
            check_writable(&mut conn)?;
        }
        Ok(PgConn {
            conn,
            checked: (Instant::now(), failures),
            failures: Arc::clone(&self.failures),
        })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), Self::Error> {
        let failures = self.failures.load(Ordering::Acquire);
        let (at, failures_then) = conn.checked;
        if at.elapsed() < self.recheck_after && failures_then == failures {
            return Ok(());
        }
        if self.require_writable {
            check_writable(&mut conn.conn)?;
        } else {
            self.inner.is_valid(&mut conn.conn)?;
        }
        conn.checked = (Instant::now(), failures);
        Ok(())
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        self.inner.has_broken(&mut conn.conn)
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
                // A connection to a database file cannot go stale: no `SELECT 1` on every
                // checkout (r2d2's default test), which was 1 % of a send's CPU.
                let builder = Pool::builder()
                    .connection_timeout(settings.connection_timeout)
                    .test_on_check_out(false)
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
                    .test_on_check_out(true)
                    .build_unchecked(PgManager::new(pg, settings.pg_recheck_after)),
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
            Self::Postgres(pool) => {
                let mut conn = measured_get(pool, "postgresql")?;
                let result = f(&mut **conn);
                if result.is_err() {
                    // Whatever failed, the pool's connections are checked before their next use.
                    conn.failed();
                }
                result
            }
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

    #[derive(QueryableByName)]
    struct Backend {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }

    fn backend_pid(conn: &mut PgConnection) -> i32 {
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result::<Backend>(conn)
            .expect("backend pid")
            .pid
    }

    /// The test server (`TM_TEST_POSTGRES_URL`, default `.ci/postgres.sh`'s) as a jdbc URL.
    fn pg_pool(url: &DatabaseUrl, settings: &StoreSettings) -> PgPool {
        let Pools::Postgres(pool) = Pools::build(url, settings) else {
            panic!("postgres pool")
        };
        pool
    }

    /// Takes a connection from `pool`, makes its session default to read-only transactions (as
    /// every open session of a primary does when its operator sets
    /// `default_transaction_read_only` and reloads) and returns it to the pool: its backend pid.
    fn pooled_session_turned_read_only(pool: &PgPool) -> i32 {
        let mut conn = pool.get().expect("connection");
        conn.batch_execute("SET default_transaction_read_only = on")
            .expect("set");
        backend_pid(&mut conn)
    }

    fn test_server(extra: &str) -> (DatabaseUrl, StoreSettings) {
        let url = std::env::var("TM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://tm:tm-test-pw@127.0.0.1:55432/tm".to_owned());
        let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
        let (userinfo, location) = rest.split_once('@').expect("user:password@ in the URL");
        let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
        let location = location.split('?').next().unwrap_or(location);
        let jdbc = format!("jdbc:postgresql://{location}{extra}");
        let mut settings = StoreSettings::new(jdbc.clone(), Some(user), Some(password), false, 1);
        settings.connection_timeout = Duration::from_secs(5);
        let parsed = DatabaseUrl::parse(&jdbc, Some(user), Some(password)).expect("url");
        (parsed, settings)
    }

    #[test]
    fn a_pooled_connection_whose_server_turned_read_only_leaves_the_pool() {
        let (url, mut settings) = test_server("");
        settings.pg_recheck_after = Duration::ZERO;
        let pool = pg_pool(&url, &settings);
        let first = {
            let mut conn = pool
                .get()
                .expect("PostgreSQL at the test server (bash .ci/postgres.sh)");
            let pid = backend_pid(&mut conn);
            // Same connection back from the pool while its server takes writes.
            drop(conn);
            let mut again = pool.get().expect("connection");
            assert_eq!(
                backend_pid(&mut again),
                pid,
                "a healthy connection is reused"
            );
            // This session now sees a read-only server, as every open session of a primary
            // does when its operator sets default_transaction_read_only and reloads.
            again
                .batch_execute("SET default_transaction_read_only = on")
                .expect("set");
            pid
        };
        // The only pooled connection is read-only: it is dropped on checkout and replaced.
        let mut conn = pool.get().expect("a fresh connection");
        assert_ne!(
            backend_pid(&mut conn),
            first,
            "the read-only connection left the pool"
        );
        conn.batch_execute("CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1)")
            .expect("the fresh connection takes writes");
    }

    #[test]
    fn a_connection_checked_within_the_recheck_window_is_handed_out_unchecked() {
        // PG_RECHECK_AFTER: no check query while the last one is recent; the server's own
        // refusal covers a write in that window, and the next checkout after it drops the
        // connection.
        let (url, mut settings) = test_server("");
        settings.pg_recheck_after = Duration::from_millis(400);
        let pool = pg_pool(&url, &settings);
        let pid = pooled_session_turned_read_only(&pool);
        {
            let mut conn = pool.get().expect("connection");
            assert_eq!(backend_pid(&mut conn), pid, "not checked within the window");
            let refused = conn
                .batch_execute("CREATE TEMP TABLE t (x int)")
                .expect_err("the server refuses the write");
            assert!(
                refused.to_string().contains("read-only transaction"),
                "{refused}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut conn = pool.get().expect("a fresh connection");
        assert_ne!(
            backend_pid(&mut conn),
            pid,
            "checked after the window, the read-only connection left the pool"
        );
    }

    #[test]
    fn a_standby_url_keeps_read_only_connections() {
        // The operator asked for a server that takes no writes: the check is theirs.
        let (url, settings) = test_server("?targetServerType=preferSecondary");
        let pool = pg_pool(&url, &settings);
        let pid = pooled_session_turned_read_only(&pool);
        let mut conn = pool.get().expect("connection");
        assert_eq!(backend_pid(&mut conn), pid);
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
                ("cache_size", "cache_size", -SQLITE_CACHE_KIB),
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
