//! `cargo xtask cluster`: a local network of our nodes, each interface its own process.
//!
//! `up` generates keys and Tessera configs in a work folder, starts every node's enclave,
//! p2p-node, q2t-api (TCP and a unix socket) and thirdparty-api, waits until every interface
//! answers and every node knows every key, and writes `cluster.json`. With `--replicas N`
//! each interface runs N instances sharing PostgreSQL behind nginx or HAProxy (`deploy/lb/`),
//! as Tessera's HA guide describes: instances bind their own addresses, the node advertises
//! the balancer's.

mod node;
mod process;
mod tls;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_core::{PublicKey, TxHash};
use tm_dev_support::block_on;

pub use node::{read_config, write_keys};
pub use process::{alive, signal, spawn, wait_healthy, Process};

use crate::lb::{self, Balancer, Frontend};
use crate::patroni::{self, Patroni};
use node::NodePorts;

/// The database the nodes use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Db {
    /// An SQLite file per node (the embedded default).
    Sqlite,
    /// A database per node on the local PostgreSQL (`.ci/postgres.sh`).
    Postgres,
}

/// What `cluster up --db` accepts: a [`Db`], or PostgreSQL replicated under Patroni.
///
/// `patroni` is PostgreSQL to the nodes (`Db::Postgres` in `cluster.json`, with its
/// `patroni` entry) and sets [`UpOptions::patroni`]; it stays out of [`Db`], which the
/// benchmarks match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DbArg {
    /// An SQLite file per node (the embedded default).
    Sqlite,
    /// A database per node on the local PostgreSQL (`.ci/postgres.sh`).
    Postgres,
    /// A database per node on a replicated PostgreSQL of the cluster's own: etcd and three
    /// PostgreSQL 15 servers under Patroni on loopback, synchronous replication, each node's
    /// `jdbc.url` naming every server with `targetServerType=primary` (`crate::patroni`).
    Patroni,
}

/// Options of `cluster up` (its command line is [`UpArgs`]).
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// How many nodes.
    pub nodes: usize,
    /// The work folder (keys, configs, databases, logs, cluster.json).
    pub dir: PathBuf,
    /// The database.
    pub db: Db,
    /// Instances of every interface per node; more than one needs PostgreSQL and a balancer.
    pub replicas: usize,
    /// The balancer in front of replicas.
    pub lb: Balancer,
    /// Use release builds of the binaries.
    pub release: bool,
    /// Mutual TLS in CA mode on every server and client (a CA generated in `<dir>/tls`); the
    /// Q2T unix socket stays plain.
    pub tls: bool,
    /// The config's feature switches, on every node (and whether the PostgreSQL is replicated
    /// under Patroni, [`Features::patroni`]).
    pub features: Features,
}

/// The command line of `cluster up`: [`UpOptions`], with `--db` taking `patroni` too.
#[derive(Clone, Debug, clap::Args)]
pub struct UpArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The work folder (keys, configs, databases, logs, cluster.json).
    #[arg(long, default_value = "target/cluster")]
    dir: PathBuf,
    /// The database: sqlite, postgres (the local server of `.ci/postgres.sh`) or patroni (etcd
    /// and three PostgreSQL servers under Patroni of the cluster's own, synchronous
    /// replication).
    #[arg(long, value_enum, default_value_t = DbArg::Sqlite)]
    db: DbArg,
    /// Instances of every interface per node; more than one needs PostgreSQL and a balancer.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// The balancer in front of replicas.
    #[arg(long, value_enum, default_value_t = Balancer::Nginx)]
    lb: Balancer,
    /// Use release builds of the binaries.
    #[arg(long)]
    release: bool,
    /// Mutual TLS in CA mode on every server and client (a CA generated in `<dir>/tls`); the
    /// Q2T unix socket stays plain.
    #[arg(long)]
    tls: bool,
    /// The config's feature switches, on every node.
    #[command(flatten)]
    features: Features,
}

impl From<UpArgs> for UpOptions {
    fn from(args: UpArgs) -> Self {
        let (db, patroni) = match args.db {
            DbArg::Sqlite => (Db::Sqlite, false),
            DbArg::Postgres => (Db::Postgres, false),
            DbArg::Patroni => (Db::Postgres, true),
        };
        Self {
            nodes: args.nodes,
            dir: args.dir,
            db,
            replicas: args.replicas,
            lb: args.lb,
            release: args.release,
            tls: args.tls,
            features: Features {
                patroni,
                ..args.features
            },
        }
    }
}

impl clap::FromArgMatches for UpOptions {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        UpArgs::from_arg_matches(matches).map(Self::from)
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl clap::Args for UpOptions {
    fn augment_args(command: clap::Command) -> clap::Command {
        UpArgs::augment_args(command)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        UpArgs::augment_args_for_update(command)
    }
}

/// `features` of every node's config (off by default, as in Tessera).
#[derive(Clone, Copy, Debug, Default, clap::Args)]
pub struct Features {
    /// `enablePrivacyEnhancements`: GoQuorum's enhanced privacy, party protection (privacy
    /// flag 1), mandatory recipients (2) and private state validation (3); without it such
    /// sends and pushes get 403.
    #[arg(long)]
    pub privacy_enhancements: bool,
    /// `enableMultiplePrivateStates`: GoQuorum's multiple private states (multi-tenancy);
    /// without it `GET /groups/resident` answers 503.
    #[arg(long)]
    pub multiple_private_states: bool,
    /// `enableRemoteKeyValidation`: a peer's advertised keys are routed only after each has
    /// decrypted a challenge sent to it.
    #[arg(long)]
    pub remote_key_validation: bool,
    /// Not a config switch: the nodes' PostgreSQL is replicated under Patroni
    /// (`cluster up --db patroni`, with `db` PostgreSQL); the other commands leave it off.
    #[arg(skip)]
    pub patroni: bool,
}

impl Features {
    /// The config's `features`.
    pub fn toggles(self) -> tm_config::FeatureToggles {
        tm_config::FeatureToggles {
            enable_remote_key_validation: self.remote_key_validation,
            enable_privacy_enhancements: self.privacy_enhancements,
            enable_multiple_private_states: self.multiple_private_states,
        }
    }
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
    /// With `--tls`: the folder of the CA and the xtask's client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<PathBuf>,
    /// With `--db patroni`: the replicated database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patroni: Option<Patroni>,
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

    /// Every process: the nodes', the balancer, then the database's (`--db patroni`).
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.service_processes()
            .chain(self.patroni.iter().flat_map(|p| p.processes()))
    }

    /// The nodes' processes and the balancer's.
    fn service_processes(&self) -> impl Iterator<Item = &Process> {
        self.nodes
            .iter()
            .flat_map(|n| n.processes.iter())
            .chain(self.balancer_process.iter())
    }
}

/// `cluster up`: a fresh network in the work folder, every process up, discovery complete.
pub fn up(options: &UpOptions) -> Result<Cluster, String> {
    let mut setup = prepare(options)?;
    // Ports first: every node's config names another node's P2P address as its peer.
    let ports = node::reserve_ports(options.nodes, options.replicas)?;
    let mut cluster = setup.empty_cluster();
    if options.features.patroni {
        start_patroni(&mut setup, &mut cluster)?;
    }
    write_nodes(&setup, &ports, &mut cluster)?;
    start_services(&mut cluster)?;
    if let Some(balancer) = &setup.balancer {
        start_balancer(&mut cluster, balancer, &node::frontends(&ports))?;
    }
    cluster.save()?;
    wait_for_discovery(&cluster, Duration::from_secs(60))?;
    Ok(cluster)
}

/// Starts the replicated database (`--db patroni`) and records it in `cluster.json` as its
/// processes start.
fn start_patroni(setup: &mut Setup, cluster: &mut Cluster) -> Result<(), String> {
    println!(
        "cluster: a replicated PostgreSQL: etcd and {} servers under Patroni",
        patroni::MEMBERS
    );
    let started = patroni::start(&setup.dir, &mut |p| {
        cluster.patroni = Some(p.clone());
        if let Err(e) = cluster.save() {
            eprintln!("cluster: {e}");
        }
    })?;
    cluster.patroni = Some(started.clone());
    cluster.save()?;
    setup.patroni = Some(started);
    Ok(())
}

/// What every node of a fresh cluster shares.
struct Setup {
    dir: PathBuf,
    db: Db,
    replicas: usize,
    /// The folder of the service binaries.
    bin: PathBuf,
    /// With replicas: the balancer and its executable.
    balancer: Option<(Balancer, PathBuf)>,
    /// With `--tls`: the CA's folder.
    tls: Option<PathBuf>,
    /// The feature switches of every node.
    features: Features,
    /// With `--db patroni`, once started: the replicated database.
    patroni: Option<Patroni>,
}

impl Setup {
    fn empty_cluster(&self) -> Cluster {
        Cluster {
            dir: self.dir.clone(),
            db: self.db,
            replicas: self.replicas,
            balancer: self.balancer.as_ref().map(|(lb, _)| *lb),
            balancer_process: None,
            nodes: Vec::new(),
            tls: self.tls.clone(),
            patroni: None,
        }
    }
}

/// Checks the options, builds the binaries, makes sure the balancer and PostgreSQL are there
/// when needed, and empties the work folder.
fn prepare(options: &UpOptions) -> Result<Setup, String> {
    if options.nodes == 0 {
        return Err("--nodes must be at least 1".into());
    }
    let dir = crate::absolute(&options.dir);
    refuse_if_running(&dir)?;
    let db = choose_db(options);
    println!(
        "cluster: building the binaries{}",
        if options.release { " (release)" } else { "" }
    );
    let bin = crate::build_services(options.release)?;
    let balancer = if options.replicas > 1 {
        Some((options.lb, lb::ensure_installed(options.lb, options.tls)?))
    } else {
        None
    };
    match db {
        Db::Postgres if options.features.patroni => patroni::ensure_installed()?,
        Db::Postgres => crate::postgres::ensure_running()?,
        Db::Sqlite => {}
    }
    fresh_dir(&dir)?;
    let tls = if options.tls {
        let tls = tls::create(&dir)?;
        println!("cluster: mutual TLS, CA in {}", tls.display());
        Some(tls)
    } else {
        None
    };
    println!(
        "cluster: a fresh {}-node network in {}",
        options.nodes,
        dir.display()
    );
    let on: Vec<&str> = [
        (
            options.features.privacy_enhancements,
            "enablePrivacyEnhancements",
        ),
        (
            options.features.multiple_private_states,
            "enableMultiplePrivateStates",
        ),
        (
            options.features.remote_key_validation,
            "enableRemoteKeyValidation",
        ),
    ]
    .into_iter()
    .filter_map(|(set, name)| set.then_some(name))
    .collect();
    if on.is_empty() {
        println!(
            "cluster: features off (Tessera's defaults); `cluster up --help` lists the switches"
        );
    } else {
        println!("cluster: features on: {}", on.join(", "));
    }
    Ok(Setup {
        dir,
        db,
        replicas: options.replicas,
        bin,
        balancer,
        tls,
        features: options.features,
        patroni: None,
    })
}

fn refuse_if_running(dir: &Path) -> Result<(), String> {
    match Cluster::load(dir) {
        Ok(old) if old.processes().any(|p| alive(p.pid)) => Err(format!(
            "a cluster is running in {}: `cargo xtask cluster down --dir {}` first",
            dir.display(),
            dir.display()
        )),
        _ => Ok(()),
    }
}

/// Replicas share one database per node: PostgreSQL (replicated or not).
fn choose_db(options: &UpOptions) -> Db {
    if options.features.patroni {
        return Db::Postgres;
    }
    if options.replicas <= 1 || options.db != Db::Sqlite {
        return options.db;
    }
    println!(
        "cluster: --replicas {} shares one database per node: using PostgreSQL",
        options.replicas
    );
    Db::Postgres
}

fn fresh_dir(dir: &Path) -> Result<(), String> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))
}

/// Writes every node's keys, database and config, and lists its processes.
fn write_nodes(setup: &Setup, ports: &[NodePorts], cluster: &mut Cluster) -> Result<(), String> {
    for i in 0..ports.len() {
        cluster.nodes.push(node::write_node(setup, ports, i)?);
    }
    Ok(())
}

/// Starts every node's processes in order, each healthy before the next; saves after each
/// start so `down` finds what did start.
fn start_services(cluster: &mut Cluster) -> Result<(), String> {
    let total: usize = cluster.nodes.iter().map(|n| n.processes.len()).sum();
    let mut started = 0;
    for n in 0..cluster.nodes.len() {
        for p in 0..cluster.nodes[n].processes.len() {
            spawn(&mut cluster.nodes[n].processes[p])?;
            cluster.save()?;
            let process = &cluster.nodes[n].processes[p];
            if !process.health.is_empty() {
                wait_healthy(process, Duration::from_secs(60), cluster.tls.as_deref())?;
            }
            started += 1;
            println!(
                "cluster: [{started}/{total}] {} up (pid {})",
                process.name, process.pid
            );
        }
    }
    Ok(())
}

/// Renders the balancer's config from `deploy/lb/`, starts it and waits until the first
/// node's P2P answers through it.
fn start_balancer(
    cluster: &mut Cluster,
    (balancer, binary): &(Balancer, PathBuf),
    frontends: &[Frontend],
) -> Result<(), String> {
    let dir = cluster.dir.clone();
    let config = write_balancer_config(*balancer, binary, &dir, frontends, cluster.tls.is_some())?;
    let command = lb::command(*balancer, binary, &config, &dir);
    let mut process = Process {
        name: format!("{balancer:?}").to_lowercase(),
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
    cluster.balancer_process = Some(process.clone());
    cluster.save()?;
    wait_healthy(&process, Duration::from_secs(30), cluster.tls.as_deref())?;
    println!(
        "cluster: {} balancing {} interfaces (pid {})",
        process.name,
        frontends.len(),
        process.pid
    );
    Ok(())
}

/// `DIR/nginx.conf` or `DIR/haproxy.cfg`, checked by the balancer itself.
fn write_balancer_config(
    balancer: Balancer,
    binary: &Path,
    dir: &Path,
    frontends: &[Frontend],
    tls: bool,
) -> Result<PathBuf, String> {
    // With TLS the balancers pass connections through (TCP), so mutual TLS stays end to end.
    let (template, file) = match (balancer, tls) {
        (Balancer::Nginx, false) => ("deploy/lb/nginx.conf.tmpl", "nginx.conf"),
        (Balancer::Haproxy, false) => ("deploy/lb/haproxy.cfg.tmpl", "haproxy.cfg"),
        (Balancer::Nginx, true) => ("deploy/lb/nginx-tls.conf.tmpl", "nginx.conf"),
        (Balancer::Haproxy, true) => ("deploy/lb/haproxy-tls.cfg.tmpl", "haproxy.cfg"),
    };
    let template = std::fs::read_to_string(crate::root().join(template))
        .map_err(|e| format!("deploy/lb template: {e}"))?;
    std::fs::create_dir_all(dir.join("nginx-tmp")).map_err(|e| e.to_string())?;
    let rendered = lb::render(&template, dir, frontends)?;
    let config = dir.join(file);
    std::fs::write(&config, rendered).map_err(|e| e.to_string())?;
    lb::check_config(balancer, binary, &config, dir)?;
    Ok(config)
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
                let known = known_keys(&node.p2p_url, cluster.tls.as_deref());
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

/// The keys a node's `GET /partyinfo` lists (over TLS with the xtask's certificate from
/// `tls`).
pub fn known_keys(p2p_url: &str, tls: Option<&Path>) -> Vec<String> {
    http_client(tls)
        .get(format!("{p2p_url}partyinfo"))
        .send()
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .map(|info| info.keys.into_iter().map(|k| k.key.to_base64()).collect())
        .unwrap_or_default()
}

/// A blocking client for health and party-info calls: with the xtask's certificate when the
/// cluster runs TLS (`tls` is its CA's folder).
pub fn http_client(tls: Option<&Path>) -> reqwest::blocking::Client {
    match tls {
        Some(dir) => tls::client(dir),
        None => reqwest::blocking::Client::new(),
    }
}

/// A Q2T client of `url` (a node's `q2t_url`): over TLS with the xtask's certificate when the
/// cluster runs TLS.
pub fn q2t_client(cluster: &Cluster, url: &str) -> Result<Q2tClient, String> {
    match &cluster.tls {
        Some(dir) => tls::q2t_client(url, dir),
        None => Q2tClient::new(url).map_err(|e| e.to_string()),
    }
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
    if let Some(patroni) = &cluster.patroni {
        println!("\nPostgreSQL under Patroni (scope {}):", patroni.scope);
        let leader = patroni.leader();
        let sync = patroni.sync_standbys();
        for (i, member) in patroni.members.iter().enumerate() {
            let role = if leader == Some(i) {
                "primary"
            } else if sync.contains(&member.name) {
                "synchronous standby"
            } else {
                "replica"
            };
            println!(
                "  {}  127.0.0.1:{}  {role}  (Patroni API 127.0.0.1:{}, log {})",
                member.name,
                member.pg_port,
                member.api_port,
                member.process.log.display()
            );
        }
        println!(
            "  each node's jdbc.url names all of them with targetServerType=primary; \
             `cargo xtask ha --db-failover` kills the primary under load"
        );
    }
    let dir = cluster.dir.display();
    println!("\nwrote {dir}/cluster.json; logs are in {dir}/node*/");
    println!("next: `cargo xtask cluster send --dir {dir}` sends a demo transaction;");
    println!("      `cargo xtask cluster status --dir {dir}`; `cargo xtask cluster down --dir {dir}` stops it.");
}

/// `cluster down`.
pub fn down(dir: &Path) -> Result<(), String> {
    let dir = crate::absolute(dir);
    let cluster = Cluster::load(&dir)?;
    let mut stopped = 0;
    // The nodes first, then their database (`--db patroni`): nodes stopping still use it.
    for process in cluster.service_processes() {
        if process.pid != 0 && alive(process.pid) {
            signal(process.pid, "TERM");
            stopped += 1;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while cluster
        .service_processes()
        .any(|p| p.pid != 0 && alive(p.pid))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    for process in cluster.service_processes() {
        if process.pid != 0 && alive(process.pid) {
            signal(process.pid, "KILL");
        }
    }
    if let Some(patroni) = &cluster.patroni {
        stopped += patroni.stop();
    }
    if cluster.db == Db::Postgres && cluster.patroni.is_none() {
        drop_databases(&cluster);
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
    let dir = crate::absolute(dir);
    let cluster = Cluster::load(&dir)?;
    let mut all_up = true;
    for process in cluster.processes() {
        let state = if !alive(process.pid) {
            "stopped"
        } else if process.health.is_empty() || tls::get_ok(&process.health, cluster.tls.as_deref())
        {
            "up"
        } else {
            "not answering"
        };
        all_up &= state == "up";
        println!("{:<28} pid {:<8} {state}", process.name, process.pid);
    }
    for node in &cluster.nodes {
        match party_info(&node.p2p_url, cluster.tls.as_deref()) {
            Some(info) => print_party_info(&node.name, &info),
            None => println!("{} does not answer GET /partyinfo", node.name),
        }
    }
    Ok(all_up)
}

/// `GET /partyinfo` of a node, if it answers with JSON.
pub fn party_info(p2p_url: &str, tls: Option<&Path>) -> Option<tm_client::p2p::PartyInfoJson> {
    http_client(tls)
        .get(format!("{p2p_url}partyinfo"))
        .send()
        .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
        .ok()
}

/// A node's view of the network: how many keys it knows, each peer with its state (and, while
/// unreachable, since when and why), and the candidates it has not reached yet.
fn print_party_info(name: &str, info: &tm_client::p2p::PartyInfoJson) {
    println!(
        "{name} knows {} keys, {} peers, {} candidates",
        info.keys.len(),
        info.peers.len(),
        info.candidates.len()
    );
    for peer in &info.peers {
        let state = peer.state.as_deref().unwrap_or("unknown");
        let contact = peer.last_contact.as_deref().unwrap_or("never");
        print!("  peer {:<32} {state:<11} last contact {contact}", peer.url);
        if let Some(since) = &peer.unreachable_since {
            print!(", unreachable since {since}");
        }
        if let Some(error) = &peer.last_error {
            print!(": {error}");
        }
        println!();
    }
    for candidate in &info.candidates {
        println!("  candidate {}", candidate.url);
    }
}

/// `cluster send`: a demo transaction from the first node to the second, and each node's view.
pub fn send(dir: &Path) -> Result<(), String> {
    let cluster = Cluster::load(&crate::absolute(dir))?;
    let [from, to, ..] = cluster.nodes.as_slice() else {
        return Err("send needs at least two nodes".into());
    };
    let hash = send_demo(from, to)?;
    let wrong: Vec<String> = cluster
        .nodes
        .iter()
        .enumerate()
        .filter(|(i, node)| !shows_expected_view(node, &hash, *i < 2, cluster.tls.is_some()))
        .map(|(_, node)| node.name.clone())
        .collect();
    if !wrong.is_empty() {
        return Err(format!("unexpected view on {}", wrong.join(", ")));
    }
    Ok(())
}

const DEMO_MESSAGE: &[u8] = b"hello from the tm cluster";

/// Sends the demo message from `from` (over its unix socket, as GoQuorum does) to `to`.
fn send_demo(from: &NodeInfo, to: &NodeInfo) -> Result<TxHash, String> {
    let to_key = PublicKey::from_base64(&to.keys[0].public_key).map_err(|e| e.to_string())?;
    let client = Q2tClient::new(&format!("unix:{}", from.q2t_socket.display()))
        .map_err(|e| e.to_string())?;
    let request = SendRequest::new(DEMO_MESSAGE.to_vec(), &[to_key]);
    let sent = block_on(client.send(&request, MediaType::V2_1))
        .map_err(|e| format!("send from {}: {e}", from.name))?;
    println!(
        "sent from {} (over its unix socket) to {}: {}",
        from.name, to.name, sent.response.key
    );
    TxHash::from_base64(&sent.response.key).map_err(|e| e.to_string())
}

/// Prints what `node` serves for `hash`; whether that is the demo message for a `party` and
/// a 404 for anyone else. With TLS it asks over the node's (plain) unix socket.
fn shows_expected_view(node: &NodeInfo, hash: &TxHash, party: bool, tls: bool) -> bool {
    let address = if tls {
        format!("unix:{}", node.q2t_socket.display())
    } else {
        node.q2t_url.clone()
    };
    let client = match Q2tClient::new(&address) {
        Ok(client) => client,
        Err(e) => {
            println!("{:<6} error: {e}", node.name);
            return false;
        }
    };
    match block_on(client.receive(hash, None, false, MediaType::V2_1)) {
        Ok(received) => {
            println!(
                "{:<6} sees {:?}",
                node.name,
                String::from_utf8_lossy(&received.payload)
            );
            party && received.payload == DEMO_MESSAGE
        }
        Err(tm_client::ClientError::Status { status: 404, .. }) => {
            println!("{:<6} is not a party (404)", node.name);
            !party
        }
        Err(e) => {
            println!("{:<6} error: {e}", node.name);
            false
        }
    }
}

/// Drops each node's PostgreSQL database, named by the last part of its `jdbc.url`.
fn drop_databases(cluster: &Cluster) {
    for node in &cluster.nodes {
        if let Some(database) = node::read_config(&node.config)
            .ok()
            .and_then(|c| c.jdbc?.url)
            .and_then(|u| u.rsplit('/').next().map(str::to_owned))
        {
            let _ = crate::postgres::drop_database(&database);
        }
    }
}
