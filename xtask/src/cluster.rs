//! `cargo xtask cluster`: a local network of our nodes, each interface its own process.
//!
//! `up` generates keys and Tessera configs in a work folder, starts every node's enclave,
//! p2p-node, q2t-api (TCP and a unix socket) and thirdparty-api, waits until every interface
//! answers and every node knows every key, and writes `cluster.json`. With `--replicas N`
//! each interface runs N instances sharing PostgreSQL behind nginx or HAProxy (`deploy/lb/`),
//! as Tessera's HA guide describes: instances bind their own addresses, the node advertises
//! the balancer's.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::lb::{self, Balancer, Frontend};

/// The database the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    /// An SQLite file per node (the embedded default).
    Sqlite,
    /// A database per node on the local PostgreSQL (`.ci/postgres.sh`).
    Postgres,
}

/// Options of `cluster up`.
#[derive(Clone, Debug, clap::Args)]
pub struct UpOptions {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// The work folder (keys, configs, databases, logs, cluster.json).
    #[arg(long, default_value = "target/cluster")]
    pub dir: PathBuf,
    /// The database.
    #[arg(long, value_enum, default_value_t = Db::Sqlite)]
    pub db: Db,
    /// Instances of every interface per node; more than one needs PostgreSQL and a balancer.
    #[arg(long, default_value_t = 1)]
    pub replicas: usize,
    /// The balancer in front of replicas.
    #[arg(long, value_enum, default_value_t = Balancer::Nginx)]
    pub lb: Balancer,
    /// Use release builds of the binaries.
    #[arg(long)]
    pub release: bool,
}

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

/// Key files of one key pair.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyFiles {
    /// Base64 public key.
    pub public_key: String,
    /// The `.pub` file.
    pub public_key_path: PathBuf,
    /// The `.key` file.
    pub private_key_path: PathBuf,
}

/// One node, for scripts.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `node1`, `node2`, ...
    pub name: String,
    /// Q2T base URL (TCP; the balancer with replicas).
    pub q2t_url: String,
    /// Q2T unix socket, as GoQuorum connects.
    pub q2t_socket: PathBuf,
    /// P2P base URL.
    pub p2p_url: String,
    /// ThirdParty base URL.
    pub thirdparty_url: String,
    /// Remote enclave base URL.
    pub enclave_url: String,
    /// Its keys.
    pub keys: Vec<KeyFiles>,
    /// Its Tessera config file.
    pub config: PathBuf,
    /// Its processes.
    pub processes: Vec<Process>,
}

/// `cluster.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cluster {
    /// The work folder.
    pub dir: PathBuf,
    /// The database.
    pub db: Db,
    /// Instances per interface.
    pub replicas: usize,
    /// The balancer, with replicas.
    pub balancer: Option<Balancer>,
    /// The balancer's process.
    pub balancer_process: Option<Process>,
    /// The nodes.
    pub nodes: Vec<NodeInfo>,
}

impl Cluster {
    /// Reads `DIR/cluster.json`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join("cluster.json");
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "{}: {e} (is a cluster up? `cargo xtask cluster up`)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `DIR/cluster.json`.
    pub fn save(&self) -> Result<(), String> {
        let path = self.dir.join("cluster.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Every process, balancer last.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.nodes
            .iter()
            .flat_map(|n| n.processes.iter())
            .chain(self.balancer_process.iter())
    }
}

fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

/// Whether a GET of `url` answers 200.
pub fn healthy(url: &str) -> bool {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()
        .and_then(|c| c.get(url).send().ok())
        .is_some_and(|r| r.status().as_u16() == 200)
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

/// Waits until `process` is healthy; fails with the tail of its log if it exits or times out.
pub fn wait_healthy(process: &Process, limit: Duration) -> Result<(), String> {
    let started = Instant::now();
    loop {
        if healthy(&process.health) {
            return Ok(());
        }
        if !alive(process.pid) || started.elapsed() > limit {
            let log = std::fs::read_to_string(&process.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            return Err(format!(
                "{} did not come up ({}); last lines of {}:\n{}",
                process.name,
                if alive(process.pid) {
                    "timed out"
                } else {
                    "it exited"
                },
                process.log.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn build(release: bool) -> Result<PathBuf, String> {
    println!(
        "cluster: building the binaries{}",
        if release { " (release)" } else { "" }
    );
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(repo_root()).args([
        "build",
        "--quiet",
        "-p",
        "p2p-node",
        "-p",
        "q2t-api",
        "-p",
        "thirdparty-api",
        "-p",
        "tm-enclave",
        "--bins",
    ]);
    if release {
        command.arg("--release");
    }
    let status = command.status().map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err("building the binaries failed".into());
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| repo_root().join("target"), PathBuf::from);
    Ok(target.join(if release { "release" } else { "debug" }))
}

/// Runs SQL on the local PostgreSQL as the test role (`.ci/postgres.sh` starts it).
fn psql(sql: &str) -> Result<(), String> {
    let url = std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.to_owned());
    let status = Command::new("psql")
        .arg(&url)
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .status()
        .map_err(|e| format!("psql: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("psql failed: {sql}"))
    }
}

const POSTGRES_URL: &str = "postgres://tm:tm-test-pw@127.0.0.1:55432/tm";

fn start_postgres() -> Result<(), String> {
    if Command::new("psql")
        .arg(std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.to_owned()))
        .args(["-q", "-c", "SELECT 1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        return Ok(());
    }
    println!("cluster: starting the local PostgreSQL (.ci/postgres.sh)");
    let status = Command::new("bash")
        .arg(repo_root().join(".ci/postgres.sh"))
        .status()
        .map_err(|e| format!(".ci/postgres.sh: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("could not start PostgreSQL with .ci/postgres.sh".into())
    }
}

/// Ports of one interface: where it is advertised, and each instance.
struct Iface {
    advertised: u16,
    instances: Vec<u16>,
}

impl Iface {
    fn new(replicas: usize) -> Result<Self, String> {
        let advertised = free_port()?;
        let instances = if replicas <= 1 {
            vec![advertised]
        } else {
            (0..replicas)
                .map(|_| free_port())
                .collect::<Result<_, _>>()?
        };
        Ok(Self {
            advertised,
            instances,
        })
    }
}

/// `cluster up`.
pub fn up(options: &UpOptions) -> Result<Cluster, String> {
    if options.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let dir = if options.dir.is_absolute() {
        options.dir.clone()
    } else {
        repo_root().join(&options.dir)
    };
    if let Ok(old) = Cluster::load(&dir) {
        if old.processes().any(|p| alive(p.pid)) {
            return Err(format!(
                "a cluster is running in {}: `cargo xtask cluster down --dir {}` first",
                dir.display(),
                dir.display()
            ));
        }
    }
    let db = if options.replicas > 1 {
        Db::Postgres
    } else {
        options.db
    };
    if options.replicas > 1 && options.db == Db::Sqlite {
        println!(
            "cluster: --replicas {} shares one database per node: using PostgreSQL",
            options.replicas
        );
    }
    let bin = build(options.release)?;
    let balancer_binary = if options.replicas > 1 {
        Some(lb::ensure_installed(options.lb)?)
    } else {
        None
    };
    if db == Db::Postgres {
        start_postgres()?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "cluster: a fresh {}-node network in {}",
        options.nodes,
        dir.display()
    );

    // Ports first: every node's config names the first node's P2P address as its peer.
    let mut plans = Vec::new();
    for _ in 0..options.nodes {
        plans.push([
            Iface::new(options.replicas)?, // p2p
            Iface::new(options.replicas)?, // q2t
            Iface::new(options.replicas)?, // thirdparty
            Iface::new(options.replicas)?, // enclave
        ]);
    }
    let p2p_url = |i: usize| format!("http://127.0.0.1:{}/", plans[i][0].advertised);

    let mut cluster = Cluster {
        dir: dir.clone(),
        db,
        replicas: options.replicas,
        balancer: balancer_binary.as_ref().map(|_| options.lb),
        balancer_process: None,
        nodes: Vec::new(),
    };
    let mut frontends = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let name = format!("node{}", i + 1);
        let node_dir = dir.join(&name);
        std::fs::create_dir_all(node_dir.join("keys")).map_err(|e| e.to_string())?;
        let key_base = node_dir.join("keys").join(&name);
        let pair = tm_core::keyfile::write_new_key_pair(
            &key_base,
            None,
            &tm_core::keyfile::ArgonOptions::default(),
        )
        .map_err(|e| e.to_string())?;
        let (public_key_path, private_key_path) = tm_core::keyfile::key_file_paths(&key_base);
        let jdbc = match db {
            Db::Sqlite => {
                json!({ "url": format!("jdbc:sqlite:{}", node_dir.join("tm.db").display()), "autoCreateTables": true })
            }
            Db::Postgres => {
                let database = format!("tm_cluster_{}_{}", std::process::id(), name);
                psql(&format!("CREATE DATABASE {database}"))?;
                json!({
                    "url": format!("jdbc:postgresql://127.0.0.1:55432/{database}"),
                    "username": "tm", "password": "tm-test-pw", "autoCreateTables": true
                })
            }
        };
        let peers: Vec<_> = if i == 0 {
            (options.nodes > 1)
                .then(|| json!({ "url": p2p_url(1) }))
                .into_iter()
                .collect()
        } else {
            vec![json!({ "url": p2p_url(0) })]
        };
        let socket = node_dir.join("tm.ipc");
        let config = json!({
            "jdbc": jdbc,
            "serverConfigs": [
                { "app": "P2P", "serverAddress": p2p_url(i), "communicationType": "REST",
                  "properties": { "partyInfoInterval": "2000" } },
                { "app": "Q2T", "serverAddress": format!("http://127.0.0.1:{}", plan[1].advertised), "communicationType": "REST" },
                { "app": "ThirdParty", "serverAddress": format!("http://127.0.0.1:{}", plan[2].advertised), "communicationType": "REST" },
                { "app": "ENCLAVE", "serverAddress": format!("http://127.0.0.1:{}", plan[3].advertised), "communicationType": "REST" }
            ],
            "peer": peers,
            "keys": { "passwords": [], "keyData": [{
                "privateKeyPath": private_key_path.display().to_string(),
                "publicKeyPath": public_key_path.display().to_string()
            }]},
            "alwaysSendTo": []
        });
        let config_path = node_dir.join("tessera.json");
        std::fs::write(
            &config_path,
            serde_json::to_string_pretty(&config).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;

        // (binary, config index, health path) per interface, enclave first.
        let interfaces = [
            ("enclave", 3usize, "/ping", &plan[3]),
            ("p2p-node", 0, "/upcheck", &plan[0]),
            ("q2t-api", 1, "/upcheck", &plan[1]),
            ("thirdparty-api", 2, "/upcheck", &plan[2]),
        ];
        let mut processes = Vec::new();
        for (binary, index, health, iface) in interfaces {
            for (r, port) in iface.instances.iter().enumerate() {
                let mut args = vec!["-configfile".to_owned(), config_path.display().to_string()];
                if options.replicas > 1 {
                    args.push("-o".into());
                    args.push(format!(
                        "serverConfigs[{index}].bindingAddress=http://127.0.0.1:{port}"
                    ));
                }
                processes.push(Process {
                    name: format!("{name}/{binary}#{}", r + 1),
                    pid: 0,
                    program: bin.join(binary),
                    args,
                    cwd: node_dir.clone(),
                    log: node_dir.join(format!("{binary}-{}.log", r + 1)),
                    health: format!("http://127.0.0.1:{port}{health}"),
                });
            }
            if options.replicas > 1 {
                frontends.push(Frontend {
                    name: format!("{name}_{}", binary.replace('-', "_")),
                    listen: format!("127.0.0.1:{}", iface.advertised),
                    backends: iface
                        .instances
                        .iter()
                        .map(|p| format!("127.0.0.1:{p}"))
                        .collect(),
                    check: health,
                });
            }
        }
        // GoQuorum's usual wiring: Q2T on a unix socket, one more q2t-api instance.
        processes.push(Process {
            name: format!("{name}/q2t-api#ipc"),
            pid: 0,
            program: bin.join("q2t-api"),
            args: vec![
                "-configfile".into(),
                config_path.display().to_string(),
                "-o".into(),
                format!("serverConfigs[1].serverAddress=unix:{}", socket.display()),
            ],
            cwd: node_dir.clone(),
            log: node_dir.join("q2t-api-ipc.log"),
            health: String::new(),
        });
        cluster.nodes.push(NodeInfo {
            name: name.clone(),
            q2t_url: format!("http://127.0.0.1:{}", plan[1].advertised),
            q2t_socket: socket,
            p2p_url: p2p_url(i),
            thirdparty_url: format!("http://127.0.0.1:{}", plan[2].advertised),
            enclave_url: format!("http://127.0.0.1:{}", plan[3].advertised),
            keys: vec![KeyFiles {
                public_key: pair.public.to_base64(),
                public_key_path,
                private_key_path,
            }],
            config: config_path,
            processes,
        });
    }

    // Start everything; save after each start so `down` finds what did start.
    let total: usize = cluster.nodes.iter().map(|n| n.processes.len()).sum();
    let mut started = 0;
    for n in 0..cluster.nodes.len() {
        for p in 0..cluster.nodes[n].processes.len() {
            spawn(&mut cluster.nodes[n].processes[p])?;
            cluster.save()?;
            let process = &cluster.nodes[n].processes[p];
            if !process.health.is_empty() {
                wait_healthy(process, Duration::from_secs(60))?;
            }
            started += 1;
            println!(
                "cluster: [{started}/{total}] {} up (pid {})",
                process.name, process.pid
            );
        }
    }
    if let Some(binary) = &balancer_binary {
        let template = std::fs::read_to_string(repo_root().join(match options.lb {
            Balancer::Nginx => "deploy/lb/nginx.conf.tmpl",
            Balancer::Haproxy => "deploy/lb/haproxy.cfg.tmpl",
        }))
        .map_err(|e| format!("deploy/lb template: {e}"))?;
        std::fs::create_dir_all(dir.join("nginx-tmp")).map_err(|e| e.to_string())?;
        let rendered = lb::render(&template, &dir, &frontends)?;
        let config = dir.join(match options.lb {
            Balancer::Nginx => "nginx.conf",
            Balancer::Haproxy => "haproxy.cfg",
        });
        std::fs::write(&config, rendered).map_err(|e| e.to_string())?;
        lb::check_config(options.lb, binary, &config, &dir)?;
        let command = lb::command(options.lb, binary, &config, &dir);
        let mut process = Process {
            name: format!("{:?}", options.lb).to_lowercase(),
            pid: 0,
            program: binary.clone(),
            args: command
                .get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            cwd: dir.clone(),
            log: dir.join("balancer.log"),
            health: format!("{}upcheck", cluster.nodes[0].p2p_url),
        };
        spawn(&mut process)?;
        cluster.balancer_process = Some(process);
        cluster.save()?;
        if let Some(process) = &cluster.balancer_process {
            wait_healthy(process, Duration::from_secs(30))?;
            println!(
                "cluster: {} balancing {} interfaces (pid {})",
                process.name,
                frontends.len(),
                process.pid
            );
        }
    }
    cluster.save()?;
    wait_for_discovery(&cluster, Duration::from_secs(60))?;
    Ok(cluster)
}

/// Waits until every node's party info lists every node's keys.
pub fn wait_for_discovery(cluster: &Cluster, limit: Duration) -> Result<(), String> {
    println!("cluster: waiting for discovery");
    let started = Instant::now();
    let all: Vec<&str> = cluster
        .nodes
        .iter()
        .flat_map(|n| n.keys.iter().map(|k| k.public_key.as_str()))
        .collect();
    loop {
        let missing: Vec<String> = cluster
            .nodes
            .iter()
            .filter(|node| {
                let known = known_keys(&node.p2p_url);
                !all.iter().all(|k| known.iter().any(|x| x == k))
            })
            .map(|n| n.name.clone())
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if started.elapsed() > limit {
            return Err(format!(
                "discovery incomplete after {limit:?} on {}",
                missing.join(", ")
            ));
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The keys a node's `GET /partyinfo` lists.
pub fn known_keys(p2p_url: &str) -> Vec<String> {
    reqwest::blocking::get(format!("{p2p_url}partyinfo"))
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .map(|info| info.keys.into_iter().map(|k| k.key.to_base64()).collect())
        .unwrap_or_default()
}

/// Prints what `up` made and what to do next.
pub fn print_summary(cluster: &Cluster) {
    println!();
    for node in &cluster.nodes {
        println!("{}  key {}", node.name, node.keys[0].public_key);
        println!(
            "  q2t        {}   socket unix:{}",
            node.q2t_url,
            node.q2t_socket.display()
        );
        println!("  p2p        {}", node.p2p_url);
        println!("  thirdparty {}", node.thirdparty_url);
        println!("  enclave    {}", node.enclave_url);
    }
    if let Some(lb) = cluster.balancer {
        println!(
            "\n{} replicas of every interface behind {lb:?} (PostgreSQL)",
            cluster.replicas
        );
    }
    let dir = cluster.dir.display();
    println!("\nwrote {dir}/cluster.json; logs are in {dir}/node*/");
    println!("next: `cargo xtask cluster send --dir {dir}` sends a demo transaction;");
    println!("      `cargo xtask cluster status --dir {dir}`; `cargo xtask cluster down --dir {dir}` stops it.");
}

/// `cluster down`.
pub fn down(dir: &Path) -> Result<(), String> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        repo_root().join(dir)
    };
    let cluster = Cluster::load(&dir)?;
    let mut stopped = 0;
    for process in cluster.processes() {
        if process.pid != 0 && alive(process.pid) {
            signal(process.pid, "TERM");
            stopped += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster.processes().any(|p| p.pid != 0 && alive(p.pid)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for process in cluster.processes() {
        if process.pid != 0 && alive(process.pid) {
            signal(process.pid, "KILL");
        }
    }
    if cluster.db == Db::Postgres {
        for node in &cluster.nodes {
            if let Some(database) = std::fs::read_to_string(&node.config)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .and_then(|c| c["jdbc"]["url"].as_str().map(str::to_owned))
                .and_then(|u| u.rsplit('/').next().map(str::to_owned))
            {
                let _ = psql(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
            }
        }
    }
    println!(
        "cluster: stopped {stopped} processes in {}; files are kept",
        dir.display()
    );
    println!("next: `cargo xtask cluster up` starts a fresh one");
    Ok(())
}

/// `cluster status`.
pub fn status(dir: &Path) -> Result<bool, String> {
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        repo_root().join(dir)
    };
    let cluster = Cluster::load(&dir)?;
    let mut all_up = true;
    for process in cluster.processes() {
        let state = if !alive(process.pid) {
            "stopped"
        } else if process.health.is_empty() || healthy(&process.health) {
            "up"
        } else {
            "not answering"
        };
        all_up &= state == "up";
        println!("{:<28} pid {:<8} {state}", process.name, process.pid);
    }
    for node in &cluster.nodes {
        println!(
            "{} knows {} keys",
            node.name,
            known_keys(&node.p2p_url).len()
        );
    }
    Ok(all_up)
}

/// `cluster send`: a demo transaction from the first node to the second, and each node's view.
pub fn send(dir: &Path) -> Result<(), String> {
    use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
    let dir = if dir.is_absolute() {
        dir.to_path_buf()
    } else {
        repo_root().join(dir)
    };
    let cluster = Cluster::load(&dir)?;
    let [from, to, ..] = cluster.nodes.as_slice() else {
        return Err("send needs at least two nodes".into());
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let to_key =
        tm_core::PublicKey::from_base64(&to.keys[0].public_key).map_err(|e| e.to_string())?;
    let message = b"hello from the tm cluster".to_vec();
    let client = Q2tClient::new(&format!("unix:{}", from.q2t_socket.display()))
        .map_err(|e| e.to_string())?;
    let sent = runtime
        .block_on(client.send(&SendRequest::new(message, &[to_key]), MediaType::V2_1))
        .map_err(|e| format!("send from {}: {e}", from.name))?;
    println!(
        "sent from {} (over its unix socket) to {}: {}",
        from.name, to.name, sent.response.key
    );
    let hash = tm_core::TxHash::from_base64(&sent.response.key).map_err(|e| e.to_string())?;
    let mut wrong = Vec::new();
    for (i, node) in cluster.nodes.iter().enumerate() {
        let party = i < 2;
        let client = Q2tClient::new(&node.q2t_url).map_err(|e| e.to_string())?;
        match runtime.block_on(client.receive(&hash, None, false, MediaType::V2_1)) {
            Ok(received) => {
                println!(
                    "{:<6} sees {:?}",
                    node.name,
                    String::from_utf8_lossy(&received.payload)
                );
                if !party || received.payload != b"hello from the tm cluster" {
                    wrong.push(node.name.clone());
                }
            }
            Err(tm_client::ClientError::Status { status: 404, .. }) => {
                println!("{:<6} is not a party (404)", node.name);
                if party {
                    wrong.push(node.name.clone());
                }
            }
            Err(e) => {
                println!("{:<6} error: {e}", node.name);
                wrong.push(node.name.clone());
            }
        }
    }
    if !wrong.is_empty() {
        return Err(format!("unexpected view on {}", wrong.join(", ")));
    }
    Ok(())
}
