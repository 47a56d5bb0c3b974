//! The `enclave` command line: Tessera's `enclave -configfile <path>` (docs/protocol.md §14.4), on
//! the scaffolding every binary shares (`tm_http::serve::main`: command line, logging, config,
//! pid file, exit codes).

use std::ffi::OsString;
use std::process::ExitCode;

use tm_config::{PasswordPrompt, Profile};
use tm_http::Started;

pub use tm_config::cli::{normalize_args, Cli};

/// Runs the enclave with these process arguments; returns the exit status (Tessera's codes:
/// 1 invalid config or keys, 2 other errors, 3 unreadable config, 4 bad command line).
pub async fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    tm_http::serve::main(args, Profile::Enclave, |_cli, config| async move {
        let listener = crate::listen(&config)?;
        let running = crate::start_with(config, listener, PasswordPrompt::IfTerminal).await?;
        Ok(Started::Serving(running))
    })
    .await
}
