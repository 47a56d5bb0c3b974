//! TLS as Tessera does it (docs/tls.md, docs/protocol.md §15): from one `serverConfigs` entry's
//! `sslConfig`, the rustls configuration of its server and of the clients it makes.
//!
//! ```text
//! server_tls(&server_config)? -> Option<ServerTls>   // None: tls OFF/absent, or a unix socket
//! client_tls(&server_config)? -> Option<ClientTls>   // the client half of the same sslConfig
//! ServerTls::rustls()                -> rustls::ServerConfig   (one for the listener)
//! ServerTls::rustls_for_peer(addr)   -> rustls::ServerConfig   (per accepted connection)
//! ClientTls::rustls()                -> rustls::ClientConfig
//! TlsError: Display is one message (no key material, no password); exit code 1
//! ```
//!
//! * Identity: a JKS or PKCS12 keystore as `keytool` writes it (`serverKeyStore` +
//!   password; the password also from `<prefix>_TESSERA_SERVER_KEYSTORE_PWD`, then the config,
//!   then `TESSERA_SERVER_KEYSTORE_PWD`), else PEM (`serverTlsKeyPath`,
//!   `serverTlsCertificatePath`). A missing keystore is generated when
//!   `generateKeyStoreIfNotExisted` is true (JKS, alias `tessera`, like Tessera's `TlsUtils`).
//! * Trust (`serverTrustMode` verifies clients, `clientTrustMode` verifies servers): `NONE`,
//!   `WHITELIST`, `TOFU`, `CA`, `CA_OR_TOFU`. Tessera keys its known-hosts files by the
//!   **common name of the peer's certificate**, not by the peer's address
//!   (`TrustOnFirstUseManager`, `WhiteListTrustManager` call `CertUtil.subjectCN`), so every
//!   decision is made inside the rustls verifiers, during the handshake, from the certificate
//!   alone: nothing needs the peer's socket address, on either side.
//! * Clients also check that the server's certificate is valid for the host they connect to, in
//!   every mode, as the JDK's HTTPS client does (subject alternative names, else the CN).
//! * A refused handshake is logged once, at `warn`, by the verifier that refused it: side,
//!   trust mode, the peer (the server name on the client side; the socket address on the server
//!   side when the config came from [`ServerTls::rustls_for_peer`]), the certificate's CN and
//!   SHA-1 fingerprint, and the reason. Servers should log handshake errors below `warn`.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ResolvesServerCert, StoresServerSessions};
use tm_config::{Scheme, ServerAddress, ServerConfig, SslConfig};

mod generate;
mod known_hosts;
mod material;
mod settings;
mod trust;

pub use settings::TrustMode;
use settings::{Half, Side};
pub use trust::PeerIdentity;
use trust::{CertificateTrust, ClientVerifier, ServerVerifier};

/// A TLS setting that cannot be used: the message names the setting and what is wrong, never a
/// password or key material. Configuration problems exit with code 1 ([`TlsError::exit`]).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TlsError(String);

impl TlsError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }

    /// How a binary exits on this error: the config is invalid.
    pub fn exit(&self) -> tm_config::cli::Exit {
        tm_config::cli::Exit::InvalidConfig
    }
}

/// The server half of an `sslConfig`: certificate, key and the verifier of client certificates.
#[derive(Clone)]
pub struct ServerTls {
    provider: Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
    trust: Arc<CertificateTrust>,
    client_auth: bool,
    sessions: Arc<dyn StoresServerSessions>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("trust_mode", &self.trust.mode())
            .field("client_auth", &self.client_auth)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// The rustls configuration for a listener (actix-web's `listen_rustls_0_23`). Refusals are
    /// logged without the peer's address; set ALPN on the result as the server needs.
    pub fn rustls(&self) -> rustls::ServerConfig {
        self.build(None)
    }

    /// The same configuration for one accepted connection, so a refusal is logged with the
    /// client's address (for acceptors that see the socket, e.g. tokio-rustls). Cheap: the key,
    /// the trust state and the session cache are shared.
    pub fn rustls_for_peer(&self, peer: SocketAddr) -> rustls::ServerConfig {
        self.build(Some(peer))
    }

    /// The server's trust mode (`serverTrustMode`).
    pub fn trust_mode(&self) -> TrustMode {
        self.trust.mode()
    }

    /// Whether clients must present a certificate (`clientAuth`, default true).
    pub fn client_auth(&self) -> bool {
        self.client_auth
    }

    fn build(&self, peer: Option<SocketAddr>) -> rustls::ServerConfig {
        let builder = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .expect("the ring provider supports TLS 1.2 and 1.3");
        let builder = if self.client_auth {
            builder
                .with_client_cert_verifier(Arc::new(ClientVerifier::new(self.trust.clone(), peer)))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(self.resolver.clone());
        config.session_storage = self.sessions.clone();
        config
    }
}

/// The client half of an `sslConfig`: the certificate presented to servers and the verifier of
/// server certificates.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    mode: TrustMode,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("trust_mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// The rustls configuration for outgoing connections (reqwest's `use_preconfigured_tls`).
    /// The server name rustls is given (the URL's host) is the one checked against the
    /// certificate and logged on refusal.
    pub fn rustls(&self) -> rustls::ClientConfig {
        (*self.config).clone()
    }

    /// The client's trust mode (`clientTrustMode`).
    pub fn trust_mode(&self) -> TrustMode {
        self.mode
    }
}

/// The server half of `server`'s `sslConfig`: `None` when TLS is off (`tls` absent or `OFF`)
/// or the server listens on a unix socket (Tessera serves those in plain HTTP).
pub fn server_tls(server: &ServerConfig) -> Result<Option<ServerTls>, TlsError> {
    let Some((ssl, address)) = tls_settings(server, Side::Server)? else {
        return Ok(None);
    };
    let provider = provider(ssl, true)?;
    let half = Half::resolve(ssl, Side::Server, &address, &settings::process_env)?;
    let identity = material::identity(&half, &provider)?;
    let trust = CertificateTrust::new(&half, provider.clone())?;
    Ok(Some(ServerTls {
        provider,
        resolver: Arc::new(rustls::sign::SingleCertAndKey::from(identity)),
        trust: Arc::new(trust),
        client_auth: ssl.client_auth.unwrap_or(true),
        sessions: rustls::server::ServerSessionMemoryCache::new(256),
    }))
}

/// The client half of `server`'s `sslConfig`, for the calls this service makes (P2P calls to
/// peers, calls to the remote enclave): `None` when TLS is off or the address is a unix socket.
pub fn client_tls(server: &ServerConfig) -> Result<Option<ClientTls>, TlsError> {
    let Some((ssl, address)) = tls_settings(server, Side::Client)? else {
        return Ok(None);
    };
    let provider = provider(ssl, false)?;
    let half = Half::resolve(ssl, Side::Client, &address, &settings::process_env)?;
    let identity = material::identity(&half, &provider)?;
    let trust = Arc::new(CertificateTrust::new(&half, provider.clone())?);
    let mode = trust.mode();
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::DEFAULT_VERSIONS)
        .expect("the ring provider supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(trust)))
        .with_client_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(identity)));
    Ok(Some(ClientTls {
        config: Arc::new(config),
        mode,
    }))
}

/// The `sslConfig` when TLS is on, with the address Tessera names generated certificates after
/// (the binding address for a server, the advertised address for a client); `None` when off.
fn tls_settings(
    server: &ServerConfig,
    side: Side,
) -> Result<Option<(&SslConfig, String)>, TlsError> {
    let advertised = server.server_address.as_deref().unwrap_or_default();
    let address = match side {
        Side::Server => server.binding_address.as_deref().unwrap_or(advertised),
        Side::Client => advertised,
    };
    let parsed = ServerAddress::parse(address);
    if !server.is_tls() {
        let tls = server
            .ssl_config
            .as_ref()
            .and_then(|ssl| ssl.tls.as_deref())
            .unwrap_or("absent");
        if let Ok(ServerAddress::Tcp {
            scheme: Scheme::Https,
            ..
        }) = parsed
        {
            return Err(TlsError::new(format!(
                "{which} {address} is https but sslConfig.tls is {tls}: set sslConfig.tls \
                 to STRICT (with key material) or use an http address",
                which = match (side, &server.binding_address) {
                    (Side::Server, Some(_)) => "bindingAddress",
                    _ => "serverAddress",
                }
            )));
        }
        return Ok(None);
    }
    if matches!(parsed, Ok(ServerAddress::Unix(_))) {
        tracing::info!(
            address,
            "sslConfig is ignored for a unix socket, as Tessera does"
        );
        return Ok(None);
    }
    let ssl = server
        .ssl_config
        .as_ref()
        .expect("is_tls implies an sslConfig");
    Ok(Some((ssl, address.to_string())))
}

/// The ring provider; a server drops the cipher suites named in `excludeCipherSuites` (IANA or
/// JDK names; TLS 1.3 suites may be written `TLS_AES_128_GCM_SHA256`).
fn provider(ssl: &SslConfig, server: bool) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = rustls::crypto::ring::default_provider();
    if let (true, Some(excluded)) = (server, &ssl.exclude_cipher_suites) {
        let normalise = |name: &str| name.trim().to_ascii_uppercase().replace("TLS13_", "TLS_");
        let excluded: Vec<String> = excluded.iter().map(|n| normalise(n)).collect();
        provider.cipher_suites.retain(|suite| {
            let name = suite.suite().as_str().map(normalise).unwrap_or_default();
            !excluded.contains(&name)
        });
        if provider.cipher_suites.is_empty() {
            return Err(TlsError::new(
                "sslConfig.excludeCipherSuites excludes every cipher suite this server supports",
            ));
        }
    }
    Ok(Arc::new(provider))
}
