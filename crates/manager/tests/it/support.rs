//! Nodes for the tests: a real [`Node`] over an in-memory SQLite database and an in-process
//! enclave, served on a loopback port by a few P2P routes that call its methods (as the
//! p2p-node service does), so other nodes can push to it, resend to it and discover it.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tm_client::p2p::{P2pClient, P2pTimeouts, PushBatchRequest, OCTET_STREAM};
use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::seal::PrivacyMetadata;
use tm_core::version::{parse_header_values, SUPPORTED_API_VERSIONS, VERSION_HEADER};
use tm_core::{
    Classify, EncodedPayload, ErrorKind, KeyPair, Keyring, PayloadCodec, PublicKey, TxHash,
};
use tm_enclave::{Enclave, EnclaveClient};
use tm_http::ApiError;
use tm_manager::{ManagerError, Node, Settings};
use tm_store::AsyncStore;

/// The versions a current node advertises.
pub fn all_versions() -> Vec<String> {
    SUPPORTED_API_VERSIONS
        .iter()
        .map(|v| (*v).to_owned())
        .collect()
}

/// Every current version except `5.0`: a node that reads LEGACY pushes only.
pub fn versions_without_cbor() -> Vec<String> {
    all_versions()
        .into_iter()
        .filter(|v| v != tm_core::version::CBOR_VERSION)
        .collect()
}

/// The failure of `result`: its kind (what the services turn into a status code) and its
/// message.
pub fn failure<T: std::fmt::Debug>(result: Result<T, ManagerError>) -> (ErrorKind, String) {
    let error = result.expect_err("the call must fail");
    (error.kind(), error.to_string())
}

/// What the test routes of a node were called with.
#[derive(Debug, Default)]
pub struct Calls {
    /// The codec of each `/push` body, in arrival order.
    pub pushes: Mutex<Vec<PayloadCodec>>,
    /// How many payloads each `/pushBatch` call carried, in arrival order.
    pub batches: Mutex<Vec<usize>>,
    /// `/partyinfo` calls received.
    pub party_infos: AtomicUsize,
    /// The path of every call to the node's enclave, when it is remote
    /// ([`TestNode::start_with_remote_enclave`]), in arrival order.
    pub enclave_calls: Mutex<Vec<String>>,
}

impl Calls {
    pub fn pushes(&self) -> Vec<PayloadCodec> {
        self.pushes.lock().expect("lock").clone()
    }

    /// The enclave calls since the last time this was asked.
    pub fn take_enclave_calls(&self) -> Vec<String> {
        std::mem::take(&mut *self.enclave_calls.lock().expect("lock"))
    }

    pub fn batches(&self) -> Vec<usize> {
        self.batches.lock().expect("lock").clone()
    }

    pub fn party_infos(&self) -> usize {
        self.party_infos.load(Ordering::SeqCst)
    }
}

/// A node under test, served on `url` until dropped.
pub struct TestNode {
    pub node: Node,
    /// The node's database (a clone of the one it was built with), for assertions.
    pub store: AsyncStore,
    /// The node's key pairs; the first is its default key.
    pub keys: Vec<KeyPair>,
    /// Its P2P URL, normalised (`http://127.0.0.1:<port>/`).
    pub url: String,
    pub calls: Arc<Calls>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    handle: actix_web::dev::ServerHandle,
}

impl Drop for TestNode {
    fn drop(&mut self) {
        // Sends the stop command now; aborting the server task drops the server, which closes
        // the listener and stops the workers.
        drop(self.handle.stop(false));
        self.server.abort();
    }
}

/// Settings of a node at `own_url`: discovery open, no whitelist, no remote key validation,
/// enhanced privacy on.
pub fn settings(own_url: &str) -> Settings {
    Settings {
        own_url: own_url.to_owned(),
        configured_peers: Vec::new(),
        disable_peer_discovery: false,
        use_white_list: false,
        remote_key_validation: false,
        privacy_enhancements: true,
        party_info_interval: Duration::from_secs(5),
        resend_wait_time: Duration::from_secs(60),
        peer_grace_period: Duration::from_secs(300),
        send_timeout: Duration::from_millis(4500),
        multiple_private_states: false,
        resident_groups: Vec::new(),
    }
}

/// A fresh in-memory database with Tessera's tables.
pub async fn memory_store() -> AsyncStore {
    AsyncStore::connect("jdbc:sqlite::memory:".to_owned(), None, None, true, 1)
        .await
        .expect("in-memory SQLite opens")
}

pub fn generate_keys(count: usize) -> Vec<KeyPair> {
    (0..count)
        .map(|_| KeyPair::generate().expect("key pair"))
        .collect()
}

/// Serves `enclave` with the real enclave server on a loopback port of its own, recording the
/// path of every call into `calls`; returns its base URL. It stops with the test's runtime.
fn serve_enclave(enclave: Arc<Enclave>, calls: Arc<Calls>) -> url::Url {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("bound address").port();
    let server = HttpServer::new(move || {
        let calls = calls.clone();
        App::new()
            .wrap_fn(move |request, service| {
                if let Ok(mut paths) = calls.enclave_calls.lock() {
                    paths.push(request.path().to_owned());
                }
                actix_web::dev::Service::call(&service, request)
            })
            .configure(tm_enclave::server::configure(enclave.clone()))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)
    .expect("serve on the bound listener")
    .run();
    tokio::spawn(server);
    url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url")
}

impl TestNode {
    /// A node with `key_count` fresh keys and default [`settings`].
    pub async fn start(key_count: usize) -> Self {
        Self::start_with(key_count, |_| {}).await
    }

    /// A node with `key_count` fresh keys whose settings `adjust` changes (`own_url` is set
    /// before `adjust` runs).
    pub async fn start_with(key_count: usize, adjust: impl FnOnce(&mut Settings)) -> Self {
        Self::start_inner(key_count, adjust, false).await
    }

    /// A node whose enclave is remote: the real enclave server, on the node's own port beside
    /// its P2P routes, called over HTTP by `RemoteEnclave`; each call's path is recorded in
    /// [`Calls::enclave_calls`].
    pub async fn start_with_remote_enclave(key_count: usize) -> Self {
        Self::start_inner(key_count, |_| {}, true).await
    }

    async fn start_inner(
        key_count: usize,
        adjust: impl FnOnce(&mut Settings),
        remote_enclave: bool,
    ) -> Self {
        // Bind first and keep the listener: the server serves on this very socket.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("bound address").port();
        let url = format!("http://127.0.0.1:{port}/");
        let mut settings = settings(&url);
        adjust(&mut settings);

        let keys = generate_keys(key_count);
        let local = Arc::new(Enclave::new(keys.clone(), Vec::new()));
        let calls = Arc::new(Calls::default());
        let enclave = if remote_enclave {
            let base = serve_enclave(local, calls.clone());
            EnclaveClient::Remote(tm_enclave::RemoteEnclave::new(base).expect("enclave client"))
        } else {
            EnclaveClient::Local(local)
        };
        let store = memory_store().await;
        let p2p = P2pClient::new(P2pTimeouts::default()).expect("P2P client");
        let node = Node::new(settings, store.clone(), enclave, p2p);

        let served = web::Data::new(node.clone());
        let recorded = web::Data::from(calls.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(served.clone())
                .app_data(recorded.clone())
                .app_data(web::JsonConfig::default().limit(64 << 20))
                .route("/partyinfo", web::post().to(post_party_info))
                .route("/partyinfo/validate", web::post().to(validate))
                .route("/push", web::post().to(push))
                .route("/pushBatch", web::post().to(push_batch))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("serve on the bound listener")
        .run();
        let handle = server.handle();
        let server = tokio::spawn(server);
        Self {
            node,
            store,
            keys,
            url,
            calls,
            server,
            handle,
        }
    }

    /// The node's default key.
    pub fn key(&self) -> PublicKey {
        self.keys[0].public.clone()
    }

    pub fn public_keys(&self) -> Vec<PublicKey> {
        self.keys.iter().map(|k| k.public.clone()).collect()
    }

    /// Its keys, to encrypt and decrypt outside the node.
    pub fn keyring(&self) -> Keyring {
        Keyring::new(self.keys.clone())
    }

    /// Teaches this node where `peer`'s keys are served, as `peer` announcing itself with
    /// `versions` would.
    pub async fn learn(&self, peer: &TestNode, versions: Vec<String>) {
        let info = peer.node.own_party_info().await.expect("own party info");
        self.node
            .receive_party_info(info, versions)
            .await
            .expect("party info accepted");
    }

    /// Teaches this node that `keys` are served at `url`.
    pub async fn learn_keys_at(&self, url: &str, keys: &[PublicKey]) {
        let info = PartyInfo {
            url: url.to_owned(),
            recipients: keys
                .iter()
                .map(|key| Recipient {
                    key: key.clone(),
                    url: url.to_owned(),
                })
                .collect(),
            parties: Vec::new(),
        };
        self.node
            .receive_party_info(info, all_versions())
            .await
            .expect("party info accepted");
    }

    /// How many transactions the node's database holds.
    pub async fn stored_count(&self) -> u64 {
        self.store.count_payloads().await.expect("count")
    }

    /// The stored payload with this hash, if any.
    pub async fn stored(&self, hash: &TxHash) -> Option<EncodedPayload> {
        self.store
            .find_payload(hash.clone())
            .await
            .expect("read")
            .map(|stored| stored.payload)
    }
}

/// A loopback address nothing answers on: a socket bound to a port but never listening, kept
/// for as long as the value lives, so connections to it are refused.
pub struct DeadPeer {
    pub url: String,
    _socket: tokio::net::TcpSocket,
}

impl DeadPeer {
    pub fn new() -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.1:0".parse().expect("address"))
            .expect("bind a loopback port");
        let port = socket.local_addr().expect("bound address").port();
        Self {
            url: format!("http://127.0.0.1:{port}/"),
            _socket: socket,
        }
    }
}

/// A sender outside every test node: its own keys, encrypting as a remote node would.
pub struct Outsider {
    pub keys: Vec<KeyPair>,
}

impl Outsider {
    pub fn new() -> Self {
        Self {
            keys: generate_keys(1),
        }
    }

    pub fn key(&self) -> PublicKey {
        self.keys[0].public.clone()
    }

    /// The full payload it would store after sending `message` to `recipients` (itself added
    /// last, as a send does).
    pub fn seal(
        &self,
        message: &[u8],
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> EncodedPayload {
        let mut all = recipients.to_vec();
        all.push(self.key());
        Keyring::new(self.keys.clone())
            .encrypt_payload(message, &self.key(), &all, metadata)
            .expect("seals")
    }
}

// ---- the P2P routes, as thin as p2p-node's ------------------------------------------------

fn caller_versions(req: &HttpRequest) -> Vec<String> {
    parse_header_values(
        req.headers()
            .get_all(VERSION_HEADER)
            .filter_map(|value| value.to_str().ok()),
    )
}

async fn post_party_info(
    node: web::Data<Node>,
    calls: web::Data<Calls>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    calls.party_infos.fetch_add(1, Ordering::SeqCst);
    let info = PartyInfo::decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid party info: {e}")))?;
    let reply = node.receive_party_info(info, caller_versions(&req)).await?;
    Ok(HttpResponse::Ok().content_type(OCTET_STREAM).body(reply))
}

async fn validate(node: web::Data<Node>, body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let answer = node.answer_validation(&body).await?;
    Ok(HttpResponse::Ok().content_type("text/plain").body(answer))
}

async fn push(
    node: web::Data<Node>,
    calls: web::Data<Calls>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let versions = caller_versions(&req);
    let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
    calls.pushes.lock().expect("lock").push(codec);
    let payload = codec
        .decode(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid {codec} payload: {e}")))?;
    let (hash, _) = node.receive_push(payload).await?;
    Ok(HttpResponse::Created()
        .content_type("text/plain")
        .body(hash.to_base64()))
}

async fn push_batch(
    node: web::Data<Node>,
    calls: web::Data<Calls>,
    body: web::Json<PushBatchRequest>,
) -> Result<HttpResponse, ApiError> {
    calls
        .batches
        .lock()
        .expect("lock")
        .push(body.encoded_payloads.len());
    let payloads = body
        .encoded_payloads
        .iter()
        .map(|bytes| {
            PayloadCodec::Legacy
                .decode(bytes)
                .map_err(|e| ApiError::bad_request(format!("invalid LEGACY payload: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    node.receive_push_batch(payloads).await?;
    Ok(HttpResponse::Ok().finish())
}
