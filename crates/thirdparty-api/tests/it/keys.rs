//! `GET /keys`, `GET /partyinfo/keys`, and `/storeraw` on ThirdParty feeding Q2T's
//! `/sendsignedtx`.

use std::time::Duration;

use tm_client::q2t::{MediaType, Method, Q2tClient, RawRequest, StoreRawRequest};
use tm_dev_support::{block_on, Service, TestNode};

#[test]
fn keys_partyinfo_keys_and_storeraw_for_sendsignedtx() {
    let mut a = TestNode::new("tp-a", 2, &[]);
    let mut b = TestNode::new("tp-b", 1, &[a.p2p_url()]);
    a.set_peers(&[b.p2p_url()]);
    for node in [&mut b, &mut a] {
        node.start(Service::P2p)
            .start(Service::Q2t)
            .start(Service::ThirdParty);
    }
    let third_a = Q2tClient::tcp(&a.thirdparty_url()).expect("client");
    let q2t_a = Q2tClient::tcp(&a.q2t_url()).expect("client");
    let q2t_b = Q2tClient::tcp(&b.q2t_url()).expect("client");
    let ours: Vec<String> = a.keys.iter().map(|k| k.public.to_base64()).collect();
    let key_b = b.keys[0].public.clone();

    let listed: Vec<String> = block_on(third_a.keys())
        .expect("keys")
        .keys
        .into_iter()
        .map(|k| k.key)
        .collect();
    assert_eq!(listed, ours);

    // Discovery brings B's key into A's party info keys (ours first).
    let mut known = Vec::new();
    let learned = tm_dev_support::eventually(Duration::from_secs(30), || {
        known = block_on(third_a.party_info_keys())
            .map(|r| r.keys.into_iter().map(|k| k.key).collect())
            .unwrap_or_default();
        known.contains(&key_b.to_base64())
    });
    assert!(learned, "A never learned B's key: {known:?}");
    assert_eq!(known[..2], ours[..]);

    block_on(async {
        // storeraw on ThirdParty (from A's second key), sendsignedtx on Q2T.
        let raw = third_a
            .store_raw(
                &StoreRawRequest {
                    payload: b"third party".to_vec(),
                    from: Some(a.keys[1].public.as_bytes().to_vec()),
                },
                MediaType::V2_1,
            )
            .await
            .expect("storeraw");
        q2t_a
            .send_signed_octets(&raw, std::slice::from_ref(&key_b))
            .await
            .expect("sendsignedtx");
        let got = q2t_b
            .receive(&raw, None, false, MediaType::V2_1)
            .await
            .expect("B receives");
        assert_eq!(got.payload, b"third party");
        assert_eq!(got.sender_key, Some(ours[1].clone()));
        // Q2T endpoints are not on ThirdParty.
        let send = third_a
            .raw(
                RawRequest::new(Method::POST, "/send")
                    .media("application/json")
                    .body("{}"),
            )
            .await
            .expect("answer");
        assert_eq!(send.status, 404);
        // storeraw garbage: a 400 and a plain-text reason.
        let bad = third_a
            .raw(
                RawRequest::new(Method::POST, "/storeraw")
                    .media("application/json")
                    .body(r#"{"payload":"%%%"}"#),
            )
            .await
            .expect("answer");
        assert_eq!(bad.status, 400);
        assert!(!bad.text().is_empty());
    });
}
