//! Resend: INDIVIDUAL (one transaction, answered in LEGACY), ALL (every standard-private
//! transaction pushed to the requester's node) and batch (`/pushBatch` calls of a given size,
//! enhanced privacy included).

use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, ErrorKind, PayloadCodec, PrivacyMode, PublicKey, TxHash};
use tm_manager::push::PushOutcome;

use crate::support::{all_versions, failure, generate_keys, TestNode};

/// What node A holds, as if it had sent and received these transactions.
struct Holdings {
    /// A to B, standard private (full payloads as A stores them).
    to_b: Vec<EncodedPayload>,
    /// A to B, party protection.
    protected_to_b: EncodedPayload,
    /// A to another key, not B's.
    to_other: EncodedPayload,
    /// B to A: A holds only its own copy.
    from_b: EncodedPayload,
}

impl Holdings {
    /// The copy of each transaction B may have, by hash: B's box for what A sent it, and
    /// A's whole copy of what B sent.
    fn expected_for_b(&self, b: &PublicKey, with_protected: bool) -> Vec<(TxHash, EncodedPayload)> {
        let mut expected: Vec<(TxHash, EncodedPayload)> = self
            .to_b
            .iter()
            .map(|p| (p.hash(), p.for_recipient(b).expect("B's copy")))
            .collect();
        if with_protected {
            let p = &self.protected_to_b;
            expected.push((p.hash(), p.for_recipient(b).expect("B's copy")));
        }
        expected.push((self.from_b.hash(), self.from_b.clone()));
        expected
    }
}

fn seal_at(node: &TestNode, message: &[u8], to: &[PublicKey], mode: PrivacyMode) -> EncodedPayload {
    let mut recipients = to.to_vec();
    recipients.push(node.key());
    let metadata = PrivacyMetadata {
        privacy_mode: mode,
        ..PrivacyMetadata::default()
    };
    node.keyring()
        .encrypt_payload(message, &node.key(), &recipients, &metadata)
        .expect("seals")
}

/// Fills A's database: what `send` would have stored and a push from B.
async fn populate(a: &TestNode, b: &TestNode) -> Holdings {
    let other = generate_keys(1).remove(0).public;
    let mut to_b = Vec::new();
    for message in [&b"one"[..], b"two"] {
        to_b.push(seal_at(
            a,
            message,
            &[b.key()],
            PrivacyMode::StandardPrivate,
        ));
    }
    let protected_to_b = seal_at(a, b"protected", &[b.key()], PrivacyMode::PartyProtection);
    let to_other = seal_at(a, b"not for B", &[other], PrivacyMode::StandardPrivate);
    for payload in to_b.iter().chain([&protected_to_b, &to_other]) {
        a.store
            .store_payload(payload.clone())
            .await
            .expect("stored");
    }
    let from_b = seal_at(b, b"from B", &[a.key()], PrivacyMode::StandardPrivate)
        .for_recipient(&a.key())
        .expect("A's copy");
    let (_, outcome) = a
        .node
        .receive_push(from_b.clone())
        .await
        .expect("A stores B's push");
    assert_eq!(outcome, PushOutcome::Stored);
    assert_eq!(a.stored_count().await, 5);
    Holdings {
        to_b,
        protected_to_b,
        to_other,
        from_b,
    }
}

#[tokio::test]
async fn individual_resend_answers_the_requesters_copy_in_legacy() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(1).await;
    let held = populate(&a, &b).await;
    let sent = &held.to_b[0];

    // A recipient gets its own box only, and can open it.
    let bytes = a
        .node
        .resend_individual(&b.key(), &sent.hash())
        .await
        .expect("resent");
    let copy = PayloadCodec::Legacy.decode(&bytes).expect("LEGACY");
    assert_eq!(copy, sent.for_recipient(&b.key()).expect("B's copy"));
    let opened = b.node.decrypt_only(copy).await.expect("B opens it");
    assert_eq!(opened.payload, b"one");

    // The sender gets the whole payload.
    let bytes = a
        .node
        .resend_individual(&a.key(), &sent.hash())
        .await
        .expect("resent");
    assert_eq!(PayloadCodec::Legacy.decode(&bytes).expect("LEGACY"), *sent);
    let bytes = a
        .node
        .resend_individual(&b.key(), &held.from_b.hash())
        .await
        .expect("resent");
    assert_eq!(
        PayloadCodec::Legacy.decode(&bytes).expect("LEGACY"),
        held.from_b
    );

    // Not a party: Tessera's 500 (InvalidRecipientException), with the message its resend
    // acceptance test checks.
    let stranger = generate_keys(1).remove(0).public;
    let (kind, message) = failure(a.node.resend_individual(&stranger, &sent.hash()).await);
    assert_eq!(kind, ErrorKind::Refused, "{message}");
    assert!(
        message.contains(&format!(
            "Recipient {stranger} is not a recipient of transaction"
        )),
        "{message}"
    );
    let (kind, message) = failure(
        a.node
            .resend_individual(&b.key(), &held.to_other.hash())
            .await,
    );
    assert_eq!(kind, ErrorKind::Refused, "{message}");

    // Unknown hash.
    let unknown = TxHash::of_cipher_text(b"never stored");
    let (kind, message) = failure(a.node.resend_individual(&b.key(), &unknown).await);
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
    assert_eq!(
        message,
        format!("Message with hash {unknown} was not found")
    );

    // Enhanced privacy is never resent individually.
    let (kind, message) = failure(
        a.node
            .resend_individual(&b.key(), &held.protected_to_b.hash())
            .await,
    );
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(
        message,
        "Cannot resend enhanced privacy transaction in legacy resend"
    );
}

#[tokio::test]
async fn resend_all_pushes_every_standard_private_transaction_of_the_requester() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(1).await;
    let held = populate(&a, &b).await;
    a.learn(&b, all_versions()).await;

    let pushed = a.node.resend_all(&b.key()).await.expect("resent");
    assert_eq!(pushed, 3);
    assert_eq!(b.calls.pushes().len(), 3);
    assert_eq!(b.stored_count().await, 3);
    for (hash, expected) in held.expected_for_b(&b.key(), false) {
        assert_eq!(b.stored(&hash).await.as_ref(), Some(&expected));
        b.node
            .receive(&hash, None, false)
            .await
            .expect("B opens what was resent");
    }
    assert!(b.stored(&held.protected_to_b.hash()).await.is_none());
    assert!(b.stored(&held.to_other.hash()).await.is_none());

    // Again: the same copies, nothing new.
    assert_eq!(a.node.resend_all(&b.key()).await.expect("resent"), 3);
    assert_eq!(b.stored_count().await, 3);

    // Our own key: nothing to do.
    assert_eq!(a.node.resend_all(&a.key()).await.expect("own key"), 0);
    assert_eq!(b.calls.pushes().len(), 6);

    // A key with no known node.
    let stranger = generate_keys(1).remove(0).public;
    let (kind, message) = failure(a.node.resend_all(&stranger).await);
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
    assert_eq!(
        message,
        format!("Recipient not found for key: {}", stranger.to_base64())
    );
}

#[tokio::test]
async fn resend_batch_sends_everything_of_the_requester_in_batches() {
    let a = TestNode::start(1).await;
    let b = TestNode::start(1).await;
    let held = populate(&a, &b).await;
    a.learn(&b, all_versions()).await;

    let total = a
        .node
        .resend_batch(&b.key(), Some(3))
        .await
        .expect("resent");
    assert_eq!(total, 4);
    assert_eq!(b.calls.batches(), vec![3, 1]);
    assert!(b.calls.pushes().is_empty(), "batches only");
    assert_eq!(b.stored_count().await, 4);
    for (hash, expected) in held.expected_for_b(&b.key(), true) {
        assert_eq!(b.stored(&hash).await.as_ref(), Some(&expected));
    }
    assert!(b.stored(&held.to_other.hash()).await.is_none());

    // No size, or one out of range: one batch of everything.
    for size in [None, Some(0), Some(1_000_000)] {
        assert_eq!(
            a.node.resend_batch(&b.key(), size).await.expect("resent"),
            4
        );
    }
    assert_eq!(b.calls.batches(), vec![3, 1, 4, 4, 4]);
    assert_eq!(b.stored_count().await, 4);

    let stranger = generate_keys(1).remove(0).public;
    let (kind, message) = failure(a.node.resend_batch(&stranger, None).await);
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
}
