//! `generateKeyStoreIfNotExisted`: a self-signed identity written as Tessera's `TlsUtils` writes
//! it: a JKS keystore with one key entry, alias `tessera`, key and store under the configured
//! password; CN = the address without its scheme (`https://0.0.0.0:9001` → `0.0.0.0:9001`);
//! subject alternative names `localhost`, the host name, `127.0.0.1`, `0.0.0.0` and the host's
//! address; one year; a random 64-bit serial.
//!
//! One departure: the key is ECDSA P-256 (signed with SHA-256) where Tessera makes RSA 2048
//! with SHA512withRSA, because the ring provider cannot generate RSA keys. Java and rustls peers
//! accept both.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, ToSocketAddrs};
use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType, SerialNumber};

use crate::settings::Password;
use crate::TlsError;

/// The alias Tessera gives the generated key entry.
pub(crate) const ALIAS: &str = "tessera";

/// Writes a new keystore at `path` for `address`.
pub(crate) fn key_store(path: &Path, password: &Password, address: &str) -> Result<(), TlsError> {
    let fail = |what: String| {
        TlsError::new(format!(
            "cannot generate the keystore {}: {what}",
            path.display()
        ))
    };
    let key =
        KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| fail(e.to_string()))?;
    let params = certificate_params(address).map_err(|e| fail(e.to_string()))?;
    let certificate = params.self_signed(&key).map_err(|e| fail(e.to_string()))?;

    let mut store = jks::KeyStore::with_options(jks::KeyStoreOptions {
        min_password_len: 0,
        ..Default::default()
    });
    let entry = jks::PrivateKeyEntry {
        creation_time: std::time::SystemTime::now(),
        private_key: key.serialize_der(),
        certificate_chain: vec![jks::Certificate {
            cert_type: "X.509".into(),
            content: certificate.der().to_vec(),
        }],
    };
    store
        .set_private_key_entry(ALIAS, entry, password.as_bytes())
        .map_err(|e| fail(e.to_string()))?;
    let mut bytes = Vec::new();
    store
        .store(&mut bytes, password.as_bytes())
        .map_err(|e| fail(e.to_string()))?;

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| fail(e.to_string()))?;
    file.write_all(&bytes).map_err(|e| fail(e.to_string()))?;
    tracing::info!(
        path = %path.display(),
        alias = ALIAS,
        "generated a self-signed TLS keystore"
    );
    Ok(())
}

fn certificate_params(address: &str) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name(address));
    params.distinguished_name = name;

    let host = host_name();
    let mut names = vec![SanType::DnsName("localhost".try_into()?)];
    if let Ok(dns) = host.as_str().try_into() {
        names.push(SanType::DnsName(dns));
    }
    names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    if let Some(ip) = host_address(&host) {
        names.push(SanType::IpAddress(ip));
    }
    params.subject_alt_names = names;

    let now = time::OffsetDateTime::now_utc();
    params.not_before = now;
    params.not_after = now
        .replace_year(now.year() + 1)
        .unwrap_or(now + time::Duration::days(365));
    let mut serial = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut serial)
        .map_err(|_| rcgen::Error::RingUnspecified)?;
    serial[0] &= 0x7f; // positive, as Java's BigInteger(64, random)
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

/// Tessera's CN: the address with a leading `http(s)://www.`, `http(s)://` or `www.` removed.
pub(crate) fn common_name(address: &str) -> String {
    for prefix in ["http://www.", "https://www.", "http://", "https://", "www."] {
        if let Some(rest) = address.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    address.to_string()
}

/// The host's name (Java's `InetAddress.getLocalHost().getHostName()`).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The address the host's name resolves to (`getLocalHost().getHostAddress()`).
fn host_address(host: &str) -> Option<IpAddr> {
    let addresses: Vec<IpAddr> = (host, 0).to_socket_addrs().ok()?.map(|a| a.ip()).collect();
    addresses
        .iter()
        .find(|ip| ip.is_ipv4())
        .or(addresses.first())
        .copied()
}
