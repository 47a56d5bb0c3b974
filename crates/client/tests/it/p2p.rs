//! `P2pClient` against an in-process peer that records what it receives (the peer is not the
//! subject here; the real P2P service has its own tests).

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use tm_client::p2p::{
    P2pClient, P2pTimeouts, PushBatchRequest, ResendBatchRequest, ResendRequest, ResendType,
};
use tm_client::ClientError;
use tm_core::partyinfo::{PartyInfo, Recipient};
use tm_core::seal::PrivacyMetadata;
use tm_core::version::{parse_header_values, VERSION_HEADER};
use tm_core::{KeyPair, Keyring, PayloadCodec};

#[derive(Default)]
struct Seen {
    versions: Vec<String>,
    bodies: Vec<Vec<u8>>,
}

type Log = web::Data<Mutex<Seen>>;

fn record(req: &HttpRequest, body: &[u8], log: &Log) -> Vec<String> {
    let versions = parse_header_values(
        req.headers()
            .get_all(VERSION_HEADER)
            .filter_map(|v| v.to_str().ok()),
    );
    let mut seen = log.lock().expect("lock");
    seen.versions = versions.clone();
    seen.bodies.push(body.to_vec());
    versions
}

async fn push(req: HttpRequest, body: web::Bytes, log: Log) -> HttpResponse {
    let versions = record(&req, &body, &log);
    let codec = PayloadCodec::preferred_for(versions.iter().map(String::as_str));
    match codec.decode(&body) {
        Ok(payload) => HttpResponse::Created().body(payload.hash().to_base64()),
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

async fn party_info(req: HttpRequest, body: web::Bytes, log: Log) -> HttpResponse {
    record(&req, &body, &log);
    let reply = PartyInfo {
        url: "http://peer/".into(),
        ..PartyInfo::default()
    };
    HttpResponse::Ok().body(reply.encode())
}

async fn resend_batch(body: web::Json<ResendBatchRequest>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "total": body.batch_size.unwrap_or(0) }))
}

async fn resend(body: web::Json<ResendRequest>) -> HttpResponse {
    match body.resend_type {
        ResendType::All => HttpResponse::Ok().finish(),
        ResendType::Individual => {
            HttpResponse::NotFound().body("Message with hash x was not found")
        }
    }
}

async fn push_batch(body: web::Json<PushBatchRequest>, log: Log) -> HttpResponse {
    log.lock()
        .expect("lock")
        .bodies
        .extend(body.encoded_payloads.iter().cloned());
    HttpResponse::Ok().finish()
}

async fn start_peer() -> (String, Arc<Log>, actix_web::dev::ServerHandle) {
    let log: Log = web::Data::new(Mutex::new(Seen::default()));
    let shared = Arc::new(log.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(log.clone())
            .route("/push", web::post().to(push))
            .route("/partyinfo", web::post().to(party_info))
            .route("/resendBatch", web::post().to(resend_batch))
            .route("/resend", web::post().to(resend))
            .route("/pushBatch", web::post().to(push_batch))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .expect("binds");
    let url = format!("http://{}/", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (url, shared, handle)
}

#[actix_web::test]
async fn push_uses_the_codec_its_version_header_announces() {
    let (peer, log, handle) = start_peer().await;
    let client = P2pClient::new(P2pTimeouts::default()).expect("client");
    let sender = KeyPair::generate().expect("key");
    let recipient = KeyPair::generate().expect("key");
    let payload = Keyring::new(vec![sender.clone()])
        .encrypt_payload(
            b"hello",
            &sender.public,
            &[recipient.public.clone(), sender.public.clone()],
            &PrivacyMetadata::default(),
        )
        .expect("seals")
        .for_recipient(&recipient.public)
        .expect("strips");

    for codec in [PayloadCodec::Cbor, PayloadCodec::Legacy] {
        let hash = client.push(&peer, &payload, codec).await.expect("pushed");
        assert_eq!(hash, payload.hash());
        let seen = log.lock().expect("lock");
        assert_eq!(
            seen.versions.contains(&"5.0".to_owned()),
            codec == PayloadCodec::Cbor
        );
        assert!(seen.versions.contains(&"v2".to_owned()));
        assert_eq!(seen.bodies.last().expect("body"), &codec.encode(&payload));
    }
    handle.stop(true).await;
}

#[actix_web::test]
async fn party_info_and_json_calls() {
    let (peer, log, handle) = start_peer().await;
    let client = P2pClient::new(P2pTimeouts::default()).expect("client");
    let key = KeyPair::generate().expect("key").public;
    let ours = PartyInfo {
        url: "http://us/".into(),
        recipients: vec![Recipient {
            key,
            url: "http://us/".into(),
        }],
        parties: vec![],
    };
    let reply = client
        .party_info(&peer, &ours)
        .await
        .expect("accepted")
        .expect("decodes");
    assert_eq!(reply.url, "http://peer/");
    assert_eq!(
        PartyInfo::decode(log.lock().expect("lock").bodies.last().expect("body")).expect("decodes"),
        ours
    );
    assert_eq!(
        log.lock().expect("lock").versions,
        ["2.1", "3.0", "4.0", "5.0", "v1", "v2"]
            .map(String::from)
            .to_vec()
    );

    let public_key = KeyPair::generate().expect("key").public;
    let total = client
        .resend_batch(
            &peer,
            &ResendBatchRequest {
                public_key: public_key.clone(),
                batch_size: Some(7),
            },
        )
        .await
        .expect("resend batch");
    assert_eq!(total.total, 7);
    client
        .resend(
            &peer,
            &ResendRequest {
                resend_type: ResendType::All,
                public_key: public_key.clone(),
                key: None,
            },
        )
        .await
        .expect("resend all");
    let missing = client
        .resend(
            &peer,
            &ResendRequest {
                resend_type: ResendType::Individual,
                public_key,
                key: Some("x".into()),
            },
        )
        .await
        .expect_err("404");
    assert!(
        matches!(missing, ClientError::Status { status: 404, ref body, .. } if body.contains("not found"))
    );
    client
        .push_batch(
            &peer,
            &PushBatchRequest {
                encoded_payloads: vec![vec![1, 2, 3]],
            },
        )
        .await
        .expect("push batch");
    assert_eq!(
        log.lock().expect("lock").bodies.last().expect("body"),
        &vec![1, 2, 3]
    );
    handle.stop(true).await;
}

#[actix_web::test]
async fn a_node_that_is_not_there_is_offline() {
    // A socket bound to a port but never listening, held for the whole test: connections to
    // it are refused, and no other test can take the port meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("address"))
        .expect("bind a loopback port");
    let port = socket.local_addr().expect("bound address").port();
    let client = P2pClient::new(P2pTimeouts::default()).expect("client");
    let ours = PartyInfo {
        url: "http://us/".into(),
        ..PartyInfo::default()
    };
    let error = client
        .party_info(&format!("http://127.0.0.1:{port}"), &ours)
        .await
        .expect_err("offline");
    assert!(error.is_offline(), "{error}");
    assert!(error.to_string().contains(&port.to_string()));
}

#[test]
fn request_json_matches_tessera_field_names() {
    let key = KeyPair::generate().expect("key").public;
    let resend = ResendRequest {
        resend_type: ResendType::Individual,
        public_key: key.clone(),
        key: Some("aGFzaA==".into()),
    };
    let json = serde_json::to_value(&resend).expect("json");
    assert_eq!(json["type"], "INDIVIDUAL");
    assert_eq!(json["publicKey"], key.to_base64());
    assert_eq!(json["key"], "aGFzaA==");
    let batch: PushBatchRequest =
        serde_json::from_str(r#"{"encodedPayloads":["AQID"]}"#).expect("parses");
    assert_eq!(batch.encoded_payloads, vec![vec![1, 2, 3]]);
    let none: PushBatchRequest =
        serde_json::from_str(r#"{"encodedPayloads":null}"#).expect("null is empty");
    assert!(none.encoded_payloads.is_empty());
    assert_eq!(tm_client::join("http://a:1/", "/push"), "http://a:1/push");
    assert_eq!(tm_client::join("http://a:1", "push"), "http://a:1/push");
    assert_eq!(
        tm_client::p2p::P2pTimeouts::from_config(5000, 1)
            .request
            .as_millis(),
        3750
    );
}
