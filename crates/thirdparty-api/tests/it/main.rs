//! The ThirdParty service in-process beside the node's P2P and Q2T services, on loopback
//! listeners.

mod keys;
