//! Tessera's failure rules: unknown recipient 404, recipient node offline 410 with nothing left
//! stored, and garbage input refused with Tessera's status and a plain-text body.

use tm_client::q2t::{MediaType, Method, RawRequest, SendRequest, JSON, OCTET_STREAM};
use tm_client::ClientError;
use tm_core::KeyPair;

use tm_dev_support::{block_on, Service};

use crate::support::{key, stored_count, Pair, PairOptions};

fn status_of(error: &ClientError) -> u16 {
    match error {
        ClientError::Status { status, .. } => *status,
        other => panic!("expected a status error, got {other}"),
    }
}

#[test]
fn unknown_recipient_is_404_and_offline_recipient_is_410_with_no_row_left() {
    // A's own discovery round runs once at start only, so A still routes to B after B stops.
    let mut pair = Pair::start(PairOptions {
        a_interval_ms: Some(600_000),
        ..PairOptions::default()
    });
    let a = pair.a_q2t();
    let key_b = key(&pair.b);
    let stranger = KeyPair::generate().expect("key").public;
    block_on(async {
        let error = a
            .send(
                &SendRequest::new(b"who?".to_vec(), std::slice::from_ref(&stranger)),
                MediaType::Json,
            )
            .await
            .expect_err("unknown recipient");
        assert_eq!(status_of(&error), 404);
        assert!(
            error
                .to_string()
                .contains(&format!("Recipient not found for key: {stranger}")),
            "{error}"
        );
    });
    assert_eq!(stored_count(&pair.a), 0);
    pair.b.stop(Service::P2p);
    block_on(async {
        let error = a
            .send(
                &SendRequest::new(b"anyone?".to_vec(), std::slice::from_ref(&key_b)),
                MediaType::V2_1,
            )
            .await
            .expect_err("B is offline");
        assert_eq!(status_of(&error), 410, "{error}");
    });
    assert_eq!(stored_count(&pair.a), 0, "a failed send must leave no row");
    // A send to A alone still works and is stored: the count above could have failed.
    block_on(async {
        a.send(&SendRequest::new(b"just me".to_vec(), &[]), MediaType::Json)
            .await
            .expect("local send");
    });
    assert_eq!(stored_count(&pair.a), 1);
}

#[test]
fn garbage_input_gets_tessera_statuses_and_changes_nothing() {
    let pair = Pair::start(PairOptions::default());
    let a = pair.a_q2t();
    let key_b = key(&pair.b);
    let good = serde_json::to_vec(&SendRequest::new(
        b"x".to_vec(),
        std::slice::from_ref(&key_b),
    ))
    .expect("json");
    let cases: Vec<(&str, RawRequest, u16)> = vec![
        (
            "bad JSON",
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .body("{not json"),
            400,
        ),
        (
            "empty body",
            RawRequest::new(Method::POST, "/send").media(JSON),
            400,
        ),
        (
            "empty payload",
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .body(r#"{"payload":"","to":[]}"#),
            400,
        ),
        (
            "payload not base64",
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .body(r#"{"payload":"!!!"}"#),
            400,
        ),
        (
            "to not base64 (Tessera's 500)",
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .body(r#"{"payload":"AQID","to":["not base64!"]}"#),
            500,
        ),
        (
            "PSV without execHash",
            RawRequest::new(Method::POST, "/send")
                .media(MediaType::V2_1.as_str())
                .body(r#"{"payload":"AQID","privacyFlag":3}"#),
            400,
        ),
        (
            "unknown media type (Jersey 415, Tessera 500)",
            RawRequest::new(Method::POST, "/send")
                .media("text/xml")
                .body(good.clone()),
            500,
        ),
        (
            "mismatched Accept (Jersey 406, Tessera 500)",
            RawRequest::new(Method::POST, "/send")
                .header("content-type", JSON)
                .header("accept", MediaType::V2_1.as_str())
                .body(good.clone()),
            500,
        ),
        (
            "storeraw in 4.0 (Jersey 415, Tessera 500)",
            RawRequest::new(Method::POST, "/storeraw")
                .media(MediaType::V4_0.as_str())
                .body(r#"{"payload":"AQID"}"#),
            500,
        ),
        (
            "sendraw empty body",
            RawRequest::new(Method::POST, "/sendraw").header("content-type", OCTET_STREAM),
            400,
        ),
        (
            "sendraw c11n-from not base64",
            RawRequest::new(Method::POST, "/sendraw")
                .header("content-type", OCTET_STREAM)
                .header("c11n-from", "@@@")
                .body("abc"),
            400,
        ),
        (
            "sendsignedtx empty body",
            RawRequest::new(Method::POST, "/sendsignedtx").header("content-type", OCTET_STREAM),
            400,
        ),
        (
            "receive with a hash that is not base64",
            RawRequest::new(Method::GET, "/transaction/abc!def").media(JSON),
            400,
        ),
        (
            "receive with a bad isRaw",
            RawRequest::new(Method::GET, "/transaction/AAAA?isRaw=maybe").media(JSON),
            400,
        ),
        (
            "unknown sender key",
            RawRequest::new(Method::POST, "/send")
                .media(JSON)
                .body(format!(
                    r#"{{"payload":"AQID","from":"{}"}}"#,
                    key_b.to_base64()
                )),
            404,
        ),
        (
            "no such path",
            RawRequest::new(Method::GET, "/nothing/here"),
            404,
        ),
    ];
    block_on(async {
        for (what, request, status) in cases {
            let response = a.raw(request).await.expect("an answer");
            assert_eq!(response.status, status, "{what}: {}", response.text());
            if status != 404 || what == "no such path" {
                assert!(
                    response
                        .header("content-type")
                        .is_some_and(|c| c.starts_with("text/plain")),
                    "{what}: plain-text body expected"
                );
            }
            assert!(!response.text().is_empty(), "{what}: a reason is expected");
        }
    });
    assert_eq!(stored_count(&pair.a), 0, "garbage must not store anything");
}

#[test]
fn recover_is_refused_by_q2t_api() {
    let node = tm_dev_support::TestNode::new("q2t-recover", 1, &[]);
    let config = node.write_config();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_q2t-api"))
        .args(["-configfile", &config.display().to_string(), "--recover"])
        .current_dir(node.dir.path())
        .output()
        .expect("q2t-api runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--recover is for the P2P service"),
        "{stderr}"
    );
}
