//! `POST /partyinfo/validate` over the route's whole path: the route hands the body to
//! `Node::answer_validation`, which decodes it as LEGACY, decrypts it in the enclave for its
//! first recipient key and answers the plain text if it is a UUID.
//!
//! Invariants, for any input: no panic; an answer is UUID-sized text the body's first recipient
//! (one of our keys) can read: the text equals what the enclave decrypts for that key; validation
//! writes nothing (the transaction count is unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::PayloadCodec;
use tm_fuzz::harness;

fn seeds() -> Vec<(String, Vec<u8>)> {
    let fx = &harness().fx;
    vec![
        ("challenge".into(), PayloadCodec::Legacy.encode(&fx.challenge)),
        ("not-uuid".into(), PayloadCodec::Legacy.encode(&fx.challenge_not_uuid)),
        ("to-stranger".into(), PayloadCodec::Legacy.encode(&fx.to_stranger)),
        ("no-keys".into(), PayloadCodec::Legacy.encode(&fx.fresh_old_form)),
    ]
}

/// Every form `uuid::Uuid::parse_str` accepts is 32 to 45 characters long.
fn looks_like_uuid(text: &str) -> bool {
    (32..=45).contains(&text.len())
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let h = harness();
        h.run(|cx| {
            let store = cx.store();
            let count = store.count_payloads().expect("count");
            let result = cx.block_on(cx.node(tm_fuzz::Variant::default()).answer_validation(data));
            if let Ok(text) = result {
                assert!(looks_like_uuid(&text), "answered {text:?}, not a UUID");
                let payload = PayloadCodec::Legacy.decode(data).expect("an answered body decodes");
                let key = payload.recipient_keys.first().expect("an answered body names a key");
                assert!(cx.fx().ours().contains(key), "answered for a key we do not hold");
                let plain = h.enclave.unencrypt_transaction(&payload, Some(key)).expect("it decrypts");
                assert_eq!(plain, text.as_bytes(), "the answer is the plain text");
            }
            assert_eq!(count, store.count_payloads().expect("count"), "validation wrote a row");
        });
    }
);
