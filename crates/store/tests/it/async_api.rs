//! The async wrapper runs on tokio's blocking pool.

use tm_store::{AsyncStore, StoreOutcome};

use crate::support::{both_backends, copy_for, key, payload};

both_backends! {
    fn async_round_trip(db) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let store = AsyncStore::from(db.store.clone());
        runtime.block_on(async move {
            let full = payload("async", &[1, 2]);
            let hash = full.hash();
            assert_eq!(store.store_payload(copy_for(&full, 1)).await.expect("store"), StoreOutcome::Inserted);
            assert_eq!(store.store_payload(copy_for(&full, 2)).await.expect("merge"), StoreOutcome::Merged);
            let found = store.find_payload(hash.clone()).await.expect("find").expect("row");
            assert_eq!(found.payload.recipient_keys.len(), 2);
            assert_eq!(store.page_payloads(None, 10).await.expect("page").len(), 1);
            store.upsert_recipient(key(1), "http://a/".into()).await.expect("route");
            assert_eq!(store.list_peers().await.expect("peers").len(), 1);
            assert!(store.delete_payload(hash).await.expect("delete"));
            store.upcheck().await.expect("upcheck");
        });
    }
}

#[test]
fn async_connect() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = crate::support::sqlite_dir();
    let url = format!("jdbc:sqlite:{}", dir.join("a.db").display());
    runtime.block_on(async move {
        let store = AsyncStore::connect(url, None, None, true, 2)
            .await
            .expect("connect");
        assert_eq!(store.count_payloads().await.expect("count"), 0);
    });
    let _ = std::fs::remove_dir_all(dir);
}
