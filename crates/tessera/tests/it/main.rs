//! The `tessera` launcher: its binary's command line as a real process (keygen, version,
//! `--dump-config`, `--migrate-only`), and two all-in-one nodes, in-process, that discover each
//! other and exchange a transaction.

mod handover;
mod keygen;
mod metrics;
mod node;
mod orion;
mod privacy_groups;
mod recovery;
