//! Startup: autoCreateTables, Tessera's check, migrations racing, URL errors.

use std::sync::{Arc, Barrier};

use diesel::connection::SimpleConnection;
use tm_store::{Store, StoreError, NOT_SET_UP_MESSAGE};

use crate::support::{pg_gate, sqlite_dir, unique_name, Backend, PgEnv, TestDb};

#[test]
fn sqlite_without_auto_create_creates_nothing() {
    let dir = sqlite_dir();
    let path = dir.join("absent.db");
    let url = format!("jdbc:sqlite:{}", path.display());
    let err = Store::connect(&url, None, None, false, 2).expect_err("no database");
    assert!(matches!(err, StoreError::NotSetUp));
    assert_eq!(err.to_string(), NOT_SET_UP_MESSAGE);
    assert!(!path.exists(), "no file was created");

    // An existing file without the tables fails the same way and stays empty.
    let mut conn =
        <diesel::SqliteConnection as diesel::Connection>::establish(path.to_str().expect("utf-8"))
            .expect("create empty db");
    conn.batch_execute("CREATE TABLE unrelated (x INTEGER)")
        .expect("create");
    drop(conn);
    let err = Store::connect(&url, None, None, false, 2).expect_err("no tables");
    assert_eq!(err.to_string(), NOT_SET_UP_MESSAGE);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn postgres_without_auto_create_creates_nothing() {
    let _gate = pg_gate();
    let env = PgEnv::from_env();
    let schema = unique_name("t");
    let mut admin = env.admin(&env.database);
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("schema");
    let url = env.jdbc_url(&env.database, Some(&schema));
    let err = Store::connect(&url, Some(&env.user), Some(&env.password), false, 2)
        .expect_err("no tables");
    assert!(matches!(err, StoreError::NotSetUp), "{err:?}");
    assert_eq!(err.to_string(), NOT_SET_UP_MESSAGE);
    let tables = count_tables(&mut admin, &schema);
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .expect("drop");
    assert_eq!(tables, 0, "nothing was created");
}

fn count_tables(conn: &mut diesel::PgConnection, schema: &str) -> i64 {
    use diesel::prelude::*;
    #[derive(QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(format!(
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = '{schema}'"
    ))
    .get_result::<Count>(conn)
    .expect("count")
    .n
}

mod both {
    use super::*;
    use crate::support::both_backends;

    both_backends! {
        fn auto_create_is_idempotent_and_keeps_data(db) {
            let p = crate::support::payload("idempotent", &[1]);
            db.store.store_payload(&p).expect("store");
            // A restart with autoCreateTables, and one without, find the data.
            let again = db.another_instance(true, 2);
            assert!(again.find_payload(&p.hash()).expect("find").is_some());
            let plain = db.another_instance(false, 2);
            assert!(plain.find_payload(&p.hash()).expect("find").is_some());
            plain.upcheck().expect("upcheck");
        }

        fn auto_create_empties_staging(db) {
            db.exec(
                "INSERT INTO st_transaction (id, payload_codec, hash, privacy_mode, timestamp) \
                 VALUES (1, 'LEGACY', 'aGFzaA==', 0, 1); \
                 INSERT INTO st_affected_transaction (id, affected_hash, txn_id) VALUES (1, 'eA==', 1);",
            );
            // Without autoCreateTables the staging rows stay (Tessera's schema action "none").
            let _plain = db.another_instance(false, 1);
            assert_eq!(staging_rows(db), 2);
            let _restart = db.another_instance(true, 1);
            assert_eq!(staging_rows(db), 0);
        }
    }

    fn staging_rows(db: &TestDb) -> i64 {
        db.count("st_transaction") + db.count("st_affected_transaction")
    }
}

#[test]
fn instances_starting_together_do_not_race_on_migrations() {
    let _gate = pg_gate();
    let env = PgEnv::from_env();
    let schema = unique_name("t");
    env.admin(&env.database)
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("schema");
    let url = env.jdbc_url(&env.database, Some(&schema));
    let instances = 6;
    let barrier = Arc::new(Barrier::new(instances));
    let handles: Vec<_> = (0..instances)
        .map(|_| {
            let (url, env, barrier) = (url.clone(), env.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                Store::connect(&url, Some(&env.user), Some(&env.password), true, 1).map(|_| ())
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    env.admin(&env.database)
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .expect("drop");
    for result in results {
        result.expect("every instance starts");
    }
}

#[test]
fn sqlite_instances_starting_together() {
    let db = TestDb::new(Backend::Sqlite);
    // A second and third process-like pool on the same file start while the first runs.
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let settings = db.settings(true, 2);
            std::thread::spawn(move || Store::open(&settings).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().expect("thread").expect("starts");
    }
}

#[test]
fn unsupported_urls_are_refused_clearly() {
    for url in [
        "jdbc:h2:/tmp/db1;MODE=Oracle",
        "jdbc:hsqldb:file:/tmp/x",
        "jdbc:oracle:thin:@h:1521:x",
    ] {
        let err = Store::connect(url, None, None, true, 1).expect_err(url);
        assert!(matches!(err, StoreError::UnsupportedUrl { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains("jdbc:postgresql://") && text.contains("jdbc:sqlite:"),
            "{text}"
        );
    }
}
