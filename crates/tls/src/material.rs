//! Key material as Tessera reads it (`SSLContextBuilder`, `SSLKeyStoreLoader`): a keystore (JKS
//! or PKCS12, as `keytool` writes them; the key's password is the store's) takes precedence over
//! PEM files; trust comes from a trust store or from PEM certificate files.

use std::path::Path;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;

use crate::settings::{Half, Password};
use crate::{generate, TlsError};

/// What a keystore holds: its key entries and every certificate it trusts.
pub(crate) struct KeyStoreContents {
    /// `(alias, PKCS#8 key, chain)`, by alias.
    pub(crate) keys: Vec<(String, PrivateKeyDer<'static>, Vec<CertificateDer<'static>>)>,
    /// Trusted-certificate entries and the first certificate of each key entry (the JDK's
    /// trust manager factory trusts both).
    pub(crate) trusted: Vec<CertificateDer<'static>>,
}

/// The certificate chain and key this half presents.
pub(crate) fn identity(half: &Half, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let side = half.side;
    let (chain, key, source) = if let Some(store) = &half.key_store {
        let field = side.field("KeyStore");
        let password = half.key_store_password.as_ref().ok_or_else(|| {
            TlsError::new(format!(
                "sslConfig.{field} {} needs a password: set {}",
                store.display(),
                half.password_sources("KEYSTORE", "KeyStorePassword")
            ))
        })?;
        if !store.exists() {
            if half.generate {
                generate::key_store(store, password, &half.address)?;
            } else if half.key_path.is_some() || half.certificate_path.is_some() {
                // Tessera would generate it anyway; its validator accepts the PEM files, so use
                // them (docs/tls.md).
                return pem_identity(half, provider);
            } else {
                return Err(TlsError::new(format!(
                    "sslConfig.{field} {} does not exist: create it, or set \
                     generateKeyStoreIfNotExisted to true to have it generated",
                    store.display()
                )));
            }
        }
        let contents = read_key_store(store, password, &field)?;
        let (alias, key, chain) = contents.keys.into_iter().next().ok_or_else(|| {
            TlsError::new(format!(
                "sslConfig.{field} {} holds no private key entry",
                store.display()
            ))
        })?;
        let source = format!("sslConfig.{field} {} (alias {alias})", store.display());
        (chain, key, source)
    } else if half.key_path.is_some() || half.certificate_path.is_some() {
        return pem_identity(half, provider);
    } else if half.generate {
        return Err(TlsError::new(format!(
            "sslConfig.generateKeyStoreIfNotExisted needs sslConfig.{}: the path to write the \
             keystore to",
            side.field("KeyStore")
        )));
    } else {
        return Err(TlsError::new(format!(
            "sslConfig.tls is STRICT but the {side_name} has no key material: set \
             sslConfig.{ks} (with its password), or {key} and {cert}, or \
             generateKeyStoreIfNotExisted with {ks}",
            side_name = side.name(),
            ks = side.field("KeyStore"),
            key = side.field("TlsKeyPath"),
            cert = side.field("TlsCertificatePath"),
        )));
    };
    certified(chain, key, provider, &source)
}

fn pem_identity(half: &Half, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let side = half.side;
    let key_field = side.field("TlsKeyPath");
    let cert_field = side.field("TlsCertificatePath");
    let (Some(key_path), Some(cert_path)) = (&half.key_path, &half.certificate_path) else {
        let missing = if half.key_path.is_none() {
            &key_field
        } else {
            &cert_field
        };
        return Err(TlsError::new(format!(
            "sslConfig.{missing} is missing: PEM key material needs both {key_field} and \
             {cert_field}"
        )));
    };
    let chain = pem_certificates(cert_path, &cert_field)?;
    let key = pem_key(key_path, &key_field)?;
    certified(
        chain,
        key,
        provider,
        &format!("sslConfig.{key_field} {}", key_path.display()),
    )
}

fn certified(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: &CryptoProvider,
    source: &str,
) -> Result<CertifiedKey, TlsError> {
    if chain.is_empty() {
        return Err(TlsError::new(format!(
            "{source}: no certificate for the key"
        )));
    }
    CertifiedKey::from_der(chain, key, provider).map_err(|e| {
        // rustls' messages name the problem (unsupported key type, key/certificate mismatch)
        // and never the key itself.
        TlsError::new(format!("{source}: the key cannot be used: {e}"))
    })
}

/// Every certificate in a PEM file (Tessera: at least one, `NO CERTIFICATE FOUND IN FILE`).
pub(crate) fn pem_certificates(
    path: &Path,
    field: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let text = read(path, field)?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            TlsError::new(format!(
                "sslConfig.{field} {}: not a PEM certificate file: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(TlsError::new(format!(
            "sslConfig.{field} {}: no certificate found in the file",
            path.display()
        )));
    }
    Ok(certs)
}

/// The private key of a PEM file: PKCS#8 (`BEGIN PRIVATE KEY`, what Tessera reads), PKCS#1 or
/// SEC1. Encrypted keys are not supported (nor are they by Tessera).
fn pem_key(path: &Path, field: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let text = read(path, field)?;
    let plain = String::from_utf8_lossy(&text);
    if plain.contains("ENCRYPTED PRIVATE KEY") || plain.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(TlsError::new(format!(
            "sslConfig.{field} {}: the key is encrypted; give an unencrypted PKCS#8 key",
            path.display()
        )));
    }
    PrivateKeyDer::from_pem_slice(&text).map_err(|_| {
        TlsError::new(format!(
            "sslConfig.{field} {}: no private key found in the file",
            path.display()
        ))
    })
}

/// The certificates a trust store or the trust certificate files hold (CA modes only).
pub(crate) fn trust_certificates(half: &Half) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let side = half.side;
    if let Some(store) = &half.trust_store {
        let field = side.field("TrustStore");
        if !store.exists() {
            return Err(TlsError::new(format!(
                "sslConfig.{field} {} does not exist (trust mode {})",
                store.display(),
                half.mode
            )));
        }
        let password = half.trust_store_password.as_ref().ok_or_else(|| {
            TlsError::new(format!(
                "sslConfig.{field} {} needs a password: set {}",
                store.display(),
                half.password_sources("TRUSTSTORE", "TrustStorePassword")
            ))
        })?;
        let contents = read_key_store(store, password, &field)?;
        if contents.trusted.is_empty() {
            return Err(TlsError::new(format!(
                "sslConfig.{field} {} holds no certificate",
                store.display()
            )));
        }
        return Ok(contents.trusted);
    }
    let field = side.field("TrustCertificates");
    let Some(paths) = &half.trust_certificates else {
        return Err(TlsError::new(format!(
            "trust mode {} needs sslConfig.{} or sslConfig.{field}",
            half.mode,
            side.field("TrustStore"),
        )));
    };
    let mut certs = Vec::new();
    for path in paths {
        certs.extend(pem_certificates(path, &field)?);
    }
    if certs.is_empty() {
        return Err(TlsError::new(format!(
            "sslConfig.{field} is empty: trust mode {} needs at least one certificate",
            half.mode
        )));
    }
    Ok(certs)
}

/// Reads a JKS (magic `FEEDFEED`) or PKCS12 keystore; a key entry's password is the store's.
pub(crate) fn read_key_store(
    path: &Path,
    password: &Password,
    field: &str,
) -> Result<KeyStoreContents, TlsError> {
    let bytes = read(path, field)?;
    let at = || format!("sslConfig.{field} {}", path.display());
    match bytes.get(..4) {
        Some([0xfe, 0xed, 0xfe, 0xed]) => read_jks(&bytes, password).map_err(|e| {
            TlsError::new(format!(
                "{}: cannot read the JKS keystore ({e}): wrong password or damaged file",
                at()
            ))
        }),
        Some([0xce, 0xce, 0xce, 0xce]) => Err(TlsError::new(format!(
            "{}: JCEKS keystores are not supported; convert it to PKCS12 with keytool \
             -importkeystore",
            at()
        ))),
        Some([0x30, ..]) => read_pkcs12(&bytes, password).map_err(|e| {
            TlsError::new(format!(
                "{}: cannot read the PKCS12 keystore ({e}): wrong password or damaged file",
                at()
            ))
        }),
        _ => Err(TlsError::new(format!(
            "{}: not a JKS or PKCS12 keystore",
            at()
        ))),
    }
}

fn jks_options() -> jks::KeyStoreOptions {
    jks::KeyStoreOptions {
        ordered_aliases: true,
        // The JDK's KeyStore API has no minimum (only keytool asks for six characters).
        min_password_len: 0,
        ..Default::default()
    }
}

fn read_jks(bytes: &[u8], password: &Password) -> Result<KeyStoreContents, String> {
    let mut store = jks::KeyStore::with_options(jks_options());
    store
        .load(bytes, password.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut aliases = store.aliases();
    aliases.sort();
    let mut contents = KeyStoreContents {
        keys: Vec::new(),
        trusted: Vec::new(),
    };
    for alias in aliases {
        if store.is_private_key_entry(&alias) {
            let entry = store
                .get_private_key_entry(&alias, password.as_bytes())
                .map_err(|e| format!("key entry {alias}: {e}"))?;
            let chain: Vec<CertificateDer<'static>> = entry
                .certificate_chain
                .iter()
                .map(|c| CertificateDer::from(c.content.clone()))
                .collect();
            if let Some(first) = chain.first() {
                contents.trusted.push(first.clone());
            }
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(entry.private_key.clone()));
            contents.keys.push((alias, key, chain));
        } else if let Ok(entry) = store.get_trusted_certificate_entry(&alias) {
            contents
                .trusted
                .push(CertificateDer::from(entry.certificate.content.clone()));
        }
    }
    Ok(contents)
}

fn read_pkcs12(bytes: &[u8], password: &Password) -> Result<KeyStoreContents, String> {
    use p12_keystore::{KeyStore, KeyStoreEntry, Pkcs12ImportPolicy};
    let store = KeyStore::from_pkcs12(bytes, password.as_str(), Pkcs12ImportPolicy::Relaxed)
        .map_err(|e| e.to_string())?;
    let mut contents = KeyStoreContents {
        keys: Vec::new(),
        trusted: Vec::new(),
    };
    for (alias, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => {
                let certs: Vec<CertificateDer<'static>> = chain
                    .certs()
                    .iter()
                    .map(|c| CertificateDer::from(c.as_der().to_vec()))
                    .collect();
                if let Some(first) = certs.first() {
                    contents.trusted.push(first.clone());
                }
                let key =
                    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(chain.key().as_der().to_vec()));
                contents.keys.push((alias.clone(), key, certs));
            }
            KeyStoreEntry::Certificate(cert) => contents
                .trusted
                .push(CertificateDer::from(cert.as_der().to_vec())),
            KeyStoreEntry::Secret(_) => {}
        }
    }
    Ok(contents)
}

fn read(path: &Path, field: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| {
        TlsError::new(format!(
            "sslConfig.{field} {}: cannot read: {e}",
            path.display()
        ))
    })
}
