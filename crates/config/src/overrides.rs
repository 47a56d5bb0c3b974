//! Overrides applied to the JSON tree before it is read into the typed config: `-o path=value`
//! (docs/protocol.md §12.6) and `TESSERA__...` environment variables (read through the `config`
//! crate).

use serde_json::{Map, Value};

use crate::ConfigError;

/// The prefix of environment variables that override config values:
/// `TESSERA__JDBC__URL`, `TESSERA__SERVERCONFIGS__1__SERVERADDRESS`.
pub const ENV_PREFIX: &str = "TESSERA";

/// The separator after the prefix and between path segments in variable names.
pub const ENV_SEPARATOR: &str = "__";

/// One step of an override path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// A list element.
    Index(usize),
}

/// One override: a path in the JSON tree and the text to put there.
#[derive(Clone, PartialEq, Eq)]
pub struct Override {
    /// Where.
    pub path: Vec<Segment>,
    /// The value, always text (the typed config reads numbers and booleans from text).
    pub value: String,
    /// The path as written, for messages.
    pub spec: String,
    /// Match keys case-insensitively (environment variables are case-folded).
    pub case_insensitive: bool,
}

impl std::fmt::Debug for Override {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value may be a password: never print it.
        write!(f, "Override({} = <value>)", self.spec)
    }
}

impl Override {
    /// Parses `path=value` (`jdbc.url=...`, `serverConfigs[1].serverAddress=...`).
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let (path, value) = text.split_once('=').ok_or_else(|| {
            ConfigError::Override(format!(
                "override {:?} must be of the form path=value",
                text.split('=').next().unwrap_or_default()
            ))
        })?;
        Ok(Self {
            path: parse_path(path)?,
            value: value.to_string(),
            spec: path.trim().to_string(),
            case_insensitive: false,
        })
    }

    /// Applies this override to `root`, creating members and growing lists as needed.
    pub fn apply(&self, root: &mut Value) -> Result<(), ConfigError> {
        let err = |why: &str| ConfigError::Override(format!("override {}: {why}", self.spec));
        let mut node = root;
        for (i, segment) in self.path.iter().enumerate() {
            let last = i + 1 == self.path.len();
            let next_is_index = matches!(self.path.get(i + 1), Some(Segment::Index(_)));
            let fresh = || {
                if last {
                    Value::Null
                } else if next_is_index {
                    Value::Array(Vec::new())
                } else {
                    Value::Object(Map::new())
                }
            };
            node = match segment {
                Segment::Key(key) => {
                    if node.is_null() {
                        *node = Value::Object(Map::new());
                    }
                    let Value::Object(map) = node else {
                        return Err(err(&format!(
                            "{key:?} is inside a value that is not an object"
                        )));
                    };
                    let name = resolve_key(map, key, self.case_insensitive);
                    map.entry(name).or_insert_with(fresh)
                }
                Segment::Index(index) => {
                    if node.is_null() {
                        *node = Value::Array(Vec::new());
                    }
                    let Value::Array(list) = node else {
                        return Err(err("an index was given for a value that is not a list"));
                    };
                    // Tessera grows the list with fresh elements up to the index.
                    while list.len() <= *index {
                        list.push(fresh());
                    }
                    &mut list[*index]
                }
            };
        }
        if node.is_array() {
            return Err(err(
                "position not provided for Collection parameter override",
            ));
        }
        *node = Value::String(self.value.clone());
        Ok(())
    }
}

fn parse_path(path: &str) -> Result<Vec<Segment>, ConfigError> {
    let bad = |why: &str| ConfigError::Override(format!("override path {path:?}: {why}"));
    let path = path.trim();
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    let mut segments = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if name.is_empty() {
            return Err(bad("empty name"));
        }
        segments.push(Segment::Key(name.to_string()));
        while !rest.is_empty() {
            let close = rest.find(']').ok_or_else(|| bad("missing ]"))?;
            let index = rest[1..close]
                .trim()
                .parse::<usize>()
                .map_err(|_| bad("list index must be a non-negative number"))?;
            segments.push(Segment::Index(index));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return Err(bad("unexpected text after ]"));
            }
        }
    }
    Ok(segments)
}

/// The member name to use for `key`: itself, or with case-insensitive matching an existing
/// member or a known Tessera name with the same letters.
fn resolve_key(map: &Map<String, Value>, key: &str, case_insensitive: bool) -> String {
    if map.contains_key(key) || !case_insensitive {
        return key.to_string();
    }
    if let Some(existing) = map.keys().find(|k| k.eq_ignore_ascii_case(key)) {
        return existing.clone();
    }
    KNOWN_NAMES
        .iter()
        .find(|known| known.eq_ignore_ascii_case(key))
        .map_or_else(|| key.to_string(), |known| (*known).to_string())
}

/// Every JSON member name of Tessera's config, to restore case in environment overrides.
const KNOWN_NAMES: &[&str] = &[
    "version",
    "jdbc",
    "url",
    "username",
    "password",
    "autoCreateTables",
    "fetchSize",
    "serverConfigs",
    "app",
    "serverAddress",
    "bindingAddress",
    "communicationType",
    "sslConfig",
    "influxConfig",
    "cors",
    "properties",
    "peer",
    "keys",
    "passwordFile",
    "passwords",
    "keyData",
    "keyVaultConfigs",
    "config",
    "privateKey",
    "publicKey",
    "privateKeyPath",
    "publicKeyPath",
    "alwaysSendTo",
    "useWhiteList",
    "disablePeerDiscovery",
    "bootstrapNode",
    "features",
    "enableRemoteKeyValidation",
    "enablePrivacyEnhancements",
    "enableMultiplePrivateStates",
    "encryptor",
    "type",
    "mode",
    "residentGroups",
    "name",
    "description",
    "members",
    "tls",
    "sslConfigType",
    "generateKeyStoreIfNotExisted",
    "serverKeyStore",
    "serverKeyStorePassword",
    "serverTlsKeyPath",
    "serverTlsCertificatePath",
    "serverTrustStore",
    "serverTrustStorePassword",
    "serverTrustCertificates",
    "serverTrustMode",
    "clientKeyStore",
    "clientKeyStorePassword",
    "clientTlsKeyPath",
    "clientTlsCertificatePath",
    "clientTrustStore",
    "clientTrustStorePassword",
    "clientTrustCertificates",
    "clientTrustMode",
    "knownClientsFile",
    "knownServersFile",
    "environmentVariablePrefix",
    "excludeCipherSuites",
    "clientAuth",
    "allowedMethods",
    "allowedOrigins",
    "allowedHeaders",
    "allowCredentials",
    "partyInfoInterval",
    "enclaveKeySyncInterval",
    "syncInterval",
    "resendWaitTime",
    "dbName",
    "pushIntervalInSecs",
];

/// The overrides given by `TESSERA__<PATH>` environment variables, read with the `config`
/// crate from `vars` (the process environment when `None`). Path segments are separated by
/// `__`; a numeric segment is a list index; names match case-insensitively.
pub fn from_env(vars: Option<Vec<(String, String)>>) -> Result<Vec<Override>, ConfigError> {
    use config::Source as _;
    let env = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .source(vars.map(|v| v.into_iter().collect()));
    let collected = env
        .collect()
        .map_err(|e| ConfigError::Override(format!("environment variables: {e}")))?;
    let mut overrides = Vec::new();
    for (key, value) in collected {
        let path = key
            .split('.')
            .map(|part| match part.parse::<usize>() {
                Ok(index) => Segment::Index(index),
                Err(_) => Segment::Key(part.to_string()),
            })
            .collect::<Vec<_>>();
        if !matches!(path.first(), Some(Segment::Key(_))) {
            continue;
        }
        let value = value.into_string().map_err(|_| {
            ConfigError::Override(format!("environment variable for {key} is not text"))
        })?;
        overrides.push(Override {
            spec: format!(
                "{ENV_PREFIX}{ENV_SEPARATOR}{}",
                key.replace('.', ENV_SEPARATOR).to_uppercase()
            ),
            path,
            value,
            case_insensitive: true,
        });
    }
    // HashMap order: apply in a stable order.
    overrides.sort_by(|a, b| a.spec.cmp(&b.spec));
    Ok(overrides)
}
