//! The `tessera` binary's graceful handover on SIGTERM, as every node service does it: each
//! interface's `/readiness` answers 503 for the drain period while its other endpoints are
//! still served, then it stops accepting, finishes the send in flight and exits 0.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tm_client::q2t::SendRequest;
use tm_config::AppType;
use tm_dev_support::config::{generate_key_files, write};
use tm_dev_support::NodeConfig;

/// The drain period the test configures: long enough to look at the drain.
const DRAIN_MS: u64 = 3000;

/// The port `interface` logged it listens on (`<interface> listening listen=http://127.0.0.1:port`).
fn listening_port(log: &str, interface: &str) -> Option<u16> {
    let line = log
        .lines()
        .find(|l| l.contains(&format!("{interface} listening")))?;
    // The line may be coloured: the port is what follows the address.
    let digits: String = line
        .rsplit("127.0.0.1:")
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
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

/// Polls `ready` every 20 ms until it holds; fails with `what` after `limit`.
fn wait_for(limit: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_drains_every_interface_then_finishes_the_send_in_flight_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key_files = generate_key_files(dir.path(), 1).expect("keys");
    let config = NodeConfig::new()
        .p2p("http://127.0.0.1:0")
        .q2t("http://127.0.0.1:0")
        .property(AppType::P2P, "drainPeriod", &DRAIN_MS.to_string())
        .property(AppType::Q2T, "drainPeriod", &DRAIN_MS.to_string())
        .keys(key_files.into_iter().map(|(_, files)| files))
        .sqlite(&dir.path().join("tm.db"))
        .build();
    let config_path = dir.path().join("tessera.json");
    write(&config, &config_path).expect("config written");
    let log_path = dir.path().join("tessera.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("-configfile")
        .arg(&config_path)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("log file"))
        .spawn()
        .expect("tessera starts");
    let log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let mut ports = (None, None);
    wait_for(Duration::from_secs(60), "tessera did not start", || {
        let text = log();
        ports = (listening_port(&text, "p2p"), listening_port(&text, "q2t"));
        let exited = child.try_wait().ok().flatten();
        assert!(exited.is_none(), "tessera exited with {exited:?}: {text}");
        ports.0.is_some() && ports.1.is_some()
    });
    let (Some(p2p), Some(q2t)) = ports else {
        unreachable!("both ports were logged")
    };
    wait_for(Duration::from_secs(30), "never ready", || {
        get(p2p, "/readiness").status() == 200 && get(q2t, "/readiness").status() == 200
    });

    // A send in flight: its head and half of its body sent, the rest only after tessera has
    // stopped accepting connections.
    let body = serde_json::to_vec(&SendRequest::new(b"in flight".to_vec(), &[])).expect("JSON");
    let (first, rest) = body.split_at(body.len() / 2);
    let mut send = TcpStream::connect(("127.0.0.1", q2t)).expect("connect");
    write!(
        send,
        "POST /send HTTP/1.1\r\nhost: q2t\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    )
    .expect("head sent");
    send.write_all(first).expect("half the body sent");
    send.flush().expect("flushed");

    let sent = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(sent.success());
    wait_for(
        Duration::from_millis(DRAIN_MS),
        "/readiness never answered 503",
        || get(p2p, "/readiness").status() == 503,
    );
    for port in [p2p, q2t] {
        let refused = get(port, "/readiness");
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.text().expect("body"), "not ready: shutting down");
        // The rest is still served, each answer closing its connection.
        let served = get(port, "/upcheck");
        assert_eq!(served.status(), 200);
        assert_eq!(
            served
                .headers()
                .get("connection")
                .and_then(|v| v.to_str().ok()),
            Some("close")
        );
    }
    assert_eq!(get(p2p, "/partyinfo").status(), 200);

    wait_for(
        Duration::from_secs(30),
        "still accepting after the drain",
        || TcpStream::connect(("127.0.0.1", q2t)).is_err(),
    );
    send.write_all(rest).expect("the rest of the body sent");
    let mut answer = String::new();
    send.read_to_string(&mut answer)
        .expect("answer, then closed");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    assert!(answer.contains("\"key\""), "{answer}");

    let mut status = None;
    wait_for(Duration::from_secs(30), "tessera still running", || {
        status = child.try_wait().expect("wait");
        status.is_some()
    });
    let status = status.expect("exited");
    assert_eq!(status.code(), Some(0), "{}", log());
    assert!(log().contains("SIGTERM: graceful handover"), "{}", log());
}
