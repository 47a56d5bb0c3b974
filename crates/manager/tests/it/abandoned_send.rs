//! A send that fails or runs out of time leaves no row on the sender's node: the row is
//! inserted only after every push succeeded and only before `sendTimeout` has passed
//! (docs/q2t.md, "The send path"). The peers here are stubs on loopback that hold a push open
//! or answer it when told to, so each test decides when a push completes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tm_core::{ErrorKind, PayloadCodec, PublicKey, TxHash};
use tm_manager::transaction::{Privacy, SendParams, SignedParams};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::support::{all_versions, failure, generate_keys, TestNode};

/// A peer's P2P port that reads each request and answers it only once released (201 with the
/// pushed payload's hash), or never.
struct StubPeer {
    url: String,
    /// Requests received so far (each one counted once its body has arrived).
    requests: Arc<AtomicUsize>,
    release: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for StubPeer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl StubPeer {
    /// A peer that holds every request until [`StubPeer::release`] (or for ever); it answers
    /// of itself once `release_after` requests have arrived, if given.
    async fn start(release_after: Option<usize>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!(
            "http://127.0.0.1:{}/",
            listener.local_addr().expect("address").port()
        );
        let requests = Arc::new(AtomicUsize::new(0));
        let (release, released) = watch::channel(false);
        let counted = requests.clone();
        let opener = release.clone();
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (counted, opener, released) =
                    (counted.clone(), opener.clone(), released.clone());
                tokio::spawn(async move {
                    serve(stream, counted, opener, released, release_after).await;
                });
            }
        });
        Self {
            url,
            requests,
            release,
            server,
        }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    /// Waits until `count` requests have arrived.
    async fn wait_for_requests(&self, count: usize) {
        for _ in 0..400 {
            if self.requests() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the stub never saw {count} requests");
    }
}

/// One connection: request after request, each answered once released.
async fn serve(
    mut stream: TcpStream,
    counted: Arc<AtomicUsize>,
    opener: watch::Sender<bool>,
    mut released: watch::Receiver<bool>,
    release_after: Option<usize>,
) {
    loop {
        let Some(body) = read_request(&mut stream).await else {
            return;
        };
        let seen = counted.fetch_add(1, Ordering::SeqCst) + 1;
        if release_after.is_some_and(|n| seen >= n) {
            opener.send_replace(true);
        }
        if released.wait_for(|open| *open).await.is_err() {
            return;
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
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request; returns its body, or `None` when the connection ends first.
async fn read_request(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Some(buffer[head_end..head_end + length].to_vec())
}

fn to(keys: &[PublicKey]) -> SendParams {
    SendParams {
        payload: b"abandoned?".to_vec(),
        from: None,
        privacy: Privacy::standard(keys.to_vec()),
    }
}

/// A node whose sends must be done within `send_timeout`.
async fn sender(send_timeout: Duration) -> TestNode {
    TestNode::start_with(1, |s| s.send_timeout = send_timeout).await
}

/// A key served by `peer`, as `node` learns it.
async fn key_at(node: &TestNode, peer: &StubPeer) -> PublicKey {
    let key = generate_keys(1).remove(0).public;
    node.learn_keys_at(&peer.url, std::slice::from_ref(&key))
        .await;
    key
}

#[tokio::test]
async fn a_push_that_hangs_past_send_timeout_fails_the_send_and_leaves_no_row() {
    let a = sender(Duration::from_millis(600)).await;
    let hung = StubPeer::start(None).await;
    let key = key_at(&a, &hung).await;

    let (kind, message) = failure(a.node.send(to(&[key])).await);
    assert_eq!(
        kind,
        ErrorKind::Refused,
        "a 500, never a 503 a balancer retries: {message}"
    );
    assert!(message.contains("sendTimeout (600 ms)"), "{message}");
    assert_eq!(hung.requests(), 1, "the push reached the peer");
    assert_eq!(
        a.stored_count().await,
        0,
        "nothing stored for a failed send"
    );

    // Once the send has failed, nothing more goes to the peer: the push was ended, not left to
    // time out and be tried again by the P2P client (which would within a couple of seconds).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hung.requests(), 1, "no push after the send failed");
    assert_eq!(a.stored_count().await, 0);

    // The same node completes a send once its peer answers: the zeros above could not pass
    // by a node that stores nothing at all.
    let answering = StubPeer::start(Some(1)).await;
    let other = key_at(&a, &answering).await;
    let sent = a.node.send(to(&[other])).await.expect("the send succeeds");
    assert!(a.stored(&sent.hash).await.is_some());
}

#[tokio::test]
async fn one_push_hanging_among_several_fails_the_send_and_the_copies_pushed_stay() {
    let a = sender(Duration::from_secs(2)).await;
    let hung = StubPeer::start(None).await;
    let b = TestNode::start(1).await;
    a.learn(&b, all_versions()).await;
    let key = key_at(&a, &hung).await;

    let (kind, message) = failure(a.node.send(to(&[b.key(), key])).await);
    assert_eq!(kind, ErrorKind::Refused, "{message}");
    assert!(message.contains("sendTimeout"), "{message}");
    assert_eq!(
        a.stored_count().await,
        0,
        "nothing stored for a failed send"
    );
    // B holds its copy: a push that succeeded is not recalled (nor is it in Tessera).
    assert_eq!(b.calls.pushes().len(), 1);
    assert_eq!(b.stored_count().await, 1);
}

#[tokio::test]
async fn a_repeated_signed_send_fails_as_in_tessera_and_pushes_nothing_more() {
    let a = sender(Duration::from_secs(10)).await;
    let b = TestNode::start(1).await;
    a.learn(&b, all_versions()).await;
    let raw = a
        .node
        .store_raw(b"signed once".to_vec(), None)
        .await
        .expect("stored raw");
    let signed = || SignedParams {
        hash: raw.clone(),
        privacy: Privacy::standard(vec![b.key()]),
    };
    let sent = a.node.send_signed(signed()).await.expect("first send");
    assert_eq!(sent.hash, raw);
    assert_eq!(b.calls.pushes().len(), 1);

    let (kind, message) = failure(a.node.send_signed(signed()).await);
    assert_eq!(kind, ErrorKind::Internal, "{message}");
    assert_eq!(
        message,
        format!("Invalid existing transaction {}", raw.to_base64())
    );
    assert_eq!(b.calls.pushes().len(), 1, "the repeat pushes nothing");
    assert_eq!(a.stored_count().await, 1, "the first send's row stays");
}

#[tokio::test]
async fn two_signed_sends_of_one_hash_at_once_store_one_row_and_fail_the_other() {
    let a = sender(Duration::from_secs(10)).await;
    // The peer answers only once both pushes have arrived: both sends have passed the check
    // for a stored row by then, and race to insert.
    let peer = StubPeer::start(Some(2)).await;
    let key = key_at(&a, &peer).await;
    let raw = a
        .node
        .store_raw(b"signed twice at once".to_vec(), None)
        .await
        .expect("stored raw");
    let signed = || SignedParams {
        hash: raw.clone(),
        privacy: Privacy::standard(vec![key.clone()]),
    };
    let (first, second) = tokio::join!(a.node.send_signed(signed()), a.node.send_signed(signed()));
    assert_eq!(peer.requests(), 2, "both sends pushed");
    let (won, lost): (Vec<_>, Vec<_>) = [first, second].into_iter().partition(Result::is_ok);
    assert_eq!(won.len(), 1, "one send stores the row");
    let (kind, message) = failure(lost.into_iter().next().expect("one failed"));
    assert_eq!(kind, ErrorKind::Internal, "{message}");
    assert_eq!(
        message,
        format!("Invalid existing transaction {}", raw.to_base64())
    );
    assert_eq!(a.stored_count().await, 1);
    assert!(a.stored(&raw).await.is_some());
}

#[tokio::test]
async fn a_send_whose_caller_gives_up_stores_nothing_even_when_the_push_completes_later() {
    let a = sender(Duration::from_secs(10)).await;
    let peer = StubPeer::start(None).await;
    let key = key_at(&a, &peer).await;

    // The caller (the route's future) is dropped while the push is held, as actix drops a
    // handler whose client went away; the peer then answers the push.
    let node = a.node.clone();
    let send = tokio::spawn(async move { node.send(to(&[key])).await });
    peer.wait_for_requests(1).await;
    send.abort();
    assert!(send.await.expect_err("aborted").is_cancelled());
    peer.release.send_replace(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        a.stored_count().await,
        0,
        "an abandoned send stores nothing"
    );
}
