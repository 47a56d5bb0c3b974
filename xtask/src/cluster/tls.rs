//! `cluster up --tls`: the local network on mutual TLS in `CA` mode (docs/security.md, "TLS").
//!
//! A CA generated with `openssl` in `<dir>/tls` signs one certificate per node (CN `node1`,
//! ...; valid for `localhost` and `127.0.0.1`), used by every server entry of the node (P2P,
//! Q2T, ThirdParty, ENCLAVE) as server and as client, and one for the xtask itself (`xtask`:
//! health checks, party info) and the balancer's checks (`balancer`). Every service trusts the
//! CA and requires a client certificate. The Q2T unix socket stays plain.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tm_config::SslConfig;
use tm_dev_support::tls::{strict, Pem, Pki, Trust};

/// The CA and the xtask's own certificate, in `<cluster dir>/tls`.
pub fn create(cluster_dir: &Path) -> Result<PathBuf, String> {
    openssl_available()?;
    let dir = cluster_dir.join("tls");
    let pki = Pki::create(&dir);
    pki.issue("xtask");
    let balancer = pki.issue("balancer");
    // HAProxy wants the certificate and its key in one file.
    let combined = [&balancer.cert, &balancer.key]
        .iter()
        .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
        .collect::<Result<Vec<_>, _>>()?
        .concat();
    std::fs::write(dir.join("balancer-combined.pem"), combined).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// The `sslConfig` of every server entry of node `name`: its certificate (issued now), the
/// CA's trust, mutual TLS.
pub fn node_ssl(tls_dir: &Path, name: &str) -> SslConfig {
    let pki = Pki::open(tls_dir);
    let pem = pki.issue(name);
    strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()]))
}

/// A blocking client presenting the xtask's certificate and trusting the cluster's CA.
pub fn client(tls_dir: &Path) -> reqwest::blocking::Client {
    let pki = Pki::open(tls_dir);
    let pem = Pem {
        key: tls_dir.join("xtask.key"),
        cert: tls_dir.join("xtask.pem"),
    };
    tm_dev_support::tls::https_client(&strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()])))
}

/// A Q2T (or ThirdParty) client of `https` URL `url` presenting the xtask's certificate and
/// trusting the cluster's CA; connections are reused, as GoQuorum's are.
pub fn q2t_client(url: &str, tls_dir: &Path) -> Result<tm_client::q2t::Q2tClient, String> {
    let pki = Pki::open(tls_dir);
    let pem = Pem {
        key: tls_dir.join("xtask.key"),
        cert: tls_dir.join("xtask.pem"),
    };
    let entry = tm_config::ServerConfig {
        app: Some(tm_config::AppType::Q2T),
        server_address: Some(url.to_owned()),
        ssl_config: Some(strict(&pem, &pem, Trust::Ca(vec![pki.ca_cert()]))),
        ..tm_config::ServerConfig::default()
    };
    let tls = tm_tls::client_tls(&entry)
        .map_err(|e| format!("the xtask's TLS client: {e}"))?
        .ok_or_else(|| "the xtask's TLS client: no TLS settings".to_owned())?;
    tm_client::q2t::Q2tClient::tcp_with_tls(url, tls.rustls()).map_err(|e| e.to_string())
}

/// Whether a GET of `url` answers 200 within 2 s; `https` URLs with the xtask's certificate
/// from `tls_dir`.
pub fn get_ok(url: &str, tls_dir: Option<&Path>) -> bool {
    match tls_dir {
        Some(dir) if url.starts_with("https://") => client(dir)
            .get(url)
            .timeout(Duration::from_secs(2))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200),
        _ => tm_dev_support::http_ok(url),
    }
}

fn openssl_available() -> Result<(), String> {
    match std::process::Command::new("openssl")
        .arg("version")
        .output()
    {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err(
            "--tls generates its CA with `openssl`, which is missing: run \
             scripts/install-tls-tools.sh"
                .into(),
        ),
    }
}
