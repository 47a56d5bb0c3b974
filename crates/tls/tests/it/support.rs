//! Key material made at test time with `openssl` and `keytool` (scripts/install-tls-tools.sh),
//! configs, and a real TLS handshake over loopback TCP.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tm_config::ServerConfig;
use tm_tls::{ClientTls, ServerTls};

/// A temp dir for one test's files.
pub struct Dir(pub tempfile::TempDir);

impl Dir {
    pub fn new() -> Self {
        Self(tempfile::tempdir().expect("temp dir"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.path().join(name)
    }

    pub fn text(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }
}

fn run(program: &str, args: &[&str], cwd: &Path) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program} is needed (scripts/install-tls-tools.sh): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn openssl(dir: &Dir, args: &[&str]) -> String {
    run("openssl", args, dir.0.path())
}

pub fn keytool(dir: &Dir, args: &[&str]) -> String {
    run("keytool", args, dir.0.path())
}

/// A PEM key (`<name>.key`, PKCS#8) and certificate (`<name>.pem`).
#[derive(Clone)]
pub struct Pem {
    pub key: PathBuf,
    pub cert: PathBuf,
}

const SAN: &str = "subjectAltName=DNS:localhost,IP:127.0.0.1";

/// A CA certificate and key.
pub fn ca(dir: &Dir, name: &str) -> Pem {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    pem(dir, name)
}

/// A self-signed leaf with CN `cn`, valid for localhost and 127.0.0.1.
pub fn self_signed(dir: &Dir, name: &str, cn: &str) -> Pem {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-subj",
            &format!("/CN={cn}"),
            "-addext",
            SAN,
            "-addext",
            "basicConstraints=CA:FALSE",
        ],
    );
    pem(dir, name)
}

/// A leaf with CN `cn` signed by `ca`.
pub fn signed(dir: &Dir, name: &str, cn: &str, ca: &Pem) -> Pem {
    let ext = dir.path(&format!("{name}.ext"));
    std::fs::write(&ext, format!("{SAN}\nbasicConstraints=CA:FALSE\n")).expect("ext file");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-days",
            "30",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            path_str(&ca.cert),
            "-CAkey",
            path_str(&ca.key),
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-extfile",
            path_str(&ext),
        ],
    );
    pem(dir, name)
}

fn pem(dir: &Dir, name: &str) -> Pem {
    Pem {
        key: dir.path(&format!("{name}.key")),
        cert: dir.path(&format!("{name}.pem")),
    }
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// The fingerprint as `openssl x509 -fingerprint -sha1` prints it, in Tessera's form.
pub fn fingerprint(dir: &Dir, cert: &Path) -> String {
    let out = openssl(
        dir,
        &[
            "x509",
            "-in",
            path_str(cert),
            "-noout",
            "-fingerprint",
            "-sha1",
        ],
    );
    let hex = out.trim().rsplit('=').next().unwrap_or_default();
    hex.replace(':', "").to_ascii_lowercase()
}

/// A P2P server entry with this `sslConfig`.
pub fn server_config(ssl: Value) -> ServerConfig {
    serde_json::from_value(json!({
        "app": "P2P",
        "serverAddress": "https://localhost:9001",
        "sslConfig": ssl,
    }))
    .expect("server config")
}

/// `sslConfig` with PEM material for both halves and the given trust modes.
pub fn pem_ssl(server: &Pem, client: &Pem, server_mode: &str, client_mode: &str) -> Value {
    json!({
        "tls": "STRICT",
        "serverTlsKeyPath": server.key,
        "serverTlsCertificatePath": server.cert,
        "serverTrustMode": server_mode,
        "clientTlsKeyPath": client.key,
        "clientTlsCertificatePath": client.cert,
        "clientTrustMode": client_mode,
    })
}

pub fn server(config: &ServerConfig) -> ServerTls {
    tm_tls::server_tls(config)
        .expect("server TLS builds")
        .expect("TLS is on")
}

pub fn client(config: &ServerConfig) -> ClientTls {
    tm_tls::client_tls(config)
        .expect("client TLS builds")
        .expect("TLS is on")
}

pub fn error(result: Result<Option<impl std::fmt::Debug>, tm_tls::TlsError>) -> String {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(e) => e.to_string(),
    }
}

/// One TLS connection over loopback: the client connects to `server_name`, the server sends
/// one byte. `Ok` when both sides complete; else both sides' errors.
pub fn handshake(server: &ServerTls, client: &ClientTls, server_name: &str) -> Result<(), String> {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    let server = server.clone();
    let serving = std::thread::spawn(move || -> Result<(), String> {
        let (mut socket, peer) = listener.accept().map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let mut tls = rustls::ServerConnection::new(Arc::new(server.rustls_for_peer(peer)))
            .map_err(|e| e.to_string())?;
        while tls.is_handshaking() {
            tls.complete_io(&mut socket).map_err(|e| e.to_string())?;
        }
        let mut stream = rustls::Stream::new(&mut tls, &mut socket);
        stream.write_all(b"x").map_err(|e| e.to_string())?;
        stream.flush().map_err(|e| e.to_string())?;
        Ok(())
    });
    let connecting = (|| -> Result<(), String> {
        let mut socket = TcpStream::connect(address).map_err(|e| e.to_string())?;
        socket.set_read_timeout(Some(Duration::from_secs(10))).ok();
        let name = rustls::pki_types::ServerName::try_from(server_name.to_string())
            .map_err(|e| e.to_string())?;
        let mut tls = rustls::ClientConnection::new(Arc::new(client.rustls()), name)
            .map_err(|e| e.to_string())?;
        let mut stream = rustls::Stream::new(&mut tls, &mut socket);
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).map_err(|e| e.to_string())?;
        Ok(())
    })();
    let served = serving.join().expect("server thread");
    match (connecting, served) {
        (Ok(()), Ok(())) => Ok(()),
        (client, server) => Err(format!("client: {client:?}; server: {server:?}")),
    }
}
