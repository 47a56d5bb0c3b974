//! Payload vectors: decode, hash, decrypt, re-encode, and encryption reproduced byte for byte.

use serde_json::Value;
use tm_core::codec::{decode_cbor, decode_legacy, encode_cbor, encode_legacy};
use tm_core::nacl::MasterKey;
use tm_core::seal::{PrivacyMetadata, SealRandomness};
use tm_core::{EncodedPayload, KeyPair, Keyring, PrivacyMode, PrivateKey, PublicKey, TxHash};

use crate::support::{b64, hex, key, load, payload_from_ascii, payload_from_fields, starting};

fn pair(private_b64: &Value) -> KeyPair {
    KeyPair::from_private(PrivateKey::from_base64(private_b64.as_str().expect("key")).expect("key"))
}

fn nonce24(value: &Value) -> [u8; 24] {
    hex(value).try_into().expect("24-byte nonce")
}

fn master_key(value: &Value) -> MasterKey {
    MasterKey::from_slice(&hex(value)).expect("32-byte key")
}

/// Checks a vector payload against its LEGACY and CBOR bytes in both directions.
fn assert_codecs(expected: &EncodedPayload, case: &Value) {
    let legacy = hex(&case["legacy_hex"]);
    assert_eq!(encode_legacy(expected), legacy, "LEGACY bytes");
    assert_eq!(&decode_legacy(&legacy).expect("decode LEGACY"), expected);
    if let Some(cbor) = case.get("cbor_hex") {
        let cbor = hex(cbor);
        assert_eq!(encode_cbor(expected), cbor, "CBOR bytes");
        assert_eq!(&decode_cbor(&cbor).expect("decode CBOR"), expected);
    }
}

#[test]
fn constellation_payloads_decode_hash_and_decrypt() {
    let file = load("payloads/constellation-7nodes-legacy-payloads.json");
    let material = &file["key_material"];
    let sender = pair(&material["sender_private_base64"]);
    assert_eq!(sender.public, key(&material["sender_public_base64"]));
    let keyring = Keyring::new(vec![sender.clone()]);
    let entries = file["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 12);
    for entry in entries {
        let bytes = b64(&entry["encoded_payload_base64"]);
        let payload = decode_legacy(&bytes).expect("real payload decodes");
        let decoded = &entry["decoded"];
        assert_eq!(
            payload.sender.to_base64(),
            decoded["sender_base64"].as_str().unwrap_or_default()
        );
        assert_eq!(payload.cipher_text, hex(&decoded["cipherText_hex"]));
        assert_eq!(
            payload.cipher_text_nonce.0,
            hex(&decoded["cipherTextNonce_hex"])
        );
        assert_eq!(
            payload.recipient_nonce.0,
            hex(&decoded["recipientNonce_hex"])
        );
        assert_eq!(payload.recipient_boxes.len(), 1);
        assert_eq!(payload.recipient_keys.len(), 1);
        assert_eq!(payload.privacy_mode, PrivacyMode::StandardPrivate);

        let hash = TxHash::from_base64(
            entry["transaction_hash_base64"]
                .as_str()
                .unwrap_or_default(),
        )
        .expect("hash");
        assert_eq!(payload.hash(), hash, "hash is SHA3-512 of the cipher text");

        let derived = &entry["derived_by_spec_author"];
        let key = keyring
            .master_key(&payload)
            .expect("sender recovers the master key");
        assert_eq!(
            key.expose_bytes().to_vec(),
            hex(starting(derived, "master_key_hex"))
        );
        let plain = keyring
            .decrypt(&payload, &sender.public)
            .expect("sender decrypts");
        assert_eq!(plain, hex(starting(derived, "plaintext_hex")));

        // The current encoder writes a longer form; it still decodes to the same payload.
        let reencoded = encode_legacy(&payload);
        assert_ne!(reencoded, bytes);
        assert_eq!(
            decode_legacy(&reencoded).expect("re-encoded decodes"),
            payload
        );
        assert_eq!(
            decode_cbor(&encode_cbor(&payload)).expect("CBOR decodes"),
            payload
        );
    }
}

#[test]
fn constellation_payload_zero_in_cbor() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let case = &file["cases"]["cbor_of_real_constellation_payload_0"];
    let payload = decode_legacy(&hex(&case["legacy_hex"])).expect("decodes");
    assert_eq!(encode_cbor(&payload), hex(&case["cbor_hex"]));
    assert_eq!(encode_legacy(&payload), hex(&case["legacy_hex"]));
}

#[test]
fn legacy_encoder_vectors() {
    let file = load("payloads/legacy-encoder-test-vectors.json");
    let vectors = file["vectors"].as_object().expect("vectors");
    assert_eq!(vectors.len(), 6);
    for (name, vector) in vectors {
        let bytes = hex(&vector["hex"]);
        let payload = decode_legacy(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(payload, payload_from_fields(&vector["decoded"]), "{name}");
        let must_match = vector["reencode_equal"].as_bool().expect("flag");
        assert_eq!(
            encode_legacy(&payload) == bytes,
            must_match,
            "{name}: re-encoding"
        );
    }
}

struct Parties {
    a: KeyPair,
    b: KeyPair,
    c: KeyPair,
}

fn parties(file: &Value) -> Parties {
    let keys = &file["keys"];
    let get = |name: &str| {
        let pair = pair(&keys[name]["private_base64"]);
        assert_eq!(
            pair.public,
            key(&keys[name]["public_base64"]),
            "{name} key pair"
        );
        pair
    };
    Parties {
        a: get("A (sender)"),
        b: get("B"),
        c: get("C"),
    }
}

#[test]
fn standard_send_from_a_to_b() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, .. } = parties(&file);
    let case = &file["cases"]["standard_private_A_to_B"];
    let inputs = &case["inputs"];
    let sender = Keyring::new(vec![a.clone()]);
    let randomness = SealRandomness {
        master_key: master_key(&inputs["master_key_hex"]),
        cipher_text_nonce: nonce24(&inputs["cipherTextNonce_hex"]),
        recipient_nonce: nonce24(&inputs["recipientNonce_hex"]),
    };
    let plaintext = inputs["plaintext_ascii"]
        .as_str()
        .unwrap_or_default()
        .as_bytes();
    // TransactionManagerImpl.send: request recipients, then the sender.
    let payload = sender
        .encrypt_payload_with(
            plaintext,
            &a.public,
            &[b.public.clone(), a.public.clone()],
            &PrivacyMetadata::default(),
            &randomness,
        )
        .expect("encrypts");
    let stored = &case["sender_stored_payload"];
    assert_eq!(payload, payload_from_fields(&stored["fields"]));
    assert_codecs(&payload, stored);
    assert_eq!(
        payload.hash().to_base64(),
        case["transaction_hash_base64"].as_str().unwrap_or_default()
    );

    let pushed = payload.for_recipient(&b.public).expect("B is a recipient");
    assert_eq!(pushed, payload_from_fields(&case["pushed_to_B"]["fields"]));
    assert_codecs(&pushed, &case["pushed_to_B"]);

    assert_eq!(
        sender.decrypt(&payload, &a.public).expect("sender opens"),
        plaintext
    );
    let receiver = Keyring::new(vec![b.clone()]);
    assert_eq!(
        receiver.decrypt(&pushed, &b.public).expect("B opens"),
        plaintext
    );
    assert_eq!(
        receiver.decrypt_any(&pushed).expect("B finds its key").0,
        b.public
    );
    assert!(
        receiver.decrypt(&pushed, &a.public).is_err(),
        "B holds no key of A"
    );
    // The cache now holds A's pairs with B and with itself.
    assert_eq!(sender.cache().len(), 2);
}

#[test]
fn storeraw_then_sendsignedtx() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, .. } = parties(&file);
    let case = &file["cases"]["raw_storeraw_then_sendsignedtx"];
    let store = &case["storeraw"];
    let keyring = Keyring::new(vec![a.clone()]);
    let plaintext = store["plaintext_ascii"]
        .as_str()
        .unwrap_or_default()
        .as_bytes();
    let raw = keyring
        .encrypt_raw_with(
            plaintext,
            &a.public,
            &master_key(&store["master_key_hex"]),
            &nonce24(&store["nonce_hex"]),
        )
        .expect("raw encrypts");
    assert_eq!(raw.encrypted_payload, hex(&store["encryptedPayload_hex"]));
    assert_eq!(raw.encrypted_key, hex(starting(store, "encryptedKey_hex")));
    assert_eq!(
        raw.hash().to_base64(),
        starting(store, "raw_hash_base64")
            .as_str()
            .unwrap_or_default()
    );
    assert_eq!(keyring.decrypt_raw(&raw).expect("raw opens"), plaintext);

    let signed = &case["sendsignedtx"];
    let payload = keyring
        .encrypt_raw_for_recipients_with(
            &raw,
            &[b.public.clone(), a.public.clone()],
            &PrivacyMetadata::default(),
            &nonce24(&signed["recipientNonce_hex"]),
        )
        .expect("boxes for recipients");
    let stored = &signed["sender_stored_payload"];
    assert_eq!(payload, payload_from_fields(&stored["fields"]));
    assert_codecs(&payload, stored);
    assert_eq!(
        payload.hash().to_base64(),
        signed["transaction_hash_base64"]
            .as_str()
            .unwrap_or_default()
    );
    let receiver = Keyring::new(vec![b.clone()]);
    let pushed = payload.for_recipient(&b.public).expect("B is a recipient");
    assert_eq!(
        receiver.decrypt(&pushed, &b.public).expect("B opens"),
        plaintext
    );
}

#[test]
fn party_protection_with_an_affected_transaction() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let cases = &file["cases"];
    let affected =
        payload_from_fields(&cases["standard_private_A_to_B"]["sender_stored_payload"]["fields"]);
    let case = &cases["party_protection_with_affected_tx"];
    let inputs = &case["inputs"];
    let keyring = Keyring::new(vec![a.clone()]);
    let metadata = PrivacyMetadata {
        privacy_mode: PrivacyMode::PartyProtection,
        affected: vec![(affected.hash(), affected.clone())],
        ..PrivacyMetadata::default()
    };
    let randomness = SealRandomness {
        master_key: master_key(&inputs["master_key_hex"]),
        cipher_text_nonce: nonce24(&inputs["cipherTextNonce_hex"]),
        recipient_nonce: nonce24(&inputs["recipientNonce_hex"]),
    };
    let plaintext = inputs["plaintext_ascii"]
        .as_str()
        .unwrap_or_default()
        .as_bytes();
    let payload = keyring
        .encrypt_payload_with(
            plaintext,
            &a.public,
            &[c.public.clone(), a.public.clone()],
            &metadata,
            &randomness,
        )
        .expect("encrypts");
    let expected_security = hex(starting(case, "security_hash_hex"));
    assert_eq!(
        payload
            .affected_contract_transactions
            .get(&affected.hash())
            .map(|h| h.0.clone()),
        Some(expected_security.clone())
    );
    let stored = &case["sender_stored_payload"];
    assert_eq!(payload, payload_from_fields(&stored["fields"]));
    assert_codecs(&payload, stored);
    assert_eq!(
        payload.hash().to_base64(),
        case["transaction_hash_base64"].as_str().unwrap_or_default()
    );
    let pushed = payload.for_recipient(&c.public).expect("C is a recipient");
    assert_eq!(pushed, payload_from_fields(&case["pushed_to_C"]["fields"]));
    assert_codecs(&pushed, &case["pushed_to_C"]);

    // B, a recipient of the affected transaction, recomputes the same security hash.
    let b_ring = Keyring::new(vec![b.clone()]);
    let b_copy = affected.for_recipient(&b.public).expect("B copy");
    assert_eq!(
        b_ring
            .security_hash(&payload.cipher_text, &b_copy)
            .expect("B recomputes")
            .0,
        expected_security
    );
}

#[test]
fn codec_only_cases() {
    for file in [
        "payloads/derived-end-to-end-vectors.json",
        "cbor/cbor-vectors-derived.json",
    ] {
        let cases = load(file)["cases"].clone();
        for name in [
            "codec_only_mandatory_recipients_with_group",
            "codec_only_psv_with_group",
        ] {
            let case = &cases[name];
            let payload = payload_from_ascii(&case["fields_ascii"]);
            payload.validate().expect("vector is a valid payload");
            assert_codecs(&payload, case);
        }
    }
    let cbor = load("cbor/cbor-vectors-derived.json");
    let pushed = &cbor["cases"]["standard_private_A_to_B_pushed_to_B"];
    assert_codecs(&payload_from_fields(&pushed["fields"]), pushed);
}

#[test]
fn cbor_decode_error_from_tessera_test() {
    let cbor = load("cbor/cbor-vectors-derived.json");
    let case = &cbor["cases"]["cbor_invalid_from_test"];
    assert_eq!(b64(&case["base64"]), hex(&case["hex"]));
    assert!(decode_cbor(&hex(&case["hex"])).is_err());
}

#[test]
fn cbor_unknown_key_ends_decoding() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let fields = &file["cases"]["standard_private_A_to_B"]["pushed_to_B"]["fields"];
    let payload = payload_from_fields(fields);
    let mut bytes = encode_cbor(&payload);
    // Rename "privacyFlag" (the 7th key) to an unknown key of the same length: everything from
    // there on is ignored, as Jackson's loop does.
    let at = bytes
        .windows(11)
        .position(|w| w == b"privacyFlag")
        .expect("key present");
    bytes[at..at + 11].copy_from_slice(b"unknownFlag");
    let decoded = decode_cbor(&bytes).expect("decodes up to the unknown key");
    assert_eq!(decoded.recipient_keys, payload.recipient_keys);
    assert_eq!(decoded.privacy_mode, PrivacyMode::StandardPrivate);
}

#[test]
fn builder_invariants_are_enforced_on_decode() {
    let file = load("cbor/cbor-vectors-derived.json");
    let mut psv = payload_from_ascii(&file["cases"]["codec_only_psv_with_group"]["fields_ascii"]);
    psv.exec_hash.clear();
    assert!(
        decode_legacy(&encode_legacy(&psv)).is_err(),
        "PSV without exec hash"
    );
    assert!(
        decode_cbor(&encode_cbor(&psv)).is_err(),
        "PSV without exec hash"
    );
    let mut mr = payload_from_ascii(
        &file["cases"]["codec_only_mandatory_recipients_with_group"]["fields_ascii"],
    );
    mr.privacy_mode = PrivacyMode::StandardPrivate;
    assert!(
        decode_cbor(&encode_cbor(&mr)).is_err(),
        "mandatory recipients outside MR mode"
    );
}

#[test]
fn merging_a_second_push_prepends_the_new_box() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let keyring = Keyring::new(vec![a.clone()]);
    let payload = keyring
        .encrypt_payload(
            b"to two keys of one node",
            &a.public,
            &[b.public.clone(), c.public.clone(), a.public.clone()],
            &PrivacyMetadata::default(),
        )
        .expect("encrypts");
    let mut stored = payload.for_recipient(&b.public).expect("B");
    let second = payload.for_recipient(&c.public).expect("C");
    assert!(stored.merge_recipients_from(&second));
    assert_eq!(
        stored.recipient_keys,
        vec![c.public.clone(), b.public.clone()]
    );
    assert!(
        !stored.merge_recipients_from(&second),
        "merging twice adds nothing"
    );
    let node = Keyring::new(vec![b.clone(), c.clone()]);
    for key in [&b.public, &c.public] {
        assert_eq!(
            node.decrypt(&stored, key).expect("opens"),
            b"to two keys of one node"
        );
    }
}

#[test]
fn for_recipient_in_psv_mode_keeps_every_key_with_the_recipient_first() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let keyring = Keyring::new(vec![a.clone()]);
    let metadata = PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        exec_hash: b"exec".to_vec(),
        ..PrivacyMetadata::default()
    };
    let recipients = [b.public.clone(), c.public.clone(), a.public.clone()];
    let payload = keyring
        .encrypt_payload(b"psv", &a.public, &recipients, &metadata)
        .expect("encrypts");
    let to_c = payload.for_recipient(&c.public).expect("C");
    assert_eq!(
        to_c.recipient_keys,
        vec![c.public.clone(), b.public.clone(), a.public.clone()]
    );
    assert_eq!(to_c.recipient_boxes.len(), 1);
    assert_eq!(
        Keyring::new(vec![c.clone()])
            .decrypt(&to_c, &c.public)
            .expect("C opens"),
        b"psv"
    );
    let stranger = PublicKey::from_bytes(vec![7u8; 32]);
    assert!(payload.for_recipient(&stranger).is_err());
}

#[test]
fn one_copy_for_several_keys_of_a_node_stores_what_one_copy_per_key_does() {
    // The grouped push (docs/p2p.md, "One push per node"): the boxes and keys of the chosen
    // recipients, box i for key i, in the order asked for; in PSV mode every key, the chosen
    // first. Stored, it opens for each chosen key and, merged into the per-key copies, adds
    // nothing they lack.
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let keyring = Keyring::new(vec![a.clone()]);
    let node = Keyring::new(vec![b.clone(), c.clone()]);
    for mode in [
        PrivacyMode::StandardPrivate,
        PrivacyMode::PrivateStateValidation,
    ] {
        let metadata = PrivacyMetadata {
            privacy_mode: mode,
            exec_hash: if mode == PrivacyMode::StandardPrivate {
                Vec::new()
            } else {
                b"exec".to_vec()
            },
            ..PrivacyMetadata::default()
        };
        let payload = keyring
            .encrypt_payload(
                b"grouped",
                &a.public,
                &[b.public.clone(), a.public.clone(), c.public.clone()],
                &metadata,
            )
            .expect("encrypts");
        let grouped = payload
            .for_recipients(&[c.public.clone(), b.public.clone()])
            .expect("C and B");
        let expected_keys = if mode == PrivacyMode::StandardPrivate {
            vec![c.public.clone(), b.public.clone()]
        } else {
            vec![c.public.clone(), b.public.clone(), a.public.clone()]
        };
        assert_eq!(grouped.recipient_keys, expected_keys, "{mode:?}");
        assert_eq!(
            grouped.recipient_boxes,
            vec![
                payload.recipient_boxes[2].clone(),
                payload.recipient_boxes[0].clone()
            ],
            "{mode:?}"
        );
        grouped.check_storable().expect("storable");
        for key in [&b.public, &c.public] {
            assert_eq!(node.decrypt(&grouped, key).expect("opens"), b"grouped");
        }
        let mut per_key = payload.for_recipient(&b.public).expect("B");
        assert!(per_key.merge_recipients_from(&payload.for_recipient(&c.public).expect("C")));
        let mut merged = per_key.clone();
        assert!(
            !merged.merge_recipients_from(&grouped),
            "{mode:?}: the grouped copy holds nothing the per-key copies lack"
        );
        assert_eq!(
            payload.for_recipients(std::slice::from_ref(&b.public)),
            payload.for_recipient(&b.public),
            "one key is the per-key copy"
        );
    }
    let stranger = PublicKey::from_bytes(vec![7u8; 32]);
    let payload = keyring
        .encrypt_payload(
            b"x",
            &a.public,
            std::slice::from_ref(&b.public),
            &PrivacyMetadata::default(),
        )
        .expect("encrypts");
    assert!(payload
        .for_recipients(&[b.public.clone(), stranger])
        .is_err());
}

#[test]
fn the_sender_opens_a_psv_copy_rebuilt_from_a_recipient() {
    // Recovery gives the sender of a PSV transaction a recipient's copy: every key, the
    // recipient's first, and only the recipient's box. The sender opens it with that box.
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let metadata = PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        exec_hash: b"exec".to_vec(),
        ..PrivacyMetadata::default()
    };
    let recipients = [b.public.clone(), c.public.clone(), a.public.clone()];
    let payload = Keyring::new(vec![a.clone()])
        .encrypt_payload(b"psv rebuilt", &a.public, &recipients, &metadata)
        .expect("encrypts");
    let rebuilt = payload.for_recipient(&c.public).expect("C's copy");
    assert_eq!(
        Keyring::new(vec![a.clone()])
            .decrypt(&rebuilt, &a.public)
            .expect("the sender opens it"),
        b"psv rebuilt"
    );
    // Another key that has no box in it still cannot.
    assert!(Keyring::new(vec![b.clone()])
        .decrypt(&rebuilt, &b.public)
        .is_err());
}

#[test]
fn merging_in_psv_mode_moves_the_key_to_the_front() {
    let file = load("payloads/derived-end-to-end-vectors.json");
    let Parties { a, b, c } = parties(&file);
    let keyring = Keyring::new(vec![a.clone()]);
    let metadata = PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        exec_hash: b"exec".to_vec(),
        ..PrivacyMetadata::default()
    };
    let recipients = [b.public.clone(), c.public.clone(), a.public.clone()];
    let payload = keyring
        .encrypt_payload(b"psv merge", &a.public, &recipients, &metadata)
        .expect("encrypts");
    let mut stored = payload.for_recipient(&b.public).expect("B");
    let second = payload.for_recipient(&c.public).expect("C");
    assert!(stored.is_same_transaction(&second));
    assert!(stored.merge_recipients_from(&second));
    assert_eq!(stored.recipient_boxes.len(), 2);
    assert_eq!(
        stored.recipient_keys,
        vec![c.public.clone(), b.public.clone(), a.public.clone()]
    );
    assert!(
        !stored.merge_recipients_from(&second),
        "the same box twice is a no-op"
    );
    let node = Keyring::new(vec![b.clone(), c.clone()]);
    for key in [&b.public, &c.public] {
        assert_eq!(node.decrypt(&stored, key).expect("opens"), b"psv merge");
    }
    let mut other = second.clone();
    other.exec_hash = b"different".to_vec();
    assert!(!stored.is_same_transaction(&other));
}
