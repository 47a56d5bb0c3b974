//! The command line every binary shares (`enclave`, `p2p-node`, `q2t-api`, `thirdparty-api`,
//! `tessera`): Tessera's `-configfile`, `-o/--override`, `-pidfile`, plus `--dump-config` and
//! `--json-logs`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::Parser;

/// This build's version: one for the whole workspace, answered by `GET /version` and
/// `/version/distribution` and printed by `--version` (with [`COMPATIBILITY`]).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

macro_rules! compatibility {
    () => {
        "wire-compatible with Tessera 24.4 (API versions up to 5.0)"
    };
}

/// What this build interoperates with, as `--version` and the README say it.
pub const COMPATIBILITY: &str = compatibility!();

/// `--version`'s text after the binary's name.
pub const VERSION_LINE: &str = concat!(env!("CARGO_PKG_VERSION"), ", ", compatibility!());

/// The options every service binary takes.
#[derive(Debug, Parser)]
#[command(version = VERSION_LINE)]
pub struct Cli {
    /// The Tessera config file (`-configfile` is accepted too).
    #[arg(
        long = "configfile",
        visible_alias = "config-file",
        value_name = "PATH"
    )]
    pub configfile: PathBuf,
    /// Overrides a config value, e.g. `-o jdbc.url=jdbc:sqlite:/data/tm.db`.
    #[arg(short = 'o', long = "override", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
    /// Prints the effective config as JSON (secrets redacted) and exits.
    #[arg(long)]
    pub dump_config: bool,
    /// Writes the process id to this file (`-pidfile` is accepted too).
    #[arg(long = "pidfile", value_name = "PATH")]
    pub pidfile: Option<PathBuf>,
    /// Logs as JSON lines instead of text.
    #[arg(long)]
    pub json_logs: bool,
    /// Creates or upgrades the database tables (under the PostgreSQL migration lock, whatever
    /// `jdbc.autoCreateTables` says) and exits: for an init container or a job that migrates
    /// before services that run with `autoCreateTables: false`.
    #[arg(long)]
    pub migrate_only: bool,
    /// Recovery mode (`-r`, Tessera's `--recover`): serves the P2P API only, asks every peer
    /// to resend this node's transactions, moves them into the database and exits 0 (all
    /// recovered), 1 (partly: run it again) or 2 (failed). p2p-node and tessera only.
    #[arg(short = 'r', long)]
    pub recover: bool,
}

/// Rewrites Tessera's single-dash long options (`-configfile`, `-pidfile`) to `--` form.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some(a)
                if ["-configfile", "-pidfile", "-config-file"]
                    .iter()
                    .any(|opt| a == *opt || a.starts_with(&format!("{opt}="))) =>
            {
                OsString::from(format!("-{a}"))
            }
            _ => arg,
        })
        .collect()
}

/// How a binary ends: Tessera's exit codes, the one list every `main` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done (also after `--help`, `--version`, `--dump-config`, `--migrate-only`, and a
    /// recovery that recovered everything).
    Success,
    /// A recovery that recovered only part of what was asked for (Tessera's
    /// `RecoveryResult.PARTIAL_SUCCESS`): the same code as an invalid config, as in Tessera.
    PartialSuccess,
    /// The config is invalid (validation failed, keys cannot be loaded).
    InvalidConfig,
    /// Anything else at start or while running (cannot listen, database, enclave), and a
    /// recovery that recovered nothing.
    Failure,
    /// The config file cannot be read or is not JSON.
    UnreadableConfig,
    /// A bad command line (unknown option, malformed `-o`).
    BadCommandLine,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::InvalidConfig | Self::PartialSuccess => 1,
            Self::Failure => 2,
            Self::UnreadableConfig => 3,
            Self::BadCommandLine => 4,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        Self::from(exit.code())
    }
}

/// Parses the command line; on `--help`/`--version` or an error, prints and returns how to
/// exit (success, or Tessera's 4 for a bad command line).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, Exit> {
    use clap::{CommandFactory, FromArgMatches};
    let args = normalize_args(args);
    // `--version` and usage name the binary that runs (`p2p-node`, `tessera`, ...).
    let name = program_name(&args);
    Cli::command()
        .name(name)
        .try_get_matches_from(args)
        .and_then(|matches| Cli::from_arg_matches(&matches))
        .map_err(command_line_exit)
}

/// The name of the binary that runs, from a command line's first argument (`tessera` when
/// there is none).
pub fn program_name(args: &[OsString]) -> String {
    args.first()
        .and_then(|program| std::path::Path::new(program).file_name())
        .and_then(|name| name.to_str())
        .unwrap_or("tessera")
        .to_owned()
}

/// Prints a command line's parse outcome (an error, or `--help`/`--version` text) and says how
/// to exit: Tessera's 4 for a bad command line, success for help and version.
pub fn command_line_exit(error: clap::Error) -> Exit {
    let _ = error.print();
    if error.use_stderr() {
        Exit::BadCommandLine
    } else {
        Exit::Success
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as text (coloured only on a
/// terminal) or JSON lines.
pub fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a log file or a collector gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Writes the process id (decimal, no newline, truncating) as Tessera's `-pidfile` does.
pub fn write_pidfile(path: &std::path::Path) -> Result<(), String> {
    std::fs::write(path, std::process::id().to_string())
        .map_err(|e| format!("cannot write pid file {}: {e}", path.display()))
}
