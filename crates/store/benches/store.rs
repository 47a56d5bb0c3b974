//! Inserts and lookups per second on each backend.
//!
//! SQLite uses a file under the target directory; PostgreSQL uses a fresh schema on
//! `TM_TEST_POSTGRES_URL` (default: the server of `.ci/postgres.sh`) and is skipped, with a
//! printed line, when that server is unreachable.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use tm_core::payload::{Nonce, RecipientBox};
use tm_core::{EncodedPayload, PublicKey, TxHash};
use tm_store::Store;

const DEFAULT_POSTGRES_URL: &str = "postgres://tm:tm-test-pw@127.0.0.1:55432/tm";
const PRELOADED: u64 = 2_000;

fn payload(n: u64) -> EncodedPayload {
    EncodedPayload {
        sender: PublicKey::from_bytes(vec![7; 32]),
        cipher_text: format!("bench cipher text {n} {}", "x".repeat(200)).into_bytes(),
        cipher_text_nonce: Nonce(vec![1; 24]),
        recipient_nonce: Nonce(vec![2; 24]),
        recipient_keys: vec![PublicKey::from_bytes(vec![3; 32])],
        recipient_boxes: vec![RecipientBox(vec![4; 48])],
        ..EncodedPayload::default()
    }
}

fn bench_backend(c: &mut Criterion, name: &str, store: &Store) {
    static NEXT: AtomicU64 = AtomicU64::new(1_000_000);
    let hashes: Vec<TxHash> = (0..PRELOADED)
        .map(|n| {
            let p = payload(n);
            store.store_payload(&p).expect("preload");
            p.hash()
        })
        .collect();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("insert", |b| {
        b.iter(|| {
            let p = payload(NEXT.fetch_add(1, Ordering::Relaxed));
            store.store_payload(&p).expect("insert")
        })
    });
    let mut i = 0usize;
    group.bench_function("lookup", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            store.find_payload(&hashes[i]).expect("lookup")
        })
    });
    // What a send does for each remote recipient: its route, then its peer's row (both by
    // primary key, as `find_recipient` and `find_peer` are on the send path).
    let peers: Vec<(PublicKey, String)> = (0..100u8)
        .map(|n| {
            let url = format!("http://peer{n}.bench:9001/");
            let key = PublicKey::from_bytes(vec![n; 32]);
            store.add_peer(&url).expect("peer");
            store.upsert_recipient(&key, &url).expect("route");
            (key, url)
        })
        .collect();
    let mut j = 0usize;
    group.bench_function("route lookup", |b| {
        b.iter(|| {
            j = (j + 1) % peers.len();
            let (key, url) = &peers[j];
            let route = store.find_recipient(key).expect("route");
            let peer = store.find_peer(url).expect("peer");
            (route, peer)
        })
    });
    group.finish();
}

fn sqlite(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("tm-store-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench dir");
    let url = format!("jdbc:sqlite:{}", dir.join("bench.db").display());
    let store = Store::connect(&url, None, None, true, 4).expect("sqlite store");
    bench_backend(c, "sqlite", &store);
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
}

fn postgres(c: &mut Criterion) {
    let url =
        std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let mut admin = match PgConnection::establish(&format!("{url}?connect_timeout=3")) {
        Ok(conn) => conn,
        Err(_) => {
            println!("postgres benchmarks skipped: no server at TM_TEST_POSTGRES_URL (run .ci/postgres.sh)");
            return;
        }
    };
    let Some((user, password, host, database)) = split(&url) else {
        println!("postgres benchmarks skipped: TM_TEST_POSTGRES_URL is not postgres://user:password@host:port/db");
        return;
    };
    let schema = format!("bench_{}", std::process::id());
    admin
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .expect("schema");
    let jdbc = format!("jdbc:postgresql://{host}/{database}?currentSchema={schema}");
    let store = Store::connect(&jdbc, Some(&user), Some(&password), true, 4).expect("pg store");
    bench_backend(c, "postgres", &store);
    drop(store);
    let _ = admin.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"));
}

/// `postgres://user:password@host:port/db` into its parts.
fn split(url: &str) -> Option<(String, String, String, String)> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let (userinfo, location) = rest.split_once('@')?;
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, database) = location.split_once('/')?;
    Some((
        user.to_owned(),
        password.to_owned(),
        host.to_owned(),
        database.split('?').next().unwrap_or("").to_owned(),
    ))
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = sqlite, postgres
}
criterion_main!(benches);
