//! `tessera`: a drop-in for Tessera's command line.
//!
//! - `tessera -configfile tessera.json [-o path=value]... [-pidfile file]` runs every configured
//!   interface (P2P, Q2T, ThirdParty) in one process, with discovery.
//! - `tessera -keygen -filename a,b [-keygenconfig argon.json]` writes key pairs.
//! - `tessera -configfile tessera.json --recover` (`-r`) recovers the node's transactions from
//!   its peers, serving P2P only, and exits 0 (all), 1 (partly) or 2 (failed).
//! - `tessera import-h2 --script dump.sql -configfile tessera.json` imports a Tessera H2
//!   database dumped with H2's `Script` tool into the config's database (exit 0: all rows in,
//!   1: some refused; `docs/h2-migration.md`).
//! - `tessera version` prints the version.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    match tessera::Mode::of(&args) {
        tessera::Mode::Version => {
            println!("tessera {}", tm_config::cli::VERSION_LINE);
            tm_config::cli::Exit::Success.into()
        }
        tessera::Mode::Keygen => tessera::keygen::main(&args),
        tessera::Mode::ImportH2 => tessera::import::main(&args).await,
        tessera::Mode::Node => tessera::run(args).await,
    }
}
