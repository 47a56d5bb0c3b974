//! The all-in-one launcher: two nodes that discover each other and exchange a transaction
//! (in-process, through `tessera::start`), and the `tessera` binary's config handling:
//! `--dump-config`, exit codes, `--migrate-only`.

use std::process::Command;
use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_config::cli::Exit;
use tm_config::Secret;
use tm_dev_support::{block_on, eventually, http_ok, upcheck, Service, TestNode};

fn knows(p2p: &str, key: &tm_core::PublicKey) -> bool {
    reqwest::blocking::get(format!("{p2p}partyinfo"))
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .is_ok_and(|info| info.keys.iter().any(|k| &k.key == key))
}

/// Starts every interface of `node` in one server, as the `tessera` binary does.
fn start_all_in_one(node: &mut TestNode) {
    node.start_with(
        &[Service::P2p, Service::Q2t, Service::ThirdParty],
        |config, listeners| {
            let listeners = listeners
                .into_iter()
                .map(|(service, listener)| (service.app(), listener))
                .collect();
            tessera::start(config, listeners)
        },
    );
}

#[test]
fn two_all_in_one_nodes_exchange_a_transaction() {
    let mut b = TestNode::new("tessera-b", 1, &[]);
    start_all_in_one(&mut b);
    let b_p2p = b.p2p_url();
    let mut a = TestNode::new("tessera-a", 1, std::slice::from_ref(&b_p2p));
    start_all_in_one(&mut a);
    let a_p2p = a.p2p_url();

    // One server serves every interface of the config.
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
    node.config.jdbc.as_mut().expect("jdbc").password = Some(Secret::new("db-s3cret"));
    let path = node.write_config();
    let written = std::fs::read_to_string(&path).expect("config file");
    assert!(written.contains("db-s3cret"), "the file holds the password");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "-configfile",
            &path.display().to_string(),
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
    let bad = Command::new(env!("CARGO_BIN_EXE_tessera"))
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
    node.config.jdbc.as_mut().expect("jdbc").auto_create_tables = false;
    // Without tables, a service refuses to start, with Tessera's message and exit code.
    let refused = node.try_start(Service::P2p).expect_err("no tables");
    assert_eq!(refused.exit(), Exit::Failure);
    assert_eq!(refused.exit().code(), 2);
    assert!(
        refused.to_string().contains("has not been setup correctly"),
        "{refused}"
    );

    let config = node.write_config();
    let migrated = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "-configfile",
            &config.display().to_string(),
            "--migrate-only",
        ])
        .current_dir(node.dir.path())
        .output()
        .expect("runs");
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("migrations applied"));

    node.start(Service::P2p);
    assert!(http_ok(&format!("{}readiness", node.p2p_url())));
}

#[test]
fn one_version_for_version_endpoints_and_the_command_line() {
    let expected = format!("tessera {}", tm_config::cli::VERSION_LINE);
    for flag in ["--version", "version", "-version"] {
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg(flag)
            .output()
            .expect("runs");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            expected,
            "{flag}"
        );
    }
    assert!(expected.contains(env!("CARGO_PKG_VERSION")));
    assert!(expected.contains("Tessera 24.4"));

    let mut node = TestNode::new("version", 1, &[]);
    node.start(Service::P2p).start(Service::Q2t);
    for url in [node.p2p_url(), format!("{}/", node.q2t_url())] {
        for path in ["version", "version/distribution"] {
            let body = reqwest::blocking::get(format!("{url}{path}"))
                .and_then(|r| r.text())
                .expect("GET version");
            assert_eq!(body, tm_config::cli::VERSION, "{url}{path}");
        }
    }
}

#[test]
fn import_h2_refuses_a_target_it_cannot_use_without_echoing_its_url() {
    let mut node = TestNode::new("import-h2-target", 1, &[]);
    node.config.jdbc.as_mut().expect("jdbc").url =
        Some("jdbc:h2:/data/tessera;PASSWORD=hunter2".to_owned());
    let config = node.write_config();
    let dump = node.dir.path().join("dump.sql");
    std::fs::write(&dump, "").expect("an empty dump");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["import-h2", "--script"])
        .arg(&dump)
        .arg("-configfile")
        .arg(&config)
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("jdbc:h2:..."), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the URL's password was printed: {stderr}"
    );
}

#[test]
fn the_binary_exports_spans_to_the_otlp_endpoint_of_the_environment() {
    let collector = tm_dev_support::otlp::Collector::default();
    let base = collector.start().expect("a collector");
    // A node with P2P and Q2T servers, whose ports the binary takes over.
    let mut node = TestNode::new("otlp-export", 1, &[]);
    if let Some(servers) = node.config.server_configs.as_mut() {
        servers.retain(|s| s.app != Some(tm_config::AppType::ThirdParty));
    }
    node.start(Service::P2p).start(Service::Q2t);
    node.stop(Service::P2p);
    node.stop(Service::Q2t);
    let config = node.write_config();
    let log = node.dir.path().join("tessera.log");
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command
        .args(["-configfile", &config.display().to_string()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &base)
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .current_dir(node.dir.path());
    let mut process =
        tm_dev_support::process::Process::spawn("tessera", command, &log).expect("spawned");
    let p2p = node.p2p_url();
    process
        .wait_ready(Duration::from_secs(30), || upcheck(&p2p))
        .expect("the binary serves");
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let answer = reqwest::blocking::Client::new()
        .get(format!("{p2p}partyinfo"))
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .send()
        .expect("GET /partyinfo");
    assert_eq!(answer.status(), 200);
    assert!(
        eventually(Duration::from_secs(30), || !collector
            .trace(trace)
            .is_empty()),
        "no span of trace {trace} reached the collector: {:?}\n{}",
        collector.spans(),
        process.log()
    );
    let span = collector.trace(trace).remove(0);
    assert_eq!(span.name, "GET /partyinfo");
    assert_eq!(
        span.parent, "00f067aa0ba902b7",
        "the caller's span is the parent"
    );
    assert_eq!(span.kind, tm_dev_support::otlp::SERVER);
    assert_eq!(span.service, "tessera", "named by the binary");
    assert!(
        process.log().contains("exporting traces over OTLP"),
        "{}",
        process.log()
    );
}
