//! Integration tests of the core crate: every file in `testdata/`, round trips and
//! robustness properties.

mod hashes;
mod keys;
mod linear;
mod partyinfo;
mod payloads;
mod properties;
mod support;
