//! Shared helpers: the spec and vector folders, and small configs.

use std::path::PathBuf;

use serde_json::{json, Value};
use tm_config::{EnvOverrides, LoadOptions, Profile};

/// `shared/`, beside the repository, or `TM_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("TM_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

/// A vector file as JSON; a missing file fails the test.
pub fn vector(relative: &str) -> Value {
    let path = shared_dir().join("vectors").join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector is JSON")
}

/// The first ```json block after `heading` in a spec file.
pub fn spec_json_block(file: &str, heading: &str) -> Value {
    let path = shared_dir().join("spec").join(file);
    let text = std::fs::read_to_string(&path).expect("spec file");
    let start = text.find(heading).expect("heading present");
    let rest = &text[start..];
    let open = rest.find("```json").expect("json block") + "```json".len();
    let close = rest[open..].find("```").expect("block end") + open;
    serde_json::from_str(&rest[open..close]).expect("spec block is JSON")
}

/// Options with no environment and no overrides.
pub fn options(profile: Profile) -> LoadOptions {
    LoadOptions {
        overrides: Vec::new(),
        env: EnvOverrides::Disabled,
        profile,
    }
}

/// A small valid node config with one inline key pair from the vectors.
pub fn minimal_node() -> Value {
    let pairs = vector("keys/keypairs.json");
    let pair = &pairs["keypairs"][0];
    json!({
        "jdbc": { "url": "jdbc:sqlite:db.sqlite" },
        "serverConfigs": [
            { "app": "Q2T", "serverAddress": "unix:/tmp/tm.ipc" },
            { "app": "P2P", "serverAddress": "http://localhost:9001" }
        ],
        "peer": [],
        "keys": { "keyData": [ {
            "privateKey": pair["private_base64"],
            "publicKey": pair["public_base64"]
        } ] }
    })
}
