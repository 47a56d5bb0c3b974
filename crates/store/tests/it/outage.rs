//! PostgreSQL stopped under a running store: errors, not panics; back to work when it returns.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use tm_store::{Store, StoreError, StoreSettings};

use crate::support::{payload, unique_name, PgEnv, PG_GATE};

/// The script that runs the test server (`TM_TEST_POSTGRES_SCRIPT` overrides it for a server
/// managed differently; it must accept `stop` and `start`).
fn control(action: &str) {
    let script = std::env::var("TM_TEST_POSTGRES_SCRIPT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres.sh")
        });
    let status = Command::new("bash")
        .arg(&script)
        .arg(action)
        .status()
        .unwrap_or_else(|e| panic!("run {} {action}: {e}", script.display()));
    assert!(status.success(), "{} {action} failed", script.display());
}

/// Starts the server again even if the test fails half-way.
struct RestartOnDrop;

impl Drop for RestartOnDrop {
    fn drop(&mut self) {
        control("start");
    }
}

#[test]
fn database_down_then_back() {
    // Exclusive: no other PostgreSQL test runs while the server is down.
    let _exclusive = PG_GATE.write().unwrap_or_else(|e| e.into_inner());
    let env = PgEnv::from_env();
    let schema = unique_name("t");
    env.admin(&env.database)
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("schema");
    let mut settings = StoreSettings::new(
        env.jdbc_url(&env.database, Some(&schema)),
        Some(&env.user),
        Some(&env.password),
        true,
        3,
    );
    settings.connection_timeout = Duration::from_secs(2);
    let store = Store::open(&settings).expect("opens");
    let before = payload("outage-before", &[1]);
    store.store_payload(&before).expect("store while up");

    let restart = RestartOnDrop;
    control("stop");
    let started = Instant::now();
    for _ in 0..3 {
        match store.find_payload(&before.hash()) {
            Err(err @ StoreError::Unavailable(_)) => assert!(err.is_unavailable()),
            other => panic!("expected Unavailable while down, got {other:?}"),
        }
    }
    match store.store_payload(&payload("outage-during", &[1])) {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable while down, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "errors come within the timeout"
    );

    drop(restart); // starts the server
    let during = payload("outage-after", &[1]);
    let deadline = Instant::now() + Duration::from_secs(20);
    let found = loop {
        match store.find_payload(&before.hash()) {
            Ok(found) => break found,
            Err(StoreError::Unavailable(_)) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(other) => panic!("pool did not recover: {other:?}"),
        }
    };
    assert!(found.is_some(), "data survived the restart");
    store.store_payload(&during).expect("writes work again");
    store.upcheck().expect("upcheck");
    env.admin(&env.database)
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .expect("drop");
}
