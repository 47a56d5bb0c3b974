use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_testkit::{eventually, http_ok, upcheck, TestNode};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn knows(p2p: &str, key: &tm_core::PublicKey) -> bool {
    reqwest::blocking::get(format!("{p2p}partyinfo"))
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .is_ok_and(|info| info.keys.iter().any(|k| &k.key == key))
}

#[test]
fn two_all_in_one_nodes_exchange_a_transaction() {
    let mut b = TestNode::new("tessera-b", 1, &[]);
    let b_p2p = b.p2p_url();
    b.start("tessera", Some(&b_p2p));
    let mut a = TestNode::new("tessera-a", 1, std::slice::from_ref(&b_p2p));
    let a_p2p = a.p2p_url();
    a.start("tessera", Some(&a_p2p));

    // One process serves every interface of the config.
    for node in [&a, &b] {
        assert!(upcheck(&node.q2t_url()), "Q2T of {}", node.name);
        assert!(
            upcheck(&node.thirdparty_url()),
            "ThirdParty of {}",
            node.name
        );
        assert!(http_ok(&format!("{}readiness", node.p2p_url())));
    }
    let b_key = b.keys[0].public.clone();
    assert!(
        eventually(Duration::from_secs(20), || knows(&a_p2p, &b_key)),
        "A never learned B's key"
    );

    let a_q2t = Q2tClient::new(&a.q2t_url()).expect("client");
    let b_q2t = Q2tClient::new(&b.q2t_url()).expect("client");
    let sent = block_on(a_q2t.send(
        &SendRequest::new(b"all in one".to_vec(), &[b_key]),
        MediaType::V2_1,
    ))
    .expect("sent");
    let hash = tm_core::TxHash::from_base64(&sent.response.key).expect("base64 hash");
    let received = block_on(b_q2t.receive(&hash, None, false, MediaType::V2_1)).expect("received");
    assert_eq!(received.payload, b"all in one");
}

#[test]
fn dump_config_prints_the_effective_config_without_secrets() {
    let mut node = TestNode::new("dump", 1, &[]);
    node.config["jdbc"]["password"] = serde_json::json!("db-s3cret");
    node.write_config();
    let out = std::process::Command::new(tm_testkit::binary("tessera"))
        .args([
            "-configfile",
            &node.config_path().display().to_string(),
            "-o",
            "jdbc.autoCreateTables=false",
            "--dump-config",
        ])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("db-s3cret"), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["jdbc"]["autoCreateTables"], false);
    let bad = std::process::Command::new(tm_testkit::binary("tessera"))
        .args(["-configfile", "/nonexistent/tessera.json"])
        .output()
        .expect("runs");
    assert_eq!(
        bad.status.code(),
        Some(3),
        "an unreadable config exits 3, as Tessera"
    );
}

#[test]
fn migrate_only_creates_the_tables_services_without_auto_create_need() {
    let mut node = TestNode::new("migrate", 1, &[]);
    node.config["jdbc"]["autoCreateTables"] = serde_json::json!(false);
    node.write_config();
    let config = node.config_path().display().to_string();
    // Without tables, a service refuses to start, with Tessera's message.
    let refused = std::process::Command::new(tm_testkit::binary("p2p-node"))
        .args(["-configfile", &config])
        .current_dir(node.dir.path())
        .output()
        .expect("runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("has not been setup correctly"));

    let migrated = std::process::Command::new(tm_testkit::binary("tessera"))
        .args(["-configfile", &config, "--migrate-only"])
        .current_dir(node.dir.path())
        .output()
        .expect("runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("migrations applied"));

    let url = node.p2p_url();
    node.start("p2p-node", Some(&url));
    assert!(http_ok(&format!("{url}readiness")));
}
