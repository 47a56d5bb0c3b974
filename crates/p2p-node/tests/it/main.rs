//! The P2P service in-process on loopback listeners: discovery, push, resend, key validation,
//! whitelist, garbage, and replicas sharing a database.

mod discovery;
mod hostile_edge;
mod hostile_load;
mod hostile_push;
mod push;
mod readiness;
mod replicas;
mod security;
mod support;
mod tls;
mod untrusted_peer;
