//! Hostile peers at the edge of the P2P service (docs/security.md, "Limits on requests"):
//! party info the party store cannot hold, bodies that are too large, too slow or too many at
//! once, a database error's text, and resend for a key that is not a recipient. Each attack is
//! made over real HTTP (raw sockets where a client library would not misbehave), and each test
//! shows the refusal, that nothing was stored or changed, and that the node kept serving.

use std::io::{ErrorKind as IoErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tm_client::p2p::{ResendRequest, ResendType};
use tm_client::ClientError;
use tm_config::AppType;
use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::version::VERSION_HEADER;
use tm_core::{KeyPair, PayloadCodec, PublicKey};
use tm_dev_support::postgres::{psql, Schema};
use tm_dev_support::{block_on, eventually, Service, TestNode};
use tm_http::limits::json_limit_for;
use tm_store::Store;

use crate::support::{client, pushed_to, stored_count};

/// The TCP port of a node's P2P service.
fn p2p_port(node: &TestNode) -> u16 {
    let url = node.p2p_url();
    let port = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .expect("a port in the URL");
    port.parse().expect("a numeric port")
}

/// A node running P2P with these properties on its P2P server, and discovery slowed down so
/// that only the test changes its party store.
fn node_with(name: &str, properties: &[(&str, &str)]) -> TestNode {
    let mut node = TestNode::new(name, 1, &[]);
    node.configure(|mut c| {
        c = c.property(AppType::P2P, "partyInfoInterval", "600000");
        for (key, value) in properties {
            c = c.property(AppType::P2P, key, value);
        }
        c
    });
    node
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }
}

/// Opens a connection to `port` and sends `bytes`.
fn connect(port: u16, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    stream.write_all(bytes).expect("sent");
    stream
}

/// A request head.
fn head(method: &str, path: &str, content_type: &str, length: usize) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: peer\r\ncontent-type: {content_type}\r\n\
         content-length: {length}\r\n\r\n"
    )
    .into_bytes()
}

/// Reads one answer (head and a `content-length` body).
fn read_answer(stream: &mut TcpStream) -> Answer {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("an answer");
        assert!(
            n > 0,
            "closed before answering: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut answer = Answer {
        status,
        head,
        body: String::new(),
    };
    let length: usize = answer
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).expect("the body");
    answer.body = String::from_utf8_lossy(&body).into_owned();
    answer
}

/// Whether the server closes the connection within 3 s (well before an idle keep-alive
/// connection would be closed, after 5 s).
fn closed(stream: &mut TcpStream) -> bool {
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("read timeout");
    let mut rest = [0u8; 16];
    matches!(stream.read(&mut rest), Ok(0))
        || matches!(stream.read(&mut rest), Err(e) if e.kind() == IoErrorKind::ConnectionReset)
}

fn upcheck(node: &TestNode) -> u16 {
    reqwest::blocking::get(format!("{}upcheck", node.p2p_url())).map_or(0, |r| r.status().as_u16())
}

/// `POST /partyinfo` with this version header; the status and body.
fn announce(node: &TestNode, info: &PartyInfo, versions: &str) -> (u16, String) {
    let response = reqwest::blocking::Client::new()
        .post(format!("{}partyinfo", node.p2p_url()))
        .header("content-type", "application/octet-stream")
        .header(VERSION_HEADER, versions)
        .body(info.encode())
        .send()
        .expect("an answer");
    let status = response.status().as_u16();
    (status, response.text().unwrap_or_default())
}

fn announcement(url: &str, key: &PublicKey, parties: &[&str]) -> PartyInfo {
    PartyInfo {
        url: url.to_owned(),
        recipients: vec![Recipient {
            key: key.clone(),
            url: url.to_owned(),
        }],
        parties: parties.iter().map(|p| (*p).to_owned()).collect(),
    }
}

/// Party info a database cannot hold (PostgreSQL refused it with a 500 carrying its own
/// error text; SQLite stored it) is a 400 at the edge on both, and changes no row.
fn party_info_the_store_cannot_hold_is_a_400(node: &mut TestNode, store: &Store) {
    node.start(Service::P2p);
    // Discovery runs a round as it starts (then every 10 minutes): let that round, which would
    // drop the unreachable caller below, pass first.
    std::thread::sleep(Duration::from_millis(500));
    let caller = "http://127.0.0.1:9/";
    let key = KeyPair::generate().expect("key").public;
    let honest = announcement(caller, &key, &[]);
    let (status, body) = announce(node, &honest, "v1,v2,2.1");
    assert_eq!(status, 200, "{body}");
    let peers = store.list_peers().expect("peers");
    let recipients = store.list_recipients().expect("recipients");
    let row = store
        .find_peer(caller)
        .expect("read")
        .expect("the caller's row");
    assert_eq!(
        row.api_versions.as_deref(),
        Some(&["v1".to_owned(), "v2".to_owned(), "2.1".to_owned()][..])
    );

    let long_url = format!("http://{}.example/", "a".repeat(2048));
    let long_key = PublicKey::from_bytes(vec![7; 2000]);
    let attacks: Vec<(&str, PartyInfo, String, &str)> = vec![
        (
            "a URL over 2048 characters",
            announcement(&long_url, &key, &[]),
            "v1".into(),
            "longer than 2048 characters",
        ),
        (
            "a party URL over 2048 characters",
            announcement(caller, &key, &[&long_url]),
            "v1".into(),
            "longer than 2048 characters",
        ),
        (
            "a NUL in the URL",
            announcement("http://127.0.0.1:9/\0", &key, &[]),
            "v1".into(),
            "control character",
        ),
        (
            "a NUL in a party URL",
            announcement(caller, &key, &["http://evil\0.example/"]),
            "v1".into(),
            "control character",
        ),
        (
            "a version header over 1024 characters, from a known caller",
            honest.clone(),
            format!("v1,{}", "9".repeat(1100)),
            "longer than 1024 characters",
        ),
        (
            "a key too long for the key column's index",
            announcement(caller, &long_key, &[]),
            "v1".into(),
            "longer than 1024 bytes",
        ),
    ];
    for (what, info, versions, reason) in attacks {
        let (status, body) = announce(node, &info, &versions);
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains(reason), "{what}: {body}");
        for database_text in [
            "character varying",
            "invalid byte sequence",
            "ERROR",
            "index row",
        ] {
            assert!(!body.contains(database_text), "{what}: {body}");
        }
        assert_eq!(upcheck(node), 200, "the node keeps serving after {what}");
    }
    assert_eq!(
        store.list_peers().expect("peers"),
        peers,
        "no peer row changed"
    );
    assert_eq!(
        store.list_recipients().expect("recipients"),
        recipients,
        "no key row changed"
    );

    // The node keeps taking honest party info.
    let other = KeyPair::generate().expect("key").public;
    let (status, _) = announce(
        node,
        &announcement("http://127.0.0.1:10/", &other, &[]),
        "v1",
    );
    assert_eq!(status, 200);
    assert_eq!(store.list_peers().expect("peers").len(), peers.len() + 1);
}

#[test]
fn party_info_the_store_cannot_hold_is_a_400_on_sqlite() {
    let mut node = node_with("edge-sqlite", &[]);
    let url = format!("jdbc:sqlite:{}", node.sqlite_path().display());
    // The node creates the tables when it starts; open the store once they exist.
    node.start(Service::P2p);
    node.stop(Service::P2p);
    let store = Store::connect(&url, None, None, false, 1).expect("the node's database");
    party_info_the_store_cannot_hold_is_a_400(&mut node, &store);
}

fn postgres_node(name: &str) -> (TestNode, Schema, Store) {
    let schema = Schema::create(name);
    let mut node = node_with(name, &[]);
    node.use_postgres(&schema);
    let store = Store::connect(
        &schema.jdbc_url,
        Some(&schema.user),
        Some(&schema.password),
        true,
        1,
    )
    .expect("the node's schema");
    (node, schema, store)
}

#[test]
fn party_info_the_store_cannot_hold_is_a_400_on_postgres() {
    let (mut node, schema, store) = postgres_node("edge_party");
    party_info_the_store_cannot_hold_is_a_400(&mut node, &store);
    drop(node);
    schema.drop_all();
}

/// A database error reaches the caller as a generic 500: the database's own text (table names,
/// values) goes to the log only.
#[test]
fn a_database_error_is_answered_without_the_database_text() {
    let (mut node, schema, _store) = postgres_node("edge_dberror");
    node.start(Service::P2p);
    assert!(psql(&format!("DROP TABLE {}.tm_recipient", schema.name)));
    let response = reqwest::blocking::Client::new()
        .get(format!("{}partyinfo", node.p2p_url()))
        .header("accept", "application/json")
        .send()
        .expect("an answer");
    assert_eq!(response.status(), 500);
    let body = response.text().expect("body");
    assert_eq!(body, "database error");
    assert_eq!(upcheck(&node), 200, "the node keeps serving");
    drop(node);
    schema.drop_all();
}

/// INDIVIDUAL resend for a key that is not a recipient of the transaction: Tessera's 500 and
/// message (its resend acceptance test), where we answered 404.
#[test]
fn resend_for_a_key_that_is_not_a_recipient_is_tesseras_500() {
    let mut node = node_with("edge-resend", &[]);
    node.start(Service::P2p);
    let url = node.p2p_url();
    let ours = node.keys[0].public.clone();
    let payload = pushed_to(&ours, b"for us only");
    let hash = block_on(client().push(&url, &payload, PayloadCodec::Legacy)).expect("pushed");
    let stranger = KeyPair::generate().expect("key").public;
    let refused = block_on(client().resend(
        &url,
        &ResendRequest {
            resend_type: ResendType::Individual,
            public_key: stranger.clone(),
            key: Some(hash.to_base64()),
        },
    ));
    match refused {
        Err(ClientError::Status {
            status: 500, body, ..
        }) => assert!(
            body.contains(&format!(
                "Recipient {stranger} is not a recipient of transaction"
            )),
            "{body}"
        ),
        other => panic!("expected 500, got {other:?}"),
    }
    assert_eq!(stored_count(&node), 1, "nothing stored or removed");
    // The recipient itself still gets its copy.
    let resent = block_on(client().resend(
        &url,
        &ResendRequest {
            resend_type: ResendType::Individual,
            public_key: ours,
            key: Some(hash.to_base64()),
        },
    ))
    .expect("resent");
    assert_eq!(
        PayloadCodec::Legacy.decode(&resent).expect("LEGACY"),
        payload
    );
}

/// A body that trickles in is cut off after the body read timeout: 408, and the connection is
/// closed; other requests are served meanwhile.
#[test]
fn a_body_that_does_not_arrive_in_time_is_a_408_and_the_connection_is_closed() {
    let mut node = node_with("edge-slow", &[("bodyReadTimeout", "1000")]);
    node.start(Service::P2p);
    let mut slow = connect(
        p2p_port(&node),
        &head("POST", "/push", "application/octet-stream", 1000),
    );
    slow.write_all(&[0u8; 10]).expect("a little of the body");
    assert_eq!(upcheck(&node), 200, "the node serves others meanwhile");
    let answer = read_answer(&mut slow);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.body, "Request body not received within 1 s");
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    assert!(closed(&mut slow), "the slow connection is closed");

    // The same for a chunked body, which actix would otherwise drain for as long as it comes.
    let mut chunked = connect(
        p2p_port(&node),
        b"POST /push HTTP/1.1\r\nhost: peer\r\ncontent-type: application/octet-stream\r\n\
          transfer-encoding: chunked\r\n\r\na\r\n0123456789\r\n",
    );
    let answer = read_answer(&mut chunked);
    assert_eq!(answer.status, 408, "{answer:?}");
    assert_eq!(answer.header("connection").as_deref(), Some("close"));
    // More of the body, which nobody reads (the server may already be gone).
    let _ = chunked.write_all(b"a\r\n0123456789\r\n");
    assert!(closed(&mut chunked), "the chunked connection is closed");
    assert_eq!(stored_count(&node), 0);
    assert_eq!(upcheck(&node), 200);
}

/// Bodies over the limit: a declared length is refused before anything is read, an actual one
/// by the route's own limit; both with a plain-text 413 naming the limit. A body within the
/// limit is stored.
#[test]
fn a_body_over_the_p2p_limit_is_a_plain_text_413() {
    let mut node = node_with("edge-large", &[("maxBodyBytes", "2000")]);
    node.start(Service::P2p);
    let port = p2p_port(&node);
    let largest = json_limit_for(2000);

    let mut declared = connect(
        port,
        &head("POST", "/push", "application/octet-stream", 50_000_000),
    );
    let answer = read_answer(&mut declared);
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        answer.body,
        format!(
            "Request body too large: 50000000 bytes, this server accepts at most {largest} bytes"
        )
    );
    assert!(closed(&mut declared), "the rest of the body is never read");

    let ours = node.keys[0].public.clone();
    let big = PayloadCodec::Legacy.encode(&pushed_to(&ours, &[1u8; 3000]));
    let mut stream = connect(
        port,
        &head("POST", "/push", "application/octet-stream", big.len()),
    );
    stream.write_all(&big).expect("the body");
    let answer = read_answer(&mut stream);
    assert_eq!(answer.status, 413, "{answer:?}");
    assert_eq!(answer.header("content-type").as_deref(), Some("text/plain"));
    assert_eq!(
        answer.body,
        format!(
            "Request body too large: {} bytes, this server accepts at most 2000 bytes",
            big.len()
        )
    );
    assert_eq!(stored_count(&node), 0, "nothing stored");

    let small = pushed_to(&ours, &[1u8; 500]);
    block_on(client().push(&node.p2p_url(), &small, PayloadCodec::Legacy)).expect("pushed");
    assert_eq!(stored_count(&node), 1);
}

/// Bodies beyond the memory budget wait for their turn: while one request holds nearly all of
/// it, another large one is not answered (nor read) until the first is done; requests without
/// a body are served meanwhile.
#[test]
fn bodies_beyond_the_memory_budget_wait_for_their_turn() {
    // The budget is raised to the largest body: one JSON body of 200 000 bytes in base64.
    let budget = json_limit_for(200_000);
    let mut node = node_with(
        "edge-memory",
        &[("maxBodyBytes", "200000"), ("maxBodyMemoryBytes", "0")],
    );
    node.start(Service::P2p);
    let port = p2p_port(&node);

    // A JSON body padded with whitespace, declared at nearly the whole budget (a batch resend
    // request without a key: answered 400 once it is read).
    let holder_len = budget - 10_000;
    let batch = br#"{"encodedPayloads":[]}"#;
    let mut holder = connect(
        port,
        &head("POST", "/resendBatch", "application/json", holder_len),
    );
    holder.write_all(batch).expect("the start of the body");
    let holding = budget - holder_len;
    assert!(
        eventually(Duration::from_secs(10), || free_body_memory(&node)
            == Some(holding)),
        "the first body holds its share: {:?}",
        free_body_memory(&node)
    );

    // A push larger than what is left of the budget.
    let ours = node.keys[0].public.clone();
    let payload = pushed_to(&ours, &[2u8; 20_000]);
    let bytes = PayloadCodec::Legacy.encode(&payload);
    let mut waiting = connect(
        port,
        &head("POST", "/push", "application/octet-stream", bytes.len()),
    );
    waiting.write_all(&bytes).expect("the whole body");
    waiting
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("read timeout");
    let mut first = [0u8; 1];
    let early = waiting.read(&mut first);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), IoErrorKind::WouldBlock | IoErrorKind::TimedOut)),
        "the second body waits for memory: {early:?}"
    );
    assert_eq!(upcheck(&node), 200, "requests without a body are served");
    assert_eq!(stored_count(&node), 0);

    // The first body completes: it is answered, then the second is read and stored.
    holder
        .write_all(&vec![b' '; holder_len - batch.len()])
        .expect("the rest of the body");
    let answer = read_answer(&mut holder);
    assert_eq!(answer.status, 400, "{answer:?}");
    waiting
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let answer = read_answer(&mut waiting);
    assert_eq!(answer.status, 201, "{answer:?}");
    assert_eq!(answer.body, payload.hash().to_base64());
    assert_eq!(stored_count(&node), 1);
    assert!(
        eventually(Duration::from_secs(10), || free_body_memory(&node)
            == Some(budget)),
        "everything is given back: {:?}",
        free_body_memory(&node)
    );
}

/// The free part of the P2P server's memory budget for bodies, from `/metrics`.
fn free_body_memory(node: &TestNode) -> Option<usize> {
    let text = reqwest::blocking::get(format!("{}metrics", node.p2p_url()))
        .ok()?
        .text()
        .ok()?;
    text.lines().find_map(|line| {
        line.strip_prefix("tm_http_body_memory_free_bytes{app=\"p2p\"} ")
            .and_then(|n| n.trim().parse().ok())
    })
}
