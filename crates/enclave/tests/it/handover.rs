//! The `enclave` binary's graceful handover on SIGTERM: `/readiness` answers 503 for the drain
//! period while every other request is still served, then it stops accepting, finishes the
//! request in flight and exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tm_core::seal::PrivacyMetadata;
use tm_enclave::api;

use crate::support::{keys, write_config, EnclaveProcess};

/// The drain period the test configures: long enough to look at the drain.
const DRAIN_MS: u64 = 3000;

/// Sets `drainPeriod` on the config's server entry.
fn with_drain_period(config: &Path, millis: u64) {
    let text = std::fs::read_to_string(config).expect("config");
    let mut json: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    json["serverConfigs"][0]["properties"] =
        serde_json::json!({ "drainPeriod": millis.to_string() });
    std::fs::write(config, json.to_string()).expect("config written");
}

fn get(port: u16, path: &str) -> reqwest::blocking::Response {
    reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
        .get(format!("http://127.0.0.1:{port}{path}"))
        .send()
        .expect("answered")
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_then_finishes_the_request_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), 0);
    with_drain_period(&config, DRAIN_MS);
    let (mut process, port) = EnclaveProcess::launch(&config).await;
    let pid = process.child.id();

    let checked = tokio::task::spawn_blocking(move || {
        assert_eq!(get(port, "/readiness").status(), 200);
        assert_eq!(get(port, "/upcheck").text().expect("body"), "I'm up!");

        // A request in flight: its head and half of its body sent, the rest only after the
        // enclave has stopped accepting connections.
        let k = keys();
        let body = serde_json::to_vec(&api::EnclavePayload::new(
            b"in flight",
            &k.a.public,
            std::slice::from_ref(&k.b.public),
            &PrivacyMetadata::default(),
        ))
        .expect("JSON");
        let (first, rest) = body.split_at(body.len() / 2);
        let mut slow = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        write!(
            slow,
            "POST /encrypt HTTP/1.1\r\nhost: enclave\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            body.len()
        )
        .expect("head sent");
        slow.write_all(first).expect("half the body sent");
        slow.flush().expect("flushed");

        signal(pid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(DRAIN_MS / 1000);
        let refused = loop {
            let response = get(port, "/readiness");
            if response.status() == 503 {
                break response;
            }
            assert!(Instant::now() < deadline, "/readiness never answered 503");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(refused.text().expect("body"), "not ready: shutting down");
        // The enclave still serves while it drains, and closes each connection it answers.
        let served = get(port, "/public");
        assert_eq!(served.status(), 200);
        assert_eq!(
            served
                .headers()
                .get("connection")
                .and_then(|v| v.to_str().ok()),
            Some("close")
        );

        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_ok() {
            assert!(Instant::now() < deadline, "still accepting after the drain");
            std::thread::sleep(Duration::from_millis(50));
        }
        slow.write_all(rest).expect("the rest of the body sent");
        // The encrypted payload is binary: only the status line is text.
        let mut answer = Vec::new();
        slow.read_to_end(&mut answer).expect("answer, then closed");
        String::from_utf8_lossy(&answer).into_owned()
    })
    .await
    .expect("client thread");
    assert!(checked.starts_with("HTTP/1.1 200"), "{checked}");
    assert!(checked.contains("connection: close"), "{checked}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = process.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running: {}",
            process.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0), "{}", process.log());
    let log = process.log();
    assert!(log.contains("SIGTERM: graceful handover"), "{log}");
}
