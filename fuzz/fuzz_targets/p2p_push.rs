//! `POST /push` over the route's whole path: the caller's version header picks the codec
//! (first input byte, bits 0-2; bits 3-4 pick the node's settings), the body decodes with it,
//! and `Node::receive_push` runs its checks (`check_storable`, Tessera's privacy checks, the
//! recipient-box checks that open boxes in the enclave) and merges into the seeded rows.
//!
//! Invariants, for any input: no panic; the answer is the payload's hash; a refused, ignored or
//! unchanged push changed no row (the row under its hash and the row count are as before); a
//! stored push leaves a row that passes `tm_fuzz::assert_stored` (decodes, under its hash,
//! storable, boxes from another node only for our keys, every box we should open opens, no
//! recipient added to a transaction we hold complete).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::version::parse_header_values;
use tm_core::PayloadCodec;
use tm_fuzz::{assert_stored, flagged, harness, header_values, Variant};
use tm_manager::push::PushOutcome;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    let sp = Variant::default();
    let pe = Variant {
        enhancements: true,
        ..Variant::default()
    };
    let mut seeds = Vec::new();
    for (name, payload, variant) in [
        ("fresh", &fx.fresh, sp),
        ("fresh-both", &fx.fresh_both, sp),
        ("old-form", &fx.fresh_old_form, sp),
        ("held-again", &fx.pushed_a, sp),
        ("merge-b", &fx.pushed_b, sp),
        ("to-stranger", &fx.to_stranger, sp),
        ("rebuild-own", &fx.sent_rebuilt_full, sp),
        ("own-complete", &fx.sent, sp),
        ("pp-child", &fx.pp_child, pe),
        ("psv-child", &fx.psv_child, pe),
        ("psv-off", &fx.psv_child, sp),
    ] {
        seeds.push((
            format!("{name}-legacy"),
            flagged(variant.flags(0), PayloadCodec::Legacy.encode(payload)),
        ));
        seeds.push((
            format!("{name}-cbor"),
            flagged(variant.flags(2), PayloadCodec::Cbor.encode(payload)),
        ));
    }
    seeds
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let Some((&flags, body)) = data.split_first() else { return };
        let h = harness();
        h.run(|cx| {
            // The route: the caller's versions pick the codec; a body that does not decode is
            // a 400 before the manager is called.
            let versions = parse_header_values(header_values(flags).iter().map(String::as_str));
            let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
            let Ok(payload) = codec.decode(body) else { return };
            let node = cx.node(Variant::from_flags(flags));
            let store = cx.store();
            let hash = payload.hash();
            let before = store.find_payload(&hash).expect("the held row decodes");
            let count = store.count_payloads().expect("count");
            let result = cx.block_on(node.receive_push(payload.clone()));
            let after = store.find_payload(&hash).expect("the row decodes after a push");
            let unchanged = |why: &str| {
                assert_eq!(before, after, "{why} changed the row");
                assert_eq!(count, store.count_payloads().expect("count"), "{why} added a row");
            };
            match result {
                Err(_) => unchanged("a refused push"),
                Ok((answered, outcome)) => {
                    assert_eq!(answered, hash, "the answer is the payload's hash");
                    match outcome {
                        PushOutcome::Ignored => unchanged("an ignored push"),
                        PushOutcome::Unchanged => unchanged("a push of what is held"),
                        PushOutcome::Stored => assert_stored(
                            &h.enclave,
                            &payload,
                            before.as_ref(),
                            after.as_ref(),
                            &cx.fx().ours(),
                            false,
                        ),
                    }
                }
            }
        });
    }
);
