//! Q2T and ThirdParty over TLS (docs/security.md, "TLS"): GoQuorum reaches Q2T over `https`
//! with a client certificate; the unix socket stays plain.
//!
//! Certificates are made with `openssl` (`tm_dev_support::tls`); without it these tests fail
//! saying so (`scripts/install-tls-tools.sh` installs it).

use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest, SendResponse};
use tm_dev_support::tls::{https_client, https_client_without_certificate, strict, Pki, Trust};
use tm_dev_support::{block_on, eventually, Service, TestNode};

#[test]
fn goquorum_reaches_q2t_and_thirdparty_over_https_with_a_client_certificate() {
    let pki = Pki::temporary();
    let ca = || Trust::Ca(vec![pki.ca_cert()]);
    let (server, quorum) = (pki.issue("tm"), pki.issue("quorum"));
    let mut a = TestNode::new("q2t-tls-a", 1, &[]);
    a.use_tls(
        &[Service::Q2t, Service::ThirdParty],
        &strict(&server, &server, ca()),
    );
    a.start(Service::P2p)
        .start(Service::Q2t)
        .start(Service::ThirdParty);
    let mut b = TestNode::new("q2t-tls-b", 1, &[a.p2p_url()]);
    b.start(Service::P2p).start(Service::Q2t);
    let q2t = a.q2t_url();
    assert!(q2t.starts_with("https://"), "{q2t}");

    // GoQuorum's client: its certificate, the CA's trust. A send to B once A knows B.
    let client = https_client(&strict(&quorum, &quorum, ca()));
    let to = b.keys[0].public.clone();
    let body = serde_json::to_vec(&SendRequest::new(b"from quorum".to_vec(), &[to])).expect("JSON");
    let mut answer = None;
    assert!(
        eventually(Duration::from_secs(20), || {
            answer = client
                .post(format!("{q2t}/send"))
                .header("Content-Type", "application/json")
                .body(body.clone())
                .send()
                .ok()
                .filter(|r| r.status().as_u16() == 201);
            answer.is_some()
        }),
        "a send over https"
    );
    let answer = answer.expect("a 201");
    let location = answer
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(location.starts_with("https://"), "{location}");
    let sent: SendResponse = answer.json().expect("the send's answer");
    let hash = tm_core::TxHash::from_base64(&sent.key).expect("a hash");
    let received = block_on(Q2tClient::tcp(&b.q2t_url()).expect("Q2T client").receive(
        &hash,
        None,
        false,
        MediaType::Json,
    ))
    .expect("B receives");
    assert_eq!(received.payload, b"from quorum");

    // ThirdParty on its own TLS entry.
    let keys = client
        .get(format!("{}/keys", a.thirdparty_url()))
        .send()
        .map(|r| r.status().as_u16());
    assert_eq!(keys.ok(), Some(200));

    // Without a client certificate, or in plain HTTP: refused.
    let anonymous = https_client_without_certificate(&pki.ca_cert());
    assert!(anonymous.get(format!("{q2t}/upcheck")).send().is_err());
    let plain = q2t.replacen("https://", "http://", 1);
    assert!(
        block_on(Q2tClient::tcp(&plain).expect("client").upcheck()).is_err(),
        "plain HTTP to the TLS port"
    );
}

#[test]
fn the_q2t_unix_socket_stays_plain_beside_tls_servers() {
    let pki = Pki::temporary();
    let pem = pki.issue("node");
    let mut node = TestNode::new("q2t-tls-unix", 1, &[]);
    node.use_tls(
        &[Service::P2p],
        &strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()])),
    );
    let socket = node.use_q2t_unix_socket();
    node.start(Service::P2p).start(Service::Q2t);
    let q2t = Q2tClient::unix(&socket).expect("a unix-socket client");
    let me = node.keys[0].public.clone();
    let sent = block_on(q2t.send(&SendRequest::new(b"local".to_vec(), &[me]), MediaType::Json))
        .expect("a send over the plain socket");
    let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("a hash");
    let got = block_on(q2t.receive(&hash, None, false, MediaType::Json)).expect("receive");
    assert_eq!(got.payload, b"local");
}
