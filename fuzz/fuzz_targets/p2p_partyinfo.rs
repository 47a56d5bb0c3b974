//! `POST /partyinfo` over the route's whole path: the body decodes (`PartyInfo::decode`), the
//! route's checks of what the party store can hold run (a copy of `check_party_info` and
//! `stored_caller_versions`, private in crates/p2p-node/src/lib.rs), the caller's version
//! header (first input byte, bits 0-2) is parsed as the route parses it, and
//! `Node::receive_party_info` records the caller, its keys and the parties it lists in the
//! seeded party store. Bit 4 of the first byte turns `disablePeerDiscovery` on. Remote key
//! validation stays off: on, the node would call the URL the input names.
//!
//! Invariants, for any input: no panic; a refused party info changed none of the rows it
//! names (the sender's peer row, the routes of its first keys, the peer and candidate rows of
//! its first parties); an accepted one is answered with a party info of our URL alone, leaves
//! the sender (unless it is us) a peer with a fresh contact, no unreachable state, the
//! versions it sent and every key it serves at its own URL (but ours) routed to it; every
//! party it lists but us and the sender is a peer already, a configured peer or a candidate
//! (while the candidates are under their cap), and its peer row is unchanged: listing a URL
//! never adds or changes a peer. A key of ours is never routed anywhere.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tm_core::partyinfo::{normalise_party_url, PartyInfo};
use tm_core::version::parse_header_values;
use tm_fuzz::{flagged, harness, header_values, party_info, Variant, OWN_URL};

/// How many named rows an input's checks read (keeps a large party info cheap to check).
const CHECKED: usize = 32;

// ---- copied from crates/p2p-node/src/lib.rs (private there) --------------------------------
const MAX_URL_CHARS: usize = 2048;
const MAX_VERSIONS_CHARS: usize = 1024;
const MAX_KEY_BYTES: usize = 1024;

fn stored_caller_versions(versions: Vec<String>) -> Option<Vec<String>> {
    let joined = versions.iter().map(|v| v.chars().count() + 1).sum::<usize>();
    (joined.saturating_sub(1) <= MAX_VERSIONS_CHARS).then_some(versions)
}

fn check_party_url(url: &str) -> bool {
    normalise_party_url(url).chars().count() <= MAX_URL_CHARS && !url.chars().any(char::is_control)
}

fn check_party_info(info: &PartyInfo) -> bool {
    check_party_url(&info.url)
        && info
            .recipients
            .iter()
            .all(|r| check_party_url(&r.url) && r.key.as_bytes().len() <= MAX_KEY_BYTES)
        && info.parties.iter().all(|p| check_party_url(p))
}
// ---------------------------------------------------------------------------------------------

fn seeds() -> Vec<(String, Vec<u8>)> {
    let h = harness();
    let fx = &h.fx;
    let peer = h.peer.url.as_str();
    let open = Variant::default();
    let closed = Variant { no_discovery: true, ..Variant::default() };
    let new_node = "http://fuzz-node.invalid:9000";
    vec![
        (
            "peer".into(),
            flagged(open.flags(2), party_info(peer, &[(&fx.remote, peer)], &[OWN_URL, peer, "http://127.0.0.1:1"])),
        ),
        (
            "peer-closed".into(),
            flagged(closed.flags(3), party_info(peer, &[(&fx.remote, peer), (&fx.stranger, peer)], &[])),
        ),
        (
            "new-node".into(),
            flagged(
                open.flags(1),
                party_info(
                    new_node,
                    &[(&fx.stranger, new_node), (&fx.our_a, new_node), (&fx.remote, peer)],
                    &[new_node, "http://other.invalid:9000/", peer],
                ),
            ),
        ),
        (
            "new-node-closed".into(),
            flagged(closed.flags(0), party_info(new_node, &[(&fx.stranger, new_node)], &[])),
        ),
        ("ourselves".into(), flagged(open.flags(4), party_info(OWN_URL, &[(&fx.our_b, OWN_URL)], &[peer]))),
        ("long-versions".into(), flagged(open.flags(6), party_info(peer, &[], &[]))),
        ("empty".into(), flagged(open.flags(7), party_info("", &[], &[]))),
    ]
}

fuzz_target!(
    init: { tm_fuzz::write_seeds(&seeds()) },
    |data: &[u8]| {
        let Some((&flags, body)) = data.split_first() else { return };
        let h = harness();
        h.run(|cx| {
            // The route: decode (400), the party-store checks (400), the versions (400).
            let Ok(info) = PartyInfo::decode(body) else { return };
            if !check_party_info(&info) {
                return;
            }
            let headers = header_values(flags);
            let Some(versions) = stored_caller_versions(parse_header_values(headers.iter().map(String::as_str))) else {
                return;
            };
            let store = cx.store();
            let sender = normalise_party_url(&info.url);
            let keys: Vec<_> = info.recipients.iter().take(CHECKED).collect();
            let parties: Vec<String> =
                info.parties.iter().take(CHECKED).map(|p| normalise_party_url(p)).collect();
            let snapshot = || {
                (
                    store.find_peer(&sender).expect("peer"),
                    keys.iter().map(|r| store.find_recipient(&r.key).expect("route")).collect::<Vec<_>>(),
                    parties.iter().map(|p| store.find_peer(p).expect("peer")).collect::<Vec<_>>(),
                    parties.iter().map(|p| store.find_candidate(p).expect("candidate")).collect::<Vec<_>>(),
                )
            };
            let before = snapshot();
            let node = cx.node(Variant::from_flags(flags));
            let configured = node.settings().configured_peers.clone();
            let result = cx.block_on(node.receive_party_info(info.clone(), versions.clone()));
            let ours = cx.fx().ours();
            for key in &ours {
                assert!(store.find_recipient(key).expect("route").is_none(), "a key of ours was routed to a peer");
            }
            match result {
                Err(_) => assert_eq!(before, snapshot(), "a refused party info changed the party store"),
                Ok(reply) => {
                    let reply = PartyInfo::decode(&reply).expect("the reply decodes");
                    assert_eq!(reply.url, OWN_URL);
                    assert!(reply.recipients.is_empty() && reply.parties.is_empty());
                    if sender != OWN_URL {
                        let peer = store.find_peer(&sender).expect("peer").expect("the sender is a peer");
                        assert!(peer.last_contact.is_some(), "the sender's contact is recorded");
                        assert!(
                            peer.unreachable_since.is_none() && peer.last_error.is_none(),
                            "a party info clears the sender's unreachable state"
                        );
                        assert!(store.find_candidate(&sender).expect("candidate").is_none(), "the sender is no candidate");
                        assert_eq!(
                            peer.api_versions.unwrap_or_default().join(","),
                            versions.join(","),
                            "the sender's versions are recorded"
                        );
                        for r in &keys {
                            if normalise_party_url(&r.url) == sender && !ours.contains(&r.key) {
                                let route = store.find_recipient(&r.key).expect("route").expect("an advertised key is routed");
                                assert_eq!(route.peer_url, sender, "an advertised key is routed to its sender");
                            }
                        }
                    }
                    let after = snapshot();
                    let under_cap = store.count_candidates().expect("count") < tm_manager::party::MAX_CANDIDATES as u64;
                    for (i, p) in parties.iter().enumerate() {
                        if p == OWN_URL || *p == sender {
                            continue;
                        }
                        assert_eq!(before.2[i], after.2[i], "listing a party changed its peer row");
                        let known = after.2[i].is_some() || after.3[i].is_some() || configured.contains(p);
                        assert!(known || !under_cap, "a listed party is neither a peer nor a candidate");
                    }
                }
            }
        });
    }
);
