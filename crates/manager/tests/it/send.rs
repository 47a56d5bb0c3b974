//! The Q2T send path: encrypt for the sender, the recipients and the forwarding keys, store,
//! and push each remote recipient its own copy; a send that cannot complete leaves nothing.

use tm_core::{ErrorKind, PayloadCodec, PrivacyMode, PublicKey, TxHash};
use tm_manager::transaction::{Privacy, SendParams, Sent};

use crate::support::{all_versions, failure, versions_without_cbor, DeadPeer, TestNode};

fn params(message: &[u8], privacy: Privacy) -> SendParams {
    SendParams {
        payload: message.to_vec(),
        from: None,
        privacy,
    }
}

fn party_protection(to: Vec<PublicKey>, affected: Vec<TxHash>) -> Privacy {
    Privacy {
        to,
        privacy_mode: PrivacyMode::PartyProtection,
        affected,
        ..Privacy::default()
    }
}

async fn send(node: &TestNode, message: &[u8], privacy: Privacy) -> Sent {
    node.node
        .send(params(message, privacy))
        .await
        .expect("the send succeeds")
}

#[tokio::test]
async fn send_stores_the_payload_and_pushes_each_recipient_its_own_box() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(2).await;
    let c = TestNode::start(1).await;
    a.learn(&b, all_versions()).await;
    a.learn(&c, versions_without_cbor()).await;
    let (b1, b2, c1) = (b.keys[0].public.clone(), b.keys[1].public.clone(), c.key());

    let sent = send(
        &a,
        b"hello",
        Privacy::standard(vec![b1.clone(), c1.clone()]),
    )
    .await;
    assert_eq!(sent.sender, a.key());
    assert_eq!(sent.managed_parties, vec![a.key()]);

    // The sender keeps the whole payload: every recipient's box, the sender's last.
    let full = a.stored(&sent.hash).await.expect("the sender stores it");
    assert_eq!(full.hash(), sent.hash);
    assert_eq!(full.sender, a.key());
    assert_eq!(full.recipient_keys, vec![b1.clone(), c1.clone(), a.key()]);
    assert_eq!(full.recipient_boxes.len(), 3);
    let mine = a
        .node
        .receive(&sent.hash, None, false)
        .await
        .expect("the sender reads it");
    assert_eq!(mine.payload, b"hello");
    assert!(a.node.is_sender(&sent.hash).await.expect("is sender"));

    // Each recipient's node holds its recipient's box and key, nothing more.
    assert_eq!(
        b.stored(&sent.hash).await.expect("pushed to B"),
        full.for_recipient(&b1).expect("B's copy")
    );
    assert_eq!(
        c.stored(&sent.hash).await.expect("pushed to C"),
        full.for_recipient(&c1).expect("C's copy")
    );
    let at_b = b
        .node
        .receive(&sent.hash, None, false)
        .await
        .expect("B reads it");
    assert_eq!(at_b.payload, b"hello");
    assert_eq!(at_b.sender, a.key());
    assert_eq!(at_b.managed_parties, vec![b1]);
    assert!(!b.node.is_sender(&sent.hash).await.expect("is sender"));
    // B's other key was not a recipient: it has no box to open.
    assert!(b.node.receive(&sent.hash, Some(b2), false).await.is_err());
    let at_c = c
        .node
        .receive(&sent.hash, None, false)
        .await
        .expect("C reads it");
    assert_eq!(at_c.payload, b"hello");

    // One push each, in the codec each node advertised support for.
    assert_eq!(b.calls.pushes(), vec![PayloadCodec::Cbor]);
    assert_eq!(c.calls.pushes(), vec![PayloadCodec::Legacy]);
    assert_eq!(a.stored_count().await, 1);
}

#[tokio::test]
async fn keys_of_one_node_share_a_push_only_when_that_node_merges_grouped_pushes() {
    // docs/p2p.md, "One push per node": B said it merges a push with several of its keys'
    // boxes (the mark its party info's header leaves); C did not (a Java Tessera node, whose
    // receiver merges only a push's first box into a copy it holds), so C gets one push per key.
    let a = TestNode::start(1).await;
    let b = TestNode::start(3).await;
    let c = TestNode::start(2).await;
    let mut grouped = all_versions();
    grouped.push(tm_core::version::GROUPED_PUSH_MARK.to_owned());
    a.learn(&b, grouped).await;
    a.learn(&c, all_versions()).await;
    let b_keys: Vec<PublicKey> = b.keys.iter().map(|k| k.public.clone()).collect();
    let c_keys: Vec<PublicKey> = c.keys.iter().map(|k| k.public.clone()).collect();
    let to = vec![
        b_keys[0].clone(),
        c_keys[0].clone(),
        b_keys[2].clone(),
        c_keys[1].clone(),
    ];

    let sent = send(&a, b"one push per node", Privacy::standard(to)).await;
    let full = a.stored(&sent.hash).await.expect("the sender stores it");

    assert_eq!(b.calls.pushes(), vec![PayloadCodec::Cbor], "one push to B");
    assert_eq!(
        b.stored(&sent.hash).await.expect("pushed to B"),
        full.for_recipients(&[b_keys[0].clone(), b_keys[2].clone()])
            .expect("B's copy"),
        "B holds both its recipients' boxes, in one row"
    );
    assert_eq!(c.calls.pushes().len(), 2, "one push per key to C");
    let at_c = c.stored(&sent.hash).await.expect("pushed to C");
    let mut c_held = at_c.recipient_keys.clone();
    c_held.sort();
    let mut c_sent = c_keys.clone();
    c_sent.sort();
    assert_eq!(c_held, c_sent, "C merged its two pushes");

    for (node, key) in [
        (&b, &b_keys[0]),
        (&b, &b_keys[2]),
        (&c, &c_keys[0]),
        (&c, &c_keys[1]),
    ] {
        let got = node
            .node
            .receive(&sent.hash, Some(key.clone()), false)
            .await
            .expect("each recipient key opens its copy");
        assert_eq!(got.payload, b"one push per node");
    }
    let at_b = b
        .node
        .receive(&sent.hash, None, false)
        .await
        .expect("B reads it");
    let mut managed = at_b.managed_parties.clone();
    managed.sort();
    let mut expected = vec![b_keys[0].clone(), b_keys[2].clone()];
    expected.sort();
    assert_eq!(managed, expected, "B's key outside the send is not a party");
    assert!(
        b.node
            .receive(&sent.hash, Some(b_keys[1].clone()), false)
            .await
            .is_err(),
        "B's third key was not a recipient"
    );
}

#[tokio::test]
async fn a_receive_without_a_key_asks_the_enclave_to_decrypt_once() {
    // Tessera searches for the key that opens the payload, then decrypts again with it; the
    // search's own decryption is the answer, so the enclave is asked once (docs/benchmarks.md).
    let a = TestNode::start(1).await;
    let b = TestNode::start_with_remote_enclave(1).await;
    a.learn(&b, all_versions()).await;
    let sent = send(&a, b"decrypted once", Privacy::standard(vec![b.key()])).await;
    // Warm the remote enclave client's key lists, then count.
    b.node
        .receive(&sent.hash, None, false)
        .await
        .expect("B reads it");
    b.calls.take_enclave_calls();
    let got = b
        .node
        .receive(&sent.hash, None, false)
        .await
        .expect("B reads it");
    assert_eq!(got.payload, b"decrypted once");
    assert_eq!(got.managed_parties, vec![b.key()]);
    assert_eq!(b.calls.take_enclave_calls(), vec!["/unencrypt".to_owned()]);
    let with_key = b
        .node
        .receive(&sent.hash, Some(b.key()), false)
        .await
        .expect("B reads it with its key");
    assert_eq!(with_key.payload, b"decrypted once");
    assert_eq!(b.calls.take_enclave_calls(), vec!["/unencrypt".to_owned()]);
}

#[tokio::test]
async fn a_send_between_our_own_keys_is_stored_and_pushed_nowhere() {
    let a = TestNode::start(2).await;
    let other = TestNode::start(1).await;
    a.learn(&other, all_versions()).await;
    let (a1, a2) = (a.keys[0].public.clone(), a.keys[1].public.clone());

    let sent = send(&a, b"to myself", Privacy::standard(vec![a2.clone()])).await;
    assert_eq!(sent.managed_parties, vec![a2.clone(), a1.clone()]);
    let received = a
        .node
        .receive(&sent.hash, Some(a2), false)
        .await
        .expect("the recipient key opens it");
    assert_eq!(received.payload, b"to myself");
    assert_eq!(received.sender, a1);
    assert_eq!(a.stored_count().await, 1);
    assert!(a.calls.pushes().is_empty());
    assert!(other.calls.pushes().is_empty());
}

#[tokio::test]
async fn a_send_to_an_unknown_key_is_not_found_and_stores_nothing() {
    let a = TestNode::start(1).await;
    let stranger = crate::support::generate_keys(1).remove(0).public;
    let (kind, message) = failure(
        a.node
            .send(params(b"lost", Privacy::standard(vec![stranger.clone()])))
            .await,
    );
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
    assert_eq!(
        message,
        format!("Recipient not found for key: {}", stranger.to_base64())
    );
    assert_eq!(a.stored_count().await, 0);
}

#[tokio::test]
async fn a_send_to_an_offline_node_fails_and_leaves_nothing_stored() {
    let a = TestNode::start(1).await;
    let dead = DeadPeer::new();
    let gone = crate::support::generate_keys(1).remove(0).public;
    a.learn_keys_at(&dead.url, std::slice::from_ref(&gone))
        .await;

    let (kind, message) = failure(
        a.node
            .send(params(b"nobody home", Privacy::standard(vec![gone])))
            .await,
    );
    assert_eq!(kind, ErrorKind::RecipientOffline, "{message}");
    assert_eq!(
        a.stored_count().await,
        0,
        "the failed send's row is removed"
    );
}

#[tokio::test]
async fn a_push_refused_by_the_recipient_fails_the_send() {
    let a = TestNode::start(1).await;
    // B advertises enhanced privacy but has it switched off: it refuses the push with 403.
    let b = TestNode::start_with(1, |s| s.privacy_enhancements = false).await;
    a.learn(&b, all_versions()).await;

    let (kind, message) = failure(
        a.node
            .send(params(
                b"protected",
                party_protection(vec![b.key()], Vec::new()),
            ))
            .await,
    );
    assert_eq!(kind, ErrorKind::Refused, "{message}");
    assert_eq!(
        message,
        format!("Unable to push payload to recipient url {}", b.url)
    );
    assert_eq!(b.calls.pushes().len(), 1, "the push was attempted");
    assert_eq!(b.stored_count().await, 0);
    assert_eq!(
        a.stored_count().await,
        0,
        "the failed send's row is removed"
    );
}

#[tokio::test]
async fn enhanced_privacy_is_not_sent_to_a_node_that_does_not_advertise_it() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(1).await;
    // An old node: no `v2`, so no enhanced privacy.
    a.learn(&b, vec!["2.1".to_owned(), "v1".to_owned()]).await;

    let (kind, message) = failure(
        a.node
            .send(params(
                b"protected",
                party_protection(vec![b.key()], Vec::new()),
            ))
            .await,
    );
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert!(
        message.contains("enhanced privacy is not currently supported"),
        "{message}"
    );
    assert!(b.calls.pushes().is_empty(), "refused before any push");
    assert_eq!(a.stored_count().await, 0);

    // A standard send to the same node still goes through.
    let sent = send(&a, b"plain", Privacy::standard(vec![b.key()])).await;
    assert!(b.stored(&sent.hash).await.is_some());
}

#[tokio::test]
async fn affected_transactions_are_checked_and_carry_valid_security_hashes() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(1).await;
    a.learn(&b, all_versions()).await;

    let first = send(&a, b"first", party_protection(vec![b.key()], Vec::new())).await;
    let second = send(
        &a,
        b"second",
        party_protection(vec![b.key()], vec![first.hash.clone()]),
    )
    .await;
    // B keeps an affected transaction only if its security hash verifies.
    let at_b = b.stored(&second.hash).await.expect("pushed to B");
    assert_eq!(
        at_b.affected_contract_transactions
            .keys()
            .cloned()
            .collect::<Vec<_>>(),
        vec![first.hash.clone()]
    );
    let received = b
        .node
        .receive(&second.hash, None, false)
        .await
        .expect("B reads it");
    assert_eq!(received.privacy_mode, PrivacyMode::PartyProtection);
    assert_eq!(received.affected, vec![first.hash.clone()]);

    // An affected transaction the sender does not hold.
    let unknown = TxHash::of_cipher_text(b"never sent");
    let (kind, message) = failure(
        a.node
            .send(params(
                b"third",
                party_protection(vec![b.key()], vec![unknown.clone()]),
            ))
            .await,
    );
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(
        message,
        format!("Unable to find affectedContractTransaction {unknown}")
    );

    // A privacy mode other than the affected transaction's.
    let mut standard = Privacy::standard(vec![b.key()]);
    standard.affected = vec![first.hash.clone()];
    let (kind, message) = failure(a.node.send(params(b"fourth", standard)).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(
        message,
        format!(
            "Privacy metadata mismatched with Affected Txn {}",
            first.hash
        )
    );

    assert_eq!(a.stored_count().await, 2);
    assert_eq!(b.stored_count().await, 2);
}

#[tokio::test]
async fn sends_the_node_must_refuse() {
    let a = TestNode::start_with(1, |s| s.privacy_enhancements = false).await;
    let b = TestNode::start(1).await;
    a.learn(&b, all_versions()).await;

    let (kind, message) = failure(
        a.node
            .send(params(b"", Privacy::standard(vec![b.key()])))
            .await,
    );
    assert_eq!(kind, ErrorKind::Invalid, "{message}");

    let (kind, message) = failure(
        a.node
            .send(params(
                b"protected",
                party_protection(vec![b.key()], Vec::new()),
            ))
            .await,
    );
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(message, "Enhanced Privacy is not enabled");

    assert_eq!(a.stored_count().await, 0);
    assert!(b.calls.pushes().is_empty());
}
