//! Test utilities shared by the services' integration tests: real binaries, real HTTP, real
//! databases, on loopback only.
//!
//! A [`TestNode`] is one Tessera-style node: generated keys, a config file in a temp dir, an
//! SQLite file (or a PostgreSQL URL), and whichever of our service processes a test starts
//! from it. Processes are killed when the node is dropped.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tm_core::keyfile::PrivateKeyFile;
use tm_core::KeyPair;

/// A free loopback port (bound, then released for the service to take).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The path of one of the workspace's binaries (`p2p-node`, `q2t-api`, `enclave`, ...), next
/// to the running test's own target directory.
///
/// `cargo test --workspace` builds every binary; a test run for one crate needs
/// `cargo build --bins` first when it starts another crate's binary.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/debug/deps/it-xxxx -> target/debug/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The ports of one node's interfaces.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// P2P.
    pub p2p: u16,
    /// Q2T over TCP.
    pub q2t: u16,
    /// ThirdParty.
    pub thirdparty: u16,
    /// Remote enclave.
    pub enclave: u16,
}

/// One node's files and processes.
pub struct TestNode {
    /// The node's name (used in file names and logs).
    pub name: String,
    /// Its temp dir (config, keys, database, logs).
    pub dir: tempfile::TempDir,
    /// Its key pairs; the first is the default key.
    pub keys: Vec<KeyPair>,
    /// Its ports.
    pub ports: Ports,
    /// The config as written (edit and [`TestNode::write_config`] again before starting).
    pub config: Value,
    children: Vec<(String, Child)>,
}

impl TestNode {
    /// A node with `key_count` fresh keys, an SQLite database in its temp dir, and `peers`
    /// (P2P URLs) to start discovery from.
    pub fn new(name: &str, key_count: usize, peers: &[String]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tm-{name}-"))
            .tempdir()
            .expect("temp dir");
        let keys: Vec<KeyPair> = (0..key_count)
            .map(|_| KeyPair::generate().expect("key pair"))
            .collect();
        let ports = Ports {
            p2p: free_port(),
            q2t: free_port(),
            thirdparty: free_port(),
            enclave: free_port(),
        };
        let mut key_data = Vec::new();
        for (i, pair) in keys.iter().enumerate() {
            let public = dir.path().join(format!("key{i}.pub"));
            let private = dir.path().join(format!("key{i}.key"));
            std::fs::write(&public, pair.public.to_base64()).expect("write .pub");
            std::fs::write(
                &private,
                PrivateKeyFile::unlocked(&pair.private).to_json().as_bytes(),
            )
            .expect("write .key");
            key_data.push(json!({
                "publicKeyPath": public.display().to_string(),
                "privateKeyPath": private.display().to_string(),
            }));
        }
        let db = dir.path().join("tm.db");
        let config = json!({
            "useWhiteList": false,
            "jdbc": { "url": format!("jdbc:sqlite:{}", db.display()), "autoCreateTables": true },
            "serverConfigs": [
                { "app": "P2P", "serverAddress": format!("http://127.0.0.1:{}", ports.p2p),
                  "communicationType": "REST",
                  "properties": { "partyInfoInterval": "1000" } },
                { "app": "Q2T", "serverAddress": format!("http://127.0.0.1:{}", ports.q2t),
                  "communicationType": "REST" },
                { "app": "ThirdParty", "serverAddress": format!("http://127.0.0.1:{}", ports.thirdparty),
                  "communicationType": "REST" }
            ],
            "peer": peers.iter().map(|url| json!({ "url": url })).collect::<Vec<_>>(),
            "keys": { "passwords": [], "keyData": key_data },
            "alwaysSendTo": []
        });
        let node = Self {
            name: name.to_owned(),
            dir,
            keys,
            ports,
            config,
            children: Vec::new(),
        };
        node.write_config();
        node
    }

    /// The config file's path.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("tessera.json")
    }

    /// Writes [`TestNode::config`] to [`TestNode::config_path`].
    pub fn write_config(&self) {
        let text = serde_json::to_string_pretty(&self.config).expect("config json");
        std::fs::write(self.config_path(), text).expect("write config");
    }

    /// Points the node at a database URL (e.g. PostgreSQL) instead of its SQLite file.
    pub fn use_database(&mut self, jdbc_url: &str, username: Option<&str>, password: Option<&str>) {
        self.config["jdbc"] = json!({
            "url": jdbc_url, "username": username, "password": password, "autoCreateTables": true
        });
        self.write_config();
    }

    /// Makes the node use a remote enclave on [`Ports::enclave`] (an `ENCLAVE` server entry, as
    /// Tessera configures it); start it with [`TestNode::start_enclave`]. The `enclave` binary
    /// reads the same config file and serves that entry with the node's keys.
    pub fn use_remote_enclave(&mut self) {
        let entry = json!({
            "app": "ENCLAVE",
            "serverAddress": format!("http://127.0.0.1:{}", self.ports.enclave),
            "communicationType": "REST"
        });
        if let Some(servers) = self.config["serverConfigs"].as_array_mut() {
            servers.push(entry);
        }
        self.write_config();
    }

    /// Starts the `enclave` binary and waits until `/ping` answers.
    pub fn start_enclave(&mut self) {
        self.start("enclave", None);
        let url = format!("http://127.0.0.1:{}/ping", self.ports.enclave);
        self.wait_until("enclave", Duration::from_secs(30), || http_ok(&url));
    }

    /// The P2P base URL (`http://127.0.0.1:port/`, as peers see it).
    pub fn p2p_url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.ports.p2p)
    }

    /// The Q2T base URL over TCP.
    pub fn q2t_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.q2t)
    }

    /// The ThirdParty base URL.
    pub fn thirdparty_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.thirdparty)
    }

    /// Starts one of our binaries with this node's config; its output goes to
    /// `<dir>/<binary>.log`. Returns once `base_url/upcheck` answers (or the process exits).
    pub fn start(&mut self, binary_name: &str, upcheck_base: Option<&str>) {
        self.start_instance(binary_name, binary_name, &[], upcheck_base);
    }

    /// Starts another instance of a binary (a replica), named `instance` in logs and
    /// [`TestNode::stop`], with extra arguments such as `-o` overrides.
    pub fn start_instance(
        &mut self,
        binary_name: &str,
        instance: &str,
        args: &[String],
        upcheck_base: Option<&str>,
    ) {
        let log = std::fs::File::create(self.dir.path().join(format!("{instance}.log")))
            .expect("log file");
        let err = log.try_clone().expect("log file");
        let child = Command::new(binary(binary_name))
            .arg("-configfile")
            .arg(self.config_path())
            .args(args)
            .current_dir(self.dir.path())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary_name}: {e}"));
        self.children.push((instance.to_owned(), child));
        if let Some(base) = upcheck_base {
            let base = base.to_owned();
            self.wait_until(instance, Duration::from_secs(30), || upcheck(&base));
        }
    }

    /// Stops (kills) a started binary.
    pub fn stop(&mut self, binary_name: &str) {
        self.children.retain_mut(|(name, child)| {
            if name == binary_name {
                let _ = child.kill();
                let _ = child.wait();
                false
            } else {
                true
            }
        });
    }

    /// The log a binary wrote so far.
    pub fn log(&self, binary_name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{binary_name}.log")))
            .unwrap_or_default()
    }

    /// Polls `ready` every 50 ms until it is true; panics with the binary's log on timeout or
    /// if the process exits.
    pub fn wait_until(
        &mut self,
        binary_name: &str,
        limit: Duration,
        mut ready: impl FnMut() -> bool,
    ) {
        let started = Instant::now();
        loop {
            if ready() {
                return;
            }
            if let Some((_, child)) = self.children.iter_mut().find(|(n, _)| n == binary_name) {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{binary_name} of {} exited with {status}:\n{}",
                        self.name,
                        self.log(binary_name)
                    );
                }
            }
            assert!(
                started.elapsed() < limit,
                "{binary_name} of {} not ready after {limit:?}:\n{}",
                self.name,
                self.log(binary_name)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The test PostgreSQL server: `TM_TEST_POSTGRES_URL` (`postgres://user:password@host:port/db`)
/// or the server `.ci/postgres.sh` starts.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://tm:tm-test-pw@127.0.0.1:55432/tm";

/// A fresh schema on the test PostgreSQL server, for one test's node(s): returns the
/// `jdbc.url`, user and password to put in a config. Created with `psql`; PostgreSQL being
/// unreachable fails the test, never skips it.
pub fn postgres_schema(prefix: &str) -> (String, String, String) {
    let url =
        std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
        .expect("TM_TEST_POSTGRES_URL is postgres://user:password@host:port/database");
    let (userinfo, location) = rest.split_once('@').expect("user:password@ in the URL");
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let location = location.split('?').next().unwrap_or(location);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("{prefix}_{}_{nanos}", std::process::id());
    let status = Command::new("psql")
        .arg(&url)
        .args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE SCHEMA {schema}"),
        ])
        .status()
        .expect("psql is installed (bash .ci/postgres.sh installs it)");
    assert!(status.success(), "cannot create schema {schema} on {location}: is PostgreSQL running (bash .ci/postgres.sh)?");
    (
        format!("jdbc:postgresql://{location}?currentSchema={schema}"),
        user.to_owned(),
        password.to_owned(),
    )
}

/// Runs one SQL statement on the test PostgreSQL server with `psql`; returns whether it
/// succeeded.
pub fn psql(sql: &str) -> bool {
    let url =
        std::env::var("TM_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_owned());
    Command::new("psql")
        .arg(&url)
        .env("PGOPTIONS", "--client-min-messages=warning")
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .status()
        .expect("psql is installed (bash .ci/postgres.sh installs it)")
        .success()
}

/// Whether `base/upcheck` answers 200 "I'm up!".
pub fn upcheck(base: &str) -> bool {
    http_ok(&format!("{}/upcheck", base.trim_end_matches('/')))
}

/// Whether a GET of `url` answers 200.
pub fn http_ok(url: &str) -> bool {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()
        .and_then(|c| c.get(url).send().ok())
        .is_some_and(|r| r.status().as_u16() == 200)
}

/// Polls `condition` every 100 ms for up to `limit`; returns whether it became true.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}
