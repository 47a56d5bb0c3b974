//! The transaction manager: everything a node does between its HTTP routes and its
//! store, enclave and peers.
//!
//! The P2P and Q2T services both call it; neither calls the other. Every piece of state another
//! instance needs (transactions, peers, which node serves which key, the versions a peer
//! advertised) is read from and written to the database, never kept in this process, so any
//! replica behind a load balancer can serve any request.

mod error;
pub mod groups;
mod measure;
pub mod party;
pub mod push;
pub mod recovery;
pub mod resend;
mod resident;
mod settings;
pub mod transaction;

use tm_client::p2p::P2pClient;
use tm_enclave::{EnclaveClient, EnclaveError};
use tm_store::AsyncStore;

pub use error::ManagerError;
pub use groups::GroupSummary;
pub use settings::Settings;

/// The transaction manager of one node: every operation the services' routes call, over the
/// node's settings, the shared database, the enclave and the P2P client. Routes reach the
/// database and the enclave only through its methods. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Node {
    settings: Settings,
    store: AsyncStore,
    enclave: EnclaveClient,
    p2p: P2pClient,
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
    let mut settings = tm_store::StoreSettings::new(
        jdbc.url.unwrap_or_else(|| DEFAULT_JDBC_URL.to_owned()),
        jdbc.username.as_deref(),
        jdbc.password.as_ref().map(|p| p.expose()),
        jdbc.auto_create_tables || create,
        POOL_SIZE,
    );
    // Orion mode (Besu) keys transactions by another digest (docs/privacy-groups.md).
    settings.digest =
        tm_core::PayloadDigest::for_orion_mode(config.mode == tm_config::ClientMode::Orion);
    Ok(AsyncStore::open(settings).await?)
}

impl Node {
    /// Connects everything a config describes: the database (`jdbc`), the enclave (remote when an
    /// `ENCLAVE` server is configured, else in-process) and the P2P client with Tessera's
    /// timeouts and the client half of the P2P server's `sslConfig`.
    pub async fn from_config(config: &tm_config::Config) -> Result<Self, ManagerError> {
        let settings = Settings::from_config(config)?;
        let store = open_store(config, false).await?;
        let enclave = tm_enclave::enclave_from_config(config).await?;
        let timeouts = tm_client::p2p::P2pTimeouts::new(
            settings.party_info_interval.mul_f64(0.75),
            settings.resend_wait_time,
        );
        // Tessera's P2P client takes the client half of the P2P server's `sslConfig`.
        let tls = match config.server(tm_config::AppType::P2P) {
            Some(server) => tm_tls::client_tls(server)
                .map_err(|e| ManagerError::Config(format!("P2P sslConfig: {e}")))?
                .map(|tls| tls.rustls()),
            None => None,
        };
        let p2p = P2pClient::with_tls(timeouts, tls)?;
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

    /// The node's settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Whether this instance can serve: its database answers and its enclave is up. (What
    /// `/readiness` reports; `/upcheck` stays unconditional, as in Tessera.)
    pub async fn readiness(&self) -> Result<(), ManagerError> {
        self.store.upcheck().await?;
        if let tm_enclave::Status::Stopped = self.enclave.status().await {
            return Err(EnclaveError::Unavailable("it does not answer /ping".into()).into());
        }
        Ok(())
    }

    /// The public keys the enclave holds.
    pub async fn public_keys(&self) -> Result<Vec<tm_core::PublicKey>, ManagerError> {
        Ok(self.enclave.public_keys().await?)
    }
}
