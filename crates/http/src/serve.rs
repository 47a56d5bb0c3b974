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
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use tm_config::cli::{Cli, Exit};
use tm_config::{Config, EnvOverrides, LoadOptions, Profile};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinHandle;

use crate::drain::Draining;

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
/// with [`Running::stop`] (at once) or [`Running::handover`] (after the drain period), or
/// [`Running::wait`] until one stops or a signal asks them to.
#[derive(Debug)]
pub struct Running {
    addresses: Vec<String>,
    handles: Vec<ServerHandle>,
    servers: Vec<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    draining: Vec<Draining>,
    drain_period: Duration,
}

impl Running {
    /// Starts serving `server` (already listening on `address`, for logs) in the background.
    pub fn spawn(server: Server, address: String) -> Self {
        Self {
            addresses: vec![address],
            handles: vec![server.handle()],
            servers: vec![tokio::spawn(server)],
            background: Vec::new(),
            draining: Vec::new(),
            drain_period: Duration::ZERO,
        }
    }

    /// Adds a task that runs as long as the servers (aborted when they stop).
    pub fn with_task(mut self, task: JoinHandle<()>) -> Self {
        self.background.push(task);
        self
    }

    /// Drains through `draining` (which the server's `/readiness` reads) for `period` before
    /// a [`Running::handover`] stops it.
    pub fn with_drain(mut self, draining: Draining, period: Duration) -> Self {
        self.draining.push(draining);
        self.drain_period = self.drain_period.max(period);
        self
    }

    /// These servers and `other`'s, run and stopped together (drained for the longer period).
    pub fn join(mut self, other: Running) -> Self {
        self.addresses.extend(other.addresses);
        self.handles.extend(other.handles);
        self.servers.extend(other.servers);
        self.background.extend(other.background);
        self.draining.extend(other.draining);
        self.drain_period = self.drain_period.max(other.drain_period);
        self
    }

    /// Where it listens (`http://127.0.0.1:9000`, `unix:/path`; several comma-separated).
    pub fn address(&self) -> String {
        self.addresses.join(", ")
    }

    /// How long [`Running::handover`] drains before it stops.
    pub fn drain_period(&self) -> Duration {
        self.drain_period
    }

    /// Stops accepting, lets requests in flight finish (within the shutdown timeout), and
    /// stops the tasks beside them. No drain: what tests and a failed start use.
    pub async fn stop(self) {
        stop_handles(&self.handles, &self.background).await;
        for server in self.servers {
            let _ = server.await;
        }
    }

    /// The graceful handover: drains (`/readiness` answers 503, every response closes its
    /// connection, everything is still served) for the drain period, then [`Running::stop`]s.
    pub async fn handover(self) {
        self.handover_until(std::future::pending()).await;
    }

    /// [`Running::handover`], with the drain cut short when `hurry` completes.
    async fn handover_until(self, hurry: impl Future<Output = ()>) {
        self.start_draining();
        tokio::select! {
            () = tokio::time::sleep(self.drain_period) => {}
            () = hurry => tracing::info!("second signal: stopping without the rest of the drain"),
        }
        tracing::info!(listen = %self.address(), "stopping: finishing requests in flight");
        self.stop().await;
    }

    fn start_draining(&self) {
        for draining in &self.draining {
            draining.start();
        }
        tracing::info!(
            listen = %self.address(),
            "draining for {:?}: /readiness answers 503, requests are still served",
            self.drain_period
        );
    }

    /// Serves until one server stops, or until SIGTERM or SIGINT asks for a graceful handover
    /// ([`Running::handover`]; a second signal cuts the drain short). Then stops the others and
    /// the tasks beside them. The result is the first server's (`Ok` after a handover).
    pub async fn wait(self) -> std::io::Result<()> {
        let mut signals = Signals::new()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel(self.servers.len().max(1));
        let mut servers = Vec::with_capacity(self.servers.len());
        for server in self.servers {
            let tx = tx.clone();
            servers.push(tokio::spawn(async move {
                let result = server.await.map_err(std::io::Error::other).and_then(|r| r);
                let _ = tx.send(result).await;
            }));
        }
        drop(tx);
        let running = Running {
            servers: Vec::new(),
            ..self
        };
        tokio::select! {
            first = rx.recv() => {
                stop_handles(&running.handles, &running.background).await;
                first.unwrap_or(Ok(()))
            }
            name = signals.next() => {
                tracing::info!("{name}: graceful handover");
                running.handover_until(async move { signals.next().await; }).await;
                for server in servers {
                    let _ = server.await;
                }
                Ok(())
            }
        }
    }
}

async fn stop_handles(handles: &[ServerHandle], background: &[JoinHandle<()>]) {
    for handle in handles {
        handle.stop(true).await;
    }
    for task in background {
        task.abort();
    }
}

/// SIGTERM (Kubernetes, `kill`, `cluster down`) and SIGINT (Ctrl-C): both ask for a graceful
/// handover. The servers' own signal handling is off ([`crate::listen::serve_http`]).
struct Signals {
    terminate: Signal,
    interrupt: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    /// The next signal's name.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
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
    /// A one-off job that ran its course with this exit status (e.g. `--recover`); the text
    /// says how it went and what to do next.
    Finished(Exit, String),
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
    let args: Vec<OsString> = args.into_iter().collect();
    let cli = match tm_config::cli::parse(args.clone()) {
        Ok(cli) => cli,
        Err(exit) => return exit.into(),
    };
    tm_config::cli::init_logging(cli.json_logs);
    // Spans go to a collector only when the OpenTelemetry variables name one; the guard sends
    // what is left when main returns.
    let _export = match export_traces(&args) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return Exit::InvalidConfig.into();
        }
    };
    match run(cli, profile, start).await {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("ERROR: {e}");
            e.exit().into()
        }
    }
}

/// Starts the OTLP export the environment asks for (`tm_trace::export::Settings::from_env`),
/// spans named by the binary that runs (`p2p-node`, `q2t-api`, ...).
fn export_traces(args: &[OsString]) -> Result<Option<tm_trace::export::Guard>, String> {
    let service = tm_config::cli::program_name(args);
    let Some(settings) = tm_trace::export::Settings::from_env(&service)? else {
        return Ok(None);
    };
    let guard = tm_trace::export::install(&settings)?;
    tracing::info!(
        endpoint = %settings.endpoint_for_log(),
        service = %settings.service,
        json = settings.json,
        "exporting traces over OTLP"
    );
    Ok(Some(guard))
}

async fn run<F, Fut>(cli: Cli, profile: Profile, start: F) -> Result<Exit, StartError>
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
        return Ok(Exit::Success);
    }
    let pidfile = cli.pidfile.clone();
    let running = match start(cli, config).await? {
        Started::Serving(running) => running,
        Started::Done(what) => {
            println!("{what}");
            return Ok(Exit::Success);
        }
        Started::Finished(exit, what) => {
            println!("{what}");
            return Ok(exit);
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
        .map(|()| Exit::Success)
        .map_err(|e| StartError::failure(e.to_string()))
}
