//! One half (server or client) of an `sslConfig`, resolved as Tessera reads it:
//! `ServerSSLContextFactoryImpl`/`ClientSSLContextFactoryImpl` (passwords, default known-hosts
//! files) and `SslConfigValidator` (what STRICT requires).

use std::fmt;
use std::path::PathBuf;

use tm_config::{Secret, SslConfig};
use zeroize::Zeroizing;

use crate::TlsError;

/// Which half of the `sslConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    /// The server: its identity, and the verification of clients (`serverTrustMode`).
    Server,
    /// The client: its identity, and the verification of servers (`clientTrustMode`).
    Client,
}

impl Side {
    /// A config member of this half: `field("KeyStore")` is `serverKeyStore`.
    pub(crate) fn field(self, suffix: &str) -> String {
        match self {
            Self::Server => format!("server{suffix}"),
            Self::Client => format!("client{suffix}"),
        }
    }

    /// Tessera's password variable (`EnvironmentVariables`): `TESSERA_SERVER_KEYSTORE_PWD`...
    fn password_variable(self, store: &str) -> String {
        match self {
            Self::Server => format!("TESSERA_SERVER_{store}_PWD"),
            Self::Client => format!("TESSERA_CLIENT_{store}_PWD"),
        }
    }

    /// This side's name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Server => "server",
            Self::Client => "client",
        }
    }

    /// Who is verified on this side, for messages and logs.
    pub(crate) fn peer_kind(self) -> &'static str {
        match self {
            Self::Server => "client",
            Self::Client => "server",
        }
    }
}

/// A trust mode (`serverTrustMode`, `clientTrustMode`; Tessera's `SslTrustMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrustMode {
    /// Any certificate.
    None,
    /// Only the CN + fingerprint pairs listed in the known-hosts file; never writes it.
    Whitelist,
    /// A CN seen for the first time is recorded; later only with the same fingerprint.
    Tofu,
    /// PKIX validation against the trust store or trust certificates.
    Ca,
    /// `Ca`, else `Tofu`.
    CaOrTofu,
}

impl TrustMode {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.trim().to_ascii_uppercase().as_str() {
            "NONE" => Self::None,
            "WHITELIST" => Self::Whitelist,
            "TOFU" => Self::Tofu,
            "CA" => Self::Ca,
            "CA_OR_TOFU" => Self::CaOrTofu,
            _ => return None,
        })
    }

    /// Whether the mode reads a trust store or trust certificates.
    pub(crate) fn uses_ca(self) -> bool {
        matches!(self, Self::Ca | Self::CaOrTofu)
    }
}

impl fmt::Display for TrustMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "NONE",
            Self::Whitelist => "WHITELIST",
            Self::Tofu => "TOFU",
            Self::Ca => "CA",
            Self::CaOrTofu => "CA_OR_TOFU",
        })
    }
}

/// A password as resolved, wiped on drop.
pub(crate) type Password = Zeroizing<String>;

/// One half of the `sslConfig`, every member resolved.
pub(crate) struct Half {
    pub(crate) side: Side,
    pub(crate) address: String,
    pub(crate) generate: bool,
    pub(crate) key_store: Option<PathBuf>,
    pub(crate) key_store_password: Option<Password>,
    pub(crate) key_path: Option<PathBuf>,
    pub(crate) certificate_path: Option<PathBuf>,
    pub(crate) trust_store: Option<PathBuf>,
    pub(crate) trust_store_password: Option<Password>,
    pub(crate) trust_certificates: Option<Vec<PathBuf>>,
    pub(crate) mode: TrustMode,
    pub(crate) known_hosts: PathBuf,
    /// Whether `knownClientsFile`/`knownServersFile` was given (WHITELIST requires it).
    pub(crate) known_hosts_given: bool,
}

/// Reads an environment variable (a seam for tests).
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Half {
    /// Resolves `side` of `ssl` (whose `tls` is STRICT). `address` names a generated
    /// certificate.
    pub(crate) fn resolve(
        ssl: &SslConfig,
        side: Side,
        address: &str,
        env: Env<'_>,
    ) -> Result<Self, TlsError> {
        let prefix = ssl.environment_variable_prefix.as_deref();
        let (key_store, key_store_pw, key_path, cert_path, trust_store, trust_store_pw) = match side
        {
            Side::Server => (
                &ssl.server_key_store,
                &ssl.server_key_store_password,
                &ssl.server_tls_key_path,
                &ssl.server_tls_certificate_path,
                &ssl.server_trust_store,
                &ssl.server_trust_store_password,
            ),
            Side::Client => (
                &ssl.client_key_store,
                &ssl.client_key_store_password,
                &ssl.client_tls_key_path,
                &ssl.client_tls_certificate_path,
                &ssl.client_trust_store,
                &ssl.client_trust_store_password,
            ),
        };
        let (mode, trust_certificates, known_hosts, default_known) = match side {
            Side::Server => (
                &ssl.server_trust_mode,
                &ssl.server_trust_certificates,
                &ssl.known_clients_file,
                "knownClients",
            ),
            Side::Client => (
                &ssl.client_trust_mode,
                &ssl.client_trust_certificates,
                &ssl.known_servers_file,
                "knownServers",
            ),
        };
        let mode_field = side.field("TrustMode");
        let mode = match mode.as_deref() {
            None => {
                return Err(TlsError::new(format!(
                    "sslConfig.{mode_field} is missing: with tls STRICT it must be one of NONE, \
                     WHITELIST, TOFU, CA, CA_OR_TOFU"
                )))
            }
            Some(text) => TrustMode::parse(text).ok_or_else(|| {
                TlsError::new(format!(
                    "sslConfig.{mode_field} {text:?} is not one of NONE, WHITELIST, TOFU, CA, \
                     CA_OR_TOFU"
                ))
            })?,
        };
        let password = |configured: &Option<Secret>, store: &str| {
            preferred_password(configured, prefix, &side.password_variable(store), env)
        };
        Ok(Self {
            side,
            address: address.to_string(),
            generate: ssl.generate_key_store_if_not_existed.unwrap_or(false),
            key_store: non_empty(key_store),
            key_store_password: password(key_store_pw, "KEYSTORE"),
            key_path: non_empty(key_path),
            certificate_path: non_empty(cert_path),
            trust_store: non_empty(trust_store),
            trust_store_password: password(trust_store_pw, "TRUSTSTORE"),
            trust_certificates: trust_certificates.clone(),
            mode,
            known_hosts: non_empty(known_hosts).unwrap_or_else(|| PathBuf::from(default_known)),
            known_hosts_given: non_empty(known_hosts).is_some(),
        })
    }

    /// The config members a password may come from, for messages.
    pub(crate) fn password_sources(&self, store: &str, field: &str) -> String {
        format!(
            "sslConfig.{}, <environmentVariablePrefix>_{} or {}",
            self.side.field(field),
            self.side.password_variable(store),
            self.side.password_variable(store)
        )
    }
}

/// Tessera's order (`getPreferredPassword`): the prefixed variable, then the config, then the
/// global variable.
fn preferred_password(
    configured: &Option<Secret>,
    prefix: Option<&str>,
    variable: &str,
    env: Env<'_>,
) -> Option<Password> {
    let from_prefixed = prefix.and_then(|prefix| env(&format!("{prefix}_{variable}")));
    let value = from_prefixed
        .or_else(|| configured.as_ref().map(|s| s.expose().to_string()))
        .or_else(|| env(variable))?;
    Some(Zeroizing::new(value))
}

/// An empty path in the config counts as absent.
fn non_empty(path: &Option<PathBuf>) -> Option<PathBuf> {
    path.as_ref().filter(|p| !p.as_os_str().is_empty()).cloned()
}
