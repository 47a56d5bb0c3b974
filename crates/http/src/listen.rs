//! Where a server listens: a TCP address or a unix socket.

use std::fmt;
use std::path::PathBuf;

use std::net::TcpListener;
use std::os::unix::net::UnixListener;

/// A listening address (services build it from `tm_config::ServerAddress`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Listen {
    /// `host:port`.
    Tcp(String),
    /// A unix domain socket path (`unix:/path/tm.ipc`).
    Unix(PathBuf),
}

impl Listen {
    /// Opens the listening socket. A stale unix socket file from an earlier run is removed
    /// first. Hand the result to [`listen_on!`](crate::listen_on).
    pub fn open(&self) -> std::io::Result<Listener> {
        match self {
            Self::Tcp(address) => Ok(Listener::Tcp(TcpListener::bind(address)?)),
            Self::Unix(path) => {
                remove_stale_socket(path)?;
                Ok(Listener::Unix(UnixListener::bind(path)?))
            }
        }
    }
}

/// An open listening socket, handed to a server. Tests bind `127.0.0.1:0` themselves and pass
/// the listener in, so they never pick a port by probing.
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// A unix domain socket.
    Unix(UnixListener),
}

impl Listener {
    /// A TCP listener on a free loopback port chosen by the kernel.
    pub fn loopback() -> std::io::Result<Self> {
        Ok(Self::Tcp(TcpListener::bind("127.0.0.1:0")?))
    }

    /// The TCP port (`None` for a unix socket).
    pub fn port(&self) -> Option<u16> {
        match self {
            Self::Tcp(l) => l.local_addr().ok().map(|a| a.port()),
            Self::Unix(_) => None,
        }
    }

    /// Where it listens, for logs (`http://127.0.0.1:9000`, `unix:/path`).
    pub fn describe(&self) -> String {
        match self {
            Self::Tcp(l) => l
                .local_addr()
                .map_or_else(|_| "tcp".to_owned(), |a| format!("http://{a}")),
            Self::Unix(l) => l
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix".to_owned()),
        }
    }
}

/// Makes an `actix_web::HttpServer` listen on a [`Listener`] socket:
/// `let server = tm_http::listen_on!(HttpServer::new(...), bound)?;`
#[macro_export]
macro_rules! listen_on {
    ($server:expr, $bound:expr) => {
        match $bound {
            $crate::listen::Listener::Tcp(listener) => $server.listen(listener),
            $crate::listen::Listener::Unix(listener) => $server.listen_uds(listener),
        }
    };
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(address) => write!(f, "http://{address}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

fn remove_stale_socket(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if meta.file_type().is_socket() {
                // Nothing answers on a socket file left by a process that is gone.
                if std::os::unix::net::UnixStream::connect(path).is_err() {
                    std::fs::remove_file(path)?;
                }
            }
        }
    }
    Ok(())
}
