//! `RemoteEnclave`'s attempts against a raw HTTP/1.1 server on loopback that hangs (what a
//! stopped enclave replica looks like: its kernel accepts the connection, nothing answers) or
//! answers, request by request. The tests assert how many requests the server saw, not how long
//! anything took.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tm_core::{Classify, ErrorKind, KeyPair};
use tm_enclave::{EnclaveClient, EnclaveError, RemoteEnclave};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the server does with the n-th request (from 1): `None` hangs, else this status and body.
type Script = Arc<dyn Fn(usize) -> Option<(u16, String)> + Send + Sync>;

/// A raw HTTP/1.1 server that counts the requests it reads.
struct Server {
    url: url::Url,
    requests: Arc<AtomicUsize>,
}

impl Server {
    async fn start(
        script: impl Fn(usize) -> Option<(u16, String)> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let requests = Arc::new(AtomicUsize::new(0));
        let script: Script = Arc::new(script);
        let counted = requests.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, script.clone(), counted.clone()));
            }
        });
        Self {
            url: url::Url::parse(&format!("http://{address}/")).expect("url"),
            requests,
        }
    }

    /// The requests seen, once at least `expected` have been (or after 10 s): the client may
    /// return before the server has read the request of an attempt it gave up on.
    async fn requests_once(&self, expected: usize) -> usize {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.requests.load(Ordering::SeqCst) < expected && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.requests.load(Ordering::SeqCst)
    }

    /// A client with three attempts of 1 s within 3 s (the last gets what is left).
    fn client(&self) -> EnclaveClient {
        let remote = RemoteEnclave::with_timeouts(
            self.url.clone(),
            Duration::from_millis(500),
            Duration::from_secs(3),
        )
        .expect("client")
        .with_attempts(Duration::from_secs(1), 3);
        EnclaveClient::Remote(remote)
    }
}

/// Serves one connection: reads each request (head and `content-length` body), then answers
/// or hangs as the script says.
async fn serve(mut stream: TcpStream, script: Script, requests: Arc<AtomicUsize>) {
    let mut buffer = Vec::new();
    loop {
        let length = loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
                let body = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if buffer.len() >= end + 4 + body {
                    break end + 4 + body;
                }
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buffer.extend_from_slice(&chunk[..n]),
            }
        };
        buffer.drain(..length);
        let number = requests.fetch_add(1, Ordering::SeqCst) + 1;
        let Some((status, body)) = script(number) else {
            return std::future::pending::<()>().await;
        };
        let answer = format!(
            "HTTP/1.1 {status} Scripted\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(answer.as_bytes()).await.is_err() {
            return;
        }
    }
}

#[tokio::test]
async fn a_call_to_a_hung_enclave_replica_is_answered_by_the_second_attempt() {
    let key = KeyPair::generate().expect("key").public;
    let keys = format!("[\"{}\"]", key.to_base64());
    let server = Server::start(move |number| (number > 1).then(|| (200, keys.clone()))).await;
    let found = server
        .client()
        .public_keys()
        .await
        .expect("the second attempt is answered");
    assert_eq!(found, vec![key]);
    assert_eq!(server.requests_once(2).await, 2);
}

#[tokio::test]
async fn a_balancer_without_an_upstream_is_retried_then_unavailable() {
    let server = Server::start(|_| Some((503, String::new()))).await;
    let error = server
        .client()
        .public_keys()
        .await
        .expect_err("no upstream");
    assert_eq!(error.kind(), ErrorKind::Unavailable);
    assert!(error.to_string().ends_with("(after 3 attempts)"), "{error}");
    assert_eq!(server.requests_once(3).await, 3);
}

#[tokio::test]
async fn an_enclave_failure_is_not_retried() {
    let server = Server::start(|_| Some((500, "a box that does not open".into()))).await;
    let error = server.client().public_keys().await.expect_err("failed");
    assert_eq!(
        error,
        EnclaveError::Failed("a box that does not open".into())
    );
    assert_eq!(server.requests_once(1).await, 1);
}
