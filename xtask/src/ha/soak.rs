//! The keep-alive soak: sends spaced around the idle timeouts, so that a connection kept idle
//! by a client longer than its server keeps it (the race behind a rare 410 or 500 when every
//! process is up) shows as a failed send.
//!
//! Every server of ours keeps an idle connection 60 s; our clients and the balancers drop one
//! after 30 s; actix's default keep-alive was 5 s. Each lane sends from its own entry point,
//! idle between two sends for gaps just under and just over one of those timeouts. The lanes
//! run at once, from entry points with connection pools of their own (a node's Q2T balancer
//! address, its unix-socket q2t-api), so the soak takes as long as its longest gap pattern,
//! not the sum. Through a balancer, round robin over two replicas doubles the gap each replica
//! and its own clients (P2P, enclave) see: 30 s at the balancer is 60 s behind it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tm_client::q2t::Q2tClient;

use super::load::{Outcome, Record, Sender, Shown};

/// One lane: a sender and the idle gaps it cycles through.
pub struct Lane {
    /// What the lane exercises, for the report.
    pub name: String,
    /// Who sends, to whom.
    pub sender: Sender,
    /// The idle gaps between its sends, cycled.
    pub gaps: Vec<Duration>,
}

/// The idle gaps of a lane around `timeout`: 0.5 s under it, then 0.5 s over it.
pub fn around(timeout: Duration) -> Vec<Duration> {
    let half = Duration::from_millis(500);
    vec![timeout - half, timeout + half]
}

/// The lanes: node 1 and node 2 each through their Q2T balancer address and their unix
/// socket, each lane with its own client.
pub fn lanes(through_balancer: [Sender; 2], through_socket: [Sender; 2]) -> Vec<Lane> {
    let [lb1, lb2] = through_balancer;
    let [ipc1, ipc2] = through_socket;
    vec![
        Lane {
            name: "node1 via its balancer, ~30 s idle (~60 s at each replica)".into(),
            sender: lb1,
            gaps: around(Duration::from_secs(30)),
        },
        Lane {
            name: "node1 via its unix socket, ~60 s idle".into(),
            sender: ipc1,
            gaps: around(Duration::from_secs(60)),
        },
        Lane {
            name: "node2 via its balancer, ~5 s idle".into(),
            sender: lb2,
            gaps: vec![Duration::from_millis(4_900), Duration::from_millis(5_100)],
        },
        Lane {
            name: "node2 via its unix socket, ~30 s idle".into(),
            sender: ipc2,
            gaps: around(Duration::from_secs(30)),
        },
    ]
}

/// Runs every lane for `length` (a lane's last send starts within it) and returns the
/// records of all lanes; progress counts the sends.
pub fn run(lanes: Vec<Lane>, length: Duration) -> Vec<Record> {
    let records = Mutex::new(Vec::new());
    let shown = Shown::new(
        "ha: keep-alive soak",
        &format!("{} s with nothing else sending", length.as_secs()),
    );
    let start = Instant::now();
    std::thread::scope(|scope| {
        for lane in &lanes {
            let (records, shown) = (&records, &shown);
            scope.spawn(move || {
                let mut gaps = lane.gaps.iter().cycle();
                let mut next = Duration::ZERO;
                let mut i = 0;
                while next <= length {
                    if let Some(wait) = next.checked_sub(start.elapsed()) {
                        std::thread::sleep(wait);
                    }
                    i += 1;
                    let payload = format!("ha soak {}: send {i}", lane.name).into_bytes();
                    let started = Instant::now();
                    let outcome = lane.sender.send(super::load::Flow::Send, payload);
                    shown.sent(matches!(outcome, Outcome::Failed(_)));
                    records
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .push(Record {
                            started,
                            ended: Instant::now(),
                            outcome,
                        });
                    // The gap is idle time: it starts when the answer came.
                    next = start.elapsed() + gaps.next().copied().unwrap_or_default();
                }
            });
        }
    });
    shown.finish();
    records
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A client of a node's unix-socket q2t-api (always plain: a STRICT entry on a socket is
/// refused, so the cluster serves it without TLS).
pub fn socket_client(socket: &std::path::Path) -> Result<Q2tClient, String> {
    Q2tClient::new(&format!("unix:{}", socket.display())).map_err(|e| e.to_string())
}
