//! `cargo xtask bench-recovery`: how long recovering a large history takes and how much memory
//! the recovering node needs (docs/benchmarks.md).
//!
//! Per database: a two-node network of release builds; node 1's database filled directly with
//! N transactions from node 1's key to node 2's; node 2's services stopped (its enclave kept:
//! recovery needs it) and its transactions wiped; node 2's `p2p-node --recover` run while its
//! peak resident memory (VmHWM) is sampled every 50 ms; node 2's database checked to hold all N.
//! Results: `<out>/recovery.md`, the work folders `<out>/recovery-<db>`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tm_core::keyfile::PrivateKeyFile;
use tm_core::seal::PrivacyMetadata;
use tm_core::{EncodedPayload, KeyPair, Keyring, PublicKey};
use tm_store::Store;

use crate::cluster::{self, Cluster, Db, KeyFiles, NodeInfo, Process, UpOptions};
use crate::lb::Balancer;

/// Options of `cargo xtask bench-recovery`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// Transactions in the history to recover.
    #[arg(long, default_value_t = 100_000)]
    pub transactions: u64,
    /// Databases to run on (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Db::Sqlite, Db::Postgres])]
    pub db: Vec<Db>,
    /// Where recovery.md and the clusters' work folders go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
}

/// Transactions stored per database transaction while filling node 1.
const FILL_CHUNK: usize = 1000;
/// Plaintext bytes per transaction.
const PLAINTEXT_BYTES: usize = 1024;
/// How often the recovering process's memory is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(50);
/// How long a recovery may run before it is killed and the run fails.
const RECOVERY_LIMIT: Duration = Duration::from_secs(3600);

/// What one database's run measured.
struct Row {
    db: Db,
    transactions: u64,
    recovery: Recovery,
    /// Node 1's p2p-node (the one resending) peak RSS during the recovery, KiB.
    sender_peak_kib: Option<u64>,
}

/// One `p2p-node --recover` run.
struct Recovery {
    seconds: f64,
    peak_kib: u64,
    exit: Option<i32>,
    summary: String,
    log: PathBuf,
}

/// `cargo xtask bench-recovery`.
pub fn run(options: &Options) -> Result<(), String> {
    let out = crate::absolute(&options.out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut rows = Vec::new();
    for db in &options.db {
        rows.push(run_on(*db, options.transactions, &out)?);
    }
    let table = markdown(&rows);
    let path = out.join("recovery.md");
    std::fs::write(&path, &table).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{table}");
    println!("bench-recovery: wrote {}", path.display());
    Ok(())
}

/// One database: up, measure, down (also on failure).
fn run_on(db: Db, transactions: u64, out: &Path) -> Result<Row, String> {
    let dir = out.join(format!("recovery-{}", db_name(db)));
    println!(
        "bench-recovery: {}: starting a two-node network (release builds) in {}",
        db_name(db),
        dir.display()
    );
    let up = UpOptions {
        nodes: 2,
        dir: dir.clone(),
        db,
        replicas: 1,
        lb: Balancer::Nginx,
        release: true,
        tls: false,
        features: Default::default(),
    };
    let result = cluster::up(&up).and_then(|mut cluster| measure(&mut cluster, transactions));
    if let Err(e) = cluster::down(&dir) {
        eprintln!("bench-recovery: stopping the cluster: {e}");
    }
    result
}

/// The procedure on a running network.
fn measure(cluster: &mut Cluster, transactions: u64) -> Result<Row, String> {
    fill_history(&cluster.nodes[0], &cluster.nodes[1], transactions)?;
    let p2p = stop_services_but_enclave(cluster, 1)?;
    wipe_transactions(&cluster.nodes[1], cluster.db)?;
    let sender = process_of(&cluster.nodes[0], "p2p-node").map(|p| p.pid);
    if let Some(pid) = sender {
        // The sender's peak from here on: VmHWM reset to the current RSS.
        let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
    }
    let recovery = recover(&p2p, &cluster.nodes[1].config)?;
    let sender_peak_kib = sender.and_then(peak_rss_kib);
    verify(&cluster.nodes[1], transactions, &recovery)?;
    Ok(Row {
        db: cluster.db,
        transactions,
        recovery,
        sender_peak_kib,
    })
}

/// Step 2: `count` transactions from `from`'s key to `to`'s, sealed here and stored straight
/// into `from`'s database (as `from` stores what it sends: every recipient's box).
fn fill_history(from: &NodeInfo, to: &NodeInfo, count: u64) -> Result<(), String> {
    let pair = read_key_pair(&from.keys[0])?;
    let recipient = PublicKey::from_base64(&to.keys[0].public_key)
        .map_err(|e| format!("{} key: {e}", to.name))?;
    let parties = [recipient, pair.public.clone()];
    let keyring = Keyring::new(vec![pair.clone()]);
    let store = open_store(from)?;
    println!(
        "bench-recovery: storing {count} transactions {} -> {} in {}'s database",
        from.name, to.name, from.name
    );
    let started = Instant::now();
    let mut stored = 0u64;
    while stored < count {
        let chunk = (stored..count.min(stored + FILL_CHUNK as u64))
            .map(|i| {
                keyring
                    .encrypt_payload(
                        &plaintext(i),
                        &pair.public,
                        &parties,
                        &PrivacyMetadata::default(),
                    )
                    .map_err(|e| format!("sealing transaction {i}: {e}"))
            })
            .collect::<Result<Vec<EncodedPayload>, String>>()?;
        store
            .store_payloads(&chunk)
            .map_err(|e| format!("storing in {}'s database: {e}", from.name))?;
        let before = stored;
        stored += chunk.len() as u64;
        if stored / 10_000 > before / 10_000 || stored == count {
            println!(
                "bench-recovery: stored {stored}/{count} ({:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(())
}

/// About 1 KiB, unique per transaction.
fn plaintext(i: u64) -> Vec<u8> {
    let mut text = format!("bench-recovery transaction {i:012} ").into_bytes();
    text.resize(PLAINTEXT_BYTES, b'.');
    text
}

/// A node's key pair from its (unlocked) key files.
fn read_key_pair(keys: &KeyFiles) -> Result<KeyPair, String> {
    let path = &keys.private_key_path;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let private = PrivateKeyFile::parse(&text)
        .and_then(|file| file.unlock(None))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let pair = KeyPair::from_private(private);
    if pair.public.to_base64() != keys.public_key {
        return Err(format!(
            "{} does not hold the private key of {}",
            path.display(),
            keys.public_key
        ));
    }
    Ok(pair)
}

/// The node's database, as its config names it (tables not created: they must be there).
fn open_store(node: &NodeInfo) -> Result<Store, String> {
    let jdbc = jdbc_of(node)?;
    let url = jdbc.url.as_deref().unwrap_or_default();
    let password = jdbc.password.as_ref().map(|p| p.expose().to_owned());
    Store::connect(url, jdbc.username.as_deref(), password.as_deref(), false, 2)
        .map_err(|e| format!("{}'s database: {e}", node.name))
}

fn jdbc_of(node: &NodeInfo) -> Result<tm_config::JdbcConfig, String> {
    cluster::read_config(&node.config)?
        .jdbc
        .filter(|j| j.url.is_some())
        .ok_or_else(|| format!("{}: no jdbc.url", node.config.display()))
}

/// Step 3: stops every process of node `n` but its enclave; returns its p2p-node (to run it
/// again in recovery mode).
fn stop_services_but_enclave(cluster: &mut Cluster, n: usize) -> Result<Process, String> {
    let node = &cluster.nodes[n];
    let p2p = process_of(node, "p2p-node")
        .cloned()
        .ok_or_else(|| format!("{} has no p2p-node", node.name))?;
    println!(
        "bench-recovery: stopping {}'s p2p-node, q2t-api and thirdparty-api (its enclave keeps running)",
        node.name
    );
    for process in cluster.nodes[n].processes.iter_mut() {
        if binary(process) != "enclave" && process.pid != 0 {
            stop(process.pid)?;
            // `cluster down` must not signal a pid the system may hand out again.
            process.pid = 0;
        }
    }
    cluster.save()?;
    Ok(p2p)
}

/// The first process of `node` running `binary_name`.
fn process_of<'a>(node: &'a NodeInfo, binary_name: &str) -> Option<&'a Process> {
    node.processes.iter().find(|p| binary(p) == binary_name)
}

fn binary(process: &Process) -> &str {
    process
        .program
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

/// TERM, then KILL after 10 s.
fn stop(pid: u32) -> Result<(), String> {
    cluster::signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster::alive(pid) {
        if Instant::now() > deadline + Duration::from_secs(5) {
            return Err(format!("process {pid} does not stop"));
        }
        if Instant::now() > deadline {
            cluster::signal(pid, "KILL");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Step 3: node's transactions gone: the SQLite file (with its -wal and -shm), or every row of
/// ENCRYPTED_TRANSACTION in its PostgreSQL database.
fn wipe_transactions(node: &NodeInfo, db: Db) -> Result<(), String> {
    let jdbc = jdbc_of(node)?;
    let url = jdbc.url.unwrap_or_default();
    match db {
        Db::Sqlite => {
            let file = url
                .strip_prefix("jdbc:sqlite:")
                .ok_or_else(|| format!("{}: not an SQLite URL: {url}", node.name))?;
            for suffix in ["", "-wal", "-shm"] {
                let path = PathBuf::from(format!("{file}{suffix}"));
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(format!("{}: {e}", path.display())),
                }
            }
            println!("bench-recovery: deleted {}'s database {file}", node.name);
        }
        Db::Postgres => {
            let location = url
                .strip_prefix("jdbc:")
                .ok_or_else(|| format!("{}: not a JDBC URL: {url}", node.name))?;
            let status = Command::new("psql")
                .arg(location)
                .env("PGUSER", jdbc.username.unwrap_or_default())
                .env(
                    "PGPASSWORD",
                    jdbc.password
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                )
                .args([
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-q",
                    "-c",
                    "DELETE FROM encrypted_transaction",
                ])
                .status();
            crate::status_of(status).map_err(|e| format!("emptying {}'s table: {e}", node.name))?;
            println!(
                "bench-recovery: emptied {}'s ENCRYPTED_TRANSACTION",
                node.name
            );
        }
    }
    Ok(())
}

/// Step 4: `p2p-node -configfile CONFIG --recover`, its output to a log beside the node's
/// others, its VmHWM sampled every 50 ms until it exits.
fn recover(p2p: &Process, config: &Path) -> Result<Recovery, String> {
    let log = p2p.cwd.join("p2p-node-recover.log");
    let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    println!(
        "bench-recovery: running {} -configfile {} --recover (log {})",
        p2p.program.display(),
        config.display(),
        log.display()
    );
    let started = Instant::now();
    let mut child = Command::new(&p2p.program)
        .arg("-configfile")
        .arg(config)
        .arg("--recover")
        .current_dir(&p2p.cwd)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", p2p.program.display()))?;
    let sampled = sample_until_exit(&mut child, started);
    let (status, peak_kib) = match sampled {
        Ok(done) => done,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{e} (see {})", log.display()));
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let summary = text
        .lines()
        .rfind(|l| l.starts_with("recovery "))
        .unwrap_or("(no summary line)")
        .to_owned();
    println!("bench-recovery: recovery exited ({status}) after {seconds:.1} s: {summary}");
    report_log_problems(&text, &log);
    Ok(Recovery {
        seconds,
        peak_kib,
        exit: status.code(),
        summary,
        log,
    })
}

/// Polls the child every 50 ms, keeping its largest VmHWM; a progress line every 10 s.
fn sample_until_exit(
    child: &mut std::process::Child,
    started: Instant,
) -> Result<(ExitStatus, u64), String> {
    let mut peak = 0;
    let mut reported = Instant::now();
    loop {
        // Read before reaping: once waited for, /proc/PID is gone.
        peak = peak.max(peak_rss_kib(child.id()).unwrap_or(0));
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok((status, peak));
        }
        if started.elapsed() > RECOVERY_LIMIT {
            return Err(format!("recovery still running after {RECOVERY_LIMIT:?}"));
        }
        if reported.elapsed() >= Duration::from_secs(10) {
            println!(
                "bench-recovery: recovering for {:.0} s, peak RSS so far {:.1} MiB",
                started.elapsed().as_secs_f64(),
                mib(peak)
            );
            reported = Instant::now();
        }
        std::thread::sleep(SAMPLE_EVERY);
    }
}

/// VmHWM of process `pid`, KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Prints how many WARN and ERROR lines the recovering node logged, and the first few.
fn report_log_problems(text: &str, log: &Path) {
    let problems: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        .collect();
    if problems.is_empty() {
        println!("bench-recovery: no warnings or errors in {}", log.display());
        return;
    }
    println!(
        "bench-recovery: {} warning/error lines in {}; the first:",
        problems.len(),
        log.display()
    );
    for line in problems.iter().take(5) {
        println!("  {line}");
    }
}

/// Step 5: exit status 0 and every transaction in node 2's database.
fn verify(node: &NodeInfo, transactions: u64, recovery: &Recovery) -> Result<(), String> {
    let held = open_store(node)?
        .count_payloads()
        .map_err(|e| format!("counting {}'s transactions: {e}", node.name))?;
    println!("bench-recovery: {} holds {held} transactions", node.name);
    let mut wrong = Vec::new();
    if recovery.exit != Some(0) {
        wrong.push(format!("recovery exited with {:?}, not 0", recovery.exit));
    }
    if held != transactions {
        wrong.push(format!(
            "{} holds {held} transactions, not {transactions}",
            node.name
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} ({}; log {})",
            wrong.join("; "),
            recovery.summary,
            recovery.log.display()
        ))
    }
}

/// Step 6: the results as a markdown table.
fn markdown(rows: &[Row]) -> String {
    let mut text = String::from(
        "| database | transactions | wall time s | transactions/s | peak RSS MiB (recovering p2p-node) | peak RSS MiB (node 1 p2p-node, resending) | exit code | summary |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let r = &row.recovery;
        text.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.1} | {} | {} | {} |\n",
            db_name(row.db),
            row.transactions,
            r.seconds,
            row.transactions as f64 / r.seconds.max(f64::EPSILON),
            mib(r.peak_kib),
            row.sender_peak_kib
                .map_or("-".to_owned(), |k| format!("{:.1}", mib(k))),
            r.exit.map_or("signal".to_owned(), |c| c.to_string()),
            r.summary.replace('|', "\\|"),
        ));
    }
    text
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn db_name(db: Db) -> String {
    format!("{db:?}").to_lowercase()
}
