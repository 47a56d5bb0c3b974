//! Three nodes that each know one bootstrap peer find each other; a stopped node is kept
//! (unreachable) for the grace period, then dropped, and found again when it returns.

use tm_config::AppType;
use tm_dev_support::{eventually, Service, TestNode};

use crate::support::{knows, party, store_of, DISCOVERY};

#[test]
fn three_nodes_discover_each_other_and_a_stopped_node_is_dropped_then_found_again() {
    // A keeps its keys in a remote enclave; B and C hold theirs in their P2P service.
    // A short peerGracePeriod (5 min by default), so that the stopped node goes within the
    // test's wait.
    let short_grace = |node: &mut TestNode| {
        node.configure(|c| c.property(AppType::P2P, "peerGracePeriod", "8000"));
    };
    let mut a = TestNode::new("a", 2, &[]);
    short_grace(&mut a);
    a.use_remote_enclave();
    a.start(Service::Enclave).start(Service::P2p);
    let a_url = a.p2p_url();
    let mut b = TestNode::new("b", 1, std::slice::from_ref(&a_url));
    short_grace(&mut b);
    b.start(Service::P2p);
    let b_url = b.p2p_url();
    let mut c = TestNode::new("c", 1, std::slice::from_ref(&b_url));
    c.start(Service::P2p);
    let c_url = c.p2p_url();

    let everyone = [
        (a.keys[0].public.clone(), a_url.clone()),
        (a.keys[1].public.clone(), a_url.clone()),
        (b.keys[0].public.clone(), b_url.clone()),
        (c.keys[0].public.clone(), c_url.clone()),
    ];
    for viewer in [&a_url, &b_url, &c_url] {
        assert!(
            eventually(DISCOVERY, || everyone
                .iter()
                .all(|(key, owner)| knows(viewer, key, owner))),
            "{viewer} did not learn every key: {:?}",
            party(viewer)
        );
    }
    assert_eq!(party(&a_url).url, a_url, "a node reports its own URL");
    // Our party info says that we merge a push carrying several of our keys' boxes; the peer
    // keeps that with the versions (docs/p2p.md, "One push per node").
    let b_seen_by_a = store_of(&a)
        .find_peer(&b_url)
        .expect("read")
        .expect("A holds B's row");
    assert!(
        b_seen_by_a
            .api_versions
            .unwrap_or_default()
            .iter()
            .any(|v| v == tm_core::version::GROUPED_PUSH_MARK),
        "A did not record that B merges grouped pushes"
    );

    // C stops: the others fail to reach it and show it unreachable, its keys still routed;
    // after the grace period they drop it and the keys it served.
    c.stop(Service::P2p);
    let c_key = c.keys[0].public.clone();
    for viewer in [&a_url, &b_url] {
        assert!(
            eventually(DISCOVERY, || party(viewer)
                .peers
                .iter()
                .any(|p| p.url == c_url
                    && p.state.as_deref() == Some("unreachable")
                    && p.last_error.is_some())),
            "{viewer} does not show the stopped node unreachable: {:?}",
            party(viewer)
        );
    }
    for viewer in [&a_url, &b_url] {
        assert!(
            eventually(DISCOVERY, || !knows(viewer, &c_key, &c_url)
                && !party(viewer).peers.iter().any(|p| p.url == c_url)),
            "{viewer} still lists the stopped node: {:?}",
            party(viewer)
        );
    }
    // A and B still know each other.
    assert!(knows(&a_url, &b.keys[0].public, &b_url));

    // C comes back and announces itself to its bootstrap peer again.
    c.start(Service::P2p);
    for viewer in [&a_url, &b_url] {
        assert!(
            eventually(DISCOVERY, || knows(viewer, &c_key, &c_url)),
            "{viewer} did not find the restarted node: {:?}",
            party(viewer)
        );
    }
}
