//! Turning `keys.keyData` into key pairs: inline keys, inline key files, key files on disk,
//! unlocking locked keys with passwords from `keys.passwords`, `keys.passwordFile` or a prompt
//! on the terminal (Tessera's `CliKeyPasswordResolver`, docs/protocol.md §12.5).
//!
//! Unlocking runs Argon2 (1 GiB, seconds with Tessera's defaults): call [`load_key_pairs`]
//! from a blocking thread, never from an async worker.

use std::io::IsTerminal;
use std::path::Path;

use thiserror::Error;
use tm_core::keyfile::{parse_public_key_file, PrivateKeyFile};
use tm_core::{KeyFileError, KeyPair, PrivateKey, PublicKey};
use zeroize::Zeroizing;

use crate::model::{KeyConfiguration, KeyData};
use crate::secret::Secret;

/// How many times Tessera asks for a key's password.
pub const PROMPT_ATTEMPTS: usize = 2;

/// What to do when a locked key has no (valid) password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordPrompt {
    /// Ask on the terminal if standard input is one; otherwise fail with a clear error.
    IfTerminal,
    /// Never ask (tests, services without a terminal).
    Never,
}

/// A key that could not be loaded. Messages name the entry, never key material or passwords.
#[derive(Debug, Error)]
pub enum KeyLoadError {
    /// A key file could not be read.
    #[error("{at}: cannot read {path}: {source}")]
    Io {
        /// The entry, `keys.keyData[N]`.
        at: String,
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A key or key file that is not valid.
    #[error("{at}: {source}")]
    Invalid {
        /// The entry.
        at: String,
        /// Why.
        source: KeyFileError,
    },
    /// A locked key and no password to unlock it.
    #[error("{at}: the private key is locked and no password was given (set keys.passwordFile, or start on a terminal to be prompted)")]
    PasswordRequired {
        /// The entry.
        at: String,
    },
    /// A locked key that the password(s) did not open.
    #[error("{at}: could not decrypt the private key: wrong password")]
    WrongPassword {
        /// The entry.
        at: String,
    },
    /// A key type this implementation does not load (vaults).
    #[error("{at}: {what} is not supported")]
    Unsupported {
        /// The entry.
        at: String,
        /// What.
        what: String,
    },
    /// An entry with no usable key.
    #[error("{at}: {message}")]
    Incomplete {
        /// The entry.
        at: String,
        /// What is missing.
        message: String,
    },
}

/// Loads every key pair of `keys`, in configuration order (the first is the default key).
pub fn load_key_pairs(
    keys: &KeyConfiguration,
    prompt: PasswordPrompt,
) -> Result<Vec<KeyPair>, KeyLoadError> {
    let passwords = configured_passwords(keys)?;
    keys.key_data()
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let password = passwords.get(i).filter(|p| !p.is_empty());
            load_one(entry, i, password.map(|p| p.expose()), prompt)
        })
        .collect()
}

/// The passwords by index: `keys.passwords`, else the lines of `keys.passwordFile`.
fn configured_passwords(keys: &KeyConfiguration) -> Result<Vec<Secret>, KeyLoadError> {
    if let Some(list) = keys.passwords.as_ref().filter(|p| !p.is_empty()) {
        return Ok(list.clone());
    }
    let Some(file) = &keys.password_file else {
        return Ok(Vec::new());
    };
    let text =
        Zeroizing::new(
            std::fs::read_to_string(file).map_err(|source| KeyLoadError::Io {
                at: "keys.passwordFile".into(),
                path: file.display().to_string(),
                source,
            })?,
        );
    Ok(text
        .lines()
        .map(|line| Secret::new(line.trim_end_matches('\r')))
        .collect())
}

fn load_one(
    entry: &KeyData,
    index: usize,
    password: Option<&str>,
    prompt: PasswordPrompt,
) -> Result<KeyPair, KeyLoadError> {
    let at = format!("keys.keyData[{index}]");
    if let Some(vault) = entry.vault_type() {
        return Err(KeyLoadError::Unsupported {
            at,
            what: format!("a key in an {vault} vault"),
        });
    }
    let invalid = |source| KeyLoadError::Invalid {
        at: at.clone(),
        source,
    };
    let public = |text: &Option<String>| -> Result<PublicKey, KeyLoadError> {
        let text = text.as_deref().ok_or_else(|| KeyLoadError::Incomplete {
            at: at.clone(),
            message: "publicKey is missing".into(),
        })?;
        PublicKey::from_base64(text).map_err(|_| {
            invalid(KeyFileError::PublicKey(
                "publicKey is not valid base64".into(),
            ))
        })
    };
    if let Some(private) = &entry.private_key {
        let private = PrivateKey::from_base64(private.expose())
            .map_err(|e| invalid(KeyFileError::Crypto(e)))?;
        return Ok(KeyPair {
            public: public(&entry.public_key)?,
            private,
        });
    }
    if let Some(file) = &entry.config {
        let private = unlock(file, &at, password, prompt)?;
        return Ok(KeyPair {
            public: public(&entry.public_key)?,
            private,
        });
    }
    match (&entry.private_key_path, &entry.public_key_path) {
        (Some(private_path), Some(public_path)) => {
            let public_text = read(public_path, &at)?;
            let public = parse_public_key_file(&public_text).map_err(invalid)?;
            let private_text = Zeroizing::new(read(private_path, &at)?);
            let file = PrivateKeyFile::parse(&private_text).map_err(invalid)?;
            let private = unlock(&file, &at, password, prompt)?;
            Ok(KeyPair { public, private })
        }
        _ => Err(KeyLoadError::Incomplete {
            at,
            message: "give privateKey and publicKey, config and publicKey, or privateKeyPath and publicKeyPath".into(),
        }),
    }
}

fn read(path: &Path, at: &str) -> Result<String, KeyLoadError> {
    std::fs::read_to_string(path).map_err(|source| KeyLoadError::Io {
        at: at.to_string(),
        path: path.display().to_string(),
        source,
    })
}

fn unlock(
    file: &PrivateKeyFile,
    at: &str,
    password: Option<&str>,
    prompt: PasswordPrompt,
) -> Result<PrivateKey, KeyLoadError> {
    let invalid = |source| KeyLoadError::Invalid {
        at: at.to_string(),
        source,
    };
    if !file.is_locked() {
        return file.unlock(None).map_err(invalid);
    }
    let mut wrong = false;
    if let Some(password) = password {
        match file.unlock(Some(password)) {
            Ok(key) => return Ok(key),
            Err(KeyFileError::WrongPassword) => wrong = true,
            Err(other) => return Err(invalid(other)),
        }
    }
    if prompt == PasswordPrompt::Never || !std::io::stdin().is_terminal() {
        return Err(if wrong {
            KeyLoadError::WrongPassword { at: at.into() }
        } else {
            KeyLoadError::PasswordRequired { at: at.into() }
        });
    }
    for attempt in 1..=PROMPT_ATTEMPTS {
        let question = format!(
            "Password for {at} missing or invalid.\nAttempt {attempt} of {PROMPT_ATTEMPTS}. Enter a password for the key: "
        );
        let typed = Zeroizing::new(rpassword::prompt_password(question).map_err(|source| {
            KeyLoadError::Io {
                at: at.into(),
                path: "the terminal".into(),
                source,
            }
        })?);
        match file.unlock(Some(&typed)) {
            Ok(key) => return Ok(key),
            Err(KeyFileError::WrongPassword) => continue,
            Err(other) => return Err(invalid(other)),
        }
    }
    Err(KeyLoadError::WrongPassword { at: at.into() })
}
