//! `cargo xtask ha --db-failover`: the database is not a single point of failure (issue 21).
//!
//! Two nodes on a replicated PostgreSQL (`cluster up --db patroni`: etcd and three PostgreSQL
//! servers under Patroni, synchronous replication; every node's `jdbc.url` names all three
//! with `targetServerType=primary`). Clients of node 1 send to node 2 at a fixed concurrency;
//! after a while the primary is killed as a crashed machine would be (its Patroni and its
//! PostgreSQL, SIGKILL), Patroni promotes the synchronous standby, and the sends go on. At the
//! end every acknowledged send must be receivable on node 2 (0 lost), and the old primary is
//! started again and must rejoin as a replica.
//!
//! It reports, per phase, the sends acknowledged, lost and failed; the outage window (when
//! the failed sends started and ended, and the longest time without an acknowledged send);
//! and how long node 1's `/readiness` answered 503 (no primary reachable).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::load::{self, Flow, Load, Outcome, Record};
use super::report::{self, Allowed, Phase, Verdict};
use super::Options;
use crate::cluster::{self, Cluster, Db, Features, UpOptions};
use crate::patroni::Patroni;

/// How long a killed primary may take to be replaced: the leader key's time to live plus
/// Patroni's loop and the promotion, with room to spare on a busy machine.
const SWITCHOVER_LIMIT: Duration = Duration::from_secs(60);

/// How long the old primary may take to rejoin (crash recovery, a rewind, streaming).
const REJOIN_LIMIT: Duration = Duration::from_secs(90);

/// After the new primary is up, sends may still fail for this long: those in flight at the
/// switchover, and the pools' next connection attempt (r2d2 backs off up to half the 5 s
/// connection timeout between attempts). As long as the client timeout.
const SETTLE: Duration = load::CLIENT_TIMEOUT;

/// How often node 1's `/readiness` is sampled.
const READINESS_SAMPLE: Duration = Duration::from_millis(250);

/// Runs the proof; the cluster is stopped whatever happens.
pub fn run(options: &Options) -> Result<(), String> {
    if options.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    let started = Instant::now();
    let up = UpOptions {
        nodes: 2,
        dir: options.dir.clone(),
        db: Db::Postgres,
        replicas: 1,
        lb: options.lb,
        release: false,
        tls: false,
        features: Features {
            patroni: true,
            ..Default::default()
        },
    };
    let result = cluster::up(&up).and_then(|mut cluster| {
        println!(
            "ha: the cluster is up on a replicated PostgreSQL ({} s)",
            started.elapsed().as_secs()
        );
        prove(&mut cluster, options)
    });
    if let Err(e) = cluster::down(&options.dir) {
        eprintln!("ha: stopping the cluster: {e}");
    }
    println!(
        "ha: the database failover proof took {} s",
        started.elapsed().as_secs()
    );
    if result.is_err() {
        println!(
            "ha: logs are kept in {} (node*/ for the nodes, patroni/ for etcd and PostgreSQL)",
            crate::absolute(&options.dir).display()
        );
    }
    result
}

/// When the primary died and when its successor took over.
struct Failover {
    old: String,
    new: String,
    killed: Instant,
    switched: Instant,
}

fn prove(cluster: &mut Cluster, options: &Options) -> Result<(), String> {
    let mut patroni = cluster
        .patroni
        .clone()
        .ok_or("the cluster has no Patroni database")?;
    let readers = [
        cluster::q2t_client(cluster, &cluster.nodes[0].q2t_url)?,
        cluster::q2t_client(cluster, &cluster.nodes[1].q2t_url)?,
    ];
    let readiness = Sampler::start(format!(
        "{}/readiness",
        cluster.nodes[0].q2t_url.trim_end_matches('/')
    ));
    let run_for = Duration::from_secs(options.db_failover_seconds);
    let (phases, records, failover, old) =
        sends_across_failover(cluster, &patroni, options, run_for)?;
    let samples = readiness.finish();

    println!(
        "ha: reading back {} acknowledged sends on node2",
        records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Acked(_)))
            .count()
    );
    let lost: HashMap<usize, String> = load::unreadable(&readers, &records).into_iter().collect();
    let mut verdict = report::report(&phases, &records, &lost);
    let acked = records
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Acked(_)))
        .count();
    println!(
        "ha: in all: {acked} sends acknowledged, {} lost, {} failed",
        lost.len(),
        records.len() - acked
    );
    report_outage(&mut verdict, &records, &failover, &samples);

    println!(
        "ha: starting {}'s Patroni again; it must rejoin as a replica of {}",
        failover.old, failover.new
    );
    let step = Instant::now();
    patroni.restart(old)?;
    cluster.patroni = Some(patroni.clone());
    cluster.save()?;
    let rejoined = patroni.wait_replica(old, REJOIN_LIMIT);
    verdict.check(
        rejoined.is_ok(),
        format!(
            "{} rejoined as a replica ({})",
            failover.old,
            match &rejoined {
                Ok(()) => format!("after {:.1} s", step.elapsed().as_secs_f64()),
                Err(e) => e.clone(),
            }
        ),
    );
    let sync = patroni.wait_sync_standby(Duration::from_secs(30));
    verdict.check(
        sync.is_ok(),
        format!(
            "{} has a synchronous standby again, so a commit is acknowledged on two servers ({})",
            failover.new,
            sync.unwrap_or_else(|e| e)
        ),
    );
    verdict.finish()
}

/// The load before and after the primary's death; returns the phases, every send, the
/// failover's times and the old primary's index.
fn sends_across_failover(
    cluster: &Cluster,
    patroni: &Patroni,
    options: &Options,
    run_for: Duration,
) -> Result<(Vec<Phase>, Vec<Record>, Failover, usize), String> {
    let old = patroni
        .leader()
        .ok_or("no PostgreSQL member is the primary")?;
    let flows: Vec<Flow> = (0..options.concurrency)
        .map(|w| if w % 2 == 0 { Flow::Send } else { Flow::Signed })
        .collect();
    let sender = super::sender(cluster, 0, 1)?;
    let load = Load::start(&sender, &flows, "ha: sends across a database failover");
    load.set_phase(&format!("phase primary {} up", patroni.members[old].name));
    load.println(format!(
        "ha: {} clients of node1 sending to node2 ({} with /send, {} with /storeraw + \
         /sendsignedtx), each call bounded by {} s; primary {}",
        options.concurrency,
        flows.iter().filter(|f| matches!(f, Flow::Send)).count(),
        flows.iter().filter(|f| matches!(f, Flow::Signed)).count(),
        load::CLIENT_TIMEOUT.as_secs(),
        patroni.members[old].name
    ));
    let started = Instant::now();
    std::thread::sleep(run_for);

    let before = load.acknowledged();
    load.set_phase(&format!(
        "phase failover ({} killed)",
        patroni.members[old].name
    ));
    load.println(format!(
        "ha: killing the primary {} (its Patroni and PostgreSQL, SIGKILL) after {before} \
         acknowledged sends",
        patroni.members[old].name
    ));
    let killed = Instant::now();
    patroni.kill(old);
    let new = match patroni.wait_new_leader(old, SWITCHOVER_LIMIT) {
        Ok(new) => new,
        Err(e) => {
            let _ = load.finish();
            return Err(e);
        }
    };
    let switched = Instant::now();
    load.println(format!(
        "ha: {} is the primary {:.1} s after the kill; sending on",
        patroni.members[new].name,
        (switched - killed).as_secs_f64()
    ));
    std::thread::sleep(SETTLE);
    let settled = Instant::now();
    load.set_phase(&format!("phase primary {} up", patroni.members[new].name));
    std::thread::sleep(run_for);
    let records = load.finish()?;
    let phases = vec![
        Phase {
            label: format!("primary {} up", patroni.members[old].name),
            from: started,
            to: killed,
            allowed: Allowed::None,
        },
        Phase {
            label: format!(
                "failover: {} killed, {} promoted (+{} s settle)",
                patroni.members[old].name,
                patroni.members[new].name,
                SETTLE.as_secs()
            ),
            from: killed,
            to: settled,
            allowed: Allowed::Any,
        },
        Phase {
            label: format!("primary {} up", patroni.members[new].name),
            from: settled,
            to: Instant::now(),
            allowed: Allowed::None,
        },
    ];
    let failover = Failover {
        old: patroni.members[old].name.clone(),
        new: patroni.members[new].name.clone(),
        killed,
        switched,
    };
    Ok((phases, records, failover, old))
}

/// The outage as the senders and the balancer's readiness check saw it.
fn report_outage(
    verdict: &mut Verdict,
    records: &[Record],
    failover: &Failover,
    samples: &[(Instant, u16)],
) {
    let window = Outage::of(records, failover.killed);
    let at = |t: Instant| t.saturating_duration_since(failover.killed).as_secs_f64();
    let signed = |t: Instant| {
        if t >= failover.killed {
            format!("+{:.1}", at(t))
        } else {
            format!("-{:.1}", failover.killed.duration_since(t).as_secs_f64())
        }
    };
    println!(
        "ha: outage window (times from the kill; the new primary was up at +{:.1} s):",
        at(failover.switched)
    );
    match window.failed {
        Some((first, last, count)) => println!(
            "ha:   {count} sends failed, the first started at {} s, the last ended at {} s",
            signed(first),
            signed(last)
        ),
        None => println!("ha:   no send failed"),
    }
    match window.gap {
        Some((from, to)) => println!(
            "ha:   no send acknowledged for {:.1} s (from {} s to {} s)",
            (to - from).as_secs_f64(),
            signed(from),
            signed(to)
        ),
        None => println!("ha:   no send was acknowledged after the kill"),
    }
    let not_ready: Vec<Instant> = samples
        .iter()
        .filter(|(t, status)| *t >= failover.killed && *status == 503)
        .map(|(t, _)| *t)
        .collect();
    match (not_ready.first(), not_ready.last()) {
        (Some(&first), Some(&last)) => println!(
            "ha:   node1's /readiness answered 503 from {} s to {} s ({} of {} samples)",
            signed(first),
            signed(last),
            not_ready.len(),
            samples
                .iter()
                .filter(|(t, _)| *t >= failover.killed)
                .count()
        ),
        _ => println!("ha:   node1's /readiness never answered 503"),
    }
    verdict.check(
        window.gap.is_some(),
        "sends were acknowledged again after the failover".into(),
    );
    verdict.check(
        !not_ready.is_empty(),
        format!(
            "node1's /readiness answered 503 while no primary was reachable ({} samples)",
            not_ready.len()
        ),
    );
    let ready_at_end = samples.last().is_some_and(|(_, status)| *status == 200);
    verdict.check(
        ready_at_end,
        "node1's /readiness answered 200 again on the new primary".into(),
    );
}

/// When sends failed, and the longest stretch without an acknowledged send around the kill.
struct Outage {
    /// First failed send's start, last failed send's end, how many failed.
    failed: Option<(Instant, Instant, usize)>,
    /// The longest time between two acknowledgements (ends of acknowledged sends) after the
    /// last one before the kill.
    gap: Option<(Instant, Instant)>,
}

impl Outage {
    fn of(records: &[Record], killed: Instant) -> Self {
        let failed: Vec<&Record> = records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
            .collect();
        let failed = match (
            failed.iter().map(|r| r.started).min(),
            failed.iter().map(|r| r.ended).max(),
        ) {
            (Some(first), Some(last)) => Some((first, last, failed.len())),
            _ => None,
        };
        let mut acked: Vec<Instant> = records
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Acked(_)))
            .map(|r| r.ended)
            .collect();
        acked.sort();
        // From the last acknowledgement before the kill (or the kill): sends in flight at the
        // kill may still be acknowledged just after it, so the gap is the longest one.
        let start = acked
            .iter()
            .copied()
            .filter(|&t| t <= killed)
            .max()
            .unwrap_or(killed);
        let after: Vec<Instant> = std::iter::once(start)
            .chain(acked.iter().copied().filter(|&t| t > killed))
            .collect();
        let gap = after
            .windows(2)
            .map(|w| (w[0], w[1]))
            .max_by_key(|(from, to)| *to - *from);
        Self { failed, gap }
    }
}

/// Samples an URL's status in the background (0: no answer).
struct Sampler {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(Instant, u16)>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Sampler {
    fn start(url: String) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, samples) = (Arc::clone(&stop), Arc::clone(&samples));
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::builder()
                    .timeout(Duration::from_secs(2))
                    .build()
                    .unwrap_or_default();
                while !stop.load(Ordering::Relaxed) {
                    let status = client.get(&url).send().map_or(0, |r| r.status().as_u16());
                    samples
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((Instant::now(), status));
                    std::thread::sleep(READINESS_SAMPLE);
                }
            })
        };
        Self {
            stop,
            samples,
            thread,
        }
    }

    fn finish(self) -> Vec<(Instant, u16)> {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let mut samples = self.samples.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::take(&mut *samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ha::load::Acked;
    use tm_core::TxHash;

    fn record(started: Instant, ended: Instant, acked: bool) -> Record {
        Record {
            started,
            ended,
            outcome: if acked {
                Outcome::Acked(Acked {
                    hash: TxHash::from_bytes([0; 64].to_vec()),
                    payload: Vec::new(),
                    reader: 1,
                })
            } else {
                Outcome::Failed("send: 503 database unavailable".into())
            },
        }
    }

    fn around_a_kill(t0: Instant) -> Vec<Record> {
        let s = Duration::from_secs;
        vec![
            record(t0 + s(8), t0 + s(9), true),
            record(t0 + s(9), t0 + s(11), false),
            record(t0 + s(12), t0 + s(17), false),
            record(t0 + s(18), t0 + s(25), true),
            record(t0 + s(26), t0 + s(27), true),
        ]
    }

    #[test]
    fn the_outage_runs_from_the_last_ack_before_the_kill_to_the_first_after() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let killed = t0 + s(10);
        let outage = Outage::of(&around_a_kill(t0), killed);
        assert_eq!(outage.failed, Some((t0 + s(9), t0 + s(17), 2)));
        assert_eq!(outage.gap, Some((t0 + s(9), t0 + s(25))));
        // A send in flight at the kill acknowledged just after it does not hide the outage.
        let mut records = around_a_kill(t0);
        let just_after = killed + Duration::from_millis(1);
        records.push(record(t0 + s(9), just_after, true));
        let outage = Outage::of(&records, killed);
        assert_eq!(outage.gap, Some((just_after, t0 + s(25))));
    }

    #[test]
    fn no_ack_after_the_kill_is_no_gap() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let records = [
            record(t0, t0 + s(1), true),
            record(t0 + s(2), t0 + s(3), false),
        ];
        let outage = Outage::of(&records, t0 + s(2));
        assert!(outage.gap.is_none());
        assert_eq!(outage.failed.map(|f| f.2), Some(1));
    }
}
