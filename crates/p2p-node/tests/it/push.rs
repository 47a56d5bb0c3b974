//! Pushes in both codecs, resend of what was pushed, a real Tessera payload from the vectors,
//! and garbage that must change nothing.

use std::path::PathBuf;

use tm_client::p2p::{ResendRequest, ResendType};
use tm_client::ClientError;
use tm_core::seal::PrivacyMetadata;
use tm_core::{Keyring, PayloadCodec, PublicKey, TxHash};

use tm_dev_support::{block_on, Service};

use crate::support::{client, p2p_node, party, pushed_to, stored_count};

fn resend_individual(url: &str, key: &PublicKey, hash: &TxHash) -> Result<Vec<u8>, ClientError> {
    block_on(client().resend(
        url,
        &ResendRequest {
            resend_type: ResendType::Individual,
            public_key: key.clone(),
            key: Some(hash.to_base64()),
        },
    ))
}

#[test]
fn payloads_pushed_in_legacy_and_cbor_are_stored_and_can_be_resent() {
    let node = p2p_node("push", &[]);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    for (codec, message) in [
        (PayloadCodec::Legacy, &b"legacy push"[..]),
        (PayloadCodec::Cbor, &b"cbor push"[..]),
    ] {
        let payload = pushed_to(&ours, message);
        let hash = block_on(client().push(&url, &payload, codec)).expect("pushed");
        assert_eq!(hash, payload.hash());
        let resent = resend_individual(&url, &ours, &hash).expect("resent");
        assert_eq!(
            PayloadCodec::Legacy.decode(&resent).expect("LEGACY"),
            payload,
            "{codec}"
        );
        // Pushing the same copy again changes nothing.
        block_on(client().push(&url, &payload, codec)).expect("pushed again");
    }
    assert_eq!(stored_count(&node), 2);

    let unknown = TxHash::of_cipher_text(b"never pushed");
    match resend_individual(&url, &ours, &unknown) {
        Err(ClientError::Status {
            status: 404, body, ..
        }) => assert!(body.contains("was not found"), "{body}"),
        other => panic!("expected 404, got {other:?}"),
    }
}

#[test]
fn a_real_tessera_payload_is_stored_under_its_hash() {
    let vectors = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let text =
        std::fs::read_to_string(vectors.join("payloads/constellation-7nodes-legacy-payloads.json"))
            .expect("test vectors");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let entry = &json["entries"][0];
    let bytes = tm_core::b64::decode(
        entry["encoded_payload_base64"].as_str().expect("b64"),
        "payload",
    )
    .expect("b64");
    let expected = entry["transaction_hash_base64"].as_str().expect("hash");

    // The node holds the payload's sender key (the recipient's private key is not known): the
    // push is its own transaction handed back, as in a resend, and every box must open with
    // that key. A node holding neither key refuses the push (403, docs/security.md).
    let key = &json["key_material"];
    let mut node = tm_dev_support::TestNode::new("vector", 1, &[]);
    node.configure(|c| {
        c.keys([tm_config::KeyData {
            private_key: Some(tm_config::Secret::new(
                key["sender_private_base64"].as_str().expect("key"),
            )),
            public_key: Some(
                key["sender_public_base64"]
                    .as_str()
                    .expect("key")
                    .to_owned(),
            ),
            ..tm_config::KeyData::default()
        }])
    });
    node.start(Service::P2p);
    let url = node.p2p_url();
    // The peer's own LEGACY bytes, exactly as a Tessera node sends them (no 5.0: LEGACY).
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}push"))
        .header("Content-Type", "application/octet-stream")
        .header("tesseraSupportedApiVersions", "v1,v2")
        .body(bytes.clone())
        .send()
        .expect("push");
    assert_eq!(response.status(), 201);
    assert_eq!(response.text().expect("body"), expected);
    let recipient = PublicKey::from_base64(
        json["key_material"]["recipient_public_base64"]
            .as_str()
            .expect("key"),
    )
    .expect("key");
    let hash = TxHash::from_base64(expected).expect("hash");
    let resent = resend_individual(&url, &recipient, &hash).expect("resent");
    let original = PayloadCodec::Legacy.decode(&bytes).expect("decodes");
    assert_eq!(
        PayloadCodec::Legacy.decode(&resent).expect("decodes"),
        original
    );
}

#[test]
fn garbage_is_refused_with_a_reason_and_changes_nothing() {
    let node = p2p_node("garbage", &[]);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    let good = pushed_to(&ours, b"good");
    block_on(client().push(&url, &good, PayloadCodec::Cbor)).expect("pushed");
    let parties_before = party(&url);
    let http = reqwest::blocking::Client::new();

    let legacy = PayloadCodec::Legacy.encode(&pushed_to(&ours, b"cut short"));
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("/push", "v1,v2", b"not a payload".to_vec()),
        ("/push", "v1,v2", legacy[..legacy.len() / 2].to_vec()),
        ("/push", "5.0", legacy.clone()),
        ("/push", "v1", Vec::new()),
        (
            "/partyinfo",
            "5.0",
            b"\xff\xff\xff\xff\xff\xff\xff\xffjunk".to_vec(),
        ),
        ("/partyinfo", "5.0", vec![0, 0, 0, 0, 0, 0, 0, 50, b'h']),
        ("/partyinfo/validate", "5.0", b"junk".to_vec()),
        ("/pushPrivacyGroup", "5.0", b"junk".to_vec()),
    ];
    for (path, versions, body) in cases {
        let response = http
            .post(format!("{}{}", url, path.trim_start_matches('/')))
            .header("Content-Type", "application/octet-stream")
            .header("tesseraSupportedApiVersions", versions)
            .body(body)
            .send()
            .expect("request");
        let status = response.status().as_u16();
        let text = response.text().unwrap_or_default();
        assert!((400..500).contains(&status), "{path}: {status} {text}");
        assert!(!text.is_empty(), "{path}: a reason is given");
    }
    for json in [
        r#"{"type":"SOME","publicKey":"AAAA"}"#,
        r#"{"publicKey":"AAAA"}"#,
        r#"{"type":"ALL","publicKey":"%%%"}"#,
        "[",
        "{}",
    ] {
        let response = http
            .post(format!("{url}resend"))
            .header("Content-Type", "application/json")
            .body(json)
            .send()
            .expect("request");
        assert_eq!(response.status(), 400, "{json}");
    }
    assert_eq!(stored_count(&node), 1, "nothing stored by garbage");
    assert_eq!(party(&url), parties_before, "party store unchanged");
    // Still working.
    block_on(client().push(&url, &pushed_to(&ours, b"after"), PayloadCodec::Legacy))
        .expect("pushed");
    assert_eq!(stored_count(&node), 2);
}

/// A node serving the recovery-mode P2P routes with discovery (without running recovery
/// itself, so what peers push stays staged).
fn in_recovery_mode(name: &str, peers: &[String]) -> tm_dev_support::TestNode {
    let mut node = tm_dev_support::TestNode::new(name, 1, peers);
    node.start_with(&[Service::P2p], |config, mut listeners| async move {
        let (_, listener) = listeners.remove(0);
        let (_, running) = p2p_node::start_recovery_mode(config, listener).await?;
        Ok(running)
    });
    node
}

fn post_json(url: &str, path: &str, body: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}{}", path.trim_start_matches('/')))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .expect("an answer");
    (
        response.status().as_u16(),
        response.text().unwrap_or_default(),
    )
}

#[test]
fn push_batch_is_served_in_recovery_mode_only_and_stages_all_or_nothing() {
    // Normal mode: Tessera serves no /pushBatch.
    let normal = p2p_node("batch-normal", &[]);
    let (status, _) = post_json(&normal.p2p_url(), "/pushBatch", r#"{"encodedPayloads":[]}"#);
    assert_eq!(status, 404);

    let node = in_recovery_mode("batch-recovery", &[]);
    let url = node.p2p_url();
    let store = crate::support::store_of(&node);
    let ours = node.keys[0].public.clone();
    let first = pushed_to(&ours, b"batch one");
    let second = pushed_to(&ours, b"batch two");
    let legacy = |p: &tm_core::EncodedPayload| PayloadCodec::Legacy.encode(p);

    let bad = tm_client::p2p::PushBatchRequest {
        encoded_payloads: vec![legacy(&first), b"junk".to_vec()],
    };
    match block_on(client().push_batch(&url, &bad)) {
        Err(ClientError::Status {
            status: 400, body, ..
        }) => assert!(body.contains("index 1"), "{body}"),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(
        store.staging_counts().expect("counts").is_empty(),
        "a bad entry stages nothing"
    );
    // An entry that decodes but that no node could ever decrypt (no cipher text) is refused
    // as a push of it would be.
    let undecryptable = tm_core::EncodedPayload {
        cipher_text: Vec::new(),
        ..second.clone()
    };
    let bad = tm_client::p2p::PushBatchRequest {
        encoded_payloads: vec![legacy(&first), legacy(&undecryptable)],
    };
    match block_on(client().push_batch(&url, &bad)) {
        Err(ClientError::Status {
            status: 400, body, ..
        }) => assert!(
            body.contains("index 1") && body.contains("cipher text"),
            "{body}"
        ),
        other => panic!("expected 400, got {other:?}"),
    }
    assert!(
        store.staging_counts().expect("counts").is_empty(),
        "nothing staged"
    );

    let good = tm_client::p2p::PushBatchRequest {
        encoded_payloads: vec![legacy(&first), legacy(&second)],
    };
    block_on(client().push_batch(&url, &good)).expect("batch staged");
    assert_eq!(store.staging_counts().expect("counts").payloads, 2);
    assert_eq!(
        stored_count(&node),
        0,
        "staged, not stored: recovery moves them"
    );
    let staged = store.staging_page(None, 10).expect("staged rows");
    assert!(staged.iter().any(|row| row.payload == legacy(&second)));

    // Recovery mode serves no resend (Tessera's RecoveryResource has none).
    let (status, _) = post_json(&url, "/resendBatch", r#"{"publicKey":"AAAA"}"#);
    assert_eq!(status, 404);
    let (status, _) = post_json(&url, "/resend", r#"{"type":"ALL","publicKey":"AAAA"}"#);
    assert_eq!(status, 404);
}

#[test]
fn recovery_mode_push_takes_standard_private_payloads_only() {
    let node = in_recovery_mode("push-recovery", &[]);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    let sender = tm_core::KeyPair::generate().expect("key");
    let protected = Keyring::new(vec![sender.clone()])
        .encrypt_payload(
            b"protected",
            &sender.public,
            &[ours.clone(), sender.public.clone()],
            &PrivacyMetadata {
                privacy_mode: tm_core::PrivacyMode::PartyProtection,
                ..PrivacyMetadata::default()
            },
        )
        .expect("encrypted")
        .for_recipient(&ours)
        .expect("our copy");
    match block_on(client().push(&url, &protected, PayloadCodec::Legacy)) {
        Err(ClientError::Status {
            status: 403, body, ..
        }) => assert_eq!(
            body,
            "Transactions with enhanced privacy are not accepted during recovery mode"
        ),
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(stored_count(&node), 0);
    block_on(client().push(&url, &pushed_to(&ours, b"plain"), PayloadCodec::Legacy))
        .expect("a standard push is stored");
    assert_eq!(stored_count(&node), 1);
}

#[test]
fn resend_batch_pushes_a_recipients_transactions_to_its_node() {
    let mut a = tm_dev_support::TestNode::new("resend-a", 1, &[]);
    a.start(Service::P2p);
    let a_url = a.p2p_url();
    // B recovers: its /pushBatch stages what A resends.
    let b = in_recovery_mode("resend-b", std::slice::from_ref(&a_url));
    let b_url = b.p2p_url();
    let b_key = b.keys[0].public.clone();
    assert!(
        tm_dev_support::eventually(crate::support::DISCOVERY, || crate::support::knows(
            &a_url, &b_key, &b_url
        )),
        "A never learned B"
    );
    // A transaction A sent to B, as A stores it (the full sender copy).
    let sender = a.keys[0].clone();
    let sent = Keyring::new(vec![sender.clone()])
        .encrypt_payload(
            b"recover me",
            &sender.public,
            &[b_key.clone(), sender.public.clone()],
            &PrivacyMetadata::default(),
        )
        .expect("seals");
    block_on(client().push(&a_url, &sent, PayloadCodec::Cbor)).expect("stored on A");
    assert_eq!(stored_count(&b), 0);

    let request = tm_client::p2p::ResendBatchRequest {
        public_key: b_key.clone(),
        batch_size: Some(10),
    };
    let answer = block_on(client().resend_batch(&a_url, &request)).expect("resend batch");
    assert_eq!(answer.total, 1);
    let staged = crate::support::store_of(&b)
        .staging_page(None, 10)
        .expect("staged rows");
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].hash, sent.hash().to_base64());
    assert_eq!(
        PayloadCodec::Legacy
            .decode(&staged[0].payload)
            .expect("decodes"),
        sent.for_recipient(&b_key).expect("B's copy")
    );
}
