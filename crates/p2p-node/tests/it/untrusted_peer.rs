//! A node whose TLS certificate is not trusted is never added to the party store, even when a
//! trusted peer lists it (docs/protocol.md §9.1): it stays a candidate until our poll fails its
//! handshake, and none of its keys is routed.

use std::time::Duration;

use tm_client::p2p::PartyInfoJson;
use tm_config::SslConfig;
use tm_core::PublicKey;
use tm_dev_support::tls::{https_client, strict, Pki, Trust};
use tm_dev_support::{eventually, Service, TestNode};

use crate::support::{store_of, DISCOVERY};

fn tls_node(name: &str, peers: &[String], ssl: &SslConfig) -> TestNode {
    let mut node = TestNode::new(name, 1, peers);
    node.use_tls(&[Service::P2p], ssl);
    node
}

fn party(client: &reqwest::blocking::Client, base: &str) -> Option<PartyInfoJson> {
    client
        .get(format!("{base}partyinfo"))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.json().ok())
}

fn knows(client: &reqwest::blocking::Client, base: &str, key: &PublicKey) -> bool {
    party(client, base).is_some_and(|p| p.keys.iter().any(|k| &k.key == key))
}

/// The warnings logged so far that name `text`.
fn logged(text: &str) -> Vec<String> {
    let log = crate::tls::warnings().lock().expect("log").clone();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|line| line.contains(text))
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_listed_node_whose_certificate_is_not_trusted_never_becomes_a_peer() {
    crate::tls::warnings();
    let pki = Pki::temporary();
    let rogue = Pki::create(&pki.dir().join("rogue"));
    let ca = || Trust::Ca(vec![pki.ca_cert()]);
    let both = || Trust::Ca(vec![pki.ca_cert(), rogue.ca_cert()]);
    let (a_pem, b_pem) = (pki.issue("listing-a"), pki.issue("listing-b"));
    // C's certificate is signed by a CA that A does not trust; B trusts both CAs.
    let untrusted_cn = "untrusted-c-5e1d";
    let c_pem = rogue.issue(untrusted_cn);

    let mut a = tls_node("listing-a", &[], &strict(&a_pem, &a_pem, ca()));
    a.start(Service::P2p);
    let a_url = a.p2p_url();
    let mut c = tls_node("listing-c", &[], &strict(&c_pem, &c_pem, both()));
    c.start(Service::P2p);
    let c_url = c.p2p_url();
    // B polls both, so both become its peers and it lists each to the other.
    let mut b = tls_node(
        "listing-b",
        &[a_url.clone(), c_url.clone()],
        &strict(&b_pem, &b_pem, both()),
    );
    b.start(Service::P2p);
    let b_url = b.p2p_url();

    let as_a = https_client(&strict(&a_pem, &a_pem, ca()));
    let as_b = https_client(&strict(&b_pem, &b_pem, both()));
    let (a_key, b_key, c_key) = (
        a.keys[0].public.clone(),
        b.keys[0].public.clone(),
        c.keys[0].public.clone(),
    );
    assert!(
        eventually(DISCOVERY, || knows(&as_b, &b_url, &a_key)
            && knows(&as_b, &b_url, &c_key)
            && knows(&as_a, &a_url, &b_key)),
        "B knows A and C, A knows B: A {:?}, B {:?}",
        party(&as_a, &a_url),
        party(&as_b, &b_url)
    );
    // B lists C to A, as a peer it has reached.
    assert!(party(&as_b, &b_url).is_some_and(|p| p.peers.iter().any(|peer| peer.url == c_url)));

    // A polls C, its candidate: A's client refuses C's server certificate, and says so with
    // C's certificate name (only A's client refuses a server certificate here).
    let refused_by_a_client = || {
        logged(untrusted_cn)
            .iter()
            .any(|line| line.contains("untrusted server certificate"))
    };
    assert!(
        eventually(DISCOVERY, refused_by_a_client),
        "A's refusal of C is logged: {:?}",
        logged(untrusted_cn)
    );
    // A few more rounds (1 s each) of B listing C to A.
    std::thread::sleep(Duration::from_secs(3));
    let view = party(&as_a, &a_url).expect("A answers");
    assert!(view.peers.iter().any(|p| p.url == b_url), "{view:?}");
    assert!(
        !view.peers.iter().any(|p| p.url == c_url),
        "C is no peer of A: {view:?}"
    );
    assert!(
        !view.keys.iter().any(|k| k.key == c_key),
        "C's key is not routed: {view:?}"
    );
    let store = store_of(&a);
    assert!(store.find_peer(&c_url).expect("read").is_none());
    assert!(store.find_recipient(&c_key).expect("read").is_none());
    assert!(store
        .list_peers()
        .expect("peers")
        .iter()
        .all(|peer| peer.url != c_url));
    // No private key material in the log.
    let log =
        String::from_utf8_lossy(&crate::tls::warnings().lock().expect("log").clone()).into_owned();
    let body: String = std::fs::read_to_string(&c_pem.key)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(
        body.len() > 40 && !log.contains(&body[..40]),
        "private key in the log"
    );
}
