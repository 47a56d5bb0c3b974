//! Node 2's extra keys, cold-start timing, and peak resident memory of the services.

use std::time::{Duration, Instant};

use tm_dev_support::config::{self as dev_config, NodeConfig};

use crate::cluster::{self, Cluster, Process};

/// Gives node 2 `keys` keys in all (one config, one enclave: what Tessera calls several keys
/// per node), then restarts node 2's services one at a time, enclave first, timing each from
/// spawn to its first 200 on its health URL. Returns (service, milliseconds).
pub fn add_keys_and_restart(
    cluster: &mut Cluster,
    keys: usize,
) -> Result<Vec<(String, f64)>, String> {
    add_keys(cluster, keys)?;
    let cold = restart_timed(cluster)?;
    // The ipc q2t-api has no health URL; give its socket a moment.
    std::thread::sleep(Duration::from_millis(300));
    cluster::wait_for_discovery(cluster, Duration::from_secs(60))?;
    Ok(cold)
}

/// Writes node 2's extra key files and names them in its config.
fn add_keys(cluster: &mut Cluster, keys: usize) -> Result<(), String> {
    let node = cluster
        .nodes
        .get_mut(1)
        .ok_or_else(|| "bench needs two nodes".to_owned())?;
    let config = cluster::read_config(&node.config)?;
    let mut key_data = config
        .keys
        .as_ref()
        .map(|keys| keys.key_data().to_vec())
        .unwrap_or_default();
    let key_dir = node.config.with_file_name("keys");
    for i in node.keys.len()..keys {
        let (files, data) = cluster::write_keys(&key_dir, &format!("{}-extra{i}", node.name))?;
        node.keys.push(files);
        key_data.push(data);
    }
    let config = NodeConfig::from_config(config).keys(key_data).build();
    dev_config::write(&config, &node.config)
        .map_err(|e| format!("{}: {e}", node.config.display()))?;
    println!(
        "bench: node 2 has {} keys; restarting its services to time each cold start",
        node.keys.len()
    );
    Ok(())
}

/// Restarts node 2's processes one at a time; returns each cold start in milliseconds.
fn restart_timed(cluster: &mut Cluster) -> Result<Vec<(String, f64)>, String> {
    // With TLS the probe presents the xtask's certificate: the first 200 includes a handshake.
    let probe = cluster::http_client(cluster.tls.as_deref());
    let mut cold = Vec::new();
    for index in 0..cluster.nodes[1].processes.len() {
        let process = &mut cluster.nodes[1].processes[index];
        stop(process.pid)?;
        let started = Instant::now();
        cluster::spawn(process)?;
        let process = process.clone();
        cluster.save()?;
        if process.health.is_empty() {
            continue;
        }
        wait_first_200(&probe, &process, started)?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!("bench: {} cold start {ms:.0} ms", process.name);
        cold.push((process.name.clone(), ms));
    }
    Ok(cold)
}

/// Polls the health URL every 5 ms (the cold start is measured to this answer).
fn wait_first_200(
    probe: &reqwest::blocking::Client,
    process: &Process,
    started: Instant,
) -> Result<(), String> {
    loop {
        if probe
            .get(&process.health)
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
        {
            return Ok(());
        }
        if !cluster::alive(process.pid) || started.elapsed() > Duration::from_secs(60) {
            return Err(format!(
                "{} did not come back (see {})",
                process.name,
                process.log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn stop(pid: u32) -> Result<(), String> {
    cluster::signal(pid, "TERM");
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster::alive(pid) {
        if Instant::now() > deadline {
            cluster::signal(pid, "KILL");
        }
        if Instant::now() > deadline + Duration::from_secs(5) {
            return Err(format!("process {pid} does not stop"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Resets every service's VmHWM to its current RSS (`/proc/PID/clear_refs`, value 5), so the
/// next reading is the peak of the scenario alone. Where that is refused, the reading is the
/// peak since the process started.
pub fn reset_peak_rss(cluster: &Cluster) {
    for process in cluster.processes() {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", process.pid), "5");
    }
}

/// VmHWM (KiB) of every service process.
pub fn peak_rss(cluster: &Cluster) -> Vec<(String, u64)> {
    cluster
        .processes()
        .filter_map(|p| {
            let status = std::fs::read_to_string(format!("/proc/{}/status", p.pid)).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            let kib = line.split_whitespace().nth(1)?.parse().ok()?;
            Some((p.name.clone(), kib))
        })
        .collect()
}

/// CPU time (user + system, milliseconds) each service process has used so far.
pub fn cpu_ms(cluster: &Cluster) -> Vec<(String, f64)> {
    cluster
        .processes()
        .filter_map(|p| Some((p.name.clone(), process_cpu_ms(p.pid)?)))
        .collect()
}

/// CPU time (user + system, milliseconds) of process `pid` (`/proc/PID/stat`, fields 14-15).
pub fn process_cpu_ms(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces, start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) * 1000.0 / clock_ticks())
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}
