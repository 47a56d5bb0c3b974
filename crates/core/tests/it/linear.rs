//! Decoders and merges stay linear in their input (docs/security.md, "Work that stays linear in
//! its input"): each test runs on `n` and `2n` entries and checks that the counted work at most
//! about doubles. Work is counted, never timed: `OpCount` tallies every read of the input, and
//! `Counted` elements tally every hash, equality test, comparison and clone a generic
//! de-duplication or merge makes of them, the hidden ones (`Vec::contains`, `retain`) included.
//! A quadratic loop doubles the count's ratio to about 4; the bound is 2.2.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::vec;
use proptest::prelude::*;
use tm_core::codec::{
    decode_cbor_counted, decode_legacy_counted, encode_cbor, encode_legacy, Counted, OpCount,
};
use tm_core::partyinfo::{first_of_each, PartyInfo, Recipient};
use tm_core::payload::{merge_recipients, Nonce, RecipientBox, SecurityHash};
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};

/// Entries in the smaller run; the larger has twice as many.
const N: usize = 5_000;

/// The most `count(2n) / count(n)` may be.
const BOUND: f64 = 2.2;

/// `count(n)` and `count(2n)`, checked against [`BOUND`] (and printed, for the record).
fn assert_linear(what: &str, count: impl Fn(usize) -> u64) {
    let small = count(N);
    let large = count(2 * N);
    let ratio = large as f64 / small as f64;
    println!(
        "{what}: n = {N}: {small}, 2n = {}: {large}, ratio {ratio:.3}",
        2 * N
    );
    assert!(small > 0, "{what}: nothing was counted");
    assert!(
        ratio <= BOUND,
        "{what} is not linear: {small} steps for {N} entries, {large} for {}",
        2 * N
    );
}

/// A distinct 32-byte key per `i` (and per `salt`).
fn key(salt: u8, i: usize) -> PublicKey {
    let mut bytes = vec![salt; 32];
    bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
    PublicKey::from_bytes(bytes)
}

fn recipient_box(salt: u8, i: usize) -> RecipientBox {
    let mut bytes = vec![salt; 48];
    bytes[..8].copy_from_slice(&(i as u64).to_be_bytes());
    RecipientBox(bytes)
}

/// A payload with `n` boxes and keys, `n` affected transactions, and in MANDATORY_RECIPIENTS
/// mode `n` mandatory recipients: every list a decoder builds grows with `n`.
fn payload(n: usize, mode: PrivacyMode) -> EncodedPayload {
    let mut affected = BTreeMap::new();
    for i in 0..n {
        let mut hash = vec![3u8; 64];
        hash[..8].copy_from_slice(&(i as u64).to_be_bytes());
        affected.insert(TxHash::from_bytes(hash), SecurityHash(vec![4u8; 32]));
    }
    let mandatory: BTreeSet<PublicKey> = if mode == PrivacyMode::MandatoryRecipients {
        (0..n).map(|i| key(5, i)).collect()
    } else {
        BTreeSet::new()
    };
    EncodedPayload {
        sender: key(0, 0),
        cipher_text: vec![1u8; 64],
        cipher_text_nonce: Nonce(vec![2u8; 24]),
        recipient_boxes: (0..n).map(|i| recipient_box(1, i)).collect(),
        recipient_nonce: Nonce(vec![2u8; 24]),
        recipient_keys: (0..n).map(|i| key(1, i)).collect(),
        privacy_mode: mode,
        affected_contract_transactions: affected,
        exec_hash: Vec::new(),
        privacy_group_id: None,
        mandatory_recipients: mandatory,
    }
}

#[test]
fn legacy_payload_decoding_is_linear() {
    assert_linear("LEGACY decode", |n| {
        let payload = payload(n, PrivacyMode::MandatoryRecipients);
        let ops = OpCount::new();
        let decoded = decode_legacy_counted(&encode_legacy(&payload), &ops).expect("decodes");
        assert_eq!(decoded, payload);
        ops.get()
    });
}

#[test]
fn cbor_payload_decoding_is_linear() {
    assert_linear("CBOR decode", |n| {
        let payload = payload(n, PrivacyMode::MandatoryRecipients);
        let ops = OpCount::new();
        let decoded = decode_cbor_counted(&encode_cbor(&payload), &ops).expect("decodes");
        assert_eq!(decoded, payload);
        ops.get()
    });
}

/// A party info from a hostile peer: `n` recipients and `n` parties, each sent twice, the
/// parties without their trailing `/` half of the time.
fn hostile_party_info(n: usize) -> (Vec<u8>, PartyInfo) {
    let url = "http://attacker:9001/".to_owned();
    let recipients: Vec<Recipient> = (0..n)
        .map(|i| Recipient {
            key: key(7, i),
            url: url.clone(),
        })
        .collect();
    let parties: Vec<String> = (0..n).map(|i| format!("http://h{i}:9001/")).collect();
    let sent = PartyInfo {
        url: url.clone(),
        recipients: recipients.iter().chain(&recipients).cloned().collect(),
        parties: parties
            .iter()
            .cloned()
            .chain(parties.iter().map(|p| p.trim_end_matches('/').to_owned()))
            .collect(),
    };
    let expected = PartyInfo {
        url,
        recipients,
        parties,
    };
    (sent.encode(), expected)
}

#[test]
fn party_info_decoding_is_linear() {
    assert_linear("party info decode", |n| {
        let (bytes, expected) = hostile_party_info(n);
        let ops = OpCount::new();
        let decoded = PartyInfo::decode_counted(&bytes, &ops).expect("decodes");
        assert_eq!(
            decoded, expected,
            "duplicates collapse, the first of each kept"
        );
        assert_eq!(PartyInfo::decode(&bytes).expect("decodes"), expected);
        ops.get()
    });
}

#[test]
fn party_info_de_duplication_is_linear() {
    assert_linear("party info de-duplication", |n| {
        let ops = OpCount::new();
        // Every value three times, spread out: 0..n, then n..0, then 0..n again.
        let items: Vec<Counted<'_, usize>> = (0..n)
            .chain((0..n).rev())
            .chain(0..n)
            .map(|i| Counted::new(i, &ops))
            .collect();
        let kept: Vec<usize> = first_of_each(items)
            .into_iter()
            .map(Counted::into_inner)
            .collect();
        assert_eq!(kept, (0..n).collect::<Vec<_>>());
        ops.get()
    });
}

/// A stored copy holding `n` boxes and a push of `n` other boxes and the one box already held:
/// the shape of the attack (a push with many boxes merged into an existing row).
fn stored_and_push(n: usize, mode: PrivacyMode) -> (EncodedPayload, EncodedPayload) {
    let mut stored = payload(0, mode);
    stored.recipient_boxes = (0..n).map(|i| recipient_box(1, i)).collect();
    stored.recipient_keys = (0..n).map(|i| key(1, i)).collect();
    let mut push = stored.clone();
    push.recipient_boxes = (0..n).map(|i| recipient_box(2, i)).collect();
    push.recipient_keys = (0..n).map(|i| key(2, i)).collect();
    push.recipient_boxes.push(recipient_box(1, 0));
    push.recipient_keys.push(key(1, 0));
    (stored, push)
}

#[test]
fn merging_a_push_with_many_boxes_is_linear() {
    for mode in [
        PrivacyMode::StandardPrivate,
        PrivacyMode::PrivateStateValidation,
    ] {
        assert_linear(&format!("recipient merge ({mode:?})"), |n| {
            let (mut stored, push) = stored_and_push(n, mode);
            let ops = OpCount::new();
            assert!(stored.merge_recipients_from_counted(&push, &ops));
            assert_eq!(stored.recipient_boxes.len(), 2 * n);
            assert_eq!(stored.recipient_boxes[0], push.recipient_boxes[0]);
            assert_eq!(stored.recipient_keys[0], push.recipient_keys[0]);
            assert_eq!(stored.recipient_boxes[n], recipient_box(1, 0));
            let (mut again, _) = stored_and_push(n, mode);
            assert!(again.merge_recipients_from(&push));
            assert_eq!(again, stored, "counted and plain merges agree");
            ops.get()
        });
    }
}

#[test]
fn merging_a_push_with_many_keys_already_held_is_linear() {
    // Every pushed key is already held with another box: nothing is added, each box is
    // looked at once.
    assert_linear("recipient merge, keys held", |n| {
        let (mut stored, mut push) = stored_and_push(n, PrivacyMode::StandardPrivate);
        push.recipient_keys = stored.recipient_keys.clone();
        push.recipient_keys.push(key(1, 0));
        let before = stored.clone();
        let ops = OpCount::new();
        assert!(!stored.merge_recipients_from_counted(&push, &ops));
        assert_eq!(stored, before);
        ops.get()
    });
}

/// Tessera's merge loop, literally (what `merge_recipients` replaced): the reference for the
/// equivalence property, and the proof that the count sees a quadratic merge.
fn quadratic_merge<B: PartialEq + Clone, K: PartialEq + Clone>(
    boxes: &mut Vec<B>,
    keys: &mut Vec<K>,
    incoming_boxes: &[B],
    incoming_keys: &[K],
    psv: bool,
) -> bool {
    let mut added = false;
    for (index, recipient_box) in incoming_boxes.iter().enumerate().rev() {
        if boxes.contains(recipient_box) {
            continue;
        }
        if let Some(key) = incoming_keys.get(index) {
            if psv {
                keys.retain(|k| k != key);
                keys.insert(0, key.clone());
            } else if keys.contains(key) {
                continue;
            } else if !keys.is_empty() || boxes.is_empty() {
                keys.insert(0, key.clone());
            }
        }
        boxes.insert(0, recipient_box.clone());
        added = true;
    }
    added
}

#[test]
fn the_count_sees_a_quadratic_merge() {
    let count = |n: usize| {
        let ops = OpCount::new();
        let mut boxes: Vec<Counted<'_, usize>> = (0..n).map(|i| Counted::new(i, &ops)).collect();
        let mut keys = boxes.clone();
        let incoming: Vec<Counted<'_, usize>> = (n..2 * n).map(|i| Counted::new(i, &ops)).collect();
        quadratic_merge(&mut boxes, &mut keys, &incoming, &incoming, false);
        ops.get()
    };
    let ratio = count(N / 5) as f64 / count(N / 10) as f64;
    assert!(
        ratio > 3.5,
        "a quadratic merge must show (ratio {ratio:.2})"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Small alphabets, so that boxes and keys repeat within and across the two copies.
    #[test]
    fn the_linear_merge_is_tesseras_merge(
        boxes in vec(0u8..6, 0..6),
        keys in vec(0u8..6, 0..6),
        incoming_boxes in vec(0u8..6, 0..6),
        incoming_keys in vec(0u8..6, 0..6),
        psv in any::<bool>(),
    ) {
        let (mut expected_boxes, mut expected_keys) = (boxes.clone(), keys.clone());
        let expected = quadratic_merge(
            &mut expected_boxes, &mut expected_keys, &incoming_boxes, &incoming_keys, psv,
        );
        let (mut got_boxes, mut got_keys) = (boxes, keys);
        let got = merge_recipients(
            &mut got_boxes, &mut got_keys, &incoming_boxes, &incoming_keys, psv,
        );
        prop_assert_eq!(got, expected);
        prop_assert_eq!(got_boxes, expected_boxes);
        prop_assert_eq!(got_keys, expected_keys);
    }

    #[test]
    fn first_of_each_keeps_the_first_of_each_in_order(items in vec(0u8..8, 0..20)) {
        let mut expected: Vec<u8> = Vec::new();
        for item in &items {
            if !expected.contains(item) {
                expected.push(*item);
            }
        }
        prop_assert_eq!(first_of_each(items), expected);
    }
}
