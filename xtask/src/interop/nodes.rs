//! The nodes of the mixed network: their key files, Tessera config files and processes.
//!
//! Both kinds of node get the same config shape (Tessera's own JSON: `jdbc`, `serverConfigs`
//! with P2P, Q2T over TCP and ThirdParty, `peer`, `keys`, `features`), so the config our
//! binaries read is the one a Java node reads, and the other way round.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use tm_core::keyfile::{parse_public_key_file, PrivateKeyFile};
use tm_core::{KeyPair, PublicKey};

use super::fetch::JavaTessera;
use super::procs::{free_port, http_ok, Proc};

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

/// A node's keys: where they live, and the pairs (the first is the default key).
pub struct NodeKeys {
    /// `(public key path, private key path)` per pair.
    pub files: Vec<(PathBuf, PathBuf)>,
    /// The pairs, read back from the files.
    pub pairs: Vec<KeyPair>,
}

impl NodeKeys {
    /// Fresh unlocked key files written with our keygen (Tessera reads the same format).
    pub fn generate(dir: &Path, count: usize) -> Result<Self, String> {
        let mut files = Vec::new();
        let mut pairs = Vec::new();
        for i in 0..count {
            let pair = KeyPair::generate().map_err(|e| format!("cannot generate a key: {e}"))?;
            let public = dir.join(format!("key{i}.pub"));
            let private = dir.join(format!("key{i}.key"));
            write(&public, pair.public.to_base64().as_bytes())?;
            write(
                &private,
                PrivateKeyFile::unlocked(&pair.private).to_json().as_bytes(),
            )?;
            files.push((public, private));
            pairs.push(pair);
        }
        Ok(Self { files, pairs })
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
            files: vec![(public.to_owned(), private.to_owned())],
            pairs: vec![pair],
        })
    }

    /// The `keys` member of a Tessera config for these files.
    pub fn config(&self) -> Value {
        let key_data: Vec<Value> = self
            .files
            .iter()
            .map(|(public, private)| {
                json!({
                    "publicKeyPath": public.display().to_string(),
                    "privateKeyPath": private.display().to_string(),
                })
            })
            .collect();
        json!({ "passwords": [], "keyData": key_data })
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
    procs: Vec<Proc>,
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
        let (p2p_port, q2t_port, tp_port) = (free_port()?, free_port()?, free_port()?);
        let p2p = format!("http://127.0.0.1:{p2p_port}");
        let q2t = format!("http://127.0.0.1:{q2t_port}");
        let thirdparty = format!("http://127.0.0.1:{tp_port}");
        let jdbc = match spec.runtime {
            // H2 is the database Tessera's distribution bundles.
            Runtime::Java(_) => json!({
                "url": format!("jdbc:h2:{};MODE=Oracle;TRACE_LEVEL_SYSTEM_OUT=0",
                               spec.dir.join("tessera-db").display()),
                "username": "sa",
                "password": "",
                "autoCreateTables": true
            }),
            Runtime::Ours { .. } => json!({
                "url": format!("jdbc:sqlite:{}", spec.dir.join("tm.db").display()),
                "autoCreateTables": true
            }),
        };
        let mut servers = vec![
            json!({ "app": "ThirdParty", "serverAddress": thirdparty, "communicationType": "REST" }),
            json!({ "app": "Q2T", "serverAddress": q2t, "communicationType": "REST" }),
            json!({ "app": "P2P", "serverAddress": p2p, "communicationType": "REST",
                    "properties": { "partyInfoInterval": "1000", "enclaveKeySyncInterval": "1000" } }),
        ];
        let mut config = json!({
            "useWhiteList": false,
            "disablePeerDiscovery": false,
            "jdbc": jdbc,
            "serverConfigs": [],
            "peer": spec.peers.iter().map(|url| json!({ "url": url })).collect::<Vec<_>>(),
            "alwaysSendTo": [],
            "encryptor": { "type": "NACL" },
            "features": { "enablePrivacyEnhancements": true }
        });
        match &spec.remote_enclave {
            Some(url) => servers.push(json!({
                "app": "ENCLAVE", "serverAddress": url, "communicationType": "REST"
            })),
            None => config["keys"] = spec.keys.config(),
        }
        config["serverConfigs"] = Value::Array(servers);
        let config_path = spec.dir.join("tessera.json");
        write_json(&config_path, &config)?;

        let mut node = Self {
            name: spec.name.to_owned(),
            dir: spec.dir.clone(),
            p2p,
            q2t,
            thirdparty,
            keys: spec.keys.pairs.iter().map(|p| p.public.clone()).collect(),
            pairs: spec.keys.pairs.clone(),
            config_path,
            procs: Vec::new(),
        };
        match &spec.runtime {
            Runtime::Java(tessera) => {
                let config = node.config_path.display().to_string();
                let mut command = tessera.command(&["-configfile", &config]);
                command.current_dir(&node.dir);
                let proc = Proc::spawn(
                    &format!("{} (Java Tessera)", node.name),
                    command,
                    &node.dir.join("tessera.log"),
                )?;
                node.procs.push(proc);
            }
            Runtime::Ours { bin_dir } => {
                for binary in ["p2p-node", "q2t-api", "thirdparty-api"] {
                    node.start_ours(bin_dir, binary, &node.config_path.clone())?;
                }
            }
        }
        for base in [node.p2p.clone(), node.q2t.clone(), node.thirdparty.clone()] {
            let url = format!("{base}/upcheck");
            for proc in &mut node.procs {
                proc.wait_ready(limit, || http_ok(&url))?;
            }
        }
        Ok(node)
    }

    /// Starts one of our binaries on `config`, output in `<dir>/<binary>.log`.
    fn start_ours(&mut self, bin_dir: &Path, binary: &str, config: &Path) -> Result<(), String> {
        let mut command = Command::new(bin_dir.join(binary));
        command
            .arg("-configfile")
            .arg(config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "info");
        let proc = Proc::spawn(
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
) -> Result<(Proc, String), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let url = format!("http://127.0.0.1:{}", free_port()?);
    let config = json!({
        "serverConfigs": [{ "app": "ENCLAVE", "serverAddress": url, "communicationType": "REST" }],
        "keys": keys.config(),
        "alwaysSendTo": []
    });
    let path = dir.join("enclave.json");
    write_json(&path, &config)?;
    let mut command = Command::new(bin_dir.join("enclave"));
    command
        .arg("-configfile")
        .arg(&path)
        .current_dir(dir)
        .env("RUST_LOG", "info");
    let mut proc = Proc::spawn("our enclave", command, &dir.join("enclave.log"))?;
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

fn write(path: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(path, bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| format!("cannot serialise {}: {e}", path.display()))?;
    write(path, text.as_bytes())
}
