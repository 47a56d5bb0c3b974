//! The remote enclave over TLS (docs/security.md, "TLS"): served with the `ENCLAVE` entry's
//! `sslConfig`, reached by the node's services with the client half of the same entry, and
//! only by clients whose certificate it trusts.
//!
//! Certificates are made with `openssl` (`tm_dev_support::tls`); without it these tests fail
//! saying so (`scripts/install-tls-tools.sh` installs it).

use std::time::Duration;

use tm_dev_support::tls::{https_client, strict, strict_with, Pki, Trust};
use tm_dev_support::{eventually, Service, TestNode};

fn status(client: &reqwest::blocking::Client, url: &str) -> Option<u16> {
    client.get(url).send().ok().map(|r| r.status().as_u16())
}

#[test]
fn the_remote_enclave_is_reachable_only_with_a_trusted_client_certificate() {
    let pki = Pki::temporary();
    let rogue = Pki::create(&pki.dir().join("rogue"));
    let ca = || Trust::Ca(vec![pki.ca_cert()]);
    let (enclave_pem, node_pem) = (pki.issue("enclave"), pki.issue("node"));

    let mut node = TestNode::new("tls-enclave", 1, &[]);
    node.use_remote_enclave();
    node.use_tls(&[Service::Enclave], &strict(&enclave_pem, &node_pem, ca()));
    node.start(Service::Enclave);
    let enclave = node.enclave_url();
    assert!(enclave.starts_with("https://"), "{enclave}");
    let ping = format!("{}/ping", enclave.trim_end_matches('/'));

    // The node's services reach it with the ENCLAVE entry's client half.
    node.start(Service::P2p);
    let ready = format!("{}readiness", node.p2p_url());
    let plain = reqwest::blocking::Client::new();
    assert!(
        eventually(Duration::from_secs(10), || status(&plain, &ready)
            == Some(200)),
        "the P2P service uses the enclave over TLS"
    );

    // A trusted client certificate: served. None, another CA's, or plain HTTP: refused.
    let trusted = https_client(&strict(&node_pem, &node_pem, ca()));
    assert_eq!(status(&trusted, &ping), Some(200));
    let stranger = rogue.issue("stranger");
    let untrusted = https_client(&strict_with(&stranger, &stranger, Trust::None, ca()));
    assert_eq!(
        status(&untrusted, &ping),
        None,
        "a certificate of another CA"
    );
    let anonymous = reqwest::blocking::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.ca_cert()).expect("CA"))
                .expect("PEM"),
        )
        .build()
        .expect("client");
    assert_eq!(status(&anonymous, &ping), None, "no client certificate");
    let http = ping.replacen("https://", "http://", 1);
    assert_eq!(status(&plain, &http), None, "plain HTTP");

    // A node service presenting a certificate the enclave does not trust: up, never ready.
    node.stop(Service::P2p);
    node.use_tls(&[Service::Enclave], &strict(&enclave_pem, &stranger, ca()));
    node.start(Service::P2p);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(status(&plain, &ready), Some(503), "the enclave refuses it");
    let body = plain
        .get(&ready)
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(body.contains("enclave"), "{body}");
}

#[test]
fn an_enclave_entry_that_would_serve_plain_http_refuses_to_start() {
    let mut node = TestNode::new("plain-enclave", 1, &[]);
    node.use_remote_enclave();
    let https = node.enclave_url().replacen("http://", "https://", 1);
    node.configure(|c| c.remote_enclave(&https));
    let e = node
        .try_start(Service::Enclave)
        .expect_err("an https address without TLS");
    assert_eq!(e.exit(), tm_config::cli::Exit::InvalidConfig, "{e}");
    assert!(e.to_string().contains("https"), "{e}");
}
