//! Inconsistent settings: one clear message each.

use serde_json::json;

use crate::support::*;

#[test]
fn tls_off_or_absent_is_plain_http() {
    let config = server_config(json!({ "tls": "OFF" }));
    let mut config = config;
    config.server_address = Some("http://localhost:9001".into());
    assert!(tm_tls::server_tls(&config).expect("off").is_none());
    assert!(tm_tls::client_tls(&config).expect("off").is_none());
    config.ssl_config = None;
    assert!(tm_tls::server_tls(&config).expect("absent").is_none());
}

#[test]
fn an_https_address_with_tls_off_is_refused() {
    let config = server_config(json!({ "tls": "OFF" }));
    let message = error(tm_tls::server_tls(&config));
    assert!(
        message.contains("https://localhost:9001 is https but sslConfig.tls is OFF"),
        "{message}"
    );
}

#[test]
fn strict_without_material_nor_generation_is_refused() {
    let config = server_config(json!({
        "tls": "STRICT", "serverTrustMode": "NONE", "clientTrustMode": "NONE",
    }));
    let message = error(tm_tls::server_tls(&config));
    assert!(
        message.contains("the server has no key material"),
        "{message}"
    );
    let message = error(tm_tls::client_tls(&config));
    assert!(
        message.contains("the client has no key material"),
        "{message}"
    );
}

#[test]
fn a_missing_keystore_without_generation_is_refused() {
    let dir = Dir::new();
    let config = server_config(json!({
        "tls": "STRICT", "serverTrustMode": "NONE", "clientTrustMode": "NONE",
        "serverKeyStore": dir.path("absent.jks"), "serverKeyStorePassword": "pw",
    }));
    let message = error(tm_tls::server_tls(&config));
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        message.contains("generateKeyStoreIfNotExisted"),
        "{message}"
    );
}

#[test]
fn an_unreadable_keystore_is_refused() {
    let dir = Dir::new();
    std::fs::write(dir.path("junk.jks"), b"not a keystore").expect("write");
    let config = server_config(json!({
        "tls": "STRICT", "serverTrustMode": "NONE", "clientTrustMode": "NONE",
        "serverKeyStore": dir.path("junk.jks"), "serverKeyStorePassword": "pw",
    }));
    let message = error(tm_tls::server_tls(&config));
    assert!(
        message.contains("not a JKS or PKCS12 keystore"),
        "{message}"
    );
}

#[test]
fn a_keystore_without_password_is_refused() {
    let dir = Dir::new();
    std::fs::write(dir.path("some.jks"), b"x").expect("write");
    let config = server_config(json!({
        "tls": "STRICT", "serverTrustMode": "NONE", "clientTrustMode": "NONE",
        "serverKeyStore": dir.path("some.jks"),
    }));
    let message = error(tm_tls::server_tls(&config));
    assert!(message.contains("needs a password"), "{message}");
    assert!(message.contains("TESSERA_SERVER_KEYSTORE_PWD"), "{message}");
}

#[test]
fn trust_modes_must_be_given_and_known() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let mut ssl = pem_ssl(&node, &node, "NONE", "NONE");
    ssl.as_object_mut()
        .expect("object")
        .remove("serverTrustMode");
    let message = error(tm_tls::server_tls(&server_config(ssl)));
    assert!(message.contains("serverTrustMode is missing"), "{message}");
    let ssl = pem_ssl(&node, &node, "NONE", "SOMETIMES");
    let message = error(tm_tls::client_tls(&server_config(ssl)));
    assert!(
        message.contains("clientTrustMode \"SOMETIMES\""),
        "{message}"
    );
}

#[test]
fn whitelist_needs_an_existing_file_and_ca_needs_certificates() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let ssl = pem_ssl(&node, &node, "WHITELIST", "NONE");
    let message = error(tm_tls::server_tls(&server_config(ssl)));
    assert!(
        message.contains("WHITELIST needs sslConfig.knownClientsFile"),
        "{message}"
    );
    let ssl = pem_ssl(&node, &node, "NONE", "CA");
    let message = error(tm_tls::client_tls(&server_config(ssl)));
    assert!(
        message.contains("needs sslConfig.clientTrustStore or sslConfig.clientTrustCertificates"),
        "{message}"
    );
}

#[test]
fn bad_pem_files_are_named() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let mut ssl = pem_ssl(&node, &node, "NONE", "NONE");
    ssl["serverTlsCertificatePath"] = json!(node.key);
    let message = error(tm_tls::server_tls(&server_config(ssl)));
    assert!(message.contains("serverTlsCertificatePath"), "{message}");
    assert!(message.contains("no certificate found"), "{message}");
    let mut ssl = pem_ssl(&node, &node, "NONE", "NONE");
    ssl["serverTlsKeyPath"] = json!(dir.path("missing.key"));
    let message = error(tm_tls::server_tls(&server_config(ssl)));
    assert!(
        message.contains("serverTlsKeyPath") && message.contains("cannot read"),
        "{message}"
    );
    let other = self_signed(&dir, "other", "localhost");
    let mut ssl = pem_ssl(&node, &node, "NONE", "NONE");
    ssl["serverTlsKeyPath"] = json!(other.key);
    let message = error(tm_tls::server_tls(&server_config(ssl)));
    assert!(message.contains("the key cannot be used"), "{message}");
}

#[test]
fn a_malformed_known_hosts_file_is_refused() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    std::fs::write(dir.path("knownServers"), "just-one-field\n").expect("write");
    let mut ssl = pem_ssl(&node, &node, "NONE", "TOFU");
    ssl["knownServersFile"] = json!(dir.path("knownServers"));
    let message = error(tm_tls::client_tls(&server_config(ssl)));
    assert!(
        message.contains("knownServersFile") && message.contains("line 1"),
        "{message}"
    );
}
