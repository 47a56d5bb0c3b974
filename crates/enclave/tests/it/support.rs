//! Keys from the vectors, configs in temp dirs, and real enclave processes listening on port 0.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tm_config::{AppType, Config, KeyConfiguration, KeyData, Secret, ServerConfig};
use tm_core::keyfile::PrivateKeyFile;
use tm_core::{KeyPair, PrivateKey, PublicKey};
use tm_enclave::{Enclave, EnclaveClient, RemoteEnclave};

/// `testdata/` at the root of the repository (see `testdata/README.md`).
pub fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Key pair `index` of `keys/keypairs.json`.
pub fn pair(index: usize) -> KeyPair {
    let path = vectors_dir().join("keys/keypairs.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("test vectors missing at {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text).expect("json");
    let entry = &json["keypairs"][index];
    KeyPair {
        public: PublicKey::from_base64(entry["public_base64"].as_str().expect("b64")).expect("key"),
        private: PrivateKey::from_base64(entry["private_base64"].as_str().expect("b64"))
            .expect("key"),
    }
}

/// Our node's keys: A (default) and B. The other node holds C, our forwarding key.
pub struct Keys {
    pub a: KeyPair,
    pub b: KeyPair,
    pub c: KeyPair,
}

pub fn keys() -> Keys {
    Keys {
        a: pair(0),
        b: pair(1),
        c: pair(2),
    }
}

/// The other node: an in-process enclave holding C.
pub fn other_node() -> Enclave {
    Enclave::new(vec![keys().c], Vec::new())
}

/// Our enclave in-process.
pub fn local() -> EnclaveClient {
    let k = keys();
    EnclaveClient::Local(Arc::new(Enclave::new(vec![k.a, k.b], vec![k.c.public])))
}

/// A client of the remote enclave on `port`.
pub fn remote(port: u16) -> EnclaveClient {
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url");
    EnclaveClient::Remote(
        RemoteEnclave::with_timeouts(url, Duration::from_secs(2), Duration::from_secs(10))
            .expect("client"),
    )
}

/// Writes an enclave config (the typed model, as Tessera's JSON) for our keys listening on
/// `port` (0: wherever the kernel says); returns its path.
pub fn write_config(dir: &Path, port: u16) -> PathBuf {
    let k = keys();
    let config = Config {
        server_configs: Some(vec![ServerConfig {
            app: Some(AppType::Enclave),
            server_address: Some(format!("http://127.0.0.1:{port}")),
            communication_type: Some("REST".into()),
            ..Default::default()
        }]),
        keys: Some(KeyConfiguration {
            key_data: Some(vec![
                KeyData {
                    private_key: Some(Secret::new(k.a.private.expose_base64().as_str())),
                    public_key: Some(k.a.public.to_base64()),
                    ..Default::default()
                },
                KeyData {
                    config: Some(PrivateKeyFile::unlocked(&k.b.private)),
                    public_key: Some(k.b.public.to_base64()),
                    ..Default::default()
                },
            ]),
            ..Default::default()
        }),
        always_send_to: vec![k.c.public.to_base64()],
        ..Default::default()
    };
    let path = dir.join("enclave.json");
    std::fs::write(&path, config.to_tessera_json()).expect("write");
    path
}

/// The real `enclave` binary, killed on drop.
pub struct EnclaveProcess {
    pub child: Child,
    pub stderr_path: PathBuf,
}

impl EnclaveProcess {
    /// Starts the binary with `config` (written by [`write_config`] with port 0: the enclave
    /// listens where the kernel says, so no port is picked by probing) and waits until it
    /// serves. Returns it with its port, read from its `enclave started` log line.
    pub async fn launch(config: &Path) -> (Self, u16) {
        let mut process = Self::spawn(config);
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(port) = started_port(&process.log()) {
                break port;
            }
            if let Ok(Some(status)) = process.child.try_wait() {
                panic!("enclave exited with {status}: {}", process.log());
            }
            assert!(
                Instant::now() < deadline,
                "enclave did not start: {}",
                process.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        process.wait_started(port).await;
        (process, port)
    }

    /// Starts the binary with `config`, listening on `port` (one it listened on before, for
    /// a restart), and waits until `/ping` answers.
    pub async fn start(config: &Path, port: u16) -> Self {
        let process = Self::spawn(config);
        process.wait_started(port).await;
        process
    }

    fn spawn(config: &Path) -> Self {
        let stderr_path = config.with_extension(format!("{}.log", now_nanos()));
        let stderr = std::fs::File::create(&stderr_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_enclave"))
            .arg("-configfile")
            .arg(config)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn enclave");
        Self { child, stderr_path }
    }

    async fn wait_started(&self, port: u16) {
        let client = remote(port);
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.status().await != tm_enclave::Status::Started {
            assert!(
                Instant::now() < deadline,
                "enclave did not start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the process logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Kills the process and waits for it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EnclaveProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The port in the enclave's `enclave started address=http://127.0.0.1:<port>` log line
/// (colour codes and all).
fn started_port(log: &str) -> Option<u16> {
    let line = log.lines().find(|l| l.contains("enclave started"))?;
    let address = line.split("address").nth(1)?;
    let digits: String = address
        .rsplit(':')
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}
