//! Discovery (docs/protocol.md §9): broadcast rounds announce a node's keys to its peers, each peer
//! records who serves which key in its database, learns candidates from the party info and
//! polls them; a peer it cannot reach keeps its keys for the grace period (peer_state.rs).

use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::version::CBOR_VERSION;
use tm_core::{ErrorKind, PublicKey};

use crate::support::{all_versions, failure, generate_keys, DeadPeer, TestNode};

fn info(url: &str, keys: &[(&PublicKey, &str)], parties: &[&str]) -> PartyInfo {
    PartyInfo {
        url: url.to_owned(),
        recipients: keys
            .iter()
            .map(|(key, url)| Recipient {
                key: (*key).clone(),
                url: (*url).to_owned(),
            })
            .collect(),
        parties: parties.iter().map(|p| (*p).to_owned()).collect(),
    }
}

async fn peer_urls(node: &TestNode) -> Vec<String> {
    node.store
        .list_peers()
        .await
        .expect("peers")
        .into_iter()
        .map(|p| p.url)
        .collect()
}

async fn candidate_urls(node: &TestNode) -> Vec<String> {
    let json = node.node.party_info_json().await.expect("party info");
    json.candidates.into_iter().map(|c| c.url).collect()
}

async fn route_url(node: &TestNode, key: &PublicKey) -> Option<String> {
    node.node.route(key).await.ok().map(|route| route.url)
}

#[tokio::test]
async fn broadcast_rounds_exchange_keys_and_record_them_in_the_database() {
    let b = TestNode::start(1).await;
    let a = TestNode::start_with(2, |s| s.configured_peers = vec![b.url.clone()]).await;

    // A announces itself to its configured peer.
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.reached, vec![b.url.clone()]);
    assert!(report.removed.is_empty() && report.failed.is_empty());
    assert_eq!(b.calls.party_infos(), 1);

    // B learned A's keys, where they are served and what A supports.
    for key in a.public_keys() {
        let route = b.node.route(&key).await.expect("B routes A's key");
        assert_eq!(route.url, a.url);
        assert!(route.supports(CBOR_VERSION), "{:?}", route.versions);
        let stored = b
            .store
            .find_recipient(key.clone())
            .await
            .expect("read")
            .expect("stored in B's database");
        assert_eq!(stored.peer_url, a.url);
    }
    let peer = b
        .store
        .find_peer(a.url.clone())
        .await
        .expect("read")
        .expect("A is one of B's peers");
    assert!(peer.last_contact.is_some());
    // B's own keys first, then those it learned.
    let known = b.node.known_keys().await.expect("keys");
    assert_eq!(known[..1], b.public_keys()[..]);
    let mut learned = known[1..].to_vec();
    learned.sort();
    let mut expected = a.public_keys();
    expected.sort();
    assert_eq!(learned, expected);
    // A learns nothing from B's answer: A's keys only flow one way per round.
    assert!(route_url(&a, &b.key()).await.is_none());

    // B's round goes to the node it heard from.
    let report = b.node.broadcast_round().await.expect("round");
    assert_eq!(report.reached, vec![a.url.clone()]);
    assert_eq!(route_url(&a, &b.key()).await, Some(b.url.clone()));
    let json = a.node.party_info_json().await.expect("party info");
    assert_eq!(json.url, a.url);
    assert!(json.peers.iter().any(|p| p.url == b.url));
    assert!(json.keys.iter().any(|k| k.key == b.key() && k.url == b.url));
    // Peers heard from are announced onwards.
    let ours = a.node.own_party_info().await.expect("party info");
    assert_eq!(ours.parties, vec![b.url.clone()]);
    assert_eq!(ours.recipients.len(), 2);
}

#[tokio::test]
async fn peers_listed_in_party_info_are_discovered() {
    let a = TestNode::start(1).await;
    let b = TestNode::start_with(1, |s| s.configured_peers = vec![a.url.clone()]).await;
    let c = TestNode::start_with(1, |s| s.configured_peers = vec![a.url.clone()]).await;

    // B and C announce themselves to A; A then tells each of them about the other.
    b.node.broadcast_round().await.expect("round");
    c.node.broadcast_round().await.expect("round");
    let report = a.node.broadcast_round().await.expect("round");
    let mut both = vec![b.url.clone(), c.url.clone()];
    both.sort();
    assert_eq!(report.reached, both);
    // Each is a candidate of the other until one of its polls reaches it.
    assert!(!peer_urls(&b).await.contains(&c.url));
    assert!(candidate_urls(&b).await.contains(&c.url));
    assert!(candidate_urls(&c).await.contains(&b.url));
    // B has not heard from C yet: it does not know C's key.
    assert!(route_url(&b, &c.key()).await.is_none());

    // B's next round reaches C, who learns B's key without ever being configured with B.
    let report = b.node.broadcast_round().await.expect("round");
    let mut both = vec![a.url.clone(), c.url.clone()];
    both.sort();
    assert_eq!(report.reached, both);
    assert_eq!(route_url(&c, &b.key()).await, Some(b.url.clone()));
    assert!(peer_urls(&b).await.contains(&c.url));
    assert!(!candidate_urls(&b).await.contains(&c.url));
    assert_eq!(route_url(&a, &b.key()).await, Some(b.url.clone()));
    assert_eq!(route_url(&b, &a.key()).await, Some(a.url.clone()));
}

#[tokio::test]
async fn an_unreachable_peer_is_kept_with_its_keys_within_the_grace_period() {
    let b = TestNode::start(1).await;
    let a = TestNode::start_with(1, |s| s.configured_peers = vec![b.url.clone()]).await;
    let dead = DeadPeer::new();
    let gone = generate_keys(1).remove(0).public;
    a.learn_keys_at(&dead.url, std::slice::from_ref(&gone))
        .await;
    assert_eq!(route_url(&a, &gone).await, Some(dead.url.clone()));

    // One failed poll forgets nothing (Tessera would drop it; see peer_state.rs for the
    // grace period).
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.failed, vec![dead.url.clone()]);
    assert!(report.removed.is_empty());
    assert_eq!(report.reached, vec![b.url.clone()]);
    assert!(peer_urls(&a).await.contains(&dead.url));
    assert_eq!(route_url(&a, &gone).await, Some(dead.url.clone()));
}

#[tokio::test]
async fn a_peer_that_refuses_party_info_is_kept_and_learns_nothing() {
    let closed = TestNode::start_with(1, |s| s.disable_peer_discovery = true).await;
    let a = TestNode::start_with(1, |s| s.configured_peers = vec![closed.url.clone()]).await;

    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.failed, vec![closed.url.clone()]);
    assert!(report.reached.is_empty() && report.removed.is_empty());
    // Never reached, so not a peer; configured, so polled again next round.
    assert!(!peer_urls(&a).await.contains(&closed.url));
    let json = a.node.party_info_json().await.expect("party info");
    assert!(json.candidates.iter().any(|c| c.url == closed.url));
    assert_eq!(closed.calls.party_infos(), 1);
    assert!(route_url(&closed, &a.key()).await.is_none());
    assert!(peer_urls(&closed).await.is_empty());

    // Its configured peers are let in.
    let open_to_a = TestNode::start_with(1, |s| {
        s.disable_peer_discovery = true;
        s.configured_peers = vec![a.url.clone()];
    })
    .await;
    let own = a.node.own_party_info().await.expect("party info");
    open_to_a
        .node
        .receive_party_info(own, all_versions())
        .await
        .expect("a configured peer is accepted");
    assert_eq!(route_url(&open_to_a, &a.key()).await, Some(a.url.clone()));
    let stranger = info("http://127.0.0.1:9/", &[], &[]);
    let (kind, message) = failure(
        open_to_a
            .node
            .receive_party_info(stranger, all_versions())
            .await,
    );
    assert_eq!(kind, ErrorKind::Forbidden, "{message}");
}

#[tokio::test]
async fn party_info_routes_only_the_callers_own_keys_and_replaces_them() {
    let b = TestNode::start(1).await;
    let caller = "http://127.0.0.1:8/";
    let elsewhere = "http://127.0.0.1:7/";
    let keys = generate_keys(3);
    let (k1, k2, k3) = (&keys[0].public, &keys[1].public, &keys[2].public);
    let ours = b.key();

    // A key served elsewhere and one of B's own keys are not taken from the caller.
    let announced = info(
        caller,
        &[(k1, caller), (k2, caller), (k3, elsewhere), (&ours, caller)],
        &[],
    );
    b.node
        .receive_party_info(announced, all_versions())
        .await
        .expect("accepted");
    assert_eq!(route_url(&b, k1).await, Some(caller.to_owned()));
    assert_eq!(route_url(&b, k2).await, Some(caller.to_owned()));
    assert!(route_url(&b, k3).await.is_none());
    assert!(b
        .store
        .find_recipient(ours.clone())
        .await
        .expect("read")
        .is_none());

    // The caller's next party info replaces its keys: k1 is no longer served there.
    b.node
        .receive_party_info(info(caller, &[(k2, caller)], &[]), all_versions())
        .await
        .expect("accepted");
    assert!(route_url(&b, k1).await.is_none());
    assert_eq!(route_url(&b, k2).await, Some(caller.to_owned()));

    // A URL without a path is the same node as with `/`.
    b.node
        .receive_party_info(
            info("http://127.0.0.1:8", &[(k2, "http://127.0.0.1:8")], &[]),
            all_versions(),
        )
        .await
        .expect("accepted");
    assert_eq!(route_url(&b, k2).await, Some(caller.to_owned()));

    // The parties it lists become candidates, not peers; B itself is not one of them.
    let listed = "http://127.0.0.1:6/";
    b.node
        .receive_party_info(info(caller, &[], &[listed, &b.url]), all_versions())
        .await
        .expect("accepted");
    let peers = peer_urls(&b).await;
    assert!(!peers.contains(&listed.to_owned()), "{peers:?}");
    let candidates = candidate_urls(&b).await;
    assert_eq!(candidates, vec![listed.to_owned()]);
}

#[tokio::test]
async fn remote_key_validation_keeps_only_keys_the_caller_can_open() {
    let b = TestNode::start_with(1, |s| s.remote_key_validation = true).await;
    let a = TestNode::start_with(1, |s| s.configured_peers = vec![b.url.clone()]).await;

    // A's real key: B challenges A at A's /partyinfo/validate, and A answers.
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.reached, vec![b.url.clone()]);
    assert_eq!(route_url(&b, &a.key()).await, Some(a.url.clone()));

    // A key A does not hold, claimed at A's URL, fails the challenge and is not routed.
    let forged = generate_keys(1).remove(0).public;
    let claimed = info(&a.url, &[(&a.key(), &a.url), (&forged, &a.url)], &[]);
    let reply = b
        .node
        .receive_party_info(claimed, all_versions())
        .await
        .expect("accepted");
    assert!(
        reply.is_empty(),
        "validating nodes answer with an empty body"
    );
    assert!(route_url(&b, &forged).await.is_none());
    assert_eq!(route_url(&b, &a.key()).await, Some(a.url.clone()));

    // Nothing validates: refused.
    let only_forged = info(&a.url, &[(&forged, &a.url)], &[]);
    let (kind, message) = failure(b.node.receive_party_info(only_forged, all_versions()).await);
    assert_eq!(kind, ErrorKind::KeyValidation, "{message}");
    assert!(message.contains("could be validated"), "{message}");
    assert!(route_url(&b, &forged).await.is_none());
}
