//! Tessera's key files (docs/protocol.md §3.8): the `.pub` file and the private key JSON, unlocked
//! or locked with Argon2 + secretbox (`argon2sbox`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::nacl::{secretbox_open, secretbox_seal, KEY_LEN};
use crate::{b64, KeyFileError, KeyPair, PrivateKey, PublicKey};

/// Salt length Tessera uses when it locks a key (`KeyEncryptor.SALTLENGTH`).
pub const SALT_LEN: usize = 16;

/// Argon2 parameters of a locked key (`ArgonOptions`); memory in KiB.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgonOptions {
    /// `i`, `d` or `id`. Missing in a file means `id`, as Tessera's config class does.
    #[serde(default = "default_variant")]
    pub variant: String,
    /// Passes over memory.
    pub iterations: u32,
    /// Memory in KiB.
    pub memory: u32,
    /// Lanes.
    pub parallelism: u32,
}

fn default_variant() -> String {
    "id".into()
}

impl Default for ArgonOptions {
    /// Tessera's keygen defaults (`Argon2Impl.DEFAULT_OPTIONS`): Argon2i, 10 passes, 1 GiB, 4 lanes.
    fn default() -> Self {
        Self {
            variant: "i".into(),
            iterations: 10,
            memory: 1_048_576,
            parallelism: 4,
        }
    }
}

impl ArgonOptions {
    /// The 32-byte key Argon2 (v1.3) derives from `password` and `salt` with these options.
    pub fn derive_key(
        &self,
        password: &[u8],
        salt: &[u8],
    ) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyFileError> {
        let algorithm = match self.variant.as_str() {
            "i" => Algorithm::Argon2i,
            "d" => Algorithm::Argon2d,
            "id" => Algorithm::Argon2id,
            other => {
                return Err(KeyFileError::Argon(format!(
                    "unknown variant {other:?}, expected one of i, d, id"
                )))
            }
        };
        let params = Params::new(
            self.memory,
            self.iterations,
            self.parallelism,
            Some(KEY_LEN),
        )
        .map_err(|e| KeyFileError::Argon(e.to_string()))?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        Argon2::new(algorithm, Version::V0x13, params)
            .hash_password_into(password, salt, key.as_mut())
            .map_err(|e| KeyFileError::Argon(e.to_string()))?;
        Ok(key)
    }
}

/// The `type` of a private key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrivateKeyType {
    /// The key in plain base64.
    #[serde(rename = "unlocked")]
    Unlocked,
    /// The key sealed under an Argon2-derived key.
    #[serde(rename = "argon2sbox")]
    Argon2Sbox,
}

/// The `data` member of a private key file (`PrivateKeyData`).
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct PrivateKeyData {
    /// Unlocked: the base64 private key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Zeroizing<String>>,
    /// Locked: the secretbox nonce, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snonce: Option<String>,
    /// Locked: the Argon2 salt, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asalt: Option<String>,
    /// Locked: the sealed private key, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sbox: Option<String>,
    /// Locked: the Argon2 options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aopts: Option<ArgonOptions>,
}

impl std::fmt::Debug for PrivateKeyData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKeyData")
            .field("bytes", &self.bytes.as_ref().map(|_| "<redacted>"))
            .field("snonce", &self.snonce)
            .field("asalt", &self.asalt)
            .field("sbox", &self.sbox)
            .field("aopts", &self.aopts)
            .finish()
    }
}

/// A private key file (`KeyDataConfig`): `{"type": ..., "data": {...}}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PrivateKeyFile {
    /// Locked or not.
    #[serde(rename = "type")]
    pub key_type: PrivateKeyType,
    /// The key material.
    pub data: PrivateKeyData,
}

impl PrivateKeyFile {
    /// Parses the JSON. Errors give the position only, never the content.
    pub fn parse(json: &str) -> Result<Self, KeyFileError> {
        serde_json::from_str(json).map_err(|e| {
            KeyFileError::Format(format!(
                "not a Tessera private key file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    /// An unlocked file for `key`.
    pub fn unlocked(key: &PrivateKey) -> Self {
        Self {
            key_type: PrivateKeyType::Unlocked,
            data: PrivateKeyData {
                bytes: Some(key.expose_base64()),
                ..PrivateKeyData::default()
            },
        }
    }

    /// A file locked with `password` (`KeyEncryptorImpl.encryptPrivateKey`): a random 16-byte
    /// salt and 24-byte nonce, `sbox = secretbox(key, snonce, Argon2(password, salt))`.
    pub fn locked(
        key: &PrivateKey,
        password: &str,
        options: ArgonOptions,
    ) -> Result<Self, KeyFileError> {
        let mut salt = [0u8; SALT_LEN];
        crate::nacl::fill_random(&mut salt)?;
        let nonce = crate::nacl::random_nonce()?;
        Self::locked_with(key, password, options, &salt, &nonce)
    }

    /// [`PrivateKeyFile::locked`] with the salt and nonce given (for tests and vectors).
    pub fn locked_with(
        key: &PrivateKey,
        password: &str,
        options: ArgonOptions,
        salt: &[u8],
        nonce: &[u8],
    ) -> Result<Self, KeyFileError> {
        let secret = options.derive_key(password.as_bytes(), salt)?;
        let sbox = secretbox_seal(&secret, nonce, key.expose_bytes())?;
        Ok(Self {
            key_type: PrivateKeyType::Argon2Sbox,
            data: PrivateKeyData {
                bytes: None,
                snonce: Some(b64::encode(nonce)),
                asalt: Some(b64::encode(salt)),
                sbox: Some(b64::encode(sbox)),
                aopts: Some(options),
            },
        })
    }

    /// Whether a password is needed to read the key.
    pub fn is_locked(&self) -> bool {
        self.key_type == PrivateKeyType::Argon2Sbox
    }

    /// The private key; `password` is required for a locked file and ignored otherwise.
    ///
    /// Argon2 with Tessera's defaults takes seconds and 1 GiB: call this off async workers.
    pub fn unlock(&self, password: Option<&str>) -> Result<PrivateKey, KeyFileError> {
        let missing = |what: &str| KeyFileError::Format(format!("missing data.{what}"));
        let bad = |what: &str| KeyFileError::Format(format!("data.{what} is not valid base64"));
        match self.key_type {
            PrivateKeyType::Unlocked => {
                let text = self.data.bytes.as_ref().ok_or_else(|| missing("bytes"))?;
                PrivateKey::from_base64(text).map_err(|_| {
                    KeyFileError::Format("data.bytes is not a base64 32-byte private key".into())
                })
            }
            PrivateKeyType::Argon2Sbox => {
                let password = password.ok_or(KeyFileError::PasswordRequired)?;
                let field = |value: &Option<String>, name: &'static str| {
                    let text = value.as_ref().ok_or_else(|| missing(name))?;
                    b64::decode(text, name).map_err(|_| bad(name))
                };
                let nonce = field(&self.data.snonce, "snonce")?;
                let salt = field(&self.data.asalt, "asalt")?;
                let sbox = field(&self.data.sbox, "sbox")?;
                let options = self.data.aopts.as_ref().ok_or_else(|| missing("aopts"))?;
                let secret = options.derive_key(password.as_bytes(), &salt)?;
                let bytes = Zeroizing::new(
                    secretbox_open(&secret, &nonce, &sbox, "private key")
                        .map_err(|_| KeyFileError::WrongPassword)?,
                );
                PrivateKey::from_slice(&bytes).map_err(KeyFileError::Crypto)
            }
        }
    }

    /// The JSON as Tessera's keygen writes it (pretty-printed). Wiped on drop, since an
    /// unlocked file holds the key.
    pub fn to_json(&self) -> Zeroizing<String> {
        // Serialising these plain structs cannot fail.
        Zeroizing::new(serde_json::to_string_pretty(self).unwrap_or_default())
    }
}

/// Reads a `.pub` file's content: one line of base64, surrounding white space ignored.
pub fn parse_public_key_file(text: &str) -> Result<PublicKey, KeyFileError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeyFileError::PublicKey("the file is empty".into()));
    }
    if trimmed.lines().count() != 1 {
        return Err(KeyFileError::PublicKey("expected exactly one line".into()));
    }
    PublicKey::from_base64(trimmed).map_err(|_| KeyFileError::PublicKey("not valid base64".into()))
}

/// The two files keygen writes for `name`: `<name>.pub` and `<name>.key`.
pub fn key_file_paths(name: &Path) -> (PathBuf, PathBuf) {
    let with = |ext: &str| {
        let mut path = name.as_os_str().to_owned();
        path.push(ext);
        PathBuf::from(path)
    };
    (with(".pub"), with(".key"))
}

/// Generates a key pair and writes it as Tessera's keygen does (docs/protocol.md §14.2):
/// `<name>.pub` (base64, no newline) and `<name>.key` (JSON, locked when a non-empty password
/// is given), refusing to overwrite either file. The private key file is readable by its owner
/// only.
pub fn write_new_key_pair(
    name: &Path,
    password: Option<&str>,
    options: &ArgonOptions,
) -> Result<KeyPair, KeyFileError> {
    let pair = KeyPair::generate()?;
    let key_file = match password.filter(|p| !p.is_empty()) {
        Some(password) => PrivateKeyFile::locked(&pair.private, password, options.clone())?,
        None => PrivateKeyFile::unlocked(&pair.private),
    };
    let (pub_path, key_path) = key_file_paths(name);
    for path in [&pub_path, &key_path] {
        if path.exists() {
            return Err(KeyFileError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "file exists; not overwriting",
                ),
            });
        }
    }
    create_new(&pub_path, pair.public.to_base64().as_bytes(), 0o644)?;
    if let Err(e) = create_new(&key_path, key_file.to_json().as_bytes(), 0o600) {
        let _ = std::fs::remove_file(&pub_path);
        return Err(e);
    }
    Ok(pair)
}

fn create_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), KeyFileError> {
    let io = |source| KeyFileError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)
}
