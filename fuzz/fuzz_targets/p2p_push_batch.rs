//! `POST /pushBatch` of a recovering node over its whole path: the JSON body
//! (`PushBatchRequest`, as actix's `web::Json` reads it), every entry decoded as LEGACY (one
//! that does not is a 400 naming its index), `Node::stage_push_batch` (the route: all entries
//! staged in one transaction, or none), then what recovery's move does with a page of staged
//! payloads, `Node::receive_push_batch`: each entry through the push checks in dependency
//! order, all stored in one database transaction, against the seeded rows.
//!
//! Invariants, for any input: no panic; staging is all or nothing (a refused batch stages no
//! row, an accepted one stages one row per entry); the move is all or nothing: a refused batch changed no row (every
//! entry's row and the row count are as before); an accepted batch has one outcome per entry,
//! and every entry whose outcome is `Stored` left a row that passes `tm_fuzz::assert_stored`,
//! while an `Ignored` entry whose hash no other entry shares left its row as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_client::p2p::PushBatchRequest;
use tm_core::{EncodedPayload, PayloadCodec};
use tm_fuzz::{assert_stored, b64, harness};
use tm_manager::push::PushOutcome;

fn batch(payloads: &[&EncodedPayload]) -> Vec<u8> {
    let entries: Vec<String> = payloads
        .iter()
        .map(|p| format!("\"{}\"", b64(&PayloadCodec::Legacy.encode(p))))
        .collect();
    format!("{{\"encodedPayloads\":[{}]}}", entries.join(",")).into_bytes()
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    vec![
        ("empty".into(), batch(&[])),
        ("one".into(), batch(&[&fx.fresh])),
        ("merge-and-new".into(), batch(&[&fx.pushed_b, &fx.fresh_both])),
        ("held-twice".into(), batch(&[&fx.pushed_a, &fx.pushed_a])),
        ("one-refused".into(), batch(&[&fx.fresh, &fx.to_stranger])),
        ("own".into(), batch(&[&fx.sent_rebuilt_full, &fx.sent])),
        ("old-form".into(), batch(&[&fx.fresh_old_form, &fx.pushed_a])),
        ("pp-psv".into(), batch(&[&fx.pp_child, &fx.psv_child])),
    ]
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let h = harness();
        h.run(|cx| {
            // The route: JSON, then every entry LEGACY.
            let Ok(request) = serde_json::from_slice::<PushBatchRequest>(data) else { return };
            let Ok(payloads) = request
                .encoded_payloads
                .iter()
                .map(|bytes| PayloadCodec::Legacy.decode(bytes))
                .collect::<Result<Vec<_>, _>>()
            else {
                return;
            };
            let store = cx.store();
            let node = cx.node(tm_fuzz::Variant { enhancements: true, no_discovery: false });
            // The route in recovery mode: staged, all or nothing.
            let raw: Vec<(Vec<u8>, EncodedPayload)> = request
                .encoded_payloads
                .iter()
                .cloned()
                .zip(payloads.iter().cloned())
                .collect();
            let staged = cx.block_on(node.stage_push_batch(raw));
            let counts = store.staging_counts().expect("staging counts");
            match staged {
                Ok(()) => assert_eq!(counts.payloads, payloads.len() as u64, "one staged row per entry"),
                Err(_) => assert!(counts.is_empty(), "a refused batch staged a row"),
            }
            store.clear_staging().expect("staging emptied");
            // Recovery's move of those payloads.
            let hashes: Vec<_> = payloads.iter().map(EncodedPayload::hash).collect();
            let rows = || -> Vec<_> {
                hashes
                    .iter()
                    .map(|hash| store.find_payload(hash).expect("every row decodes"))
                    .collect()
            };
            let before = rows();
            let count = store.count_payloads().expect("count");
            let result = cx.block_on(node.receive_push_batch(payloads.clone()));
            let after = rows();
            match result {
                Err(_) => {
                    assert_eq!(before, after, "a refused batch changed a row");
                    assert_eq!(count, store.count_payloads().expect("count"), "a refused batch added a row");
                }
                Ok(outcomes) => {
                    assert_eq!(outcomes.len(), payloads.len(), "one outcome per entry");
                    let ours = cx.fx().ours();
                    for (i, outcome) in outcomes.iter().enumerate() {
                        let shared = hashes.iter().filter(|h| **h == hashes[i]).count() > 1;
                        match outcome {
                            PushOutcome::Stored => assert_stored(
                                &h.enclave,
                                &payloads[i],
                                before[i].as_ref(),
                                after[i].as_ref(),
                                &ours,
                                shared,
                            ),
                            PushOutcome::Ignored | PushOutcome::Unchanged if !shared => {
                                assert_eq!(before[i], after[i], "entry {i} ({outcome:?}) changed its row");
                            }
                            _ => {}
                        }
                    }
                }
            }
        });
    }
);
