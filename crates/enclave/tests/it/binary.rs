//! The `enclave` binary's command line: `--dump-config`, overrides, exit codes.

use std::process::Command;

use serde_json::Value;

use crate::support::{keys, remote, write_config, EnclaveProcess};

/// The port in configs of enclaves that are refused before they listen (nothing binds it).
const NEVER_LISTENED_ON: u16 = 9081;

fn enclave(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run enclave")
}

#[test]
fn dump_config_prints_the_effective_config_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 9081);
    let path = config.to_str().expect("utf-8");
    let out = enclave(&[
        "-configfile",
        path,
        "-o",
        "serverConfigs[0].bindingAddress=http://127.0.0.1:19081",
        "--override",
        "jdbc.url=jdbc:sqlite:x.db",
        "--dump-config",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let dumped: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    let server = &dumped["serverConfigs"][0];
    assert_eq!(server["app"], "ENCLAVE");
    assert_eq!(server["serverAddress"], "http://127.0.0.1:9081");
    assert_eq!(server["bindingAddress"], "http://127.0.0.1:19081");
    assert_eq!(dumped["jdbc"]["url"], "jdbc:sqlite:x.db");
    // Defaults are shown.
    assert_eq!(dumped["mode"], "tessera");
    assert_eq!(dumped["useWhiteList"], false);
    assert_eq!(dumped["features"]["enablePrivacyEnhancements"], false);
    assert_eq!(dumped["alwaysSendTo"][0], keys().c.public.to_base64());
    // Secrets are not.
    let k = keys();
    for secret in [&k.a.private, &k.b.private] {
        let text = secret.expose_base64();
        assert!(!stdout.contains(text.as_str()), "private key printed");
        assert!(!String::from_utf8_lossy(&out.stderr).contains(text.as_str()));
    }
    assert_eq!(dumped["keys"]["keyData"][0]["privateKey"], "<redacted>");
    assert_eq!(
        dumped["keys"]["keyData"][1]["config"]["data"]["bytes"],
        "<redacted>"
    );
    assert_eq!(
        dumped["keys"]["keyData"][1]["publicKey"],
        k.b.public.to_base64()
    );

    // The double-dash spelling and the alias work the same.
    let out = enclave(&["--configfile", path, "--dump-config"]);
    assert!(out.status.success());
    let out = enclave(&["--config-file", path, "--dump-config"]);
    assert!(out.status.success());
}

#[test]
fn an_invalid_config_exits_1_listing_every_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.json");
    std::fs::write(
        &path,
        r#"{"serverConfigs":[{"app":"ENCLAVE","serverAddress":"http://localhost"}],
            "keys":{"passwords":["hunter2"],"keyData":[]},"alwaysSendTo":["***"]}"#,
    )
    .expect("write");
    let out = enclave(&["-configfile", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for needle in [
        "serverConfigs[0].serverAddress",
        "keys.passwords",
        "keys.keyData At least 1 public/private key pair must be provided",
        "alwaysSendTo[0]",
    ] {
        assert!(stderr.contains(needle), "{needle} missing from:\n{stderr}");
    }
    assert!(!stderr.contains("hunter2"));
}

#[test]
fn unreadable_config_and_bad_command_lines() {
    let out = enclave(&["-configfile", "/no/such/config.json"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/config.json"));

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("c.json");
    std::fs::write(&path, "{ nope").expect("write");
    let out = enclave(&["-configfile", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(3));

    let config = write_config(dir.path(), NEVER_LISTENED_ON);
    let out = enclave(&["-configfile", config.to_str().expect("utf-8"), "-o", "peer"]);
    assert_eq!(out.status.code(), Some(4));

    let out = enclave(&[]);
    assert_eq!(out.status.code(), Some(4), "the config file is required");
    let out = enclave(&["--help"]);
    assert!(out.status.success());
}

#[test]
fn locked_key_without_password_and_no_terminal_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pair = tm_core::KeyPair::generate().expect("pair");
    let options = tm_core::keyfile::ArgonOptions {
        variant: "id".into(),
        iterations: 1,
        memory: 64,
        parallelism: 1,
    };
    let locked =
        tm_core::keyfile::PrivateKeyFile::locked(&pair.private, "pw", options).expect("lock");
    let config = tm_config::Config {
        server_configs: Some(vec![tm_config::ServerConfig {
            app: Some(tm_config::AppType::Enclave),
            server_address: Some(format!("http://127.0.0.1:{NEVER_LISTENED_ON}")),
            ..Default::default()
        }]),
        keys: Some(tm_config::KeyConfiguration {
            key_data: Some(vec![tm_config::KeyData {
                config: Some(locked),
                public_key: Some(pair.public.to_base64()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    };
    let path = dir.path().join("locked.json");
    std::fs::write(&path, config.to_tessera_json()).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["-configfile", path.to_str().expect("utf-8")])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("keys.keyData[0]: the private key is locked and no password was given"),
        "{stderr}"
    );
}

#[tokio::test]
async fn on_port_0_it_listens_where_the_kernel_says_and_logs_that_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (process, port) = EnclaveProcess::launch(&write_config(dir.path(), 0)).await;
    assert_ne!(port, 0);
    assert!(
        process.log().contains(&format!("127.0.0.1:{port}")),
        "{}",
        process.log()
    );
    assert_eq!(
        remote(port).default_public_key().await.expect("serves"),
        keys().a.public
    );
}
