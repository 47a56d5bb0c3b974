//! The Q2T types keep Tessera's JSON names, the path and query encoders produce what GoQuorum
//! and Tessera send, and the client talks HTTP over a real unix socket.

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::json;
use tm_client::q2t::{
    encode_hash, encode_query, EncodedPayloadJson, MediaType, Method, PathEncoding, Q2tClient,
    RawRequest, ReceiveResponse, SendRequest, SendResponse, StoreRawRequest,
};

#[test]
fn json_names_are_tesseras() {
    let request = SendRequest {
        payload: vec![1, 2, 3],
        from: Some("QUJD".into()),
        to: Some(vec!["REVG".into()]),
        affected_contract_transactions: Some(vec![]),
        exec_hash: Some("x".into()),
        privacy_flag: 3,
        privacy_group_id: Some("R1".into()),
        mandatory_recipients: Some(vec!["R0hJ".into()]),
    };
    assert_eq!(
        serde_json::to_value(&request).expect("json"),
        json!({"payload":"AQID","from":"QUJD","to":["REVG"],"affectedContractTransactions":[],
               "execHash":"x","privacyFlag":3,"privacyGroupId":"R1","mandatoryRecipients":["R0hJ"]})
    );
    // GoQuorum sends `"to": null` and omits what it does not use.
    let parsed: SendRequest =
        serde_json::from_str(r#"{"payload":"AQID","to":null,"unknown":1}"#).expect("parse");
    assert_eq!(parsed.to, None);
    assert_eq!(parsed.privacy_flag, 0);
    let plain = SendResponse {
        key: "k".into(),
        ..SendResponse::default()
    };
    assert_eq!(
        serde_json::to_value(&plain).expect("json"),
        json!({"key":"k"})
    );
    let received: ReceiveResponse = serde_json::from_value(json!({
        "payload":"AQID","privacyFlag":0,"affectedContractTransactions":[],"execHash":"",
        "managedParties":["QUJD"],"senderKey":"REVG"}))
    .expect("parse");
    assert_eq!(received.payload, [1, 2, 3]);
    assert_eq!(received.managed_parties, Some(vec!["QUJD".to_owned()]));
    let raw = StoreRawRequest {
        payload: vec![1],
        from: None,
    };
    assert_eq!(
        serde_json::to_value(&raw).expect("json"),
        json!({"payload":"AQ=="})
    );
    let encoded: EncodedPayloadJson = serde_json::from_value(json!({
        "senderKey":"AQ==","cipherText":"Ag==","cipherTextNonce":"Aw==","recipientBoxes":["BA=="],
        "recipientNonce":"BQ==","recipientKeys":["Bg=="]}))
    .expect("GoQuorum sends only the first six fields");
    assert_eq!(encoded.recipient_keys, vec![vec![6]]);
    assert!(encoded.affected_contract_transactions.is_empty());
}

#[test]
fn media_types_and_encodings() {
    assert_eq!(
        MediaType::parse("application/json; charset=utf-8"),
        Some(MediaType::Json)
    );
    assert_eq!(
        MediaType::parse("Application/VND.tessera-4.0+json"),
        Some(MediaType::V4_0)
    );
    assert_eq!(MediaType::parse("text/plain"), None);
    let hash = "ab+c/d==";
    assert_eq!(encode_hash(hash, PathEncoding::GoPathEscape), "ab+c%2Fd==");
    assert_eq!(encode_hash(hash, PathEncoding::Form), "ab%2Bc%2Fd%3D%3D");
    assert_eq!(encode_query(hash), "ab%2Bc%2Fd%3D%3D");
}

async fn echo(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    HttpResponse::Ok().body(format!(
        "{} {} {} {}",
        req.method(),
        req.uri(),
        req.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        String::from_utf8_lossy(&body)
    ))
}

#[tokio::test]
async fn the_client_speaks_http_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("tm-client-uds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let socket = dir.join("tm.ipc");
    let _ = std::fs::remove_file(&socket);
    let server = HttpServer::new(|| App::new().default_service(web::to(echo)))
        .workers(1)
        .bind_uds(&socket)
        .expect("bind")
        .run();
    let handle = server.handle();
    tokio::spawn(server);
    let client = Q2tClient::new(&format!("unix:{}", socket.display())).expect("client");
    let answer = client
        .raw(
            RawRequest::new(Method::POST, "/transaction/ab+c%2Fd==")
                .media(MediaType::V2_1.as_str())
                .body("hello"),
        )
        .await
        .expect("an answer over the socket");
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.text(),
        "POST /transaction/ab+c%2Fd== application/vnd.tessera-2.1+json hello"
    );
    handle.stop(true).await;
    let _ = std::fs::remove_dir_all(&dir);
}
