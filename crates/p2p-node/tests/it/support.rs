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

/// How many transactions the node's SQLite database holds (read with our store crate).
pub fn stored_count(node: &TestNode) -> u64 {
    let store = tm_store::Store::connect(
        &format!("jdbc:sqlite:{}", node.sqlite_path().display()),
        None,
        None,
        false,
        1,
    )
    .expect("open the node's database");
    store.count_payloads().expect("count")
}
