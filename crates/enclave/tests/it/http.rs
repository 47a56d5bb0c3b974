//! The wire format of the real enclave process, byte for byte where Tessera fixes it, and
//! bad requests: 4xx, and the enclave keeps working.

use serde_json::{json, Value};
use tm_core::codec::decode_legacy;

use crate::support::{keys, write_config, EnclaveProcess};

#[tokio::test]
async fn wire_format_and_bad_requests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_process, port) = EnclaveProcess::launch(&write_config(dir.path(), 0)).await;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let k = keys();

    let ping = http.get(format!("{base}/ping")).send().await.expect("ping");
    assert_eq!(ping.status(), 200);
    assert_eq!(ping.text().await.expect("body"), "STARTED");

    let default = http
        .get(format!("{base}/default"))
        .send()
        .await
        .expect("default");
    assert_eq!(
        default.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(
        default.bytes().await.expect("body").as_ref(),
        k.a.public.as_bytes()
    );

    let public: Vec<String> = http
        .get(format!("{base}/public"))
        .send()
        .await
        .expect("public")
        .json()
        .await
        .expect("json");
    assert_eq!(public, vec![k.a.public.to_base64(), k.b.public.to_base64()]);
    let forwarding: Vec<String> = http
        .get(format!("{base}/forwarding"))
        .send()
        .await
        .expect("fwd")
        .json()
        .await
        .expect("json");
    assert_eq!(forwarding, vec![k.c.public.to_base64()]);

    // The request Tessera's client sends (docs/protocol.md §8 example shape), with our keys.
    let request = json!({
        "data": "YIBgQFI0gBU=",
        "senderKey": k.a.public.to_base64(),
        "recipientPublicKeys": [k.c.public.to_base64(), k.a.public.to_base64()],
        "privacyMode": "STANDARD_PRIVATE",
        "affectedContractTransactions": [],
        "execHash": "",
        "mandatoryRecipients": []
    });
    let encrypted = http
        .post(format!("{base}/encrypt"))
        .json(&request)
        .send()
        .await
        .expect("encrypt");
    assert_eq!(encrypted.status(), 200);
    assert_eq!(
        encrypted.headers()["content-type"],
        "application/octet-stream"
    );
    let legacy = encrypted.bytes().await.expect("body").to_vec();
    let payload = decode_legacy(&legacy).expect("LEGACY payload");
    assert_eq!(payload.recipient_keys.len(), 2);

    let unencrypt =
        json!({ "data": tm_core::b64::encode(&legacy), "providedKey": k.a.public.to_base64() });
    let plain = http
        .post(format!("{base}/unencrypt"))
        .json(&unencrypt)
        .send()
        .await
        .expect("unencrypt");
    assert_eq!(plain.status(), 200);
    assert_eq!(
        tm_core::b64::encode(plain.bytes().await.expect("body")),
        "YIBgQFI0gBU="
    );

    let to_raw = json!({ "data": "YIBgQFI0gBU=", "senderKey": k.a.public.to_base64() });
    let raw: Value = http
        .post(format!("{base}/encrypt/toraw"))
        .json(&to_raw)
        .send()
        .await
        .expect("toraw")
        .json()
        .await
        .expect("json");
    let mut members: Vec<&str> = raw
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        ["encryptedKey", "encryptedPayload", "from", "nonce"]
    );
    let opened = http
        .post(format!("{base}/unencrypt/raw"))
        .json(&raw)
        .send()
        .await
        .expect("unencrypt raw");
    assert_eq!(
        tm_core::b64::encode(opened.bytes().await.expect("body")),
        "YIBgQFI0gBU="
    );

    let find = json!({ "encodedPayload": tm_core::b64::encode(&legacy), "affectedContractTransactions": [] });
    let found: Value = http
        .post(format!("{base}/findinvalidsecurityhashes"))
        .json(&find)
        .send()
        .await
        .expect("find")
        .json()
        .await
        .expect("json");
    assert_eq!(found, json!({ "invalidSecurityHashes": [] }));

    // Bad requests: 4xx with a plain-text reason, and nothing changes.
    let bad: [(&str, Vec<u8>, u16); 7] = [
        ("encrypt", b"not json".to_vec(), 400),
        (
            "encrypt",
            br#"{"data":"%%%","senderKey":"x"}"#.to_vec(),
            400,
        ),
        (
            "encrypt",
            serde_json::to_vec(&json!({"data":"", "senderKey": k.c.public.to_base64()}))
                .expect("json"),
            404,
        ),
        ("unencrypt", br#"{"data":"AAAA"}"#.to_vec(), 400),
        (
            "addRecipient",
            serde_json::to_vec(&json!({"data": tm_core::b64::encode(&legacy)})).expect("json"),
            400,
        ),
        (
            "encrypt/raw",
            br#"{"privacyMode":"NOT_A_MODE"}"#.to_vec(),
            400,
        ),
        ("findinvalidsecurityhashes", br#"[1,2,3]"#.to_vec(), 400),
    ];
    for (path, body, status) in bad {
        let response = http
            .post(format!("{base}/{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect(path);
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert!(response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain"));
        assert!(!response.text().await.expect("text").is_empty());
    }
    assert_eq!(
        http.get(format!("{base}/no/such/path"))
            .send()
            .await
            .expect("404")
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{base}/encrypt"))
            .send()
            .await
            .expect("405")
            .status()
            .as_u16()
            / 100,
        4
    );

    // Still working.
    let again = http
        .post(format!("{base}/encrypt"))
        .json(&request)
        .send()
        .await
        .expect("encrypt");
    assert_eq!(again.status(), 200);
}
