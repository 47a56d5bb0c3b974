//! A PostgreSQL server that goes away or comes back read-only (a failover's demoted primary,
//! a standby): the pool drops its connections, callers get `Unavailable` (never a half-stored
//! transaction), the upcheck `/readiness` uses fails, and work resumes once a writable server
//! answers. Multi-host URLs reach the writable one.

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use tm_store::{Store, StoreError, StoreSettings};

use crate::support::{payload, pg_gate, unique_name, PgEnv};

/// A database of this test's own (so making it read-only touches no other test), dropped at
/// the end even if the test fails half-way.
struct OwnDatabase {
    env: PgEnv,
    name: String,
}

impl OwnDatabase {
    fn create() -> Self {
        let env = PgEnv::from_env();
        let name = unique_name("tm_ro");
        env.admin(&env.database)
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("the test role may create databases (.ci/postgres.sh gives it CREATEDB)");
        Self { env, name }
    }

    fn admin(&self, sql: &str) {
        self.env
            .admin(&self.env.database)
            .batch_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Every new session of the database defaults to read-only transactions, and the open
    /// ones are ended: what clients of a primary see when it comes back as a standby.
    fn turn_read_only(&self) {
        self.admin(&format!(
            "ALTER DATABASE {} SET default_transaction_read_only = on",
            self.name
        ));
        self.end_sessions();
    }

    fn turn_writable(&self) {
        self.admin(&format!(
            "ALTER DATABASE {} RESET default_transaction_read_only",
            self.name
        ));
    }

    fn end_sessions(&self) {
        self.admin(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            self.name
        ));
    }

    fn settings(&self, jdbc_url: String) -> StoreSettings {
        let mut settings = StoreSettings::new(
            jdbc_url,
            Some(&self.env.user),
            Some(&self.env.password),
            true,
            2,
        );
        settings.connection_timeout = Duration::from_secs(2);
        settings
    }

    fn single_host_url(&self) -> String {
        self.env.jdbc_url(&self.name, None)
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let mut admin = self.env.admin(&self.env.database);
        let _ = admin.batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}'; \
             DROP DATABASE IF EXISTS {}",
            self.name, self.name
        ));
    }
}

/// Polls `f` until it holds or `limit` passes (a bound against a hang, not a timing check).
fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_read_only_server_is_unavailable_and_work_resumes_when_it_takes_writes() {
    let _gate = pg_gate();
    let db = OwnDatabase::create();
    let store = Store::open(&db.settings(db.single_host_url())).expect("opens");
    let before = payload("failover-before", &[1]);
    store.store_payload(&before).expect("stored while writable");
    store.upcheck().expect("ready while writable");

    db.turn_read_only();
    // What /readiness asks (Node::readiness is this upcheck): not ready, and why. A pooled
    // connection checked less than PG_RECHECK_AFTER ago is handed out unchecked, so the first
    // call may fail on its ended session instead; that marks it, and the next call names the
    // reason.
    let first = store
        .upcheck()
        .expect_err("a read-only server is not ready");
    assert!(first.is_unavailable(), "{first:?}");
    let err = if first.to_string().contains("read-only") {
        first
    } else {
        store
            .upcheck()
            .expect_err("a read-only server is not ready")
    };
    assert!(err.is_unavailable(), "{err:?}");
    assert!(err.to_string().contains("read-only"), "{err}");
    assert!(
        !err.to_string().contains(&db.env.password),
        "no password in {err}"
    );
    // A send is refused whole: an error the caller sees, nothing stored.
    let during = payload("failover-during", &[2]);
    let err = store
        .store_payload(&during)
        .expect_err("no write on a read-only server");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(err, StoreError::Unavailable(_)));

    db.turn_writable();
    assert!(
        eventually(Duration::from_secs(30), || store.upcheck().is_ok()),
        "ready again once the server takes writes"
    );
    store
        .store_payload(&during)
        .expect("stored once writable again");
    let hash = store.hash_of(&during);
    assert!(store.find_payload(&hash).expect("read").is_some());
    assert!(store
        .find_payload(&store.hash_of(&before))
        .expect("read")
        .is_some());
    assert_eq!(store.count_payloads().expect("count"), 2);
}

#[test]
fn a_server_that_goes_away_leaves_the_pool() {
    let _gate = pg_gate();
    let db = OwnDatabase::create();
    // Checked on every checkout: the next calls get fresh connections instead of failing on
    // the dead ones.
    let mut settings = db.settings(db.single_host_url());
    settings.pg_recheck_after = Duration::ZERO;
    let store = Store::open(&settings).expect("opens");
    store
        .store_payload(&payload("gone-before", &[1]))
        .expect("stored");
    // Every pooled connection is killed under the pool (a primary that died).
    db.end_sessions();
    store
        .store_payload(&payload("gone-after", &[2]))
        .expect("a dead pooled connection is replaced, not used");
    db.end_sessions();
    store.upcheck().expect("ready on fresh connections");
    assert_eq!(store.count_payloads().expect("count"), 2);

    // With the default window (PG_RECHECK_AFTER), a connection checked a moment ago is handed
    // out unchecked: killed under the pool, it fails the one call that gets it, and that
    // failure has every pooled connection checked before its next use: one failed call, not
    // one per pooled connection.
    let store = Store::open(&db.settings(db.single_host_url())).expect("opens");
    store.upcheck().expect("ready");
    db.end_sessions();
    let mut failures = 0;
    for i in 0..6u8 {
        if store
            .store_payload(&payload(&format!("gone-window-{i}"), &[1]))
            .is_err()
        {
            failures += 1;
        }
    }
    assert!(failures <= 1, "at most one failed call, got {failures}");
    assert_eq!(store.count_payloads().expect("count"), 2 + 6 - failures);
}

#[test]
fn a_multi_host_url_reaches_the_writable_server() {
    let _gate = pg_gate();
    let db = OwnDatabase::create();
    let env = &db.env;
    // The first host refuses connections (nothing listens on port 1): libpq moves on.
    let url = format!(
        "jdbc:postgresql://127.0.0.1:1,{}:{}/{}?targetServerType=primary",
        env.host, env.port, db.name
    );
    let store = Store::open(&db.settings(url.clone())).expect("opens on the second host");
    store
        .store_payload(&payload("multi-host", &[1]))
        .expect("stored through the second host");

    // With only a read-only server left, libpq's read-write check refuses it at connect.
    db.turn_read_only();
    let err = store.upcheck().expect_err("no primary reachable");
    assert!(err.is_unavailable(), "{err:?}");
    let err = Store::open(&db.settings(url)).expect_err("no primary to start on");
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!format!("{err} {err:?}").contains(&env.password), "{err}");
}

#[test]
fn a_bad_target_server_type_is_a_config_error() {
    let env = PgEnv::from_env();
    let url = format!(
        "jdbc:postgresql://{}:{}/{}?targetServerType=leader",
        env.host, env.port, env.database
    );
    let err = Store::connect(&url, Some(&env.user), Some(&env.password), false, 1)
        .expect_err("unknown targetServerType");
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
    assert!(err.to_string().contains("targetServerType"), "{err}");
    assert!(!err.to_string().contains(&env.password), "{err}");
}
