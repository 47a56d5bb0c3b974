//! ENCRYPTED_TRANSACTION through the repository, on both backends.

use std::collections::BTreeSet;

use tm_core::{PayloadCodec, TxHash};
use tm_store::{StoreError, StoreOutcome};

use crate::support::{both_backends, copy_for, key, now_millis, payload, TestDb};

/// Inserts a row as Tessera wrote it before CBOR: LEGACY bytes, NULL codec.
fn insert_legacy_row(db: &TestDb, p: &tm_core::EncodedPayload) {
    let bytes = PayloadCodec::Legacy.encode(p);
    let hash = p.hash();
    db.exec(&format!(
        "INSERT INTO encrypted_transaction (hash, encoded_payload, payload_codec, timestamp) \
         VALUES ({}, {}, NULL, 1600000000000)",
        sql_bytes(db, hash.as_bytes()),
        sql_bytes(db, &bytes)
    ));
}

/// A byte-string literal for either backend.
pub fn sql_bytes(db: &TestDb, bytes: &[u8]) -> String {
    match db.backend {
        crate::support::Backend::Sqlite => format!("X'{}'", hex::encode(bytes)),
        crate::support::Backend::Postgres => format!("'\\x{}'::bytea", hex::encode(bytes)),
    }
}

both_backends! {
    fn store_then_find(db) {
        let p = payload("store_then_find", &[1, 2]);
        let before = now_millis();
        assert_eq!(db.store.store_payload(&p).expect("store"), StoreOutcome::Inserted);
        let found = db.store.find_payload(&p.hash()).expect("find").expect("present");
        assert_eq!(found.hash, p.hash());
        assert_eq!(found.payload, p);
        assert_eq!(found.codec, PayloadCodec::Cbor);
        let ts = found.timestamp.expect("timestamp set");
        assert!(ts >= before && ts <= now_millis() + 1, "timestamp {ts} is epoch ms");
        assert!(db.store.find_payload(&TxHash::from_bytes(vec![0; 64])).expect("find").is_none());
        assert_eq!(db.store.count_payloads().expect("count"), 1);
    }

    fn stored_bytes_are_cbor_with_codec_column(db) {
        let p = payload("cbor_column", &[1]);
        db.store.store_payload(&p).expect("store");
        // The row itself: PAYLOAD_CODEC is "CBOR" and ENCODED_PAYLOAD is the CBOR encoding.
        let (codec, bytes) = db.raw_row(&p.hash());
        assert_eq!(codec.as_deref(), Some("CBOR"));
        assert_eq!(bytes, PayloadCodec::Cbor.encode(&p));
    }

    fn same_hash_merges_boxes(db) {
        let full = payload("merge", &[1, 2, 3]);
        let hash = full.hash();
        assert_eq!(db.store.store_payload(&copy_for(&full, 1)).expect("first"), StoreOutcome::Inserted);
        assert_eq!(db.store.store_payload(&copy_for(&full, 2)).expect("second"), StoreOutcome::Merged);
        assert_eq!(db.store.store_payload(&copy_for(&full, 2)).expect("again"), StoreOutcome::Unchanged);
        let stored = db.store.find_payload(&hash).expect("find").expect("row").payload;
        // Tessera prepends the newer recipient.
        assert_eq!(stored.recipient_keys, vec![key(2), key(1)]);
        assert_eq!(stored.recipient_boxes, vec![full.recipient_boxes[1].clone(), full.recipient_boxes[0].clone()]);
        assert_eq!(db.store.count_payloads().expect("count"), 1);
    }

    fn a_batch_is_stored_whole(db) {
        let first = payload("batch_whole_1", &[1]);
        let second = payload("batch_whole_2", &[1, 2]);
        let outcomes = db.store.store_payloads(&[first.clone(), second.clone()]).expect("batch");
        assert_eq!(outcomes, vec![StoreOutcome::Inserted, StoreOutcome::Inserted]);
        assert!(db.store.find_payload(&first.hash()).expect("find").is_some());
        assert!(db.store.find_payload(&second.hash()).expect("find").is_some());
        assert_eq!(db.store.count_payloads().expect("count"), 2);
    }

    fn a_batch_with_a_refused_payload_stores_nothing(db) {
        let held = payload("batch_held", &[1]);
        db.store.store_payload(&held).expect("store");
        let before = db.raw_row(&held.hash());
        // The first entry is new, the second conflicts with the row we hold.
        let fresh = payload("batch_fresh", &[1]);
        let mut conflicting = copy_for(&payload("batch_held", &[2]), 2);
        conflicting.sender = key(0x77);
        match db.store.store_payloads(&[fresh.clone(), conflicting]) {
            Err(StoreError::InvalidExistingTransaction { hash }) => {
                assert_eq!(hash, held.hash().to_base64())
            }
            other => panic!("expected InvalidExistingTransaction, got {other:?}"),
        }
        assert!(db.store.find_payload(&fresh.hash()).expect("find").is_none(), "first entry rolled back");
        assert_eq!(db.store.count_payloads().expect("count"), 1);
        assert_eq!(db.raw_row(&held.hash()), before, "held row unchanged");
    }

    fn conflicting_existing_transaction_is_refused(db) {
        let p = payload("conflict", &[1]);
        db.store.store_payload(&p).expect("store");
        let mut other = copy_for(&payload("conflict", &[2]), 2);
        other.sender = key(0x77);
        match db.store.store_payload(&other) {
            Err(StoreError::InvalidExistingTransaction { hash }) => assert_eq!(hash, p.hash().to_base64()),
            other => panic!("expected InvalidExistingTransaction, got {other:?}"),
        }
        // The stored copy is untouched.
        assert_eq!(db.store.find_payload(&p.hash()).expect("find").expect("row").payload, p);
    }

    fn legacy_rows_read_and_update_with_their_codec(db) {
        let full = payload("legacy", &[1, 2]);
        insert_legacy_row(db, &copy_for(&full, 1));
        let found = db.store.find_payload(&full.hash()).expect("find").expect("row");
        assert_eq!(found.codec, PayloadCodec::Legacy);
        assert_eq!(found.timestamp, Some(1_600_000_000_000));
        assert_eq!(db.store.store_payload(&copy_for(&full, 2)).expect("merge"), StoreOutcome::Merged);
        let found = db.store.find_payload(&full.hash()).expect("find").expect("row");
        assert_eq!(found.codec, PayloadCodec::Legacy, "updates keep the row's codec");
        assert_eq!(found.timestamp, Some(1_600_000_000_000), "updates keep the insert time");
        assert_eq!(found.payload.recipient_keys, vec![key(2), key(1)]);
    }

    fn unknown_codec_is_a_corrupt_row(db) {
        let p = payload("corrupt", &[1]);
        db.store.store_payload(&p).expect("store");
        db.exec("UPDATE encrypted_transaction SET payload_codec = 'XML'");
        match db.store.find_payload(&p.hash()) {
            Err(StoreError::CorruptRow { hash, .. }) => assert_eq!(hash, p.hash().to_base64()),
            other => panic!("expected CorruptRow, got {other:?}"),
        }
    }

    fn upsert_with_custom_merge(db) {
        let p = payload("custom", &[1]);
        let hash = p.hash();
        let mut calls = 0;
        let outcome = db.store.upsert_payload_with(&hash, |existing| {
            calls += 1;
            assert!(existing.is_none());
            Ok(Some(p.clone()))
        }).expect("insert");
        assert_eq!((outcome, calls), (StoreOutcome::Inserted, 1));
        let outcome = db.store.upsert_payload_with(&hash, |existing| {
            let mut updated = existing.expect("stored").clone();
            updated.recipient_keys.push(key(9));
            updated.recipient_boxes.push(tm_core::payload::RecipientBox(vec![9; 48]));
            Ok(Some(updated))
        }).expect("update");
        assert_eq!(outcome, StoreOutcome::Merged);
        let keys = db.store.find_payload(&hash).expect("find").expect("row").payload.recipient_keys;
        assert_eq!(keys, vec![key(1), key(9)]);
        // An error from the closure rolls back and reaches the caller.
        let err = db.store.upsert_payload_with(&hash, |_| Err(StoreError::Database("no".into())));
        assert!(matches!(err, Err(StoreError::Database(_))));
    }

    fn delete_payload(db) {
        let p = payload("delete", &[1]);
        db.store.store_payload(&p).expect("store");
        assert!(db.store.delete_payload(&p.hash()).expect("delete"));
        assert!(!db.store.delete_payload(&p.hash()).expect("delete again"));
        assert!(db.store.find_payload(&p.hash()).expect("find").is_none());
    }

    fn find_many(db) {
        let stored: Vec<_> = (0..5).map(|i| payload(&format!("many{i}"), &[1])).collect();
        for p in &stored {
            db.store.store_payload(p).expect("store");
        }
        let wanted = vec![stored[1].hash(), stored[3].hash(), TxHash::from_bytes(vec![7; 64])];
        let found: BTreeSet<TxHash> = db.store.find_payloads(&wanted).expect("find").into_iter().map(|t| t.hash).collect();
        assert_eq!(found, BTreeSet::from([stored[1].hash(), stored[3].hash()]));
        assert!(db.store.find_payloads(&[]).expect("empty").is_empty());
    }

    fn paging_visits_every_row_once(db) {
        let mut expected = BTreeSet::new();
        for i in 0..25 {
            let p = payload(&format!("page{i}"), &[1]);
            expected.insert(p.hash());
            db.store.store_payload(&p).expect("store");
        }
        let mut seen = Vec::new();
        let mut after: Option<TxHash> = None;
        let mut pages = 0;
        loop {
            let page = db.store.page_payloads(after.as_ref(), 10).expect("page");
            if page.is_empty() {
                break;
            }
            pages += 1;
            if pages == 2 {
                // Rows added or removed mid-walk do not make the walk skip or repeat others.
                let extra = payload("page-extra", &[1]);
                db.store.store_payload(&extra).expect("store extra");
                expected.insert(extra.hash());
                db.store.delete_payload(&seen[0]).expect("delete seen");
            }
            after = page.last().map(|t| t.hash.clone());
            seen.extend(page.into_iter().map(|t| t.hash));
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), seen.len(), "no hash twice");
        assert_eq!(seen, sorted, "hash order");
        let seen: BTreeSet<TxHash> = seen.into_iter().collect();
        let extra = payload("page-extra", &[1]).hash();
        let mut must_see = expected.clone();
        // The extra row lands wherever its hash sorts; it is seen iff it sorts after the cursor.
        must_see.remove(&extra);
        assert!(must_see.is_subset(&seen));
        assert!(seen.is_subset(&expected));
    }
}
