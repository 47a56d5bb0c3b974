//! The `tessera` launcher as a real process: keygen, version, and two all-in-one nodes that
//! discover each other and exchange a transaction.

mod keygen;
mod node;
