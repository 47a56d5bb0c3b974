//! The `enclave` command line: Tessera's `enclave -configfile <path>` (node.md §5.4).

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tm_config::{EnvOverrides, LoadOptions, PasswordPrompt, Profile};

/// Tessera's remote enclave: holds the keys and serves the enclave API.
#[derive(Debug, Parser)]
#[command(name = "enclave", version, about)]
pub struct Cli {
    /// The Tessera config file (`-configfile` is accepted too).
    #[arg(
        long = "configfile",
        visible_alias = "config-file",
        value_name = "PATH"
    )]
    pub configfile: PathBuf,
    /// Overrides a config value, e.g. `-o serverConfigs[0].serverAddress=http://localhost:9081`.
    #[arg(short = 'o', long = "override", value_name = "PATH=VALUE")]
    pub overrides: Vec<String>,
    /// Prints the effective config as JSON (secrets redacted) and exits.
    #[arg(long)]
    pub dump_config: bool,
    /// Writes the process id to this file (`-pidfile` is accepted too).
    #[arg(long = "pidfile", value_name = "PATH")]
    pub pidfile: Option<PathBuf>,
}

/// Rewrites Tessera's single-dash long options (`-configfile`, `-pidfile`) to `--` form.
pub fn normalize_args(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| match arg.to_str() {
            Some(a @ ("-configfile" | "-pidfile" | "-config-file")) => {
                OsString::from(format!("-{a}"))
            }
            Some(a) if a.starts_with("-configfile=") || a.starts_with("-pidfile=") => {
                OsString::from(format!("-{a}"))
            }
            _ => arg,
        })
        .collect()
}

/// Runs the enclave with these process arguments; returns the exit status (Tessera's codes:
/// 1 invalid config or keys, 2 other errors, 3 unreadable config, 4 bad command line).
pub async fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(args)) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(4);
        }
    };
    init_logging();
    ExitCode::from(run(cli).await)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs a parsed command line; returns the exit status.
pub async fn run(cli: Cli) -> u8 {
    let options = LoadOptions {
        overrides: cli.overrides.clone(),
        env: EnvOverrides::Process,
        profile: Profile::Enclave,
    };
    let loaded = match tm_config::load_file(&cli.configfile, &options) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    let config = loaded.config;
    if cli.dump_config {
        println!("{}", config.to_redacted_json());
        return 0;
    }
    let Some(server) = crate::enclave_server_config(&config) else {
        eprintln!("ERROR: Config validation issue: serverConfigs no server to listen on");
        return 1;
    };
    let bind = match server.binding_address() {
        Ok(bind) => bind,
        Err(e) => {
            eprintln!("ERROR: Config validation issue: serverConfigs bindingAddress {e}");
            return 1;
        }
    };
    let enclave = match crate::local_enclave(&config, PasswordPrompt::IfTerminal).await {
        Ok(enclave) => Arc::new(enclave),
        Err(e) => {
            eprintln!("ERROR: {e}");
            return 1;
        }
    };
    if let Some(pidfile) = &cli.pidfile {
        if let Err(e) = std::fs::write(pidfile, std::process::id().to_string()) {
            eprintln!("ERROR: cannot write pid file {}: {e}", pidfile.display());
            return 2;
        }
    }
    let running = match crate::start_server(Arc::clone(&enclave), &bind) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("ERROR: cannot listen on {bind}: {e}");
            return 2;
        }
    };
    tracing::info!(
        address = %bind,
        keys = enclave.public_keys().len(),
        "enclave started"
    );
    match running.server.await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ERROR: {e}");
            2
        }
    }
}
