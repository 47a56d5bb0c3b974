//! The ThirdParty service as a real process beside `p2p-node` and `q2t-api`. Build the
//! binaries first: `cargo build --workspace --bins`.

mod keys;
