//! TLS material for tests and the local cluster, made with the `openssl` command line, and the
//! `sslConfig` entries that use it (docs/security.md, "TLS").
//!
//! A [`Pki`] is a directory holding a CA; [`Pki::issue`] signs a certificate for `localhost`
//! and `127.0.0.1` with it, [`Pki::self_signed`] makes one no CA vouches for (what TOFU and
//! WHITELIST are for). [`strict`] builds the `sslConfig` of a server entry from them.
//!
//! `openssl` must be on the `PATH` (`scripts/install-tls-tools.sh` installs it): without it
//! every helper panics saying so, so a TLS test fails rather than skips.
//!
//! ```no_run
//! # let dir = std::path::Path::new("/tmp/pki");
//! use tm_dev_support::tls::{strict, Pki, Trust};
//! let pki = Pki::create(dir);
//! let node = pki.issue("node1");
//! let ssl = strict(&node, &node, Trust::Ca(vec![pki.ca_cert()]));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use tm_config::SslConfig;

/// A key and certificate in PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pem {
    /// The private key (PKCS#8 PEM).
    pub key: PathBuf,
    /// The certificate (PEM).
    pub cert: PathBuf,
}

impl Pem {
    /// The lower-case hex SHA-1 of the certificate's DER: what Tessera's known-hosts files
    /// record next to the CN (docs/protocol.md §15.2).
    pub fn sha1_fingerprint(&self) -> String {
        let out = openssl(&[
            "x509",
            "-in",
            &self.cert.display().to_string(),
            "-noout",
            "-fingerprint",
            "-sha1",
        ]);
        // `SHA1 Fingerprint=AB:CD:...`
        out.trim()
            .rsplit('=')
            .next()
            .unwrap_or_default()
            .replace(':', "")
            .to_ascii_lowercase()
    }

    /// The certificate's subject CN.
    pub fn common_name(&self) -> String {
        let out = openssl(&[
            "x509",
            "-in",
            &self.cert.display().to_string(),
            "-noout",
            "-subject",
            "-nameopt",
            "multiline",
        ]);
        out.lines()
            .find_map(|line| line.trim().strip_prefix("commonName"))
            .map(|rest| rest.trim_start_matches([' ', '=']).trim().to_owned())
            .unwrap_or_default()
    }
}

/// A certificate authority in a directory (`ca.key`, `ca.pem`), and the certificates it issues
/// beside it.
#[derive(Clone, Debug)]
pub struct Pki {
    dir: PathBuf,
    /// The temp dir of [`Pki::temporary`], removed when the last clone is dropped.
    _temp: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Pki {
    /// A new CA in a temp dir of its own (removed when the last clone is dropped); make more
    /// in [`Pki::dir`] with [`Pki::create`].
    pub fn temporary() -> Self {
        let temp = tempfile::Builder::new()
            .prefix("tm-pki-")
            .tempdir()
            .expect("a temp dir");
        let pki = Self::create(temp.path());
        Self {
            _temp: Some(std::sync::Arc::new(temp)),
            ..pki
        }
    }

    /// A new CA (EC P-256, ten years) in `dir`, created if missing.
    pub fn create(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("the PKI directory is created");
        let pki = Self {
            dir: dir.to_owned(),
            _temp: None,
        };
        let key = pki.path("ca.key");
        new_key(&key);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &key.display().to_string(),
            "-sha256",
            "-days",
            "3650",
            "-subj",
            "/CN=tm test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &pki.ca_cert().display().to_string(),
        ]);
        pki
    }

    /// The CA [`Pki::create`] made in `dir` before, to issue more certificates with.
    pub fn open(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            _temp: None,
        }
    }

    /// The CA's certificate: the trust anchor of `CA` mode.
    pub fn ca_cert(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A certificate for `name` (its CN) signed by the CA, valid for `localhost` and
    /// `127.0.0.1`, for servers and clients alike: `<name>.key`, `<name>.pem`.
    pub fn issue(&self, name: &str) -> Pem {
        let pem = self.pem(name);
        new_key(&pem.key);
        let csr = self.path(&format!("{name}.csr"));
        let ext = self.path(&format!("{name}.ext"));
        std::fs::write(&ext, LEAF_EXTENSIONS).expect("the extension file is written");
        openssl(&[
            "req",
            "-new",
            "-key",
            &pem.key.display().to_string(),
            "-subj",
            &format!("/CN={name}"),
            "-out",
            &csr.display().to_string(),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr.display().to_string(),
            "-CA",
            &self.ca_cert().display().to_string(),
            "-CAkey",
            &self.path("ca.key").display().to_string(),
            "-CAcreateserial",
            "-days",
            "825",
            "-sha256",
            "-extfile",
            &ext.display().to_string(),
            "-out",
            &pem.cert.display().to_string(),
        ]);
        pem
    }

    /// A self-signed certificate for `name` (no CA vouches for it), valid for `localhost` and
    /// `127.0.0.1`: `<name>.key`, `<name>.pem`.
    pub fn self_signed(&self, name: &str) -> Pem {
        let pem = self.pem(name);
        new_key(&pem.key);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &pem.key.display().to_string(),
            "-sha256",
            "-days",
            "825",
            "-subj",
            &format!("/CN={name}"),
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
            "-out",
            &pem.cert.display().to_string(),
        ]);
        pem
    }

    fn pem(&self, name: &str) -> Pem {
        Pem {
            key: self.path(&format!("{name}.key")),
            cert: self.path(&format!("{name}.pem")),
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

const LEAF_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
";

/// How a side of a TLS connection decides whom to trust (docs/protocol.md §15.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trust {
    /// `NONE`: anyone.
    None,
    /// `CA`: certificates these CA certificates (PEM files) vouch for.
    Ca(Vec<PathBuf>),
    /// `TOFU`: the first certificate seen for a CN, recorded in this known-hosts file.
    Tofu(PathBuf),
    /// `WHITELIST`: only the CN and fingerprint pairs of this known-hosts file.
    Whitelist(PathBuf),
    /// `CA_OR_TOFU`: CA, else TOFU with this known-hosts file.
    CaOrTofu(Vec<PathBuf>, PathBuf),
}

impl Trust {
    /// Tessera's name of the mode.
    pub fn mode(&self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Ca(_) => "CA",
            Self::Tofu(_) => "TOFU",
            Self::Whitelist(_) => "WHITELIST",
            Self::CaOrTofu(..) => "CA_OR_TOFU",
        }
    }

    fn certificates(&self) -> Option<Vec<PathBuf>> {
        match self {
            Self::Ca(certs) | Self::CaOrTofu(certs, _) => Some(certs.clone()),
            _ => None,
        }
    }

    fn known_hosts(&self) -> Option<PathBuf> {
        match self {
            Self::Tofu(file) | Self::Whitelist(file) | Self::CaOrTofu(_, file) => {
                Some(file.clone())
            }
            _ => None,
        }
    }
}

/// A `STRICT` `sslConfig` with mutual TLS: the server side presents `server` and trusts
/// clients as `trust` says; the client side (the P2P client, the remote-enclave client)
/// presents `client` and trusts servers the same way. With a known-hosts file, it is the
/// server's `knownClientsFile` and the client's `knownServersFile` alike; use
/// [`strict_with`] to set them apart.
pub fn strict(server: &Pem, client: &Pem, trust: Trust) -> SslConfig {
    strict_with(server, client, trust.clone(), trust)
}

/// [`strict`] with one trust for the server side (whom it accepts as clients) and another for
/// the client side (which servers it accepts).
pub fn strict_with(
    server: &Pem,
    client: &Pem,
    server_trust: Trust,
    client_trust: Trust,
) -> SslConfig {
    SslConfig {
        tls: Some("STRICT".to_owned()),
        ssl_config_type: Some("SERVER_AND_CLIENT".to_owned()),
        client_auth: Some(true),
        server_tls_key_path: Some(server.key.clone()),
        server_tls_certificate_path: Some(server.cert.clone()),
        server_trust_mode: Some(server_trust.mode().to_owned()),
        server_trust_certificates: server_trust.certificates(),
        known_clients_file: server_trust.known_hosts(),
        client_tls_key_path: Some(client.key.clone()),
        client_tls_certificate_path: Some(client.cert.clone()),
        client_trust_mode: Some(client_trust.mode().to_owned()),
        client_trust_certificates: client_trust.certificates(),
        known_servers_file: client_trust.known_hosts(),
        ..SslConfig::default()
    }
}

/// A blocking HTTPS client that presents the client half of `ssl` and trusts servers as it
/// says (built by tm-tls, as our services build theirs).
pub fn https_client(ssl: &SslConfig) -> reqwest::blocking::Client {
    let entry = tm_config::ServerConfig {
        app: Some(tm_config::AppType::P2P),
        server_address: Some("https://localhost:1".to_owned()),
        ssl_config: Some(ssl.clone()),
        ..tm_config::ServerConfig::default()
    };
    let tls = tm_tls::client_tls(&entry)
        .unwrap_or_else(|e| panic!("the client half of the sslConfig: {e}"))
        .expect("a STRICT sslConfig");
    reqwest::blocking::Client::builder()
        .use_preconfigured_tls(tls.rustls())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTPS client")
}

/// A blocking HTTPS client that trusts the CA certificate `ca` (a PEM file) and presents no
/// certificate of its own.
pub fn https_client_without_certificate(ca: &Path) -> reqwest::blocking::Client {
    let pem = std::fs::read(ca).unwrap_or_else(|e| panic!("{}: {e}", ca.display()));
    reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("an HTTPS client")
}

/// A known-hosts file line for `pem`: `<CN> <hex SHA-1 of the DER>` (Tessera's format).
pub fn known_host_line(pem: &Pem) -> String {
    format!("{} {}", pem.common_name(), pem.sha1_fingerprint())
}

fn new_key(path: &Path) {
    openssl(&[
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        &path.display().to_string(),
    ]);
}

/// Runs `openssl` with `args`; its stdout. Panics, saying what to install, when it is missing
/// or fails.
pub fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl` ({e}): the TLS tests and `cargo xtask cluster up --tls` \
                 need it; install it with scripts/install-tls-tools.sh"
            )
        });
    assert!(
        output.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
