//! The Q2T service on real sockets: two nodes on loopback, each running its P2P and Q2T
//! services in-process on SQLite.

mod abandoned;
mod failures;
mod limits;
mod raw;
mod resident;
mod send;
mod support;
mod tls;
mod unix;
