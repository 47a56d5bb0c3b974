//! One node of the cluster on disk: its ports, keys, database, Tessera config, and the
//! processes that serve it (listed here, started by `up`).

use std::path::Path;

use tm_config::{AppType, Config, KeyData};
use tm_dev_support::config::{self as dev_config, NodeConfig};
use tm_dev_support::ports::http_url;

use super::{Db, KeyFiles, NodeInfo, Process, Setup};
use crate::lb::Frontend;
use crate::patroni::Patroni;
use crate::postgres::Database;

/// One interface: its binary, its `serverConfigs` entry, its health path.
struct Interface {
    binary: &'static str,
    app: AppType,
    health: &'static str,
}

/// Every interface, enclave first (the others need it to start).
const INTERFACES: [Interface; 4] = [
    Interface {
        binary: "enclave",
        app: AppType::Enclave,
        health: "/ping",
    },
    Interface {
        binary: "p2p-node",
        app: AppType::P2P,
        health: "/upcheck",
    },
    Interface {
        binary: "q2t-api",
        app: AppType::Q2T,
        health: "/upcheck",
    },
    Interface {
        binary: "thirdparty-api",
        app: AppType::ThirdParty,
        health: "/upcheck",
    },
];

/// Ports of one interface: where it is advertised, and each instance.
pub struct Iface {
    advertised: u16,
    instances: Vec<u16>,
}

impl Iface {
    fn new(replicas: usize) -> Result<Self, String> {
        let advertised = crate::free_port()?;
        let instances = if replicas <= 1 {
            vec![advertised]
        } else {
            (0..replicas)
                .map(|_| crate::free_port())
                .collect::<Result<_, _>>()?
        };
        Ok(Self {
            advertised,
            instances,
        })
    }
}

/// One node's interfaces.
pub struct NodePorts {
    p2p: Iface,
    q2t: Iface,
    thirdparty: Iface,
    enclave: Iface,
}

impl NodePorts {
    fn of(&self, app: &AppType) -> &Iface {
        match app {
            AppType::P2P => &self.p2p,
            AppType::Q2T => &self.q2t,
            AppType::ThirdParty => &self.thirdparty,
            _ => &self.enclave,
        }
    }

    /// The node's P2P URL as peers see it.
    fn p2p_url(&self, tls: bool) -> String {
        format!("{}/", url(self.p2p.advertised, tls))
    }
}

/// Ports for every interface (and every replica) of `nodes` nodes.
pub fn reserve_ports(nodes: usize, replicas: usize) -> Result<Vec<NodePorts>, String> {
    (0..nodes)
        .map(|_| {
            Ok(NodePorts {
                p2p: Iface::new(replicas)?,
                q2t: Iface::new(replicas)?,
                thirdparty: Iface::new(replicas)?,
                enclave: Iface::new(replicas)?,
            })
        })
        .collect()
}

/// `http(s)://127.0.0.1:<port>`.
fn url(port: u16, tls: bool) -> String {
    let plain = http_url(port);
    if tls {
        plain.replacen("http://", "https://", 1)
    } else {
        plain
    }
}

/// `node1`, `node2`, ...
fn node_name(i: usize) -> String {
    format!("node{}", i + 1)
}

/// Node `i`: its keys, database and config written, its processes listed (not started).
pub fn write_node(setup: &Setup, ports: &[NodePorts], i: usize) -> Result<NodeInfo, String> {
    let name = node_name(i);
    let node_dir = setup.dir.join(&name);
    let (keys, key_data) = write_keys(&node_dir.join("keys"), &name)?;
    let tls = setup.tls.is_some();
    let mut config = with_database(
        setup.db,
        setup.patroni.as_ref(),
        &node_dir,
        &name,
        NodeConfig::new(),
    )?
    .p2p(&ports[i].p2p_url(tls))
    // Tessera's default: P2P calls get 75 % of it (3.75 s), the budget the balancers' and
    // our clients' attempts are cut to fit (docs/operations.md, "The budget").
    .property(AppType::P2P, "partyInfoInterval", "5000")
    .q2t(&url(ports[i].q2t.advertised, tls))
    .thirdparty(&url(ports[i].thirdparty.advertised, tls))
    .remote_enclave(&url(ports[i].enclave.advertised, tls))
    .peers(peers(ports, i, tls))
    .features(setup.features.toggles())
    .keys([key_data]);
    if setup.features.multiple_private_states {
        // Every local key must be in a resident group (as in Tessera): one tenant per node.
        let member = keys.public_key.clone();
        let group = name.clone();
        config = config.edit(move |c| {
            c.resident_groups = vec![tm_config::ResidentGroup {
                name: group,
                description: Some("the node's one tenant (cargo xtask cluster)".into()),
                members: vec![member],
            }]
        });
    }
    if let Some(tls_dir) = &setup.tls {
        // One certificate per node, for each of its servers and clients.
        let ssl = super::tls::node_ssl(tls_dir, &name);
        for iface in &INTERFACES {
            config = config.ssl(iface.app.clone(), ssl.clone());
        }
    }
    let config = config.build();
    let config_path = node_dir.join("tessera.json");
    dev_config::write(&config, &config_path)
        .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let socket = node_dir.join("tm.ipc");
    let processes = Processes {
        setup,
        node: &name,
        node_dir: &node_dir,
        config: &config,
        config_path: &config_path,
    }
    .list(&ports[i], &socket);
    Ok(NodeInfo {
        name,
        q2t_url: url(ports[i].q2t.advertised, tls),
        q2t_socket: socket,
        p2p_url: ports[i].p2p_url(tls),
        thirdparty_url: url(ports[i].thirdparty.advertised, tls),
        enclave_url: url(ports[i].enclave.advertised, tls),
        keys: vec![keys],
        config: config_path,
        processes,
    })
}

/// A fresh unlocked key pair, `<dir>/<stem>.pub` and `<dir>/<stem>.key`.
pub fn write_keys(dir: &Path, stem: &str) -> Result<(KeyFiles, KeyData), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let (pair, data) =
        dev_config::write_key_files(dir, stem).map_err(|e| format!("{stem} keys: {e}"))?;
    let files = KeyFiles {
        public_key: pair.public.to_base64(),
        public_key_path: data.public_key_path.clone().unwrap_or_default(),
        private_key_path: data.private_key_path.clone().unwrap_or_default(),
    };
    Ok((files, data))
}

/// An SQLite file in the node's folder, or a new database on the local PostgreSQL or on the
/// cluster's replicated one (`--db patroni`).
fn with_database(
    db: Db,
    patroni: Option<&Patroni>,
    node_dir: &Path,
    name: &str,
    config: NodeConfig,
) -> Result<NodeConfig, String> {
    if let Some(patroni) = patroni {
        let database = format!("tm_{name}");
        patroni.create_database(&database)?;
        return Ok(config.database(
            &patroni.jdbc_url(&database),
            Some(&patroni.user),
            Some(&patroni.password),
        ));
    }
    Ok(match db {
        Db::Sqlite => config.sqlite(&node_dir.join("tm.db")),
        Db::Postgres => {
            let database =
                Database::create(&format!("tm_cluster_{}_{}", std::process::id(), name))?;
            config.database(
                &database.jdbc_url,
                Some(&database.user),
                Some(&database.password),
            )
        }
    })
}

/// The first node starts from the second, every other node from the first.
fn peers(ports: &[NodePorts], i: usize, tls: bool) -> Vec<String> {
    match i {
        0 => ports.get(1).map(|p| p.p2p_url(tls)).into_iter().collect(),
        _ => vec![ports[0].p2p_url(tls)],
    }
}

/// The processes of one node, each on its config file with `-o` overrides.
struct Processes<'a> {
    setup: &'a Setup,
    node: &'a str,
    node_dir: &'a Path,
    config: &'a Config,
    config_path: &'a Path,
}

impl Processes<'_> {
    /// Every instance of every interface, then GoQuorum's usual wiring: one more q2t-api on a
    /// unix socket. With replicas each instance binds its own port (`bindingAddress`) and the
    /// node advertises the balancer's.
    fn list(&self, ports: &NodePorts, socket: &Path) -> Vec<Process> {
        let mut processes = Vec::new();
        for iface in &INTERFACES {
            for (r, port) in ports.of(&iface.app).instances.iter().enumerate() {
                let overrides = if self.setup.replicas > 1 {
                    vec![format!(
                        "{}.bindingAddress={}",
                        self.server(&iface.app),
                        http_url(*port)
                    )]
                } else {
                    Vec::new()
                };
                let mut instance = self.process(
                    &format!("{}#{}", iface.binary, r + 1),
                    iface.binary,
                    overrides,
                    &format!("{}-{}.log", iface.binary, r + 1),
                );
                instance.health =
                    format!("{}{}", url(*port, self.setup.tls.is_some()), iface.health);
                processes.push(instance);
            }
        }
        let q2t = self.server(&AppType::Q2T);
        let mut overrides = vec![format!("{q2t}.serverAddress=unix:{}", socket.display())];
        if self.setup.tls.is_some() {
            // The socket is served plain (a STRICT entry on a socket is refused).
            overrides.push(format!("{q2t}.sslConfig.tls=OFF"));
        }
        processes.push(self.process("q2t-api#ipc", "q2t-api", overrides, "q2t-api-ipc.log"));
        processes
    }

    /// `serverConfigs[N]`, the entry of `app` as `-o` names it.
    fn server(&self, app: &AppType) -> String {
        let index = self
            .config
            .server_configs()
            .iter()
            .position(|s| s.app.as_ref() == Some(app))
            .unwrap_or_default();
        format!("serverConfigs[{index}]")
    }

    fn process(&self, instance: &str, binary: &str, overrides: Vec<String>, log: &str) -> Process {
        let mut args = vec![
            "-configfile".to_owned(),
            self.config_path.display().to_string(),
        ];
        for o in overrides {
            args.push("-o".into());
            args.push(o);
        }
        Process {
            name: format!("{}/{instance}", self.node),
            pid: 0,
            program: self.setup.bin.join(binary),
            args,
            cwd: self.node_dir.to_path_buf(),
            log: self.node_dir.join(log),
            health: String::new(),
        }
    }
}

/// What the balancer serves: every interface of every node, at its advertised address.
pub fn frontends(ports: &[NodePorts]) -> Vec<Frontend> {
    let mut frontends = Vec::new();
    for (i, node) in ports.iter().enumerate() {
        for iface in &INTERFACES {
            let ports = node.of(&iface.app);
            frontends.push(Frontend {
                name: format!("{}_{}", node_name(i), iface.binary.replace('-', "_")),
                listen: format!("127.0.0.1:{}", ports.advertised),
                backends: ports
                    .instances
                    .iter()
                    .map(|p| format!("127.0.0.1:{p}"))
                    .collect(),
            });
        }
    }
    frontends
}

/// Reads a node's config file back into the typed model (no overrides, no validation).
pub fn read_config(path: &Path) -> Result<Config, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tm_config::{load_file, EnvOverrides, LoadOptions, Profile};

    /// Each process's `-o` overrides, as the config loader takes them.
    fn overrides(process: &Process) -> Vec<String> {
        process
            .args
            .windows(2)
            .filter(|pair| pair[0] == "-o")
            .map(|pair| pair[1].clone())
            .collect()
    }

    #[test]
    fn every_process_loads_its_node_config_with_its_own_address() {
        let dir = std::env::temp_dir().join(format!("xtask-cluster-node-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let setup = Setup {
            dir: dir.clone(),
            db: Db::Sqlite,
            replicas: 2,
            bin: dir.join("bin"),
            balancer: None,
            tls: None,
            patroni: None,
            features: crate::cluster::Features {
                privacy_enhancements: true,
                ..Default::default()
            },
        };
        let ports = reserve_ports(2, 2).expect("ports");
        let node = write_node(&setup, &ports, 1).expect("node 2 written");
        assert_eq!(node.processes.len(), 4 * 2 + 1);
        for process in &node.processes {
            let options = LoadOptions {
                overrides: overrides(process),
                env: EnvOverrides::Disabled,
                profile: Profile::Node,
            };
            let config = load_file(&node.config, &options)
                .unwrap_or_else(|e| panic!("{}: {e}", process.name))
                .config;
            assert_eq!(
                config.peer.as_deref().unwrap_or_default()[0].url,
                node_peer(&ports)
            );
            // `cluster up --privacy-enhancements` reaches every process's config.
            assert!(config.features.enable_privacy_enhancements);
            assert!(!config.features.enable_multiple_private_states);
            let binary = process.program.file_name().and_then(|n| n.to_str());
            let app = INTERFACES
                .iter()
                .find(|i| Some(i.binary) == binary)
                .map(|i| i.app.clone())
                .expect("a known binary");
            let server = config.server(app).expect("its entry");
            let bound = server
                .binding_address
                .clone()
                .or(server.server_address.clone());
            if process.name.ends_with("#ipc") {
                assert_eq!(bound, Some(format!("unix:{}", node.q2t_socket.display())));
            } else {
                assert_eq!(
                    bound.map(|b| format!("{b}{}", health_path(&process.health))),
                    Some(process.health.clone()),
                    "{}",
                    process.name
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn node_peer(ports: &[NodePorts]) -> String {
        ports[0].p2p_url(false)
    }

    fn health_path(url: &str) -> &str {
        url.rfind('/').map_or("", |i| &url[i..])
    }
}
