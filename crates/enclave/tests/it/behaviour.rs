//! One behaviour suite, run against the in-process enclave and the real remote one.

use std::collections::BTreeSet;

use tm_core::payload::PrivacyGroupId;
use tm_core::seal::PrivacyMetadata;
use tm_core::{Classify as _, PrivacyMode, PublicKey};
use tm_enclave::{EnclaveClient, EnclaveError, Status};

use crate::support::{keys, local, other_node, remote, write_config, EnclaveProcess};

async fn suite(enclave: &EnclaveClient) {
    let k = keys();
    let other = other_node();
    let plain = PrivacyMetadata::default();
    let message = b"contract bytecode \x00\x01\x02".to_vec();

    // Keys and status.
    assert_eq!(enclave.status().await, Status::Started);
    assert_eq!(
        enclave.default_public_key().await.expect("default"),
        k.a.public
    );
    assert_eq!(
        enclave.public_keys().await.expect("public"),
        vec![k.a.public.clone(), k.b.public.clone()]
    );
    assert_eq!(
        enclave.forwarding_keys().await.expect("forwarding"),
        vec![k.c.public.clone()]
    );

    // Send A -> [C, A]: we read our copy, the other node reads the copy pushed to it.
    let recipients = [k.c.public.clone(), k.a.public.clone()];
    let sent = enclave
        .encrypt_payload(&message, &k.a.public, &recipients, &plain)
        .await
        .expect("encrypt");
    assert_eq!(sent.sender, k.a.public);
    assert_eq!(sent.recipient_keys, recipients);
    assert_eq!(
        enclave
            .unencrypt_transaction(&sent, Some(&k.a.public))
            .await
            .expect("own copy"),
        message
    );
    let pushed = sent.for_recipient(&k.c.public).expect("strip");
    assert_eq!(
        other
            .unencrypt_transaction(&pushed, Some(&k.c.public))
            .expect("peer reads"),
        message
    );

    // Receive from C: with the key named, or with any of ours.
    let incoming = other
        .encrypt_payload(
            &message,
            &k.c.public,
            std::slice::from_ref(&k.b.public),
            &plain,
        )
        .expect("peer send");
    let incoming = incoming.for_recipient(&k.b.public).expect("strip");
    assert_eq!(
        enclave
            .unencrypt_transaction(&incoming, Some(&k.b.public))
            .await
            .expect("named"),
        message
    );
    assert_eq!(
        enclave
            .unencrypt_transaction(&incoming, None)
            .await
            .expect("any"),
        message
    );

    // storeraw -> sendsignedtx.
    let raw = enclave
        .encrypt_raw_payload(&message, &k.a.public)
        .await
        .expect("raw");
    assert_eq!(raw.sender, k.a.public);
    assert_eq!(raw.nonce.as_bytes().len(), 24);
    assert_eq!(
        enclave.unencrypt_raw_payload(&raw).await.expect("open raw"),
        message
    );
    let signed = enclave
        .encrypt_raw_for_recipients(&raw, &recipients, &plain)
        .await
        .expect("to recipients");
    assert_eq!(signed.cipher_text, raw.encrypted_payload);
    assert_eq!(signed.cipher_text_nonce, raw.nonce);
    assert_eq!(
        other
            .unencrypt_transaction(
                &signed.for_recipient(&k.c.public).expect("strip"),
                Some(&k.c.public)
            )
            .expect("peer"),
        message
    );

    // A new box for B on a payload we sent.
    let new_box = enclave
        .create_new_recipient_box(&sent, &k.b.public)
        .await
        .expect("box");
    assert_eq!(new_box.len(), 48);
    let mut for_b = sent.clone();
    for_b.recipient_boxes = vec![tm_core::payload::RecipientBox(new_box)];
    for_b.recipient_keys = vec![k.b.public.clone()];
    assert_eq!(
        enclave
            .unencrypt_transaction(&for_b, Some(&k.b.public))
            .await
            .expect("B reads"),
        message
    );

    // Enhanced privacy: ACOTH security hashes computed and verified.
    let affected = vec![(sent.hash(), sent.clone())];
    let protected = PrivacyMetadata {
        privacy_mode: PrivacyMode::PartyProtection,
        affected: affected.clone(),
        ..PrivacyMetadata::default()
    };
    let second = enclave
        .encrypt_payload(b"call", &k.a.public, &recipients, &protected)
        .await
        .expect("pp");
    assert_eq!(second.privacy_mode, PrivacyMode::PartyProtection);
    assert!(second
        .affected_contract_transactions
        .contains_key(&sent.hash()));
    let none: BTreeSet<_> = enclave
        .find_invalid_security_hashes(&second, &affected)
        .await
        .expect("check");
    assert!(none.is_empty());
    let missing = enclave
        .find_invalid_security_hashes(&second, &[])
        .await
        .expect("check");
    assert_eq!(missing, BTreeSet::from([sent.hash()]));
    let wrong = vec![(sent.hash(), signed.clone())];
    let tampered = enclave
        .find_invalid_security_hashes(&second, &wrong)
        .await
        .expect("check");
    assert_eq!(tampered, BTreeSet::from([sent.hash()]));

    // Mandatory recipients and a privacy group survive the trip.
    let mr = PrivacyMetadata {
        privacy_mode: PrivacyMode::MandatoryRecipients,
        mandatory_recipients: BTreeSet::from([k.c.public.clone()]),
        privacy_group_id: Some(PrivacyGroupId(b"group-1".to_vec())),
        ..PrivacyMetadata::default()
    };
    let mr_payload = enclave
        .encrypt_payload(&message, &k.a.public, &recipients, &mr)
        .await
        .expect("mr");
    assert_eq!(mr_payload.mandatory_recipients, mr.mandatory_recipients);
    assert_eq!(mr_payload.privacy_group_id, mr.privacy_group_id);
    let psv = PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        exec_hash: b"execution-hash".to_vec(),
        affected,
        ..PrivacyMetadata::default()
    };
    let psv_payload = enclave
        .encrypt_payload(&message, &k.a.public, &recipients, &psv)
        .await
        .expect("psv");
    assert_eq!(psv_payload.exec_hash, b"execution-hash".to_vec());
    assert_eq!(
        enclave
            .unencrypt_transaction(&psv_payload, Some(&k.a.public))
            .await
            .expect("psv read"),
        message
    );

    // Errors: the same kind from both implementations.
    let unknown = enclave
        .encrypt_payload(&message, &k.c.public, &recipients, &plain)
        .await
        .expect_err("unknown sender");
    assert!(
        matches!(&unknown, EnclaveError::KeyNotFound(m) if m.contains(&k.c.public.to_base64())),
        "{unknown:?}"
    );
    assert_eq!(unknown.kind(), tm_core::ErrorKind::NotFound);
    let not_recipient = enclave
        .unencrypt_transaction(&incoming, Some(&k.a.public))
        .await
        .expect_err("not mine");
    assert!(
        matches!(not_recipient, EnclaveError::Failed(_)),
        "{not_recipient:?}"
    );
    let mut broken = raw.clone();
    broken.encrypted_payload[0] ^= 1;
    let err = enclave
        .unencrypt_raw_payload(&broken)
        .await
        .expect_err("tampered");
    assert!(matches!(err, EnclaveError::Failed(_)), "{err:?}");
    let short = PublicKey::from_bytes(vec![1, 2, 3]);
    let err = enclave
        .encrypt_payload(&message, &k.a.public, &[short], &plain)
        .await
        .expect_err("short key");
    assert!(matches!(err, EnclaveError::BadRequest(_)), "{err:?}");
    let inconsistent = PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        ..PrivacyMetadata::default()
    };
    let err = enclave
        .encrypt_payload(&message, &k.a.public, &recipients, &inconsistent)
        .await
        .expect_err("psv without hash");
    assert!(matches!(err, EnclaveError::Failed(_)), "{err:?}");

    // No error text carries a private key.
    for e in [&unknown, &not_recipient, &err] {
        for secret in [&k.a.private, &k.b.private] {
            assert!(!e.to_string().contains(secret.expose_base64().as_str()));
            assert!(!format!("{e:?}").contains(secret.expose_base64().as_str()));
        }
    }
}

#[tokio::test]
async fn in_process_enclave() {
    let enclave = local();
    suite(&enclave).await;
    let debug = format!("{enclave:?}");
    let k = keys();
    assert!(debug.contains(&k.a.public.to_base64()), "{debug}");
    for secret in [&k.a.private, &k.b.private] {
        assert!(!debug.contains(secret.expose_base64().as_str()), "{debug}");
    }
}

#[tokio::test]
async fn remote_enclave_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (process, port) = EnclaveProcess::launch(&write_config(dir.path(), 0)).await;
    suite(&remote(port)).await;
    // Nothing secret was logged while serving (debug level).
    let log = process.log();
    let k = keys();
    for secret in [&k.a.private, &k.b.private] {
        assert!(
            !log.contains(secret.expose_base64().as_str()),
            "private key in the log:\n{log}"
        );
    }
    assert!(log.contains("enclave started"), "{log}");
}

#[tokio::test]
async fn remote_enclave_down_then_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut process, port) = EnclaveProcess::launch(&write_config(dir.path(), 0)).await;
    // Restarts listen on the port the first start got.
    let config = write_config(dir.path(), port);
    let client = remote(port);
    let k = keys();
    assert_eq!(client.default_public_key().await.expect("up"), k.a.public);
    process.stop();

    let err = client
        .public_keys()
        .await
        .expect_err("nothing listening any more");
    assert!(matches!(err, EnclaveError::Unavailable(_)), "{err:?}");
    assert_eq!(err.kind(), tm_core::ErrorKind::Unavailable);
    assert_eq!(client.status().await, Status::Stopped);

    let err = client
        .encrypt_payload(
            b"x",
            &k.a.public,
            std::slice::from_ref(&k.a.public),
            &Default::default(),
        )
        .await
        .expect_err("down");
    assert!(matches!(err, EnclaveError::Unavailable(_)), "{err:?}");
    assert_eq!(client.status().await, Status::Stopped);

    let _process = EnclaveProcess::start(&config, port).await;
    assert_eq!(client.status().await, Status::Started);
    let payload = client
        .encrypt_payload(
            b"x",
            &k.a.public,
            std::slice::from_ref(&k.a.public),
            &Default::default(),
        )
        .await
        .expect("the same client works again");
    assert_eq!(
        client
            .unencrypt_transaction(&payload, Some(&k.a.public))
            .await
            .expect("read"),
        b"x"
    );
}

#[tokio::test]
async fn garbage_from_a_remote_is_unavailable() {
    // A server that is not an enclave: answers 200 with nonsense to everything.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().default_service(actix_web::web::to(|| async {
            actix_web::HttpResponse::Ok().body("not what an enclave says")
        }))
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let client = remote(port);
    let k = keys();
    for err in [
        client.public_keys().await.expect_err("keys"),
        client
            .encrypt_payload(b"x", &k.a.public, &[], &Default::default())
            .await
            .expect_err("payload"),
        client
            .encrypt_raw_payload(b"x", &k.a.public)
            .await
            .expect_err("raw"),
    ] {
        assert!(matches!(err, EnclaveError::Unavailable(_)), "{err:?}");
    }
    handle.stop(false).await;
}
