//! Integration tests of tm-enclave: the same behaviour in-process and over HTTP against the
//! real `enclave` binary.

mod behaviour;
mod binary;
mod handover;
mod http;
mod key_cache;
mod retry;
mod support;
mod tls;
