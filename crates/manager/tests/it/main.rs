//! The transaction manager against real nodes: each test node is a `Node` over an in-memory
//! SQLite database and an in-process enclave, served on a loopback port by the P2P routes its
//! peers call (push, push batch, party info, key validation).

mod abandoned_send;
mod discovery;
mod peer_state;
mod push;
mod resend;
mod send;
mod support;
