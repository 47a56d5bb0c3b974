//! Orion mode (`"mode": "orion"`, docs/privacy-groups.md): Besu's conversation with its
//! transaction manager, call by call in the order and with the bodies of Besu's `Enclave`
//! client, between two nodes in orion mode, with a third node outside the group; what each
//! mode serves and refuses; and one store used in both modes in turn.

use reqwest::blocking::{Client, Response};
use serde_json::{json, Value};
use tm_client::q2t::{MediaType, OrionReceiveRequest, Q2tClient, SendRequest, ORION};
use tm_config::ClientMode;
use tm_core::{PublicKey, TxHash};
use tm_dev_support::{block_on, Service, TestNode};

/// `path` under the service at `base`.
fn at(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// A Besu-shaped POST: `Content-Type` only (Besu sets no `Accept`), a JSON body.
fn post(client: &Client, base: &str, path: &str, media: &str, body: &Value) -> Response {
    client
        .post(at(base, path))
        .header("Content-Type", media)
        .body(body.to_string())
        .send()
        .expect("the node answers")
}

fn ok_json(response: Response) -> Value {
    let status = response.status().as_u16();
    let text = response.text().expect("a body");
    assert_eq!(status, 200, "Besu accepts only 200: {text}");
    serde_json::from_str(&text).expect("a JSON answer")
}

/// What Besu's `Enclave.handleJsonResponse` makes of a 4xx or 5xx body: JSON `{"error"}`, or
/// Tessera's text with its base64 cut out (`processTesseraError` / `removeBase64`). `None`
/// where Besu's parsing would throw instead of reporting the error.
fn besu_error(body: &str) -> Option<String> {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        return map.get("error").and_then(Value::as_str).map(str::to_owned);
    }
    let Some(last_eq) = body.rfind('=') else {
        return Some(body.to_owned());
    };
    let start = &body[..last_eq];
    let space = start.rfind(' ')?;
    let end = &body[last_eq..];
    Some(if end.len() > 1 {
        format!("{}{}", &start[..space], &end[1..])
    } else {
        start[..space].to_owned()
    })
}

/// A refusal Besu can read: the status and the text it would report.
fn refused(response: Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().expect("a body");
    assert_ne!(status, 200, "expected a refusal, got {text}");
    let error = besu_error(&text).unwrap_or_else(|| panic!("Besu cannot parse {text:?}"));
    (status, error)
}

fn b64(bytes: &[u8]) -> String {
    tm_core::b64::encode(bytes)
}

fn orion_node(name: &str, peers: &[String]) -> TestNode {
    let mut node = TestNode::new(name, 1, peers);
    node.config.mode = ClientMode::Orion;
    node
}

fn groups(client: &Client, node: &TestNode, kind: &str) -> Vec<Value> {
    let response = client
        .get(at(&node.q2t_url(), &format!("groups/{kind}")))
        .send()
        .expect("answer");
    match ok_json(response) {
        Value::Array(list) => list,
        other => panic!("not a list: {other}"),
    }
}

#[test]
fn besu_conversation_runs_end_to_end_in_orion_mode() {
    let [a, b, c] = crate::privacy_groups::three_nodes("orion", ClientMode::Orion);
    let (ka, kb, kc) = (
        a.keys[0].public.clone(),
        b.keys[0].public.clone(),
        c.keys[0].public.clone(),
    );
    let http = Client::new();
    let (qa, qb, qc) = (a.q2t_url(), b.q2t_url(), c.q2t_url());
    const JSON: &str = "application/json";

    // Enclave.upCheck: GET /upcheck, the body "I'm up!".
    for base in [&qa, &qb] {
        let up = http.get(at(base, "upcheck")).send().expect("up");
        assert_eq!(up.status().as_u16(), 200);
        assert_eq!(up.text().expect("body"), "I'm up!");
    }

    // Enclave.createPrivacyGroup {addresses, from, name, description}.
    let created = ok_json(post(
        &http,
        &qa,
        "/createPrivacyGroup",
        JSON,
        &json!({"addresses": [ka.to_base64(), kb.to_base64()], "from": ka.to_base64(),
                "name": "besu-ab", "description": "A and B"}),
    ));
    let group_id = created["privacyGroupId"].as_str().expect("id").to_owned();
    assert_eq!(created["type"], "PANTHEON");
    assert_eq!(created["name"], "besu-ab");
    assert_eq!(created["members"], json!([ka.to_base64(), kb.to_base64()]));

    // Enclave.findPrivacyGroup {addresses}: on a member's node, in any order.
    let found = ok_json(post(
        &http,
        &qb,
        "/findPrivacyGroup",
        JSON,
        &json!({"addresses": [kb.to_base64(), ka.to_base64()]}),
    ));
    assert_eq!(found, json!([created.clone()]));

    // Enclave.send with a group: {payload, from, privacyGroupId}; Besu's payload is the bytes
    // of its base64 RLP text, base64-encoded again by Jackson.
    let besu_payload = b"+QEFgIJSCJQBxZ3pH0pQVvd5dXY0o0KrA6nTvIAfoC0=".to_vec();
    let response = post(
        &http,
        &qa,
        "/send",
        JSON,
        &json!({"payload": b64(&besu_payload), "from": ka.to_base64(), "privacyGroupId": group_id}),
    );
    let location = response
        .headers()
        .get("Location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let sent = ok_json(response);
    assert_eq!(
        sent.as_object().map(|o| o.len()),
        Some(1),
        "only `key`: {sent}"
    );
    let key = sent["key"].as_str().expect("key").to_owned();
    let hash = TxHash::from_base64(&key).expect("a base64 key");
    assert_eq!(hash.as_bytes().len(), 32, "orion mode keys by SHA-512/256");
    assert!(
        location
            .as_deref()
            .is_some_and(|l| l.contains("/transaction/")),
        "{location:?}"
    );

    // Enclave.receive {key, to} with Besu's media type, on both members.
    for (base, to) in [(&qb, &kb), (&qa, &ka)] {
        let received = ok_json(post(
            &http,
            base,
            "/receive",
            ORION,
            &json!({"key": key, "to": to.to_base64()}),
        ));
        assert_eq!(received["payload"], json!(b64(&besu_payload)));
        assert_eq!(received["senderKey"], json!(ka.to_base64()));
        assert_eq!(received["privacyGroupId"], json!(group_id));
    }
    // Enclave.receive {key} (no `to`): any of the node's keys.
    let received = ok_json(post(&http, &qb, "/receive", ORION, &json!({"key": key})));
    assert_eq!(received["payload"], json!(b64(&besu_payload)));
    // Not a member: C never got it.
    let (status, _) = refused(post(&http, &qc, "/receive", ORION, &json!({"key": key})));
    assert_eq!(status, 404);

    // Enclave.send without a group, {payload, from, to}: a LEGACY group of sender and
    // recipients is attached, found or created on the sending node only.
    let legacy_body = json!({"payload": b64(b"legacy"), "from": ka.to_base64(),
                             "to": [kb.to_base64()]});
    let first = ok_json(post(&http, &qa, "/send", JSON, &legacy_body));
    let second = ok_json(post(&http, &qa, "/send", JSON, &legacy_body));
    let legacy = groups(&http, &a, "legacy");
    assert_eq!(
        legacy.len(),
        1,
        "one LEGACY group for both sends: {legacy:?}"
    );
    assert_eq!(
        legacy[0]["members"],
        json!([ka.to_base64(), kb.to_base64()])
    );
    let legacy_id = legacy[0]["privacyGroupId"].clone();
    assert!(groups(&http, &b, "legacy").is_empty(), "never pushed");
    for sent in [&first, &second] {
        let received = ok_json(post(
            &http,
            &qb,
            "/receive",
            ORION,
            &json!({"key": sent["key"], "to": kb.to_base64()}),
        ));
        assert_eq!(received["payload"], json!(b64(b"legacy")));
        assert_eq!(received["privacyGroupId"], legacy_id);
    }
    // The typed client reads the same answers.
    let client_b = Q2tClient::new(&qb).expect("client");
    let typed = block_on(client_b.orion_receive(&OrionReceiveRequest {
        key: first["key"].as_str().map(str::to_owned),
        to: Some(kb.to_base64()),
        raw: false,
    }))
    .expect("received");
    assert_eq!(typed.payload, b"legacy");
    assert_eq!(typed.sender_key, ka.to_base64());

    // Enclave.retrievePrivacyGroup {privacyGroupId} on B; C does not hold it.
    let retrieve = json!({"privacyGroupId": group_id});
    assert_eq!(
        ok_json(post(&http, &qb, "/retrievePrivacyGroup", JSON, &retrieve)),
        created
    );
    let (status, _) = refused(post(&http, &qc, "/retrievePrivacyGroup", JSON, &retrieve));
    assert_eq!(status, 404);

    // Refusals Besu can read, each storing nothing: a sender outside the group, an unknown
    // recipient or sender (no LEGACY group left behind), an empty payload, a missing key.
    let stranger = PublicKey::from_bytes(vec![9; 32]);
    let refusals = [
        (
            &qc,
            "/send",
            JSON,
            json!({"payload": b64(b"x"), "from": kc.to_base64(),
            "privacyGroupId": group_id}),
            404,
            "C does not hold the group",
        ),
        (
            &qa,
            "/send",
            JSON,
            json!({"payload": b64(b"x"), "from": ka.to_base64(),
            "to": [stranger.to_base64()]}),
            404,
            "Recipient not found",
        ),
        (
            &qa,
            "/send",
            JSON,
            json!({"payload": b64(b"x"), "from": stranger.to_base64(),
            "to": [kb.to_base64()]}),
            404,
            "not our key",
        ),
        (
            &qa,
            "/send",
            JSON,
            json!({"payload": "", "to": [kb.to_base64()]}),
            400,
            "no payload",
        ),
        (
            &qb,
            "/receive",
            ORION,
            json!({"to": kb.to_base64()}),
            400,
            "no key",
        ),
        (
            &qb,
            "/receive",
            ORION,
            json!({"key": b64(&[1; 32])}),
            404,
            "unknown transaction",
        ),
    ];
    for (base, path, media, body, expected, what) in refusals {
        let (status, error) = refused(post(&http, base, path, media, &body));
        assert_eq!(status, expected, "{what}: {error}");
    }
    let (_, error) = refused(post(
        &http,
        &qa,
        "/send",
        JSON,
        &json!({"payload": b64(b"x"), "from": ka.to_base64(), "to": [stranger.to_base64()]}),
    ));
    assert!(error.contains("Recipient not found"), "{error}");
    assert_eq!(
        groups(&http, &a, "legacy").len(),
        1,
        "a refused send left a LEGACY group"
    );

    // Enclave.deletePrivacyGroup {privacyGroupId, from}: a JSON string; the deletion reaches B.
    let deleted = post(
        &http,
        &qa,
        "/deletePrivacyGroup",
        JSON,
        &json!({"privacyGroupId": group_id, "from": ka.to_base64()}),
    );
    assert_eq!(ok_json(deleted), json!(group_id));
    for base in [&qa, &qb] {
        let (status, _) = refused(post(&http, base, "/retrievePrivacyGroup", JSON, &retrieve));
        assert_eq!(status, 404);
    }
    let (status, _) = refused(post(
        &http,
        &qa,
        "/send",
        JSON,
        &json!({"payload": b64(b"late"), "from": ka.to_base64(), "privacyGroupId": group_id}),
    ));
    assert_eq!(status, 404, "a deleted group takes no sends");
}

#[test]
fn each_mode_serves_its_own_routes_and_refuses_the_others_as_tessera_does() {
    let mut orion = orion_node("mode-orion", &[]);
    orion.start(Service::P2p).start(Service::Q2t);
    let mut tessera = TestNode::new("mode-tessera", 1, &[]);
    tessera.start(Service::P2p).start(Service::Q2t);
    let http = Client::new();
    let key = orion.keys[0].public.to_base64();
    let status = |response: Response| response.status().as_u16();

    // Tessera mode: no POST /receive (Jersey's 404 text).
    let response = post(
        &http,
        &tessera.q2t_url(),
        "/receive",
        ORION,
        &json!({"key": b64(&[1; 64])}),
    );
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.text().expect("body"), "HTTP 404 Not Found");
    // ... and its /send answers 201, with every variant.
    let send = json!({"payload": b64(b"x"), "to": []});
    assert_eq!(
        status(post(
            &http,
            &tessera.q2t_url(),
            "/send",
            "application/json",
            &send
        )),
        201
    );

    // Orion mode: GoQuorum's routes are not there.
    let base = orion.q2t_url();
    for (method, path) in [
        (
            "GET",
            format!("transaction/{}", b64(&[1; 32]).replace('/', "%2F")),
        ),
        ("POST", "sendsignedtx".into()),
        ("POST", "sendraw".into()),
        ("GET", "receiveraw".into()),
        ("POST", "encodedpayload/create".into()),
        ("GET", "partyinfo/keys".into()),
    ] {
        let url = at(&base, &path);
        let request = if method == "GET" {
            http.get(url)
        } else {
            http.post(url)
                .header("Content-Type", "application/json")
                .body("{}")
        };
        let response = request.send().expect("answer");
        assert_eq!(response.status().as_u16(), 404, "{method} {path}");
    }
    // /send takes application/json only (Jersey's 415, which Tessera answers as 500).
    let response = post(&http, &base, "/send", MediaType::V2_1.as_str(), &send);
    assert_eq!(response.status().as_u16(), 500);
    assert!(response.text().expect("body").contains("415"));
    // /send answers 200, /storeraw is there, /receive takes both JSON media types.
    let sent = ok_json(post(&http, &base, "/send", "application/json", &send));
    let sent_key = sent["key"].as_str().expect("key").to_owned();
    for media in ["application/json", ORION, "application/json; charset=utf-8"] {
        let received = ok_json(post(
            &http,
            &base,
            "/receive",
            media,
            &json!({"key": sent_key}),
        ));
        assert_eq!(received["payload"], json!(b64(b"x")));
        assert_eq!(received["senderKey"], json!(key));
        assert!(received["privacyGroupId"].is_string(), "{received}");
    }
    let response = post(
        &http,
        &base,
        "/receive",
        "text/plain",
        &json!({"key": sent_key}),
    );
    assert_eq!(response.status().as_u16(), 500, "Jersey's 415");
    let response = http
        .post(at(&base, "receive"))
        .header("Content-Type", ORION)
        .header("Accept", "text/plain")
        .body(json!({"key": sent_key}).to_string())
        .send()
        .expect("answer");
    assert_eq!(response.status().as_u16(), 500, "Jersey's 406");
    let stored = ok_json(post(
        &http,
        &base,
        "/storeraw",
        "application/json",
        &json!({"payload": b64(b"raw")}),
    ));
    let raw_key = stored["key"].as_str().expect("key").to_owned();
    assert_eq!(
        TxHash::from_base64(&raw_key).expect("b64").as_bytes().len(),
        32
    );
    // A raw payload is read with the raw flag (either of its JSON names).
    for flag in ["raw", "isRaw"] {
        let received = ok_json(post(
            &http,
            &base,
            "/receive",
            ORION,
            &json!({"key": raw_key, flag: true}),
        ));
        assert_eq!(received["payload"], json!(b64(b"raw")), "{flag}");
    }
    // Malformed input: bad JSON 400, a key that is not base64 (Tessera decodes it itself: 500).
    let response = http
        .post(at(&base, "receive"))
        .header("Content-Type", ORION)
        .body("{not json")
        .send()
        .expect("answer");
    assert_eq!(response.status().as_u16(), 400);
    assert_eq!(
        status(post(
            &http,
            &base,
            "/receive",
            ORION,
            &json!({"key": "%%%"})
        )),
        500
    );
    assert_eq!(
        status(post(
            &http,
            &base,
            "/receive",
            ORION,
            &json!({"key": sent_key, "to": "%%%"})
        )),
        500
    );
    // The group endpoints are served in both modes.
    for node in [&orion, &tessera] {
        let response = post(
            &http,
            &node.q2t_url(),
            "/retrievePrivacyGroup",
            "application/json",
            &json!({"privacyGroupId": b64(b"nothing")}),
        );
        assert_eq!(response.status().as_u16(), 404, "{}", node.name);
        assert!(groups(&http, node, "pantheon").is_empty());
    }
}

#[test]
fn one_store_serves_both_modes_in_turn() {
    let mut node = orion_node("one-store", &[]);
    node.start(Service::P2p).start(Service::Q2t);
    let own = node.keys[0].public.clone();
    let http = Client::new();

    // Written in orion mode: a send (with its LEGACY group) and a raw payload.
    let sent = ok_json(post(
        &http,
        &node.q2t_url(),
        "/send",
        "application/json",
        &json!({"payload": b64(b"from orion"), "to": [own.to_base64()]}),
    ));
    let orion_hash = TxHash::from_base64(sent["key"].as_str().expect("key")).expect("b64");
    let legacy = groups(&http, &node, "legacy");
    assert_eq!(legacy.len(), 1);

    // Restarted in tessera mode on the same database: GoQuorum's receive reads it, with its
    // group; the group is still there; new keys are SHA3-512.
    node.stop(Service::Q2t);
    node.stop(Service::P2p);
    node.config.mode = ClientMode::Tessera;
    node.start(Service::P2p).start(Service::Q2t);
    let client = Q2tClient::new(&node.q2t_url()).expect("client");
    let received =
        block_on(client.receive(&orion_hash, None, false, MediaType::V2_1)).expect("received");
    assert_eq!(received.payload, b"from orion");
    assert_eq!(
        received.privacy_group_id,
        legacy[0]["privacyGroupId"].as_str().map(str::to_owned)
    );
    assert_eq!(groups(&http, &node, "legacy"), legacy);
    let tessera_sent = block_on(client.send(
        &SendRequest::new(b"from tessera".to_vec(), std::slice::from_ref(&own)),
        MediaType::Json,
    ))
    .expect("sent");
    let tessera_key = tessera_sent.response.key;
    assert_eq!(
        TxHash::from_base64(&tessera_key)
            .expect("b64")
            .as_bytes()
            .len(),
        64
    );

    // Back in orion mode: Besu's receive reads what tessera mode stored.
    node.stop(Service::Q2t);
    node.stop(Service::P2p);
    node.config.mode = ClientMode::Orion;
    node.start(Service::P2p).start(Service::Q2t);
    let received = ok_json(post(
        &http,
        &node.q2t_url(),
        "/receive",
        ORION,
        &json!({"key": tessera_key}),
    ));
    assert_eq!(received["payload"], json!(b64(b"from tessera")));
    assert_eq!(received["senderKey"], json!(own.to_base64()));
    assert!(received.get("privacyGroupId").is_none(), "{received}");
}
