//! Every trust mode on both sides, over real handshakes, with PEM material made by openssl.

use serde_json::json;

use crate::support::*;

#[test]
fn none_trusts_any_certificate_both_ways() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let stranger = self_signed(&dir, "stranger", "stranger");
    let ours = server_config(pem_ssl(&node, &node, "NONE", "NONE"));
    let theirs = server_config(pem_ssl(&stranger, &stranger, "NONE", "NONE"));
    handshake(&server(&ours), &client(&theirs), "localhost").expect("NONE accepts");
    assert_eq!(server(&ours).trust_mode(), tm_tls::TrustMode::None);
}

#[test]
fn ca_accepts_signed_peers_and_refuses_others_both_ways() {
    let dir = Dir::new();
    let ca = ca(&dir, "ca");
    let other_ca = self::ca(&dir, "other");
    let good = signed(&dir, "good", "localhost", &ca);
    let bad = signed(&dir, "bad", "localhost", &other_ca);
    let trusting = |me: &Pem| {
        let mut ssl = pem_ssl(me, me, "CA", "CA");
        ssl["serverTrustCertificates"] = json!([ca.cert]);
        ssl["clientTrustCertificates"] = json!([ca.cert]);
        server_config(ssl)
    };
    let good_node = trusting(&good);
    let bad_node = trusting(&bad);
    handshake(&server(&good_node), &client(&good_node), "localhost").expect("CA-signed peers");
    // The server refuses a client signed by another CA...
    let refused = handshake(&server(&good_node), &client(&bad_node), "localhost");
    assert!(refused.is_err(), "{refused:?}");
    // ...and the client refuses such a server.
    let refused = handshake(&server(&bad_node), &client(&good_node), "localhost")
        .expect_err("client refuses an untrusted server");
    assert!(refused.contains("client: Err"), "{refused}");
}

#[test]
fn ca_trusts_a_certificate_of_the_trust_list_itself() {
    // The JDK trusts a certificate found in the trust store even when it is a self-signed leaf.
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let mut ssl = pem_ssl(&node, &node, "CA", "CA");
    ssl["serverTrustCertificates"] = json!([node.cert]);
    ssl["clientTrustCertificates"] = json!([node.cert]);
    let config = server_config(ssl);
    handshake(&server(&config), &client(&config), "localhost").expect("trusted as is");
}

#[test]
fn tofu_on_the_server_records_the_first_client_and_refuses_an_impostor_after_restart() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let first = self_signed(&dir, "first", "peer-a");
    let impostor = self_signed(&dir, "impostor", "peer-a");
    let known = dir.path("tofu/knownClients");
    let mut ssl = pem_ssl(&node, &node, "TOFU", "NONE");
    ssl["knownClientsFile"] = json!(known);
    let ours = server_config(ssl);
    let as_client = |me: &Pem| client(&server_config(pem_ssl(me, me, "NONE", "NONE")));

    let tls = server(&ours);
    handshake(&tls, &as_client(&first), "localhost").expect("first use is trusted");
    let line = format!("peer-a {}\n", fingerprint(&dir, &first.cert));
    assert_eq!(dir.text("tofu/knownClients"), line, "Tessera's format");
    handshake(&tls, &as_client(&first), "localhost").expect("same certificate again");
    assert!(handshake(&tls, &as_client(&impostor), "localhost").is_err());

    // "Restart": a new configuration reads the same file.
    let restarted = server(&ours);
    handshake(&restarted, &as_client(&first), "localhost").expect("still known");
    assert!(handshake(&restarted, &as_client(&impostor), "localhost").is_err());
    assert_eq!(dir.text("tofu/knownClients"), line, "nothing more recorded");
}

#[test]
fn tofu_on_the_client_records_the_first_server() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let first = self_signed(&dir, "first", "localhost");
    let impostor = self_signed(&dir, "impostor", "localhost");
    let mut ssl = pem_ssl(&node, &node, "NONE", "TOFU");
    ssl["knownServersFile"] = json!(dir.path("knownServers"));
    let ours = server_config(ssl);
    let as_server = |me: &Pem| server(&server_config(pem_ssl(me, me, "NONE", "NONE")));

    handshake(&as_server(&first), &client(&ours), "localhost").expect("first use");
    let line = format!("localhost {}\n", fingerprint(&dir, &first.cert));
    assert_eq!(dir.text("knownServers"), line);
    let restarted = client(&ours);
    handshake(&as_server(&first), &restarted, "localhost").expect("known server");
    let refused = handshake(&as_server(&impostor), &restarted, "localhost")
        .expect_err("a different certificate for a known CN");
    assert!(refused.contains("different certificate"), "{refused}");
}

#[test]
fn whitelist_reads_tessera_files_and_never_writes_them() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let listed = self_signed(&dir, "listed", "peer-b");
    let unlisted = self_signed(&dir, "unlisted", "peer-c");
    let same_name = self_signed(&dir, "same", "peer-b");
    let file = format!(
        "localhost {}\npeer-b {}\n",
        fingerprint(&dir, &node.cert),
        fingerprint(&dir, &listed.cert)
    );
    std::fs::write(dir.path("knownClients"), &file).expect("write");
    std::fs::write(dir.path("knownServers"), &file).expect("write");
    let mut ssl = pem_ssl(&node, &node, "WHITELIST", "WHITELIST");
    ssl["knownClientsFile"] = json!(dir.path("knownClients"));
    ssl["knownServersFile"] = json!(dir.path("knownServers"));
    let ours = server_config(ssl);
    let other = |me: &Pem| server_config(pem_ssl(me, me, "NONE", "NONE"));

    handshake(&server(&ours), &client(&other(&listed)), "localhost").expect("listed client");
    assert!(handshake(&server(&ours), &client(&other(&unlisted)), "localhost").is_err());
    assert!(handshake(&server(&ours), &client(&other(&same_name)), "localhost").is_err());
    // Client side: the server's CN + fingerprint must be listed.
    handshake(&server(&other(&node)), &client(&ours), "localhost").expect("listed server");
    let stranger = self_signed(&dir, "stranger", "localhost");
    assert!(handshake(&server(&other(&stranger)), &client(&ours), "localhost").is_err());
    assert_eq!(dir.text("knownClients"), file);
    assert_eq!(dir.text("knownServers"), file);
}

#[test]
fn ca_or_tofu_accepts_ca_signed_peers_without_recording_and_records_the_rest() {
    let dir = Dir::new();
    let ca = ca(&dir, "ca");
    let node = signed(&dir, "node", "localhost", &ca);
    let signed_peer = signed(&dir, "signed", "peer-s", &ca);
    let self_signed_peer = self_signed(&dir, "selfie", "peer-t");
    let impostor = self_signed(&dir, "impostor", "peer-t");
    let mut ssl = pem_ssl(&node, &node, "CA_OR_TOFU", "NONE");
    ssl["serverTrustCertificates"] = json!([ca.cert]);
    ssl["knownClientsFile"] = json!(dir.path("knownClients"));
    let ours = server(&server_config(ssl));
    let as_client = |me: &Pem| client(&server_config(pem_ssl(me, me, "NONE", "NONE")));

    handshake(&ours, &as_client(&signed_peer), "localhost").expect("CA-signed");
    assert_eq!(
        dir.text("knownClients"),
        "",
        "a CA-signed peer is not recorded"
    );
    handshake(&ours, &as_client(&self_signed_peer), "localhost").expect("TOFU");
    assert!(dir.text("knownClients").starts_with("peer-t "));
    assert!(handshake(&ours, &as_client(&impostor), "localhost").is_err());
}

#[test]
fn clients_check_the_host_name_in_every_mode() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let config = server_config(pem_ssl(&node, &node, "NONE", "NONE"));
    handshake(&server(&config), &client(&config), "127.0.0.1").expect("IP alternative name");
    let refused =
        handshake(&server(&config), &client(&config), "elsewhere.example").expect_err("wrong host");
    assert!(
        refused.contains("not valid for elsewhere.example"),
        "{refused}"
    );
}

#[test]
fn without_client_auth_the_server_asks_for_no_certificate() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "localhost");
    let stranger = self_signed(&dir, "stranger", "stranger");
    let mut ssl = pem_ssl(&node, &node, "WHITELIST", "NONE");
    std::fs::write(dir.path("knownClients"), "").expect("empty whitelist");
    ssl["knownClientsFile"] = json!(dir.path("knownClients"));
    ssl["clientAuth"] = json!(false);
    let ours = server(&server_config(ssl));
    assert!(!ours.client_auth());
    let theirs = client(&server_config(pem_ssl(
        &stranger, &stranger, "NONE", "NONE",
    )));
    handshake(&ours, &theirs, "localhost").expect("one-way TLS");
}

#[test]
fn the_fingerprint_and_common_name_are_tesseras() {
    let dir = Dir::new();
    let node = self_signed(&dir, "node", "some-node:9001");
    let der = rustls::pki_types::pem::PemObject::from_pem_file(&node.cert)
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .expect("pem");
    let identity = tm_tls::PeerIdentity::of(&der);
    assert_eq!(identity.common_name, "some-node:9001");
    assert_eq!(identity.fingerprint, fingerprint(&dir, &node.cert));
}
