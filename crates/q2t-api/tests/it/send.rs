//! Send A → B and receive on both sides, in every media type and path encoding.

use tm_client::q2t::Method;
use tm_client::q2t::{
    encode_hash, encode_query, MediaType, PathEncoding, RawRequest, SendRequest, JSON,
};
use tm_core::TxHash;

use tm_dev_support::block_on;

use crate::support::{key, Pair, PairOptions};

#[test]
fn send_a_to_b_in_every_media_type_and_receive_on_both_sides() {
    let pair = Pair::start(PairOptions::default());
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let (key_a, key_b) = (key(&pair.a), key(&pair.b));
    block_on(async {
        for media in MediaType::ALL {
            let plain = format!("hello B in {}", media.as_str()).into_bytes();
            let sent = a
                .send(
                    &SendRequest::new(plain.clone(), std::slice::from_ref(&key_b)),
                    media,
                )
                .await
                .unwrap_or_else(|e| panic!("send with {media:?}: {e}"));
            let hash = TxHash::from_base64(&sent.response.key).expect("base64 hash");
            assert_eq!(hash.as_bytes().len(), 64);
            let location = sent.location.expect("Location header");
            assert!(
                location.ends_with(&format!(
                    "/transaction/{}",
                    encode_hash(&sent.response.key, PathEncoding::Form)
                )),
                "{location}"
            );
            if media.is_multi_tenant() {
                assert_eq!(sent.response.sender_key, Some(key_a.to_base64()));
                assert_eq!(sent.response.managed_parties, Some(vec![key_a.to_base64()]));
            } else {
                assert_eq!(sent.response.sender_key, None);
                assert_eq!(sent.response.managed_parties, None);
            }
            for accept in [MediaType::Json, MediaType::V2_1, MediaType::V3_0] {
                let got = b
                    .receive(&hash, None, false, accept)
                    .await
                    .expect("B receives");
                assert_eq!(got.payload, plain);
                assert_eq!(got.privacy_flag, 0);
                assert_eq!(got.exec_hash.as_deref(), Some(""));
                if accept.is_multi_tenant() {
                    assert_eq!(got.managed_parties, Some(vec![key_b.to_base64()]));
                    assert_eq!(got.sender_key, Some(key_a.to_base64()));
                } else {
                    assert_eq!(got.managed_parties, None);
                }
                let mine = a
                    .receive(&hash, None, false, accept)
                    .await
                    .expect("A receives");
                assert_eq!(mine.payload, plain);
            }
            // B's copy holds only B's box; A's holds everyone (recipients, then the sender).
            assert_eq!(
                b.participants(&hash).await.expect("participants"),
                vec![key_b.clone()]
            );
            assert_eq!(
                a.participants(&hash).await.expect("participants"),
                vec![key_b.clone(), key_a.clone()]
            );
            assert!(a.is_sender(&hash).await.expect("isSender"));
            assert!(!b.is_sender(&hash).await.expect("isSender"));
        }
    });
}

#[test]
fn a_send_to_several_keys_of_one_of_our_nodes_is_one_push_that_each_key_opens() {
    // docs/p2p.md, "One push per node": B's party info said it merges a push carrying several
    // of its keys' boxes, so A pushes B once for two of B's keys; B stores one row that each
    // of the two opens, and its third key does not.
    let pair = Pair::start(PairOptions {
        b_keys: 3,
        ..PairOptions::default()
    });
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let b_keys: Vec<_> = pair.b.keys.iter().map(|k| k.public.clone()).collect();
    let to = vec![b_keys[0].clone(), b_keys[2].clone()];
    let pushes_to_b = || {
        let text = reqwest::blocking::get(format!("{}metrics", pair.a.p2p_url()))
            .and_then(|r| r.text())
            .expect("A's metrics");
        let series = format!(
            "tm_peer_pushes_total{{outcome=\"ok\",peer=\"{}\"}}",
            pair.b.p2p_url()
        );
        text.lines()
            .find_map(|line| {
                line.strip_prefix(series.as_str())?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
    };
    let before = pushes_to_b();
    let hash = block_on(async {
        let sent = a
            .send(
                &SendRequest::new(b"two of B's keys".to_vec(), &to),
                MediaType::V2_1,
            )
            .await
            .expect("sent");
        TxHash::from_base64(&sent.response.key).expect("hash")
    });
    assert_eq!(pushes_to_b() - before, 1.0, "one push to B for both keys");
    block_on(async {
        for key in &to {
            let got = b
                .receive(&hash, Some(key), false, MediaType::V2_1)
                .await
                .expect("each recipient key of B opens it");
            assert_eq!(got.payload, b"two of B's keys");
        }
        let mut managed = b
            .receive(&hash, None, false, MediaType::V2_1)
            .await
            .expect("B receives")
            .managed_parties
            .expect("2.1 lists managed parties");
        managed.sort();
        let mut expected: Vec<String> = to.iter().map(|k| k.to_base64()).collect();
        expected.sort();
        assert_eq!(managed, expected);
        assert!(
            b.receive(&hash, Some(&b_keys[1]), false, MediaType::V2_1)
                .await
                .is_err(),
            "B's third key was not a recipient"
        );
    });
}

#[test]
fn charset_parameter_to_query_and_no_accept_header() {
    let pair = Pair::start(PairOptions::default());
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let key_b = key(&pair.b);
    block_on(async {
        let body = serde_json::to_vec(&SendRequest::new(
            b"charset".to_vec(),
            std::slice::from_ref(&key_b),
        ))
        .expect("json");
        let response = a
            .raw(
                RawRequest::new(Method::POST, "/send")
                    .media("application/json; charset=utf-8")
                    .body(body),
            )
            .await
            .expect("send");
        assert_eq!(response.status, 201, "{}", response.text());
        let sent: tm_client::q2t::SendResponse =
            serde_json::from_slice(&response.body).expect("json answer");
        let hash = TxHash::from_base64(&sent.key).expect("hash");
        // `?to=` with B's key; no Accept header means the plain JSON form.
        let path = format!(
            "/transaction/{}?to={}",
            encode_hash(&sent.key, PathEncoding::Form),
            encode_query(&key_b.to_base64())
        );
        let got = b
            .raw(RawRequest::new(Method::GET, &path))
            .await
            .expect("receive");
        assert_eq!(got.status, 200, "{}", got.text());
        assert!(got
            .header("content-type")
            .is_some_and(|c| c.starts_with(JSON)));
        let got: tm_client::q2t::ReceiveResponse = serde_json::from_slice(&got.body).expect("json");
        assert_eq!(got.payload, b"charset");
        assert_eq!(got.sender_key, None);
        // `?to=` with a key B does not hold is refused.
        let wrong = b
            .receive(&hash, Some(&key(&pair.a)), false, MediaType::Json)
            .await
            .expect_err("A's key cannot open B's copy");
        assert!(
            wrong.to_string().contains("404") || wrong.to_string().contains("500"),
            "{wrong}"
        );
        // 4.0 has no receive method: Jersey's 406, which Tessera turns into 500.
        let none = b
            .raw(RawRequest::new(Method::GET, &path).media(MediaType::V4_0.as_str()))
            .await
            .expect("answer");
        assert_eq!(none.status, 500);
        assert_eq!(none.text(), "HTTP 406 Not Acceptable");
    });
}

#[test]
fn both_percent_encoding_styles_reach_the_same_transaction() {
    let pair = Pair::start(PairOptions::default());
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let key_b = key(&pair.b);
    block_on(async {
        // Send until a hash holds `+` and `/` (`=` padding is always there).
        let mut found = None;
        for i in 0..200 {
            let sent = a
                .send(
                    &SendRequest::new(format!("tx {i}").into_bytes(), std::slice::from_ref(&key_b)),
                    MediaType::V2_1,
                )
                .await
                .expect("send");
            if sent.response.key.contains('+') && sent.response.key.contains('/') {
                found = Some((sent.response.key, format!("tx {i}")));
                break;
            }
        }
        let (hash, plain) = found.expect("a hash with + and /");
        for style in [PathEncoding::GoPathEscape, PathEncoding::Form] {
            let encoded = encode_hash(&hash, style);
            for client in [&a, &b] {
                let path = format!("/transaction/{encoded}");
                let got = client
                    .raw(RawRequest::new(Method::GET, &path).media(MediaType::V2_1.as_str()))
                    .await
                    .expect("receive");
                assert_eq!(got.status, 200, "{style:?} {path}: {}", got.text());
                let got: tm_client::q2t::ReceiveResponse =
                    serde_json::from_slice(&got.body).expect("json");
                assert_eq!(got.payload, plain.as_bytes());
                let is_sender = client
                    .raw(RawRequest::new(Method::GET, format!("{path}/isSender")))
                    .await
                    .expect("isSender");
                assert_eq!(is_sender.status, 200, "{style:?}: {}", is_sender.text());
            }
        }
        // Delete on B in the Form style, then it is gone there and still held by A.
        let path = format!("/transaction/{}", encode_hash(&hash, PathEncoding::Form));
        let deleted = b
            .raw(RawRequest::new(Method::DELETE, &path))
            .await
            .expect("delete");
        assert_eq!(deleted.status, 204);
        let again = b
            .raw(RawRequest::new(Method::DELETE, &path))
            .await
            .expect("delete");
        assert_eq!(again.status, 404);
        assert_eq!(again.text(), "");
        let gone = b
            .raw(RawRequest::new(Method::GET, &path).media(JSON))
            .await
            .expect("receive");
        assert_eq!(gone.status, 404);
        assert_eq!(
            gone.text(),
            format!("Message with hash {hash} was not found")
        );
        let hash = TxHash::from_base64(&hash).expect("hash");
        assert!(a.receive(&hash, None, false, MediaType::Json).await.is_ok());
        // The deprecated form.
        a.delete_deprecated(&hash).await.expect("POST /delete");
        assert!(a
            .receive(&hash, None, false, MediaType::Json)
            .await
            .is_err());
    });
}
