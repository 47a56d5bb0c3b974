//! tm-tls integration tests: key material made by openssl and keytool at test time
//! (scripts/install-tls-tools.sh), handshakes over loopback TCP.

mod errors;
mod keystores;
mod modes;
mod support;
