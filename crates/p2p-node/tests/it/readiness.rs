//! `/readiness`: 200 while the database and the enclave can be used, 503 otherwise, while
//! `/upcheck` (liveness) stays 200.

use std::time::Duration;

use tm_dev_support::postgres::{psql, Schema};
use tm_dev_support::{eventually, Service, TestNode};

fn status(url: &str) -> u16 {
    reqwest::blocking::get(url).map_or(0, |r| r.status().as_u16())
}

#[test]
fn readiness_follows_the_enclave_and_the_database() {
    let mut node = TestNode::new("ready", 1, &[]);
    let schema = Schema::create("readiness");
    node.use_postgres(&schema);
    node.use_remote_enclave();
    node.start(Service::Enclave).start(Service::P2p);
    let base = node.p2p_url();
    let ready = format!("{base}readiness");
    let up = format!("{base}upcheck");
    assert_eq!(status(&ready), 200);

    node.stop(Service::Enclave);
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 503));
    let body = reqwest::blocking::get(&ready)
        .and_then(|r| r.text())
        .unwrap_or_default();
    assert!(body.contains("enclave"), "{body}");
    assert_eq!(status(&up), 200, "liveness does not depend on the enclave");

    node.start(Service::Enclave);
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 200));

    // The database loses its tables: not ready, still alive.
    assert!(psql(&format!("DROP SCHEMA {} CASCADE", schema.name)));
    assert!(eventually(Duration::from_secs(10), || status(&ready) == 503));
    assert_eq!(status(&up), 200);
}
