//! [`TestNode`]: one Tessera-style node for a test, its services running in-process.
//!
//! A node has generated key files and an SQLite file in a temp dir, and a listener already
//! bound on loopback for each of its services, so its URLs are known (and can be given to
//! peers) before anything starts. Starting a service builds it from the node's typed
//! [`TestNode::config`] and serves it on that listener on the shared runtime
//! ([`crate::runtime`]); dropping the node stops everything.

use std::future::Future;
use std::path::PathBuf;

use tm_config::{AppType, Config, ServerAddress};
use tm_core::KeyPair;
use tm_http::{Listener, Running, StartError};

use crate::config::{generate_key_files, NodeConfig};
use crate::{ports, runtime};

/// How often a node's P2P service runs discovery (`partyInfoInterval`): short, so that tests
/// see peers come and go within seconds.
pub const PARTY_INFO_INTERVAL_MS: u64 = 1000;

/// One of our services.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    /// `p2p-node`: the P2P API and discovery.
    P2p,
    /// `q2t-api`: the API GoQuorum calls (TCP or a unix socket).
    Q2t,
    /// `thirdparty-api`.
    ThirdParty,
    /// The remote enclave.
    Enclave,
}

impl Service {
    /// Every service.
    pub const ALL: [Self; 4] = [Self::P2p, Self::Q2t, Self::ThirdParty, Self::Enclave];

    /// Its `serverConfigs` app.
    pub fn app(self) -> AppType {
        match self {
            Self::P2p => AppType::P2P,
            Self::Q2t => AppType::Q2T,
            Self::ThirdParty => AppType::ThirdParty,
            Self::Enclave => AppType::Enclave,
        }
    }

    /// Starts it from `config` on `listener`, on the current tokio runtime: the service
    /// library's own `start` (`p2p_node::start`, `q2t_api::start`, ...). The config's address
    /// for this app must already hold the listener's port.
    pub async fn start(self, config: Config, listener: Listener) -> Result<Running, StartError> {
        match self {
            Self::P2p => p2p_node::start(config, listener).await,
            Self::Q2t => q2t_api::start(config, listener).await,
            Self::ThirdParty => thirdparty_api::start(config, listener).await,
            Self::Enclave => tm_enclave::start(config, listener).await,
        }
    }
}

/// A server of the node that is serving.
struct Instance {
    /// What it serves (several for an all-in-one server).
    services: Vec<Service>,
    /// Whether it is a replica (on a listener of its own).
    replica: bool,
    running: Running,
}

impl Instance {
    fn is(&self, service: Service) -> bool {
        !self.replica && self.services.contains(&service)
    }
}

/// One node: its files, its config, and the services it runs in-process.
pub struct TestNode {
    /// The node's name (in its temp dir's name and in failure messages).
    pub name: String,
    /// Its temp dir: key files, the SQLite database, written config files.
    pub dir: tempfile::TempDir,
    /// Its key pairs; the first is the default key.
    pub keys: Vec<KeyPair>,
    /// The config every service of the node starts from. Edit it (features, whitelist, peers,
    /// ...) before starting a service; a service restarted later sees the edits.
    pub config: Config,
    /// Bound listeners of services not serving yet.
    listeners: Vec<(Service, Listener)>,
    running: Vec<Instance>,
}

impl TestNode {
    /// A node with `key_count` fresh keys (files `key0.pub`/`key0.key`, ...), an SQLite
    /// database in its temp dir, `peers` (P2P URLs) to start discovery from, discovery every
    /// [`PARTY_INFO_INTERVAL_MS`], and a loopback listener bound for each [`Service`]. The
    /// config has `P2P`, `Q2T` and `ThirdParty` servers; [`TestNode::use_remote_enclave`] adds
    /// the enclave.
    pub fn new(name: &str, key_count: usize, peers: &[String]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("tm-{name}-"))
            .tempdir()
            .expect("a temp dir");
        let (keys, key_files): (Vec<_>, Vec<_>) = generate_key_files(dir.path(), key_count)
            .expect("key files in the temp dir")
            .into_iter()
            .unzip();
        let listeners: Vec<(Service, Listener)> = Service::ALL
            .into_iter()
            .map(|service| {
                let listener = ports::loopback().expect("a loopback listener");
                (service, Listener::Tcp(listener))
            })
            .collect();
        let url = |service: Service| {
            let (_, listener) = listeners
                .iter()
                .find(|(s, _)| *s == service)
                .expect("a listener per service");
            ports::http_url(listener.port().expect("a TCP port"))
        };
        let config = NodeConfig::new()
            .p2p(&url(Service::P2p))
            .q2t(&url(Service::Q2t))
            .thirdparty(&url(Service::ThirdParty))
            .property(
                AppType::P2P,
                "partyInfoInterval",
                &PARTY_INFO_INTERVAL_MS.to_string(),
            )
            .peers(peers.iter().cloned())
            .keys(key_files)
            .sqlite(&dir.path().join("tm.db"))
            .build();
        Self {
            name: name.to_owned(),
            dir,
            keys,
            config,
            listeners,
            running: Vec::new(),
        }
    }

    /// Changes [`TestNode::config`] with the builder, for services started from now on:
    /// `node.configure(|c| c.property(AppType::P2P, "partyInfoInterval", "600000"))`.
    pub fn configure(&mut self, change: impl FnOnce(NodeConfig) -> NodeConfig) {
        self.config = change(NodeConfig::from_config(std::mem::take(&mut self.config))).build();
    }

    /// Sets the peers to start discovery from (P2P URLs), for services started from now on.
    pub fn set_peers(&mut self, peers: &[String]) {
        self.configure(|c| c.peers(peers.iter().cloned()));
    }

    /// Points the node at a database (e.g. a PostgreSQL schema) instead of its SQLite file.
    pub fn use_database(&mut self, jdbc_url: &str, user: Option<&str>, password: Option<&str>) {
        self.configure(|c| c.database(jdbc_url, user, password));
    }

    /// Points the node at a fresh schema of the test PostgreSQL server.
    pub fn use_postgres(&mut self, schema: &crate::postgres::Schema) {
        self.use_database(&schema.jdbc_url, Some(&schema.user), Some(&schema.password));
    }

    /// Makes the node's keys live in a remote enclave on its enclave listener (an `ENCLAVE`
    /// server entry, as Tessera configures it); start it with `start(Service::Enclave)`.
    pub fn use_remote_enclave(&mut self) {
        let url = self.url(Service::Enclave);
        self.configure(|c| c.remote_enclave(&url));
    }

    /// Serves each of `services` with TLS as `ssl` says ([`crate::tls::strict`]): its server
    /// entry gets the `sslConfig` and an `https` address, for services started from now on.
    pub fn use_tls(&mut self, services: &[Service], ssl: &tm_config::SslConfig) {
        for service in services {
            let ssl = ssl.clone();
            self.configure(|c| c.ssl(service.app(), ssl));
        }
    }

    /// Serves Q2T on a unix socket, `<dir>/tm.ipc`, instead of TCP; returns the socket's path.
    pub fn use_q2t_unix_socket(&mut self) -> PathBuf {
        let socket = self.dir.path().join("tm.ipc");
        self.configure(|c| c.q2t_unix(&socket));
        self.listeners.retain(|(s, _)| *s != Service::Q2t);
        socket
    }

    /// The address `service` is configured at (`serverAddress`), as clients reach it:
    /// `http://127.0.0.1:<port>` or `unix:<path>`; P2P's ends in `/`, as peers see it.
    pub fn url(&self, service: Service) -> String {
        let address = self
            .config
            .server(service.app())
            .and_then(|s| s.server_address.clone())
            .unwrap_or_else(|| {
                // Not configured (the enclave before `use_remote_enclave`): its listener's URL.
                let port = self
                    .listeners
                    .iter()
                    .find(|(s, _)| *s == service)
                    .and_then(|(_, l)| l.port())
                    .unwrap_or_else(|| panic!("{} has no {service:?} address", self.name));
                ports::http_url(port)
            });
        match service {
            Service::P2p => format!("{}/", address.trim_end_matches('/')),
            _ => address,
        }
    }

    /// The P2P base URL (`http://127.0.0.1:<port>/`, as peers see it).
    pub fn p2p_url(&self) -> String {
        self.url(Service::P2p)
    }

    /// The Q2T address: `http://127.0.0.1:<port>` or `unix:<path>`.
    pub fn q2t_url(&self) -> String {
        self.url(Service::Q2t)
    }

    /// The ThirdParty base URL.
    pub fn thirdparty_url(&self) -> String {
        self.url(Service::ThirdParty)
    }

    /// The remote enclave's base URL.
    pub fn enclave_url(&self) -> String {
        self.url(Service::Enclave)
    }

    /// The node's SQLite database file (used unless the config says otherwise).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("tm.db")
    }

    /// Writes [`TestNode::config`] as Tessera's JSON file, `<dir>/tessera.json`, for a process
    /// to read; returns its path.
    pub fn write_config(&self) -> PathBuf {
        let path = self.dir.path().join("tessera.json");
        crate::config::write(&self.config, &path).expect("the config file is written");
        path
    }

    /// Starts `service` in-process from [`TestNode::config`] on its listener (bound since
    /// [`TestNode::new`]; after a stop, bound again on the same port or socket). Panics with
    /// the reason when the service does not start.
    pub fn start(&mut self, service: Service) -> &mut Self {
        match self.try_start(service) {
            Ok(()) => self,
            Err(e) => panic!("{service:?} of {} did not start: {e}", self.name),
        }
    }

    /// [`TestNode::start`], returning why the service refused to start (exit code and message)
    /// instead of panicking.
    pub fn try_start(&mut self, service: Service) -> Result<(), StartError> {
        assert!(
            !self.is_running(service),
            "{service:?} of {} is already running",
            self.name
        );
        let listener = self.listener(service);
        let running = runtime::run(service.start(self.config.clone(), listener))?;
        self.running.push(Instance {
            services: vec![service],
            replica: false,
            running,
        });
        Ok(())
    }

    /// Starts one server for several services with `start`, given [`TestNode::config`] and
    /// each service's listener (in the order of `services`): e.g. the all-in-one launcher,
    /// `|config, listeners| tessera::start(config, ...)`. [`TestNode::stop`] of any of the
    /// services stops that server. Panics with the reason when it does not start.
    pub fn start_with<F, Fut>(&mut self, services: &[Service], start: F) -> &mut Self
    where
        F: FnOnce(Config, Vec<(Service, Listener)>) -> Fut,
        Fut: Future<Output = Result<Running, StartError>> + Send + 'static,
    {
        for service in services {
            assert!(
                !self.is_running(*service),
                "{service:?} of {} is already running",
                self.name
            );
        }
        let listeners = services
            .iter()
            .map(|service| (*service, self.listener(*service)))
            .collect();
        let running = runtime::run(start(self.config.clone(), listeners))
            .unwrap_or_else(|e| panic!("{services:?} of {} did not start: {e}", self.name));
        self.running.push(Instance {
            services: services.to_vec(),
            replica: false,
            running,
        });
        self
    }

    /// Starts another instance of `service` (a replica) on a listener of its own, sharing the
    /// node's database and advertising the node's address for it, as replicas behind a load
    /// balancer do. Returns the replica's own URL (in the form of [`TestNode::url`]).
    pub fn start_replica(&mut self, service: Service) -> String {
        let listener = ports::loopback().expect("a loopback listener");
        let own = ports::http_url(ports::port(&listener).expect("a TCP port"));
        let config = NodeConfig::from_config(self.config.clone())
            .binding(service.app(), &own)
            .build();
        let running =
            runtime::run(service.start(config, Listener::Tcp(listener))).unwrap_or_else(|e| {
                panic!("a {service:?} replica of {} did not start: {e}", self.name)
            });
        let url = match service {
            Service::P2p => format!("{own}/"),
            _ => own,
        };
        self.running.push(Instance {
            services: vec![service],
            replica: true,
            running,
        });
        url
    }

    /// Runs recovery (`--recover`) in-process on the node's P2P listener until it ends, as
    /// `p2p-node --recover` does; the P2P service must not be running. Returns the report (its
    /// [`tm_manager::recovery::RecoveryReport::result`] is what the binary exits with).
    pub fn recover(&mut self) -> tm_manager::recovery::RecoveryReport {
        assert!(
            !self.is_running(Service::P2p),
            "stop the P2P service of {} before recovering",
            self.name
        );
        let listener = self.listener(Service::P2p);
        runtime::run(p2p_node::recover(self.config.clone(), listener))
            .unwrap_or_else(|e| panic!("recovery of {} did not start: {e}", self.name))
    }

    /// Whether `service` itself (not a replica) is serving.
    pub fn is_running(&self, service: Service) -> bool {
        self.running.iter().any(|i| i.is(service))
    }

    /// Stops `service` (not its replicas): it stops accepting, finishes what is in flight,
    /// and closes its listener. [`TestNode::start`] starts it again on the same address.
    pub fn stop(&mut self, service: Service) {
        let (stopping, keep) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|i| i.is(service));
        self.running = keep;
        stop_all(stopping);
    }

    /// Stops every replica of `service` (see [`TestNode::start_replica`]).
    pub fn stop_replicas(&mut self, service: Service) {
        let (stopping, keep) = std::mem::take(&mut self.running)
            .into_iter()
            .partition(|i| i.replica && i.services.contains(&service));
        self.running = keep;
        stop_all(stopping);
    }

    /// The listener for `service`: the one bound since `new`, else bound again at the
    /// address the config gives it.
    fn listener(&mut self, service: Service) -> Listener {
        let server = self
            .config
            .server(service.app())
            .unwrap_or_else(|| panic!("{} has no {service:?} server configured", self.name));
        let address = server
            .binding_address()
            .unwrap_or_else(|e| panic!("{service:?} address of {}: {e}", self.name));
        let held = self
            .listeners
            .iter()
            .position(|(s, _)| *s == service)
            .map(|i| self.listeners.remove(i).1);
        match (address, held) {
            (ServerAddress::Unix(path), _) => {
                Listener::Unix(ports::unix(&path).expect("a unix socket in the temp dir"))
            }
            (ServerAddress::Tcp { port, .. }, Some(held)) if held.port() == Some(port) => held,
            (ServerAddress::Tcp { port, .. }, _) => Listener::Tcp(
                ports::rebind(port)
                    .unwrap_or_else(|e| panic!("cannot listen on port {port} again: {e}")),
            ),
        }
    }
}

fn stop_all(instances: Vec<Instance>) {
    if instances.is_empty() {
        return;
    }
    runtime::run(async move {
        for instance in instances {
            instance.running.stop().await;
        }
    });
}

impl Drop for TestNode {
    fn drop(&mut self) {
        stop_all(std::mem::take(&mut self.running));
    }
}
