//! `cargo xtask bench`: throughput, latency, memory and start-up of a two-node network, against
//! the floor (issue 9).
//!
//! For each database (SQLite, PostgreSQL) it starts a two-node network of release builds (every
//! interface its own process, remote enclave), gives node 2 more keys so one send can have ten
//! recipients, restarts node 2's services one by one to time each cold start, and drives node 1
//! (and node 2 for receives) with a load generator over the typed Q2T client. Right after each
//! scenario it runs the floor: the same number of operations doing only the unavoidable work in
//! this one process (seal with the crypto core, one insert on each side), so every figure comes
//! with a ratio measured on the same machine at the same moment.
//!
//! Results: `target/bench/results.json`, `results.md`, and SVG plots (latency histogram,
//! throughput over time) per database; with `--tls` (every interface on mutual TLS, the load
//! generator calling Q2T over HTTPS with a client certificate) `results-tls.json`,
//! `results-tls.md` and `*-tls.svg` beside them, so both runs can be compared.

mod floor;
mod load;
mod report;
mod setup;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use tm_core::TxHash;

use crate::cluster::{self, Cluster, Db, UpOptions};
use crate::lb::Balancer;

/// Options of `cargo xtask bench`.
#[derive(Clone, Debug, clap::Args)]
pub struct BenchOptions {
    /// Seconds per scenario (ignored with --count).
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Operations per scenario instead of a time bound.
    #[arg(long)]
    pub count: Option<u64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Databases to run on (repeat or comma-separate).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Db::Sqlite, Db::Postgres])]
    pub db: Vec<Db>,
    /// Recipients of the multi-recipient send (keys on node 2).
    #[arg(long, default_value_t = 10)]
    pub recipients: usize,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 1024)]
    pub payload_bytes: usize,
    /// A short run for CI or a smoke test: 2 s per scenario, SQLite only.
    #[arg(long)]
    pub quick: bool,
    /// Where results and the clusters' work folders go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Run in this (debug) build instead of re-running in a release build of xtask; the
    /// services are release builds either way.
    #[arg(long)]
    pub no_release_xtask: bool,
    /// Keep the last cluster running after the run (for profiling by hand).
    #[arg(long)]
    pub keep: bool,
    /// Mutual TLS in CA mode on every interface (as `cluster up --tls`); the load generator
    /// calls Q2T over HTTPS with its own certificate. Results get a `-tls` suffix.
    #[arg(long)]
    pub tls: bool,
}

impl BenchOptions {
    fn effective(&self) -> Self {
        let mut options = self.clone();
        if options.quick {
            options.seconds = options.seconds.min(2);
            options.db = vec![Db::Sqlite];
        }
        options.concurrency = options.concurrency.max(1);
        options.recipients = options.recipients.max(1);
        options
    }
}

/// One scenario of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// `/send` node 1 to one key of node 2.
    Send1,
    /// `/send` node 1 to every key of node 2.
    SendMany,
    /// `GET /transaction/{hash}` on node 2 of what `Send1` sent.
    Receive,
    /// `/storeraw` then `/sendsignedtx` to one key of node 2 (one operation = both calls).
    StoreRawSendSigned,
}

impl Scenario {
    const ALL: [Self; 4] = [
        Self::Send1,
        Self::SendMany,
        Self::Receive,
        Self::StoreRawSendSigned,
    ];

    fn label(self, recipients: usize) -> String {
        match self {
            Self::Send1 => "send A->B, 1 recipient".into(),
            Self::SendMany => format!("send A->B, {recipients} recipients"),
            Self::Receive => "receive on B".into(),
            Self::StoreRawSendSigned => "storeraw + sendsignedtx".into(),
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Results {
    /// What ran and where.
    pub machine: report::Machine,
    /// The options, as effective.
    pub seconds: u64,
    /// Operations per scenario, when count-bounded.
    pub count: Option<u64>,
    /// Requests in flight.
    pub concurrency: usize,
    /// Recipients of the multi-recipient send.
    pub recipients: usize,
    /// Payload bytes.
    pub payload_bytes: usize,
    /// Whether every interface served mutual TLS.
    pub tls: bool,
    /// Per database.
    pub runs: Vec<DbRun>,
}

/// The results on one database.
#[derive(Debug, Serialize)]
pub struct DbRun {
    /// The database.
    pub db: Db,
    /// Cold start of each service of node 2 (spawn to first 200 on its health URL).
    pub cold_start_ms: Vec<(String, f64)>,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
}

/// One scenario's figures.
#[derive(Debug, Serialize)]
pub struct ScenarioResult {
    /// Which.
    pub scenario: Scenario,
    /// Its label.
    pub label: String,
    /// What the network did.
    pub load: load::LoadResult,
    /// What the floor did with the same number of operations.
    pub floor: floor::FloorResult,
    /// Network throughput / floor throughput.
    pub fraction_of_floor: f64,
    /// CPU time (user + system) all service processes used per successful operation, ms;
    /// a cost that noise on a shared machine hardly moves, unlike throughput. PostgreSQL's own
    /// server processes are not counted (nor in the floor).
    pub services_cpu_ms_per_op: f64,
    /// The same per service process.
    pub cpu_ms_per_op: Vec<(String, f64)>,
    /// Peak resident memory (VmHWM, KiB) of every service process during the scenario.
    pub peak_rss_kib: Vec<(String, u64)>,
}

/// `cargo xtask bench`.
pub fn run(options: &BenchOptions) -> Result<(), String> {
    if cfg!(debug_assertions) && !options.no_release_xtask {
        return rerun_in_release();
    }
    let options = options.effective();
    let out = crate::absolute(&options.out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut runs = Vec::new();
    let dbs = options.db.clone();
    for (i, db) in dbs.iter().enumerate() {
        let keep = options.keep && i + 1 == dbs.len();
        runs.push(run_on(&options, *db, &out, keep)?);
    }
    let results = Results {
        machine: report::Machine::detect(),
        seconds: options.seconds,
        count: options.count,
        concurrency: options.concurrency,
        recipients: options.recipients,
        payload_bytes: options.payload_bytes,
        tls: options.tls,
        runs,
    };
    report::write(&results, &out)?;
    Ok(())
}

/// The floor and the load generator are measured in a release build, like the services: a
/// debug build would flatter our fraction of the floor.
fn rerun_in_release() -> Result<(), String> {
    println!("bench: building xtask in release (the load generator and the floor run optimised)");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .current_dir(crate::root())
        .args(["build", "--quiet", "--release", "-p", "xtask"])
        .status();
    crate::status_of(status)?;
    let status = Command::new(crate::target_dir().join("release/xtask"))
        .current_dir(crate::root())
        .args(std::env::args_os().skip(1))
        .status();
    crate::status_of(status)
}

/// One database: up, keys and cold starts, scenarios with their floors, down (also on failure).
fn run_on(options: &BenchOptions, db: Db, out: &Path, keep: bool) -> Result<DbRun, String> {
    let name = format!("{db:?}").to_lowercase();
    let tls = if options.tls { "-tls" } else { "" };
    let dir = out.join(format!("cluster-{name}{tls}"));
    println!(
        "bench: {name}: starting a two-node network (release builds{}) in {}",
        if options.tls { ", mutual TLS" } else { "" },
        dir.display()
    );
    let up = UpOptions {
        nodes: 2,
        dir: dir.clone(),
        db,
        replicas: 1,
        lb: Balancer::Nginx,
        release: true,
        tls: options.tls,
        features: Default::default(),
    };
    let result = cluster::up(&up).and_then(|mut cluster| measure(&mut cluster, options, db, out));
    if keep && result.is_ok() {
        println!(
            "bench: kept the cluster running: `cargo xtask cluster down --dir {}` stops it",
            dir.display()
        );
    } else if let Err(e) = cluster::down(&dir) {
        eprintln!("bench: stopping the cluster: {e}");
    }
    // Give the machine a moment between databases (sockets, page cache writeback).
    std::thread::sleep(Duration::from_millis(500));
    result
}

/// Node 2's keys and cold starts, then every scenario with its floor.
fn measure(
    cluster: &mut Cluster,
    options: &BenchOptions,
    db: Db,
    out: &Path,
) -> Result<DbRun, String> {
    let cold_start_ms = setup::add_keys_and_restart(cluster, options.recipients)?;
    let mut scenarios = Vec::new();
    let mut sent = Vec::new();
    for scenario in Scenario::ALL {
        scenarios.push(run_scenario(
            cluster, scenario, options, db, out, &mut sent,
        )?);
    }
    Ok(DbRun {
        db,
        cold_start_ms,
        scenarios,
    })
}

/// One scenario on the network (with the services' CPU and peak memory), then the floor with
/// as many operations.
fn run_scenario(
    cluster: &Cluster,
    scenario: Scenario,
    options: &BenchOptions,
    db: Db,
    out: &Path,
    sent: &mut Vec<TxHash>,
) -> Result<ScenarioResult, String> {
    let name = format!("{db:?}").to_lowercase();
    let label = scenario.label(options.recipients);
    setup::reset_peak_rss(cluster);
    let cpu_before = setup::cpu_ms(cluster);
    let load = load::run(cluster, scenario, &label, options, sent)?;
    let cpu_ms_per_op = cpu_per_op(&cpu_before, &setup::cpu_ms(cluster), load.ops);
    let peak_rss_kib = setup::peak_rss(cluster);
    let floor = floor::run(db, scenario, options, load.ops.max(1), out)?;
    let fraction_of_floor = if floor.tps > 0.0 {
        load.tps / floor.tps
    } else {
        0.0
    };
    println!(
        "bench: {name}: {label}: {:.0} tx/s, p50 {:.1} ms, p99 {:.1} ms, {} errors; services {:.2} CPU ms/op; floor {:.0} tx/s, {:.2} CPU ms/op; {:.1}% of the floor",
        load.tps,
        load.latency_ms.p50,
        load.latency_ms.p99,
        load.errors,
        total_cpu(&cpu_ms_per_op),
        floor.tps,
        floor.cpu_ms_per_op,
        fraction_of_floor * 100.0
    );
    Ok(ScenarioResult {
        scenario,
        label,
        load,
        floor,
        fraction_of_floor,
        services_cpu_ms_per_op: total_cpu(&cpu_ms_per_op),
        cpu_ms_per_op,
        peak_rss_kib,
    })
}

/// CPU milliseconds per operation of each process between two readings.
fn cpu_per_op(before: &[(String, f64)], after: &[(String, f64)], ops: u64) -> Vec<(String, f64)> {
    after
        .iter()
        .filter_map(|(name, ms)| {
            let start = before.iter().find(|(n, _)| n == name)?.1;
            Some((name.clone(), (ms - start) / ops.max(1) as f64))
        })
        .collect()
}

fn total_cpu(per_process: &[(String, f64)]) -> f64 {
    per_process.iter().map(|(_, ms)| ms).sum()
}
