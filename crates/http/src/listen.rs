//! Where a server listens: a TCP address or a unix socket.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{HttpService, Protocol, Request, Response};
use actix_service::ServiceFactoryExt as _;
use actix_service::{fn_service, map_config, IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::{AppConfig, Server};
use actix_web::rt::net::TcpStream;
use actix_web::HttpServer;
use tm_tls::ServerTls;

use tm_config::{Scheme, ServerAddress, ServerConfig};

use crate::serve::StartError;

/// A listening address (services build it from `tm_config::ServerAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `host:port`.
    Tcp(String),
    /// A unix domain socket path (`unix:/path/tm.ipc`).
    Unix(PathBuf),
}

impl Listen {
    /// Opens the listening socket. A stale unix socket file from an earlier run is removed
    /// first. Hand the result to [`listen_on!`](crate::listen_on).
    pub fn open(&self) -> std::io::Result<Listener> {
        match self {
            Self::Tcp(address) => Ok(Listener::Tcp(TcpListener::bind(address)?)),
            Self::Unix(path) => {
                remove_stale_socket(path)?;
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
        }
    }
}

/// An open listening socket, handed to a server. Tests bind `127.0.0.1:0` themselves and pass
/// the listener in, so they never pick a port by probing.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A unix domain socket.
    Unix(UnixListener),
}

impl Listener {
    /// A TCP listener on a free loopback port chosen by the kernel.
    pub fn loopback() -> std::io::Result<Self> {
        Ok(Self::Tcp(TcpListener::bind("127.0.0.1:0")?))
    }

    /// The TCP port (`None` for a unix socket).
    pub fn port(&self) -> Option<u16> {
        match self {
            Self::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Self::Unix(_) => None,
        }
    }

    /// Where it listens, for logs (`http://127.0.0.1:9000`, `unix:/path`).
    pub fn describe(&self) -> String {
        match self {
            Self::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".to_owned(), |a| format!("http://{a}")),
            Self::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".to_owned()),
        }
    }
}

/// Makes an `actix_web::HttpServer` listen on a [`Listener`] socket:
/// `let server = tm_http::listen_on!(HttpServer::new(...), bound)?;`
#[macro_export]
macro_rules! listen_on {
    ($server:expr, $bound:expr) => {
        match $bound {
            $crate::listen::Listener::Tcp(listener) => $server.listen(listener),
            $crate::listen::Listener::Unix(listener) => $server.listen_uds(listener),
        }
    };
}

/// How a server carries its connections: plain HTTP or TLS (docs/security.md, "TLS").
#[derive(Clone, Debug)]
pub enum Transport {
    /// Plain HTTP: a server entry without TLS, or a unix socket.
    Plain,
    /// TLS as this server half of an `sslConfig` says (its trust mode decides which clients
    /// it accepts).
    Tls(ServerTls),
}

impl Transport {
    /// The transport `server` (a `serverConfigs` entry) asks for on `listener`. Never a silent
    /// plaintext server: a combination that cannot be served as configured is refused (exit 1,
    /// [`StartError::config`]):
    ///
    /// - `sslConfig.tls` `STRICT` on a unix socket (sockets are served without TLS);
    /// - an `https` `serverAddress` without `sslConfig.tls` `STRICT`;
    /// - `STRICT` with key material or trust settings that cannot be used.
    pub fn of(server: &ServerConfig, listener: &Listener) -> Result<Self, StartError> {
        let name = server
            .app
            .as_ref()
            .map_or("server", |app| app.as_str())
            .to_owned();
        let advertised_https = matches!(
            server.server_address(),
            Ok(ServerAddress::Tcp {
                scheme: Scheme::Https,
                ..
            })
        );
        match (server.is_tls(), listener) {
            (true, Listener::Unix(_)) => Err(StartError::config(format!(
                "{name} server: sslConfig.tls is STRICT but it listens on a unix socket, which \
                 is served without TLS: set sslConfig.tls to OFF, or serve it on an https \
                 address"
            ))),
            (false, _) if advertised_https => Err(StartError::config(format!(
                "{name} server: serverAddress is https but sslConfig.tls is not STRICT, so it \
                 would serve plain HTTP: set sslConfig.tls to STRICT with its key material, \
                 or use an http address"
            ))),
            (false, _) => Ok(Self::Plain),
            (true, Listener::Tcp(_)) => {
                let tls = tm_tls::server_tls(server)
                    .map_err(|e| StartError::new(e.exit(), format!("{name} server: {e}")))?
                    .ok_or_else(|| {
                        StartError::config(format!(
                            "{name} server: sslConfig.tls is STRICT but no TLS could be set up \
                             for it; refusing to serve plain HTTP instead"
                        ))
                    })?;
                if !advertised_https {
                    tracing::warn!(
                        "{name} server: serves TLS (sslConfig.tls STRICT) but its serverAddress \
                         is not https: clients using that address will fail"
                    );
                }
                Ok(Self::Tls(tls))
            }
        }
    }
}

/// How an HTTP server runs: worker threads, timeouts. `None` keeps actix's default. It never
/// handles signals itself: `serve::Running::wait` does (the graceful handover).
#[derive(Clone, Debug, Default)]
pub struct HttpSettings {
    /// Worker threads (default: one per CPU).
    pub workers: Option<usize>,
    /// Seconds a stopping server waits for requests in flight (default 30).
    pub shutdown_timeout: Option<u64>,
    /// How long an idle keep-alive connection stays open.
    pub keep_alive: Option<Duration>,
    /// How long a client may take to send a request's head.
    pub client_request_timeout: Option<Duration>,
    /// How long a connection may linger after the server closes it.
    pub client_disconnect_timeout: Option<Duration>,
    /// Whether a client may close its side of the connection and still get its answer
    /// (actix's default: yes). `Some(false)`: a client that closes its connection abandons
    /// its request, and the handler is dropped at once.
    pub h1_allow_half_closed: Option<bool>,
}

/// How long an idle keep-alive connection stays open on every server of ours: longer than any
/// client of ours (P2P, enclave: 30 s) or balancer (30 s upstream idle timeout) keeps an idle
/// connection, so a client never sends a request on a connection the server is closing.
/// docs/operations.md, "High availability: timeouts as one budget".
pub const KEEP_ALIVE: Duration = Duration::from_secs(60);

/// How long a client may take to send a request's head (actix's default, set explicitly):
/// slow-header connections are closed after it.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a connection may linger after the server closes it before it is dropped.
pub const DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

impl HttpSettings {
    /// What every server of ours uses: [`KEEP_ALIVE`], [`REQUEST_HEAD_TIMEOUT`],
    /// [`DISCONNECT_TIMEOUT`], [`crate::drain::SHUTDOWN_TIMEOUT`] for requests in flight when
    /// it stops, actix's default worker count, and no half-closed connections: a client that
    /// goes away (GoQuorum giving up on a send after its 5 s) abandons its request, whose
    /// handler is dropped instead of finishing work nobody waits for (docs/q2t.md).
    pub fn server() -> Self {
        Self {
            workers: None,
            shutdown_timeout: Some(crate::drain::SHUTDOWN_TIMEOUT.as_secs()),
            keep_alive: Some(KEEP_ALIVE),
            client_request_timeout: Some(REQUEST_HEAD_TIMEOUT),
            client_disconnect_timeout: Some(DISCONNECT_TIMEOUT),
            h1_allow_half_closed: Some(false),
        }
    }
}

/// Where `listener` serves with `transport`, for logs: `https://127.0.0.1:9000` with TLS,
/// else as [`Listener::describe`].
pub fn describe(listener: &Listener, transport: &Transport) -> String {
    let plain = listener.describe();
    match transport {
        Transport::Tls(_) => plain.replacen("http://", "https://", 1),
        Transport::Plain => plain,
    }
}

/// How long a client may take to complete the TLS handshake (actix's default).
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(3);

/// Serves the app `factory` builds (as for `HttpServer::new`) on `listener`, plain or with
/// TLS as `transport` says; returns the server, not yet spawned.
///
/// A TLS server logs each refused handshake once, with the peer's address and the reason
/// (plain HTTP sent to it, an untrusted or missing client certificate, our certificate
/// refused by the client); never key material. A connection closed before its first byte
/// (a TCP health check) is logged at debug level only.
pub fn serve_http<F, I, S, B>(
    factory: F,
    listener: Listener,
    transport: Transport,
    settings: &HttpSettings,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    match (transport, listener) {
        (Transport::Plain, listener) => {
            // Signals are `serve::Running::wait`'s: it drains before it stops the server.
            let mut server = HttpServer::new(factory).disable_signals();
            if let Some(workers) = settings.workers {
                server = server.workers(workers);
            }
            if let Some(timeout) = settings.shutdown_timeout {
                server = server.shutdown_timeout(timeout);
            }
            if let Some(keep_alive) = settings.keep_alive {
                server = server.keep_alive(keep_alive);
            }
            if let Some(timeout) = settings.client_request_timeout {
                server = server.client_request_timeout(timeout);
            }
            if let Some(timeout) = settings.client_disconnect_timeout {
                server = server.client_disconnect_timeout(timeout);
            }
            if let Some(allow) = settings.h1_allow_half_closed {
                server = server.h1_allow_half_closed(allow);
            }
            let server = match listener {
                Listener::Tcp(listener) => server.listen(listener)?,
                Listener::Unix(listener) => server.listen_uds(listener)?,
            };
            Ok(server.run())
        }
        (Transport::Tls(_), Listener::Unix(_)) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a unix socket is served without TLS",
        )),
        (Transport::Tls(tls), Listener::Tcp(listener)) => {
            serve_tls(factory, listener, tls, settings)
        }
    }
}

/// What `HttpServer::listen_rustls_0_23` builds, with the handshake done here: each
/// connection gets the rustls configuration for its peer ([`ServerTls::rustls_for_peer`]), so
/// the verifier logs a refused certificate with the client's address, and any other refusal
/// is logged here ([`log_refused_handshake`]).
fn serve_tls<F, I, S, B>(
    factory: F,
    listener: TcpListener,
    tls: ServerTls,
    settings: &HttpSettings,
) -> io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let local: SocketAddr = listener.local_addr()?;
    let host = local.to_string();
    let mut builder = actix_server::Server::build().disable_signals();
    if let Some(workers) = settings.workers {
        builder = builder.workers(workers);
    }
    if let Some(timeout) = settings.shutdown_timeout {
        builder = builder.shutdown_timeout(timeout);
    }
    let settings = settings.clone();
    // Stopping closes idle keep-alive connections at once (as `HttpServer` does) instead of
    // waiting for them for the whole shutdown timeout.
    let stopping = builder.graceful_shutdown_signal();
    let builder = builder.listen(format!("tls-{local}"), listener, move || {
        let stopping = stopping.clone();
        let mut http = HttpService::build()
            .graceful_shutdown_signal(move || {
                let stopping = stopping.clone();
                async move { stopping.notified().await }
            })
            .local_addr(local);
        if let Some(keep_alive) = settings.keep_alive {
            http = http.keep_alive(keep_alive);
        }
        if let Some(timeout) = settings.client_request_timeout {
            http = http.client_request_timeout(timeout);
        }
        if let Some(timeout) = settings.client_disconnect_timeout {
            http = http.client_disconnect_timeout(timeout);
        }
        if let Some(allow) = settings.h1_allow_half_closed {
            http = http.h1_allow_half_closed(allow);
        }
        let app = factory()
            .into_factory()
            .map_err(|e| e.into().error_response());
        let host = host.clone();
        // `secure`: the app sees https (`ConnectionInfo::scheme`), as behind
        // `listen_rustls_0_23`; `__priv_test_new` is the public constructor actix-test uses.
        let http = http
            .finish(map_config(app, move |()| {
                AppConfig::__priv_test_new(true, host.clone(), local)
            }))
            .map_err(|_| ());
        let tls = tls.clone();
        fn_service(move |stream: TcpStream| handshake(tls.clone(), stream)).and_then(http)
    })?;
    Ok(builder.run())
}

/// The server side of a TLS handshake on an accepted connection: the stream to serve HTTP/1.1
/// on, or `Err` (logged) when it is refused.
async fn handshake(
    tls: ServerTls,
    stream: TcpStream,
) -> Result<
    (
        tokio_rustls::server::TlsStream<TcpStream>,
        Protocol,
        Option<SocketAddr>,
    ),
    (),
> {
    let peer = stream.peer_addr().ok();
    let mut config = match peer {
        Some(peer) => tls.rustls_for_peer(peer),
        None => tls.rustls(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let peer_name = peer.map_or_else(|| "unknown".to_owned(), |p| p.to_string());
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Ok((stream, Protocol::Http1, peer)),
        Ok(Err(error)) => {
            log_refused_handshake(&peer_name, &error);
            Err(())
        }
        Err(_) => {
            tracing::warn!(
                peer = %peer_name,
                "TLS handshake refused: not completed within {TLS_HANDSHAKE_TIMEOUT:?}"
            );
            Err(())
        }
    }
}

/// Logs a refused handshake once: a certificate our verifier refused was logged by it (with
/// the peer, the CN, the fingerprint and the reason), so it is only a debug line here; any
/// other refusal (plain HTTP sent to a TLS port, no client certificate, our certificate
/// refused by the client, no common protocol) is a warning with the peer and rustls' reason.
fn log_refused_handshake(peer: &str, error: &io::Error) {
    let rustls_error = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match rustls_error {
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(_))) => {
            tracing::debug!(%peer, "TLS handshake refused: {error}");
        }
        // Connected and closed without a byte: a TCP health check or a port scan.
        None if error.kind() == io::ErrorKind::UnexpectedEof => {
            tracing::debug!(%peer, "TLS connection closed before the handshake: {error}");
        }
        _ => tracing::warn!(%peer, "TLS handshake refused: {error}"),
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "http://{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

fn remove_stale_socket(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                // Nothing answers on a socket file left by a process that is gone.
                if std::os::unix::net::UnixStream::connect(path).is_err() {
                    std::fs::remove_file(path)?;
                }
            }
        }
    }
    Ok(())
}
