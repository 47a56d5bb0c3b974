//! `cargo xtask ha`: the high-availability proof (issue: "Run it").
//!
//! Two nodes, two replicas of every interface behind a real balancer, PostgreSQL. Node 1 sends
//! to node 2 without pause while one replica of each interface of each node is killed and
//! restarted in turn. Passes when every send that was acknowledged with 2xx is receivable on
//! node 2 afterwards and no send failed with "Recipient not found"; prints how many sends failed
//! during fail-over.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_core::{PublicKey, TxHash};

use crate::cluster::{self, Cluster, Db, UpOptions};
use crate::lb::Balancer;

/// What the sender saw.
#[derive(Default)]
struct Outcomes {
    acknowledged: Vec<(TxHash, Vec<u8>)>,
    failures: Vec<String>,
}

/// Runs the proof; the cluster is stopped whatever happens.
pub fn run(balancer: Balancer, dir: &Path) -> Result<(), String> {
    let options = UpOptions {
        nodes: 2,
        dir: dir.to_path_buf(),
        db: Db::Postgres,
        replicas: 2,
        lb: balancer,
        release: false,
    };
    let result = cluster::up(&options).and_then(|mut cluster| exercise(&mut cluster));
    if let Err(e) = cluster::down(dir) {
        eprintln!("ha: stopping the cluster: {e}");
    }
    result
}

fn exercise(cluster: &mut Cluster) -> Result<(), String> {
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let sender = Q2tClient::new(&cluster.nodes[0].q2t_url).map_err(|e| e.to_string())?;
    let receiver = Q2tClient::new(&cluster.nodes[1].q2t_url).map_err(|e| e.to_string())?;
    let to =
        PublicKey::from_base64(&cluster.nodes[1].keys[0].public_key).map_err(|e| e.to_string())?;

    let stop = Arc::new(AtomicBool::new(false));
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let load = {
        let (stop, outcomes, to, sender) = (
            Arc::clone(&stop),
            Arc::clone(&outcomes),
            to.clone(),
            sender.clone(),
        );
        let handle = runtime.handle().clone();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let message = format!("ha send {i}").into_bytes();
                let request = SendRequest::new(message.clone(), std::slice::from_ref(&to));
                let result = handle.block_on(sender.send(&request, MediaType::V2_1));
                let mut outcomes = outcomes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match result.map_err(|e| e.to_string()).and_then(|sent| {
                    TxHash::from_base64(&sent.response.key).map_err(|e| e.to_string())
                }) {
                    Ok(hash) => outcomes.acknowledged.push((hash, message)),
                    Err(e) => outcomes.failures.push(e),
                }
            }
        })
    };

    println!("ha: sending from node1 to node2 while replicas fail");
    std::thread::sleep(Duration::from_secs(2));
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
            let before = outcomes.lock().map(|o| o.acknowledged.len()).unwrap_or(0);
            cluster::signal(cluster.nodes[node].processes[index].pid, "KILL");
            std::thread::sleep(Duration::from_secs(2));
            cluster::spawn(&mut cluster.nodes[node].processes[index])?;
            // `down` reads the pids from cluster.json.
            cluster.save()?;
            cluster::wait_healthy(
                &cluster.nodes[node].processes[index],
                Duration::from_secs(60),
            )?;
            std::thread::sleep(Duration::from_secs(1));
            let after = outcomes.lock().map(|o| o.acknowledged.len()).unwrap_or(0);
            println!(
                "ha: killed and restarted {name}: {} sends acknowledged meanwhile",
                after - before
            );
        }
    }
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    load.join()
        .map_err(|_| "the sending thread panicked".to_owned())?;

    let outcomes = std::mem::take(&mut *outcomes.lock().map_err(|_| "lock".to_owned())?);
    let mut passed = 0;
    let mut failed = 0;
    let mut check = |ok: bool, what: String| {
        if ok {
            passed += 1;
            println!("ha: PASS {what}");
        } else {
            failed += 1;
            println!("ha: FAIL {what}");
        }
    };
    check(
        outcomes.acknowledged.len() >= 20,
        format!(
            "{} sends acknowledged during the run",
            outcomes.acknowledged.len()
        ),
    );
    let mut unreadable = Vec::new();
    for (hash, message) in &outcomes.acknowledged {
        match runtime.block_on(receiver.receive(hash, None, false, MediaType::V2_1)) {
            Ok(received) if &received.payload == message => {}
            Ok(_) => unreadable.push(format!("{hash}: wrong payload")),
            Err(e) => unreadable.push(format!("{hash}: {e}")),
        }
    }
    check(
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
    let not_found: Vec<&String> = outcomes
        .failures
        .iter()
        .filter(|f| f.contains("Recipient not found"))
        .collect();
    check(
        not_found.is_empty(),
        format!(
            "no send failed with \"Recipient not found\" ({} did)",
            not_found.len()
        ),
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
    println!("ha: {passed} passed, {failed} failed");
    if failed == 0 {
        Ok(())
    } else {
        Err("the high-availability proof failed".into())
    }
}
