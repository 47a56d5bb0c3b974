//! The remote enclave client keeps the enclave's key lists (`RemoteEnclave`, "Key lists"): a
//! real enclave server, in-process on a loopback port behind a middleware that records every
//! request's path, shows how many calls a send makes the first time and the next, and that a
//! key the enclave gained in a restart is found.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::Service;
use tm_core::{KeyPair, PublicKey};
use tm_enclave::{Enclave, EnclaveClient, RemoteEnclave};

/// A real enclave server that records the path of every request it is sent.
struct CountingEnclave {
    port: u16,
    paths: Arc<Mutex<Vec<String>>>,
    handle: actix_web::dev::ServerHandle,
}

impl CountingEnclave {
    /// Serves `enclave` on `listener`, recording into `paths`.
    fn serve(enclave: Enclave, listener: TcpListener, paths: Arc<Mutex<Vec<String>>>) -> Self {
        let port = listener.local_addr().expect("address").port();
        let enclave = Arc::new(enclave);
        let recorded = paths.clone();
        let server = actix_web::HttpServer::new(move || {
            let recorded = recorded.clone();
            actix_web::App::new()
                .wrap_fn(move |request, service| {
                    if let Ok(mut paths) = recorded.lock() {
                        paths.push(request.path().to_owned());
                    }
                    service.call(request)
                })
                .configure(tm_enclave::server::configure(enclave.clone()))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .expect("listen")
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            port,
            paths,
            handle,
        }
    }

    /// An enclave with `keys` (the first is the default) on a free loopback port.
    fn start(keys: Vec<KeyPair>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        Self::serve(
            Enclave::new(keys, Vec::new()),
            listener,
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    /// Stops this server and serves `keys` on the same port (what a restart with a new config
    /// looks like to a client), recording into the same list.
    async fn restart_with(self, keys: Vec<KeyPair>) -> Self {
        self.handle.stop(true).await;
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the same port");
        Self::serve(Enclave::new(keys, Vec::new()), listener, self.paths)
    }

    /// The paths requested since the last call.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.paths.lock().expect("paths"))
    }

    /// A client that keeps key lists for an hour, so that no test depends on how fast it runs.
    fn client(&self) -> EnclaveClient {
        let url = url::Url::parse(&format!("http://127.0.0.1:{}/", self.port)).expect("url");
        EnclaveClient::Remote(
            RemoteEnclave::with_timeouts(url, Duration::from_secs(2), Duration::from_secs(10))
                .expect("client")
                .with_key_cache_max_age(Duration::from_secs(3600)),
        )
    }
}

fn key() -> KeyPair {
    KeyPair::generate().expect("key pair")
}

/// The enclave calls `Node::send` makes (crates/manager/src/transaction/send.rs): the default
/// key (no `from`), the forwarding keys, the encryption, and our public keys to tell our
/// recipients from remote ones (expecting the sender among them).
async fn send_like(client: &EnclaveClient, from: Option<&PublicKey>, to: &PublicKey) {
    let sender = match from {
        Some(key) => key.clone(),
        None => client.default_public_key().await.expect("default key"),
    };
    let mut recipients = vec![to.clone(), sender.clone()];
    recipients.extend(client.forwarding_keys().await.expect("forwarding keys"));
    client
        .encrypt_payload(b"payload", &sender, &recipients, &Default::default())
        .await
        .expect("encrypt");
    let ours = client
        .public_keys_including(&sender)
        .await
        .expect("public keys");
    assert!(ours.contains(&sender), "the sender is one of ours");
}

#[tokio::test]
async fn the_second_send_asks_the_enclave_only_to_encrypt() {
    let (a, other) = (key(), key());
    let enclave = CountingEnclave::start(vec![a]);
    let client = enclave.client();

    send_like(&client, None, &other.public).await;
    let first = enclave.take();
    send_like(&client, None, &other.public).await;
    let second = enclave.take();

    assert_eq!(first, ["/default", "/forwarding", "/encrypt", "/public"]);
    assert_eq!(second, ["/encrypt"]);
}

#[tokio::test]
async fn a_key_the_enclave_gained_in_a_restart_is_found() {
    let (a, b, other) = (key(), key(), key());
    let b_public = b.public.clone();
    let enclave = CountingEnclave::start(vec![a.clone()]);
    let client = enclave.client();
    send_like(&client, None, &other.public).await;
    assert!(!client
        .public_keys()
        .await
        .expect("keys")
        .contains(&b_public));

    // Restarted with a second key: no call failed meanwhile, so the client still holds the
    // old list, until a send from the new key asks for it.
    let enclave = enclave.restart_with(vec![a, b]).await;
    enclave.take();
    send_like(&client, Some(&b_public), &other.public).await;

    assert_eq!(
        enclave.take(),
        ["/encrypt", "/public"],
        "the new sender missing from the kept list fetched it once"
    );
    assert!(client
        .public_keys()
        .await
        .expect("keys")
        .contains(&b_public));
}

#[tokio::test]
async fn a_call_that_finds_the_enclave_down_drops_the_kept_lists() {
    let (a, b, other) = (key(), key(), key());
    let enclave = CountingEnclave::start(vec![a.clone()]);
    let client = enclave.client();
    send_like(&client, None, &other.public).await;

    // Down: the encryption fails, and the lists kept from before are dropped with it.
    enclave.handle.stop(true).await;
    let down = client
        .encrypt_payload(b"x", &a.public, &[], &Default::default())
        .await;
    assert!(down.is_err(), "nothing listens");

    // Back with another default key: the next default-key call asks it.
    let listener = TcpListener::bind(("127.0.0.1", enclave.port)).expect("bind the same port");
    let enclave = CountingEnclave::serve(
        Enclave::new(vec![b.clone(), a], Vec::new()),
        listener,
        enclave.paths,
    );
    enclave.take();
    assert_eq!(
        client.default_public_key().await.expect("default key"),
        b.public
    );
    assert_eq!(enclave.take(), ["/default"]);
}
