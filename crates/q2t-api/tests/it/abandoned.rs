//! The q2t-api binary killed (SIGKILL) or frozen (SIGSTOP) while a push of a send is held open
//! by the recipient's node: the sender's database holds no row for that send afterwards
//! (docs/q2t.md, "The send path"). The recipient's P2P port is a stub that holds each push
//! until told to answer it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest, Sent};
use tm_client::ClientError;
use tm_config::AppType;
use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::version::SUPPORTED_API_VERSIONS;
use tm_core::{KeyPair, PayloadCodec, PublicKey, TxHash};
use tm_dev_support::process::Process;
use tm_dev_support::{block_on, TestNode};

/// What the stub peer has seen and whether it answers.
#[derive(Default)]
struct StubState {
    /// Pushes received (each counted once its body has arrived).
    pushes: usize,
    /// Whether held and new pushes are answered (201 with the payload's hash).
    answering: bool,
}

/// A recipient node's P2P port: reads each request and answers it only while answering.
struct StubPeer {
    url: String,
    state: Arc<(Mutex<StubState>, Condvar)>,
}

impl StubPeer {
    fn start(answering: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().expect("address").port()
        );
        let state = Arc::new((
            Mutex::new(StubState {
                pushes: 0,
                answering,
            }),
            Condvar::new(),
        ));
        let shared = state.clone();
        // The threads end with the test binary; a held connection simply stays open till then.
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let shared = shared.clone();
                std::thread::spawn(move || serve(stream, &shared));
            }
        });
        Self { url, state }
    }

    fn answer(&self, answering: bool) {
        let (lock, changed) = &*self.state;
        lock.lock().expect("lock").answering = answering;
        changed.notify_all();
    }

    /// Waits until `count` pushes have arrived (up to 30 s).
    fn wait_for_pushes(&self, count: usize) {
        let (lock, changed) = &*self.state;
        let state = lock.lock().expect("lock");
        let (state, _) = changed
            .wait_timeout_while(state, Duration::from_secs(30), |s| s.pushes < count)
            .expect("lock");
        assert!(state.pushes >= count, "the stub never saw {count} pushes");
    }
}

fn serve(mut stream: TcpStream, state: &(Mutex<StubState>, Condvar)) {
    let (lock, changed) = state;
    while let Some(body) = read_request(&mut stream) {
        {
            let mut seen = lock.lock().expect("lock");
            seen.pushes += 1;
            changed.notify_all();
            let seen = changed.wait_while(seen, |s| !s.answering).expect("lock");
            drop(seen);
        }
        let hash = [PayloadCodec::Cbor, PayloadCodec::Legacy]
            .iter()
            .find_map(|codec| codec.decode(&body).ok())
            .map_or_else(
                || TxHash::from_bytes(vec![0; 64]).to_base64(),
                |payload| payload.hash().to_base64(),
            );
        let answer = format!(
            "HTTP/1.1 201 Created\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n{hash}",
            hash.len()
        );
        if stream.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request; returns its body, or `None` when the connection ends first.
fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).ok().filter(|n| *n > 0)?;
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(buffer[head_end..head_end + length].to_vec())
}

/// A sending node whose Q2T API runs as the q2t-api binary on a unix socket, with one remote
/// recipient key served by a stub peer.
struct Sender {
    node: TestNode,
    socket: PathBuf,
    config: PathBuf,
    q2t: Option<Process>,
    peer: StubPeer,
    recipient: PublicKey,
}

impl Sender {
    /// `send_timeout_ms`: the Q2T `sendTimeout`. The P2P timeouts are Tessera's defaults
    /// (`partyInfoInterval` 5 s), longer than the tests' holds.
    fn start(send_timeout_ms: u64, answering: bool) -> Self {
        let mut node = TestNode::new("abandoned", 1, &[]);
        let socket = node.use_q2t_unix_socket();
        node.configure(|c| {
            c.property(AppType::Q2T, "sendTimeout", &send_timeout_ms.to_string())
                .property(AppType::P2P, "partyInfoInterval", "5000")
        });
        let config = node.write_config();
        let peer = StubPeer::start(answering);
        let recipient = KeyPair::generate().expect("key").public;
        learn_route(&node, &peer.url, &recipient);
        let mut sender = Self {
            node,
            socket,
            config,
            q2t: None,
            peer,
            recipient,
        };
        sender.start_q2t();
        sender
    }

    fn start_q2t(&mut self) {
        let log = self.node.dir.path().join("q2t-api.log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_q2t-api"));
        command.arg("-configfile").arg(&self.config);
        let mut process = Process::spawn("q2t-api", command, &log).expect("q2t-api starts");
        let client = self.client();
        process
            .wait_ready(Duration::from_secs(30), || {
                block_on(client.upcheck()).is_ok()
            })
            .expect("q2t-api serves");
        self.q2t = Some(process);
    }

    fn client(&self) -> Q2tClient {
        Q2tClient::new(&format!("unix:{}", self.socket.display())).expect("q2t client")
    }

    fn pid(&self) -> String {
        self.q2t.as_ref().expect("q2t-api runs").id().to_string()
    }

    /// Sends to the stub's key from another thread; the send's result when joined.
    fn send_in_background(&self, message: &[u8]) -> JoinHandle<Result<Sent, ClientError>> {
        let client = self.client();
        let request = SendRequest::new(message.to_vec(), std::slice::from_ref(&self.recipient));
        std::thread::spawn(move || block_on(client.send(&request, MediaType::Json)))
    }

    fn stored_count(&self) -> u64 {
        let url = format!("jdbc:sqlite:{}", self.node.sqlite_path().display());
        let store =
            tm_store::Store::connect(&url, None, None, false, 1).expect("open the node's db");
        store.count_payloads().expect("count")
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} failed");
    }
}

/// Writes into the node's database that `key` is served by the node at `url` (what the
/// node's discovery would learn), through the transaction manager itself.
fn learn_route(node: &TestNode, url: &str, key: &PublicKey) {
    let config = node.config.clone();
    let info = PartyInfo {
        url: url.to_owned(),
        recipients: vec![Recipient {
            key: key.clone(),
            url: url.to_owned(),
        }],
        parties: Vec::new(),
    };
    let versions = SUPPORTED_API_VERSIONS
        .iter()
        .map(|v| (*v).to_owned())
        .collect();
    block_on(async move {
        tm_manager::open_store(&config, true)
            .await
            .expect("tables created");
        let manager = tm_manager::Node::from_config(&config)
            .await
            .expect("the node's manager");
        manager
            .receive_party_info(info, versions)
            .await
            .expect("the route is stored");
    });
}

fn status_and_body(error: &ClientError) -> (u16, String) {
    match error {
        ClientError::Status { status, body, .. } => (*status, body.clone()),
        other => panic!("expected a status error, got {other}"),
    }
}

#[test]
fn a_q2t_api_killed_while_its_push_is_held_leaves_no_row() {
    let mut sender = Sender::start(60_000, false);
    let send = sender.send_in_background(b"killed mid-send");
    sender.peer.wait_for_pushes(1);
    sender.q2t.as_mut().expect("q2t-api runs").kill();
    let error = send
        .join()
        .expect("the sending thread")
        .expect_err("the send dies with the process");
    assert_eq!(
        sender.stored_count(),
        0,
        "no row for a send never acknowledged: {error}"
    );

    // Restarted, the same process and database store a send that completes: the zero above
    // is not a node that stores nothing.
    sender.peer.answer(true);
    sender.start_q2t();
    let sent = block_on(sender.client().send(
        &SendRequest::new(
            b"after restart".to_vec(),
            std::slice::from_ref(&sender.recipient),
        ),
        MediaType::Json,
    ))
    .expect("the send succeeds");
    assert_eq!(sender.stored_count(), 1, "{sent:?}");
}

#[test]
fn a_q2t_api_frozen_past_send_timeout_while_pushing_stores_nothing_when_resumed() {
    let sender = Sender::start(1_000, true);
    // One send that completes: its row shows where rows land.
    block_on(sender.client().send(
        &SendRequest::new(b"before".to_vec(), std::slice::from_ref(&sender.recipient)),
        MediaType::Json,
    ))
    .expect("the first send succeeds");
    assert_eq!(sender.stored_count(), 1);

    sender.peer.answer(false);
    let send = sender.send_in_background(b"frozen mid-send");
    sender.peer.wait_for_pushes(2);
    sender.signal("STOP");
    // Frozen past the 1 s deadline; meanwhile the recipient accepts the push, so when the
    // process resumes its push has succeeded and only the deadline stands between it and the
    // insert.
    std::thread::sleep(Duration::from_millis(1_500));
    sender.peer.answer(true);
    std::thread::sleep(Duration::from_millis(200));
    sender.signal("CONT");

    let error = send
        .join()
        .expect("the sending thread")
        .expect_err("the send is past its deadline");
    let (status, body) = status_and_body(&error);
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("sendTimeout (1000 ms)"), "{body}");
    assert_eq!(sender.stored_count(), 1, "the frozen send stored nothing");
}

/// Sends to `recipient` through the Q2T server at `address` (`host:port`) and closes the
/// connection once `peer` holds the push, as GoQuorum does when it gives up; then lets the
/// push succeed, long before `sendTimeout`. Returns how many rows the node holds after.
fn abandon_send(node: &TestNode, address: &str, peer: &StubPeer, recipient: &PublicKey) -> u64 {
    let body = serde_json::to_vec(&SendRequest::new(
        b"nobody waits".to_vec(),
        std::slice::from_ref(recipient),
    ))
    .expect("json");
    let mut client = TcpStream::connect(address).expect("connect");
    let head = format!(
        "POST /send HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes()).expect("head");
    client.write_all(&body).expect("body");
    peer.wait_for_pushes(1);
    drop(client);
    peer.answer(true);
    // Time for a send that carried on to store its row.
    std::thread::sleep(Duration::from_millis(500));
    let url = format!("jdbc:sqlite:{}", node.sqlite_path().display());
    let store = tm_store::Store::connect(&url, None, None, false, 1).expect("open the node's db");
    store.count_payloads().expect("count")
}

/// A node with a recipient key served by a stub peer that holds pushes, and no deadline in
/// sight (`sendTimeout` 60 s).
fn node_with_held_peer(name: &str) -> (TestNode, StubPeer, PublicKey) {
    let mut node = TestNode::new(name, 1, &[]);
    node.configure(|c| c.property(AppType::Q2T, "sendTimeout", "60000"));
    let peer = StubPeer::start(false);
    let recipient = KeyPair::generate().expect("key").public;
    learn_route(&node, &peer.url, &recipient);
    (node, peer, recipient)
}

/// What the service needs: actix-web keeps running a handler whose client closed the
/// connection unless half-closed connections are refused (`h1_allow_half_closed(false)`;
/// the default allows them, see actix-http's h1 dispatcher); tm-http's server settings refuse
/// them, and the test below shows the setting is what it takes.
#[test]
fn a_send_whose_client_went_away_stores_nothing_even_when_the_push_completes_later() {
    let (mut node, peer, recipient) = node_with_held_peer("gone");
    node.start(tm_dev_support::Service::Q2t);
    let address = node.q2t_url().trim_start_matches("http://").to_owned();
    assert_eq!(
        abandon_send(&node, &address, &peer, &recipient),
        0,
        "an abandoned send stores nothing"
    );
}

/// The Q2T routes on an actix server that refuses half-closed connections: the handler of a
/// send whose client went away is dropped, pushes and all, before it could store anything.
#[test]
fn refusing_half_closed_connections_drops_the_send_of_a_client_that_went_away() {
    use actix_web::{web, App, HttpServer};

    let (node, peer, recipient) = node_with_held_peer("half-closed");
    let config = node.config.clone();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let server = block_on(async move {
        let manager = web::Data::new(
            tm_manager::Node::from_config(&config)
                .await
                .expect("the node's manager"),
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(manager.clone())
                .configure(q2t_api::routes(&tm_config::ClientMode::Tessera))
        })
        .h1_allow_half_closed(false)
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("serve")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        handle
    });
    let stored = abandon_send(&node, &address, &peer, &recipient);
    block_on(server.stop(false));
    assert_eq!(stored, 0, "an abandoned send stores nothing");
}
