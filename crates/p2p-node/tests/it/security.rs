//! Remote key validation and the whitelist.

use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::KeyPair;
use tm_dev_support::{block_on, eventually, Service, TestNode};

use crate::support::{client, knows, party, DISCOVERY};

#[test]
fn with_key_validation_a_peer_cannot_claim_a_key_it_does_not_hold() {
    let mut validator = TestNode::new("validator", 1, &[]);
    validator.config.features.enable_remote_key_validation = true;
    validator.start(Service::P2p);
    let v_url = validator.p2p_url();

    // An honest node that does not know the validator yet (no peers).
    let mut honest = TestNode::new("honest", 1, &[]);
    honest.start(Service::P2p);
    let h_url = honest.p2p_url();

    // Someone announces the honest node's URL with a key it does not hold.
    let stolen = KeyPair::generate().expect("key").public;
    let claim = PartyInfo {
        url: h_url.clone(),
        recipients: vec![Recipient {
            key: stolen.clone(),
            url: h_url.clone(),
        }],
        parties: vec![],
    };
    let before = party(&v_url);
    let refused = block_on(client().party_info(&v_url, &claim)).expect_err("refused");
    assert!(
        matches!(refused, tm_client::ClientError::Status { status: 500, .. }),
        "{refused}"
    );
    assert_eq!(party(&v_url), before, "the store is unchanged");
    assert!(!knows(&v_url, &stolen, &h_url));

    // The honest node's own announcement validates.
    honest.set_peers(std::slice::from_ref(&v_url));
    honest.stop(Service::P2p);
    honest.start(Service::P2p);
    let real = honest.keys[0].public.clone();
    assert!(
        eventually(DISCOVERY, || knows(&v_url, &real, &h_url)),
        "validated key not recorded: {:?}",
        party(&v_url)
    );
    assert!(!knows(&v_url, &stolen, &h_url));
}

#[test]
fn with_the_whitelist_on_others_get_401() {
    // The only allowed peer is another loopback address that nothing listens on.
    let mut guarded = TestNode::new("guarded", 1, &["http://127.0.0.2:9/".to_owned()]);
    guarded.config.use_white_list = true;
    guarded.start(Service::P2p);
    let url = guarded.p2p_url();
    let http = reqwest::blocking::Client::new();
    let response = http.get(format!("{url}partyinfo")).send().expect("request");
    assert_eq!(response.status(), 401);
    assert_eq!(response.text().expect("body"), "");
    let info = PartyInfo {
        url: "http://127.0.0.1:1/".into(),
        ..PartyInfo::default()
    };
    let refused = block_on(client().party_info(&url, &info)).expect_err("401");
    assert!(
        matches!(refused, tm_client::ClientError::Status { status: 401, .. }),
        "{refused}"
    );

    // A node whose whitelist lists localhost lets us in.
    let mut open = TestNode::new("open", 1, &["http://localhost:9/".to_owned()]);
    open.config.use_white_list = true;
    open.start(Service::P2p);
    let open_url = open.p2p_url();
    assert_eq!(
        http.get(format!("{open_url}partyinfo"))
            .send()
            .expect("request")
            .status(),
        200
    );
}

#[test]
fn with_discovery_disabled_only_configured_peers_may_announce_themselves() {
    let known = "http://127.0.0.1:9/".to_owned();
    let mut closed = TestNode::new("closed", 1, std::slice::from_ref(&known));
    closed.config.disable_peer_discovery = true;
    closed.start(Service::P2p);
    let url = closed.p2p_url();

    let stranger_key = KeyPair::generate().expect("key").public;
    let stranger = PartyInfo {
        url: "http://127.0.0.1:8/".into(),
        recipients: vec![Recipient {
            key: stranger_key.clone(),
            url: "http://127.0.0.1:8/".into(),
        }],
        parties: vec![],
    };
    match block_on(client().party_info(&url, &stranger)) {
        Err(tm_client::ClientError::Status {
            status: 403, body, ..
        }) => {
            assert!(body.contains("is not a known peer"), "{body}");
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(!knows(&url, &stranger_key, "http://127.0.0.1:8/"));

    let friend_key = KeyPair::generate().expect("key").public;
    let friend = PartyInfo {
        url: known.clone(),
        recipients: vec![Recipient {
            key: friend_key.clone(),
            url: known.clone(),
        }],
        parties: vec![],
    };
    block_on(client().party_info(&url, &friend)).expect("a configured peer is accepted");
    assert!(knows(&url, &friend_key, &known));
}
