//! `/storeraw` + `/sendsignedtx` (JSON and octet-stream), `/sendraw` + `/receiveraw`, and
//! `?isRaw=true`.

use tm_client::q2t::{
    join_keys, MediaType, Method, RawRequest, SendSignedRequest, StoreRawRequest, HEADER_TO,
    OCTET_STREAM,
};
use tm_core::TxHash;

use tm_dev_support::block_on;

use crate::support::{key, Pair, PairOptions};

#[test]
fn storeraw_then_sendsignedtx_in_json_and_octet_stream() {
    let pair = Pair::start(PairOptions::default());
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let (key_a, key_b) = (key(&pair.a), key(&pair.b));
    block_on(async {
        for media in MediaType::ALL {
            let plain = format!("signed {media:?}").into_bytes();
            let store_media = if media == MediaType::Json {
                MediaType::Json
            } else {
                MediaType::V2_1
            };
            let raw_hash = a
                .store_raw(
                    &StoreRawRequest {
                        payload: plain.clone(),
                        from: None,
                    },
                    store_media,
                )
                .await
                .expect("storeraw");
            assert_eq!(raw_hash.as_bytes().len(), 64);
            // The raw table answers `?isRaw=true` for the sender.
            let raw = a
                .receive(&raw_hash, None, true, MediaType::V2_1)
                .await
                .expect("receive raw");
            assert_eq!(raw.payload, plain);
            assert_eq!(raw.sender_key, Some(key_a.to_base64()));
            let sent = a
                .send_signed(
                    &SendSignedRequest {
                        hash: raw_hash.as_bytes().to_vec(),
                        to: Some(vec![key_b.to_base64()]),
                        ..SendSignedRequest::default()
                    },
                    media,
                )
                .await
                .unwrap_or_else(|e| panic!("sendsignedtx {media:?}: {e}"));
            // Stored under the raw hash.
            assert_eq!(sent.response.key, raw_hash.to_base64());
            assert!(sent.location.is_some());
            let got = b
                .receive(&raw_hash, None, false, MediaType::Json)
                .await
                .expect("B receives");
            assert_eq!(got.payload, plain);
        }
        // The octet-stream form: raw hash bytes, `c11n-to`, 200 with the hash as text.
        let raw_hash = a
            .store_raw(
                &StoreRawRequest {
                    payload: b"octets".to_vec(),
                    from: Some(key_a.as_bytes().to_vec()),
                },
                MediaType::Json,
            )
            .await
            .expect("storeraw");
        let hash = a
            .send_signed_octets(&raw_hash, std::slice::from_ref(&key_b))
            .await
            .expect("octets");
        assert_eq!(hash, raw_hash);
        assert_eq!(
            b.receive_raw(&hash, None).await.expect("receiveraw"),
            b"octets"
        );
        // An unknown raw hash is 404 with Tessera's text.
        let unknown = TxHash::of_cipher_text(b"never stored");
        let response = a
            .raw(
                RawRequest::new(Method::POST, "/sendsignedtx")
                    .header("content-type", OCTET_STREAM)
                    .header(HEADER_TO, &join_keys(std::slice::from_ref(&key_b)))
                    .body(unknown.as_bytes()),
            )
            .await
            .expect("answer");
        assert_eq!(response.status, 404);
        assert_eq!(
            response.text(),
            format!("Raw Transaction with hash {unknown} was not found")
        );
    });
}

#[test]
fn sendraw_then_receiveraw_with_and_without_keys() {
    let pair = Pair::start(PairOptions::default());
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let (key_a, key_b) = (key(&pair.a), key(&pair.b));
    block_on(async {
        let hash = a
            .send_raw(
                b"raw bytes \x00\x01",
                Some(&key_a),
                std::slice::from_ref(&key_b),
            )
            .await
            .expect("sendraw");
        assert_eq!(
            b.receive_raw(&hash, Some(&key_b)).await.expect("with to"),
            b"raw bytes \x00\x01"
        );
        assert_eq!(
            b.receive_raw(&hash, None).await.expect("without to"),
            b"raw bytes \x00\x01"
        );
        assert_eq!(
            a.receive_raw(&hash, None).await.expect("sender"),
            b"raw bytes \x00\x01"
        );
        // Default sender when `c11n-from` is absent.
        let hash = a
            .send_raw(b"default sender", None, std::slice::from_ref(&key_b))
            .await
            .expect("sendraw");
        let got = b
            .receive(&hash, None, false, MediaType::V2_1)
            .await
            .expect("receive");
        assert_eq!(got.sender_key, Some(key_a.to_base64()));
        // `c11n-key` missing or not base64 is 400.
        let missing = b
            .raw(RawRequest::new(Method::GET, "/receiveraw"))
            .await
            .expect("answer");
        assert_eq!(missing.status, 400);
        let bad = b
            .raw(RawRequest::new(Method::GET, "/receiveraw").header("c11n-key", "not base64!"))
            .await
            .expect("answer");
        assert_eq!(bad.status, 400);
    });
}
