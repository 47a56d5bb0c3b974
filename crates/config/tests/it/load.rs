//! Reading, defaults, validation, overrides and unknown keys.

use serde_json::{json, Value};
use tm_config::{
    load_str, load_value, parse_typed, validate, AppType, ClientMode, ConfigError, EnvOverrides,
    LoadOptions, Profile, Scheme, ServerAddress,
};

use crate::support::{example_config, minimal_node, options, vector};

fn violations(value: Value, profile: Profile) -> Vec<String> {
    match load_value(value, &options(profile)) {
        Err(ConfigError::Invalid(list)) => list
            .iter()
            .map(|v| format!("{} {}", v.path, v.message))
            .collect(),
        Err(other) => panic!("expected validation errors, got {other}"),
        Ok(_) => Vec::new(),
    }
}

fn has(list: &[String], needle: &str) -> bool {
    list.iter().any(|v| v.contains(needle))
}

#[test]
fn spec_example_config_is_read_and_its_problems_listed() {
    let value = example_config();
    let (config, unknown) = parse_typed(value.clone()).expect("typed");
    assert!(unknown.is_empty(), "all members known: {unknown:?}");
    assert_eq!(config.server_configs().len(), 3);
    assert_eq!(
        config
            .server(AppType::ThirdParty)
            .and_then(|s| s.cors.as_ref())
            .and_then(|c| c.allow_credentials),
        Some(true)
    );
    let q2t = config.server(AppType::Q2T).expect("q2t");
    assert_eq!(
        q2t.server_address().expect("addr"),
        ServerAddress::Unix("/var/run/tessera/tm.ipc".into())
    );
    let p2p = config.server(AppType::P2P).expect("p2p");
    assert!(p2p.is_tls());
    assert_eq!(p2p.property_millis("partyInfoInterval", 1), 5000);
    assert_eq!(
        p2p.binding_address().expect("binding"),
        ServerAddress::Tcp {
            scheme: Scheme::Https,
            host: "0.0.0.0".into(),
            port: 9000
        }
    );
    assert!(config.features.enable_privacy_enhancements);
    assert_eq!(config.mode, ClientMode::Tessera);
    // The example refers to files and a vault that do not exist here: every problem is listed.
    let list = violations(value, Profile::Node);
    assert!(
        has(&list, "keys.passwordFile Password file does not exist"),
        "{list:?}"
    );
    assert!(
        has(&list, "keys.keyVaultConfigs key vaults are not supported"),
        "{list:?}"
    );
    assert!(
        has(&list, "keys.keyData[0].privateKeyPath File does not exist"),
        "{list:?}"
    );
    assert!(
        has(
            &list,
            "keys.keyData[2] HASHICORP vault keys are not supported"
        ),
        "{list:?}"
    );
    assert_eq!(list.len(), 5, "{list:?}");
}

#[test]
fn vector_config_shapes_are_read() {
    let shapes = vector("keys/unlocked-key-and-configs.json");
    for name in [
        "inline_unlocked_config_example",
        "inline_direct_config_example",
    ] {
        let mut config = minimal_node();
        config["keys"] = shapes[name]["keys"].clone();
        let loaded = load_value(config, &options(Profile::Node)).expect(name);
        assert_eq!(loaded.config.keys.expect("keys").key_data().len(), 1);
    }
}

#[test]
fn defaults_are_tesseras() {
    let loaded = load_value(minimal_node(), &options(Profile::Node)).expect("valid");
    let config = loaded.config;
    assert!(!config.use_white_list && !config.disable_peer_discovery && !config.bootstrap_node);
    assert_eq!(config.features, Default::default());
    assert_eq!(config.mode, ClientMode::Tessera);
    assert!(config.always_send_to.is_empty());
    assert!(config.encryptor.is_none());
    let jdbc = config.jdbc.as_ref().expect("jdbc");
    assert!(!jdbc.auto_create_tables);
    assert_eq!(jdbc.fetch_size, 0);
    let p2p = config.server(AppType::P2P).expect("p2p");
    assert_eq!(p2p.binding_address(), p2p.server_address());
    assert_eq!(p2p.property_millis("partyInfoInterval", 5000), 5000);
    assert!(!p2p.is_tls());
    assert!(config.server(AppType::Enclave).is_none());
    assert!(!config.uses_remote_enclave());
}

#[test]
fn strings_for_booleans_and_numbers_are_accepted() {
    let mut value = minimal_node();
    value["useWhiteList"] = json!("true");
    value["jdbc"]["autoCreateTables"] = json!("true");
    value["jdbc"]["fetchSize"] = json!("100");
    value["serverConfigs"][1]["properties"] = json!({ "partyInfoInterval": 3000, "x": "nan" });
    let config = load_value(value, &options(Profile::Node))
        .expect("valid")
        .config;
    assert!(config.use_white_list);
    let jdbc = config.jdbc.as_ref().expect("jdbc");
    assert!(jdbc.auto_create_tables);
    assert_eq!(jdbc.fetch_size, 100);
    let p2p = config.server(AppType::P2P).expect("p2p");
    assert_eq!(p2p.property_millis("partyInfoInterval", 5000), 3000);
    assert_eq!(
        p2p.property_millis("x", 7),
        7,
        "unparseable falls back to the default"
    );
}

#[test]
fn every_validation_error_is_reported_at_once() {
    let value = json!({
        "serverConfigs": [
            { "app": "ADMIN", "serverAddress": "http://localhost:9999" },
            { "app": "P2P", "serverAddress": "http://0.0.0.0:9001", "cors": {} },
            { "app": "P2P", "serverAddress": "ftp://x:1", "bindingAddress": "unix:/x" },
            { "app": "Q2T", "serverAddress": "http://localhost", "communicationType": "GRPC",
              "sslConfig": { "tls": "MAYBE" } },
            { "serverAddress": "http://localhost:1" }
        ],
        "peer": [ { "url": "not a url" } ],
        "alwaysSendTo": [ "***" ],
        "mode": "besu",
        "encryptor": { "type": "EC" },
        "residentGroups": [ { "name": "", "members": ["%%"] } ],
        "keys": {
            "passwords": ["secret-password"],
            "passwordFile": "/does/not/exist",
            "keyData": [
                {},
                { "privateKey": "c2VjcmV0LWtleQ==", "publicKey": "no!pe" },
                { "privateKeyPath": "/no/such.key" },
                { "awsSecretsManagerPublicKeyId": "a", "awsSecretsManagerPrivateKeyId": "b" },
                { "privateKey": "x", "config": { "type": "unlocked", "data": { "bytes": "x" } }, "publicKey": "x" }
            ]
        }
    });
    let list = violations(value, Profile::Node);
    let expected = [
        "jdbc must not be null",
        "serverConfigs Exactly one P2P server must be configured.",
        "serverConfigs[0].app app must be provided",
        "serverConfigs[4].app app must be provided",
        "serverConfigs[1].serverAddress Server Address is invalid: 0.0.0.0",
        "serverConfigs[1].cors CrossDomainConfig is only allowed in ThirdParty server",
        "serverConfigs[2].serverAddress Server Address is invalid: unsupported scheme",
        "serverConfigs[2].bindingAddress Binding Address is invalid",
        "serverConfigs[3].serverAddress Server Address is invalid: \"http://localhost\" must include a port",
        "serverConfigs[3].communicationType \"GRPC\" is not supported",
        "serverConfigs[3].sslConfig.tls \"MAYBE\" is not one of STRICT, OFF",
        "peer[0].url URL is not valid",
        "alwaysSendTo[0] Invalid Base64 key provided",
        "mode \"besu\" is not one of tessera, orion",
        "encryptor.type EC is not supported",
        "residentGroups[0].name must not be null",
        "residentGroups[0].members[0] Invalid Base64 key provided",
        "keys.passwords For security reasons, passwords should not be provided directly",
        "keys.passwordFile Password file does not exist",
        "keys.keyData[0] no key given",
        "keys.keyData[1].publicKey Invalid Base64 key provided",
        "keys.keyData[1].privateKey is not a base64 32-byte private key",
        "keys.keyData[2].privateKeyPath File does not exist",
        "keys.keyData[2].publicKeyPath must be set",
        "keys.keyData[3] AWS vault keys are not supported",
        "keys.keyData[4] give only one of",
    ];
    for needle in expected {
        assert!(has(&list, needle), "missing {needle:?} in {list:#?}");
    }
    // Secrets never appear in the messages.
    let all = list.join("\n");
    assert!(
        !all.contains("secret-password") && !all.contains("c2VjcmV0LWtleQ=="),
        "{all}"
    );
}

#[test]
fn node_rules_on_servers_and_keys() {
    let mut no_q2t = minimal_node();
    no_q2t["serverConfigs"]
        .as_array_mut()
        .expect("list")
        .remove(0);
    let list = violations(no_q2t.clone(), Profile::Node);
    assert!(
        has(
            &list,
            "At least one Q2T server must be configured or bootstrap mode enabled."
        ),
        "{list:?}"
    );
    no_q2t["bootstrapNode"] = json!(true);
    assert!(
        violations(no_q2t, Profile::Node).is_empty(),
        "a bootstrap node needs no Q2T"
    );

    let mut bootstrap_with_q2t = minimal_node();
    bootstrap_with_q2t["bootstrapNode"] = json!(true);
    let list = violations(bootstrap_with_q2t, Profile::Node);
    assert!(
        has(&list, "Q2T server cannot be specified on a bootstrap node."),
        "{list:?}"
    );

    let mut no_keys = minimal_node();
    no_keys.as_object_mut().expect("object").remove("keys");
    let list = violations(no_keys.clone(), Profile::Node);
    assert!(has(&list, "keys must be provided"), "{list:?}");
    no_keys["serverConfigs"]
        .as_array_mut()
        .expect("list")
        .push(json!({
            "app": "ENCLAVE", "serverAddress": "http://localhost:9081", "communicationType": "REST"
        }));
    let config = load_value(no_keys, &options(Profile::Node))
        .expect("remote enclave instead of keys")
        .config;
    assert!(config.uses_remote_enclave());

    let mut empty_keys = minimal_node();
    empty_keys["keys"] = json!({ "keyData": [] });
    let list = violations(empty_keys, Profile::Node);
    assert!(
        has(&list, "At least 1 public/private key pair must be provided"),
        "{list:?}"
    );

    let mut no_peer = minimal_node();
    no_peer.as_object_mut().expect("object").remove("peer");
    assert!(has(
        &violations(no_peer, Profile::Node),
        "peer must not be null"
    ));
}

#[test]
fn enclave_profile_needs_keys_and_a_server_but_no_database() {
    let enclave = json!({
        "serverConfigs": [ { "app": "ENCLAVE", "serverAddress": "http://localhost:9081" } ],
        "keys": minimal_node()["keys"].clone()
    });
    assert!(violations(enclave, Profile::Enclave).is_empty());
    let list = violations(json!({}), Profile::Enclave);
    assert!(
        has(&list, "serverConfigs an ENCLAVE server must be configured"),
        "{list:?}"
    );
    assert!(has(&list, "keys must be provided"), "{list:?}");
}

#[test]
fn invalid_json_and_wrong_types_are_config_errors() {
    let err = load_str("{ not json", &options(Profile::Node)).expect_err("bad json");
    assert_eq!(err.exit().code(), 3);
    let mut value = minimal_node();
    value["useWhiteList"] = json!("perhaps");
    let err = load_value(value, &options(Profile::Node)).expect_err("bad bool");
    assert!(err.to_string().contains("useWhiteList"), "{err}");
    assert_eq!(err.exit().code(), 3);
    let err = load_value(json!({}), &options(Profile::Node)).expect_err("invalid");
    assert_eq!(err.exit().code(), 1);
    assert!(
        err.to_string()
            .lines()
            .all(|l| l.starts_with("Config validation issue: ")),
        "{err}"
    );
}

#[test]
fn overrides_change_the_tree_before_typing() {
    let options = LoadOptions {
        overrides: vec![
            "jdbc.url=jdbc:postgresql://db/tessera".into(),
            "serverConfigs[1].serverAddress=http://127.0.0.1:9999".into(),
            "peer[1].url=http://peer2:9001".into(),
            "peer[0].url=http://peer1:9001".into(),
            "useWhiteList=true".into(),
            "features.enableRemoteKeyValidation=TRUE".into(),
            "mode=orion".into(),
            "alwaysSendTo[0]=/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc=".into(),
        ],
        env: EnvOverrides::Disabled,
        profile: Profile::Node,
    };
    let config = load_value(minimal_node(), &options).expect("valid").config;
    assert_eq!(
        config.jdbc.as_ref().and_then(|j| j.url.as_deref()),
        Some("jdbc:postgresql://db/tessera")
    );
    assert_eq!(
        config
            .server(AppType::P2P)
            .expect("p2p")
            .server_address()
            .expect("addr")
            .host_port()
            .as_deref(),
        Some("127.0.0.1:9999")
    );
    let peers = config.peer.as_ref().expect("peers");
    assert_eq!(peers.len(), 2, "the list grows to the index");
    assert_eq!(peers[1].url, "http://peer2:9001");
    assert_eq!(peers[0].url, "http://peer1:9001");
    assert!(config.use_white_list);
    assert!(config.features.enable_remote_key_validation);
    assert_eq!(config.mode, ClientMode::Orion);
    assert_eq!(config.always_send_to.len(), 1);
}

#[test]
fn bad_overrides_are_cli_errors() {
    for bad in [
        "no-equals-sign",
        "peer=http://x:1",
        "peer[x].url=1",
        "=1",
        "a[1.b=2",
    ] {
        let options = LoadOptions {
            overrides: vec![bad.into()],
            env: EnvOverrides::Disabled,
            profile: Profile::Node,
        };
        let err = load_value(minimal_node(), &options).expect_err(bad);
        assert_eq!(err.exit().code(), 4, "{bad}: {err}");
    }
    let grown = LoadOptions {
        overrides: vec!["peer[0].url=".into()],
        env: EnvOverrides::Disabled,
        profile: Profile::Node,
    };
    let list = match load_value(minimal_node(), &grown) {
        Err(ConfigError::Invalid(list)) => list,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        list[0].path, "peer[0].url",
        "a grown element is validated like any other"
    );
    let options = LoadOptions {
        overrides: vec!["peer=http://x:1".into()],
        env: EnvOverrides::Disabled,
        profile: Profile::Node,
    };
    let err = load_value(minimal_node(), &options).expect_err("collection");
    assert!(err
        .to_string()
        .contains("position not provided for Collection parameter override"));
}

#[test]
fn environment_variables_override_through_the_config_crate() {
    let options = LoadOptions {
        overrides: vec!["jdbc.username=from-cli".into()],
        env: EnvOverrides::Vars(vec![
            (
                "TESSERA__JDBC__URL".into(),
                "jdbc:sqlite:from-env.db".into(),
            ),
            ("TESSERA__JDBC__USERNAME".into(), "from-env".into()),
            (
                "TESSERA__SERVERCONFIGS__1__SERVERADDRESS".into(),
                "http://localhost:7777".into(),
            ),
            ("TESSERA__DISABLEPEERDISCOVERY".into(), "true".into()),
            ("TESSERA_CONFIG_SECRET".into(), "/not/an/override".into()),
            ("UNRELATED".into(), "x".into()),
        ]),
        profile: Profile::Node,
    };
    let loaded = load_value(minimal_node(), &options).expect("valid");
    let config = loaded.config;
    let jdbc = config.jdbc.as_ref().expect("jdbc");
    assert_eq!(jdbc.url.as_deref(), Some("jdbc:sqlite:from-env.db"));
    assert_eq!(
        jdbc.username.as_deref(),
        Some("from-cli"),
        "-o wins over the environment"
    );
    assert_eq!(
        config
            .server(AppType::P2P)
            .expect("p2p")
            .server_address
            .as_deref(),
        Some("http://localhost:7777"),
        "case restored, index applied"
    );
    assert!(config.disable_peer_discovery);
    assert!(loaded.unknown_keys.is_empty(), "{:?}", loaded.unknown_keys);
}

#[test]
fn unknown_keys_are_reported_and_ignored() {
    let mut value = minimal_node();
    value["serverConfigs"][0]["enabled"] = json!(true);
    value["serverConfigs"][1]["enabled"] = json!(true);
    value["unixSocketFile"] = json!("/tmp/old.ipc");
    value["jdbc"]["poolSize"] = json!(4);
    let loaded = load_value(value, &options(Profile::Node)).expect("still valid");
    assert_eq!(
        loaded.unknown_keys,
        vec![
            "jdbc.poolSize".to_string(),
            "serverConfigs[0].enabled".to_string(),
            "serverConfigs[1].enabled".to_string(),
            "unixSocketFile".to_string(),
        ]
    );
}

#[test]
fn addresses_parse_as_tessera_accepts_them() {
    let tcp = |s: &str| ServerAddress::parse(s).expect(s);
    assert_eq!(
        tcp("http://localhost:9081").host_port().as_deref(),
        Some("localhost:9081")
    );
    assert_eq!(
        tcp("https://[::1]:443").host_port().as_deref(),
        Some("[::1]:443")
    );
    assert_eq!(
        tcp("http://example.com:80/").host_port().as_deref(),
        Some("example.com:80")
    );
    assert_eq!(
        tcp("unix:/tmp/a.ipc"),
        ServerAddress::Unix("/tmp/a.ipc".into())
    );
    assert_eq!(
        tcp("unix:///tmp/a.ipc"),
        ServerAddress::Unix("/tmp/a.ipc".into())
    );
    let relative = tcp("unix:rel.ipc");
    assert_eq!(
        relative,
        ServerAddress::Unix(std::env::current_dir().expect("cwd").join("rel.ipc"))
    );
    assert!(relative.is_unix() && relative.base_url().is_none());
    assert_eq!(
        tcp("http://127.0.0.1:1").base_url().expect("url").as_str(),
        "http://127.0.0.1:1/"
    );
    for bad in [
        "",
        "http://localhost",
        "ftp://a:1",
        "unix://host/x",
        "unix:",
        "nonsense",
    ] {
        assert!(
            ServerAddress::parse(bad).is_err(),
            "{bad:?} should be rejected"
        );
    }
}

#[test]
fn secrets_never_show_in_debug_or_the_dump() {
    let mut value = minimal_node();
    value["jdbc"]["password"] = json!("db-pass-123");
    value["jdbc"]["url"] = json!("jdbc:postgresql://u:urlpass@db/x?password=qpass&ssl=true");
    value["keys"]["keyData"].as_array_mut().expect("list").push(json!({
        "config": { "type": "unlocked", "data": { "bytes": "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=" } },
        "publicKey": "/+UuD63zItL1EbjxkKUljMgG8Z1w0AJ8pNOR4iq2yQc="
    }));
    value["serverConfigs"][1]["sslConfig"] =
        json!({ "tls": "OFF", "serverKeyStorePassword": "ks-pass" });
    let private = minimal_node()["keys"]["keyData"][0]["privateKey"]
        .as_str()
        .expect("key")
        .to_string();
    let config = load_value(value, &options(Profile::Node))
        .expect("valid")
        .config;
    let dump = config.to_redacted_json();
    let debug = format!("{config:?}");
    for secret in [
        "db-pass-123",
        "urlpass",
        "qpass",
        "ks-pass",
        "Wl+xSyXVuuqzpvznOS7dOobhcn4C5auxkFRi7yLtgtA=",
        private.as_str(),
    ] {
        assert!(!dump.contains(secret), "{secret} in dump:\n{dump}");
        assert!(!debug.contains(secret), "{secret} in debug");
    }
    assert!(dump.contains("<redacted>"));
    assert!(
        dump.contains("ssl=true"),
        "the rest of the URL is kept: {dump}"
    );
    // The dump is itself a config that reads back.
    let back: Value = serde_json::from_str(&dump).expect("json");
    assert!(parse_typed(back).is_ok());
}

#[test]
fn validate_is_callable_on_its_own() {
    let (config, _) = parse_typed(minimal_node()).expect("typed");
    assert!(validate(&config, Profile::Node).is_empty());
}
