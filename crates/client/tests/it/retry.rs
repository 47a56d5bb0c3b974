//! `P2pClient`'s attempts against a raw HTTP/1.1 peer on loopback that answers, hangs (what a
//! stopped process looks like: its kernel accepts the connection, nothing answers) or closes the
//! connection without an answer (the keep-alive race), request by request. The tests assert
//! how many requests the peer saw, not how long anything took.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tm_client::p2p::{P2pClient, P2pTimeouts};
use tm_client::ClientError;
use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, KeyPair, Keyring, PayloadCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the peer does with a request.
#[derive(Clone, Debug)]
enum Reply {
    /// Answers this status with this body.
    Answer(u16, String),
    /// Reads the request and never answers, keeping the connection open.
    Hang,
    /// Reads the request and closes the connection without an answer.
    Close,
}

/// Decides the reply from the request's number among all requests and on its connection (both
/// from 1).
type Script = Arc<dyn Fn(usize, usize) -> Reply + Send + Sync>;

/// A raw HTTP/1.1 peer that counts connections and requests.
struct Peer {
    url: String,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

impl Peer {
    async fn start(script: impl Fn(usize, usize) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let script: Script = Arc::new(script);
        let (accepted, counted) = (connections.clone(), requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, script.clone(), counted.clone()));
            }
        });
        Self {
            url,
            connections,
            requests,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// The requests seen, once at least `expected` have been (or after 10 s): the client may
    /// return before the peer has read the request of an attempt it gave up on.
    async fn requests_once(&self, expected: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.requests.load(Ordering::SeqCst) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.requests.load(Ordering::SeqCst)
    }
}

/// Serves one connection: reads each request (head and `content-length` body), then replies as
/// the script says.
async fn serve(mut stream: TcpStream, script: Script, requests: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    let mut on_connection = 0;
    loop {
        let Some(length) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        buffer.drain(..length);
        on_connection += 1;
        let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
        match script(number, on_connection) {
            Reply::Answer(status, body) => {
                let answer = format!(
                    "HTTP/1.1 {status} Scripted\r\ncontent-type: text/plain\r\n\
                     content-length: {}\r\n\r\n{body}",
                    body.len()
                );
                if stream.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
            }
            Reply::Hang => std::future::pending::<()>().await,
            Reply::Close => return,
        }
    }
}

/// Reads until `buffer` holds a whole request; returns its length, or `None` at the end of
/// the connection.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let body = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + body {
                return Some(end + 4 + body);
            }
        }
        let mut chunk = [0u8; 8192];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

fn payload() -> EncodedPayload {
    let sender = KeyPair::generate().expect("key");
    let recipient = KeyPair::generate().expect("key");
    Keyring::new(vec![sender.clone()])
        .encrypt_payload(
            b"retried",
            &sender.public,
            std::slice::from_ref(&recipient.public),
            &PrivacyMetadata::default(),
        )
        .expect("seals")
}

/// Three attempts of 1 s within 3 s (the last gets what is left).
fn client() -> P2pClient {
    P2pClient::new(P2pTimeouts::new(
        Duration::from_secs(3),
        Duration::from_secs(3),
    ))
    .expect("client")
}

#[tokio::test]
async fn a_push_to_a_hung_replica_is_answered_by_the_second_attempt() {
    let payload = payload();
    let hash = payload.hash().to_base64();
    let peer = Peer::start(move |number, _| match number {
        1 => Reply::Hang,
        _ => Reply::Answer(201, hash.clone()),
    })
    .await;
    let stored = client()
        .push(&peer.url, &payload, PayloadCodec::Cbor)
        .await
        .expect("the second attempt is answered");
    assert_eq!(stored, payload.hash());
    assert_eq!(peer.requests_once(2).await, 2);
    assert_eq!(peer.connections(), 2, "the hung connection is not reused");
}

#[tokio::test]
async fn a_connection_closed_as_it_is_reused_is_retried_on_a_new_one() {
    let payload = payload();
    let hash = payload.hash().to_base64();
    // Each connection answers its first request and closes on the second without an answer:
    // what a server that times out an idle connection does when our request crosses its close.
    let script = move |_: usize, on_connection: usize| match on_connection {
        1 => Reply::Answer(201, hash.clone()),
        _ => Reply::Close,
    };

    // Without retries the second push goes out on the pooled connection and fails: the race
    // the retries are for is real here.
    let peer = Peer::start(script.clone()).await;
    let once = P2pClient::new(P2pTimeouts::without_retries(
        Duration::from_secs(3),
        Duration::from_secs(3),
    ))
    .expect("client");
    once.push(&peer.url, &payload, PayloadCodec::Cbor)
        .await
        .expect("first push");
    // Let the first connection go back to the pool.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let error = once
        .push(&peer.url, &payload, PayloadCodec::Cbor)
        .await
        .expect_err("closed without an answer");
    assert!(error.is_offline(), "{error}");
    assert_eq!(peer.requests_once(2).await, 2);

    let peer = Peer::start(script).await;
    let client = client();
    for _ in 0..2 {
        let stored = client
            .push(&peer.url, &payload, PayloadCodec::Cbor)
            .await
            .expect("pushed");
        assert_eq!(stored, payload.hash());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(peer.requests_once(3).await, 3, "one request was repeated");
    assert_eq!(peer.connections(), 2);
}

#[tokio::test]
async fn an_answer_that_is_not_a_gateway_error_is_not_retried() {
    for status in [400, 404, 500] {
        let peer = Peer::start(move |_, _| Reply::Answer(status, "no".into())).await;
        let error = client()
            .push(&peer.url, &payload(), PayloadCodec::Cbor)
            .await
            .expect_err("refused");
        assert!(
            matches!(error, ClientError::Status { status: s, ref body, .. } if s == status && body == "no"),
            "{error}"
        );
        assert_eq!(peer.requests_once(1).await, 1, "{status} was sent once");
    }
}

#[tokio::test]
async fn a_balancer_without_an_upstream_is_retried() {
    let payload = payload();
    let hash = payload.hash().to_base64();
    let peer = Peer::start(move |number, _| match number {
        1 => Reply::Answer(502, "bad gateway".into()),
        2 => Reply::Answer(503, "unavailable".into()),
        _ => Reply::Answer(201, hash.clone()),
    })
    .await;
    let stored = client()
        .push(&peer.url, &payload, PayloadCodec::Cbor)
        .await
        .expect("the third attempt is answered");
    assert_eq!(stored, payload.hash());
    assert_eq!(peer.requests_once(3).await, 3);

    // Every attempt answered 504: the status is kept, with the number of attempts.
    let peer = Peer::start(|_, _| Reply::Answer(504, "gateway timeout".into())).await;
    let error = client()
        .push(&peer.url, &payload, PayloadCodec::Cbor)
        .await
        .expect_err("no upstream");
    assert!(
        matches!(error, ClientError::Status { status: 504, ref body, .. }
            if body == "gateway timeout (after 3 attempts)"),
        "{error}"
    );
    assert_eq!(peer.requests_once(3).await, 3);
}

#[tokio::test]
async fn a_peer_that_always_hangs_is_offline_after_every_attempt() {
    let peer = Peer::start(|_, _| Reply::Hang).await;
    let timeouts = P2pTimeouts {
        request: Duration::from_millis(1500),
        attempt: Duration::from_millis(400),
        attempts: 3,
        ..P2pTimeouts::default()
    };
    let error = P2pClient::new(timeouts)
        .expect("client")
        .push(&peer.url, &payload(), PayloadCodec::Cbor)
        .await
        .expect_err("hung");
    assert!(error.is_offline(), "{error}");
    assert!(error.to_string().ends_with("(after 3 attempts)"), "{error}");
    assert_eq!(peer.requests_once(3).await, 3);
    assert_eq!(peer.connections(), 3);
}

#[tokio::test]
async fn calls_that_make_the_peer_work_are_sent_once() {
    use tm_client::p2p::{ResendRequest, ResendType};
    let peer = Peer::start(|_, _| Reply::Hang).await;
    let timeouts = P2pTimeouts {
        resend: Duration::from_millis(600),
        attempt: Duration::from_millis(100),
        ..P2pTimeouts::default()
    };
    let all = ResendRequest {
        resend_type: ResendType::All,
        public_key: KeyPair::generate().expect("key").public,
        key: None,
    };
    let error = P2pClient::new(timeouts)
        .expect("client")
        .resend(&peer.url, &all)
        .await
        .expect_err("hung");
    assert!(error.is_offline(), "{error}");
    assert_eq!(peer.requests_once(1).await, 1);
    assert_eq!(peer.connections(), 1);
}

/// A TLS peer whose certificate nobody trusts: a refusal, not a transient.
#[tokio::test]
async fn a_refused_tls_handshake_is_not_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("https://{}/", listener.local_addr().expect("address"));
    let identity =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(identity.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![identity.cert.der().clone()], key)
    .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let connections = Arc::new(AtomicUsize::new(0));
    let accepted = connections.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            accepted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move { drop(acceptor.accept(stream).await) });
        }
    });

    let error = client()
        .push(&url, &payload(), PayloadCodec::Cbor)
        .await
        .expect_err("untrusted");
    assert!(error.is_offline(), "{error}");
    assert!(!error.to_string().contains("attempts"), "{error}");
    assert_eq!(connections.load(Ordering::SeqCst), 1);
}
