//! `cargo xtask ha`: the high-availability proof (issue: "Run it").
//!
//! Two nodes, two replicas of every interface behind a real balancer, PostgreSQL. Node 1 sends
//! to node 2 without pause while one replica of each interface of each node is killed and
//! restarted in turn. Passes when every send that was acknowledged with 2xx is receivable on
//! node 2 afterwards and no send failed with "Recipient not found"; prints how many sends failed
//! during fail-over.
//!
//! With `--tls` the same proof runs on a cluster serving mutual TLS (`cluster up --tls`): the
//! balancer passes TLS through, and the sender and the reader present the xtask's certificate.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_core::{PublicKey, TxHash};
use tm_dev_support::block_on;

use crate::cluster::{self, Cluster, Db, UpOptions};
use crate::lb::Balancer;

/// What the sender saw.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<(TxHash, Vec<u8>)>,
    failures: Vec<String>,
}

/// Runs the proof; the cluster is stopped whatever happens.
pub fn run(balancer: Balancer, dir: &Path, tls: bool) -> Result<(), String> {
    let options = UpOptions {
        nodes: 2,
        dir: dir.to_path_buf(),
        db: Db::Postgres,
        replicas: 2,
        lb: balancer,
        release: false,
        tls,
    };
    let result = cluster::up(&options).and_then(|mut cluster| exercise(&mut cluster));
    if let Err(e) = cluster::down(dir) {
        eprintln!("ha: stopping the cluster: {e}");
    }
    result
}

/// Sends from node 1 to node 2 while one replica of each interface of each node is killed
/// and restarted in turn; then checks what the sender saw.
fn exercise(cluster: &mut Cluster) -> Result<(), String> {
    let sender = cluster::q2t_client(cluster, &cluster.nodes[0].q2t_url)?;
    let receiver = cluster::q2t_client(cluster, &cluster.nodes[1].q2t_url)?;
    let to =
        PublicKey::from_base64(&cluster.nodes[1].keys[0].public_key).map_err(|e| e.to_string())?;

    let load = Load::start(sender, to);
    println!(
        "ha: sending from node1 to node2{} while replicas fail",
        if cluster.tls.is_some() {
            " (mutual TLS)"
        } else {
            ""
        }
    );
    std::thread::sleep(Duration::from_secs(2));
    fail_over_each_interface(cluster, &load)?;
    std::thread::sleep(Duration::from_secs(2));
    let outcomes = load.finish()?;
    verify(&receiver, &outcomes)
}

/// A thread sending without pause until it is told to stop (or dropped).
struct Load {
    stop: Arc<AtomicBool>,
    outcomes: Arc<Mutex<Outcomes>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(sender: Q2tClient, to: PublicKey) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let outcomes = Arc::new(Mutex::new(Outcomes::default()));
        let thread = {
            let (stop, outcomes) = (Arc::clone(&stop), Arc::clone(&outcomes));
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let message = format!("ha send {i}").into_bytes();
                    let request = SendRequest::new(message.clone(), std::slice::from_ref(&to));
                    let result = block_on(sender.send(&request, MediaType::V2_1))
                        .map_err(|e| e.to_string())
                        .and_then(|sent| {
                            TxHash::from_base64(&sent.response.key).map_err(|e| e.to_string())
                        });
                    let mut outcomes = outcomes
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    match result {
                        Ok(hash) => outcomes.acknowledged.push((hash, message)),
                        Err(e) => outcomes.failures.push(e),
                    }
                }
            })
        };
        Self {
            stop,
            outcomes,
            thread: Some(thread),
        }
    }

    /// Sends acknowledged so far.
    fn acknowledged(&self) -> usize {
        self.outcomes
            .lock()
            .map(|o| o.acknowledged.len())
            .unwrap_or(0)
    }

    /// Stops sending and returns what the sender saw.
    fn finish(mut self) -> Result<Outcomes, String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| "the sending thread panicked".to_owned())?;
        }
        let mut outcomes = self.outcomes.lock().map_err(|_| "lock".to_owned())?;
        Ok(std::mem::take(&mut *outcomes))
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// For each interface, on each node: kills its first replica, restarts it, and waits until it
/// is healthy again.
fn fail_over_each_interface(cluster: &mut Cluster, load: &Load) -> Result<(), String> {
    for interface in ["enclave", "p2p-node", "q2t-api", "thirdparty-api"] {
        for node in 0..cluster.nodes.len() {
            let name = format!("{}/{interface}#1", cluster.nodes[node].name);
            let Some(index) = cluster.nodes[node]
                .processes
                .iter()
                .position(|p| p.name == name)
            else {
                continue;
            };
            let before = load.acknowledged();
            kill_and_restart(cluster, node, index)?;
            std::thread::sleep(Duration::from_secs(1));
            println!(
                "ha: killed and restarted {name}: {} sends acknowledged meanwhile",
                load.acknowledged() - before
            );
        }
    }
    Ok(())
}

fn kill_and_restart(cluster: &mut Cluster, node: usize, index: usize) -> Result<(), String> {
    cluster::signal(cluster.nodes[node].processes[index].pid, "KILL");
    std::thread::sleep(Duration::from_secs(2));
    cluster::spawn(&mut cluster.nodes[node].processes[index])?;
    // `down` reads the pids from cluster.json.
    cluster.save()?;
    cluster::wait_healthy(
        &cluster.nodes[node].processes[index],
        Duration::from_secs(60),
        cluster.tls.as_deref(),
    )
}

/// The proof's checks: enough sends went through, every acknowledged one is receivable on
/// node 2, none failed with "Recipient not found".
fn verify(receiver: &Q2tClient, outcomes: &Outcomes) -> Result<(), String> {
    let mut verdict = Verdict::default();
    verdict.check(
        outcomes.acknowledged.len() >= 20,
        format!(
            "{} sends acknowledged during the run",
            outcomes.acknowledged.len()
        ),
    );
    let unreadable = unreadable(receiver, &outcomes.acknowledged);
    verdict.check(
        unreadable.is_empty(),
        format!(
            "every acknowledged send is receivable on node2 ({} unreadable{})",
            unreadable.len(),
            unreadable
                .first()
                .map(|u| format!(", first: {u}"))
                .unwrap_or_default()
        ),
    );
    let not_found = outcomes
        .failures
        .iter()
        .filter(|f| f.contains("Recipient not found"))
        .count();
    verdict.check(
        not_found == 0,
        format!("no send failed with \"Recipient not found\" ({not_found} did)"),
    );
    println!(
        "ha: {} sends failed during fail-over{}",
        outcomes.failures.len(),
        outcomes
            .failures
            .first()
            .map(|f| format!(" (first: {f})"))
            .unwrap_or_default()
    );
    verdict.finish()
}

/// Acknowledged sends node 2 does not serve with the payload sent.
fn unreadable(receiver: &Q2tClient, acknowledged: &[(TxHash, Vec<u8>)]) -> Vec<String> {
    let mut unreadable = Vec::new();
    for (hash, message) in acknowledged {
        match block_on(receiver.receive(hash, None, false, MediaType::V2_1)) {
            Ok(received) if &received.payload == message => {}
            Ok(_) => unreadable.push(format!("{hash}: wrong payload")),
            Err(e) => unreadable.push(format!("{hash}: {e}")),
        }
    }
    unreadable
}

/// PASS/FAIL lines and their count.
#[derive(Default)]
struct Verdict {
    passed: usize,
    failed: usize,
}

impl Verdict {
    fn check(&mut self, ok: bool, what: String) {
        if ok {
            self.passed += 1;
            println!("ha: PASS {what}");
        } else {
            self.failed += 1;
            println!("ha: FAIL {what}");
        }
    }

    fn finish(self) -> Result<(), String> {
        println!("ha: {} passed, {} failed", self.passed, self.failed);
        if self.failed == 0 {
            Ok(())
        } else {
            Err("the high-availability proof failed".into())
        }
    }
}
