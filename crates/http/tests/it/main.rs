//! The shared HTTP pieces, served by a real actix server on loopback and on a unix socket, and
//! the graceful handover.

mod common;
mod drain;
mod listen;
