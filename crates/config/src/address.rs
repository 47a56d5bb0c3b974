//! `serverAddress` / `bindingAddress`: `http(s)://host:port` or `unix:/path`
//! (docs/protocol.md §12.4).

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// A server address that is not usable.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct AddressError(pub String);

/// HTTP or HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A parsed server address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerAddress {
    /// A TCP address with an explicit port.
    Tcp {
        /// `http` or `https`.
        scheme: Scheme,
        /// Host name or IP literal as written (IPv6 without brackets).
        host: String,
        /// The port (Tessera requires one).
        port: u16,
    },
    /// A Unix domain socket: the absolute path of the socket file.
    Unix(PathBuf),
}

impl ServerAddress {
    /// Parses an address as Tessera accepts it: `http` and `https` with a port, or `unix:` with
    /// a path (made absolute against the working directory, as Java's `Path.toAbsolutePath`).
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AddressError("address is empty".into()));
        }
        if let Some(rest) = text.strip_prefix("unix:") {
            return unix_path(rest).map(Self::Unix);
        }
        let url = url::Url::parse(text)
            .map_err(|e| AddressError(format!("{text:?} is not a valid URI: {e}")))?;
        let scheme = match url.scheme() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            other => {
                return Err(AddressError(format!(
                    "unsupported scheme {other:?} in {text:?} (expected http, https or unix)"
                )))
            }
        };
        let host = url
            .host_str()
            .ok_or_else(|| AddressError(format!("{text:?} has no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        // `Url` drops the scheme's default port, so look for it in the text as well.
        let port = url.port().or_else(|| explicit_default_port(text, scheme));
        let port = port.ok_or_else(|| AddressError(format!("{text:?} must include a port")))?;
        Ok(Self::Tcp { scheme, host, port })
    }

    /// Whether this is a Unix domain socket.
    pub fn is_unix(&self) -> bool {
        matches!(self, Self::Unix(_))
    }

    /// `host:port` to bind or connect to (IPv6 hosts bracketed); `None` for a socket.
    pub fn host_port(&self) -> Option<String> {
        match self {
            Self::Tcp { host, port, .. } if host.contains(':') => Some(format!("[{host}]:{port}")),
            Self::Tcp { host, port, .. } => Some(format!("{host}:{port}")),
            Self::Unix(_) => None,
        }
    }

    /// The base URL for an HTTP client (`http://host:port/`); `None` for a socket.
    pub fn base_url(&self) -> Option<url::Url> {
        match self {
            Self::Tcp { scheme, .. } => {
                let scheme = match scheme {
                    Scheme::Http => "http",
                    Scheme::Https => "https",
                };
                url::Url::parse(&format!("{scheme}://{}/", self.host_port()?)).ok()
            }
            Self::Unix(_) => None,
        }
    }
}

impl fmt::Display for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { .. } => match self.base_url() {
                Some(url) => f.write_str(url.as_str().trim_end_matches('/')),
                None => f.write_str("<invalid>"),
            },
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

fn explicit_default_port(text: &str, scheme: Scheme) -> Option<u16> {
    let (default, prefix_len) = match scheme {
        Scheme::Http => (80, "http://".len()),
        Scheme::Https => (443, "https://".len()),
    };
    let authority = text.get(prefix_len..)?.split(['/', '?', '#']).next()?;
    let after_host = authority
        .rsplit_once(']')
        .map_or(authority, |(_, rest)| rest);
    after_host
        .rsplit_once(':')
        .filter(|(_, port)| port.parse::<u16>().ok() == Some(default))
        .map(|_| default)
}

fn unix_path(rest: &str) -> Result<PathBuf, AddressError> {
    // `unix:/abs`, `unix:///abs` and `unix:relative` are clear; `unix://host/x` would put
    // `host` in the URI authority, which Tessera's handling of is unconfirmed: refuse it.
    let path = match rest.strip_prefix("//") {
        Some(after) if after.starts_with('/') => after,
        Some(_) => {
            return Err(AddressError(format!(
                "\"unix:{rest}\" has a host part; write unix:/absolute/path"
            )))
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(AddressError("unix address has no path".into()));
    }
    let path = PathBuf::from(path);
    if path.is_absolute() {
        return Ok(path);
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(&path))
        .map_err(|e| AddressError(format!("cannot resolve relative socket path: {e}")))
}
