use std::time::Duration;

use tm_config::{AppType, Config};
use tm_core::partyinfo::normalise_party_url;

use crate::groups::GroupSummary;
use crate::ManagerError;

/// The parts of Tessera's config the transaction manager acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// This node's P2P URL as peers reach it (the P2P `serverAddress`, normalised): behind a
    /// load balancer, the balancer's address.
    pub own_url: String,
    /// The configured `peer` URLs, normalised.
    pub configured_peers: Vec<String>,
    /// `disablePeerDiscovery`: only configured peers may announce themselves.
    pub disable_peer_discovery: bool,
    /// `useWhiteList`: only hosts of configured peers may call the P2P API.
    pub use_white_list: bool,
    /// `features.enableRemoteKeyValidation`.
    pub remote_key_validation: bool,
    /// `features.enablePrivacyEnhancements`.
    pub privacy_enhancements: bool,
    /// `partyInfoInterval` of the P2P server (5 s by default).
    pub party_info_interval: Duration,
    /// `resendWaitTime` of the P2P server (2 h by default).
    pub resend_wait_time: Duration,
    /// Ours: `peerGracePeriod` of the P2P server (5 min by default). A peer that cannot be
    /// reached keeps its keys routable until this long has passed without a successful
    /// contact (docs/protocol.md §9, docs/operations.md).
    pub peer_grace_period: Duration,
    /// Ours: `sendTimeout` of the Q2T server (4.5 s by default, under GoQuorum's 5 s PTM
    /// timeout). A send not done by then fails and leaves nothing stored.
    pub send_timeout: Duration,
    /// `features.enableMultiplePrivateStates`.
    pub multiple_private_states: bool,
    /// The configured `residentGroups`, as `GET /groups/resident` lists them (a resident
    /// group's id is its name's bytes).
    pub resident_groups: Vec<GroupSummary>,
}

impl Settings {
    /// Reads the settings from a validated config.
    pub fn from_config(config: &Config) -> Result<Self, ManagerError> {
        let p2p = config
            .server(AppType::P2P)
            .ok_or_else(|| ManagerError::Config("no P2P server is configured".into()))?;
        let address = p2p
            .server_address()
            .map_err(|e| ManagerError::Config(format!("P2P serverAddress: {e}")))?;
        let own_url = address
            .base_url()
            .ok_or_else(|| ManagerError::Config("the P2P server cannot be a unix socket".into()))?;
        Ok(Self {
            own_url: normalise_party_url(own_url.as_str()),
            configured_peers: config
                .peer
                .iter()
                .flatten()
                .map(|peer| normalise_party_url(&peer.url))
                .collect(),
            disable_peer_discovery: config.disable_peer_discovery,
            use_white_list: config.use_white_list,
            remote_key_validation: config.features.enable_remote_key_validation,
            privacy_enhancements: config.features.enable_privacy_enhancements,
            party_info_interval: Duration::from_millis(
                p2p.property_millis("partyInfoInterval", 5000),
            ),
            resend_wait_time: Duration::from_millis(
                p2p.property_millis("resendWaitTime", 7_200_000),
            ),
            peer_grace_period: Duration::from_millis(
                p2p.property_millis("peerGracePeriod", 300_000),
            ),
            send_timeout: Duration::from_millis(
                config
                    .server(AppType::Q2T)
                    .map_or(4_500, |q2t| q2t.property_millis("sendTimeout", 4_500)),
            ),
            multiple_private_states: config.features.enable_multiple_private_states,
            resident_groups: config
                .resident_groups
                .iter()
                .map(|group| GroupSummary {
                    id: group.name.as_bytes().to_vec(),
                    name: group.name.clone(),
                    description: group.description.clone().unwrap_or_default(),
                    group_type: "RESIDENT".into(),
                    members: group.members.clone(),
                })
                .collect(),
        })
    }

    /// Whether `url` is this node.
    pub fn is_own_url(&self, url: &str) -> bool {
        normalise_party_url(url) == self.own_url
    }
}
