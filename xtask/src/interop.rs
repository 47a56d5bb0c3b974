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
mod procs;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tm_core::{PayloadCodec, PrivacyMode};

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

/// The workspace root (xtask lives one level below it).
fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// The cargo target folder (`CARGO_TARGET_DIR`, else `<root>/target`).
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                root().join(dir)
            }
        })
        .unwrap_or_else(|| root().join("target"))
}

/// Entry point: `cargo xtask interop [...]`.
pub fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    let work = target_dir().join("interop");

    let java = if options.self_check {
        println!("interop: self-check: our node takes the Java node's seat (harness test, not interop evidence)");
        None
    } else if let Some(dist) = &options.dist {
        println!(
            "interop: using the Tessera distribution in {}",
            dist.display()
        );
        Some(fetch::from_dist(dist)?)
    } else {
        println!(
            "interop: fetching Tessera {} with Maven ({}:tessera-dist / tessera-app)",
            options.version,
            fetch::GROUP
        );
        match fetch::from_maven(&options.version, &work) {
            Ok(found) => Some(found),
            Err(tried) => {
                println!(
                    "interop: SKIPPED: Java Tessera {} could not be fetched from Maven Central; tried: {}",
                    options.version,
                    tried.join("; ")
                );
                return Ok(());
            }
        }
    };

    let bin_dir = build_our_binaries()?;
    let run_dir = fresh_run_dir(&work)?;
    println!("interop: files and logs in {}", run_dir.display());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
    let mut report = Report::default();
    let outcome = mixed_network(&runtime, java, &bin_dir, &run_dir, &mut report);
    if let Err(e) = &outcome {
        report.record("set-up", Err(e.clone()));
    }
    println!(
        "interop: {} passed, {} failed",
        report.passed,
        report.failed.len()
    );
    if report.failed.is_empty() {
        // Keep the logs of a failed run only.
        let _ = std::fs::remove_dir_all(&run_dir);
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

/// Builds our service binaries (quick when they are built already) and returns their folder.
fn build_our_binaries() -> Result<PathBuf, String> {
    println!("interop: building our binaries");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["build", "--quiet", "--bins"])
        .args(["-p", "p2p-node", "-p", "q2t-api", "-p", "thirdparty-api"])
        .args(["-p", "tm-enclave"])
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build of our binaries failed ({status})"));
    }
    Ok(target_dir().join("debug"))
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
    runtime: &tokio::runtime::Runtime,
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

    // The Java node's keys are written by our keygen (Tessera reads the same files).
    let other_keys = NodeKeys::generate(&prepare(run_dir, "java-keys")?, 1)?;
    let our_keys = NodeKeys::generate(&prepare(run_dir, "ours-keys")?, 1)?;

    // Each node lists the other as its peer; ports are only known once a node is configured,
    // so the first starts with no peer and learns of the second when that one announces itself.
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

    runtime.block_on(async {
        let o = &other;
        let u = &ours;
        report.record(
            &format!("party info: ours learns {other_name}'s key"),
            checks::discovers(u, o).await,
        );
        report.record(
            &format!("party info: {other_name} learns our key"),
            checks::discovers(o, u).await,
        );
        let cbor = checks::speaks_cbor(o).await;
        let codec = match &cbor {
            Ok(true) => "CBOR",
            Ok(false) => "LEGACY",
            Err(_) => "codec unknown",
        };
        report.record(
            &format!("{other_name} advertises API versions"),
            cbor.as_ref().map(drop).map_err(Clone::clone),
        );

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
        report.record(
            &format!("push ours -> {other_name} (LEGACY)"),
            checks::push_codec(u, o, PayloadCodec::Legacy).await,
        );
        if matches!(cbor, Ok(true)) {
            report.record(
                &format!("push ours -> {other_name} (CBOR)"),
                checks::push_codec(u, o, PayloadCodec::Cbor).await,
            );
        } else {
            println!("interop: (no CBOR push: {other_name} does not advertise 5.0)");
        }

        if let Ok((hash, plaintext)) = &to_ours {
            report.record(
                &format!("resend INDIVIDUAL {other_name} -> ours (LEGACY answer)"),
                checks::resend_individual(o, u, hash, plaintext).await,
            );
            report.record(
                &format!("resend ALL {other_name} -> ours"),
                checks::resend_all(o, u, hash, plaintext).await,
            );
        }
        if let Ok((hash, plaintext)) = &to_other {
            report.record(
                &format!("resend INDIVIDUAL ours -> {other_name} (LEGACY answer)"),
                checks::resend_individual(u, o, hash, plaintext).await,
            );
            report.record(
                &format!("resend ALL ours -> {other_name}"),
                checks::resend_all(u, o, hash, plaintext).await,
            );
        }
    });

    // Our binaries read the other node's config file as it is.
    report.record(
        &format!("our p2p-node reads the {other_name} node's config"),
        dump_config(bin_dir, &other.config_path, &other.p2p),
    );

    // A second node of the other kind whose keys live in our remote enclave.
    remote_enclave_phase(
        runtime, &other_rt, other_name, bin_dir, run_dir, &ours, report,
    );

    // Key files written by Java Tessera's own keygen, used by a second node of ours.
    if let Some(tessera) = &java {
        java_keygen_phase(runtime, tessera, bin_dir, run_dir, &other, report);
    }
    Ok(())
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
    runtime: &tokio::runtime::Runtime,
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
        runtime.block_on(async {
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
    runtime: &tokio::runtime::Runtime,
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
        runtime.block_on(async {
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
