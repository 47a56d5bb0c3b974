//! The typed configuration, mirroring Tessera's JSON config (docs/protocol.md §12). JSON names are
//! Tessera's; defaults are Tessera's. Fields that Tessera validates (required values, enum
//! values) are kept loose here (`Option`, strings) so that [`crate::validate`] can report every
//! problem at once instead of failing on the first.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use tm_core::keyfile::PrivateKeyFile;

use crate::address::{AddressError, ServerAddress};
use crate::lenient;
use crate::secret::{Secret, REDACTED};

/// The whole configuration file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Config {
    /// Informational version attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The database (required for a node, not for a standalone enclave).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jdbc: Option<JdbcConfig>,
    /// One entry per server (`P2P`, `Q2T`, `ThirdParty`, `ENCLAVE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_configs: Option<Vec<ServerConfig>>,
    /// Known peers (required for a node, may be empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<Vec<Peer>>,
    /// The node's keys; absent when a remote enclave holds them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys: Option<KeyConfiguration>,
    /// Base64 keys added as recipients of every transaction (the enclave's forwarding keys).
    pub always_send_to: Vec<String>,
    /// Only accept P2P calls from configured peers' hosts.
    #[serde(deserialize_with = "lenient::bool")]
    pub use_white_list: bool,
    /// Do not learn peers from party info.
    #[serde(deserialize_with = "lenient::bool")]
    pub disable_peer_discovery: bool,
    /// A node that only bootstraps discovery (no Q2T server).
    #[serde(deserialize_with = "lenient::bool")]
    pub bootstrap_node: bool,
    /// Feature switches.
    pub features: FeatureToggles,
    /// The encryptor; NaCl when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryptor: Option<EncryptorConfig>,
    /// `tessera` (default) or `orion` (Besu compatibility).
    pub mode: ClientMode,
    /// Resident groups for multiple private states.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub resident_groups: Vec<ResidentGroup>,
}

impl Config {
    /// The server entries (empty when none are configured).
    pub fn server_configs(&self) -> &[ServerConfig] {
        self.server_configs.as_deref().unwrap_or_default()
    }

    /// The first server entry for `app`.
    pub fn server(&self, app: AppType) -> Option<&ServerConfig> {
        self.server_configs()
            .iter()
            .find(|server| server.app.as_ref() == Some(&app))
    }

    /// Whether the keys live in a remote enclave (an `ENCLAVE` server entry is configured).
    pub fn uses_remote_enclave(&self) -> bool {
        self.server(AppType::Enclave).is_some()
    }

    /// The effective config as pretty JSON, secrets replaced by `<redacted>`.
    pub fn to_redacted_json(&self) -> String {
        // Plain data structures: serialising them cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The config as Tessera's JSON file, with its secrets (passwords, inline keys, the JDBC
    /// URL as given): what a node reads back with [`crate::load_file`]. For writing config
    /// files only; print [`Config::to_redacted_json`] instead.
    pub fn to_tessera_json(&self) -> String {
        crate::secret::with_secrets_exposed(|| {
            serde_json::to_string_pretty(self).unwrap_or_default()
        })
    }
}

/// `jdbc` (docs/protocol.md §12.3). `Debug` redacts credentials in the URL.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct JdbcConfig {
    /// The JDBC URL (required).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_jdbc_url"
    )]
    pub url: Option<String>,
    /// User name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Password, possibly `ENC(...)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// Create the tables at start.
    #[serde(deserialize_with = "lenient::bool")]
    pub auto_create_tables: bool,
    /// Accepted for compatibility; unused by Tessera.
    #[serde(deserialize_with = "lenient::i64")]
    pub fetch_size: i64,
}

impl fmt::Debug for JdbcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JdbcConfig")
            .field("url", &self.url.as_deref().map(redact_jdbc_url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("auto_create_tables", &self.auto_create_tables)
            .field("fetch_size", &self.fetch_size)
            .finish()
    }
}

/// Replaces credentials in a JDBC URL (`password=...` parameters, `user:pass@`).
pub fn redact_jdbc_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    let lower = url.to_ascii_lowercase();
    let mut i = 0;
    while i < url.len() {
        if lower[i..].starts_with("password=") {
            out.push_str(&url[i..i + "password=".len()]);
            out.push_str(REDACTED);
            i += "password=".len();
            while i < url.len() && !matches!(url.as_bytes()[i], b'&' | b';') {
                i += 1;
            }
        } else if let Some(c) = url[i..].chars().next() {
            out.push(c);
            i += c.len_utf8();
        }
    }
    // `scheme://user:secret@host`
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        if let Some(at) = out[rest_start..].find('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                let user = userinfo[..colon].to_string();
                out = format!(
                    "{}{user}:{REDACTED}{}",
                    &out[..rest_start],
                    &out[rest_start + at..]
                );
            }
        }
    }
    out
}

fn serialize_jdbc_url<S: Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) if crate::secret::secrets_exposed() => s.serialize_str(url),
        Some(url) => s.serialize_str(&redact_jdbc_url(url)),
        None => s.serialize_none(),
    }
}

/// The `app` of a server entry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum AppType {
    /// Peer-to-peer API.
    P2P,
    /// Quorum-to-Tessera API.
    Q2T,
    /// Third-party API.
    ThirdParty,
    /// Remote enclave.
    Enclave,
    /// Anything else (`ADMIN`, typos): rejected by validation, kept to name it in the error.
    Other(String),
}

impl AppType {
    /// The JSON value.
    pub fn as_str(&self) -> &str {
        match self {
            Self::P2P => "P2P",
            Self::Q2T => "Q2T",
            Self::ThirdParty => "ThirdParty",
            Self::Enclave => "ENCLAVE",
            Self::Other(other) => other,
        }
    }

    /// Parses a value; Tessera's JSON is exact, overrides are case-insensitive, so this is too
    /// (`THIRD_PARTY`, the Java constant name, is accepted as well).
    pub fn parse(text: &str) -> Self {
        match text.trim().to_ascii_uppercase().as_str() {
            "P2P" => Self::P2P,
            "Q2T" => Self::Q2T,
            "THIRDPARTY" | "THIRD_PARTY" => Self::ThirdParty,
            "ENCLAVE" => Self::Enclave,
            _ => Self::Other(text.to_string()),
        }
    }
}

impl fmt::Display for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for AppType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AppType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AppType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Self::parse(&s))
    }
}

/// One `serverConfigs` entry (docs/protocol.md §12.4).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServerConfig {
    /// Which API this server serves (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<AppType>,
    /// The advertised URL: `http(s)://host:port` or `unix:/path` (required).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_address: Option<String>,
    /// Where to listen; defaults to `serverAddress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binding_address: Option<String>,
    /// Only `REST` exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub communication_type: Option<String>,
    /// TLS settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_config: Option<SslConfig>,
    /// InfluxDB push settings (kept as given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub influx_config: Option<Value>,
    /// CORS (ThirdParty only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors: Option<CrossDomainConfig>,
    /// String properties (`partyInfoInterval`, ...).
    #[serde(
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub properties: BTreeMap<String, String>,
}

impl ServerConfig {
    /// `serverAddress` parsed.
    pub fn server_address(&self) -> Result<ServerAddress, AddressError> {
        ServerAddress::parse(self.server_address.as_deref().unwrap_or_default())
    }

    /// Where to listen: `bindingAddress` if set, else `serverAddress`.
    pub fn binding_address(&self) -> Result<ServerAddress, AddressError> {
        match &self.binding_address {
            Some(binding) => ServerAddress::parse(binding),
            None => self.server_address(),
        }
    }

    /// Whether TLS is on (`sslConfig.tls == STRICT`).
    pub fn is_tls(&self) -> bool {
        self.ssl_config
            .as_ref()
            .and_then(|ssl| ssl.tls.as_deref())
            .is_some_and(|tls| tls.eq_ignore_ascii_case("STRICT"))
    }

    /// A numeric property in milliseconds, or `default` when absent or unparseable (Tessera
    /// logs a warning and uses the default, `IntervalPropertyHelper`).
    pub fn property_millis(&self, name: &str, default: u64) -> u64 {
        match self.properties.get(name) {
            None => default,
            Some(text) => text.trim().parse().unwrap_or_else(|_| {
                tracing::warn!(
                    property = name,
                    "Not able to parse configured property. Will use default value instead"
                );
                default
            }),
        }
    }
}

/// `sslConfig` (docs/protocol.md §15.1). Values are kept as written; TLS is served by the services.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // field names are Tessera's, documented in docs/protocol.md §15.1
pub struct SslConfig {
    /// `STRICT` or `OFF`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_config_type: Option<String>,
    #[serde(
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub generate_key_store_if_not_existed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_store: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_key_store_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_tls_key_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_tls_certificate_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_trust_store: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_trust_store_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_trust_certificates: Option<Vec<PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_trust_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_store: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key_store_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tls_key_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_tls_certificate_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_trust_store: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_trust_store_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_trust_certificates: Option<Vec<PathBuf>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_trust_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_clients_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_servers_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_variable_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude_cipher_suites: Option<Vec<String>>,
    /// Mutual TLS; Tessera's default is `true`.
    #[serde(
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub client_auth: Option<bool>,
}

/// `cors` (ThirdParty only).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CrossDomainConfig {
    /// Default: GET, POST, PUT, DELETE, OPTIONS, HEAD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_methods: Option<Vec<String>>,
    /// Origins; `*` matches any character sequence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// Default: echo the request's `Access-Control-Request-Headers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_headers: Option<Vec<String>>,
    /// Default `true`.
    #[serde(
        deserialize_with = "lenient::opt_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub allow_credentials: Option<bool>,
}

/// One `peer` entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Peer {
    /// The peer's P2P URL.
    pub url: String,
}

/// `keys` (docs/protocol.md §12.5).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyConfiguration {
    /// One password per line, index-aligned with `keyData`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// Inline passwords: Tessera rejects a non-empty list (validation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passwords: Option<Vec<Secret>>,
    /// The key pairs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_data: Option<Vec<KeyData>>,
    /// Vault settings (not supported: validation error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_vault_configs: Option<Vec<Value>>,
    /// Deprecated single Azure vault form (not supported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_key_vault_config: Option<Value>,
    /// Deprecated single HashiCorp vault form (not supported).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_key_vault_config: Option<Value>,
}

impl KeyConfiguration {
    /// The `keyData` entries (empty when absent).
    pub fn key_data(&self) -> &[KeyData] {
        self.key_data.as_deref().unwrap_or_default()
    }
}

/// One `keyData` entry: direct, inline `config`, file paths, or a vault reference.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
#[allow(missing_docs)] // vault id fields are Tessera's names, docs/protocol.md §12.5
pub struct KeyData {
    /// Inline private key file content (`{"type": ..., "data": ...}`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_key_config"
    )]
    pub config: Option<PrivateKeyFile>,
    /// Direct base64 private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<Secret>,
    /// Base64 public key (direct and inline styles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Path of the private key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_path: Option<PathBuf>,
    /// Path of the public key file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_path: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_vault_public_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_vault_private_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_vault_public_key_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_vault_private_key_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_vault_public_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_vault_private_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_vault_secret_engine_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_vault_secret_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hashicorp_vault_secret_version: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secrets_manager_public_key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secrets_manager_private_key_id: Option<String>,
}

impl KeyData {
    /// The vault this entry refers to, if it is a vault entry.
    pub fn vault_type(&self) -> Option<&'static str> {
        if self.azure_vault_public_key_id.is_some() || self.azure_vault_private_key_id.is_some() {
            Some("AZURE")
        } else if self.hashicorp_vault_public_key_id.is_some()
            || self.hashicorp_vault_private_key_id.is_some()
            || self.hashicorp_vault_secret_name.is_some()
        {
            Some("HASHICORP")
        } else if self.aws_secrets_manager_public_key_id.is_some()
            || self.aws_secrets_manager_private_key_id.is_some()
        {
            Some("AWS")
        } else {
            None
        }
    }
}

/// Writes an inline key config with the unlocked key bytes replaced by `<redacted>`.
fn serialize_key_config<S: Serializer>(
    config: &Option<PrivateKeyFile>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let Some(config) = config else {
        return s.serialize_none();
    };
    if crate::secret::secrets_exposed() {
        return config.serialize(s);
    }
    let mut redacted = config.clone();
    if redacted.data.bytes.is_some() {
        redacted.data.bytes = Some(zeroize::Zeroizing::new(REDACTED.to_string()));
    }
    redacted.serialize(s)
}

/// `features`: all off by default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FeatureToggles {
    /// Validate keys in received party info.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_remote_key_validation: bool,
    /// Party protection and private state validation.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_privacy_enhancements: bool,
    /// GoQuorum multiple private states.
    #[serde(deserialize_with = "lenient::bool")]
    pub enable_multiple_private_states: bool,
}

/// `encryptor`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EncryptorConfig {
    /// `NACL` (the only one supported), `EC` or `CUSTOM`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub encryptor_type: Option<String>,
    /// Encryptor properties (EC only).
    #[serde(
        deserialize_with = "lenient::string_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub properties: BTreeMap<String, String>,
}

/// `mode`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ClientMode {
    /// Normal GoQuorum mode.
    #[default]
    Tessera,
    /// Besu compatibility.
    Orion,
    /// Anything else: rejected by validation.
    Other(String),
}

impl Serialize for ClientMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            Self::Tessera => "tessera",
            Self::Orion => "orion",
            Self::Other(other) => other,
        })
    }
}

impl<'de> Deserialize<'de> for ClientMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "" | "tessera" => Self::Tessera,
            "orion" => Self::Orion,
            _ => Self::Other(text),
        })
    }
}

/// One `residentGroups` entry.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResidentGroup {
    /// The group name (its id).
    pub name: String,
    /// Free text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Base64 member keys (all locally managed).
    pub members: Vec<String>,
}
