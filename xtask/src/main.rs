//! Project automation: `cargo xtask <command>`.
//!
//! Every command says what it did and what to do next.

mod bench;
mod bench_recovery;
mod cluster;
mod ha;
mod interop;
mod lb;
mod patroni;
mod postgres;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run every check CI runs (scripts/test-all.sh).
    Test,
    /// Run every fuzz target for SECONDS each.
    Fuzz {
        /// Seconds per target.
        #[arg(default_value_t = 60)]
        seconds: u64,
    },
    /// Criterion benchmarks of the crypto core (seal, decode).
    BenchCore,
    /// Throughput, latency, memory and start-up of a two-node network on SQLite and
    /// PostgreSQL against the floor; writes target/bench/results.json, results.md and plots.
    Bench(bench::BenchOptions),
    /// Recovery of a large history (--transactions N, default 100000) on SQLite and
    /// PostgreSQL: wall time and peak memory of `p2p-node --recover`; writes
    /// target/bench/recovery.md.
    BenchRecovery(bench_recovery::Options),
    /// A local network of our nodes.
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
    /// The mixed-network test against Java Tessera fetched from Maven Central (prints one
    /// SKIPPED line when it cannot be fetched). Options: --self-check, --dist DIR,
    /// --tessera-version V.
    Interop {
        /// Passed to the interop module.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The high-availability proof: two nodes, two replicas of every interface behind a
    /// balancer on PostgreSQL, sends while one replica of each interface is frozen, then
    /// killed and restarted, then a keep-alive soak; per-phase accounting (--tls: on mutual
    /// TLS).
    Ha(ha::Options),
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Start a fresh network (keys, configs, processes) and wait until it is ready.
    Up(cluster::UpOptions),
    /// Stop every process of the cluster.
    Down {
        /// The work folder.
        #[arg(long, default_value = "target/cluster")]
        dir: PathBuf,
    },
    /// Show every process and what each node knows.
    Status {
        /// The work folder.
        #[arg(long, default_value = "target/cluster")]
        dir: PathBuf,
    },
    /// Send a demo transaction from the first node to the second and show each node's view.
    Send {
        /// The work folder.
        #[arg(long, default_value = "target/cluster")]
        dir: PathBuf,
    },
}

fn root() -> PathBuf {
    // `cargo run` (the `cargo xtask` alias) sets CARGO_MANIFEST_DIR for the process too: prefer
    // it, so that a binary built in a target folder shared by two checkouts still works on the
    // checkout it was run from.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// `path` under the repository root unless it is absolute.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root().join(path)
    }
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

/// Builds the service binaries (`p2p-node`, `q2t-api`, `thirdparty-api`, `enclave`; quick
/// when they are built already) and returns their folder.
fn build_services(release: bool) -> Result<PathBuf, String> {
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command
        .current_dir(root())
        .args(["build", "--quiet", "--bins"])
        .args(["-p", "p2p-node", "-p", "q2t-api", "-p", "thirdparty-api"])
        .args(["-p", "tm-enclave"]);
    if release {
        command.arg("--release");
    }
    status_of(command.status())
        .map_err(|e| format!("building the service binaries failed: {e}"))?;
    Ok(target_dir().join(if release { "release" } else { "debug" }))
}

/// A free loopback port for a service process, taken from dev-support's listeners and
/// released for the process to bind (a process cannot be handed a listener).
///
/// Never the same port twice in one run: the kernel may hand a released port out again, and
/// HAProxy binds its frontends with SO_REUSEPORT, so two frontends given one port both bind it
/// and the kernel splits their connections between them (seen once: half of a node's enclave
/// calls reached another interface's backend and were answered 404).
fn free_port() -> Result<u16, String> {
    use std::collections::HashSet;
    use std::sync::Mutex;
    use tm_dev_support::ports;
    static GIVEN: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let given = given.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let port = ports::loopback()
            .and_then(|listener| ports::port(&listener))
            .map_err(|e| format!("no free loopback port: {e}"))?;
        if given.insert(port) {
            return Ok(port);
        }
    }
    Err("no free loopback port that was not handed out already".into())
}

fn status_of(status: std::io::Result<std::process::ExitStatus>) -> Result<(), String> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(format!("command failed ({s})")),
        Err(e) => Err(format!("could not start the command: {e}")),
    }
}

fn run(task: Task) -> Result<(), String> {
    match task {
        Task::Test => status_of(Command::new(root().join("scripts/test-all.sh")).status()),
        Task::Fuzz { seconds } => status_of(
            Command::new(root().join("scripts/fuzz.sh"))
                .arg(seconds.to_string())
                .status(),
        ),
        Task::BenchCore => {
            status_of(
                Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                    .args(["bench", "-p", "tm-core", "--bench", "core"])
                    .current_dir(root())
                    .status(),
            )?;
            println!(
                "reports: {}/target/criterion/report/index.html",
                root().display()
            );
            Ok(())
        }
        Task::Cluster { action } => match action {
            ClusterAction::Up(options) => {
                let cluster = cluster::up(&options)?;
                cluster::print_summary(&cluster);
                Ok(())
            }
            ClusterAction::Down { dir } => cluster::down(&dir),
            ClusterAction::Status { dir } => {
                if cluster::status(&dir)? {
                    Ok(())
                } else {
                    Err("some processes are not up".into())
                }
            }
            ClusterAction::Send { dir } => cluster::send(&dir),
        },
        Task::Bench(options) => bench::run(&options),
        Task::BenchRecovery(options) => bench_recovery::run(&options),
        Task::Ha(options) => ha::run(&options),
        Task::Interop { args } => interop::run(&args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
