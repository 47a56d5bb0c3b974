//! The shared HTTP pieces, served by a real actix server on loopback and on a unix socket.

mod common;
mod listen;
