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
    /// Replicas of every interface of each node, behind a balancer (nginx), one network per
    /// value (repeat or comma-separate: `--replicas 1,2,4`). More than one needs PostgreSQL
    /// (the replicas of a node share its database): SQLite runs only with one.
    #[arg(long, value_delimiter = ',', default_values_t = [1])]
    pub replicas: Vec<usize>,
    /// A short run for CI or a smoke test: 2 s per scenario (fewer with --seconds), SQLite
    /// only.
    #[arg(long)]
    pub quick: bool,
    /// Run on the debug builds of the services, in this build of xtask (no release build at
    /// all): what CI's smoke run uses after `cargo test --workspace` built them. The run still
    /// fails on a scenario with errors or without a single operation, but its figures say
    /// nothing about speed.
    #[arg(long)]
    pub debug: bool,
    /// Where results and the clusters' work folders go.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Run in this (debug) build instead of re-running in a release build of xtask; the
    /// services are release builds unless --debug says otherwise.
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
        options.replicas.retain(|&n| n > 0);
        options.replicas.dedup();
        if options.replicas.is_empty() {
            options.replicas = vec![1];
        }
        options
    }

    /// The networks to measure: each database with each replica count it supports.
    fn networks(&self) -> Vec<(Db, usize)> {
        let mut networks = Vec::new();
        for db in &self.db {
            for &replicas in &self.replicas {
                if replicas > 1 && *db == Db::Sqlite {
                    println!(
                        "bench: sqlite with {replicas} replicas skipped (replicas share a \
                         database: PostgreSQL only)"
                    );
                    continue;
                }
                networks.push((*db, replicas));
            }
        }
        networks
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
    /// `GET /upcheck` on node 2's Q2T: one HTTP exchange and no work, the unit every other
    /// scenario pays several times (a reference, with no floor; not in [`Scenario::ALL`]).
    Exchange,
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
            Self::Exchange => "one HTTP exchange (GET /upcheck on B)".into(),
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
    /// Whether the services (and the load generator and floor) ran as debug builds.
    pub debug: bool,
    /// Per database.
    pub runs: Vec<DbRun>,
}

/// The results on one database.
#[derive(Debug, Serialize)]
pub struct DbRun {
    /// The database.
    pub db: Db,
    /// Replicas of every interface of each node (behind a balancer when more than one).
    pub replicas: usize,
    /// Cold start of each service of node 2 (spawn to first 200 on its health URL).
    pub cold_start_ms: Vec<(String, f64)>,
    /// Per scenario.
    pub scenarios: Vec<ScenarioResult>,
    /// One HTTP exchange and nothing else, for scale ([`Scenario::Exchange`]).
    pub exchange: Option<ExchangeResult>,
}

/// What one HTTP exchange costs on the machine: the ceiling of any operation that needs one.
#[derive(Debug, Serialize)]
pub struct ExchangeResult {
    /// What the network did.
    pub load: load::LoadResult,
    /// CPU time of all service processes per exchange, ms.
    pub services_cpu_ms_per_op: f64,
    /// CPU time of the load generator (this process) per exchange, ms.
    pub client_cpu_ms_per_op: f64,
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
    /// CPU time of the load generator (this process, its HTTP client and bookkeeping) per
    /// successful operation, ms: it shares the CPUs with the services, the floor does not
    /// have it.
    pub client_cpu_ms_per_op: f64,
    /// Peak resident memory (VmHWM, KiB) of every service process during the scenario.
    pub peak_rss_kib: Vec<(String, u64)>,
}

/// `cargo xtask bench`. Fails (after writing the results) when a scenario had errors or
/// completed no operation; never on a figure of speed.
pub fn run(options: &BenchOptions) -> Result<(), String> {
    if cfg!(debug_assertions) && !options.no_release_xtask && !options.debug {
        return rerun_in_release();
    }
    let options = options.effective();
    let out = crate::absolute(&options.out);
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut runs = Vec::new();
    let networks = options.networks();
    for (i, (db, replicas)) in networks.iter().enumerate() {
        let keep = options.keep && i + 1 == networks.len();
        runs.push(run_on(&options, *db, *replicas, &out, keep)?);
    }
    let results = Results {
        machine: report::Machine::detect(),
        seconds: options.seconds,
        count: options.count,
        concurrency: options.concurrency,
        recipients: options.recipients,
        payload_bytes: options.payload_bytes,
        tls: options.tls,
        debug: options.debug,
        runs,
    };
    report::write(&results, &out)?;
    check(&results)
}

/// Every scenario on every database completed at least one operation and had no error: what
/// the smoke run in CI asserts (never a timing).
fn check(results: &Results) -> Result<(), String> {
    let failures: Vec<String> = results
        .runs
        .iter()
        .flat_map(|run| {
            run.scenarios.iter().filter_map(move |scenario| {
                scenario_failure(&run_name(run.db, run.replicas), scenario)
            })
        })
        .collect();
    if failures.is_empty() {
        println!("bench: every scenario completed operations without an error");
        Ok(())
    } else {
        Err(format!(
            "bench: {} scenario(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        ))
    }
}

/// Why one scenario's run counts as failed, if it does.
fn scenario_failure(network: &str, scenario: &ScenarioResult) -> Option<String> {
    let load = &scenario.load;
    let what = format!("{network}: {}", scenario.label);
    if load.errors > 0 {
        Some(format!(
            "{what}: {} error(s) in {} operations; first: {}",
            load.errors,
            load.ops + load.errors,
            load.first_error.as_deref().unwrap_or("(not recorded)")
        ))
    } else if load.ops == 0 {
        Some(format!("{what}: no operation completed"))
    } else {
        None
    }
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

/// One database (with `replicas` of every interface): up, keys and cold starts, scenarios
/// with their floors, down (also on failure).
fn run_on(
    options: &BenchOptions,
    db: Db,
    replicas: usize,
    out: &Path,
    keep: bool,
) -> Result<DbRun, String> {
    let name = run_name(db, replicas);
    let tls = if options.tls { "-tls" } else { "" };
    let dir = out.join(format!("cluster-{name}{tls}"));
    println!(
        "bench: {name}: starting a two-node network ({} builds{}{}) in {}",
        if options.debug { "debug" } else { "release" },
        if options.tls { ", mutual TLS" } else { "" },
        if replicas > 1 {
            format!(", {replicas} replicas of every interface behind nginx")
        } else {
            String::new()
        },
        dir.display()
    );
    let up = UpOptions {
        nodes: 2,
        dir: dir.clone(),
        db,
        replicas,
        lb: Balancer::Nginx,
        release: !options.debug,
        tls: options.tls,
        features: Default::default(),
    };
    let result =
        cluster::up(&up).and_then(|mut cluster| measure(&mut cluster, options, db, replicas, out));
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
    replicas: usize,
    out: &Path,
) -> Result<DbRun, String> {
    let cold_start_ms = setup::add_keys_and_restart(cluster, options.recipients)?;
    let mut scenarios = Vec::new();
    let mut sent = Vec::new();
    for scenario in Scenario::ALL {
        scenarios.push(run_scenario(
            cluster, scenario, options, db, replicas, out, &mut sent,
        )?);
    }
    let exchange = run_exchange(cluster, options, db, replicas)?;
    Ok(DbRun {
        db,
        replicas,
        cold_start_ms,
        scenarios,
        exchange: Some(exchange),
    })
}

/// One scenario's load and the CPU spent on it per successful operation.
struct MeasuredLoad {
    load: load::LoadResult,
    /// Each service process's.
    cpu_ms_per_op: Vec<(String, f64)>,
    /// The load generator's (this process).
    client_cpu_ms_per_op: f64,
}

/// Runs `scenario`'s load, reading the CPU time of every service process and of this one
/// before and after.
fn measured_load(
    cluster: &Cluster,
    scenario: Scenario,
    label: &str,
    options: &BenchOptions,
    sent: &mut Vec<TxHash>,
) -> Result<MeasuredLoad, String> {
    let cpu_before = setup::cpu_ms(cluster);
    let client_before = setup::process_cpu_ms(std::process::id()).unwrap_or(0.0);
    let load = load::run(cluster, scenario, label, options, sent)?;
    let client = setup::process_cpu_ms(std::process::id()).unwrap_or(0.0) - client_before;
    Ok(MeasuredLoad {
        cpu_ms_per_op: cpu_per_op(&cpu_before, &setup::cpu_ms(cluster), load.ops),
        client_cpu_ms_per_op: client / load.ops.max(1) as f64,
        load,
    })
}

/// [`Scenario::Exchange`] on the network, with the CPU both sides used.
fn run_exchange(
    cluster: &Cluster,
    options: &BenchOptions,
    db: Db,
    replicas: usize,
) -> Result<ExchangeResult, String> {
    let label = Scenario::Exchange.label(options.recipients);
    let measured = measured_load(
        cluster,
        Scenario::Exchange,
        &label,
        options,
        &mut Vec::new(),
    )?;
    let (load, client_cpu_ms_per_op) = (measured.load, measured.client_cpu_ms_per_op);
    let services = total_cpu(&measured.cpu_ms_per_op);
    println!(
        "bench: {}: {label}: {:.0}/s, p50 {:.2} ms; services {services:.3}, load generator {client_cpu_ms_per_op:.3} CPU ms per exchange",
        run_name(db, replicas),
        load.tps,
        load.latency_ms.p50,
    );
    Ok(ExchangeResult {
        load,
        services_cpu_ms_per_op: services,
        client_cpu_ms_per_op,
    })
}

/// One scenario on the network (with the services' CPU and peak memory), then the floor with
/// as many operations.
fn run_scenario(
    cluster: &Cluster,
    scenario: Scenario,
    options: &BenchOptions,
    db: Db,
    replicas: usize,
    out: &Path,
    sent: &mut Vec<TxHash>,
) -> Result<ScenarioResult, String> {
    let name = run_name(db, replicas);
    let label = scenario.label(options.recipients);
    setup::reset_peak_rss(cluster);
    let MeasuredLoad {
        load,
        cpu_ms_per_op,
        client_cpu_ms_per_op,
    } = measured_load(cluster, scenario, &label, options, sent)?;
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
        client_cpu_ms_per_op,
        peak_rss_kib,
    })
}

/// `sqlite`, `postgres`, `postgres-2-replicas`: how a network is named in output and file names.
pub fn run_name(db: Db, replicas: usize) -> String {
    let db = format!("{db:?}").to_lowercase();
    if replicas > 1 {
        format!("{db}-{replicas}-replicas")
    } else {
        db
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(ops: u64, errors: u64) -> ScenarioResult {
        ScenarioResult {
            scenario: Scenario::Send1,
            label: Scenario::Send1.label(1),
            load: load::LoadResult {
                ops,
                errors,
                first_error: (errors > 0).then(|| "500 Internal Server Error".to_owned()),
                seconds: 1.0,
                tps: ops as f64,
                latency_ms: load::Percentiles::default(),
                histogram: Vec::new(),
                per_second: vec![ops],
            },
            floor: floor::FloorResult {
                ops: ops.max(1),
                seconds: 1.0,
                tps: 1.0,
                cpu_ms_per_op: 0.1,
            },
            fraction_of_floor: 0.5,
            services_cpu_ms_per_op: 1.0,
            cpu_ms_per_op: Vec::new(),
            client_cpu_ms_per_op: 0.1,
            peak_rss_kib: Vec::new(),
        }
    }

    fn results(scenarios: Vec<ScenarioResult>) -> Results {
        Results {
            machine: report::Machine::detect(),
            seconds: 1,
            count: None,
            concurrency: 1,
            recipients: 1,
            payload_bytes: 1,
            tls: false,
            debug: true,
            runs: vec![DbRun {
                db: Db::Sqlite,
                replicas: 1,
                cold_start_ms: Vec::new(),
                scenarios,
                exchange: None,
            }],
        }
    }

    #[test]
    fn a_run_with_operations_and_no_error_passes_whatever_its_speed() {
        assert_eq!(
            check(&results(vec![scenario(1, 0), scenario(5000, 0)])),
            Ok(())
        );
    }

    #[test]
    fn a_scenario_with_an_error_fails_the_run_and_names_it() {
        let error = check(&results(vec![scenario(100, 0), scenario(99, 1)])).expect_err("fails");
        assert!(error.contains("1 error(s) in 100 operations"), "{error}");
        assert!(error.contains("500 Internal Server Error"), "{error}");
    }

    #[test]
    fn a_scenario_without_an_operation_fails_the_run() {
        let error = check(&results(vec![scenario(0, 0)])).expect_err("fails");
        assert!(error.contains("no operation completed"), "{error}");
    }
}
