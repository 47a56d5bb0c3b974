//! Limits on Q2T requests that line up along the path (docs/security.md, "Limits on
//! requests"): a body Q2T accepts goes through a remote enclave and to a peer; one byte more
//! is a plain-text 413 with nothing stored; and a `to` key of the wrong length is one 400
//! whose message says so once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use tm_client::p2p::{P2pClient, P2pTimeouts};
use tm_client::q2t::{
    join_keys, MediaType, Method, RawRequest, RawResponse, SendRequest, HEADER_TO, JSON,
    OCTET_STREAM,
};
use tm_config::AppType;
use tm_core::{KeyPair, PublicKey};
use tm_dev_support::{block_on, eventually, Service, TestNode};

use crate::support::{key, q2t, stored_count};

/// The Q2T body limit the test gives node A.
const LIMIT: usize = 20_000;

/// A (remote enclave, Q2T limited to [`LIMIT`] bytes, P2P) and B (P2P), peers of each other,
/// once A routes B's key.
fn pair() -> (TestNode, TestNode) {
    let mut a = TestNode::new("limits-a", 1, &[]);
    let mut b = TestNode::new("limits-b", 1, &[a.p2p_url()]);
    a.set_peers(&[b.p2p_url()]);
    a.use_remote_enclave();
    a.configure(|c| c.property(AppType::Q2T, "maxBodyBytes", &LIMIT.to_string()));
    a.start(Service::Enclave);
    b.start(Service::P2p);
    a.start(Service::P2p).start(Service::Q2t);
    let p2p = P2pClient::new(P2pTimeouts::default()).expect("p2p client");
    let wanted = key(&b);
    assert!(
        eventually(Duration::from_secs(30), || {
            block_on(p2p.party_info_json(&a.p2p_url()))
                .is_ok_and(|info| info.keys.iter().any(|k| k.key == wanted))
        }),
        "A never learned B's key"
    );
    (a, b)
}

fn send_raw(node: &TestNode, payload: Vec<u8>, to: &[PublicKey]) -> RawResponse {
    let request = RawRequest::new(Method::POST, "/sendraw")
        .header("content-type", OCTET_STREAM)
        .header(HEADER_TO, &join_keys(to))
        .body(payload);
    block_on(q2t(node).raw(request)).expect("an answer")
}

fn upcheck(node: &TestNode) -> bool {
    block_on(q2t(node).upcheck()).is_ok()
}

/// The TCP port of a node's Q2T service.
fn q2t_port(node: &TestNode) -> u16 {
    node.q2t_url()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("a TCP port")
}

#[test]
fn a_body_q2t_accepts_reaches_the_enclave_and_the_peer_and_one_byte_more_is_a_413() {
    let (a, b) = pair();
    let to = [key(&b)];

    // The largest body A accepts: through the remote enclave (base64 in JSON, larger than the
    // body) and pushed to B.
    let sent = send_raw(&a, vec![7u8; LIMIT], &to);
    assert_eq!(sent.status, 200, "{}", sent.text());
    assert_eq!((stored_count(&a), stored_count(&b)), (1, 1));

    // One byte more: 413, plain text naming the limit, nothing stored anywhere.
    let refused = send_raw(&a, vec![7u8; LIMIT + 1], &to);
    assert_eq!(refused.status, 413);
    assert_eq!(refused.header("content-type"), Some("text/plain"));
    assert_eq!(
        refused.text(),
        format!(
            "Request body too large: {} bytes, this server accepts at most {LIMIT} bytes",
            LIMIT + 1
        )
    );
    assert_eq!((stored_count(&a), stored_count(&b)), (1, 1));

    // The same for a JSON send whose body is over the limit.
    let json = SendRequest::new(vec![7u8; LIMIT], &to);
    let refused = block_on(
        q2t(&a).raw(
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .json(&json),
        ),
    )
    .expect("an answer");
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(refused.text().contains(&format!("at most {LIMIT} bytes")));

    // A body without a declared length is cut off once it passes the limit.
    let mut chunked = TcpStream::connect(("127.0.0.1", q2t_port(&a))).expect("connect");
    chunked
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let chunk = vec![b'x'; 8192];
    write!(
        chunked,
        "POST /sendraw HTTP/1.1\r\nhost: q2t\r\ncontent-type: {OCTET_STREAM}\r\n\
         {HEADER_TO}: {}\r\ntransfer-encoding: chunked\r\n\r\n",
        join_keys(&to)
    )
    .expect("head");
    for _ in 0..(LIMIT / chunk.len() + 1) {
        write!(chunked, "{:x}\r\n", chunk.len()).expect("chunk size");
        chunked.write_all(&chunk).expect("chunk");
        chunked.write_all(b"\r\n").expect("chunk end");
    }
    let mut answer = String::new();
    chunked
        .read_to_string(&mut answer)
        .expect("an answer, then the connection is closed");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.ends_with(&format!(
            "Request body too large: this server accepts at most {LIMIT} bytes"
        )),
        "{answer}"
    );
    assert_eq!((stored_count(&a), stored_count(&b)), (1, 1));

    // A keeps serving.
    assert!(upcheck(&a));
    let sent = send_raw(&a, b"small".to_vec(), &to);
    assert_eq!(sent.status, 200, "{}", sent.text());
    assert_eq!((stored_count(&a), stored_count(&b)), (2, 2));
}

/// A `to` key of the wrong length is a 400 that says "bad request" once (it said it twice
/// through a remote enclave), with the local enclave and with a remote one; nothing is stored.
#[test]
fn a_to_key_of_the_wrong_length_is_one_bad_request() {
    let (a, mut b) = pair();
    b.start(Service::Q2t);
    let short = PublicKey::from_bytes(vec![1u8; 31]);
    for (node, enclave) in [(&a, "remote"), (&b, "local")] {
        let before = stored_count(node);
        let request = SendRequest::new(b"to whom?".to_vec(), std::slice::from_ref(&short));
        let refused = block_on(
            q2t(node).raw(
                RawRequest::new(Method::POST, "/send")
                    .media(MediaType::Json.as_str())
                    .json(&request),
            ),
        )
        .expect("an answer");
        assert_eq!(refused.status, 400, "{enclave}: {}", refused.text());
        let text = refused.text();
        assert!(text.starts_with("bad request: "), "{enclave}: {text}");
        assert!(
            !text.contains("bad request: bad request"),
            "{enclave}: {text}"
        );
        assert!(text.contains("32 bytes, got 31"), "{enclave}: {text}");
        assert_eq!(stored_count(node), before, "{enclave}: nothing stored");
        assert!(upcheck(node), "{enclave}: still serving");
    }
    // A well-formed key still works.
    let other = KeyPair::generate().expect("key").public;
    let refused = block_on(q2t(&a).send(
        &SendRequest::new(b"unknown".to_vec(), std::slice::from_ref(&other)),
        MediaType::Json,
    ))
    .expect_err("an unknown recipient");
    assert!(refused.to_string().contains("404"), "{refused}");
    let sent = block_on(q2t(&a).send(
        &SendRequest::new(b"known".to_vec(), &[key(&b)]),
        MediaType::Json,
    ))
    .expect("sent");
    assert!(!sent.response.key.is_empty());
}
