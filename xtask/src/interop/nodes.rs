//! The nodes of the mixed network: their key files, Tessera config files and processes.
//!
//! Both kinds of node get the same config shape (Tessera's own JSON: `jdbc`, `serverConfigs`
//! with P2P, Q2T over TCP and ThirdParty, `peer`, `keys`, `features`), so the config our
//! binaries read is the one a Java node reads, and the other way round.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tm_config::{AppType, Config, EncryptorConfig, FeatureToggles, KeyData};
use tm_core::keyfile::{parse_public_key_file, PrivateKeyFile};
use tm_core::{KeyPair, PublicKey};

use super::fetch::JavaTessera;
use tm_dev_support::config::{self as dev_config, NodeConfig};
use tm_dev_support::http_ok;
use tm_dev_support::ports::http_url;
use tm_dev_support::process::Process;

/// Who runs a node.
#[derive(Clone, Debug)]
pub enum Runtime {
    /// Java Tessera.
    Java(JavaTessera),
    /// Our service binaries (in `bin_dir`).
    Ours {
        /// The folder holding `p2p-node`, `q2t-api`, `thirdparty-api`, `enclave`.
        bin_dir: PathBuf,
    },
}

impl Runtime {
    /// "Java" or "ours".
    pub fn label(&self) -> &'static str {
        match self {
            Self::Java(_) => "Java",
            Self::Ours { .. } => "ours",
        }
    }
}

/// A node's keys: the `keyData` entries naming their files, and the pairs (the first is the
/// default key).
pub struct NodeKeys {
    /// One entry per pair.
    pub key_data: Vec<KeyData>,
    /// The pairs.
    pub pairs: Vec<KeyPair>,
}

impl NodeKeys {
    /// Fresh unlocked key files written with our keygen (Tessera reads the same format).
    pub fn generate(dir: &Path, count: usize) -> Result<Self, String> {
        let (pairs, key_data) = dev_config::generate_key_files(dir, count)
            .map_err(|e| format!("cannot write keys in {}: {e}", dir.display()))?
            .into_iter()
            .unzip();
        Ok(Self { key_data, pairs })
    }

    /// Reads key files another program wrote (Java Tessera's `-keygen`): unlocked private key
    /// JSON and a one-line base64 public key; checks that they belong together.
    pub fn read(public: &Path, private: &Path) -> Result<Self, String> {
        let pub_text = read(public)?;
        let key_text = read(private)?;
        let public_key = parse_public_key_file(&pub_text)
            .map_err(|e| format!("{} does not parse: {e}", public.display()))?;
        let private_key = PrivateKeyFile::parse(&key_text)
            .and_then(|file| file.unlock(None))
            .map_err(|e| format!("{} does not parse: {e}", private.display()))?;
        let pair = KeyPair {
            public: public_key,
            private: private_key,
        };
        if !pair.is_consistent() {
            return Err(format!(
                "{} does not hold the private key of {}",
                private.display(),
                public.display()
            ));
        }
        Ok(Self {
            key_data: vec![KeyData {
                public_key_path: Some(public.to_owned()),
                private_key_path: Some(private.to_owned()),
                ..KeyData::default()
            }],
            pairs: vec![pair],
        })
    }
}

/// One running node: its URLs, keys and processes (killed on drop).
pub struct Node {
    /// "Java" or "ours", with a suffix for a second node.
    pub name: String,
    /// Its folder (config, keys, database, logs).
    pub dir: PathBuf,
    /// Its P2P base URL (`http://127.0.0.1:port`).
    pub p2p: String,
    /// Its Q2T base URL.
    pub q2t: String,
    /// Its ThirdParty base URL.
    pub thirdparty: String,
    /// Its public keys (the first is the default key).
    pub keys: Vec<PublicKey>,
    /// Its key pairs where they are ours to know (every node of this test).
    pub pairs: Vec<KeyPair>,
    /// Its config file.
    pub config_path: PathBuf,
    procs: Vec<Process>,
}

/// What a node is started with.
pub struct NodeSpec<'a> {
    /// Name in messages and file names.
    pub name: &'a str,
    /// Its folder (created).
    pub dir: PathBuf,
    /// Who runs it.
    pub runtime: Runtime,
    /// Its keys, when it holds them itself.
    pub keys: &'a NodeKeys,
    /// Peers' P2P URLs.
    pub peers: Vec<String>,
    /// `Some(url)`: the node uses a remote enclave at that URL instead of holding its keys.
    pub remote_enclave: Option<String>,
}

impl Node {
    /// Writes the config and starts the node; returns once every interface answers
    /// `/upcheck`.
    pub fn start(spec: NodeSpec<'_>, limit: Duration) -> Result<Self, String> {
        std::fs::create_dir_all(&spec.dir)
            .map_err(|e| format!("cannot create {}: {e}", spec.dir.display()))?;
        let mut node = Self {
            name: spec.name.to_owned(),
            dir: spec.dir.clone(),
            p2p: http_url(crate::free_port()?),
            q2t: http_url(crate::free_port()?),
            thirdparty: http_url(crate::free_port()?),
            keys: spec.keys.pairs.iter().map(|p| p.public.clone()).collect(),
            pairs: spec.keys.pairs.clone(),
            config_path: spec.dir.join("tessera.json"),
            procs: Vec::new(),
        };
        dev_config::write(&node.config(&spec), &node.config_path)
            .map_err(|e| format!("cannot write {}: {e}", node.config_path.display()))?;
        node.start_processes(&spec.runtime)?;
        node.wait_ready(limit)?;
        Ok(node)
    }

    /// Its Tessera config, the same shape whoever runs it: P2P, Q2T over TCP and ThirdParty
    /// at its URLs, its peers, and its keys or the remote enclave holding them.
    fn config(&self, spec: &NodeSpec<'_>) -> Config {
        let config = match spec.runtime {
            // H2 is the database Tessera's distribution bundles.
            Runtime::Java(_) => NodeConfig::new().database(
                &format!(
                    "jdbc:h2:{};MODE=Oracle;TRACE_LEVEL_SYSTEM_OUT=0",
                    self.dir.join("tessera-db").display()
                ),
                Some("sa"),
                Some(""),
            ),
            Runtime::Ours { .. } => NodeConfig::new().sqlite(&self.dir.join("tm.db")),
        };
        let config = config
            .thirdparty(&self.thirdparty)
            .q2t(&self.q2t)
            .p2p(&self.p2p)
            .property(AppType::P2P, "partyInfoInterval", "1000")
            .property(AppType::P2P, "enclaveKeySyncInterval", "1000")
            .peers(spec.peers.iter().cloned())
            .features(FeatureToggles {
                enable_privacy_enhancements: true,
                ..FeatureToggles::default()
            })
            .edit(|config| {
                config.encryptor = Some(EncryptorConfig {
                    encryptor_type: Some("NACL".into()),
                    ..EncryptorConfig::default()
                });
            });
        match &spec.remote_enclave {
            Some(url) => config.remote_enclave(url),
            None => config.keys(spec.keys.key_data.iter().cloned()),
        }
        .build()
    }

    /// Java Tessera (every interface in one JVM), or our three service binaries.
    fn start_processes(&mut self, runtime: &Runtime) -> Result<(), String> {
        match runtime {
            Runtime::Java(tessera) => {
                let config = self.config_path.display().to_string();
                let mut command = tessera.command(&["-configfile", &config]);
                command.current_dir(&self.dir);
                let proc = Process::spawn(
                    &format!("{} (Java Tessera)", self.name),
                    command,
                    &self.dir.join("tessera.log"),
                )?;
                self.procs.push(proc);
            }
            Runtime::Ours { bin_dir } => {
                for binary in ["p2p-node", "q2t-api", "thirdparty-api"] {
                    self.start_ours(bin_dir, binary, &self.config_path.clone())?;
                }
            }
        }
        Ok(())
    }

    /// Waits until every interface answers `/upcheck` (failing early if a process exits).
    fn wait_ready(&mut self, limit: Duration) -> Result<(), String> {
        for base in [self.p2p.clone(), self.q2t.clone(), self.thirdparty.clone()] {
            let url = format!("{base}/upcheck");
            for proc in &mut self.procs {
                proc.wait_ready(limit, || http_ok(&url))?;
            }
        }
        Ok(())
    }

    /// Starts one of our binaries on `config`, output in `<dir>/<binary>.log`.
    fn start_ours(&mut self, bin_dir: &Path, binary: &str, config: &Path) -> Result<(), String> {
        let mut command = Command::new(bin_dir.join(binary));
        command
            .arg("-configfile")
            .arg(config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "info");
        let proc = Process::spawn(
            &format!("{} {binary}", self.name),
            command,
            &self.dir.join(format!("{binary}.log")),
        )?;
        self.procs.push(proc);
        Ok(())
    }

    /// The default key.
    pub fn key(&self) -> Result<PublicKey, String> {
        self.keys
            .first()
            .cloned()
            .ok_or_else(|| format!("{} has no keys", self.name))
    }
}

/// Our `enclave` binary serving `keys` on a free port; returns the process and its URL.
pub fn start_our_enclave(
    bin_dir: &Path,
    dir: &Path,
    keys: &NodeKeys,
    limit: Duration,
) -> Result<(Process, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let url = http_url(crate::free_port()?);
    let config = NodeConfig::new()
        .server(AppType::Enclave, &url)
        .keys(keys.key_data.iter().cloned())
        .build();
    let path = dir.join("enclave.json");
    dev_config::write(&config, &path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut command = Command::new(bin_dir.join("enclave"));
    command
        .arg("-configfile")
        .arg(&path)
        .current_dir(dir)
        .env("RUST_LOG", "info");
    let mut proc = Process::spawn("our enclave", command, &dir.join("enclave.log"))?;
    let ping = format!("{url}/ping");
    proc.wait_ready(limit, || http_ok(&ping))?;
    Ok((proc, url))
}

/// Runs Java Tessera's `-keygen -filename <dir>/<name>` with an empty password (typed twice on
/// stdin, as its prompt asks) and reads the files it wrote.
pub fn java_keygen(tessera: &JavaTessera, dir: &Path, name: &str) -> Result<NodeKeys, String> {
    use std::io::Write;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let base = dir.join(name);
    let base_text = base.display().to_string();
    let mut command = tessera.command(&["-keygen", "-filename", &base_text]);
    command
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start Tessera -keygen: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"\n\n");
    }
    // Bounded: keygen without a password takes a few seconds of JVM start.
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() < Duration::from_secs(120) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("Tessera -keygen did not finish within 120 s".into());
            }
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("Tessera -keygen: {e}"))?;
    let _ = std::fs::write(
        dir.join("keygen.log"),
        [output.stdout.as_slice(), output.stderr.as_slice()].concat(),
    );
    let public = dir.join(format!("{name}.pub"));
    let private = dir.join(format!("{name}.key"));
    if !public.exists() || !private.exists() {
        return Err(format!(
            "Tessera -keygen ({}) wrote no {name}.pub/{name}.key; see {}",
            output.status,
            dir.join("keygen.log").display()
        ));
    }
    NodeKeys::read(&public, &private)
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}
