//! Receiving pushes (`TransactionManagerImpl.storePayload`): a new hash is stored, a second push
//! of the same transaction merges its box in, and the privacy checks refuse or drop what does
//! not line up with what the node holds.

use std::collections::BTreeSet;

use tm_core::payload::{Nonce, RecipientBox, SecurityHash};
use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, ErrorKind, PrivacyMode, PublicKey, TxHash};
use tm_manager::push::PushOutcome;

use crate::support::{failure, generate_keys, Outsider, TestNode};

fn psv(affected: Vec<(TxHash, EncodedPayload)>, exec_hash: &[u8]) -> PrivacyMetadata {
    PrivacyMetadata {
        privacy_mode: PrivacyMode::PrivateStateValidation,
        affected,
        exec_hash: exec_hash.to_vec(),
        ..PrivacyMetadata::default()
    }
}

fn party_protection(affected: Vec<(TxHash, EncodedPayload)>) -> PrivacyMetadata {
    PrivacyMetadata {
        privacy_mode: PrivacyMode::PartyProtection,
        affected,
        ..PrivacyMetadata::default()
    }
}

fn copy_for(payload: &EncodedPayload, key: &PublicKey) -> EncodedPayload {
    payload.for_recipient(key).expect("a recipient")
}

async fn push(node: &TestNode, payload: EncodedPayload) -> PushOutcome {
    let hash = payload.hash();
    let (reported, outcome) = node
        .node
        .receive_push(payload)
        .await
        .expect("the push is accepted");
    assert_eq!(reported, hash);
    outcome
}

fn affected_hashes(payload: &EncodedPayload) -> Vec<TxHash> {
    payload
        .affected_contract_transactions
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn a_second_push_of_the_same_transaction_merges_its_box() {
    let b = TestNode::start(2).await;
    let (b1, b2) = (b.keys[0].public.clone(), b.keys[1].public.clone());
    let sender = Outsider::new();
    let full = sender.seal(
        b"for both",
        &[b1.clone(), b2.clone()],
        &PrivacyMetadata::default(),
    );
    let hash = full.hash();

    assert_eq!(push(&b, copy_for(&full, &b1)).await, PushOutcome::Stored);
    assert_eq!(
        b.node.participants(&hash).await.expect("held"),
        vec![b1.clone()]
    );
    // The same copy again changes nothing.
    assert_eq!(push(&b, copy_for(&full, &b1)).await, PushOutcome::Unchanged);

    // The other key's copy is merged in: its box and key go first.
    assert_eq!(push(&b, copy_for(&full, &b2)).await, PushOutcome::Stored);
    let merged = b.stored(&hash).await.expect("held");
    assert_eq!(merged.recipient_keys, vec![b2.clone(), b1.clone()]);
    assert_eq!(
        merged.recipient_boxes,
        vec![
            copy_for(&full, &b2).recipient_boxes[0].clone(),
            copy_for(&full, &b1).recipient_boxes[0].clone(),
        ]
    );
    assert_eq!(b.stored_count().await, 1);
    for key in [b1.clone(), b2] {
        let received = b
            .node
            .receive(&hash, Some(key.clone()), false)
            .await
            .expect("each key opens its box");
        assert_eq!(received.payload, b"for both");
        assert_eq!(received.sender, sender.key());
        assert_eq!(received.managed_parties.len(), 2);
    }
    assert_eq!(push(&b, copy_for(&full, &b1)).await, PushOutcome::Unchanged);
}

#[tokio::test]
async fn a_grouped_push_has_every_box_opened_by_the_remote_enclave_and_the_first_bad_one_named() {
    // docs/p2p.md, "One push per node": one push with a box for each of three of our keys. The
    // remote enclave opens each (at once); a box that does not open refuses the whole push, and
    // the refusal names the first such box in the push's order, whichever answer came first.
    let b = TestNode::start_with_remote_enclave(3).await;
    let keys = b.public_keys();
    let sender = Outsider::new();
    let full = sender.seal(b"grouped", &keys, &PrivacyMetadata::default());
    let grouped = full.for_recipients(&keys).expect("B's copy");

    for bad in [vec![1usize], vec![1, 2], vec![2]] {
        let mut tampered = grouped.clone();
        for &i in &bad {
            tampered.recipient_boxes[i] = RecipientBox(vec![9; 48]);
        }
        b.calls.take_enclave_calls();
        let (kind, message) = failure(b.node.receive_push(tampered).await);
        assert_eq!(kind, ErrorKind::Invalid, "{message}");
        assert!(
            message.contains(&format!("the recipient box for {}", keys[bad[0]])),
            "{bad:?}: {message}"
        );
        assert!(b.stored(&full.hash()).await.is_none(), "nothing stored");
        let opened = b
            .calls
            .take_enclave_calls()
            .iter()
            .filter(|path| *path == "/unencrypt")
            .count();
        assert_eq!(opened, 3, "every box was asked about");
    }

    assert_eq!(push(&b, grouped.clone()).await, PushOutcome::Stored);
    for key in &keys {
        let got = b
            .node
            .receive(&full.hash(), Some(key.clone()), false)
            .await
            .expect("each key opens its box");
        assert_eq!(got.payload, b"grouped");
    }
    assert_eq!(b.stored(&full.hash()).await, Some(grouped));
}

#[tokio::test]
async fn a_push_that_differs_from_the_stored_copy_is_refused_and_changes_nothing() {
    let b = TestNode::start(2).await;
    let (b1, b2) = (b.keys[0].public.clone(), b.keys[1].public.clone());
    let sender = Outsider::new();
    let full = sender.seal(
        b"original",
        &[b1.clone(), b2.clone()],
        &PrivacyMetadata::default(),
    );
    let hash = full.hash();
    push(&b, copy_for(&full, &b1)).await;
    let before = b.stored(&hash).await.expect("held");

    // Same cipher text (so the same hash), but not the same transaction.
    let second = copy_for(&full, &b2);
    let impostor = generate_keys(1).remove(0).public;
    let forgeries: Vec<(&str, EncodedPayload)> = vec![
        (
            "another sender",
            EncodedPayload {
                sender: impostor,
                ..second.clone()
            },
        ),
        (
            "another cipher text nonce",
            EncodedPayload {
                cipher_text_nonce: Nonce(vec![7; 24]),
                ..second.clone()
            },
        ),
        (
            "another recipient nonce",
            EncodedPayload {
                recipient_nonce: Nonce(vec![9; 24]),
                ..second.clone()
            },
        ),
    ];
    for (what, forged) in forgeries {
        assert_eq!(forged.hash(), hash, "{what}");
        let (kind, message) = failure(b.node.receive_push(forged).await);
        assert_eq!(kind, ErrorKind::Internal, "{what}: {message}");
        assert!(
            message.contains("Invalid existing transaction"),
            "{what}: {message}"
        );
        assert_eq!(b.stored(&hash).await.as_ref(), Some(&before), "{what}");
    }

    // A different box for a key already held does not replace the stored one.
    let resealed = sender.seal(
        b"original",
        std::slice::from_ref(&b1),
        &PrivacyMetadata::default(),
    );
    let other_box = EncodedPayload {
        recipient_boxes: copy_for(&resealed, &b1).recipient_boxes,
        ..copy_for(&full, &b1)
    };
    assert_ne!(other_box.recipient_boxes, before.recipient_boxes);
    assert_eq!(push(&b, other_box).await, PushOutcome::Unchanged);
    assert_eq!(b.stored(&hash).await.as_ref(), Some(&before));
    assert_eq!(b.stored_count().await, 1);
}

#[tokio::test]
async fn enhanced_privacy_pushes_are_refused_when_enhancements_are_off() {
    let b = TestNode::start_with(1, |s| s.privacy_enhancements = false).await;
    let sender = Outsider::new();
    let protected = sender.seal(b"protected", &[b.key()], &party_protection(Vec::new()));
    let (kind, message) = failure(b.node.receive_push(copy_for(&protected, &b.key())).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(message, "Enhanced Privacy is not enabled");
    assert_eq!(b.stored_count().await, 0);

    // Standard private transactions are still stored.
    let plain = sender.seal(b"plain", &[b.key()], &PrivacyMetadata::default());
    assert_eq!(
        push(&b, copy_for(&plain, &b.key())).await,
        PushOutcome::Stored
    );
    assert_eq!(b.stored_count().await, 1);
}

#[tokio::test]
async fn psv_pushes_need_every_affected_transaction_with_matching_recipients_and_hashes() {
    let b = TestNode::start(1).await;
    let b1 = b.key();
    let sender = Outsider::new();
    let first = sender.seal(
        b"first",
        std::slice::from_ref(&b1),
        &psv(Vec::new(), b"exec-1"),
    );
    let affected = vec![(first.hash(), first.clone())];
    let second = sender.seal(
        b"second",
        std::slice::from_ref(&b1),
        &psv(affected.clone(), b"exec-2"),
    );

    // The affected transaction is not held yet: dropped without an error.
    assert_eq!(push(&b, copy_for(&second, &b1)).await, PushOutcome::Ignored);
    assert_eq!(b.stored_count().await, 0);

    assert_eq!(push(&b, copy_for(&first, &b1)).await, PushOutcome::Stored);
    assert_eq!(push(&b, copy_for(&second, &b1)).await, PushOutcome::Stored);
    let stored = b.stored(&second.hash()).await.expect("held");
    assert_eq!(affected_hashes(&stored), vec![first.hash()]);
    assert_eq!(stored.exec_hash, b"exec-2");

    // A security hash that does not verify.
    let third = sender.seal(
        b"third",
        std::slice::from_ref(&b1),
        &psv(affected.clone(), b"exec-3"),
    );
    let mut tampered = copy_for(&third, &b1);
    tampered
        .affected_contract_transactions
        .insert(first.hash(), SecurityHash(vec![0; 64]));
    let (kind, message) = failure(b.node.receive_push(tampered).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert!(
        message.starts_with(&format!(
            "Invalid security hashes identified for PSC TX {}",
            third.hash()
        )),
        "{message}"
    );
    assert!(message.contains(&first.hash().to_base64()), "{message}");

    // A recipient set other than the affected transaction's.
    let outsider = generate_keys(1).remove(0).public;
    let widened = sender.seal(
        b"fourth",
        &[b1.clone(), outsider],
        &psv(affected, b"exec-4"),
    );
    let (kind, message) = failure(b.node.receive_push(copy_for(&widened, &b1)).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(
        message,
        format!("Recipients mismatched for Affected Txn {}", first.hash())
    );

    assert_eq!(b.stored_count().await, 2);
    assert!(b.stored(&third.hash()).await.is_none());
    assert!(b.stored(&widened.hash()).await.is_none());
}

#[tokio::test]
async fn party_protection_pushes_drop_affected_transactions_that_do_not_verify() {
    let b = TestNode::start(1).await;
    let b1 = b.key();
    let sender = Outsider::new();
    let first = sender.seal(
        b"first",
        std::slice::from_ref(&b1),
        &party_protection(Vec::new()),
    );
    let never_pushed = sender.seal(
        b"elsewhere",
        std::slice::from_ref(&b1),
        &party_protection(Vec::new()),
    );
    push(&b, copy_for(&first, &b1)).await;

    // Valid: kept.
    let valid = sender.seal(
        b"valid",
        std::slice::from_ref(&b1),
        &party_protection(vec![(first.hash(), first.clone())]),
    );
    assert_eq!(push(&b, copy_for(&valid, &b1)).await, PushOutcome::Stored);
    assert_eq!(
        affected_hashes(&b.stored(&valid.hash()).await.expect("held")),
        vec![first.hash()]
    );

    // A bad security hash and an affected transaction B does not hold: stored without them.
    let both = sender.seal(
        b"partly invalid",
        std::slice::from_ref(&b1),
        &party_protection(vec![
            (first.hash(), first.clone()),
            (never_pushed.hash(), never_pushed.clone()),
        ]),
    );
    let mut tampered = copy_for(&both, &b1);
    tampered
        .affected_contract_transactions
        .insert(first.hash(), SecurityHash(vec![1; 64]));
    assert_eq!(push(&b, tampered).await, PushOutcome::Stored);
    let stored = b.stored(&both.hash()).await.expect("held");
    assert!(
        stored.affected_contract_transactions.is_empty(),
        "{:?}",
        affected_hashes(&stored)
    );
    let received = b
        .node
        .receive(&both.hash(), None, false)
        .await
        .expect("B reads it");
    assert_eq!(received.payload, b"partly invalid");
    assert!(received.affected.is_empty());
}

#[tokio::test]
async fn a_push_whose_privacy_mode_differs_from_an_affected_transaction_is_ignored() {
    let b = TestNode::start(1).await;
    let b1 = b.key();
    let sender = Outsider::new();
    let first = sender.seal(
        b"first",
        std::slice::from_ref(&b1),
        &party_protection(Vec::new()),
    );
    push(&b, copy_for(&first, &b1)).await;

    let mandatory = sender.seal(
        b"mandatory",
        std::slice::from_ref(&b1),
        &PrivacyMetadata {
            privacy_mode: PrivacyMode::MandatoryRecipients,
            affected: vec![(first.hash(), first.clone())],
            mandatory_recipients: BTreeSet::from([b1.clone()]),
            ..PrivacyMetadata::default()
        },
    );
    assert_eq!(
        push(&b, copy_for(&mandatory, &b1)).await,
        PushOutcome::Ignored
    );
    assert!(b.stored(&mandatory.hash()).await.is_none());
    assert_eq!(b.stored_count().await, 1);
}

#[tokio::test]
async fn a_push_batch_is_stored_all_or_nothing() {
    let b = TestNode::start(1).await;
    let b1 = b.key();
    let sender = Outsider::new();
    let seal = |message: &[u8]| {
        copy_for(
            &sender.seal(
                message,
                std::slice::from_ref(&b1),
                &PrivacyMetadata::default(),
            ),
            &b1,
        )
    };
    let held = seal(b"held");
    push(&b, held.clone()).await;
    let (first, second) = (seal(b"first"), seal(b"second"));

    // One entry conflicts with the copy held: none of the batch is stored.
    let conflicting = EncodedPayload {
        cipher_text_nonce: Nonce(vec![3; 24]),
        ..held.clone()
    };
    let (kind, message) = failure(
        b.node
            .receive_push_batch(vec![first.clone(), second.clone(), conflicting])
            .await,
    );
    assert_eq!(kind, ErrorKind::Internal, "{message}");
    assert!(
        message.contains("Invalid existing transaction"),
        "{message}"
    );
    assert_eq!(b.stored_count().await, 1);
    assert!(b.stored(&first.hash()).await.is_none());
    assert_eq!(b.stored(&held.hash()).await.as_ref(), Some(&held));

    // One entry refused by the privacy checks: likewise.
    let closed = TestNode::start_with(1, |s| s.privacy_enhancements = false).await;
    let c1 = closed.key();
    let plain = copy_for(
        &sender.seal(
            b"plain",
            std::slice::from_ref(&c1),
            &PrivacyMetadata::default(),
        ),
        &c1,
    );
    let protected = copy_for(
        &sender.seal(
            b"protected",
            std::slice::from_ref(&c1),
            &party_protection(Vec::new()),
        ),
        &c1,
    );
    let (kind, message) = failure(closed.node.receive_push_batch(vec![plain, protected]).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert_eq!(closed.stored_count().await, 0);

    // A valid batch: new entries stored, the copy held unchanged, an ignorable one ignored.
    let missing = sender.seal(
        b"affected",
        std::slice::from_ref(&b1),
        &psv(Vec::new(), b"exec-a"),
    );
    let orphan = sender.seal(
        b"orphan",
        std::slice::from_ref(&b1),
        &psv(vec![(missing.hash(), missing.clone())], b"exec-o"),
    );
    let outcomes = b
        .node
        .receive_push_batch(vec![
            first.clone(),
            held.clone(),
            copy_for(&orphan, &b1),
            second.clone(),
        ])
        .await
        .expect("stored");
    assert_eq!(
        outcomes,
        vec![
            PushOutcome::Stored,
            PushOutcome::Unchanged,
            PushOutcome::Ignored,
            PushOutcome::Stored,
        ]
    );
    assert_eq!(b.stored_count().await, 3);
    assert_eq!(b.stored(&first.hash()).await.as_ref(), Some(&first));
    assert_eq!(b.stored(&second.hash()).await.as_ref(), Some(&second));
    assert!(b.stored(&orphan.hash()).await.is_none());
}

#[tokio::test]
async fn a_push_batch_may_hold_a_transaction_and_the_one_it_affects_in_any_order() {
    let b = TestNode::start(1).await;
    let b1 = b.key();
    let sender = Outsider::new();
    let first = sender.seal(
        b"first",
        std::slice::from_ref(&b1),
        &psv(Vec::new(), b"exec-1"),
    );
    let second = sender.seal(
        b"second",
        std::slice::from_ref(&b1),
        &psv(vec![(first.hash(), first.clone())], b"exec-2"),
    );
    // The dependant first: checked after the transaction it affects, as if that were stored.
    let outcomes = b
        .node
        .receive_push_batch(vec![copy_for(&second, &b1), copy_for(&first, &b1)])
        .await
        .expect("batch");
    assert_eq!(outcomes, vec![PushOutcome::Stored, PushOutcome::Stored]);
    assert_eq!(b.stored_count().await, 2);
    let stored = b.stored(&second.hash()).await.expect("held");
    assert_eq!(affected_hashes(&stored), vec![first.hash()]);
}

/// A transaction `node` sent to `recipients` (itself added last), as its send stores it.
fn sent_by(
    node: &TestNode,
    message: &[u8],
    recipients: &[PublicKey],
    metadata: &PrivacyMetadata,
) -> EncodedPayload {
    let mut all = recipients.to_vec();
    all.push(node.key());
    node.keyring()
        .encrypt_payload(message, &node.key(), &all, metadata)
        .expect("seals")
}

#[tokio::test]
async fn our_own_transaction_is_rebuilt_from_boxes_its_sender_key_made_and_nothing_else() {
    let a = TestNode::start(1).await;
    let (r1, r2) = (Outsider::new().key(), Outsider::new().key());
    let sent = sent_by(
        &a,
        b"ours",
        &[r1.clone(), r2.clone()],
        &PrivacyMetadata::default(),
    );
    let hash = sent.hash();

    // A's copy is lost; each recipient hands its copy back (a resend): both are merged.
    assert_eq!(push(&a, copy_for(&sent, &r1)).await, PushOutcome::Stored);
    assert_eq!(push(&a, copy_for(&sent, &r2)).await, PushOutcome::Stored);
    let rebuilt = a.stored(&hash).await.expect("held");
    assert_eq!(rebuilt.recipient_keys, vec![r2.clone(), r1.clone()]);
    let received = a
        .node
        .receive(&hash, Some(a.key()), false)
        .await
        .expect("the sender opens it");
    assert_eq!(received.payload, b"ours");

    // A box for a third key that the sender's key did not make (another master key).
    let stranger = Outsider::new().key();
    let other = sent_by(
        &a,
        b"ours",
        std::slice::from_ref(&stranger),
        &PrivacyMetadata::default(),
    );
    let foreign_box = EncodedPayload {
        recipient_keys: vec![stranger.clone()],
        recipient_boxes: copy_for(&other, &stranger).recipient_boxes,
        ..copy_for(&sent, &r1)
    };
    let (kind, message) = failure(a.node.receive_push(foreign_box).await);
    assert_eq!(kind, ErrorKind::Invalid, "{message}");
    assert!(message.contains("does not open"), "{message}");
    assert_eq!(a.stored(&hash).await.as_ref(), Some(&rebuilt));

    // A new transaction in our name whose first box opens but whose second was not made by
    // the sender's key for its recipient.
    let second = sent_by(
        &a,
        b"second",
        std::slice::from_ref(&r1),
        &PrivacyMetadata::default(),
    );
    let mut tampered = second.clone();
    tampered.recipient_boxes[1] = copy_for(&other, &stranger).recipient_boxes[0].clone();
    let (kind, message) = failure(a.node.receive_push(tampered).await);
    assert_eq!(kind, ErrorKind::Invalid, "{message}");
    assert!(message.contains("was not made by the sender"), "{message}");

    // In our name without recipient keys: no box can be checked against its recipient.
    let keyless = EncodedPayload {
        recipient_keys: Vec::new(),
        recipient_boxes: vec![second.recipient_boxes[0].clone()],
        ..second.clone()
    };
    let (kind, message) = failure(a.node.receive_push(keyless).await);
    assert_eq!(kind, ErrorKind::Invalid, "{message}");
    assert!(message.contains("lists no recipient"), "{message}");
    assert!(a.stored(&second.hash()).await.is_none());

    // In a batch, a second entry for the same hash is checked against the first.
    let third = sent_by(
        &a,
        b"third",
        std::slice::from_ref(&r1),
        &PrivacyMetadata::default(),
    );
    let widened = EncodedPayload {
        recipient_keys: vec![stranger.clone()],
        recipient_boxes: vec![RecipientBox(vec![1; 48])],
        ..copy_for(&third, &r1)
    };
    let (kind, message) = failure(
        a.node
            .receive_push_batch(vec![copy_for(&third, &r1), widened])
            .await,
    );
    assert_eq!(kind, ErrorKind::Invalid, "{message}");
    assert!(a.stored(&third.hash()).await.is_none());
    assert_eq!(a.stored_count().await, 1);
}

#[tokio::test]
async fn a_psv_push_cannot_list_a_recipient_the_held_copy_does_not() {
    let b = TestNode::start(1).await;
    let sender = Outsider::new();
    let other = Outsider::new().key();
    let full = sender.seal(b"psv", &[b.key(), other.clone()], &psv(Vec::new(), b"exec"));
    let copy = copy_for(&full, &b.key());
    assert_eq!(push(&b, copy.clone()).await, PushOutcome::Stored);
    let held = b.stored(&full.hash()).await.expect("held");

    // A box for a key the held copy does not list, in front of the list.
    let stranger = Outsider::new().key();
    let mut listed = copy.clone();
    listed.recipient_keys.insert(0, stranger.clone());
    listed.recipient_boxes = vec![RecipientBox(vec![2; 48])];
    let (kind, message) = failure(b.node.receive_push(listed).await);
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
    assert!(
        message.contains("expected recipient not found"),
        "{message}"
    );
    assert_eq!(b.stored(&full.hash()).await.as_ref(), Some(&held));
}

#[tokio::test]
async fn a_box_without_a_key_is_not_merged_into_a_copy_held_with_keys() {
    // Found by the p2p_push fuzz target: the very old keyless form merged into a keyed row
    // left one key for two boxes, and the row stopped opening for its key.
    let b = TestNode::start(2).await;
    let keys = b.public_keys();
    let (b1, b2) = (keys[0].clone(), keys[1].clone());
    let sender = Outsider::new();
    let full = sender.seal(
        b"keyed",
        &[b1.clone(), b2.clone()],
        &PrivacyMetadata::default(),
    );
    assert_eq!(push(&b, copy_for(&full, &b1)).await, PushOutcome::Stored);
    let before = b.stored(&full.hash()).await.expect("held");

    let keyless = EncodedPayload {
        recipient_keys: Vec::new(),
        ..copy_for(&full, &b2)
    };
    let (kind, message) = failure(b.node.receive_push(keyless.clone()).await);
    assert_eq!(kind, ErrorKind::Invalid, "{message}");
    assert!(message.contains("cannot take this push"), "{message}");
    assert_eq!(b.stored(&full.hash()).await.as_ref(), Some(&before));

    // The same refusal inside a batch stores nothing of the batch.
    let other = copy_for(
        &sender.seal(
            b"other",
            std::slice::from_ref(&b1),
            &PrivacyMetadata::default(),
        ),
        &b1,
    );
    let (kind, _) = failure(
        b.node
            .receive_push_batch(vec![other.clone(), keyless])
            .await,
    );
    assert_eq!(kind, ErrorKind::Invalid);
    assert!(b.stored(&other.hash()).await.is_none());
    assert_eq!(b.stored(&full.hash()).await.as_ref(), Some(&before));
}
