//! Loading key pairs from every `keyData` style, with passwords.

use serde_json::json;
use tm_config::keys::{load_key_pairs, KeyLoadError, PasswordPrompt};
use tm_config::{parse_typed, KeyConfiguration};
use tm_core::keyfile::{ArgonOptions, PrivateKeyFile};
use tm_core::{PrivateKey, PublicKey};

use crate::support::vector;

fn keys(value: serde_json::Value) -> KeyConfiguration {
    let (config, unknown) = parse_typed(json!({ "keys": value })).expect("typed");
    assert!(unknown.is_empty(), "{unknown:?}");
    config.keys.expect("keys")
}

fn cheap() -> ArgonOptions {
    ArgonOptions {
        variant: "id".into(),
        iterations: 1,
        memory: 64,
        parallelism: 1,
    }
}

#[test]
fn inline_direct_and_inline_config_keys_load() {
    let shapes = vector("keys/unlocked-key-and-configs.json");
    let pairs = vector("keys/keypairs.json");
    let direct = load_key_pairs(
        &keys(shapes["inline_direct_config_example"]["keys"].clone()),
        PasswordPrompt::Never,
    )
    .expect("direct");
    assert_eq!(direct.len(), 1);
    assert_eq!(
        direct[0].public.to_base64(),
        pairs["keypairs"][0]["public_base64"].as_str().expect("b64")
    );
    assert!(direct[0].is_consistent());

    let inline = load_key_pairs(
        &keys(shapes["inline_unlocked_config_example"]["keys"].clone()),
        PasswordPrompt::Never,
    )
    .expect("inline");
    // The repo pairs this private key with another public key; Tessera keeps it as configured.
    assert_eq!(
        inline[0].public.to_base64(),
        "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
    );
    assert_eq!(
        inline[0].private.public_key().to_base64(),
        shapes["derived_public_key_base64"].as_str().expect("b64")
    );
    assert!(!inline[0].is_consistent());
}

#[test]
fn key_files_load_relative_to_the_working_directory_or_absolute() {
    let shapes = vector("keys/unlocked-key-and-configs.json");
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("tm.key");
    let pub_path = dir.path().join("tm.pub");
    std::fs::write(
        &key_path,
        shapes["file_content_verbatim"].as_str().expect("text"),
    )
    .expect("write");
    std::fs::write(
        &pub_path,
        shapes["derived_public_key_base64"].as_str().expect("text"),
    )
    .expect("write");
    let loaded = load_key_pairs(
        &keys(json!({ "keyData": [ { "privateKeyPath": key_path, "publicKeyPath": pub_path } ] })),
        PasswordPrompt::Never,
    )
    .expect("files");
    assert!(loaded[0].is_consistent());
    assert_eq!(
        loaded[0].private,
        PrivateKey::from_base64(shapes["private_key_base64"].as_str().expect("b64")).expect("key")
    );

    let missing = load_key_pairs(
        &keys(json!({ "keyData": [ { "privateKeyPath": dir.path().join("none.key"), "publicKeyPath": pub_path } ] })),
        PasswordPrompt::Never,
    )
    .expect_err("missing file");
    assert!(matches!(missing, KeyLoadError::Io { .. }), "{missing}");
    assert!(
        missing
            .to_string()
            .starts_with("keys.keyData[0]: cannot read"),
        "{missing}"
    );
}

#[test]
fn locked_keys_take_passwords_by_index_from_the_password_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = tm_core::KeyPair::generate().expect("a");
    let b = tm_core::KeyPair::generate().expect("b");
    let c = tm_core::KeyPair::generate().expect("c");
    let locked_b = PrivateKeyFile::locked(&b.private, "pass-b", cheap()).expect("lock");
    let locked_c = PrivateKeyFile::locked(&c.private, "pass-c", cheap()).expect("lock");
    let c_key = dir.path().join("c.key");
    let c_pub = dir.path().join("c.pub");
    std::fs::write(&c_key, locked_c.to_json().as_bytes()).expect("write");
    std::fs::write(&c_pub, c.public.to_base64()).expect("write");
    let password_file = dir.path().join("passwords");
    // Unlocked keys have an empty line.
    std::fs::write(&password_file, "\npass-b\npass-c\n").expect("write");
    let config = keys(json!({
        "passwordFile": password_file,
        "keyData": [
            { "privateKey": a.private.expose_base64().as_str(), "publicKey": a.public.to_base64() },
            { "config": serde_json::from_str::<serde_json::Value>(&locked_b.to_json()).expect("json"), "publicKey": b.public.to_base64() },
            { "privateKeyPath": c_key, "publicKeyPath": c_pub }
        ]
    }));
    let loaded = load_key_pairs(&config, PasswordPrompt::Never).expect("unlocked");
    assert_eq!(loaded, vec![a, b, c]);

    std::fs::write(&password_file, "\nwrong\npass-c\n").expect("write");
    let err = load_key_pairs(&config, PasswordPrompt::Never).expect_err("wrong");
    assert!(
        matches!(&err, KeyLoadError::WrongPassword { at } if at == "keys.keyData[1]"),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong\n") && !err.to_string().contains("pass-c"));

    std::fs::write(&password_file, "\n").expect("write");
    let err = load_key_pairs(&config, PasswordPrompt::Never).expect_err("missing");
    assert!(
        matches!(err, KeyLoadError::PasswordRequired { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("no password was given"), "{err}");
}

#[test]
fn passwords_list_is_used_when_given_programmatically() {
    // Tessera's validation rejects a non-empty `passwords`; the loader still honours it so a
    // launcher that collected passwords itself can pass them in.
    let pair = tm_core::KeyPair::generate().expect("pair");
    let locked = PrivateKeyFile::locked(&pair.private, "pw", cheap()).expect("lock");
    let config = keys(json!({
        "passwords": ["pw"],
        "keyData": [ { "config": serde_json::from_str::<serde_json::Value>(&locked.to_json()).expect("json"), "publicKey": pair.public.to_base64() } ]
    }));
    assert_eq!(
        load_key_pairs(&config, PasswordPrompt::Never).expect("ok"),
        vec![pair]
    );
}

#[test]
fn tesseras_own_locked_key_unlocks_with_its_password() {
    // Argon2id with 1 GiB: slow, but this is the real file format.
    let vector = vector("keys/locked-key-argon2sbox.json");
    let dir = tempfile::tempdir().expect("tempdir");
    let password_file = dir.path().join("passwords");
    std::fs::write(&password_file, "q\n").expect("write");
    let public = vector["derived_by_spec_author"]["matching_public_key_base64"]
        .as_str()
        .expect("b64");
    let config = keys(json!({
        "passwordFile": password_file,
        "keyData": [ { "config": vector["private_key_file_json"], "publicKey": public } ]
    }));
    let pairs = load_key_pairs(&config, PasswordPrompt::Never).expect("unlocked");
    assert_eq!(
        pairs[0].private.expose_base64().as_str(),
        vector["derived_by_spec_author"]
            ["decrypted_private_key_base64 (crypto_secretbox_open(sbox, snonce, argon_hash))"]
            .as_str()
            .expect("b64")
    );
    assert_eq!(
        pairs[0].public,
        PublicKey::from_base64(public).expect("key")
    );
    assert!(pairs[0].is_consistent());
}

#[test]
fn vault_keys_are_not_supported() {
    let config = keys(
        json!({ "keyData": [ { "azureVaultPublicKeyId": "p", "azureVaultPrivateKeyId": "q" } ] }),
    );
    let err = load_key_pairs(&config, PasswordPrompt::Never).expect_err("vault");
    assert_eq!(
        err.to_string(),
        "keys.keyData[0]: a key in an AZURE vault is not supported"
    );
}

#[test]
fn bad_inline_keys_fail_without_echoing_them() {
    let config = keys(
        json!({ "keyData": [ { "privateKey": "bm90LWEta2V5", "publicKey": "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=" } ] }),
    );
    let err = load_key_pairs(&config, PasswordPrompt::Never).expect_err("bad key");
    assert!(err.to_string().starts_with("keys.keyData[0]:"), "{err}");
    assert!(!err.to_string().contains("bm90LWEta2V5"), "{err}");
    assert!(!format!("{err:?}").contains("bm90LWEta2V5"));
}
