//! The `enclave` command line: Tessera's `enclave -configfile <path>` (node.md §5.4).

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use tm_config::{EnvOverrides, LoadOptions, PasswordPrompt, Profile};

pub use tm_config::cli::{normalize_args, Cli};

/// Runs the enclave with these process arguments; returns the exit status (Tessera's codes:
/// 1 invalid config or keys, 2 other errors, 3 unreadable config, 4 bad command line).
pub async fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match tm_config::cli::parse(args) {
        Ok(cli) => cli,
        Err(code) => return ExitCode::from(code),
    };
    tm_config::cli::init_logging(cli.json_logs);
    ExitCode::from(run(cli).await)
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
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), "{}", config.to_redacted_json());
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
        if let Err(e) = tm_config::cli::write_pidfile(pidfile) {
            eprintln!("ERROR: {e}");
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
