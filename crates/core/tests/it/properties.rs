//! Property tests: codecs round-trip, encryption opens, and no input makes a decoder panic.

use std::collections::{BTreeMap, BTreeSet};

use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use tm_core::codec::{decode_cbor, decode_legacy, encode_cbor, encode_legacy};
use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::payload::{Nonce, PrivacyGroupId, RecipientBox, SecurityHash};
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, KeyPair, Keyring, PrivacyMode, PublicKey, TxHash};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn key() -> impl Strategy<Value = PublicKey> {
    bytes(40).prop_map(PublicKey::from_bytes)
}

fn mode() -> impl Strategy<Value = PrivacyMode> {
    (0i64..4).prop_map(PrivacyMode::from_flag)
}

prop_compose! {
    fn payload()(
        sender in key(),
        cipher_text in bytes(300),
        cipher_text_nonce in bytes(30),
        recipient_boxes in vec(bytes(60), 0..4),
        recipient_nonce in bytes(30),
        recipient_keys in vec(key(), 0..4),
        privacy_mode in mode(),
        affected in btree_map(bytes(70), bytes(70), 0..3),
        exec_hash in vec(any::<u8>(), 1..40),
        mandatory in btree_set(key(), 1..3),
        group in proptest::option::of(vec(any::<u8>(), 1..40)),
    ) -> EncodedPayload {
        EncodedPayload {
            sender,
            cipher_text,
            cipher_text_nonce: Nonce(cipher_text_nonce),
            recipient_boxes: recipient_boxes.into_iter().map(RecipientBox).collect(),
            recipient_nonce: Nonce(recipient_nonce),
            recipient_keys,
            privacy_mode,
            affected_contract_transactions: affected
                .into_iter()
                .map(|(k, v)| (TxHash::from_bytes(k), SecurityHash(v)))
                .collect::<BTreeMap<_, _>>(),
            exec_hash: if privacy_mode == PrivacyMode::PrivateStateValidation { exec_hash } else { Vec::new() },
            privacy_group_id: group.map(PrivacyGroupId),
            mandatory_recipients: if privacy_mode == PrivacyMode::MandatoryRecipients { mandatory } else { BTreeSet::new() },
        }
    }
}

/// The LEGACY layout of `p` (docs/protocol.md §1.3): where the mandatory part (sender, cipher text,
/// its nonce, the boxes, the recipient nonce) ends, and for it and each optional part after it
/// (recipient keys; privacy flag with the affected transactions; exec hash in PSV mode;
/// mandatory recipients in MANDATORY_RECIPIENTS mode; privacy group id), the offset where
/// that part ends and the payload a decoder reads from the bytes up to there.
fn legacy_sections(p: &EncodedPayload) -> (usize, Vec<(usize, EncodedPayload)>) {
    fn field(bytes: &[u8]) -> usize {
        8 + bytes.len()
    }
    fn array<'a>(items: impl Iterator<Item = &'a [u8]>) -> usize {
        8 + items.map(field).sum::<usize>()
    }
    let mut end = field(p.sender.as_bytes())
        + field(&p.cipher_text)
        + field(p.cipher_text_nonce.as_bytes())
        + array(p.recipient_boxes.iter().map(RecipientBox::as_bytes))
        + field(p.recipient_nonce.as_bytes());
    let mandatory_end = end;
    let mut prefix = EncodedPayload {
        sender: p.sender.clone(),
        cipher_text: p.cipher_text.clone(),
        cipher_text_nonce: p.cipher_text_nonce.clone(),
        recipient_boxes: p.recipient_boxes.clone(),
        recipient_nonce: p.recipient_nonce.clone(),
        ..EncodedPayload::default()
    };
    let mut sections = vec![(end, prefix.clone())];

    end += array(p.recipient_keys.iter().map(PublicKey::as_bytes));
    prefix.recipient_keys = p.recipient_keys.clone();
    sections.push((end, prefix.clone()));

    end += field(&[p.privacy_mode.flag()]) + 8;
    for (tx_hash, security_hash) in &p.affected_contract_transactions {
        end += field(tx_hash.as_bytes()) + field(security_hash.as_bytes());
    }
    prefix.privacy_mode = p.privacy_mode;
    prefix.affected_contract_transactions = p.affected_contract_transactions.clone();
    sections.push((end, prefix.clone()));

    if p.privacy_mode == PrivacyMode::PrivateStateValidation {
        end += field(&p.exec_hash);
        prefix.exec_hash = p.exec_hash.clone();
        sections.push((end, prefix.clone()));
    }
    if p.privacy_mode == PrivacyMode::MandatoryRecipients {
        end += array(p.mandatory_recipients.iter().map(PublicKey::as_bytes));
        prefix.mandatory_recipients = p.mandatory_recipients.clone();
        sections.push((end, prefix.clone()));
    }
    if let Some(group) = &p.privacy_group_id {
        end += field(group.as_bytes());
        prefix.privacy_group_id = Some(group.clone());
        sections.push((end, prefix));
    }
    (mandatory_end, sections)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn legacy_round_trips(p in payload()) {
        prop_assert_eq!(decode_legacy(&encode_legacy(&p)).expect("decodes"), p);
    }

    #[test]
    fn cbor_round_trips(p in payload()) {
        prop_assert_eq!(decode_cbor(&encode_cbor(&p)).expect("decodes"), p);
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(input in bytes(600)) {
        let _ = decode_legacy(&input);
        let _ = decode_cbor(&input);
        let _ = PartyInfo::decode(&input);
        let _ = PrivacyGroupRecord::decode(&input);
    }

    #[test]
    fn truncated_legacy_payloads_fail_unless_cut_after_a_whole_optional_part(p in payload()) {
        let legacy = encode_legacy(&p);
        let (mandatory_end, sections) = legacy_sections(&p);
        // The layout below is the encoder's: the last section ends where the encoding does.
        prop_assert_eq!(sections.last().map(|(end, _)| *end), Some(legacy.len()));
        for at in 0..legacy.len() {
            let decoded = decode_legacy(&legacy[..at]);
            if at < mandatory_end {
                // Sender, cipher text, its nonce, the boxes and the recipient nonce are required.
                prop_assert!(
                    decoded.is_err(),
                    "a cut at {} inside the mandatory part (0..{}) decoded", at, mandatory_end
                );
                continue;
            }
            match sections.iter().find(|(end, _)| *end == at) {
                // Input ending right after a whole part is an older node's payload: it decodes
                // to what was read, if that is a valid payload on its own.
                Some((_, prefix)) if prefix.validate().is_ok() => {
                    prop_assert_eq!(&decoded.expect("a whole prefix decodes"), prefix);
                }
                // Inside an optional part, or a prefix whose privacy mode lacks its exec hash
                // or mandatory recipients.
                _ => prop_assert!(
                    decoded.is_err(),
                    "a cut at {} of {} bytes decoded (parts end at {:?})",
                    at,
                    legacy.len(),
                    sections.iter().map(|(end, _)| *end).collect::<Vec<_>>()
                ),
            }
        }
    }

    #[test]
    fn truncated_cbor_payloads_always_fail(p in payload()) {
        let cbor = encode_cbor(&p);
        for at in 0..cbor.len() {
            prop_assert!(decode_cbor(&cbor[..at]).is_err(), "a cut at {} of {} decoded", at, cbor.len());
        }
    }

    #[test]
    fn mutated_encodings_never_panic(p in payload(), flips in vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut legacy = encode_legacy(&p);
        let mut cbor = encode_cbor(&p);
        for (at, value) in &flips {
            let i = at.index(legacy.len());
            legacy[i] = *value;
            let j = at.index(cbor.len());
            cbor[j] = *value;
        }
        let _ = decode_legacy(&legacy);
        let _ = decode_cbor(&cbor);
    }

    #[test]
    fn party_info_round_trips(
        url in "[a-z:/.0-9]{0,40}",
        recipients in vec((key(), "[a-z:/.0-9]{0,40}"), 0..5),
        parties in vec("https?://[a-z0-9.]{1,20}(:[0-9]{1,5})?/[a-z]{0,5}", 0..5),
    ) {
        let mut info = PartyInfo { url, ..PartyInfo::default() };
        for (key, url) in recipients {
            let recipient = Recipient { key, url };
            if !info.recipients.contains(&recipient) {
                info.recipients.push(recipient);
            }
        }
        for party in parties {
            if !info.parties.contains(&party) {
                info.parties.push(party);
            }
        }
        prop_assert_eq!(PartyInfo::decode(&info.encode()).expect("decodes"), info);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_recipient_opens_what_was_sealed(message in bytes(2048), others in 0usize..5, mode in mode()) {
        let sender = KeyPair::generate().expect("key");
        let recipients: Vec<KeyPair> = (0..others).map(|_| KeyPair::generate().expect("key")).collect();
        let mut keys: Vec<PublicKey> = recipients.iter().map(|r| r.public.clone()).collect();
        keys.push(sender.public.clone());
        let metadata = PrivacyMetadata {
            privacy_mode: mode,
            exec_hash: if mode == PrivacyMode::PrivateStateValidation { b"exec".to_vec() } else { Vec::new() },
            mandatory_recipients: if mode == PrivacyMode::MandatoryRecipients {
                [sender.public.clone()].into_iter().collect()
            } else {
                BTreeSet::new()
            },
            ..PrivacyMetadata::default()
        };
        let ring = Keyring::new(vec![sender.clone()]);
        let payload = ring.encrypt_payload(&message, &sender.public, &keys, &metadata).expect("seals");
        prop_assert_eq!(&ring.decrypt(&payload, &sender.public).expect("sender opens"), &message);
        for recipient in &recipients {
            let pushed = payload.for_recipient(&recipient.public).expect("recipient");
            let bytes = encode_cbor(&pushed);
            let received = decode_cbor(&bytes).expect("decodes");
            let theirs = Keyring::new(vec![recipient.clone()]);
            prop_assert_eq!(&theirs.decrypt(&received, &recipient.public).expect("opens"), &message);
        }
        let raw = ring.encrypt_raw(&message, &sender.public).expect("raw");
        prop_assert_eq!(&ring.decrypt_raw(&raw).expect("raw opens"), &message);
    }
}
