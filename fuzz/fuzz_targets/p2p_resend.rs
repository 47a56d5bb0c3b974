//! `POST /resend` over the route's whole path: the JSON body as the route reads it (a copy of
//! its private `ResendBody`: `type` as text, `publicKey`, `key`), the type (400 unless `ALL` or
//! `INDIVIDUAL`), the key (400 unless non-empty base64), then `Node::resend_individual` (with
//! the hash, 400 unless base64) or `Node::resend_all`. `resend_all` pushes to the node the
//! store routes the key to: the only one is the in-process `PeerStub`, so the pushes are made
//! and recorded without leaving the process.
//!
//! Invariants, for any input: no panic; a resend writes no row (the transaction count is
//! unchanged); `INDIVIDUAL` answers a LEGACY payload of the transaction asked for, held here,
//! that is the requester's own copy (the whole payload if it sent it, else exactly its own box:
//! `tm_fuzz::assert_copy_for`); `ALL` pushed exactly as many payloads as it reports, each to
//! the requester's node only, each a standard-private transaction held here and the
//! requester's own copy of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use tm_core::{PayloadCodec, PrivacyMode, PublicKey, TxHash};
use tm_fuzz::{assert_copy_for, b64, harness};

/// The route's `ResendBody` (crates/p2p-node/src/lib.rs, private there).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResendBody {
    #[serde(rename = "type")]
    resend_type: Option<String>,
    public_key: Option<String>,
    key: Option<String>,
}

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    let body = |t: &str, key: &PublicKey, hash: Option<&TxHash>| {
        let mut json = format!("{{\"type\":\"{t}\",\"publicKey\":\"{}\"", key.to_base64());
        if let Some(hash) = hash {
            json.push_str(&format!(",\"key\":\"{}\"", b64(hash.as_bytes())));
        }
        json.push('}');
        json.into_bytes()
    };
    vec![
        ("all-remote".into(), body("ALL", &fx.remote, None)),
        ("all-ours".into(), body("ALL", &fx.our_a, None)),
        ("all-stranger".into(), body("ALL", &fx.stranger, None)),
        ("one-sent".into(), body("INDIVIDUAL", &fx.remote, Some(&fx.sent.hash()))),
        ("one-pushed".into(), body("INDIVIDUAL", &fx.remote, Some(&fx.pushed_a.hash()))),
        ("one-ours".into(), body("INDIVIDUAL", &fx.our_a, Some(&fx.pushed_a.hash()))),
        ("one-psv".into(), body("INDIVIDUAL", &fx.remote, Some(&fx.psv_base.hash()))),
        ("one-missing".into(), body("INDIVIDUAL", &fx.remote, Some(&fx.fresh.hash()))),
        ("one-stranger".into(), body("INDIVIDUAL", &fx.stranger, Some(&fx.sent.hash()))),
    ]
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let h = harness();
        h.run(|cx| {
            // The route, step by step, each failure a 400.
            let Ok(body) = serde_json::from_slice::<ResendBody>(data) else { return };
            let all = match body.resend_type.as_deref() {
                Some("ALL") => true,
                Some("INDIVIDUAL") => false,
                _ => return,
            };
            let Ok(key) = PublicKey::from_base64(body.public_key.as_deref().unwrap_or_default()) else { return };
            if key.as_bytes().is_empty() {
                return;
            }
            let store = cx.store();
            let count = store.count_payloads().expect("count");
            let node = cx.node(tm_fuzz::Variant::default());
            if all {
                h.peer.take();
                let result = cx.block_on(node.resend_all(&key));
                let pushed = h.peer.take();
                if let Ok(n) = result {
                    assert_eq!(n, pushed.len(), "resend ALL reports the pushes it made");
                }
                if !pushed.is_empty() {
                    let route = store.find_recipient(&key).expect("route").expect("pushed to a routed key only");
                    assert_eq!(route.peer_url, h.peer.url);
                }
                for received in &pushed {
                    assert_eq!(received.path, "/push");
                    let codec = PayloadCodec::preferred_for(received.versions.split(','));
                    let copy = codec.decode(&received.body).expect("a resent payload decodes");
                    assert_eq!(copy.privacy_mode, PrivacyMode::StandardPrivate, "ALL resends standard-private only");
                    let held = store.find_payload(&copy.hash()).expect("row").expect("a resent payload is held");
                    assert_copy_for(&copy, &key, &held.payload);
                }
            } else {
                let Ok(hash) = TxHash::from_base64(body.key.as_deref().unwrap_or_default()) else { return };
                if let Ok(bytes) = cx.block_on(node.resend_individual(&key, &hash)) {
                    let copy = PayloadCodec::Legacy.decode(&bytes).expect("a resent payload decodes");
                    assert_eq!(copy.hash(), hash, "the transaction asked for is resent");
                    let held = store.find_payload(&hash).expect("row").expect("a resent payload is held");
                    assert_copy_for(&copy, &key, &held.payload);
                }
            }
            assert_eq!(count, store.count_payloads().expect("count"), "a resend wrote a row");
        });
    }
);
