//! Tessera's validation rules (docs/protocol.md §12.2–§12.5), every violation collected so one
//! message lists them all.

use std::fmt;
use std::path::Path;

use tm_core::PublicKey;

use crate::address::ServerAddress;
use crate::model::{AppType, ClientMode, Config, KeyData};

/// What the config is for: the checks differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// A transaction manager node: `jdbc`, `peer`, one P2P server, keys or a remote enclave.
    Node,
    /// A standalone enclave process: keys and a server to listen on.
    Enclave,
}

/// One problem, named by its JSON path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The field, e.g. `serverConfigs[1].serverAddress`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Config validation issue: {} {}", self.path, self.message)
    }
}

/// Checks `config` for `profile`; an empty list means it may start.
pub fn validate(config: &Config, profile: Profile) -> Vec<Violation> {
    let mut v = Checks(Vec::new());
    if profile == Profile::Node {
        node_rules(config, &mut v);
    } else {
        enclave_rules(config, &mut v);
    }
    servers(config, &mut v);
    keys(config, &mut v);
    for (i, key) in config.always_send_to.iter().enumerate() {
        if PublicKey::from_base64(key).is_err() {
            v.add(format!("alwaysSendTo[{i}]"), "Invalid Base64 key provided");
        }
    }
    if let ClientMode::Other(mode) = &config.mode {
        v.add("mode", format!("{mode:?} is not one of tessera, orion"));
    }
    if let Some(encryptor) = &config.encryptor {
        match encryptor
            .encryptor_type
            .as_deref()
            .map(str::to_ascii_uppercase)
        {
            None => v.add("encryptor.type", "must not be null"),
            Some(t) if t == "NACL" => {}
            Some(t) if t == "EC" || t == "CUSTOM" => v.add(
                "encryptor.type",
                format!("{t} is not supported by this implementation (only NACL)"),
            ),
            Some(t) => v.add(
                "encryptor.type",
                format!("{t:?} is not one of NACL, EC, CUSTOM"),
            ),
        }
    }
    for (g, group) in config.resident_groups.iter().enumerate() {
        if group.name.is_empty() {
            v.add(format!("residentGroups[{g}].name"), "must not be null");
        }
        for (m, member) in group.members.iter().enumerate() {
            if PublicKey::from_base64(member).is_err() {
                v.add(
                    format!("residentGroups[{g}].members[{m}]"),
                    "Invalid Base64 key provided",
                );
            }
        }
    }
    v.0
}

struct Checks(Vec<Violation>);

impl Checks {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Violation {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn node_rules(config: &Config, v: &mut Checks) {
    match &config.jdbc {
        None => v.add("jdbc", "must not be null"),
        Some(jdbc) if jdbc.url.as_deref().is_none_or(|u| u.trim().is_empty()) => {
            v.add("jdbc.url", "must not be null")
        }
        Some(_) => {}
    }
    match &config.peer {
        None => v.add("peer", "must not be null"),
        Some(peers) => {
            for (i, peer) in peers.iter().enumerate() {
                let ok = url::Url::parse(&peer.url)
                    .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if !ok {
                    v.add(format!("peer[{i}].url"), "URL is not valid");
                }
            }
        }
    }
    let servers = config.server_configs();
    if config.server_configs.is_none() {
        v.add("serverConfigs", "must not be null");
    }
    let count = |app: AppType| {
        servers
            .iter()
            .filter(|s| s.app.as_ref() == Some(&app))
            .count()
    };
    if count(AppType::P2P) != 1 {
        v.add(
            "serverConfigs",
            "Exactly one P2P server must be configured.",
        );
    }
    let q2t = count(AppType::Q2T);
    if config.bootstrap_node && q2t > 0 {
        v.add(
            "serverConfigs",
            "Q2T server cannot be specified on a bootstrap node.",
        );
    } else if !config.bootstrap_node && q2t == 0 {
        v.add(
            "serverConfigs",
            "At least one Q2T server must be configured or bootstrap mode enabled.",
        );
    }
    if config.keys.is_none() && !config.uses_remote_enclave() {
        v.add(
            "keys",
            "must be provided, or an ENCLAVE server configured to use a remote enclave",
        );
    }
}

fn enclave_rules(config: &Config, v: &mut Checks) {
    if config.server_configs().is_empty() {
        v.add(
            "serverConfigs",
            "an ENCLAVE server must be configured to run the enclave",
        );
    }
    if config.keys.is_none() {
        v.add("keys", "must be provided: the enclave holds the keys");
    }
}

fn servers(config: &Config, v: &mut Checks) {
    for (i, server) in config.server_configs().iter().enumerate() {
        let at = |field: &str| format!("serverConfigs[{i}].{field}");
        match &server.app {
            None | Some(AppType::Other(_)) => v.add(
                at("app"),
                "app must be provided for serverConfig and be one of P2P, Q2T, ThirdParty, ENCLAVE",
            ),
            Some(_) => {}
        }
        match server.server_address.as_deref() {
            None => v.add(at("serverAddress"), "must not be null"),
            Some(text) => match ServerAddress::parse(text) {
                Err(e) => v.add(at("serverAddress"), format!("Server Address is invalid: {e}")),
                Ok(ServerAddress::Tcp { host, .. }) if host == "0.0.0.0" => v.add(
                    at("serverAddress"),
                    "Server Address is invalid: 0.0.0.0 is not an address others can reach (use bindingAddress to listen on all interfaces)",
                ),
                Ok(_) => {}
            },
        }
        if let Some(binding) = &server.binding_address {
            match ServerAddress::parse(binding) {
                Err(e) => v.add(
                    at("bindingAddress"),
                    format!("Binding Address is invalid: {e}"),
                ),
                Ok(ServerAddress::Unix(_)) => v.add(
                    at("bindingAddress"),
                    "Binding Address is invalid: only http and https are allowed",
                ),
                Ok(_) => {}
            }
        }
        if let Some(kind) = &server.communication_type {
            if !kind.eq_ignore_ascii_case("REST") {
                v.add(
                    at("communicationType"),
                    format!("{kind:?} is not supported (only REST)"),
                );
            }
        }
        if server.cors.is_some() && server.app != Some(AppType::ThirdParty) {
            v.add(
                at("cors"),
                "CrossDomainConfig is only allowed in ThirdParty server",
            );
        }
        if let Some(ssl) = &server.ssl_config {
            match ssl.tls.as_deref().map(str::to_ascii_uppercase).as_deref() {
                Some("STRICT" | "OFF") => {}
                None => v.add(at("sslConfig.tls"), "must not be null"),
                Some(other) => v.add(
                    at("sslConfig.tls"),
                    format!("{other:?} is not one of STRICT, OFF"),
                ),
            }
        }
    }
}

fn keys(config: &Config, v: &mut Checks) {
    let Some(keys) = &config.keys else { return };
    if keys.passwords.as_ref().is_some_and(|p| !p.is_empty()) {
        v.add(
            "keys.passwords",
            "For security reasons, passwords should not be provided directly in the config.  Provide them in a separate file with \"passwordFile\" or at the CLI prompt during node startup.",
        );
    }
    if let Some(file) = &keys.password_file {
        if !file.exists() {
            v.add("keys.passwordFile", "Password file does not exist");
        }
    }
    if keys
        .key_vault_configs
        .as_ref()
        .is_some_and(|c| !c.is_empty())
        || keys.azure_key_vault_config.is_some()
        || keys.hashicorp_key_vault_config.is_some()
    {
        v.add(
            "keys.keyVaultConfigs",
            "key vaults are not supported by this implementation",
        );
    }
    let data = keys.key_data();
    if data.is_empty() {
        v.add(
            "keys.keyData",
            "At least 1 public/private key pair must be provided",
        );
    }
    for (i, key) in data.iter().enumerate() {
        key_data(key, &format!("keys.keyData[{i}]"), v);
    }
}

fn key_data(key: &KeyData, at: &str, v: &mut Checks) {
    let field = |name: &str| format!("{at}.{name}");
    if let Some(vault) = key.vault_type() {
        v.add(
            at,
            format!("{vault} vault keys are not supported by this implementation"),
        );
        return;
    }
    let has_paths = key.private_key_path.is_some() || key.public_key_path.is_some();
    let styles = [key.private_key.is_some(), key.config.is_some(), has_paths]
        .iter()
        .filter(|s| **s)
        .count();
    if styles == 0 {
        v.add(
            at,
            "no key given: set privateKey and publicKey, config and publicKey, or privateKeyPath and publicKeyPath",
        );
        return;
    }
    if styles > 1 {
        v.add(
            at,
            "give only one of privateKey, config, or privateKeyPath/publicKeyPath",
        );
        return;
    }
    if has_paths {
        if key.public_key.is_some() {
            v.add(
                field("publicKey"),
                "must not be set together with publicKeyPath",
            );
        }
        for (name, path) in [
            ("privateKeyPath", &key.private_key_path),
            ("publicKeyPath", &key.public_key_path),
        ] {
            match path {
                None => v.add(
                    field(name),
                    "must be set: privateKeyPath and publicKeyPath go together",
                ),
                Some(p) if !Path::new(p).exists() => {
                    v.add(field(name), format!("File does not exist: {}", p.display()))
                }
                Some(_) => {}
            }
        }
        return;
    }
    match &key.public_key {
        None => v.add(field("publicKey"), "must not be null"),
        Some(public) if PublicKey::from_base64(public).is_err() => {
            v.add(field("publicKey"), "Invalid Base64 key provided")
        }
        Some(_) => {}
    }
    if let Some(private) = &key.private_key {
        if tm_core::PrivateKey::from_base64(private.expose()).is_err() {
            // Never echo the value.
            v.add(field("privateKey"), "is not a base64 32-byte private key");
        }
    }
}
