//! TLS on the P2P service and its client (docs/security.md, "TLS"): never a silent plaintext
//! server; mutual TLS between nodes in each of Tessera's trust modes.
//!
//! The certificates are made with `openssl` (`tm_dev_support::tls`); without it these tests
//! fail saying so (`scripts/install-tls-tools.sh` installs it).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tm_client::p2p::PartyInfoJson;
use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_config::{AppType, SslConfig};
use tm_core::PublicKey;
use tm_dev_support::tls::{https_client, known_host_line, strict, strict_with, Pem, Pki, Trust};
use tm_dev_support::{block_on, eventually, Service, TestNode};
use tm_http::StartError;

use crate::support::DISCOVERY;

fn refused(node: &mut TestNode, service: Service) -> StartError {
    match node.try_start(service) {
        Ok(()) => panic!("{service:?} started, but its config asks for what it cannot serve"),
        Err(e) => e,
    }
}

/// The status of `GET <base>upcheck` with `client`, or the error's text.
fn upcheck_with(client: &reqwest::blocking::Client, base: &str) -> Result<u16, String> {
    client
        .get(format!("{base}upcheck"))
        .send()
        .map(|r| r.status().as_u16())
        .map_err(|e| error_chain(&e))
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `GET /partyinfo` of a node over TLS.
fn party(client: &reqwest::blocking::Client, base: &str) -> Option<PartyInfoJson> {
    client
        .get(format!("{base}partyinfo"))
        .send()
        .ok()
        .filter(|r| r.status().is_success())
        .and_then(|r| r.json().ok())
}

fn knows(client: &reqwest::blocking::Client, base: &str, key: &PublicKey) -> bool {
    party(client, base).is_some_and(|p| p.keys.iter().any(|k| &k.key == key))
}

/// A node whose P2P server and client use `ssl`.
fn tls_node(name: &str, peers: &[String], ssl: &SslConfig) -> TestNode {
    let mut node = TestNode::new(name, 1, peers);
    node.use_tls(&[Service::P2p], ssl);
    node
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn a_server_that_would_serve_plain_http_for_tls_refuses_to_start() {
    let mut node = TestNode::new("plain", 1, &[]);
    let https = node.p2p_url().replacen("http://", "https://", 1);
    node.configure(|c| c.p2p(https.trim_end_matches('/')));
    let e = refused(&mut node, Service::P2p);
    assert_eq!(e.exit(), tm_config::cli::Exit::InvalidConfig, "{e}");
    assert!(e.to_string().contains("https but sslConfig.tls is"), "{e}");

    // TLS on a unix socket cannot be served: refused, not served plain.
    let mut node = TestNode::new("unix", 1, &[]);
    let pki = Pki::create(&node.dir.path().join("pki"));
    let pem = pki.issue("plain");
    node.use_q2t_unix_socket();
    node.configure(|c| c.ssl(AppType::Q2T, strict(&pem, &pem, Trust::None)));
    let e = refused(&mut node, Service::Q2t);
    assert_eq!(e.exit(), tm_config::cli::Exit::InvalidConfig, "{e}");
    assert!(e.to_string().contains("unix socket"), "{e}");

    // STRICT without usable key material: exit 1 with the reason, not a plain server.
    let mut node = TestNode::new("no-key", 1, &[]);
    let missing = Pem {
        key: node.dir.path().join("missing.key"),
        cert: node.dir.path().join("missing.pem"),
    };
    node.use_tls(&[Service::P2p], &strict(&missing, &pem, Trust::None));
    let e = refused(&mut node, Service::P2p);
    assert_eq!(e.exit(), tm_config::cli::Exit::InvalidConfig, "{e}");
    assert!(e.to_string().contains("missing."), "{e}");
}

/// Two STRICT nodes in CA mode find each other and deliver a send; a STRICT server refuses
/// plain HTTP, clients without a certificate and clients the CA does not vouch for; a node
/// with a certificate of another CA is refused both as a client and as a server.
#[test]
fn strict_nodes_in_ca_mode_discover_each_other_and_deliver_a_send() {
    let pki = Pki::temporary();
    let rogue = Pki::create(&pki.dir().join("rogue"));
    let ca = || Trust::Ca(vec![pki.ca_cert()]);
    let (a_pem, b_pem) = (pki.issue("node-a"), pki.issue("node-b"));

    let mut a = tls_node("tls-a", &[], &strict(&a_pem, &a_pem, ca()));
    a.start(Service::P2p).start(Service::Q2t);
    let a_url = a.p2p_url();
    assert!(a_url.starts_with("https://"), "{a_url}");
    let mut b = tls_node(
        "tls-b",
        std::slice::from_ref(&a_url),
        &strict(&b_pem, &b_pem, ca()),
    );
    b.start(Service::P2p).start(Service::Q2t);
    // A node whose certificate another CA signed; it trusts both CAs, so only A's side
    // refuses: A's server its client certificate, A's client its server certificate.
    let c_pem = rogue.issue("node-c");
    let both = Trust::Ca(vec![pki.ca_cert(), rogue.ca_cert()]);
    let mut c = tls_node(
        "tls-c",
        std::slice::from_ref(&a_url),
        &strict(&c_pem, &c_pem, both),
    );
    c.start(Service::P2p);
    let c_url = c.p2p_url();
    a.set_peers(std::slice::from_ref(&c_url));
    a.stop(Service::P2p);
    a.start(Service::P2p);

    let trusted = https_client(&strict(&a_pem, &a_pem, ca()));
    let a_key = a.keys[0].public.clone();
    let b_key = b.keys[0].public.clone();
    let c_key = c.keys[0].public.clone();
    assert!(
        eventually(DISCOVERY, || knows(&trusted, &a_url, &b_key)
            && knows(&trusted, &b.p2p_url(), &a_key)),
        "A and B find each other over TLS"
    );

    // A send from A's Q2T to B is pushed over TLS and received on B.
    let q2t_a = Q2tClient::tcp(&a.q2t_url()).expect("Q2T client");
    let sent = block_on(q2t_a.send(
        &SendRequest::new(b"over TLS".to_vec(), std::slice::from_ref(&b_key)),
        MediaType::Json,
    ))
    .expect("A sends to B");
    let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("a hash");
    let q2t_b = Q2tClient::tcp(&b.q2t_url()).expect("Q2T client");
    let received = block_on(q2t_b.receive(&hash, None, false, MediaType::Json)).expect("B has it");
    assert_eq!(received.payload, b"over TLS");

    // Plain HTTP to the TLS port: no answer.
    let plain = a_url.replacen("https://", "http://", 1);
    let error = reqwest::blocking::get(format!("{plain}upcheck")).expect_err("plain HTTP refused");
    assert!(!error_chain(&error).is_empty());
    // TLS without a client certificate, or with one the CA did not sign: refused.
    let anonymous = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(pki.ca_cert()).expect("CA"))
                .expect("PEM"),
        )
        .build()
        .expect("client");
    assert!(
        upcheck_with(&anonymous, &a_url).is_err(),
        "no client certificate"
    );
    let stranger = rogue.issue("stranger");
    let untrusted = https_client(&strict_with(&stranger, &stranger, Trust::None, ca()));
    assert!(upcheck_with(&untrusted, &a_url).is_err(), "another CA");
    assert_eq!(upcheck_with(&trusted, &a_url), Ok(200));

    // C: A refuses it both ways, so neither learns the other's keys, while A and B still do.
    std::thread::sleep(Duration::from_secs(3));
    assert!(!knows(&trusted, &a_url, &c_key), "A must not learn C's key");
    let c_client = https_client(&strict(&c_pem, &c_pem, Trust::None));
    assert!(
        !knows(&c_client, &c_url, &a_key),
        "C must not learn A's key"
    );
    assert!(knows(&trusted, &a_url, &b_key));
}

/// TOFU: the first certificate seen for a CN is recorded in Tessera's known-hosts format, on
/// both sides; after a restart the files are read back, the recorded certificate is accepted
/// and another certificate with the same CN is refused.
#[test]
fn tofu_records_peers_in_tesseras_format_and_holds_to_them_after_a_restart() {
    let pki = Pki::temporary();
    let dir = pki.dir();
    let (a_pem, b_pem) = (pki.self_signed("node-a"), pki.self_signed("node-b"));
    let files = |name: &str| {
        (
            dir.join(format!("{name}-knownClients")),
            dir.join(format!("{name}-knownServers")),
        )
    };
    let tofu = |pem: &Pem, name: &str| {
        let (clients, servers) = files(name);
        strict_with(pem, pem, Trust::Tofu(clients), Trust::Tofu(servers))
    };
    let mut a = tls_node("tofu-a", &[], &tofu(&a_pem, "a"));
    a.start(Service::P2p);
    let mut b = tls_node("tofu-b", &[a.p2p_url()], &tofu(&b_pem, "b"));
    b.start(Service::P2p);

    let (a_clients, a_servers) = files("a");
    let (b_clients, b_servers) = files("b");
    assert!(
        eventually(DISCOVERY, || read(&a_clients).contains("node-b")
            && read(&a_servers).contains("node-b")
            && read(&b_clients).contains("node-a")
            && read(&b_servers).contains("node-a")),
        "each side records the other: A clients {:?}, A servers {:?}, B clients {:?}, B servers {:?}",
        read(&a_clients),
        read(&a_servers),
        read(&b_clients),
        read(&b_servers)
    );
    // `<CN> <lower-case hex SHA-1 of the DER>`, one line per peer.
    let b_line = known_host_line(&b_pem);
    assert_eq!(read(&a_clients).trim(), b_line);
    assert_eq!(read(&a_servers).trim(), b_line);
    assert!(b_line.starts_with("node-b ") && b_line.len() == "node-b ".len() + 40);

    // A restarts: its files are read back.
    a.stop(Service::P2p);
    a.start(Service::P2p);
    let a_url = a.p2p_url();
    let as_b = https_client(&tofu(&b_pem, "probe"));
    assert_eq!(upcheck_with(&as_b, &a_url), Ok(200), "the recorded B");
    let impostor = Pki::create(&dir.join("impostor")).self_signed("node-b");
    let as_impostor = https_client(&strict_with(&impostor, &impostor, Trust::None, Trust::None));
    let error = upcheck_with(&as_impostor, &a_url).expect_err("another node-b is refused");
    assert!(!error.is_empty());
    assert_eq!(read(&a_clients).trim(), b_line, "the record is unchanged");
}

/// WHITELIST accepts only listed certificates and never writes its file; NONE accepts any
/// certificate (but still only TLS); CA_OR_TOFU accepts what the CA signed without recording
/// it, and records anything else on first use.
#[test]
fn whitelist_none_and_ca_or_tofu_servers_accept_whom_their_mode_says() {
    let pki = Pki::temporary();
    let dir = pki.dir();
    let server = pki.issue("server");
    let (listed, unlisted) = (pki.self_signed("listed"), pki.self_signed("unlisted"));
    let client = |pem: &Pem| https_client(&strict_with(pem, pem, Trust::None, Trust::None));

    // WHITELIST.
    let whitelist = dir.join("whitelist");
    std::fs::write(&whitelist, format!("{}\n", known_host_line(&listed))).expect("written");
    let ssl = strict_with(
        &server,
        &server,
        Trust::Whitelist(whitelist.clone()),
        Trust::None,
    );
    let mut node = tls_node("whitelist", &[], &ssl);
    node.start(Service::P2p);
    let url = node.p2p_url();
    assert_eq!(upcheck_with(&client(&listed), &url), Ok(200));
    assert!(upcheck_with(&client(&unlisted), &url).is_err());
    assert_eq!(
        read(&whitelist).trim(),
        known_host_line(&listed),
        "never written"
    );
    node.stop(Service::P2p);

    // NONE: any certificate; plain HTTP still refused.
    node.use_tls(
        &[Service::P2p],
        &strict_with(&server, &server, Trust::None, Trust::None),
    );
    node.start(Service::P2p);
    assert_eq!(upcheck_with(&client(&unlisted), &url), Ok(200));
    assert!(
        reqwest::blocking::get(format!("{}upcheck", url.replacen("https://", "http://", 1)))
            .is_err()
    );
    node.stop(Service::P2p);

    // CA_OR_TOFU.
    let known = dir.join("knownClients");
    node.use_tls(
        &[Service::P2p],
        &strict_with(
            &server,
            &server,
            Trust::CaOrTofu(vec![pki.ca_cert()], known.clone()),
            Trust::None,
        ),
    );
    node.start(Service::P2p);
    let signed = pki.issue("signed");
    assert_eq!(upcheck_with(&client(&signed), &url), Ok(200));
    assert!(
        !read(&known).contains("signed"),
        "a CA-signed client is not recorded"
    );
    assert_eq!(upcheck_with(&client(&unlisted), &url), Ok(200));
    assert_eq!(read(&known).trim(), known_host_line(&unlisted));
    let impostor = Pki::create(&dir.join("impostor")).self_signed("unlisted");
    assert!(upcheck_with(&client(&impostor), &url).is_err());
}

/// Everything logged at `warn` and above in this test process, as text.
pub(crate) fn warnings() -> &'static std::sync::Mutex<Vec<u8>> {
    static LOG: std::sync::OnceLock<std::sync::Mutex<Vec<u8>>> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        // The servers log from their own worker threads: only a global subscriber sees them.
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::WARN)
                .with_ansi(false)
                .with_writer(|| Captured)
                .finish(),
        );
        std::sync::Mutex::new(Vec::new())
    })
}

/// A `MakeWriter` target appending to [`warnings`].
struct Captured;

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        warnings()
            .lock()
            .map_err(|_| std::io::Error::other("log buffer poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_refused_handshake_is_logged_once_with_the_peer_and_the_reason_and_no_key() {
    warnings();
    let pki = Pki::temporary();
    let rogue = Pki::create(&pki.dir().join("rogue"));
    let pem = pki.issue("node-logged");
    let mut node = tls_node(
        "tls-log",
        &[],
        &strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()])),
    );
    node.start(Service::P2p);
    let url = node.p2p_url();
    // A client whose certificate another CA signed; it trusts our CA, so only our server
    // refuses it.
    let intruder = rogue.issue("intruder-7f3a");
    let client = https_client(&strict(
        &intruder,
        &intruder,
        Trust::Ca(vec![pki.ca_cert()]),
    ));
    assert!(upcheck_with(&client, &url).is_err(), "refused");

    let lines = || -> Vec<String> {
        let log = warnings().lock().expect("log").clone();
        String::from_utf8_lossy(&log)
            .lines()
            .filter(|line| line.contains("intruder-7f3a"))
            .map(str::to_owned)
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || !lines().is_empty()),
        "the refusal is logged"
    );
    // The node keeps serving trusted callers, and the one refusal was logged once.
    let trusted = https_client(&strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()])));
    assert_eq!(upcheck_with(&trusted, &url), Ok(200));
    let logged = lines();
    assert_eq!(logged.len(), 1, "{logged:#?}");
    let line = &logged[0];
    assert!(line.contains("TLS handshake refused"), "{line}");
    assert!(line.contains("127.0.0.1:"), "the peer's address: {line}");
    assert!(line.contains("reason="), "the reason: {line}");
    // No key material: neither private key's PEM body appears anywhere in the log.
    let log = String::from_utf8_lossy(&warnings().lock().expect("log").clone()).into_owned();
    for key in [&pem.key, &intruder.key] {
        let body: String = read(key)
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        assert!(!body.is_empty());
        assert!(!log.contains(&body[..40]), "private key in the log");
    }
}

/// `keytool` with these arguments; panics with its output when it fails.
fn keytool(args: &[&str]) {
    let out = std::process::Command::new("keytool")
        .args(args)
        .output()
        .expect("keytool is installed (scripts/install-tls-tools.sh)");
    assert!(
        out.status.success(),
        "keytool {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A keystore of `store_type` (`JKS` or `PKCS12`) made by keytool from `pem` (openssl packs
/// the key and chain, keytool converts), and a trust store of the same type holding `ca`.
fn keystores(pem: &Pem, ca: &Path, store_type: &str, password: &str) -> (PathBuf, PathBuf) {
    let dir = pem.cert.parent().expect("pem dir").to_path_buf();
    let stem = pem
        .cert
        .file_stem()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let packed = dir.join(format!("{stem}-openssl.p12"));
    tm_dev_support::tls::openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        &pem.key.display().to_string(),
        "-in",
        &pem.cert.display().to_string(),
        "-name",
        "node",
        "-out",
        &packed.display().to_string(),
        "-passout",
        &format!("pass:{password}"),
    ]);
    let extension = store_type.to_ascii_lowercase();
    let keystore = dir.join(format!("{stem}-keystore.{extension}"));
    let truststore = dir.join(format!("{stem}-truststore.{extension}"));
    keytool(&[
        "-importkeystore",
        "-noprompt",
        "-srckeystore",
        &packed.display().to_string(),
        "-srcstoretype",
        "PKCS12",
        "-srcstorepass",
        password,
        "-destkeystore",
        &keystore.display().to_string(),
        "-deststoretype",
        store_type,
        "-deststorepass",
        password,
        "-destkeypass",
        password,
    ]);
    keytool(&[
        "-importcert",
        "-noprompt",
        "-alias",
        "ca",
        "-file",
        &ca.display().to_string(),
        "-keystore",
        &truststore.display().to_string(),
        "-storetype",
        store_type,
        "-storepass",
        password,
    ]);
    (keystore, truststore)
}

/// A STRICT, mutual, CA-mode `sslConfig` whose identity and trust come from keystores.
fn strict_keystores(keystore: &Path, truststore: &Path, password: &str) -> SslConfig {
    let secret = || Some(tm_config::Secret::new(password));
    SslConfig {
        tls: Some("STRICT".to_owned()),
        ssl_config_type: Some("SERVER_AND_CLIENT".to_owned()),
        client_auth: Some(true),
        server_key_store: Some(keystore.to_path_buf()),
        server_key_store_password: secret(),
        server_trust_store: Some(truststore.to_path_buf()),
        server_trust_store_password: secret(),
        server_trust_mode: Some("CA".to_owned()),
        client_key_store: Some(keystore.to_path_buf()),
        client_key_store_password: secret(),
        client_trust_store: Some(truststore.to_path_buf()),
        client_trust_store_password: secret(),
        client_trust_mode: Some("CA".to_owned()),
        ..SslConfig::default()
    }
}

#[test]
fn nodes_with_jks_and_pkcs12_keystores_made_by_keytool_discover_each_other() {
    let pki = Pki::temporary();
    let (a_pem, b_pem) = (pki.issue("node-jks"), pki.issue("node-p12"));
    let (a_keys, a_trust) = keystores(&a_pem, &pki.ca_cert(), "JKS", "jks-secret");
    let (b_keys, b_trust) = keystores(&b_pem, &pki.ca_cert(), "PKCS12", "p12-secret");

    let mut a = tls_node(
        "tls-jks",
        &[],
        &strict_keystores(&a_keys, &a_trust, "jks-secret"),
    );
    a.start(Service::P2p);
    let a_url = a.p2p_url();
    let mut b = tls_node(
        "tls-p12",
        std::slice::from_ref(&a_url),
        &strict_keystores(&b_keys, &b_trust, "p12-secret"),
    );
    b.start(Service::P2p);
    let b_url = b.p2p_url();

    // Each learns the other's key over mutual TLS, both ways.
    let observer = https_client(&strict(&a_pem, &a_pem, Trust::Ca(vec![pki.ca_cert()])));
    let (a_key, b_key) = (a.keys[0].public.clone(), b.keys[0].public.clone());
    assert!(
        eventually(DISCOVERY, || knows(&observer, &a_url, &b_key)
            && knows(&observer, &b_url, &a_key)),
        "the JKS node and the PKCS12 node discover each other"
    );

    // A wrong keystore password is one clear start-up error that does not echo it.
    let mut wrong = tls_node(
        "tls-wrong-pw",
        &[],
        &strict_keystores(&a_keys, &a_trust, "not-the-password"),
    );
    let error = refused(&mut wrong, Service::P2p).to_string();
    assert!(!error.contains("not-the-password"), "{error}");
    assert!(
        error.to_ascii_lowercase().contains("password")
            || error.to_ascii_lowercase().contains("keystore"),
        "{error}"
    );
}
