//! Shared helpers: the test data in `testdata/`, and small configs.

use std::path::PathBuf;

use serde_json::{json, Value};
use tm_config::{EnvOverrides, LoadOptions, Profile};

/// `testdata/` at the root of the repository (see `testdata/README.md`).
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// A vector file as JSON; a missing file fails the test.
pub fn vector(relative: &str) -> Value {
    let path = testdata_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    serde_json::from_str(&text).expect("vector is JSON")
}

/// The complete example configuration, `testdata/config/tessera-example.json`.
pub fn example_config() -> Value {
    vector("config/tessera-example.json")
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
