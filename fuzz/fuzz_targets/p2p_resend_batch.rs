//! `POST /resendBatch` over the route's whole path: the JSON body (`ResendBatchRequest`, as
//! actix's `web::Json` reads it) and `Node::resend_batch`, which pages through the store and
//! sends the requester's copies to its node's `/pushBatch` in batches. The only node the store
//! routes a key to is the in-process `PeerStub`, so the batches are sent and recorded without
//! leaving the process.
//!
//! Invariants, for any input: no panic; a resend writes no row (the transaction count is
//! unchanged); the total it reports is the number of payloads the batches carried; batches go
//! only to the requester's node, hold at most the batch size asked for (when it is in
//! 1..=10000) and never nothing; every entry is LEGACY, a transaction held here, and the
//! requester's own copy of it (`tm_fuzz::assert_copy_for`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_client::p2p::{PushBatchRequest, ResendBatchRequest};
use tm_core::PayloadCodec;
use tm_fuzz::{assert_copy_for, harness};

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    let body = |key: &tm_core::PublicKey, size: Option<i64>| {
        serde_json::to_vec(&ResendBatchRequest { public_key: key.clone(), batch_size: size }).expect("json")
    };
    vec![
        ("remote".into(), body(&fx.remote, None)),
        ("remote-1".into(), body(&fx.remote, Some(1))),
        ("remote-2".into(), body(&fx.remote, Some(2))),
        ("remote-0".into(), body(&fx.remote, Some(0))),
        ("ours".into(), body(&fx.our_a, Some(3))),
        ("stranger".into(), body(&fx.stranger, None)),
    ]
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let h = harness();
        h.run(|cx| {
            let Ok(request) = serde_json::from_slice::<ResendBatchRequest>(data) else { return };
            let store = cx.store();
            let count = store.count_payloads().expect("count");
            h.peer.take();
            let result = cx.block_on(cx.node(tm_fuzz::Variant::default()).resend_batch(&request.public_key, request.batch_size));
            let sent = h.peer.take();
            let mut entries = 0usize;
            if !sent.is_empty() {
                let route = store.find_recipient(&request.public_key).expect("route").expect("sent to a routed key only");
                assert_eq!(route.peer_url, h.peer.url);
            }
            for received in &sent {
                assert_eq!(received.path, "/pushBatch");
                let batch: PushBatchRequest = serde_json::from_slice(&received.body).expect("a batch is JSON");
                assert!(!batch.encoded_payloads.is_empty(), "an empty batch was sent");
                if let Some(size) = request.batch_size.filter(|n| (1..=10_000).contains(n)) {
                    assert!(batch.encoded_payloads.len() as i64 <= size, "a batch is larger than asked");
                }
                for bytes in &batch.encoded_payloads {
                    let copy = PayloadCodec::Legacy.decode(bytes).expect("a batch entry is LEGACY");
                    let held = store.find_payload(&copy.hash()).expect("row").expect("a resent payload is held");
                    assert_copy_for(&copy, &request.public_key, &held.payload);
                    entries += 1;
                }
            }
            if let Ok(total) = result {
                assert_eq!(total, entries as i64, "the total is what the batches carried");
            }
            assert_eq!(count, store.count_payloads().expect("count"), "a resend wrote a row");
        });
    }
);
