//! A replicated PostgreSQL on loopback for `cluster up --db patroni` and `ha --db-failover`:
//! one etcd and [`MEMBERS`] PostgreSQL 15 servers under Patroni, in synchronous mode, so a
//! commit is acknowledged only once it is on two servers (the primary and its synchronous
//! standby), and only that standby may be promoted when the primary dies.
//!
//! Everything lives under `<cluster dir>/patroni/`: etcd's data, each member's Patroni config,
//! data directory and log. PostgreSQL refuses to run as root, so when the xtask runs as root
//! (CI) Patroni runs as the `postgres` system user (`setpriv`, which execs: the pid we keep is
//! Patroni's). Patroni starts PostgreSQL in a session of its own, so stopping or killing a
//! member means its Patroni and its postmaster (found in `postmaster.pid`).
//!
//! The packages come from `scripts/install-patroni.sh` (Debian's `patroni`, `etcd-server`,
//! `etcd-client`, `postgresql-15`); Patroni talks to etcd 3.4's v3 API (`etcd3:`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cluster::{alive, signal, spawn, wait_healthy, Process};

/// PostgreSQL servers under Patroni: a primary, its synchronous standby, and one more replica
/// that becomes the new primary's synchronous standby after a failover (so commits are on two
/// servers then too).
pub const MEMBERS: usize = 3;

/// Where Debian's PostgreSQL 15 lives.
const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The leader key's time to live: how long after its Patroni dies a primary is replaced.
/// `loop_wait + 2 * retry_timeout` must stay within it (Patroni's rule).
const TTL_SECONDS: u64 = 10;
const LOOP_WAIT_SECONDS: u64 = 1;
const RETRY_TIMEOUT_SECONDS: u64 = 4;

// Patroni's rule, checked when compiling: a leader that cannot reach etcd demotes itself before
// its key expires, so two primaries never both accept writes.
const _: () = assert!(LOOP_WAIT_SECONDS + 2 * RETRY_TIMEOUT_SECONDS <= TTL_SECONDS);

/// The role the nodes log in as.
const APP_USER: &str = "tm";

/// One PostgreSQL server and its Patroni.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Member {
    /// `pg1`, `pg2`, ...
    pub name: String,
    /// PostgreSQL's port on 127.0.0.1.
    pub pg_port: u16,
    /// Patroni's REST API port on 127.0.0.1.
    pub api_port: u16,
    /// The data directory.
    pub data_dir: PathBuf,
    /// Its Patroni process.
    pub process: Process,
}

impl Member {
    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.api_port)
    }

    /// The postmaster's pid, from `postmaster.pid`, if it is running.
    fn postmaster(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid: u32 = text.lines().next()?.trim().parse().ok()?;
        alive(pid).then_some(pid)
    }
}

/// The replicated database of a cluster (`cluster.json`'s `patroni`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Patroni {
    /// `<cluster dir>/patroni`.
    pub dir: PathBuf,
    /// Patroni's cluster name (its `scope`).
    pub scope: String,
    /// etcd.
    pub etcd: Process,
    /// The PostgreSQL servers.
    pub members: Vec<Member>,
    /// The role the nodes use.
    pub user: String,
    /// Its password (also in the node configs; never printed).
    pub password: String,
    /// The `postgres` superuser's password (never printed).
    pub superuser_password: String,
}

/// Patroni's view of one member (`GET /cluster`).
#[derive(Debug, Deserialize)]
struct ClusterMember {
    name: String,
    role: String,
    state: String,
}

#[derive(Debug, Deserialize)]
struct ClusterView {
    members: Vec<ClusterMember>,
}

impl Patroni {
    /// Every process: members first, etcd last (the order they are stopped in).
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.members
            .iter()
            .map(|m| &m.process)
            .chain(std::iter::once(&self.etcd))
    }

    /// The `jdbc.url` of database `name`: every member, and only the primary will do
    /// (pgJDBC's `targetServerType=primary`, libpq's `target_session_attrs=read-write`).
    pub fn jdbc_url(&self, name: &str) -> String {
        let hosts: Vec<String> = self
            .members
            .iter()
            .map(|m| format!("127.0.0.1:{}", m.pg_port))
            .collect();
        format!(
            "jdbc:postgresql://{}/{name}?targetServerType=primary",
            hosts.join(",")
        )
    }

    /// Creates database `name`, owned by the nodes' role, on the primary.
    pub fn create_database(&self, name: &str) -> Result<(), String> {
        let leader = self
            .leader()
            .ok_or("no Patroni member is the primary: is the database cluster up?")?;
        self.psql(
            leader,
            &format!("CREATE DATABASE {name} OWNER {}", self.user),
        )
    }

    /// The member that is the primary now (`GET /primary` answers 200 on it only).
    pub fn leader(&self) -> Option<usize> {
        self.members
            .iter()
            .position(|m| tm_dev_support::http_ok(&m.api("primary")))
    }

    /// Waits until a member other than `old` is the primary; returns it.
    pub fn wait_new_leader(&self, old: usize, limit: Duration) -> Result<usize, String> {
        let started = Instant::now();
        loop {
            if let Some(leader) = self.leader().filter(|&l| l != old) {
                return Ok(leader);
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "no new primary within {} s after {} died; see the logs in {}",
                    limit.as_secs(),
                    self.members[old].name,
                    self.dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The member names Patroni lists as synchronous standbys now.
    pub fn sync_standbys(&self) -> Vec<String> {
        self.view()
            .map(|v| {
                v.members
                    .into_iter()
                    .filter(|m| m.role == "sync_standby" && m.state == "running")
                    .map(|m| m.name)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until the primary has a synchronous standby (what makes a commit land on two
    /// servers); returns its name.
    pub fn wait_sync_standby(&self, limit: Duration) -> Result<String, String> {
        let started = Instant::now();
        loop {
            if let Some(name) = self.sync_standbys().into_iter().next() {
                return Ok(name);
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "no synchronous standby within {} s; see the logs in {}",
                    limit.as_secs(),
                    self.dir.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until member `i` runs as a replica streaming from the primary (`GET /replica`
    /// answers 200 then).
    pub fn wait_replica(&self, i: usize, limit: Duration) -> Result<(), String> {
        let member = &self.members[i];
        let started = Instant::now();
        loop {
            if tm_dev_support::http_ok(&member.api("replica")) {
                return Ok(());
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "{} is not a running replica within {} s; see {}",
                    member.name,
                    limit.as_secs(),
                    member.process.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn view(&self) -> Option<ClusterView> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .ok()?;
        self.members.iter().find_map(|m| {
            client
                .get(m.api("cluster"))
                .send()
                .ok()
                .filter(|r| r.status().is_success())
                .and_then(|r| r.json::<ClusterView>().ok())
        })
    }

    /// Kills member `i` as a crashed machine would be: its Patroni and its PostgreSQL (the
    /// postmaster's whole process group, backends included) with SIGKILL, nothing shut down.
    pub fn kill(&self, i: usize) {
        let member = &self.members[i];
        let postmaster = member.postmaster();
        signal(member.process.pid, "KILL");
        if let Some(pid) = postmaster {
            // The postmaster leads its own process group (Patroni starts it detached).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
            signal(pid, "KILL");
        }
    }

    /// Starts member `i`'s Patroni again (after [`Patroni::kill`]); it recovers its data
    /// directory and rejoins the cluster as a replica (rewinding if it ran ahead).
    pub fn restart(&mut self, i: usize) -> Result<(), String> {
        let member = &mut self.members[i];
        let old_log = member.process.log.with_extension("log.1");
        let _ = std::fs::rename(&member.process.log, old_log);
        spawn(&mut member.process)
    }

    /// Stops every member (Patroni, then any postmaster left) and then etcd.
    pub fn stop(&self) -> usize {
        let mut stopped = 0;
        for member in &self.members {
            if member.process.pid != 0 && alive(member.process.pid) {
                signal(member.process.pid, "TERM");
                stopped += 1;
            }
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.members.iter().any(|m| alive(m.process.pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for member in &self.members {
            if alive(member.process.pid) {
                signal(member.process.pid, "KILL");
            }
            // Patroni stops PostgreSQL when it stops; one that was killed leaves it running.
            if let Some(pid) = member.postmaster() {
                signal(pid, "INT");
                let deadline = Instant::now() + Duration::from_secs(10);
                while alive(pid) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(100));
                }
                if alive(pid) {
                    signal(pid, "QUIT");
                }
                stopped += 1;
            }
        }
        if self.etcd.pid != 0 && alive(self.etcd.pid) {
            signal(self.etcd.pid, "TERM");
            stopped += 1;
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(self.etcd.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            if alive(self.etcd.pid) {
                signal(self.etcd.pid, "KILL");
            }
        }
        stopped
    }

    /// Runs one statement as the superuser on member `i` (password through the environment,
    /// never on a command line or in a message).
    fn psql(&self, i: usize, sql: &str) -> Result<(), String> {
        let member = &self.members[i];
        // The statement goes through stdin: a password in it stays off the command line.
        let mut child = Command::new("psql")
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres dbname=postgres connect_timeout=5",
                member.pg_port
            ))
            .env("PGPASSWORD", &self.superuser_password)
            .env("PGOPTIONS", "--client-min-messages=warning")
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run psql (is postgresql-client installed?): {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            writeln!(stdin, "{sql};").map_err(|e| format!("psql: {e}"))?;
        }
        let output = child.wait_with_output().map_err(|e| format!("psql: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr)
                .replace(&self.superuser_password, "***")
                .replace(&self.password, "***");
            Err(format!("psql on {}: {}", member.name, stderr.trim()))
        }
    }
}

/// Installs the packages when they are missing (`scripts/install-patroni.sh`, root only).
pub fn ensure_installed() -> Result<(), String> {
    let script = crate::root().join("scripts/install-patroni.sh");
    let status = Command::new("bash")
        .arg(&script)
        .status()
        .map_err(|e| format!("{}: {e}", script.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "Patroni, etcd or PostgreSQL 15 is missing and could not be installed: run `sudo \
             bash {}`",
            script.display()
        ))
    }
}

/// Starts etcd and [`MEMBERS`] Patroni-managed PostgreSQL servers under `<dir>/patroni`,
/// waits until the primary has a synchronous standby, and creates the nodes' role.
/// `save` is called after every process start, so `cluster down` finds what did start.
pub fn start(dir: &Path, save: &mut dyn FnMut(&Patroni)) -> Result<Patroni, String> {
    let root = dir.join("patroni");
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let scope = format!("tm-xtask-{}", std::process::id());
    let mut patroni = Patroni {
        dir: root.clone(),
        scope,
        etcd: etcd_process(&root)?,
        members: Vec::new(),
        user: APP_USER.to_owned(),
        password: secret("tm"),
        superuser_password: secret("su"),
    };
    let replication_password = secret("rep");
    for i in 0..MEMBERS {
        let name = format!("pg{}", i + 1);
        let member_dir = root.join(&name);
        std::fs::create_dir_all(&member_dir)
            .map_err(|e| format!("{}: {e}", member_dir.display()))?;
        let member = Member {
            pg_port: crate::free_port()?,
            api_port: crate::free_port()?,
            data_dir: member_dir.join("data"),
            process: Process {
                name: format!("patroni/{name}"),
                pid: 0,
                program: PathBuf::new(),
                args: Vec::new(),
                cwd: member_dir.clone(),
                log: member_dir.join("patroni.log"),
                health: String::new(),
            },
            name,
        };
        patroni.members.push(member);
    }
    let etcd_port = etcd_client_port(&patroni.etcd)?;
    for i in 0..MEMBERS {
        let config = write_config(&patroni, i, etcd_port, &replication_password)?;
        let member = &mut patroni.members[i];
        member.process.health = member.api("health");
        let (program, args) = as_postgres_user("patroni", &[config.display().to_string()]);
        member.process.program = program;
        member.process.args = args;
    }
    hand_to_postgres_user(&root)?;

    spawn(&mut patroni.etcd)?;
    save(&patroni);
    wait_healthy(&patroni.etcd, Duration::from_secs(30), None)?;
    println!("cluster: etcd up (pid {})", patroni.etcd.pid);
    // The first member bootstraps (initdb) and becomes the primary; the others then copy it
    // (pg_basebackup), together.
    spawn(&mut patroni.members[0].process)?;
    save(&patroni);
    wait_healthy(&patroni.members[0].process, Duration::from_secs(90), None)?;
    for member in &mut patroni.members[1..] {
        spawn(&mut member.process)?;
    }
    save(&patroni);
    for i in 0..MEMBERS {
        wait_healthy(&patroni.members[i].process, Duration::from_secs(90), None)?;
        println!(
            "cluster: [{}/{MEMBERS}] PostgreSQL {} under Patroni up on 127.0.0.1:{} (pid {})",
            i + 1,
            patroni.members[i].name,
            patroni.members[i].pg_port,
            patroni.members[i].process.pid
        );
    }
    let sync = patroni.wait_sync_standby(Duration::from_secs(60))?;
    let leader = patroni.leader().ok_or("no primary after bootstrap")?;
    println!(
        "cluster: {} is the primary, {sync} its synchronous standby (synchronous_mode: a commit \
         is acknowledged once on both)",
        patroni.members[leader].name
    );
    patroni.psql(
        leader,
        &format!(
            "CREATE ROLE {} LOGIN PASSWORD '{}'",
            patroni.user, patroni.password
        ),
    )?;
    Ok(patroni)
}

/// A password nobody guesses and nobody needs to type: from the clock and the process.
fn secret(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{tag}{:x}{:x}", nanos, std::process::id())
}

/// etcd on two free loopback ports, its data under `root/etcd`.
fn etcd_process(root: &Path) -> Result<Process, String> {
    let client = crate::free_port()?;
    let peer = crate::free_port()?;
    let data = root.join("etcd");
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let args: Vec<String> = [
        "--name",
        "etcd1",
        "--data-dir",
        &data.display().to_string(),
        "--listen-client-urls",
        &client_url,
        "--advertise-client-urls",
        &client_url,
        "--listen-peer-urls",
        &peer_url,
        "--initial-advertise-peer-urls",
        &peer_url,
        "--initial-cluster",
        &format!("etcd1={peer_url}"),
        "--initial-cluster-state",
        "new",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Ok(Process {
        name: "patroni/etcd".into(),
        pid: 0,
        program: PathBuf::from("etcd"),
        args,
        cwd: root.to_path_buf(),
        log: root.join("etcd.log"),
        health: format!("{client_url}/health"),
    })
}

fn etcd_client_port(etcd: &Process) -> Result<u16, String> {
    etcd.health
        .trim_end_matches("/health")
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no port in {}", etcd.health))
}

/// `program args` run as the `postgres` system user when we are root (PostgreSQL refuses
/// root); `setpriv` execs, so the pid is the program's.
fn as_postgres_user(program: &str, args: &[String]) -> (PathBuf, Vec<String>) {
    if !running_as_root() {
        return (PathBuf::from(program), args.to_vec());
    }
    let mut all = vec![
        "--reuid=postgres".to_owned(),
        "--regid=postgres".to_owned(),
        "--init-groups".to_owned(),
        "--reset-env".to_owned(),
        "--".to_owned(),
        program.to_owned(),
    ];
    all.extend(args.iter().cloned());
    (PathBuf::from("setpriv"), all)
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Gives the member folders to the `postgres` user (when we are root), which Patroni runs as.
fn hand_to_postgres_user(root: &Path) -> Result<(), String> {
    if !running_as_root() {
        return Ok(());
    }
    for entry in std::fs::read_dir(root).map_err(|e| e.to_string())? {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.file_name().is_some_and(|n| n != "etcd") && path.is_dir() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&path)
                .status()
                .map_err(|e| format!("chown: {e}"))?;
            if !status.success() {
                return Err(format!("chown postgres {} failed", path.display()));
            }
        }
    }
    Ok(())
}

/// Member `i`'s Patroni config, `<member dir>/patroni.yml` (mode 0600: it holds passwords).
fn write_config(
    patroni: &Patroni,
    i: usize,
    etcd_port: u16,
    replication_password: &str,
) -> Result<PathBuf, String> {
    let member = &patroni.members[i];
    let member_dir = member.process.cwd.clone();
    let yaml = format!(
        r#"# Written by `cargo xtask cluster up --db patroni`; see xtask/src/patroni.rs.
scope: {scope}
namespace: /tm-xtask/
name: {name}
log:
  level: INFO
restapi:
  listen: 127.0.0.1:{api}
  connect_address: 127.0.0.1:{api}
etcd3:
  hosts: 127.0.0.1:{etcd_port}
  protocol: http
bootstrap:
  dcs:
    ttl: {ttl}
    loop_wait: {loop_wait}
    retry_timeout: {retry_timeout}
    maximum_lag_on_failover: 1048576
    # A commit is acknowledged once a synchronous standby has it, and only that standby may
    # be promoted: an acknowledged send survives the primary's death.
    synchronous_mode: true
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_level: replica
        hot_standby: "on"
        wal_log_hints: "on"
        max_wal_senders: 10
        max_replication_slots: 10
        max_connections: 100
        shared_buffers: 32MB
        fsync: "on"
        synchronous_commit: "on"
  initdb:
  - encoding: UTF8
  - auth: scram-sha-256
postgresql:
  listen: 127.0.0.1:{pg_port}
  connect_address: 127.0.0.1:{pg_port}
  data_dir: {data_dir}
  bin_dir: {pg_bin}
  pgpass: {member_dir}/pgpass
  pg_hba:
  - local all all scram-sha-256
  - host replication replicator 127.0.0.1/32 scram-sha-256
  - host all all 127.0.0.1/32 scram-sha-256
  authentication:
    superuser:
      username: postgres
      password: "{superuser}"
    replication:
      username: replicator
      password: "{replication}"
    rewind:
      username: postgres
      password: "{superuser}"
  parameters:
    unix_socket_directories: "{member_dir}"
tags:
  nofailover: false
  noloadbalance: false
  clonefrom: false
  nosync: false
"#,
        scope = patroni.scope,
        name = member.name,
        api = member.api_port,
        ttl = TTL_SECONDS,
        loop_wait = LOOP_WAIT_SECONDS,
        retry_timeout = RETRY_TIMEOUT_SECONDS,
        pg_port = member.pg_port,
        data_dir = member.data_dir.display(),
        pg_bin = PG_BIN,
        member_dir = member_dir.display(),
        superuser = patroni.superuser_password,
        replication = replication_password,
    );
    let path = member_dir.join("patroni.yml");
    std::fs::write(&path, yaml).map_err(|e| format!("{}: {e}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jdbc_url_names_every_member_and_asks_for_the_primary() {
        let process = |name: &str| Process {
            name: name.into(),
            pid: 0,
            program: PathBuf::new(),
            args: Vec::new(),
            cwd: PathBuf::new(),
            log: PathBuf::new(),
            health: "http://127.0.0.1:2379/health".into(),
        };
        let patroni = Patroni {
            dir: PathBuf::from("/x"),
            scope: "s".into(),
            etcd: process("etcd"),
            members: [5001, 5002, 5003]
                .iter()
                .enumerate()
                .map(|(i, &port)| Member {
                    name: format!("pg{}", i + 1),
                    pg_port: port,
                    api_port: port + 100,
                    data_dir: PathBuf::new(),
                    process: process("p"),
                })
                .collect(),
            user: "tm".into(),
            password: "pw".into(),
            superuser_password: "su".into(),
        };
        let url = patroni.jdbc_url("tm_node1");
        assert_eq!(
            url,
            "jdbc:postgresql://127.0.0.1:5001,127.0.0.1:5002,127.0.0.1:5003/tm_node1?\
             targetServerType=primary"
        );
        let parsed = tm_store::DatabaseUrl::parse(&url, Some("tm"), Some("pw")).expect("parses");
        assert!(parsed.is_postgres());
        assert_eq!(etcd_client_port(&patroni.etcd), Ok(2379));
    }
}
