//! The Q2T service as real processes: two nodes on loopback, each running `p2p-node` and
//! `q2t-api` on SQLite. Build the binaries first: `cargo build --workspace --bins`.

mod failures;
mod raw;
mod send;
mod support;
mod unix;
