//! Two P2P replicas of one node (two instances of the service on two listeners) on one
//! PostgreSQL database: what one learns, the other answers.

use tm_dev_support::postgres::Schema;
use tm_dev_support::{eventually, Service, TestNode};

use crate::support::{knows, party, DISCOVERY};

#[test]
fn two_replicas_on_one_postgresql_answer_the_same_party_info() {
    let mut node = TestNode::new("replicated", 1, &[]);
    node.use_postgres(&Schema::create("p2p_replicas"));
    // Replica 1 listens on the advertised address (standing in for the load balancer);
    // replica 2 listens on its own port and advertises the same address, as the HA guide says.
    let advertised = node.p2p_url();
    node.start(Service::P2p);
    let second = node.start_replica(Service::P2p);

    // A peer announces itself to replica 1 only.
    let mut peer = TestNode::new("peer", 1, std::slice::from_ref(&advertised));
    peer.start(Service::P2p);
    let peer_url = peer.p2p_url();
    let key = peer.keys[0].public.clone();
    assert!(
        eventually(DISCOVERY, || knows(&advertised, &key, &peer_url)),
        "replica 1 did not learn the peer: {:?}",
        party(&advertised)
    );
    // Replica 2 never heard from the peer itself, and answers the same.
    assert!(
        knows(&second, &key, &peer_url),
        "replica 2: {:?}",
        party(&second)
    );
    let one = party(&advertised);
    let two = party(&second);
    assert_eq!(one.url, two.url, "both advertise the same address");
    let mut one_keys: Vec<_> = one
        .keys
        .iter()
        .map(|k| (k.key.to_base64(), k.url.clone()))
        .collect();
    let mut two_keys: Vec<_> = two
        .keys
        .iter()
        .map(|k| (k.key.to_base64(), k.url.clone()))
        .collect();
    one_keys.sort();
    two_keys.sort();
    assert_eq!(one_keys, two_keys);
}
