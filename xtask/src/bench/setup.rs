//! Node 2's extra keys, cold-start timing, and peak resident memory of the services.

use std::time::{Duration, Instant};

use crate::cluster::{self, Cluster, KeyFiles};

/// Gives node 2 `keys` keys in all (one config, one enclave: what Tessera calls several keys
/// per node), then restarts node 2's services one at a time, enclave first, timing each from
/// spawn to its first 200 on its health URL. Returns (service, milliseconds).
pub fn add_keys_and_restart(
    cluster: &mut Cluster,
    keys: usize,
) -> Result<Vec<(String, f64)>, String> {
    let node = cluster
        .nodes
        .get_mut(1)
        .ok_or_else(|| "bench needs two nodes".to_owned())?;
    let config_text = std::fs::read_to_string(&node.config)
        .map_err(|e| format!("{}: {e}", node.config.display()))?;
    let mut config: serde_json::Value =
        serde_json::from_str(&config_text).map_err(|e| e.to_string())?;
    let key_dir = node.config.with_file_name("keys");
    for i in node.keys.len()..keys {
        let base = key_dir.join(format!("{}-extra{i}", node.name));
        let pair = tm_core::keyfile::write_new_key_pair(
            &base,
            None,
            &tm_core::keyfile::ArgonOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let (public_key_path, private_key_path) = tm_core::keyfile::key_file_paths(&base);
        if let Some(list) = config["keys"]["keyData"].as_array_mut() {
            list.push(serde_json::json!({
                "privateKeyPath": private_key_path.display().to_string(),
                "publicKeyPath": public_key_path.display().to_string()
            }));
        }
        node.keys.push(KeyFiles {
            public_key: pair.public.to_base64(),
            public_key_path,
            private_key_path,
        });
    }
    std::fs::write(
        &node.config,
        serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;

    println!(
        "bench: node 2 has {} keys; restarting its services to time each cold start",
        node.keys.len()
    );
    let probe = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| e.to_string())?;
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
        loop {
            if probe
                .get(&process.health)
                .send()
                .is_ok_and(|r| r.status().as_u16() == 200)
            {
                break;
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
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        println!("bench: {} cold start {ms:.0} ms", process.name);
        cold.push((process.name.clone(), ms));
    }
    // The ipc q2t-api has no health URL; give its socket a moment.
    std::thread::sleep(Duration::from_millis(300));
    cluster::wait_for_discovery(cluster, Duration::from_secs(60))?;
    Ok(cold)
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
