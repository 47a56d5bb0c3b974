//! Q2T on a real unix socket (`unix:/path/tm.ipc`, as GoQuorum connects), and the
//! privacy-enhanced endpoints: mandatory recipients and the encoded-payload pair.

use tm_client::q2t::{MediaType, SendRequest, StoreRawRequest};

use tm_dev_support::block_on;

use crate::support::{key, Pair, PairOptions};

#[test]
fn q2t_over_a_unix_socket_sends_and_receives() {
    let pair = Pair::start(PairOptions {
        a_unix_socket: true,
        ..PairOptions::default()
    });
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let (key_a, key_b) = (key(&pair.a), key(&pair.b));
    assert!(pair.a.dir.path().join("tm.ipc").exists());
    block_on(async {
        assert_eq!(
            a.api_versions().await.expect("version/api"),
            ["1.0", "2.0", "2.1", "3.0", "4.0", "5.0"]
        );
        let sent = a
            .send(
                &SendRequest::new(b"over the socket".to_vec(), std::slice::from_ref(&key_b)),
                MediaType::V2_1,
            )
            .await
            .expect("send over the socket");
        let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("hash");
        let got = b
            .receive(&hash, None, false, MediaType::V2_1)
            .await
            .expect("B receives");
        assert_eq!(got.payload, b"over the socket");
        assert_eq!(got.sender_key, Some(key_a.to_base64()));
        let mine = a
            .receive(&hash, None, false, MediaType::Json)
            .await
            .expect("A receives");
        assert_eq!(mine.payload, b"over the socket");
        // The signed flow over the socket too.
        let raw = a
            .store_raw(
                &StoreRawRequest {
                    payload: b"signed".to_vec(),
                    from: None,
                },
                MediaType::V2_1,
            )
            .await
            .expect("storeraw");
        a.send_signed_octets(&raw, std::slice::from_ref(&key_b))
            .await
            .expect("sendsignedtx");
        assert_eq!(
            b.receive_raw(&raw, None).await.expect("receiveraw"),
            b"signed"
        );
    });
}

#[test]
fn mandatory_recipients_and_encoded_payload_create_decrypt() {
    let pair = Pair::start(PairOptions {
        privacy_enhancements: true,
        ..PairOptions::default()
    });
    let (a, b) = (pair.a_q2t(), pair.b_q2t());
    let (key_a, key_b) = (key(&pair.a), key(&pair.b));
    block_on(async {
        let request = SendRequest {
            privacy_flag: 2,
            mandatory_recipients: Some(vec![key_b.to_base64()]),
            ..SendRequest::new(b"mandatory".to_vec(), std::slice::from_ref(&key_b))
        };
        let sent = a.send(&request, MediaType::V4_0).await.expect("4.0 send");
        let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("hash");
        assert_eq!(
            a.mandatory(&hash).await.expect("mandatory"),
            vec![key_b.clone()]
        );
        assert_eq!(
            b.mandatory(&hash).await.expect("mandatory on B"),
            vec![key_b.clone()]
        );
        let got = b
            .receive(&hash, None, false, MediaType::V3_0)
            .await
            .expect("receive");
        assert_eq!(got.privacy_flag, 2);
        // A mandatory recipient outside the recipients is a privacy violation (403).
        let stranger = tm_core::KeyPair::generate().expect("key").public;
        let bad = SendRequest {
            privacy_flag: 2,
            mandatory_recipients: Some(vec![stranger.to_base64()]),
            ..SendRequest::new(b"bad".to_vec(), std::slice::from_ref(&key_b))
        };
        let error = a.send(&bad, MediaType::V4_0).await.expect_err("403");
        assert!(error.to_string().contains("403"), "{error}");
        // A standard transaction has no mandatory list: 400.
        let plain = a
            .send(
                &SendRequest::new(b"plain".to_vec(), std::slice::from_ref(&key_b)),
                MediaType::Json,
            )
            .await
            .expect("send");
        let plain = tm_core::TxHash::from_base64(&plain.response.key).expect("hash");
        let error = a.mandatory(&plain).await.expect_err("not mandatory");
        assert!(error.to_string().contains("400"), "{error}");

        // Encrypt on A for B without storing; decrypt on B from the JSON alone.
        for media in [MediaType::Json, MediaType::V2_1] {
            let encoded = a
                .encoded_payload_create(
                    &SendRequest::new(b"custom".to_vec(), std::slice::from_ref(&key_b)),
                    media,
                )
                .await
                .expect("create");
            assert_eq!(encoded.sender_key, key_a.as_bytes());
            assert_eq!(encoded.recipient_keys.len(), 2);
            assert_eq!(encoded.recipient_boxes.len(), 2);
            let decrypted = b
                .encoded_payload_decrypt(&encoded, media)
                .await
                .expect("decrypt");
            assert_eq!(decrypted.payload, b"custom");
            assert_eq!(decrypted.privacy_flag, 0);
            let hash = tm_core::TxHash::of_cipher_text(&encoded.cipher_text);
            assert!(
                b.receive(&hash, None, false, MediaType::Json)
                    .await
                    .is_err(),
                "not stored"
            );
        }
        // Resident groups need multiple private states: 503.
        let error = a.groups("resident").await.expect_err("503");
        assert!(error.to_string().contains("503"), "{error}");
    });
}
