//! Two real nodes on loopback: each runs its P2P and Q2T services in-process on its own SQLite
//! file.

use std::time::Duration;

use tm_client::p2p::{P2pClient, P2pTimeouts};
use tm_client::q2t::Q2tClient;
use tm_config::AppType;
use tm_core::PublicKey;
use tm_dev_support::{block_on, Service, TestNode};

/// The default public key of a node.
pub fn key(node: &TestNode) -> PublicKey {
    node.keys[0].public.clone()
}

/// Options of a pair.
#[derive(Clone, Copy, Default)]
pub struct PairOptions {
    /// `features.enablePrivacyEnhancements` on both.
    pub privacy_enhancements: bool,
    /// A's `partyInfoInterval` in ms (1000 when `None`); a long one keeps A from dropping B
    /// between B stopping and A's next send.
    pub a_interval_ms: Option<u64>,
    /// Serve A's Q2T on a unix socket in its temp dir instead of TCP.
    pub a_unix_socket: bool,
    /// Start `thirdparty-api` on both.
    pub thirdparty: bool,
    /// How many keys B holds (one when 0).
    pub b_keys: usize,
}

/// Two nodes that know each other's keys.
pub struct Pair {
    /// The sender side.
    pub a: TestNode,
    /// The recipient side.
    pub b: TestNode,
}

impl Pair {
    /// Starts A and B (P2P and Q2T each), peers of each other, and waits until A's party info
    /// lists B's key and B's lists A's.
    pub fn start(options: PairOptions) -> Self {
        let mut a = TestNode::new("a", 1, &[]);
        let mut b = TestNode::new("b", options.b_keys.max(1), &[a.p2p_url()]);
        a.set_peers(&[b.p2p_url()]);
        if let Some(ms) = options.a_interval_ms {
            a.configure(|c| c.property(AppType::P2P, "partyInfoInterval", &ms.to_string()));
        }
        if options.a_unix_socket {
            a.use_q2t_unix_socket();
        }
        for node in [&mut a, &mut b] {
            node.config.features.enable_privacy_enhancements = options.privacy_enhancements;
        }
        let mut services = vec![Service::P2p, Service::Q2t];
        if options.thirdparty {
            services.push(Service::ThirdParty);
        }
        for service in services {
            b.start(service);
            a.start(service);
        }
        let pair = Self { a, b };
        pair.wait_for_discovery();
        pair
    }

    fn wait_for_discovery(&self) {
        let p2p = P2pClient::new(P2pTimeouts::default()).expect("p2p client");
        for (node, other) in [(&self.a, &self.b), (&self.b, &self.a)] {
            let wanted = key(other);
            let known = tm_dev_support::eventually(Duration::from_secs(30), || {
                block_on(p2p.party_info_json(&node.p2p_url()))
                    .is_ok_and(|info| info.keys.iter().any(|k| k.key == wanted))
            });
            assert!(known, "{} never learned {}'s key", node.name, other.name);
        }
    }

    /// A Q2T client of A (TCP or its unix socket).
    pub fn a_q2t(&self) -> Q2tClient {
        q2t(&self.a)
    }

    /// A Q2T client of B.
    pub fn b_q2t(&self) -> Q2tClient {
        q2t(&self.b)
    }
}

/// A Q2T client of `node`, over whatever its config serves Q2T on.
pub fn q2t(node: &TestNode) -> Q2tClient {
    Q2tClient::new(&node.q2t_url()).expect("q2t client")
}

/// How many transactions `node`'s database holds.
pub fn stored_count(node: &TestNode) -> u64 {
    let url = format!("jdbc:sqlite:{}", node.sqlite_path().display());
    let store = tm_store::Store::connect(&url, None, None, false, 1).expect("open the node's db");
    store.count_payloads().expect("count")
}
