//! ENCRYPTED_RAW_TRANSACTION, on both backends.

use tm_core::TxHash;
use tm_store::EncryptedRawTransaction;

use crate::support::{both_backends, key, now_millis};

fn raw(tag: u8) -> EncryptedRawTransaction {
    let encrypted_payload = vec![tag; 100];
    EncryptedRawTransaction {
        hash: TxHash::of_cipher_text(&encrypted_payload),
        encrypted_payload,
        encrypted_key: vec![tag ^ 1; 48],
        nonce: vec![tag ^ 2; 24],
        sender: key(tag),
        timestamp: None,
    }
}

both_backends! {
    fn store_find_delete_raw(db) {
        let r = raw(3);
        let before = now_millis();
        assert!(db.store.store_raw(&r).expect("store"));
        let found = db.store.find_raw(&r.hash).expect("find").expect("row");
        assert!(found.timestamp.expect("timestamp") >= before);
        assert_eq!(EncryptedRawTransaction { timestamp: None, ..found }, r);
        // A second store of the same hash keeps the first row and reports it.
        let mut again = r.clone();
        again.encrypted_key = vec![0; 48];
        assert!(!db.store.store_raw(&again).expect("store again"));
        assert_eq!(db.store.find_raw(&r.hash).expect("find").expect("row").encrypted_key, r.encrypted_key);
        assert!(db.store.delete_raw(&r.hash).expect("delete"));
        assert!(!db.store.delete_raw(&r.hash).expect("delete again"));
        assert!(db.store.find_raw(&r.hash).expect("find").is_none());
    }
}
