//! `cargo xtask ha`: the high-availability proof (issue 16).
//!
//! Two nodes, two replicas of every interface behind a real balancer, PostgreSQL. Clients of
//! node 1 send to node 2 at a fixed concurrency through the Q2T balancer address, as GoQuorum
//! does, each call bounded by GoQuorum's 5 s PTM timeout; half the workers send with `/send`,
//! half as a signer does (`/storeraw` on ThirdParty, then `/sendsignedtx`). Meanwhile, for each
//! interface, one replica on the send path is frozen for 10 s (SIGSTOP, then SIGCONT) and then
//! killed and restarted. A keep-alive soak follows: sends spaced around the idle timeouts.
//!
//! Per phase it prints the sends acknowledged, lost (acknowledged but not receivable on the
//! recipient's node at the end) and failed, with the failures grouped by error, and checks:
//! nothing acknowledged is lost; no send fails with every replica up or in the soak; during a
//! freeze no send fails that started after the balancer's detection window (`window.rs`); a
//! kill fails at most the requests in flight to the killed process (bounded by the
//! concurrency). It also prints how many transactions each node stores beyond the acknowledged
//! sends (rows a failed send left behind), as information.
//!
//! While it runs, the sends finished (with the phase under way and the failures so far) and
//! the read-back show as progress (`tm_config::progress`): a bar on a terminal, else a line
//! every 10 s and one at the end of each.
//!
//! With `--tls` the same proof runs on a cluster serving mutual TLS (`cluster up --tls`): the
//! balancer passes TLS through, and the clients present the xtask's certificate.
//!
//! With `--db-failover` it proves the database instead (`db_failover.rs`, issue 21): the
//! nodes on PostgreSQL replicated under Patroni, the primary killed under load.

mod db_failover;
mod faults;
mod load;
mod report;
mod soak;
mod window;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tm_core::PublicKey;

use crate::cluster::{self, Cluster, Db, UpOptions};
use crate::lb::Balancer;
use faults::{Fault, Interface, Target, Timing};
use load::{Flow, Load, Outcome, Record, Sender};
use report::{Allowed, Phase};

/// Options of `cargo xtask ha`.
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
    /// The balancer.
    #[arg(long, value_enum, default_value_t = Balancer::Nginx)]
    pub lb: Balancer,
    /// Work folder.
    #[arg(long, default_value = "target/ha")]
    pub dir: PathBuf,
    /// Mutual TLS on every interface (as `cluster up --tls`); the balancer passes it through.
    #[arg(long)]
    pub tls: bool,
    /// What is done to one replica of each interface, in this order.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Fault::Freeze, Fault::Kill])]
    pub phases: Vec<Fault>,
    /// The interfaces whose replicas are frozen or killed (the enclave: node 1's and node 2's).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = Interface::ALL)]
    pub interfaces: Vec<Interface>,
    /// Length of the keep-alive soak after the faults (0 skips it); the default fits two
    /// gaps of its ~60 s lane.
    #[arg(long, default_value_t = 122)]
    pub soak_seconds: u64,
    /// Clients sending at once during the faults.
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// How long a replica stays frozen.
    #[arg(long, default_value_t = 10)]
    pub freeze_seconds: u64,
    /// Prove the database instead: two nodes on PostgreSQL replicated under Patroni
    /// (`cluster up --db patroni`), the primary killed under load; 0 acknowledged sends may
    /// be lost, and the old primary must rejoin as a replica.
    #[arg(long)]
    pub db_failover: bool,
    /// With `--db-failover`: how long the load runs before the kill, and again once the new
    /// primary is up.
    #[arg(long, default_value_t = 10)]
    pub db_failover_seconds: u64,
}

/// How long the load runs with every replica up before the first fault.
const BASELINE: Duration = Duration::from_secs(3);

/// A killed replica stays down this long before it is started again.
const DOWN: Duration = Duration::from_secs(1);

/// The load runs on this long after a replica is back before the next fault: as long as the
/// client timeout, so no send started during one fault is still in flight at the next.
const SETTLE: Duration = load::CLIENT_TIMEOUT;

/// Runs the proof; the cluster is stopped whatever happens.
pub fn run(options: &Options) -> Result<(), String> {
    if options.db_failover {
        return db_failover::run(options);
    }
    if options.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let up = UpOptions {
        nodes: 2,
        dir: options.dir.clone(),
        db: Db::Postgres,
        replicas: 2,
        lb: options.lb,
        release: false,
        tls: options.tls,
        features: Default::default(),
    };
    let started = Instant::now();
    let result = cluster::up(&up).and_then(|mut cluster| {
        println!("ha: the cluster is up ({} s)", started.elapsed().as_secs());
        prove(&mut cluster, options)
    });
    if let Err(e) = cluster::down(&options.dir) {
        eprintln!("ha: stopping the cluster: {e}");
    }
    result
}

/// The faults under load, the soak, then the accounting.
fn prove(cluster: &mut Cluster, options: &Options) -> Result<(), String> {
    let readers = [
        cluster::q2t_client(cluster, &cluster.nodes[0].q2t_url)?,
        cluster::q2t_client(cluster, &cluster.nodes[1].q2t_url)?,
    ];
    let step = Instant::now();
    let (mut phases, mut records) = faults_under_load(cluster, options)?;
    println!("ha: faults done ({} s)", step.elapsed().as_secs());
    if options.soak_seconds > 0 {
        let (phase, soaked) = keep_alive_soak(cluster, options.soak_seconds)?;
        phases.push(phase);
        records.extend(soaked);
    }
    println!(
        "ha: reading back {} acknowledged sends on the recipients' nodes",
        acknowledged(&records)
    );
    let step = Instant::now();
    let lost: HashMap<usize, String> = load::unreadable(&readers, &records).into_iter().collect();
    println!("ha: read back ({} s)", step.elapsed().as_secs());
    let mut verdict = report::report(&phases, &records, &lost);
    print_unacknowledged_rows(cluster, acknowledged(&records));
    let not_found = records
        .iter()
        .filter(|r| matches!(&r.outcome, Outcome::Failed(f) if f.contains("Recipient not found")))
        .count();
    verdict.check(
        not_found == 0,
        format!("no send failed with \"Recipient not found\" ({not_found} did)"),
    );
    verdict.finish()
}

/// Prints how many transactions each node stores beyond the acknowledged sends (each of which
/// is stored once on either node): rows of sends that failed, on the sender's node (stored, yet
/// never acknowledged) or on the recipient's (pushed before the send failed). Information for
/// now, not a criterion.
fn print_unacknowledged_rows(cluster: &Cluster, acknowledged: usize) {
    for node in &cluster.nodes {
        match stored_transactions(node) {
            Ok(rows) => println!(
                "ha: {} stores {rows} transactions for {acknowledged} acknowledged sends: {} \
                 not acknowledged to any sender",
                node.name,
                i128::from(rows) - acknowledged as i128
            ),
            Err(e) => println!("ha: {}: cannot count its transactions: {e}", node.name),
        }
    }
}

fn stored_transactions(node: &cluster::NodeInfo) -> Result<u64, String> {
    let jdbc = cluster::read_config(&node.config)?
        .jdbc
        .ok_or("no jdbc entry in the node's config")?;
    let store = tm_store::Store::connect(
        jdbc.url.as_deref().unwrap_or_default(),
        jdbc.username.as_deref(),
        jdbc.password.as_ref().map(|p| p.expose()),
        false,
        1,
    )
    .map_err(|e| e.to_string())?;
    store.count_payloads().map_err(|e| e.to_string())
}

fn acknowledged(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Acked(_)))
        .count()
}

/// A client of node `from` through its balancer addresses, sending to node `to`'s first key.
fn sender(cluster: &Cluster, from: usize, to: usize) -> Result<Sender, String> {
    let node = &cluster.nodes[from];
    Ok(Sender {
        q2t: cluster::q2t_client(cluster, &node.q2t_url)?,
        thirdparty: Some(cluster::q2t_client(cluster, &node.thirdparty_url)?),
        to: first_key(cluster, to)?,
        reader: to,
    })
}

fn first_key(cluster: &Cluster, node: usize) -> Result<PublicKey, String> {
    PublicKey::from_base64(&cluster.nodes[node].keys[0].public_key).map_err(|e| e.to_string())
}

/// Node 1 sends to node 2 while each target replica is frozen and killed in turn; returns the
/// phases and every send.
fn faults_under_load(
    cluster: &mut Cluster,
    options: &Options,
) -> Result<(Vec<Phase>, Vec<Record>), String> {
    let flows: Vec<Flow> = (0..options.concurrency)
        .map(|w| if w % 2 == 0 { Flow::Send } else { Flow::Signed })
        .collect();
    let load = Load::start(&sender(cluster, 0, 1)?, &flows, "ha: sends under faults");
    load.println(format!(
        "ha: {} clients of node1 sending to node2 through the balancer{} ({} with /send, {} \
         with /storeraw + /sendsignedtx), each call bounded by {} s",
        options.concurrency,
        if cluster.tls.is_some() {
            " (mutual TLS)"
        } else {
            ""
        },
        flows.iter().filter(|f| matches!(f, Flow::Send)).count(),
        flows.iter().filter(|f| matches!(f, Flow::Signed)).count(),
        load::CLIENT_TIMEOUT.as_secs()
    ));
    let timing = Timing {
        freeze: Duration::from_secs(options.freeze_seconds),
        down: DOWN,
        settle: SETTLE,
    };
    let started = Instant::now();
    std::thread::sleep(BASELINE);
    let mut phases = vec![Phase {
        label: "every replica up".into(),
        from: started,
        to: Instant::now(),
        allowed: Allowed::None,
    }];
    for target in faults::targets(&options.interfaces) {
        for &fault in &options.phases {
            let before = load.acknowledged();
            let phase = one_fault(cluster, options, target, fault, timing, &load)?;
            load.println(format!(
                "ha: {}: {} sends acknowledged meanwhile",
                phase.label,
                load.acknowledged() - before
            ));
            // Phases follow each other: the one before ends when this fault began.
            if let Some(previous) = phases.last_mut() {
                previous.to = phase.from;
            }
            phases.push(phase);
        }
    }
    let records = load.finish()?;
    // Sends still in flight when the load stopped belong to the last phase.
    if let Some(last) = phases.last_mut() {
        last.to = Instant::now();
    }
    Ok((phases, records))
}

/// Applies `fault` to `target` and returns its phase, from the fault's signal until now.
fn one_fault(
    cluster: &mut Cluster,
    options: &Options,
    target: Target,
    fault: Fault,
    timing: Timing,
    load: &Load,
) -> Result<Phase, String> {
    let name = faults::replica_name(cluster, target);
    let (window, why) = window::window(options.lb, options.tls, target.interface);
    match fault {
        Fault::Freeze => {
            load.set_phase(&format!(
                "phase freeze {name} {} s",
                timing.freeze.as_secs()
            ));
            load.println(format!(
                "ha: freezing {name} for {} s ({}); detection window {:.1} s ({why})",
                timing.freeze.as_secs(),
                target.why,
                window.as_secs_f64()
            ));
        }
        Fault::Kill => {
            load.set_phase(&format!("phase kill {name}"));
            load.println(format!(
                "ha: killing {name} ({}) and restarting it",
                target.why
            ));
        }
    }
    let applied = faults::apply(cluster, target, fault, timing)?;
    let (label, allowed) = match fault {
        Fault::Freeze => (
            format!("freeze {name} {} s", timing.freeze.as_secs()),
            Allowed::WithinWindow {
                at: applied.at,
                back: applied.back,
                window,
            },
        ),
        Fault::Kill => (format!("kill {name}"), Allowed::AtMost(options.concurrency)),
    };
    Ok(Phase {
        label,
        from: applied.at,
        to: Instant::now(),
        allowed,
    })
}

/// The keep-alive soak with nothing else sending; returns its phase and its sends.
fn keep_alive_soak(cluster: &Cluster, seconds: u64) -> Result<(Phase, Vec<Record>), String> {
    let via_socket = |from: usize, to: usize| -> Result<Sender, String> {
        Ok(Sender {
            q2t: soak::socket_client(&cluster.nodes[from].q2t_socket)?,
            thirdparty: None,
            to: first_key(cluster, to)?,
            reader: to,
        })
    };
    let lanes = soak::lanes(
        [sender(cluster, 0, 1)?, sender(cluster, 1, 0)?],
        [via_socket(0, 1)?, via_socket(1, 0)?],
    );
    println!("ha: keep-alive soak for {seconds} s, nothing else sending; lanes:");
    for lane in &lanes {
        let gaps: Vec<String> = lane
            .gaps
            .iter()
            .map(|g| format!("{:.1} s", g.as_secs_f64()))
            .collect();
        println!("ha:   {} (gaps {})", lane.name, gaps.join(", "));
    }
    let from = Instant::now();
    let records = soak::run(lanes, Duration::from_secs(seconds));
    let phase = Phase {
        label: format!("keep-alive soak {seconds} s"),
        from,
        to: Instant::now(),
        allowed: Allowed::None,
    };
    Ok((phase, records))
}
