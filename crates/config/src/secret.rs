//! A secret string from the config (password, inline private key): wiped on drop, never
//! printed, and serialised as a placeholder so a dumped config cannot leak it.
//!
//! The one exception is writing a config file for a node to read back
//! ([`crate::Config::to_tessera_json`]): inside [`with_secrets_exposed`] the serializers of
//! secrets (and of JDBC URLs and inline key files) write the real values, on that thread only.

use std::cell::Cell;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// What a secret is written as when the config is serialised or printed.
pub const REDACTED: &str = "<redacted>";

thread_local! {
    static EXPOSED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with secrets serialised as their real values on this thread (and only for the
/// duration of `f`, even if it panics). Used to write a config file a node reads back; never
/// use it for anything printed or logged.
pub fn with_secrets_exposed<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            EXPOSED.with(|e| e.set(self.0));
        }
    }
    let _restore = Restore(EXPOSED.with(|e| e.replace(true)));
    f()
}

/// Whether serializers on this thread are inside [`with_secrets_exposed`].
pub fn secrets_exposed() -> bool {
    EXPOSED.with(Cell::get)
}

/// A secret string.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The secret itself. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if secrets_exposed() {
            serializer.serialize_str(self.expose())
        } else {
            serializer.serialize_str(REDACTED)
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Numbers are accepted as their text: an override or a careless config may give one.
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => Ok(Self::new(s)),
            serde_json::Value::Number(n) => Ok(Self::new(n.to_string())),
            _ => Err(serde::de::Error::custom("expected a string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use tm_core::keyfile::PrivateKeyFile;
    use tm_core::KeyPair;

    use super::*;
    use crate::model::{AppType, Config, JdbcConfig, KeyConfiguration, KeyData, ServerConfig};
    use crate::{load_str, EnvOverrides, LoadOptions, Profile};

    const DB_PASSWORD: &str = "db-s3cret";
    const JDBC_URL: &str = "jdbc:postgresql://127.0.0.1:5432/tm?currentSchema=s&password=url-pw";

    fn config(pair: &KeyPair) -> Config {
        Config {
            jdbc: Some(JdbcConfig {
                url: Some(JDBC_URL.to_owned()),
                username: Some("tm".to_owned()),
                password: Some(Secret::new(DB_PASSWORD)),
                auto_create_tables: true,
                ..JdbcConfig::default()
            }),
            server_configs: Some(vec![
                ServerConfig {
                    app: Some(AppType::P2P),
                    server_address: Some("http://127.0.0.1:9000".to_owned()),
                    communication_type: Some("REST".to_owned()),
                    ..ServerConfig::default()
                },
                ServerConfig {
                    app: Some(AppType::Q2T),
                    server_address: Some("unix:/tmp/tm.ipc".to_owned()),
                    ..ServerConfig::default()
                },
            ]),
            peer: Some(Vec::new()),
            keys: Some(KeyConfiguration {
                key_data: Some(vec![
                    KeyData {
                        private_key: Some(Secret::new(pair.private.expose_base64().as_str())),
                        public_key: Some(pair.public.to_base64()),
                        ..KeyData::default()
                    },
                    KeyData {
                        config: Some(PrivateKeyFile::unlocked(&pair.private)),
                        public_key: Some(pair.public.to_base64()),
                        ..KeyData::default()
                    },
                ]),
                ..KeyConfiguration::default()
            }),
            ..Config::default()
        }
    }

    #[test]
    fn tessera_json_keeps_secrets_and_reads_back_the_same_values() {
        let pair = KeyPair::generate().expect("key pair");
        let original = config(&pair);
        let text = original.to_tessera_json();
        let options = LoadOptions {
            overrides: Vec::new(),
            env: EnvOverrides::Disabled,
            profile: Profile::Node,
        };
        let loaded = load_str(&text, &options)
            .expect("the written config loads")
            .config;

        let jdbc = loaded.jdbc.as_ref().expect("jdbc");
        assert_eq!(jdbc.url.as_deref(), Some(JDBC_URL));
        assert_eq!(jdbc.username.as_deref(), Some("tm"));
        assert_eq!(
            jdbc.password.as_ref().map(Secret::expose),
            Some(DB_PASSWORD)
        );
        assert!(jdbc.auto_create_tables);
        let keys = loaded.keys.as_ref().expect("keys").key_data();
        assert_eq!(
            keys[0].private_key.as_ref().map(Secret::expose),
            Some(pair.private.expose_base64().as_str())
        );
        let inline = keys[1].config.as_ref().expect("inline key file");
        assert_eq!(
            inline.data.bytes.as_deref().map(String::as_str),
            Some(pair.private.expose_base64().as_str())
        );
        // Everything else as well: the redacted forms of both configs are the same.
        assert_eq!(loaded.to_redacted_json(), original.to_redacted_json());
        // And writing it again gives the same file.
        assert_eq!(loaded.to_tessera_json(), text);
    }

    #[test]
    fn redacted_json_still_redacts_after_writing_a_tessera_file() {
        let pair = KeyPair::generate().expect("key pair");
        let config = config(&pair);
        let _ = config.to_tessera_json();
        let redacted = config.to_redacted_json();
        let private = pair.private.expose_base64();
        for secret in [DB_PASSWORD, "url-pw", private.as_str()] {
            assert!(!redacted.contains(secret), "{secret} in:\n{redacted}");
        }
        assert!(redacted.contains(REDACTED));
        assert!(!secrets_exposed(), "the switch is scoped");
        // The switch is off again even when the scope panics.
        let panicked = std::panic::catch_unwind(|| with_secrets_exposed(|| panic!("inside")));
        assert!(panicked.is_err());
        assert!(!secrets_exposed());
        assert_eq!(format!("{:?}", Secret::new("x")), REDACTED);
    }
}
