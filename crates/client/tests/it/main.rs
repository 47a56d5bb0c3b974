//! The typed clients against real HTTP servers on loopback.

mod p2p;
mod q2t;
mod retry;
