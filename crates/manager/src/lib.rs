//! The transaction manager: everything a node does between its HTTP routes and its
//! store, enclave and peers.
//!
//! The P2P and Q2T services both call it; neither calls the other. Every piece of state another
//! instance needs (transactions, peers, which node serves which key, the versions a peer
//! advertised) is read from and written to the database, never kept in this process, so any
//! replica behind a load balancer can serve any request.

mod error;
pub mod party;
pub mod push;
pub mod resend;
mod settings;
pub mod transaction;

use tm_client::p2p::P2pClient;
use tm_enclave::EnclaveClient;
use tm_store::AsyncStore;

pub use error::ManagerError;
pub use settings::Settings;

/// What every operation needs: settings, the database, the enclave and the P2P client.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct Node {
    /// The node's settings.
    pub settings: Settings,
    /// The shared database.
    pub store: AsyncStore,
    /// The key holder.
    pub enclave: EnclaveClient,
    /// Calls to other nodes.
    pub p2p: P2pClient,
}

/// The database a config without `jdbc.url` uses: embedded SQLite in the working directory.
pub const DEFAULT_JDBC_URL: &str = "jdbc:sqlite:tm.db";

/// Connections per pool; each service instance holds one pool.
const POOL_SIZE: u32 = 10;

/// Opens the database of `config` (`jdbc`, embedded SQLite when absent), creating or upgrading
/// the tables when `jdbc.autoCreateTables` is set or `create` is true.
pub async fn open_store(
    config: &tm_config::Config,
    create: bool,
) -> Result<AsyncStore, ManagerError> {
    let jdbc = config.jdbc.clone().unwrap_or_default();
    Ok(AsyncStore::connect(
        jdbc.url.unwrap_or_else(|| DEFAULT_JDBC_URL.to_owned()),
        jdbc.username,
        jdbc.password.map(|p| p.expose().to_owned()),
        jdbc.auto_create_tables || create,
        POOL_SIZE,
    )
    .await?)
}

impl Node {
    /// Connects everything a config describes: the database (`jdbc`), the enclave (remote when an
    /// `ENCLAVE` server is configured, else in-process) and the P2P client with Tessera's
    /// timeouts.
    pub async fn from_config(config: &tm_config::Config) -> Result<Self, ManagerError> {
        let settings = Settings::from_config(config)?;
        let store = open_store(config, false).await?;
        let enclave = tm_enclave::enclave_from_config(config).await?;
        let timeouts = tm_client::p2p::P2pTimeouts {
            request: settings.party_info_interval.mul_f64(0.75),
            resend: settings.resend_wait_time,
        };
        let p2p = P2pClient::new(timeouts)?;
        Ok(Self::new(settings, store, enclave, p2p))
    }

    /// Assembles a node.
    pub fn new(
        settings: Settings,
        store: AsyncStore,
        enclave: EnclaveClient,
        p2p: P2pClient,
    ) -> Self {
        Self {
            settings,
            store,
            enclave,
            p2p,
        }
    }
}
