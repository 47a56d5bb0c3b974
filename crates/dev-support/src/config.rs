//! Typed node configs and the key files they point at.
//!
//! [`NodeConfig`] builds a [`tm_config::Config`] in Rust: no hand-written Tessera JSON. A
//! config goes to a service in-process as the value itself, or to a process as a file written
//! by [`write()`] (Tessera's JSON, with the secrets a node needs to read it back).
//!
//! ```no_run
//! # let dir = std::path::Path::new("/tmp/node");
//! use tm_dev_support::config::{generate_key_files, NodeConfig};
//! let keys = generate_key_files(dir, 1).expect("keys");
//! let config = NodeConfig::new()
//!     .p2p("http://127.0.0.1:9000")
//!     .q2t_unix(&dir.join("tm.ipc"))
//!     .thirdparty("http://127.0.0.1:9080")
//!     .peers(["http://127.0.0.1:9001/"])
//!     .keys(keys.into_iter().map(|(_, files)| files))
//!     .sqlite(&dir.join("tm.db"))
//!     .property(tm_config::AppType::P2P, "partyInfoInterval", "1000")
//!     .build();
//! tm_dev_support::config::write(&config, &dir.join("tessera.json")).expect("written");
//! ```

use std::path::Path;

use tm_config::{AppType, Config, FeatureToggles, JdbcConfig, KeyConfiguration, KeyData};
use tm_config::{Peer, Secret, ServerConfig, SslConfig};
use tm_core::keyfile::{write_new_key_pair, ArgonOptions};
use tm_core::KeyPair;

/// A node's config, built step by step; [`NodeConfig::build`] gives the typed config.
///
/// Starts as Tessera's defaults with no servers, no peers, no keys and no database. Setting a
/// server for an app that already has one replaces its address and keeps the rest.
#[derive(Clone, Debug)]
#[must_use]
pub struct NodeConfig {
    config: Config,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeConfig {
    /// An empty node config (Tessera's defaults, an empty peer list).
    pub fn new() -> Self {
        Self {
            config: Config {
                peer: Some(Vec::new()),
                ..Config::default()
            },
        }
    }

    /// Continues from an existing config.
    pub fn from_config(config: Config) -> Self {
        Self { config }
    }

    /// The `P2P` server at `url` (`http://host:port`), as peers reach it.
    pub fn p2p(self, url: &str) -> Self {
        self.server(AppType::P2P, url)
    }

    /// The `Q2T` server at `address`: `http(s)://host:port` or `unix:/path`.
    pub fn q2t(self, address: &str) -> Self {
        self.server(AppType::Q2T, address)
    }

    /// The `Q2T` server on the unix socket at `path` (`unix:<path>`, as GoQuorum connects).
    pub fn q2t_unix(self, path: &Path) -> Self {
        self.server(AppType::Q2T, &format!("unix:{}", path.display()))
    }

    /// The `ThirdParty` server at `url`.
    pub fn thirdparty(self, url: &str) -> Self {
        self.server(AppType::ThirdParty, url)
    }

    /// An `ENCLAVE` server at `url`: the node's keys are held by a remote enclave there (the
    /// enclave serves this same entry).
    pub fn remote_enclave(self, url: &str) -> Self {
        self.server(AppType::Enclave, url)
    }

    /// The server entry of `app` at `address` (`communicationType` `REST`).
    /// With TLS on for that entry ([`NodeConfig::ssl`]), an `http` address becomes `https`.
    pub fn server(mut self, app: AppType, address: &str) -> Self {
        let entry = self.server_entry(app);
        entry.server_address = Some(match address.strip_prefix("http://") {
            Some(rest) if entry.is_tls() => format!("https://{rest}"),
            _ => address.to_owned(),
        });
        self
    }

    /// Where the server of `app` listens when that differs from its advertised address (a
    /// replica behind one advertised URL).
    pub fn binding(mut self, app: AppType, address: &str) -> Self {
        self.server_entry(app).binding_address = Some(address.to_owned());
        self
    }

    /// A property of the server of `app` (`partyInfoInterval`, ...).
    pub fn property(mut self, app: AppType, name: &str, value: &str) -> Self {
        self.server_entry(app)
            .properties
            .insert(name.to_owned(), value.to_owned());
        self
    }

    /// The `sslConfig` of the server of `app` (e.g. [`crate::tls::strict`]); with `tls`
    /// `STRICT` its addresses become `https`, otherwise `http`, as clients then reach it.
    pub fn ssl(mut self, app: AppType, ssl: SslConfig) -> Self {
        let scheme = if ssl.tls.as_deref() == Some("STRICT") {
            "https"
        } else {
            "http"
        };
        let entry = self.server_entry(app);
        for address in [&mut entry.server_address, &mut entry.binding_address]
            .into_iter()
            .flatten()
        {
            if let Some((_, rest)) = address.split_once("://") {
                *address = format!("{scheme}://{rest}");
            }
        }
        entry.ssl_config = Some(ssl);
        self
    }

    /// The peers to start discovery from (P2P URLs), replacing any set before.
    pub fn peers<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.peer = Some(
            urls.into_iter()
                .map(|url| Peer { url: url.into() })
                .collect(),
        );
        self
    }

    /// The key pairs (`keys.keyData`), replacing any set before; [`generate_key_files`] makes
    /// them.
    pub fn keys(mut self, key_data: impl IntoIterator<Item = KeyData>) -> Self {
        self.config.keys = Some(KeyConfiguration {
            key_data: Some(key_data.into_iter().collect()),
            ..KeyConfiguration::default()
        });
        self
    }

    /// The embedded SQLite database in the file at `path`, tables created at start.
    pub fn sqlite(self, path: &Path) -> Self {
        self.database(&format!("jdbc:sqlite:{}", path.display()), None, None)
    }

    /// The database at the JDBC URL `jdbc_url` with these credentials, tables created at start.
    pub fn database(mut self, jdbc_url: &str, user: Option<&str>, password: Option<&str>) -> Self {
        self.config.jdbc = Some(JdbcConfig {
            url: Some(jdbc_url.to_owned()),
            username: user.map(str::to_owned),
            password: password.map(Secret::new),
            auto_create_tables: true,
            ..JdbcConfig::default()
        });
        self
    }

    /// A schema of the test PostgreSQL server ([`crate::postgres::Schema::create`]).
    pub fn postgres(self, schema: &crate::postgres::Schema) -> Self {
        self.database(&schema.jdbc_url, Some(&schema.user), Some(&schema.password))
    }

    /// `useWhiteList`: only configured peers' hosts may call P2P.
    pub fn whitelist(mut self, on: bool) -> Self {
        self.config.use_white_list = on;
        self
    }

    /// `disablePeerDiscovery` is the opposite of `on`.
    pub fn peer_discovery(mut self, on: bool) -> Self {
        self.config.disable_peer_discovery = !on;
        self
    }

    /// The `features` switches.
    pub fn features(mut self, features: FeatureToggles) -> Self {
        self.config.features = features;
        self
    }

    /// Any other change, on the typed config.
    pub fn edit(mut self, change: impl FnOnce(&mut Config)) -> Self {
        change(&mut self.config);
        self
    }

    /// The config.
    pub fn build(self) -> Config {
        self.config
    }

    fn server_entry(&mut self, app: AppType) -> &mut ServerConfig {
        let servers = self.config.server_configs.get_or_insert_with(Vec::new);
        let index = match servers.iter().position(|s| s.app.as_ref() == Some(&app)) {
            Some(index) => index,
            None => {
                servers.push(ServerConfig {
                    app: Some(app),
                    communication_type: Some("REST".to_owned()),
                    ..ServerConfig::default()
                });
                servers.len() - 1
            }
        };
        &mut servers[index]
    }
}

/// Writes `config` to `path` as Tessera's JSON config file, with its secrets (a node reads it
/// back with them; see [`Config::to_tessera_json`]).
pub fn write(config: &Config, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, config.to_tessera_json())
}

/// Generates a key pair and writes it as Tessera's keygen does, unlocked: `<dir>/<stem>.pub`
/// and `<dir>/<stem>.key` (never overwriting). Returns the pair and the `keyData` entry that
/// points at the files.
pub fn write_key_files(dir: &Path, stem: &str) -> std::io::Result<(KeyPair, KeyData)> {
    let name = dir.join(stem);
    let pair = write_new_key_pair(&name, None, &ArgonOptions::default())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let (public, private) = tm_core::keyfile::key_file_paths(&name);
    let files = KeyData {
        public_key_path: Some(public),
        private_key_path: Some(private),
        ..KeyData::default()
    };
    Ok((pair, files))
}

/// [`write_key_files`] `count` times, as `key0`, `key1`, ... in `dir`.
pub fn generate_key_files(dir: &Path, count: usize) -> std::io::Result<Vec<(KeyPair, KeyData)>> {
    (0..count)
        .map(|i| write_key_files(dir, &format!("key{i}")))
        .collect()
}
