//! Helpers over tm-dev-support for P2P tests.

use std::time::Duration;

use tm_client::p2p::{P2pClient, P2pTimeouts, PartyInfoJson};
use tm_core::PublicKey;
use tm_dev_support::{Service, TestNode};

/// How long discovery may take: a few 1 s intervals.
pub const DISCOVERY: Duration = Duration::from_secs(20);

pub fn client() -> P2pClient {
    P2pClient::new(P2pTimeouts::default()).expect("client")
}

/// `GET /partyinfo` of a node.
pub fn party(url: &str) -> PartyInfoJson {
    let response = reqwest::blocking::get(format!("{}partyinfo", url)).expect("GET /partyinfo");
    assert_eq!(response.status(), 200);
    response.json().expect("party info JSON")
}

/// Whether the node at `url` routes `key` to `owner`.
pub fn knows(url: &str, key: &PublicKey, owner: &str) -> bool {
    party(url)
        .keys
        .iter()
        .any(|k| &k.key == key && k.url == owner)
}

/// A node running its P2P service (keys held in-process) with these bootstrap peers.
pub fn p2p_node(name: &str, peers: &[String]) -> TestNode {
    let mut node = TestNode::new(name, 1, peers);
    node.start(Service::P2p);
    node
}

/// The node's SQLite database, opened with our store crate.
pub fn store_of(node: &TestNode) -> tm_store::Store {
    tm_store::Store::connect(
        &format!("jdbc:sqlite:{}", node.sqlite_path().display()),
        None,
        None,
        false,
        1,
    )
    .expect("open the node's database")
}

/// How many transactions the node's SQLite database holds.
pub fn stored_count(node: &TestNode) -> u64 {
    store_of(node).count_payloads().expect("count")
}

/// A payload from a foreign sender to `recipient`, as that sender pushes it.
pub fn pushed_to(recipient: &PublicKey, message: &[u8]) -> tm_core::EncodedPayload {
    let sender = tm_core::KeyPair::generate().expect("key");
    tm_core::Keyring::new(vec![sender.clone()])
        .encrypt_payload(
            message,
            &sender.public,
            &[recipient.clone(), sender.public.clone()],
            &tm_core::seal::PrivacyMetadata::default(),
        )
        .expect("seals")
        .for_recipient(recipient)
        .expect("strips")
}
