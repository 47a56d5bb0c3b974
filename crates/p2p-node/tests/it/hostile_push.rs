//! Hostile pushes over real HTTP (issue 15; docs/security.md, "Pushes we refuse that Tessera
//! would store"): each attack is refused with its status, stores or changes nothing (row counts
//! and the affected row compared before and after), and the node keeps serving right after.

use tm_client::q2t::{MediaType, Q2tClient};
use tm_client::ClientError;
use tm_core::nacl::MasterKey;
use tm_core::payload::{Nonce, RecipientBox};
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::seal::{PrivacyMetadata, SealRandomness};
use tm_core::{EncodedPayload, KeyPair, Keyring, PayloadCodec, PublicKey, TxHash};
use tm_dev_support::{block_on, Service, TestNode};

use crate::support::{client, p2p_node, party, pushed_to, store_of, stored_count};

const OCTET_STREAM: &str = "application/octet-stream";

/// `POST {url}{path}` with these headers; the status and the body as text.
fn post(
    url: &str,
    path: &str,
    content_type: Option<&str>,
    versions: &str,
    body: Vec<u8>,
) -> (u16, String) {
    let mut request = reqwest::blocking::Client::new()
        .post(format!("{url}{}", path.trim_start_matches('/')))
        .header("tesseraSupportedApiVersions", versions)
        .body(body);
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().expect("request");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

/// A push of `payload` as our client sends it, answered with a status and a body.
fn push_status(url: &str, payload: &EncodedPayload, codec: PayloadCodec) -> (u16, String) {
    match block_on(client().push(url, payload, codec)) {
        Ok(_) => (201, String::new()),
        Err(ClientError::Status { status, body, .. }) => (status, body),
        Err(other) => panic!("push failed without an answer: {other}"),
    }
}

/// The row the node holds for `hash`.
fn row(node: &TestNode, hash: &TxHash) -> Option<EncodedPayload> {
    store_of(node)
        .find_payload(hash)
        .expect("read")
        .map(|stored| stored.payload)
}

fn upcheck(url: &str) {
    block_on(client().upcheck(url)).expect("the node still answers /upcheck");
}

/// A normal push still stores right after an attack.
fn a_normal_push_still_works(node: &TestNode) {
    let url = node.p2p_url();
    upcheck(&url);
    let before = stored_count(node);
    let good = pushed_to(&node.keys[0].public, b"business as usual");
    block_on(client().push(&url, &good, PayloadCodec::Cbor)).expect("a normal push is stored");
    assert_eq!(stored_count(node), before + 1);
}

/// Fixed randomness, so that a test can make the exact box a sender makes.
fn randomness() -> SealRandomness {
    SealRandomness {
        master_key: MasterKey::from_bytes([7; 32]),
        cipher_text_nonce: [1; 24],
        recipient_nonce: [2; 24],
    }
}

#[test]
fn a_push_claiming_our_key_as_sender_must_open_with_it() {
    let mut node = TestNode::new("own-sender", 1, &[]);
    node.start(Service::P2p).start(Service::Q2t);
    let url = node.p2p_url();
    let q2t = Q2tClient::tcp(&node.q2t_url()).expect("Q2T client");
    let ours = node.keys[0].clone();
    let recipient = KeyPair::generate().expect("key").public;

    // An attacker seals to a recipient with its own key, then names ours as the sender: the box
    // does not open with our key. Before: stored, isSender true, receive 500.
    let forged = EncodedPayload {
        sender: ours.public.clone(),
        ..pushed_to(&recipient, b"not ours")
    };
    let hash = forged.hash();
    for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
        let (status, body) = push_status(&url, &forged, codec);
        assert_eq!(status, 400, "{codec}: {body}");
        assert!(body.contains("does not open"), "{codec}: {body}");
    }
    // Garbage in the box: likewise.
    let garbage = EncodedPayload {
        recipient_boxes: vec![RecipientBox(vec![9; 48])],
        ..forged.clone()
    };
    assert_eq!(push_status(&url, &garbage, PayloadCodec::Cbor).0, 400);
    assert_eq!(stored_count(&node), 0, "nothing stored");
    assert!(row(&node, &hash).is_none());
    match block_on(q2t.is_sender(&hash)) {
        Err(ClientError::Status { status: 404, .. }) => {}
        other => panic!("isSender of a refused push must be 404, got {other:?}"),
    }
    a_normal_push_still_works(&node);

    // Our own transaction handed back by its recipient (a resend after we lost it): the box
    // opens with our key, so it is stored, and we read it as its sender.
    let sent = Keyring::new(vec![ours.clone()])
        .encrypt_payload(
            b"ours indeed",
            &ours.public,
            &[recipient.clone(), ours.public.clone()],
            &PrivacyMetadata::default(),
        )
        .expect("seals");
    let copy = sent
        .for_recipient(&recipient)
        .expect("the recipient's copy");
    let before = stored_count(&node);
    block_on(client().push(&url, &copy, PayloadCodec::Legacy)).expect("rebuilt");
    assert_eq!(stored_count(&node), before + 1);
    assert_eq!(row(&node, &sent.hash()).as_ref(), Some(&copy));
    assert!(block_on(q2t.is_sender(&sent.hash())).expect("isSender"));
    let received = block_on(q2t.receive(&sent.hash(), Some(&ours.public), false, MediaType::Json))
        .expect("the sender opens its rebuilt transaction");
    assert_eq!(received.payload, b"ours indeed");

    // A copy that is not what we hold (same cipher text, another nonce): refused as Tessera
    // does (500 "Invalid existing transaction"), the row unchanged.
    let other_nonce = EncodedPayload {
        cipher_text_nonce: Nonce(vec![5; 24]),
        ..copy.clone()
    };
    let (status, body) = push_status(&url, &other_nonce, PayloadCodec::Cbor);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Invalid existing transaction"), "{body}");
    assert_eq!(row(&node, &sent.hash()).as_ref(), Some(&copy));
    a_normal_push_still_works(&node);
}

#[test]
fn a_push_cannot_add_a_recipient_to_a_transaction() {
    let mut node = TestNode::new("add-recipient", 1, &[]);
    node.start(Service::P2p).start(Service::Q2t);
    let url = node.p2p_url();
    let q2t = Q2tClient::tcp(&node.q2t_url()).expect("Q2T client");
    let ours = node.keys[0].clone();
    let recipient = KeyPair::generate().expect("key").public;
    let stranger = KeyPair::generate().expect("key").public;
    let keyring = Keyring::new(vec![ours.clone()]);

    // A transaction we sent, held as a send stores it (every recipient, the sender included,
    // with its box); here handed to the node as its own full copy.
    let sent = keyring
        .encrypt_payload_with(
            b"sent by us",
            &ours.public,
            &[recipient.clone(), ours.public.clone()],
            &PrivacyMetadata::default(),
            &randomness(),
        )
        .expect("seals");
    let hash = sent.hash();
    block_on(client().push(&url, &sent, PayloadCodec::Cbor)).expect("held");
    let held = row(&node, &hash).expect("held");
    let participants = block_on(q2t.participants(&hash)).expect("participants");
    assert_eq!(participants, vec![recipient.clone(), ours.public.clone()]);

    // The attack of issue 15: our full copy (P2P /resend answers it to anyone naming our key)
    // pushed back with one more key and a garbage box in front. Before: 201, and
    // /participants listed the stranger first.
    let mut widened = sent.clone();
    widened.recipient_keys.insert(0, stranger.clone());
    widened.recipient_boxes.insert(0, RecipientBox(vec![0; 48]));
    // The same with a box that opens: made with the master key, which every recipient knows.
    let valid_box = keyring
        .encrypt_payload_with(
            b"sent by us",
            &ours.public,
            std::slice::from_ref(&stranger),
            &PrivacyMetadata::default(),
            &randomness(),
        )
        .expect("seals")
        .recipient_boxes
        .remove(0);
    let mut crafted = sent.clone();
    crafted.recipient_keys.insert(0, stranger.clone());
    crafted.recipient_boxes.insert(0, valid_box);
    for (what, payload) in [("garbage box", &widened), ("valid box", &crafted)] {
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            let (status, body) = push_status(&url, payload, codec);
            assert_eq!(status, 403, "{what} {codec}: {body}");
            assert!(body.contains("cannot add recipient"), "{what}: {body}");
        }
        // Just the stranger's box, as a recipient's copy would come.
        let single = EncodedPayload {
            recipient_keys: vec![stranger.clone()],
            recipient_boxes: vec![payload.recipient_boxes[0].clone()],
            ..sent.clone()
        };
        assert_eq!(
            push_status(&url, &single, PayloadCodec::Cbor).0,
            403,
            "{what}"
        );
    }
    assert_eq!(
        row(&node, &hash).as_ref(),
        Some(&held),
        "our row is unchanged"
    );
    assert_eq!(
        block_on(q2t.participants(&hash)).expect("participants"),
        participants
    );
    assert_eq!(stored_count(&node), 1);
    a_normal_push_still_works(&node);

    // A transaction another node sent us: a box for a key we do not hold is never ours to
    // record, whatever it holds; our own box must open.
    let foreign = pushed_to(&ours.public, b"sent to us");
    block_on(client().push(&url, &foreign, PayloadCodec::Cbor)).expect("stored");
    let held = row(&node, &foreign.hash()).expect("held");
    let count = stored_count(&node);
    let mut with_stranger = foreign.clone();
    with_stranger.recipient_keys.insert(0, stranger.clone());
    with_stranger
        .recipient_boxes
        .insert(0, RecipientBox(vec![3; 48]));
    let stranger_only = EncodedPayload {
        recipient_keys: vec![stranger.clone()],
        recipient_boxes: vec![RecipientBox(vec![3; 48])],
        ..foreign.clone()
    };
    for payload in [&with_stranger, &stranger_only] {
        let (status, body) = push_status(&url, payload, PayloadCodec::Cbor);
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("does not hold"), "{body}");
    }
    // A box for our key that does not open, on a transaction we do not hold yet: it would
    // block the real copy (its hash would be held with a box no one can open).
    let fresh = pushed_to(&ours.public, b"not yet here");
    let poisoned = EncodedPayload {
        recipient_boxes: vec![RecipientBox(vec![4; 48])],
        ..fresh.clone()
    };
    let (status, body) = push_status(&url, &poisoned, PayloadCodec::Legacy);
    assert_eq!(status, 400, "{body}");
    assert!(row(&node, &fresh.hash()).is_none());
    assert_eq!(row(&node, &foreign.hash()).as_ref(), Some(&held));
    assert_eq!(stored_count(&node), count);
    block_on(client().push(&url, &fresh, PayloadCodec::Legacy)).expect("the real copy");
    a_normal_push_still_works(&node);
}

#[test]
fn payloads_no_one_can_decrypt_are_refused() {
    let node = p2p_node("undecryptable", &[]);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    let good = pushed_to(&ours, b"the real one");

    // `{}` as CBOR: before, stored with an empty sender, cipher text and nonces.
    let (status, body) = post(&url, "/push", Some(OCTET_STREAM), "5.0", vec![0xa0]);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("sender key"), "{body}");

    // Each a variant of the real payload under the same hash: storing one would block it.
    let broken: Vec<(&str, EncodedPayload)> = vec![
        (
            "cipher text nonce",
            EncodedPayload {
                cipher_text_nonce: Nonce(vec![0; 12]),
                ..good.clone()
            },
        ),
        (
            "recipient nonce",
            EncodedPayload {
                recipient_nonce: Nonce(Vec::new()),
                ..good.clone()
            },
        ),
        (
            "no recipient box",
            EncodedPayload {
                recipient_boxes: Vec::new(),
                recipient_keys: Vec::new(),
                ..good.clone()
            },
        ),
        (
            "sender key",
            EncodedPayload {
                sender: PublicKey::from_bytes(vec![1; 31]),
                ..good.clone()
            },
        ),
        (
            "do not line up",
            EncodedPayload {
                recipient_keys: vec![ours.clone(), KeyPair::generate().expect("key").public],
                ..good.clone()
            },
        ),
        (
            "recipient box 0",
            EncodedPayload {
                recipient_boxes: vec![RecipientBox(vec![0; 20])],
                ..good.clone()
            },
        ),
    ];
    for (what, payload) in &broken {
        assert_eq!(payload.hash(), good.hash());
        for codec in [PayloadCodec::Legacy, PayloadCodec::Cbor] {
            let (status, body) = push_status(&url, payload, codec);
            assert_eq!(status, 400, "{what} {codec}: {body}");
            assert!(body.contains(what), "{what} {codec}: {body}");
        }
    }
    let empty = EncodedPayload {
        cipher_text: Vec::new(),
        ..good.clone()
    };
    let (status, body) = push_status(&url, &empty, PayloadCodec::Cbor);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("cipher text"), "{body}");
    assert_eq!(stored_count(&node), 0, "nothing stored");

    // (A /pushBatch holding one of them is refused too: tests in push.rs, recovery mode.)

    // The real payload still goes in, and the node serves on.
    block_on(client().push(&url, &good, PayloadCodec::Cbor)).expect("the real one is stored");
    assert_eq!(row(&node, &good.hash()).as_ref(), Some(&good));
    a_normal_push_still_works(&node);
}

/// The remote member of [`group`]'s groups: a key served by a known peer (routed with
/// [`route_remote_member`]).
fn remote_member() -> PublicKey {
    PublicKey::from_bytes(vec![2; 32])
}

fn route_remote_member(node: &TestNode) {
    store_of(node)
        .upsert_recipient(&remote_member(), "http://127.0.0.1:1/")
        .expect("a route");
}

/// A group of `node`'s key and [`remote_member`].
fn group_of(node: &TestNode, name: &str, state: &str) -> PrivacyGroupRecord {
    PrivacyGroupRecord {
        members: vec![node.keys[0].public.clone(), remote_member()],
        ..group(name, state)
    }
}

/// A group of two keys that are not `p2p_node`'s.
fn group_of_strangers() -> PrivacyGroupRecord {
    group("strangers", "ACTIVE")
}

fn group(name: &str, state: &str) -> PrivacyGroupRecord {
    PrivacyGroupRecord {
        name: name.into(),
        description: "a group".into(),
        members: vec![PublicKey::from_bytes(vec![1; 32]), remote_member()],
        seed: vec![9; 32],
        group_type: "PANTHEON".into(),
        state: state.into(),
    }
}

#[test]
fn privacy_groups_of_unknown_types_and_states_or_that_rewrite_ours_are_refused() {
    let node = p2p_node("groups", &[]);
    let url = node.p2p_url();
    route_remote_member(&node);
    let group = |name: &str, state: &str| group_of(&node, name, state);
    let groups = || store_of(&node).list_privacy_groups().expect("groups");
    let push = |record: &PrivacyGroupRecord| match block_on(
        client().push_privacy_group(&url, record.encode()),
    ) {
        Ok(()) => (200, String::new()),
        Err(ClientError::Status { status, body, .. }) => (status, body),
        Err(other) => panic!("no answer: {other}"),
    };

    // Before: stored whatever the type or state said.
    for (group_type, state) in [
        ("BOGUS", "ACTIVE"),
        ("", "ACTIVE"),
        ("PANTHEON", "ACTIV\0"),
        ("PANTHEON", ""),
        ("pantheon", "ACTIVE"),
    ] {
        let record = PrivacyGroupRecord {
            group_type: group_type.into(),
            state: state.into(),
            ..group("g", "ACTIVE")
        };
        let (status, body) = push(&record);
        assert_eq!(status, 400, "{group_type:?} {state:?}: {body}");
        assert!(body.contains("privacy group"), "{body}");
    }
    let no_members = PrivacyGroupRecord {
        members: Vec::new(),
        ..group("g", "ACTIVE")
    };
    assert_eq!(push(&no_members).0, 400);
    let short_member = PrivacyGroupRecord {
        members: vec![PublicKey::from_bytes(vec![1; 5])],
        ..group("g", "ACTIVE")
    };
    assert_eq!(push(&short_member).0, 400);
    // A group none of our keys is in, or whose other members no known peer serves: not ours
    // to hold, or not from the network (Tessera stores both).
    let strangers = group_of_strangers();
    let (status, body) = push(&strangers);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("no member on this node"), "{body}");
    let unknown_company = PrivacyGroupRecord {
        members: vec![
            node.keys[0].public.clone(),
            PublicKey::from_bytes(vec![7; 32]),
        ],
        ..group("g", "ACTIVE")
    };
    let (status, body) = push(&unknown_company);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("known to this one"), "{body}");
    assert!(groups().is_empty(), "nothing stored");
    upcheck(&url);

    // A real group is stored; the same again changes nothing.
    let active = group("g", "ACTIVE");
    assert_eq!(push(&active).0, 200);
    assert_eq!(push(&active).0, 200);
    let held = groups();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].record().expect("decodes"), active);

    // Another record under its id (same members and seed): a rename, a deletion that rewrites
    // it, a deleted group brought back. Tessera's insert fails (500) or writes the deletion.
    let renamed = group("renamed", "ACTIVE");
    let rewritten = PrivacyGroupRecord {
        description: "rewritten".into(),
        ..group("g", "DELETED")
    };
    for record in [&renamed, &rewritten] {
        let (status, body) = push(record);
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("other data"), "{body}");
        assert_eq!(groups(), held, "the group is unchanged");
    }

    // The deletion its members send: the group as held, state DELETED.
    let deleted = group("g", "DELETED");
    assert_eq!(push(&deleted).0, 200);
    let after = groups();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].record().expect("decodes"), deleted);
    assert_eq!(push(&active).0, 403, "not brought back by a push");
    assert_eq!(groups(), after);

    // The deletion of a group we never held stores nothing (as Tessera).
    let unknown = PrivacyGroupRecord {
        seed: vec![8; 32],
        ..group("other", "DELETED")
    };
    assert_eq!(push(&unknown).0, 200);
    assert_eq!(groups(), after);
    a_normal_push_still_works(&node);
}

#[test]
fn binary_endpoints_refuse_other_content_types() {
    let node = p2p_node("content-type", &[]);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    let payload = pushed_to(&ours, b"typed");
    let legacy = PayloadCodec::Legacy.encode(&payload);
    let parties = party(&url);
    let info = tm_core::partyinfo::PartyInfo {
        url: "http://127.0.0.1:1/".into(),
        ..Default::default()
    };

    // Jersey refuses these for `@Consumes(APPLICATION_OCTET_STREAM)` (Tessera's mapper then
    // answers 500 "HTTP 415 Unsupported Media Type"); we answer the 415 itself.
    for content_type in [
        "text/plain",
        "application/json",
        "",
        "application/octet-streams",
    ] {
        for (path, body) in [
            ("/push", legacy.clone()),
            ("/partyinfo", info.encode()),
            ("/partyinfo/validate", legacy.clone()),
            ("/pushPrivacyGroup", group("g", "ACTIVE").encode()),
        ] {
            let (status, text) = post(&url, path, Some(content_type), "v1,v2", body);
            assert_eq!(status, 415, "{path} {content_type:?}: {text}");
            assert_eq!(text, "HTTP 415 Unsupported Media Type");
        }
    }
    assert_eq!(stored_count(&node), 0, "nothing stored");
    assert_eq!(party(&url), parties, "party store unchanged");
    assert!(store_of(&node)
        .list_privacy_groups()
        .expect("groups")
        .is_empty());

    // Octet-stream in any case and with parameters, or no type at all (Jersey matches that to
    // any `@Consumes`), are read.
    let (status, text) = post(
        &url,
        "/push",
        Some("Application/Octet-Stream; charset=binary"),
        "v1,v2",
        legacy.clone(),
    );
    assert_eq!(status, 201, "{text}");
    let second = PayloadCodec::Legacy.encode(&pushed_to(&ours, b"untyped"));
    let (status, text) = post(&url, "/push", None, "v1,v2", second);
    assert_eq!(status, 201, "{text}");
    assert_eq!(stored_count(&node), 2);
    a_normal_push_still_works(&node);
}
