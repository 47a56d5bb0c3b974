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
    pub fn open(&self) -> std::io::Result<Bound> {
        match self {
            Self::Tcp(address) => Ok(Bound::Tcp(TcpListener::bind(address)?)),
            Self::Unix(path) => {
                remove_stale_socket(path)?;
                Ok(Bound::Unix(UnixListener::bind(path)?))
            }
        }
    }
}

/// An open listening socket.
#[derive(Debug)]
pub enum Bound {
    /// TCP.
    Tcp(TcpListener),
    /// A unix domain socket.
    Unix(UnixListener),
}

impl Bound {
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

/// Makes an `actix_web::HttpServer` listen on a [`Bound`] socket:
/// `let server = tm_http::listen_on!(HttpServer::new(...), bound)?;`
#[macro_export]
macro_rules! listen_on {
    ($server:expr, $bound:expr) => {
        match $bound {
            $crate::listen::Bound::Tcp(listener) => $server.listen(listener),
            $crate::listen::Bound::Unix(listener) => $server.listen_uds(listener),
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
