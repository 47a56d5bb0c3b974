//! Discovery that does not forget on one failure (issue 16): a peer that misses polls keeps
//! its keys and still receives sends until `peerGracePeriod` passes without a successful
//! contact; URLs listed by others are candidates until a poll reaches them.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tm_client::p2p::{P2pClient, P2pTimeouts, OCTET_STREAM};
use tm_core::partyinfo::PartyInfo;
use tm_core::version::{parse_header_values, VERSION_HEADER};
use tm_core::{ErrorKind, KeyPair, PayloadCodec, PublicKey};
use tm_enclave::{Enclave, EnclaveClient};
use tm_http::ApiError;
use tm_manager::party::{rfc3339, CANDIDATES_PER_ROUND, MAX_CANDIDATES};
use tm_manager::transaction::{Privacy, SendParams};
use tm_manager::Node;

use crate::support::{
    all_versions, failure, generate_keys, memory_store, settings, DeadPeer, TestNode,
};

/// A node whose P2P server can be stopped and started again on the same port (the process of
/// a peer that goes away and comes back), serving party info and pushes.
struct Restartable {
    node: Node,
    keys: Vec<KeyPair>,
    url: String,
    port: u16,
    party_infos: Arc<AtomicUsize>,
    server: Option<actix_web::dev::ServerHandle>,
}

impl Restartable {
    async fn start(peers: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let url = format!("http://127.0.0.1:{port}/");
        let mut settings = settings(&url);
        settings.configured_peers = peers;
        let keys = generate_keys(1);
        let enclave = EnclaveClient::Local(Arc::new(Enclave::new(keys.clone(), Vec::new())));
        let store = memory_store().await;
        let p2p = P2pClient::new(P2pTimeouts::default()).expect("P2P client");
        let mut peer = Self {
            node: Node::new(settings, store, enclave, p2p),
            keys,
            url,
            port,
            party_infos: Arc::new(AtomicUsize::new(0)),
            server: None,
        };
        peer.serve(listener);
        peer
    }

    fn key(&self) -> PublicKey {
        self.keys[0].public.clone()
    }

    fn serve(&mut self, listener: TcpListener) {
        let node = web::Data::new(self.node.clone());
        let counter = web::Data::new(self.party_infos.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(node.clone())
                .app_data(counter.clone())
                .route("/partyinfo", web::post().to(post_party_info))
                .route("/push", web::post().to(push))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("serve on the bound listener")
        .run();
        self.server = Some(server.handle());
        tokio::spawn(server);
    }

    /// Stops the server and waits until it no longer accepts connections.
    async fn stop(&mut self) {
        if let Some(handle) = self.server.take() {
            handle.stop(false).await;
        }
    }

    /// Serves again on the same port.
    fn restart(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("the port is free again");
        self.serve(listener);
    }
}

impl Drop for Restartable {
    fn drop(&mut self) {
        if let Some(handle) = self.server.take() {
            drop(handle.stop(false));
        }
    }
}

async fn post_party_info(
    node: web::Data<Node>,
    counter: web::Data<Arc<AtomicUsize>>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    counter.fetch_add(1, Ordering::SeqCst);
    let info = PartyInfo::decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid party info: {e}")))?;
    let reply = node.receive_party_info(info, versions(&req)).await?;
    Ok(HttpResponse::Ok().content_type(OCTET_STREAM).body(reply))
}

async fn push(
    node: web::Data<Node>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let versions = versions(&req);
    let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
    let payload = codec
        .decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid {codec} payload: {e}")))?;
    let (hash, _) = node.receive_push(payload).await?;
    Ok(HttpResponse::Created()
        .content_type("text/plain")
        .body(hash.to_base64()))
}

fn versions(req: &HttpRequest) -> Vec<String> {
    parse_header_values(
        req.headers()
            .get_all(VERSION_HEADER)
            .filter_map(|value| value.to_str().ok()),
    )
}

fn send_to(key: &PublicKey, message: &[u8]) -> SendParams {
    SendParams {
        payload: message.to_vec(),
        from: None,
        privacy: Privacy::standard(vec![key.clone()]),
    }
}

fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

async fn peer_urls(node: &TestNode) -> Vec<String> {
    let peers = node.store.list_peers().await.expect("peers");
    peers.into_iter().map(|p| p.url).collect()
}

async fn candidate_urls(node: &TestNode) -> Vec<String> {
    let json = node.node.party_info_json().await.expect("party info");
    json.candidates.into_iter().map(|c| c.url).collect()
}

/// The case: a peer that misses polls for less than the grace period keeps its keys,
/// is shown unreachable with the error, and receives sends again as soon as it is back,
/// without announcing itself first.
#[tokio::test]
async fn a_peer_that_misses_polls_within_the_grace_period_keeps_its_keys_and_receives_sends() {
    let a = TestNode::start(1).await;
    let mut b = Restartable::start(vec![a.url.clone()]).await;
    let report = b.node.broadcast_round().await.expect("B announces itself");
    assert_eq!(report.reached, vec![a.url.clone()]);
    assert_eq!(a.node.route(&b.key()).await.expect("routed").url, b.url);
    let announced = b.party_infos.load(Ordering::SeqCst);

    // B's server goes away; A's rounds fail to reach it.
    b.stop().await;
    for _ in 0..2 {
        let report = a.node.broadcast_round().await.expect("round");
        assert_eq!(report.failed, vec![b.url.clone()], "{report:?}");
        assert!(report.removed.is_empty(), "{report:?}");
    }
    let peer = a
        .store
        .find_peer(b.url.clone())
        .await
        .expect("read")
        .expect("B is still a peer");
    let since = peer.unreachable_since.expect("marked unreachable");
    assert!(peer.last_contact.expect("contact") <= since);
    let error = peer.last_error.clone().expect("the error is kept");
    assert!(error.contains(&b.port.to_string()), "{error}");
    assert_eq!(
        a.node.route(&b.key()).await.expect("still routed").url,
        b.url
    );
    let json = a.node.party_info_json().await.expect("party info");
    let shown = json.peers.iter().find(|p| p.url == b.url).expect("listed");
    assert_eq!(shown.state.as_deref(), Some("unreachable"));
    assert_eq!(shown.unreachable_since, rfc3339(since));
    assert_eq!(shown.last_error.as_deref(), Some(error.as_str()));
    assert!(
        shown
            .last_contact
            .as_deref()
            .is_some_and(|t| t.ends_with('Z')),
        "{shown:?}"
    );
    assert!(json.keys.iter().any(|k| k.key == b.key() && k.url == b.url));
    // It is still announced to others: it keeps its keys.
    let ours = a.node.own_party_info().await.expect("party info");
    assert_eq!(ours.parties, vec![b.url.clone()]);

    // A send while it is down is attempted and fails as offline (410), not "not found".
    let (kind, message) = failure(a.node.send(send_to(&b.key(), b"while down")).await);
    assert_eq!(kind, ErrorKind::RecipientOffline, "{message}");

    // B is back on the same port: the next send is pushed at once, before B re-announces.
    b.restart();
    let sent = a
        .node
        .send(send_to(&b.key(), b"after the pause"))
        .await
        .expect("the send reaches B");
    let received = b
        .node
        .receive(&sent.hash, Some(b.key()), false)
        .await
        .expect("B has it");
    assert_eq!(received.payload, b"after the pause");
    assert_eq!(
        b.party_infos.load(Ordering::SeqCst),
        announced,
        "B did not re-announce"
    );

    // The next round reaches it: reachable again.
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.reached, vec![b.url.clone()]);
    let peer = a
        .store
        .find_peer(b.url.clone())
        .await
        .expect("read")
        .expect("peer");
    assert_eq!((peer.unreachable_since, peer.last_error), (None, None));
    let json = a.node.party_info_json().await.expect("party info");
    let shown = json.peers.iter().find(|p| p.url == b.url).expect("listed");
    assert_eq!(shown.state.as_deref(), Some("reachable"));
    assert_eq!(
        (shown.unreachable_since.clone(), shown.last_error.clone()),
        (None, None)
    );
}

#[tokio::test]
async fn a_peer_and_its_keys_go_once_the_grace_period_passes_without_contact() {
    let grace = Duration::from_millis(300);
    let a = TestNode::start_with(1, |s| s.peer_grace_period = grace).await;
    let dead = DeadPeer::new();
    let gone = generate_keys(1).remove(0).public;
    a.learn_keys_at(&dead.url, std::slice::from_ref(&gone))
        .await;
    assert_eq!(a.node.route(&gone).await.expect("routed").url, dead.url);

    // Longer than the grace period since its last contact: the failed round removes it.
    tokio::time::sleep(grace + Duration::from_millis(100)).await;
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.removed, vec![dead.url.clone()], "{report:?}");
    assert!(!peer_urls(&a).await.contains(&dead.url));
    let (kind, message) = failure(a.node.route(&gone).await);
    assert_eq!(kind, ErrorKind::NotFound, "{message}");
    assert!(a.store.find_recipient(gone).await.expect("read").is_none());
}

#[tokio::test]
async fn the_grace_period_counts_from_the_last_successful_contact() {
    // The default grace period (5 min); the last contact is set back in time instead of
    // waiting for it.
    let a = TestNode::start(1).await;
    assert_eq!(
        a.node.settings().peer_grace_period,
        Duration::from_secs(300)
    );
    let dead = DeadPeer::new();
    let gone = generate_keys(1).remove(0).public;
    a.learn_keys_at(&dead.url, std::slice::from_ref(&gone))
        .await;

    let minute = 60_000;
    a.store
        .record_peer_contact(dead.url.clone(), now_millis() - 4 * minute, all_versions())
        .await
        .expect("contact 4 minutes ago");
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.failed, vec![dead.url.clone()], "{report:?}");
    assert_eq!(a.node.route(&gone).await.expect("kept").url, dead.url);

    a.store
        .record_peer_contact(dead.url.clone(), now_millis() - 6 * minute, all_versions())
        .await
        .expect("contact 6 minutes ago");
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.removed, vec![dead.url.clone()], "{report:?}");
    assert!(a.store.find_recipient(gone).await.expect("read").is_none());
}

#[tokio::test]
async fn a_listed_candidate_that_answers_becomes_a_peer_and_one_that_fails_is_dropped() {
    let a = TestNode::start(1).await;
    let live = TestNode::start(1).await;
    let dead = DeadPeer::new();
    // Someone (a node at `lister`) announces itself, listing a live node and a dead one.
    let lister = DeadPeer::new();
    let info = PartyInfo {
        url: lister.url.clone(),
        recipients: Vec::new(),
        parties: vec![live.url.clone(), dead.url.clone(), a.url.clone()],
    };
    a.node
        .receive_party_info(info, all_versions())
        .await
        .expect("accepted");
    let mut expected = vec![live.url.clone(), dead.url.clone()];
    expected.sort();
    let mut candidates = candidate_urls(&a).await;
    candidates.sort();
    assert_eq!(
        candidates, expected,
        "listed parties are candidates, not peers"
    );
    assert_eq!(peer_urls(&a).await, vec![lister.url.clone()]);
    let ours = a.node.own_party_info().await.expect("party info");
    assert_eq!(
        ours.parties,
        vec![lister.url.clone()],
        "candidates are not announced"
    );

    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.reached, vec![live.url.clone()], "{report:?}");
    assert_eq!(report.dropped, vec![dead.url.clone()], "{report:?}");
    assert_eq!(report.failed, vec![lister.url.clone()], "{report:?}");
    assert!(candidate_urls(&a).await.is_empty());
    let mut peers = vec![lister.url.clone(), live.url.clone()];
    peers.sort();
    assert_eq!(peer_urls(&a).await, peers);
    // The candidate got our party info, so it routes our key.
    assert_eq!(live.calls.party_infos(), 1);
    assert_eq!(live.node.route(&a.key()).await.expect("routed").url, a.url);
}

#[tokio::test]
async fn a_configured_peer_is_polled_every_round_but_stored_only_once_it_answers() {
    let dead = DeadPeer::new();
    let a = TestNode::start_with(1, |s| s.configured_peers = vec![dead.url.clone()]).await;
    for _ in 0..2 {
        let report = a.node.broadcast_round().await.expect("round");
        assert_eq!(report.failed, vec![dead.url.clone()], "{report:?}");
        assert!(report.dropped.is_empty() && report.removed.is_empty());
    }
    assert!(peer_urls(&a).await.is_empty());
    assert_eq!(
        candidate_urls(&a).await,
        vec![dead.url.clone()],
        "shown as a candidate"
    );
    assert_eq!(
        a.store.count_candidates().await.expect("count"),
        0,
        "never stored as one"
    );

    // Listing it does not make it a stored candidate either.
    let info = PartyInfo {
        url: "http://127.0.0.1:9/".to_owned(),
        recipients: Vec::new(),
        parties: vec![dead.url.clone()],
    };
    a.node
        .receive_party_info(info, all_versions())
        .await
        .expect("accepted");
    assert_eq!(a.store.count_candidates().await.expect("count"), 0);
}

#[tokio::test]
async fn a_hostile_party_info_cannot_grow_the_candidates_past_the_cap() {
    let a = TestNode::start(1).await;
    // Unreachable URLs (port 1 on loopback refuses), distinct by path.
    let parties: Vec<String> = (0..MAX_CANDIDATES + 50)
        .map(|i| format!("http://127.0.0.1:1/n{i}"))
        .collect();
    let info = PartyInfo {
        url: "http://127.0.0.1:9/".to_owned(),
        recipients: Vec::new(),
        parties,
    };
    a.node
        .receive_party_info(info, all_versions())
        .await
        .expect("accepted");
    let stored = a.store.count_candidates().await.expect("count");
    assert_eq!(stored, MAX_CANDIDATES as u64);

    // One round polls only the oldest few, and drops those that fail.
    let report = a.node.broadcast_round().await.expect("round");
    assert_eq!(report.dropped.len(), CANDIDATES_PER_ROUND as usize);
    assert_eq!(
        a.store.count_candidates().await.expect("count"),
        stored - u64::from(CANDIDATES_PER_ROUND)
    );
}
