//! Running a server, in-process or as a binary's `main`.
//!
//! Every server of ours (the P2P, Q2T and ThirdParty services, the remote enclave, the all-in-one
//! launcher) is started by a library function from a typed [`tm_config::Config`] and a
//! [`Listener`] it is given, and returns a [`Running`] server. Tests and the xtask call those
//! functions directly (on a listener bound to port 0); a binary's `main` is [`main`] around the
//! same function, which is the one place errors become exit codes.

use std::ffi::OsString;
use std::fmt;
use std::future::Future;
use std::process::ExitCode;

use actix_web::dev::{Server, ServerHandle};
use tm_config::cli::{Cli, Exit};
use tm_config::{Config, EnvOverrides, LoadOptions, Profile};
use tokio::task::JoinHandle;

/// Why a server did not start (or stopped with an error), with how the process exits on it.
#[derive(Debug)]
pub struct StartError {
    exit: Exit,
    message: String,
}

impl StartError {
    /// An error that ends the process with `exit`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
        }
    }

    /// The config cannot be used (exit 1).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::InvalidConfig, message)
    }

    /// Anything else (exit 2): cannot listen, no database, no enclave.
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }

    /// How the process exits on it.
    pub fn exit(&self) -> Exit {
        self.exit
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StartError {}

impl From<tm_config::ConfigError> for StartError {
    fn from(error: tm_config::ConfigError) -> Self {
        Self::new(error.exit(), error.to_string())
    }
}

/// Validates a typed config for `profile`, as loading a file does: every violation, one per
/// line, is one [`StartError`] (exit 1).
pub fn validated(config: Config, profile: Profile) -> Result<Config, StartError> {
    let violations = tm_config::validate(&config, profile);
    if violations.is_empty() {
        Ok(config)
    } else {
        Err(tm_config::ConfigError::Invalid(violations).into())
    }
}

/// Servers serving in the background on the current tokio runtime (one, or one per interface
/// for the all-in-one launcher), with the tasks that run beside them (discovery). Stop them
/// with [`Running::stop`], or [`Running::wait`] until one stops.
#[derive(Debug)]
pub struct Running {
    addresses: Vec<String>,
    handles: Vec<ServerHandle>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
}

impl Running {
    /// Starts serving `server` (already listening on `address`, for logs) in the background.
    pub fn spawn(server: Server, address: String) -> Self {
        Self {
            addresses: vec![address],
            handles: vec![server.handle()],
            servers: vec![tokio::spawn(server)],
            background: Vec::new(),
        }
    }

    /// Adds a task that runs as long as the servers (aborted when they stop).
    pub fn with_task(mut self, task: JoinHandle<()>) -> Self {
        self.background.push(task);
        self
    }

    /// These servers and `other`'s, run and stopped together.
    pub fn join(mut self, other: Running) -> Self {
        self.addresses.extend(other.addresses);
        self.handles.extend(other.handles);
        self.servers.extend(other.servers);
        self.background.extend(other.background);
        self
    }

    /// Where it listens (`http://127.0.0.1:9000`, `unix:/path`; several comma-separated).
    pub fn address(&self) -> String {
        self.addresses.join(", ")
    }

    /// Stops accepting, lets requests in flight finish, and stops the tasks beside them.
    pub async fn stop(self) {
        for handle in &self.handles {
            handle.stop(true).await;
        }
        for task in &self.background {
            task.abort();
        }
        for server in self.servers {
            let _ = server.await;
        }
    }

    /// Serves until one server stops (a signal stops them all); then stops the others and the
    /// tasks beside them. The result is the first server's.
    pub async fn wait(self) -> std::io::Result<()> {
        let (tx, mut rx) = tokio::sync::mpsc::channel(self.servers.len().max(1));
        for server in self.servers {
            let tx = tx.clone();
            tokio::spawn(async move {
                let result = server.await.map_err(std::io::Error::other).and_then(|r| r);
                let _ = tx.send(result).await;
            });
        }
        drop(tx);
        let first = rx.recv().await.unwrap_or(Ok(()));
        for handle in &self.handles {
            handle.stop(true).await;
        }
        for task in &self.background {
            task.abort();
        }
        first
    }
}

/// What a binary's start function did.
#[derive(Debug)]
pub enum Started {
    /// A server is running: serve until it stops.
    Serving(Running),
    /// The command line asked for a one-off job that is done (e.g. `--migrate-only`); the
    /// text says what was done.
    Done(String),
}

/// A binary's `main`: parses Tessera's command line, starts logging, loads and validates the
/// config file for `profile`, answers `--dump-config`, calls `start`, writes the pid file and
/// serves until stopped. The one place a failure becomes a message and an exit code.
pub async fn main<F, Fut>(
    args: impl IntoIterator<Item = OsString>,
    profile: Profile,
    start: F,
) -> ExitCode
where
    F: FnOnce(Cli, Config) -> Fut,
    Fut: Future<Output = Result<Started, StartError>>,
{
    let cli = match tm_config::cli::parse(args) {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    tm_config::cli::init_logging(cli.json_logs);
    match run(cli, profile, start).await {
        Ok(()) => Exit::Success.into(),
        Err(e) => {
            eprintln!("ERROR: {e}");
            e.exit().into()
        }
    }
}

async fn run<F, Fut>(cli: Cli, profile: Profile, start: F) -> Result<(), StartError>
where
    F: FnOnce(Cli, Config) -> Fut,
    Fut: Future<Output = Result<Started, StartError>>,
{
    let options = LoadOptions {
        overrides: cli.overrides.clone(),
        env: EnvOverrides::Process,
        profile,
    };
    let config = tm_config::load_file(&cli.configfile, &options)?.config;
    if cli.dump_config {
        use std::io::Write as _;
        // A closed pipe (`--dump-config | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{}", config.to_redacted_json());
        return Ok(());
    }
    let pidfile = cli.pidfile.clone();
    let running = match start(cli, config).await? {
        Started::Serving(running) => running,
        Started::Done(what) => {
            println!("{what}");
            return Ok(());
        }
    };
    if let Some(pidfile) = pidfile {
        if let Err(e) = tm_config::cli::write_pidfile(&pidfile) {
            running.stop().await;
            return Err(StartError::failure(e));
        }
    }
    running
        .wait()
        .await
        .map_err(|e| StartError::failure(e.to_string()))
}
