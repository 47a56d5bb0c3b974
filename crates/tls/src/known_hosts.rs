//! Tessera's known-hosts files (`knownClientsFile`, `knownServersFile`; its
//! `AbstractTrustManager`): one line per peer, `<CN of the peer's certificate> <lower-case hex
//! SHA-1 of the certificate's DER>`, separated by one space, `\n` after each. Read at start
//! (the last line for a CN wins); TOFU appends a line for each CN seen for the first time,
//! creating the file (and its folder) when missing.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::TlsError;

/// A known-hosts file and what it said.
#[derive(Debug)]
pub(crate) struct KnownHosts {
    path: PathBuf,
    /// CN → fingerprint. The lock also serialises appends, so two handshakes with the same new
    /// CN cannot both record it.
    entries: Mutex<HashMap<String, String>>,
}

impl KnownHosts {
    /// Reads `path`; a missing file is an empty list (TOFU creates it).
    pub(crate) fn open(path: &Path, field: &str) -> Result<Self, TlsError> {
        let entries = read(path)
            .map_err(|e| TlsError::new(format!("sslConfig.{field} {}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
        })
    }

    /// WHITELIST: the CN is listed with this fingerprint.
    pub(crate) fn check_listed(&self, cn: &str, fingerprint: &str) -> Result<(), String> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(cn) {
            Some(known) if known.eq_ignore_ascii_case(fingerprint) => Ok(()),
            Some(_) => Err(format!(
                "{cn} is listed in {} with another certificate",
                self.path.display()
            )),
            None => Err(format!("{cn} is not listed in {}", self.path.display())),
        }
    }

    /// TOFU: a known CN must come with its recorded fingerprint; an unknown one is recorded.
    pub(crate) fn trust_on_first_use(&self, cn: &str, fingerprint: &str) -> Result<(), String> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if !entries.contains_key(cn) {
            // Another process sharing the file (replicas of a service) may have recorded it
            // since we read it.
            if let Ok(now) = read(&self.path) {
                entries.extend(now);
            }
        }
        match entries.get(cn) {
            Some(known) if known.eq_ignore_ascii_case(fingerprint) => Ok(()),
            Some(_) => Err(format!(
                "{cn} has been associated with a different certificate in {}",
                self.path.display()
            )),
            None => {
                self.append(cn, fingerprint).map_err(|e| {
                    format!(
                        "failed to save {cn} and its fingerprint to {}: {e}",
                        self.path.display()
                    )
                })?;
                tracing::info!(
                    file = %self.path.display(),
                    cn,
                    fingerprint,
                    "added an entry to the known hosts file"
                );
                entries.insert(cn.to_string(), fingerprint.to_string());
                Ok(())
            }
        }
    }

    fn append(&self, cn: &str, fingerprint: &str) -> std::io::Result<()> {
        if let Some(parent) = self.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&self.path)?;
        file.write_all(format!("{cn} {fingerprint}\n").as_bytes())
    }
}

/// Parses a known-hosts file as Tessera does (`line.split(" ")`: the first two fields). Blank
/// lines are skipped (Tessera fails on them); a line without a second field is an error.
fn read(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(format!("cannot read: {e}")),
    };
    let mut entries = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(' ');
        let cn = fields.next().unwrap_or_default();
        match fields.next() {
            Some(fingerprint) if !fingerprint.is_empty() => {
                entries.insert(cn.to_string(), fingerprint.to_string());
            }
            _ => {
                return Err(format!(
                    "line {} is not `<common name> <sha-1 fingerprint>`",
                    number + 1
                ))
            }
        }
    }
    Ok(entries)
}
