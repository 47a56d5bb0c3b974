//! Java keystores made by keytool (JKS and the JDK's default PKCS12), passwords from the
//! environment, and generated keystores.

use serde_json::json;

use crate::support::*;

/// A keystore with one RSA key entry, CN `cn`, valid for localhost and 127.0.0.1.
fn key_store(dir: &Dir, file: &str, store_type: &str, cn: &str, password: &str) {
    keytool(
        dir,
        &[
            "-genkeypair",
            "-keystore",
            file,
            "-storetype",
            store_type,
            "-storepass",
            password,
            "-keypass",
            password,
            "-alias",
            "node",
            "-keyalg",
            "RSA",
            "-keysize",
            "2048",
            "-validity",
            "30",
            "-dname",
            &format!("CN={cn}"),
            "-ext",
            "SAN=dns:localhost,ip:127.0.0.1",
            "-noprompt",
        ],
    );
}

/// A trust store holding the certificate of `alias` in `from`.
fn trust_store(dir: &Dir, from: &str, file: &str, store_type: &str, password: &str) {
    let cert = format!("{file}.crt");
    keytool(
        dir,
        &[
            "-exportcert",
            "-keystore",
            from,
            "-storepass",
            password,
            "-alias",
            "node",
            "-rfc",
            "-file",
            &cert,
        ],
    );
    keytool(
        dir,
        &[
            "-importcert",
            "-keystore",
            file,
            "-storetype",
            store_type,
            "-storepass",
            password,
            "-alias",
            "trusted",
            "-file",
            &cert,
            "-noprompt",
        ],
    );
}

#[test]
fn jks_and_pkcs12_keystores_and_trust_stores_from_keytool() {
    let dir = Dir::new();
    key_store(&dir, "server.jks", "JKS", "localhost", "secret1");
    key_store(&dir, "client.p12", "PKCS12", "localhost", "secret2");
    trust_store(&dir, "client.p12", "server-trust.jks", "JKS", "secret2");
    trust_store(&dir, "server.jks", "client-trust.p12", "PKCS12", "secret1");
    let config = server_config(json!({
        "tls": "STRICT",
        "serverKeyStore": dir.path("server.jks"),
        "serverKeyStorePassword": "secret1",
        "serverTrustStore": dir.path("server-trust.jks"),
        "serverTrustStorePassword": "secret2",
        "serverTrustMode": "CA",
        "clientKeyStore": dir.path("client.p12"),
        "clientKeyStorePassword": "secret2",
        "clientTrustStore": dir.path("client-trust.p12"),
        "clientTrustStorePassword": "secret1",
        "clientTrustMode": "CA",
    }));
    handshake(&server(&config), &client(&config), "localhost").expect("keystores work");
}

#[test]
fn a_wrong_keystore_password_is_one_clear_message_without_the_password() {
    let dir = Dir::new();
    key_store(&dir, "server.jks", "JKS", "localhost", "right-one");
    key_store(&dir, "client.p12", "PKCS12", "localhost", "right-one");
    for (field, file) in [
        ("serverKeyStore", "server.jks"),
        ("clientKeyStore", "client.p12"),
    ] {
        let config = server_config(json!({
            "tls": "STRICT",
            field: dir.path(file),
            format!("{field}Password"): "wrong-one",
            "serverTrustMode": "NONE",
            "clientTrustMode": "NONE",
        }));
        let message = if field.starts_with("server") {
            error(tm_tls::server_tls(&config))
        } else {
            error(tm_tls::client_tls(&config))
        };
        assert!(message.contains(field), "{message}");
        assert!(message.contains("wrong password"), "{message}");
        assert!(!message.contains("wrong-one"), "{message}");
    }
}

#[test]
fn passwords_come_from_prefixed_variables_before_the_config() {
    let dir = Dir::new();
    key_store(&dir, "server.jks", "JKS", "localhost", "from-env");
    // Unique to this test, so no other test reads it.
    std::env::set_var("TLSTEST1_TESSERA_SERVER_KEYSTORE_PWD", "from-env");
    let config = server_config(json!({
        "tls": "STRICT",
        "environmentVariablePrefix": "TLSTEST1",
        "serverKeyStore": dir.path("server.jks"),
        "serverKeyStorePassword": "not-this-one",
        "serverTrustMode": "NONE",
        "clientTrustMode": "NONE",
    }));
    tm_tls::server_tls(&config).expect("the prefixed variable wins");
}

#[test]
fn a_missing_keystore_is_generated_as_tessera_does_and_reused() {
    let dir = Dir::new();
    let store = dir.path("generated/server.jks");
    let mut config = server_config(json!({
        "tls": "STRICT",
        "generateKeyStoreIfNotExisted": true,
        "serverKeyStore": store,
        "serverKeyStorePassword": "tessera",
        "serverTrustMode": "NONE",
        "clientKeyStore": dir.path("generated/client.jks"),
        "clientKeyStorePassword": "tessera",
        "clientTrustMode": "TOFU",
        "knownServersFile": dir.path("knownServers"),
    }));
    config.binding_address = Some("https://localhost:9001".into());
    let tls = server(&config);
    let bytes = std::fs::read(&store).expect("written");
    assert_eq!(&bytes[..4], &[0xfe, 0xed, 0xfe, 0xed], "JKS");
    let listing = keytool(
        &dir,
        &[
            "-list",
            "-v",
            "-keystore",
            path_str(&store),
            "-storepass",
            "tessera",
        ],
    );
    assert!(listing.contains("Alias name: tessera"), "{listing}");
    assert!(listing.contains("CN=localhost:9001"), "{listing}");
    assert!(listing.contains("127.0.0.1"), "{listing}");

    // TOFU between generated identities, then the same files after a restart.
    handshake(&tls, &client(&config), "localhost").expect("generated identities");
    assert!(dir.text("knownServers").starts_with("localhost:9001 "));
    handshake(&server(&config), &client(&config), "localhost").expect("reused after restart");
}
