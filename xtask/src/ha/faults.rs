//! What the proof does to a replica: freeze it (SIGSTOP, as a long pause, a stuck disk or a
//! half-open connection look to its callers) and resume it, or kill it (SIGKILL) and restart it.

use std::time::{Duration, Instant};

use crate::cluster::{self, Cluster};

/// The interfaces, as `--interfaces` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Interface {
    /// GoQuorum's API.
    #[value(name = "q2t-api")]
    Q2tApi,
    /// The peer-to-peer API.
    #[value(name = "p2p-node")]
    P2pNode,
    /// The signers' API.
    #[value(name = "thirdparty-api")]
    ThirdpartyApi,
    /// The remote enclave.
    #[value(name = "enclave")]
    Enclave,
}

impl Interface {
    /// Every interface, in the order the proof visits them.
    pub const ALL: [Self; 4] = [
        Self::Q2tApi,
        Self::P2pNode,
        Self::ThirdpartyApi,
        Self::Enclave,
    ];

    /// The binary, as process names spell it.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Q2tApi => "q2t-api",
            Self::P2pNode => "p2p-node",
            Self::ThirdpartyApi => "thirdparty-api",
            Self::Enclave => "enclave",
        }
    }
}

/// What is done to a replica, as `--phases` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// SIGSTOP for the freeze time, then SIGCONT.
    Freeze,
    /// SIGKILL, then the same command started again.
    Kill,
}

/// A replica the proof acts on: the first replica of an interface of one node, chosen where
/// the send path from node 1 to node 2 calls that interface.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The interface.
    pub interface: Interface,
    /// The node's index (0: node 1, the sender; 1: node 2, the recipient).
    pub node: usize,
    /// Why this replica is on the send path.
    pub why: &'static str,
}

/// The replicas to act on for `interfaces`, in order.
pub fn targets(interfaces: &[Interface]) -> Vec<Target> {
    let all = [
        Target {
            interface: Interface::Q2tApi,
            node: 0,
            why: "GoQuorum's /send and /sendsignedtx land on node 1's",
        },
        Target {
            interface: Interface::P2pNode,
            node: 1,
            why: "node 1's pushes land on node 2's",
        },
        Target {
            interface: Interface::ThirdpartyApi,
            node: 0,
            why: "a signer's /storeraw lands on node 1's",
        },
        Target {
            interface: Interface::Enclave,
            node: 0,
            why: "node 1's q2t-api encrypts with node 1's",
        },
        Target {
            interface: Interface::Enclave,
            node: 1,
            why: "node 2's p2p-node checks each push against node 2's keys",
        },
    ];
    Interface::ALL
        .iter()
        .filter(|i| interfaces.contains(i))
        .flat_map(|i| all.iter().filter(move |t| t.interface == *i).copied())
        .collect()
}

/// How long each step of a fault takes.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long a replica stays frozen.
    pub freeze: Duration,
    /// How long a killed replica stays down before it is started again.
    pub down: Duration,
    /// How long the load runs after a replica is back, still counted in the fault's phase
    /// (sends held by the frozen replica end within the client timeout).
    pub settle: Duration,
}

/// When a fault began and when the replica was back.
#[derive(Clone, Copy, Debug)]
pub struct Applied {
    /// The signal's time.
    pub at: Instant,
    /// When the replica was resumed, or restarted and healthy.
    pub back: Instant,
}

/// Applies `fault` to `target`'s first replica and brings it back; returns when the settle
/// time after that has passed.
pub fn apply(
    cluster: &mut Cluster,
    target: Target,
    fault: Fault,
    timing: Timing,
) -> Result<Applied, String> {
    let index = replica(cluster, target)?;
    let applied = match fault {
        Fault::Freeze => freeze(
            cluster.nodes[target.node].processes[index].pid,
            timing.freeze,
        ),
        Fault::Kill => kill_and_restart(cluster, target.node, index, timing.down)?,
    };
    std::thread::sleep(timing.settle);
    Ok(applied)
}

/// The name of `target`'s first replica, e.g. `node2/p2p-node#1`.
pub fn replica_name(cluster: &Cluster, target: Target) -> String {
    format!(
        "{}/{}#1",
        cluster.nodes[target.node].name,
        target.interface.binary()
    )
}

fn replica(cluster: &Cluster, target: Target) -> Result<usize, String> {
    let name = replica_name(cluster, target);
    cluster
        .nodes
        .get(target.node)
        .and_then(|node| node.processes.iter().position(|p| p.name == name))
        .ok_or_else(|| format!("no process {name} in the cluster"))
}

/// A stopped process, continued when this is dropped (also when the proof fails while it is
/// frozen, so nothing is left stopped).
struct Frozen(u32);

impl Drop for Frozen {
    fn drop(&mut self) {
        cluster::signal(self.0, "CONT");
    }
}

fn freeze(pid: u32, time: Duration) -> Applied {
    let at = Instant::now();
    cluster::signal(pid, "STOP");
    let frozen = Frozen(pid);
    std::thread::sleep(time);
    drop(frozen);
    Applied {
        at,
        back: Instant::now(),
    }
}

fn kill_and_restart(
    cluster: &mut Cluster,
    node: usize,
    index: usize,
    down: Duration,
) -> Result<Applied, String> {
    let at = Instant::now();
    cluster::signal(cluster.nodes[node].processes[index].pid, "KILL");
    std::thread::sleep(down);
    cluster::spawn(&mut cluster.nodes[node].processes[index])?;
    // `down` reads the pids from cluster.json.
    cluster.save()?;
    cluster::wait_healthy(
        &cluster.nodes[node].processes[index],
        Duration::from_secs(60),
        cluster.tls.as_deref(),
    )?;
    Ok(Applied {
        at,
        back: Instant::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_interface_is_acted_on_where_the_send_path_calls_it() {
        let chosen: Vec<(Interface, usize)> = targets(&[Interface::Enclave, Interface::P2pNode])
            .iter()
            .map(|t| (t.interface, t.node))
            .collect();
        assert_eq!(
            chosen,
            [
                (Interface::P2pNode, 1),
                (Interface::Enclave, 0),
                (Interface::Enclave, 1)
            ]
        );
        assert_eq!(targets(&Interface::ALL).len(), 5);
    }
}
