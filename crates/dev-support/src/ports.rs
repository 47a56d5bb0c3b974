//! Listening sockets on loopback: the one place ports come from.
//!
//! A port is never picked by probing (bind, read, release, hope nobody takes it): the caller
//! binds `127.0.0.1:0`, keeps the listener, reads the port the kernel chose, and hands the
//! listener itself to the server.

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

/// A TCP listener on a loopback port the kernel chooses.
pub fn loopback() -> io::Result<TcpListener> {
    TcpListener::bind("127.0.0.1:0")
}

/// A TCP listener on `127.0.0.1:port` again, for a service restarted on the port it had (and
/// advertised) before. Retries for up to 5 s while the old socket is being closed.
pub fn rebind(port: u16) -> io::Result<TcpListener> {
    let started = Instant::now();
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(listener) => return Ok(listener),
            Err(e) if started.elapsed() > Duration::from_secs(5) => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A unix socket listener at `path` (a stale socket file from an earlier run is removed).
pub fn unix(path: &Path) -> io::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    UnixListener::bind(path)
}

/// The port a TCP listener is bound to.
pub fn port(listener: &TcpListener) -> io::Result<u16> {
    Ok(listener.local_addr()?.port())
}

/// `http://127.0.0.1:<port>`, the URL of a loopback port (no trailing slash).
pub fn http_url(port: u16) -> String {
    format!("http://127.0.0.1:{port}")
}
