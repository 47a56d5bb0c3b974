//! Tessera's JSON configuration file, read as Tessera reads it (docs/protocol.md §12).
//!
//! [`load_file`] reads the file, applies `TESSERA__...` environment overrides and then `-o
//! path=value` overrides on the JSON tree, reads the result into the typed [`Config`]
//! (unknown members are warned about once each and ignored, as Tessera does), and validates it
//! for a [`Profile`], listing every problem in one error. [`load_key_pairs`] turns the `keys`
//! section into key pairs. The config is a plain value passed explicitly to each service.

pub mod address;
pub mod cli;
pub mod keys;
mod lenient;
pub mod model;
pub mod overrides;
pub mod progress;
pub mod secret;
pub mod validate;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;
use thiserror::Error;

pub use address::{AddressError, Scheme, ServerAddress};
pub use keys::{load_key_pairs, KeyLoadError, PasswordPrompt};
pub use model::{
    AppType, ClientMode, Config, CrossDomainConfig, EncryptorConfig, FeatureToggles, JdbcConfig,
    KeyConfiguration, KeyData, Peer, ResidentGroup, ServerConfig, SslConfig,
};
pub use overrides::Override;
pub use secret::Secret;
pub use validate::{validate, Profile, Violation};

/// Why a config could not be loaded.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Not JSON, or a value of the wrong type.
    #[error("Invalid json, cause is {0}")]
    Json(String),
    /// A malformed override.
    #[error("{0}")]
    Override(String),
    /// Validation failed: every problem, one per line.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Violation>),
}

impl ConfigError {
    /// How Tessera exits on it: 1 for validation errors, 4 for command-line (override)
    /// errors, 3 for a file that cannot be read as a config.
    pub fn exit(&self) -> cli::Exit {
        match self {
            Self::Invalid(_) => cli::Exit::InvalidConfig,
            Self::Override(_) => cli::Exit::BadCommandLine,
            Self::Io { .. } | Self::Json(_) => cli::Exit::UnreadableConfig,
        }
    }
}

/// Where environment overrides come from.
#[derive(Clone, Debug, Default)]
pub enum EnvOverrides {
    /// The process environment (`TESSERA__...` variables).
    #[default]
    Process,
    /// These variables instead (tests).
    Vars(Vec<(String, String)>),
    /// None.
    Disabled,
}

/// How to load a config.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// `-o path=value` overrides, applied last, in order.
    pub overrides: Vec<String>,
    /// Environment overrides, applied before the command-line ones.
    pub env: EnvOverrides,
    /// Which rules to validate against.
    pub profile: Profile,
}

impl LoadOptions {
    /// Options for `profile` with the process environment and no overrides.
    pub fn new(profile: Profile) -> Self {
        Self {
            overrides: Vec::new(),
            env: EnvOverrides::Process,
            profile,
        }
    }
}

/// A loaded, validated config with what was ignored in it.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The config.
    pub config: Config,
    /// JSON paths of members that were not recognised (already warned about).
    pub unknown_keys: Vec<String>,
}

/// Reads, overrides, parses and validates the config file at `path`. Relative paths inside
/// the config stay relative to the working directory, as in Tessera.
pub fn load_file(path: &Path, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.display().to_string(),
        source,
    })?;
    load_str(&text, options)
}

/// [`load_file`] over JSON text.
pub fn load_str(json: &str, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    let value: Value = serde_json::from_str(json).map_err(|e| {
        ConfigError::Json(format!(
            "{:?} error at line {}, column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    load_value(value, options)
}

/// [`load_file`] over a JSON tree.
pub fn load_value(mut value: Value, options: &LoadOptions) -> Result<Loaded, ConfigError> {
    if !value.is_object() {
        return Err(ConfigError::Json("the config must be a JSON object".into()));
    }
    let env = match &options.env {
        EnvOverrides::Process => overrides::from_env(None)?,
        EnvOverrides::Vars(vars) => overrides::from_env(Some(vars.clone()))?,
        EnvOverrides::Disabled => Vec::new(),
    };
    for o in &env {
        o.apply(&mut value)?;
    }
    for text in &options.overrides {
        Override::parse(text)?.apply(&mut value)?;
    }
    let (config, unknown_keys) = parse_typed(value)?;
    let violations = validate(&config, options.profile);
    if !violations.is_empty() {
        return Err(ConfigError::Invalid(violations));
    }
    Ok(Loaded {
        config,
        unknown_keys,
    })
}

/// Reads a JSON tree into the typed config without validating it; returns the unknown member
/// paths (each warned about once).
pub fn parse_typed(value: Value) -> Result<(Config, Vec<String>), ConfigError> {
    let mut unknown = BTreeSet::new();
    let mut track = serde_path_to_error::Track::new();
    let result = serde_ignored::deserialize(
        serde_path_to_error::Deserializer::new(value, &mut track),
        |path| {
            unknown.insert(java_path(&path.to_string()));
        },
    );
    let config: Config = result
        .map_err(|e| ConfigError::Json(format!("{}: {e}", java_path(&track.path().to_string()))))?;
    for path in &unknown {
        tracing::warn!(path = %path, "Ignoring unknown/unmatched json element: {path}");
    }
    Ok((config, unknown.into_iter().collect()))
}

/// `serverConfigs.1.enabled` → `serverConfigs[1].enabled`.
fn java_path(dotted: &str) -> String {
    let mut out = String::new();
    for part in dotted.split('.').filter(|p| !p.is_empty() && *p != "?") {
        if part.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str(&format!("[{part}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(part);
        }
    }
    if out.is_empty() {
        ".".into()
    } else {
        out
    }
}
