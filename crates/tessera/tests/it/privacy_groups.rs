//! The privacy group API across three nodes (docs/privacy-groups.md): a group created on A with
//! B is retrievable and findable on B, unknown on C; a send to it reaches A and B only and is
//! received with the group id; a deletion by B reaches A; every bad request is refused with
//! Tessera's status and stores and pushes nothing.

use std::time::Duration;

use tm_client::q2t::{
    MediaType, PrivacyGroupDeleteRequest, PrivacyGroupRequest, PrivacyGroupRetrieveRequest,
    PrivacyGroupSearchRequest, Q2tClient, SendRequest,
};
use tm_client::ClientError;
use tm_config::ClientMode;
use tm_dev_support::{block_on, eventually, Service, TestNode};

fn knows(p2p: &str, key: &tm_core::PublicKey) -> bool {
    reqwest::blocking::get(format!("{p2p}partyinfo"))
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .is_ok_and(|info| info.keys.iter().any(|k| &k.key == key))
}

/// Nodes `<prefix>-a`, `-b` and `-c` in `mode` (P2P and Q2T each, one key each), A a peer of
/// B and C, B of C; returned once every node knows the keys of the others.
pub(crate) fn three_nodes(prefix: &str, mode: ClientMode) -> [TestNode; 3] {
    let node = |name: &str, peers: &[String]| {
        let mut node = TestNode::new(&format!("{prefix}-{name}"), 1, peers);
        node.config.mode = mode.clone();
        node.start(Service::P2p).start(Service::Q2t);
        node
    };
    let c = node("c", &[]);
    let b = node("b", &[c.p2p_url()]);
    let a = node("a", &[b.p2p_url(), c.p2p_url()]);
    for node in [&a, &b, &c] {
        for other in [&a, &b, &c] {
            let (url, key) = (node.p2p_url(), &other.keys[0].public);
            assert!(
                eventually(Duration::from_secs(30), || knows(&url, key)),
                "{} never learned {key}",
                node.name
            );
        }
    }
    [a, b, c]
}

fn status<T: std::fmt::Debug>(result: Result<T, ClientError>) -> (u16, String) {
    match result {
        Err(ClientError::Status { status, body, .. }) => (status, body),
        other => panic!("expected an error status, got {other:?}"),
    }
}

fn stored_groups(node: &TestNode) -> usize {
    let client = Q2tClient::new(&node.q2t_url()).expect("client");
    block_on(client.groups("pantheon")).expect("groups").len()
}

#[test]
fn a_group_reaches_its_members_only_and_so_do_its_sends_and_its_deletion() {
    let [a, b, c] = three_nodes("pg", ClientMode::Tessera);
    let (ka, kb, kc) = (
        a.keys[0].public.clone(),
        b.keys[0].public.clone(),
        c.keys[0].public.clone(),
    );
    let (qa, qb, qc) = (
        Q2tClient::new(&a.q2t_url()).expect("client"),
        Q2tClient::new(&b.q2t_url()).expect("client"),
        Q2tClient::new(&c.q2t_url()).expect("client"),
    );

    // Refused: the creator not a member, a member nobody serves, malformed keys and seed, no
    // body; nothing stored anywhere.
    let request = |members: &[&tm_core::PublicKey]| PrivacyGroupRequest {
        addresses: Some(members.iter().map(|k| k.to_base64()).collect()),
        from: Some(ka.to_base64()),
        name: Some("ab".into()),
        description: Some("A and B".into()),
        seed: None,
    };
    let (code, body) = status(block_on(qa.create_privacy_group(&request(&[&kb]))));
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("should include self"), "{body}");
    let stranger = tm_core::PublicKey::from_bytes(vec![7; 32]);
    let (code, body) = status(block_on(
        qa.create_privacy_group(&request(&[&ka, &stranger])),
    ));
    assert_eq!(code, 404, "{body}");
    let mut malformed = request(&[&ka, &kb]);
    malformed.addresses = Some(vec![ka.to_base64(), "not base64!".into()]);
    assert_eq!(status(block_on(qa.create_privacy_group(&malformed))).0, 400);
    let mut bad_seed = request(&[&ka, &kb]);
    bad_seed.seed = Some("***".into());
    assert_eq!(status(block_on(qa.create_privacy_group(&bad_seed))).0, 400);
    let mut foreign_from = request(&[&ka, &kb]);
    foreign_from.from = Some(kb.to_base64());
    let (code, body) = status(block_on(qa.create_privacy_group(&foreign_from)));
    assert_eq!(code, 403, "{body}");
    for node in [&a, &b, &c] {
        assert_eq!(
            stored_groups(node),
            0,
            "{} holds a refused group",
            node.name
        );
    }

    // Created on A with B: B holds it (pushed before the answer), C does not.
    let group = block_on(qa.create_privacy_group(&request(&[&ka, &kb]))).expect("created");
    assert_eq!(group.group_type, "PANTHEON");
    assert_eq!(group.name, "ab");
    assert_eq!(group.members, vec![ka.to_base64(), kb.to_base64()]);
    let retrieve = PrivacyGroupRetrieveRequest {
        privacy_group_id: Some(group.privacy_group_id.clone()),
    };
    assert_eq!(
        block_on(qb.retrieve_privacy_group(&retrieve)).expect("on B"),
        group
    );
    let (code, body) = status(block_on(qc.retrieve_privacy_group(&retrieve)));
    assert_eq!(code, 404, "{body}");
    let search = PrivacyGroupSearchRequest {
        addresses: Some(vec![kb.to_base64(), ka.to_base64()]),
    };
    assert_eq!(
        block_on(qb.find_privacy_group(&search)).expect("found"),
        vec![group.clone()]
    );
    assert!(block_on(qc.find_privacy_group(&search))
        .expect("searched")
        .is_empty());
    assert_eq!(
        status(block_on(qa.retrieve_privacy_group(
            &PrivacyGroupRetrieveRequest {
                privacy_group_id: Some("%%%".into())
            }
        )))
        .0,
        400
    );

    // A send to the group reaches its members only, with the group id on receipt.
    for media in [MediaType::Json, MediaType::V2_1] {
        let mut send = SendRequest::new(b"to the group".to_vec(), &[]);
        send.privacy_group_id = Some(group.privacy_group_id.clone());
        let sent = block_on(qa.send(&send, media)).expect("sent to the group");
        let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("hash");
        let on_b = block_on(qb.receive(&hash, None, false, MediaType::V2_1)).expect("on B");
        assert_eq!(on_b.payload, b"to the group");
        assert_eq!(
            on_b.privacy_group_id.as_deref(),
            Some(group.privacy_group_id.as_str())
        );
        let (code, _) = status(block_on(qc.receive(&hash, None, false, MediaType::V2_1)));
        assert_eq!(code, 404, "C got a copy of a group transaction");
    }
    // C, not a member, cannot send as the group: it does not hold it.
    let mut from_c = SendRequest::new(b"intruder".to_vec(), &[]);
    from_c.privacy_group_id = Some(group.privacy_group_id.clone());
    assert_eq!(status(block_on(qc.send(&from_c, MediaType::V2_1))).0, 404);

    // Deleting: not by a key outside the group; by B, it reaches A.
    let delete = |from: &tm_core::PublicKey| PrivacyGroupDeleteRequest {
        privacy_group_id: Some(group.privacy_group_id.clone()),
        from: Some(from.to_base64()),
    };
    let (code, body) = status(block_on(qb.delete_privacy_group(&delete(&kc))));
    assert_eq!(code, 403, "{body}");
    assert!(block_on(qa.retrieve_privacy_group(&retrieve)).is_ok());
    let deleted = block_on(qb.delete_privacy_group(&delete(&kb))).expect("deleted");
    assert_eq!(deleted, group.privacy_group_id);
    for client in [&qa, &qb] {
        assert_eq!(
            status(block_on(client.retrieve_privacy_group(&retrieve))).0,
            404
        );
        assert!(block_on(client.find_privacy_group(&search))
            .expect("searched")
            .is_empty());
    }
    assert_eq!(stored_groups(&a), 0, "a deleted group is not listed");
    let mut after = SendRequest::new(b"too late".to_vec(), &[]);
    after.privacy_group_id = Some(group.privacy_group_id.clone());
    assert_eq!(status(block_on(qa.send(&after, MediaType::V2_1))).0, 404);
    assert_eq!(
        status(block_on(qb.delete_privacy_group(&delete(&kb)))).0,
        404,
        "deleted twice"
    );
}
