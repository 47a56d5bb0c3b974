//! `cargo xtask interop`: a mixed network of Java Tessera and our nodes, on loopback.
//!
//! Fetches a release of Java Tessera from Maven Central with `mvn` into `target/interop/`
//! (never committed), starts one Java node beside our nodes, and checks both directions:
//! discovery, sends with the right plaintext and privacy flag, party protection, LEGACY and
//! CBOR pushes, resend, a Java node on our remote enclave, and Java's key files and config read
//! by our binaries. Findings go to `docs/compat.md`.
//!
//! When Tessera cannot be fetched it prints one `interop: SKIPPED ...` line and succeeds; any
//! mismatch between the nodes fails. `--self-check` runs every check with one of our nodes in
//! the Java node's seat, to show the harness itself is sound where no Java Tessera is at hand.

mod checks;
mod fetch;
mod nodes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tm_core::{PayloadCodec, PrivacyMode};
use tm_dev_support::block_on;

use checks::Report;
use fetch::JavaTessera;
use nodes::{Node, NodeKeys, NodeSpec, Runtime};

/// The Tessera release fetched unless `--tessera-version` or `TM_INTEROP_TESSERA_VERSION`
/// names another.
pub const DEFAULT_TESSERA_VERSION: &str = "24.4.2";

/// How long a node may take to answer `/upcheck` (a JVM with Tessera takes seconds).
const START_LIMIT: Duration = Duration::from_secs(120);

const USAGE: &str = "usage: cargo xtask interop [--tessera-version V] [--dist DIR] [--self-check]

  --tessera-version V  the Tessera release to fetch from Maven Central (default 24.4.2,
                       or $TM_INTEROP_TESSERA_VERSION)
  --dist DIR           use an unpacked Tessera distribution (bin/tessera or lib/) instead of
                       Maven (or $TM_INTEROP_TESSERA_DIST)
  --self-check         put one of our nodes in the Java node's seat (tests the harness only)";

struct Options {
    version: String,
    dist: Option<PathBuf>,
    self_check: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        version: std::env::var("TM_INTEROP_TESSERA_VERSION")
            .unwrap_or_else(|_| DEFAULT_TESSERA_VERSION.to_owned()),
        dist: std::env::var_os("TM_INTEROP_TESSERA_DIST").map(PathBuf::from),
        self_check: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tessera-version" => {
                options.version = args.next().cloned().ok_or(USAGE)?;
            }
            "--dist" => options.dist = Some(args.next().map(PathBuf::from).ok_or(USAGE)?),
            "--self-check" => options.self_check = true,
            _ => return Err(USAGE.to_owned()),
        }
    }
    Ok(options)
}

/// Entry point: `cargo xtask interop [...]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let work = crate::target_dir().join("interop");

    let java = match other_seat(&options, &work)? {
        Seat::Java(tessera) => Some(tessera),
        Seat::Ours => None,
        Seat::Unavailable => return Ok(()),
    };
    println!("interop: building our binaries");
    let bin_dir = crate::build_services(false)?;
    let run_dir = fresh_run_dir(&work)?;
    println!("interop: files and logs in {}", run_dir.display());

    let mut report = Report::default();
    if let Err(e) = mixed_network(java, &bin_dir, &run_dir, &mut report) {
        report.record("set-up", Err(e));
    }
    conclude(&report, &run_dir)
}

/// Who sits in the other node's seat.
enum Seat {
    /// Java Tessera.
    Java(JavaTessera),
    /// One of our nodes (`--self-check`).
    Ours,
    /// Nobody: Java Tessera could not be fetched (the run is SKIPPED).
    Unavailable,
}

/// Java Tessera from `--dist` or Maven Central, or our node with `--self-check`.
fn other_seat(options: &Options, work: &Path) -> Result<Seat, String> {
    if options.self_check {
        println!("interop: self-check: our node takes the Java node's seat (harness test, not interop evidence)");
        return Ok(Seat::Ours);
    }
    if let Some(dist) = &options.dist {
        println!(
            "interop: using the Tessera distribution in {}",
            dist.display()
        );
        return fetch::from_dist(dist).map(Seat::Java);
    }
    println!(
        "interop: fetching Tessera {} with Maven ({}:tessera-dist / tessera-app)",
        options.version,
        fetch::GROUP
    );
    match fetch::from_maven(&options.version, work) {
        Ok(found) => Ok(Seat::Java(found)),
        Err(tried) => {
            println!(
                "interop: SKIPPED: Java Tessera {} could not be fetched from Maven Central; tried: {}",
                options.version,
                tried.join("; ")
            );
            Ok(Seat::Unavailable)
        }
    }
}

/// Prints the count; a failed run keeps its logs and lists what failed.
fn conclude(report: &Report, run_dir: &Path) -> Result<(), String> {
    println!(
        "interop: {} passed, {} failed",
        report.passed,
        report.failed.len()
    );
    if report.failed.is_empty() {
        let _ = std::fs::remove_dir_all(run_dir);
        Ok(())
    } else {
        Err(format!(
            "interop: {} check(s) failed (logs in {}):\n  {}",
            report.failed.len(),
            run_dir.display(),
            report.failed.join("\n  ")
        ))
    }
}

/// `target/interop/run-<pid>-<time>`: each run's configs, keys, databases and logs.
fn fresh_run_dir(work: &Path) -> Result<PathBuf, String> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let dir = work.join(format!("run-{stamp}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// Starts the network and runs every check; returns an error only when a node cannot be set
/// up (every check failure is in `report`). Every process stops when this returns.
fn mixed_network(
    java: Option<JavaTessera>,
    bin_dir: &Path,
    run_dir: &Path,
    report: &mut Report,
) -> Result<(), String> {
    let ours_rt = Runtime::Ours {
        bin_dir: bin_dir.to_owned(),
    };
    let other_rt = match &java {
        Some(tessera) => Runtime::Java(tessera.clone()),
        None => ours_rt.clone(),
    };
    let other_name = match java {
        Some(_) => "Java",
        None => "seat",
    };
    let (other, ours) = start_pair(&other_rt, other_name, &ours_rt, run_dir)?;
    block_on(check_pair(other_name, &other, &ours, report));

    // Our binaries read the other node's config file as it is.
    report.record(
        &format!("our p2p-node reads the {other_name} node's config"),
        dump_config(bin_dir, &other.config_path, &other.p2p),
    );

    // A second node of the other kind whose keys live in our remote enclave.
    remote_enclave_phase(&other_rt, other_name, bin_dir, run_dir, &ours, report);

    // Key files written by Java Tessera's own keygen, used by a second node of ours.
    if let Some(tessera) = &java {
        java_keygen_phase(tessera, bin_dir, run_dir, &other, report);
    }
    Ok(())
}

/// The other node and ours, each with fresh keys. Each lists the other as its peer; ports are
/// only known once a node is configured, so the other starts with no peer and learns of ours
/// when ours announces itself.
fn start_pair(
    other_rt: &Runtime,
    other_name: &str,
    ours_rt: &Runtime,
    run_dir: &Path,
) -> Result<(Node, Node), String> {
    // The Java node's keys are written by our keygen (Tessera reads the same files).
    let other_keys = NodeKeys::generate(&prepare(run_dir, "java-keys")?, 1)?;
    let our_keys = NodeKeys::generate(&prepare(run_dir, "ours-keys")?, 1)?;
    println!(
        "interop: starting the {other_name} node ({})",
        other_rt.label()
    );
    let other = Node::start(
        NodeSpec {
            name: other_name,
            dir: run_dir.join("java"),
            runtime: other_rt.clone(),
            keys: &other_keys,
            peers: vec![],
            remote_enclave: None,
        },
        START_LIMIT,
    )?;
    println!("interop: {other_name} node up at {} (P2P)", other.p2p);
    let ours = Node::start(
        NodeSpec {
            name: "ours",
            dir: run_dir.join("ours"),
            runtime: ours_rt.clone(),
            keys: &our_keys,
            peers: vec![other.p2p.clone()],
            remote_enclave: None,
        },
        START_LIMIT,
    )?;
    println!("interop: our node up at {} (P2P)", ours.p2p);
    Ok((other, ours))
}

/// Every check between the other node `o` and ours `u`, both ways: discovery, the codec,
/// sends, party protection, pushes, resends.
async fn check_pair(other_name: &str, o: &Node, u: &Node, report: &mut Report) {
    report.record(
        &format!("party info: ours learns {other_name}'s key"),
        checks::discovers(u, o).await,
    );
    report.record(
        &format!("party info: {other_name} learns our key"),
        checks::discovers(o, u).await,
    );
    let cbor = checks::speaks_cbor(o).await;
    report.record(
        &format!("{other_name} advertises API versions"),
        cbor.as_ref().map(drop).map_err(Clone::clone),
    );
    let codec = match &cbor {
        Ok(true) => "CBOR",
        Ok(false) => "LEGACY",
        Err(_) => "codec unknown",
    };
    let (to_ours, to_other) = check_sends(other_name, codec, o, u, report).await;
    check_pushes(other_name, matches!(cbor, Ok(true)), o, u, report).await;
    if let Ok((hash, plaintext)) = &to_ours {
        check_resends(other_name, "ours", o, u, hash, plaintext, report).await;
    }
    if let Ok((hash, plaintext)) = &to_other {
        check_resends("ours", other_name, u, o, hash, plaintext, report).await;
    }
}

/// A sent transaction and its plaintext.
type Sent = Result<(tm_core::TxHash, Vec<u8>), String>;

/// Standard sends both ways (returned for the resend checks), then party protection.
async fn check_sends(
    other_name: &str,
    codec: &str,
    o: &Node,
    u: &Node,
    report: &mut Report,
) -> (Sent, Sent) {
    let to_ours = checks::send(o, u, PrivacyMode::StandardPrivate).await;
    report.record(
        &format!("send {other_name} -> ours ({codec}, negotiated by {other_name})"),
        to_ours.as_ref().map(drop).map_err(Clone::clone),
    );
    let to_other = checks::send(u, o, PrivacyMode::StandardPrivate).await;
    report.record(
        &format!("send ours -> {other_name} ({codec})"),
        to_other.as_ref().map(drop).map_err(Clone::clone),
    );
    report.record(
        &format!("party protection {other_name} -> ours"),
        checks::send(o, u, PrivacyMode::PartyProtection)
            .await
            .map(drop),
    );
    report.record(
        &format!("party protection ours -> {other_name}"),
        checks::send(u, o, PrivacyMode::PartyProtection)
            .await
            .map(drop),
    );
    (to_ours, to_other)
}

/// Our pushes to the other node: LEGACY always, CBOR when it advertises 5.0.
async fn check_pushes(other_name: &str, cbor: bool, o: &Node, u: &Node, report: &mut Report) {
    report.record(
        &format!("push ours -> {other_name} (LEGACY)"),
        checks::push_codec(u, o, PayloadCodec::Legacy).await,
    );
    if cbor {
        report.record(
            &format!("push ours -> {other_name} (CBOR)"),
            checks::push_codec(u, o, PayloadCodec::Cbor).await,
        );
    } else {
        println!("interop: (no CBOR push: {other_name} does not advertise 5.0)");
    }
}

/// `asker` asks `holder` to resend what `holder` sent it: one transaction, then all.
async fn check_resends(
    holder_name: &str,
    asker_name: &str,
    holder: &Node,
    asker: &Node,
    hash: &tm_core::TxHash,
    plaintext: &[u8],
    report: &mut Report,
) {
    report.record(
        &format!("resend INDIVIDUAL {holder_name} -> {asker_name} (LEGACY answer)"),
        checks::resend_individual(holder, asker, hash, plaintext).await,
    );
    report.record(
        &format!("resend ALL {holder_name} -> {asker_name}"),
        checks::resend_all(holder, asker, hash, plaintext).await,
    );
}

/// `<run>/<name>`, created.
fn prepare(run_dir: &Path, name: &str) -> Result<PathBuf, String> {
    let dir = run_dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

/// `p2p-node --dump-config -configfile <config>`: exits 0 and shows the P2P address.
fn dump_config(bin_dir: &Path, config: &Path, p2p: &str) -> Result<(), String> {
    let output = Command::new(bin_dir.join("p2p-node"))
        .arg("-configfile")
        .arg(config)
        .arg("--dump-config")
        .output()
        .map_err(|e| format!("cannot run p2p-node: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "p2p-node --dump-config exited {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    if !text.contains(p2p) {
        return Err(format!("the dumped config does not show {p2p}"));
    }
    Ok(())
}

fn remote_enclave_phase(
    other_rt: &Runtime,
    other_name: &str,
    bin_dir: &Path,
    run_dir: &Path,
    ours: &Node,
    report: &mut Report,
) {
    let name = format!("{other_name} on our enclave");
    let outcome = (|| -> Result<(), String> {
        let keys = NodeKeys::generate(&prepare(run_dir, "enclave-keys")?, 1)?;
        let (_enclave, url) =
            nodes::start_our_enclave(bin_dir, &run_dir.join("enclave"), &keys, START_LIMIT)?;
        println!("interop: our enclave up at {url}; starting {name}");
        let node = Node::start(
            NodeSpec {
                name: &name,
                dir: run_dir.join("java-remote-enclave"),
                runtime: other_rt.clone(),
                keys: &keys,
                peers: vec![ours.p2p.clone()],
                remote_enclave: Some(url),
            },
            START_LIMIT,
        )?;
        println!("interop: {name} up at {} (P2P)", node.p2p);
        block_on(async {
            report.record(
                &format!("{name}: /keys lists the enclave's key"),
                checks::serves_keys(&node, &keys_of(&keys)).await,
            );
            report.record(
                &format!("party info: ours learns the key of {name}"),
                checks::discovers(ours, &node).await,
            );
            report.record(
                &format!("party info: {name} learns our key"),
                checks::discovers(&node, ours).await,
            );
            report.record(
                &format!("send {name} -> ours"),
                checks::send(&node, ours, PrivacyMode::StandardPrivate)
                    .await
                    .map(drop),
            );
            report.record(
                &format!("send ours -> {name}"),
                checks::send(ours, &node, PrivacyMode::StandardPrivate)
                    .await
                    .map(drop),
            );
        });
        Ok(())
    })();
    if let Err(e) = outcome {
        report.record(&format!("{name}: set-up"), Err(e));
    }
}

fn java_keygen_phase(
    tessera: &JavaTessera,
    bin_dir: &Path,
    run_dir: &Path,
    java: &Node,
    report: &mut Report,
) {
    let dir = run_dir.join("java-keygen");
    let keys = match nodes::java_keygen(tessera, &dir, "javakey") {
        Ok(keys) => keys,
        Err(e) => {
            report.record("Java -keygen key files read by our core", Err(e));
            return;
        }
    };
    report.record("Java -keygen key files read by our core", Ok(()));
    let outcome = (|| -> Result<(), String> {
        let node = Node::start(
            NodeSpec {
                name: "ours-2 (Java-made keys)",
                dir: run_dir.join("ours-2"),
                runtime: Runtime::Ours {
                    bin_dir: bin_dir.to_owned(),
                },
                keys: &keys,
                peers: vec![java.p2p.clone()],
                remote_enclave: None,
            },
            START_LIMIT,
        )?;
        block_on(async {
            report.record(
                "party info: Java learns the key of ours-2",
                checks::discovers(java, &node).await,
            );
            report.record(
                "party info: ours-2 learns Java's key",
                checks::discovers(&node, java).await,
            );
            report.record(
                "send Java -> ours-2 (key files from Java's keygen)",
                checks::send(java, &node, PrivacyMode::StandardPrivate)
                    .await
                    .map(drop),
            );
        });
        Ok(())
    })();
    if let Err(e) = outcome {
        report.record("ours-2 on Java-made key files: set-up", Err(e));
    }
}

fn keys_of(keys: &NodeKeys) -> Vec<tm_core::PublicKey> {
    keys.pairs.iter().map(|p| p.public.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        let args: Vec<String> = ["--tessera-version", "23.4.0", "--self-check"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let options = parse(&args).expect("valid options");
        assert_eq!(options.version, "23.4.0");
        assert!(options.self_check);
        assert!(parse(&["--bogus".to_owned()]).is_err());
        assert!(parse(&["--dist".to_owned()]).is_err());
    }

    /// The whole harness with our node in the Java node's seat (needs our binaries built).
    #[test]
    #[ignore = "starts service processes; run with --ignored"]
    fn self_check() {
        run(&["--self-check".to_owned()]).expect("self-check passes");
    }
}
