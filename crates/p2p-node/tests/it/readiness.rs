//! `/readiness`: 200 while the database and the enclave can be used, 503 otherwise, while
//! `/upcheck` (liveness) stays 200.

use std::time::Duration;

use tm_testkit::{eventually, postgres_schema, psql, TestNode};

fn status(url: &str) -> u16 {
    reqwest::blocking::get(url).map_or(0, |r| r.status().as_u16())
}

#[test]
fn readiness_follows_the_enclave_and_the_database() {
    let mut node = TestNode::new("ready", 1, &[]);
    let (url, user, password) = postgres_schema("readiness");
    node.use_database(&url, Some(&user), Some(&password));
    node.use_remote_enclave();
    node.start_enclave();
    let base = node.p2p_url();
    node.start("p2p-node", Some(&base));
    let ready = format!("{base}readiness");
    let up = format!("{base}upcheck");
    assert_eq!(status(&ready), 200);

    node.stop("enclave");
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 503));
    let body = reqwest::blocking::get(&ready)
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(body.contains("enclave"), "{body}");
    assert_eq!(status(&up), 200, "liveness does not depend on the enclave");

    node.start_enclave();
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 200));

    // The database loses its tables: not ready, still alive.
    let schema = url
        .rsplit("currentSchema=")
        .next()
        .unwrap_or_default()
        .to_owned();
    assert!(psql(&format!("DROP SCHEMA {schema} CASCADE")));
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 503));
    assert_eq!(status(&up), 200);
}
