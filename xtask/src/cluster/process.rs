//! The cluster's processes: started detached (their own process group, output to a log) so
//! they outlive `cluster up`, and found again by pid from `cluster.json`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// One process of the cluster, with what it takes to start it again.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Process {
    /// e.g. `node1/p2p-node#2`.
    pub name: String,
    /// Its process id.
    pub pid: u32,
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Its working directory.
    pub cwd: PathBuf,
    /// Its log file.
    pub log: PathBuf,
    /// A URL answering 200 when it is up.
    pub health: String,
}

/// Whether process `pid` is alive.
pub fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

/// Starts a process detached from this one (its own process group, output to its log).
pub fn spawn(process: &mut Process) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let log = std::fs::File::create(&process.log)
        .map_err(|e| format!("{}: {e}", process.log.display()))?;
    let err = log.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(&process.program)
        .args(&process.args)
        .current_dir(&process.cwd)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", process.program.display()))?;
    process.pid = child.id();
    Ok(())
}

/// Sends `signal` (e.g. `TERM`, `KILL`) to a process.
pub fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status();
}

/// Waits until `process` is healthy (an `https` health URL is asked with the xtask's
/// certificate from `tls`); fails with the tail of its log if it exits or times out.
pub fn wait_healthy(process: &Process, limit: Duration, tls: Option<&Path>) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if super::tls::get_ok(&process.health, tls) {
            return Ok(());
        }
        if !alive(process.pid) || started.elapsed() > limit {
            return Err(not_up(process));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Why `process` did not come up, with the last lines of its log.
fn not_up(process: &Process) -> String {
    let log = std::fs::read_to_string(&process.log).unwrap_or_default();
    let tail: Vec<&str> = log.lines().rev().take(15).collect();
    format!(
        "{} did not come up ({}); last lines of {}:\n{}",
        process.name,
        if alive(process.pid) {
            "timed out"
        } else {
            "it exited"
        },
        process.log.display(),
        tail.into_iter().rev().collect::<Vec<_>>().join("\n")
    )
}
