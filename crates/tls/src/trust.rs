//! The trust modes (Tessera's `TrustMode`, `SSLContextBuilder` and trust managers), as rustls
//! verifiers: [`ClientVerifier`] on a server (`serverTrustMode`), [`ServerVerifier`] on a client
//! (`clientTrustMode`), both over one [`CertificateTrust`].
//!
//! Tessera identifies a peer by its certificate: the subject's common name (cryptacular's
//! `CertUtil.subjectCN`: the first CN attribute; the text `null` when there is none) and the
//! lower-case hex SHA-1 of the certificate's DER (`CertificateUtil.thumbPrint`).

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore};
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use crate::known_hosts::KnownHosts;
use crate::material;
use crate::settings::{Half, Side, TrustMode};
use crate::TlsError;

/// How a peer certificate is named in known-hosts files and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The subject's first common name, or `null` (what Tessera writes for none).
    pub common_name: String,
    /// Lower-case hex SHA-1 of the certificate's DER.
    pub fingerprint: String,
}

impl PeerIdentity {
    /// The identity Tessera gives the certificate `der`.
    pub fn of(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
        let fingerprint = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let common_name = X509Certificate::from_der(der)
            .ok()
            .and_then(|(_, cert)| {
                cert.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok().map(str::to_string))
            })
            .unwrap_or_else(|| "null".into());
        Self {
            common_name,
            fingerprint,
        }
    }
}

/// CA material: the anchors, and the certificates trusted as they are.
#[derive(Debug)]
struct Ca {
    roots: Arc<RootCertStore>,
    /// The JDK trusts a certificate found in the trust store even when it is not a CA.
    trusted: Vec<CertificateDer<'static>>,
    /// PKIX validation of client certificates (server side only).
    client_verifier: Option<Arc<dyn ClientCertVerifier>>,
}

/// One half's trust decision.
#[derive(Debug)]
pub(crate) struct CertificateTrust {
    side: Side,
    mode: TrustMode,
    known: Option<KnownHosts>,
    ca: Option<Ca>,
    /// The CA names a server sends with its certificate request: the trust store's subjects in
    /// CA mode, none otherwise (Tessera's composite and known-hosts managers accept no issuer
    /// list, and a Java client then sends its certificate whoever issued it).
    hints: Vec<DistinguishedName>,
    provider: Arc<CryptoProvider>,
}

impl CertificateTrust {
    pub(crate) fn new(half: &Half, provider: Arc<CryptoProvider>) -> Result<Self, TlsError> {
        let side = half.side;
        let known_field = match side {
            Side::Server => "knownClientsFile",
            Side::Client => "knownServersFile",
        };
        let known = match half.mode {
            TrustMode::Whitelist => {
                if !half.known_hosts_given || !half.known_hosts.exists() {
                    return Err(TlsError::new(format!(
                        "{} trust mode WHITELIST needs sslConfig.{known_field}: an existing \
                         file of `<common name> <sha-1 fingerprint>` lines{}",
                        side.name(),
                        if half.known_hosts_given {
                            format!(" ({} does not exist)", half.known_hosts.display())
                        } else {
                            String::new()
                        }
                    )));
                }
                Some(KnownHosts::open(&half.known_hosts, known_field)?)
            }
            TrustMode::Tofu | TrustMode::CaOrTofu => {
                Some(KnownHosts::open(&half.known_hosts, known_field)?)
            }
            TrustMode::None | TrustMode::Ca => None,
        };
        let mut hints = Vec::new();
        let ca = if half.mode.uses_ca() {
            let certificates = material::trust_certificates(half)?;
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(certificates.iter().cloned());
            if added == 0 {
                return Err(TlsError::new(format!(
                    "{} trust mode {}: none of the trusted certificates can be used as a \
                     trust anchor",
                    side.name(),
                    half.mode
                )));
            }
            if half.mode == TrustMode::Ca {
                hints = roots.subjects();
            }
            let roots = Arc::new(roots);
            let client_verifier = match side {
                Side::Server => Some(
                    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
                        .build()
                        .map_err(|e| {
                            TlsError::new(format!("server trust mode {}: {e}", half.mode))
                        })?,
                ),
                Side::Client => None,
            };
            Some(Ca {
                roots,
                trusted: certificates,
                client_verifier,
            })
        } else {
            None
        };
        Ok(Self {
            side,
            mode: half.mode,
            known,
            ca,
            hints,
            provider,
        })
    }

    pub(crate) fn mode(&self) -> TrustMode {
        self.mode
    }

    /// Accepts or refuses a peer's certificate; a refusal is logged here, once.
    fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        peer: &str,
        server_name: Option<&ServerName<'_>>,
    ) -> Result<(), rustls::Error> {
        let identity = PeerIdentity::of(end_entity);
        let result = match server_name {
            Some(name) => check_name(end_entity, name),
            None => Ok(()),
        }
        .and_then(|()| self.check(end_entity, intermediates, now, &identity));
        result.map_err(|reason| {
            tracing::warn!(
                side = self.side.name(),
                trust_mode = %self.mode,
                peer,
                common_name = %identity.common_name,
                fingerprint = %identity.fingerprint,
                reason = %reason,
                "TLS handshake refused: untrusted {} certificate",
                self.side.peer_kind()
            );
            rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
                Arc::new(Refusal(reason)),
            )))
        })
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        identity: &PeerIdentity,
    ) -> Result<(), String> {
        let cn = &identity.common_name;
        let fingerprint = &identity.fingerprint;
        let known = || {
            self.known
                .as_ref()
                .expect("known-hosts modes open the file")
        };
        match self.mode {
            TrustMode::None => Ok(()),
            TrustMode::Whitelist => known().check_listed(cn, fingerprint),
            TrustMode::Tofu => known().trust_on_first_use(cn, fingerprint),
            TrustMode::Ca => self.check_ca(end_entity, intermediates, now),
            TrustMode::CaOrTofu => self.check_ca(end_entity, intermediates, now).or_else(|ca| {
                known()
                    .trust_on_first_use(cn, fingerprint)
                    .map_err(|tofu| format!("not signed by a trusted CA ({ca}), and {tofu}"))
            }),
        }
    }

    fn check_ca(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<(), String> {
        let ca = self.ca.as_ref().expect("CA modes load trust certificates");
        if ca.trusted.iter().any(|t| t.as_ref() == end_entity.as_ref()) && valid_at(end_entity, now)
        {
            return Ok(());
        }
        match &ca.client_verifier {
            Some(verifier) => verifier
                .verify_client_cert(end_entity, intermediates, now)
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => {
                let parsed = ParsedCertificate::try_from(end_entity).map_err(|e| e.to_string())?;
                rustls::client::verify_server_cert_signed_by_trust_anchor(
                    &parsed,
                    &ca.roots,
                    intermediates,
                    now,
                    self.provider.signature_verification_algorithms.all,
                )
                .map_err(|e| e.to_string())
            }
        }
    }

    fn verify_tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Why a certificate was refused (the handshake error's source).
#[derive(Debug)]
struct Refusal(String);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

/// Whether `der` is within its validity period at `now`.
fn valid_at(der: &[u8], now: UnixTime) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return false;
    };
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    let validity = cert.validity();
    validity.not_before.timestamp() <= now && now <= validity.not_after.timestamp()
}

/// The JDK's HTTPS host check (`HostnameChecker`): an IP address must be an IP subject
/// alternative name; a DNS name must match a DNS alternative name (a leading `*.` matches one
/// label), or the CN when the certificate has no DNS alternative name.
fn check_name(der: &[u8], server_name: &ServerName<'_>) -> Result<(), String> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|_| "cannot parse the certificate".to_string())?;
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(name) => dns.push(name.to_string()),
                GeneralName::IPAddress(octets) => ips.push(octets.to_vec()),
                _ => {}
            }
        }
    }
    let matched = match server_name {
        ServerName::IpAddress(ip) => {
            let octets = match std::net::IpAddr::from(*ip) {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            ips.contains(&octets)
        }
        ServerName::DnsName(name) => {
            let host = name.as_ref();
            if dns.is_empty() {
                cert.subject()
                    .iter_common_name()
                    .filter_map(|cn| cn.as_str().ok())
                    .last()
                    .is_some_and(|cn| dns_matches(cn, host))
            } else {
                dns.iter().any(|pattern| dns_matches(pattern, host))
            }
        }
        _ => false,
    };
    if matched {
        Ok(())
    } else {
        Err(format!(
            "the certificate is not valid for {}",
            server_name.to_str()
        ))
    }
}

fn dns_matches(pattern: &str, host: &str) -> bool {
    let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
        None => pattern == host,
    }
}

/// A server's verifier of client certificates (`serverTrustMode`); client certificates are
/// required (`clientAuth` true; with false the server asks for none).
#[derive(Debug)]
pub(crate) struct ClientVerifier {
    trust: Arc<CertificateTrust>,
    peer: Option<SocketAddr>,
}

impl ClientVerifier {
    pub(crate) fn new(trust: Arc<CertificateTrust>, peer: Option<SocketAddr>) -> Self {
        Self { trust, peer }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.trust.hints
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let peer = self
            .peer
            .map_or_else(|| "unknown address".to_string(), |p| p.to_string());
        self.trust
            .verify(end_entity, intermediates, now, &peer, None)
            .map(|()| ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.trust.schemes()
    }
}

/// A client's verifier of server certificates (`clientTrustMode`, plus the host check).
#[derive(Debug)]
pub(crate) struct ServerVerifier {
    trust: Arc<CertificateTrust>,
}

impl ServerVerifier {
    pub(crate) fn new(trust: Arc<CertificateTrust>) -> Self {
        Self { trust }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.trust
            .verify(
                end_entity,
                intermediates,
                now,
                &server_name.to_str(),
                Some(server_name),
            )
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.trust.schemes()
    }
}
