//! Party info and discovery (docs/protocol.md §9), with the party store in the database.
//!
//! Tessera keeps its PartyStore and NetworkStore in memory per instance; we keep them in our
//! own tables (`tm_peer`, `tm_recipient`, `tm_candidate`), so every replica of every service
//! sees what any of them learned: no "recipient not found" because a request landed on another
//! replica.
//!
//! Unlike Tessera, one failed poll does not forget a peer: `tm_peer` holds only nodes we have
//! had a successful contact with, a peer that stops answering is marked unreachable and keeps
//! its keys routed, and it is removed only after `peerGracePeriod` without any successful
//! contact. URLs other nodes list are candidates until one of our polls reaches them.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use tm_client::p2p::{KeyJson, PartyInfoJson, PeerJson};
use tm_core::partyinfo::{first_of_each, normalise_party_url, PartyInfo, Recipient};
use tm_core::seal::PrivacyMetadata;
use tm_core::{PayloadCodec, PublicKey};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio::task::JoinSet;

use crate::{ManagerError, Node};

/// A party info with more entries (recipients and parties) than this is a large job: its
/// in-memory work runs on the blocking pool and it waits for [`LARGE_JOBS`]. Real nodes send
/// their own few keys and the peers they know, far fewer than this.
pub const LARGE_PARTY_INFO_ENTRIES: usize = 1024;

/// A party-info body longer than this should be decoded on the blocking pool (`web::block`),
/// not on an async worker: decoding is linear, but 65 MiB of it still takes a while.
pub const LARGE_PARTY_INFO_BYTES: usize = 64 * 1024;

/// At most this many candidates are stored; URLs listed beyond it are ignored (a hostile party
/// info cannot grow `tm_candidate` without bound). Real networks have far fewer nodes.
pub const MAX_CANDIDATES: usize = 10_000;

/// At most this many candidates are polled per round, oldest first; the others wait for later
/// rounds (each failed candidate is dropped, so the queue moves).
pub const CANDIDATES_PER_ROUND: u32 = 64;

/// When the "too many candidates" warning was last logged (epoch ms): at most once a minute.
static CANDIDATE_CAP_LOGGED: AtomicI64 = AtomicI64::new(0);

/// How many large party infos a process works on at once: one (its sifting, then its party-store
/// writes). Each is linear, but a hostile peer can send many at once; the rest wait their turn
/// (FIFO) instead of each holding a blocking thread and a pooled connection, and their writes
/// would only contend for SQLite's one write lock. Small party infos, what real nodes send,
/// never wait for it. Process-wide: one process serves one node (tests running several nodes in
/// one process share it, which only orders their large jobs).
static LARGE_JOBS: Semaphore = Semaphore::const_new(1);

async fn large_job() -> Result<SemaphorePermit<'static>, ManagerError> {
    LARGE_JOBS
        .acquire()
        .await
        .map_err(|e| ManagerError::Internal(format!("party info queue closed: {e}")))
}

fn is_large(info: &PartyInfo) -> bool {
    info.recipients.len() + info.parties.len() > LARGE_PARTY_INFO_ENTRIES
}

/// Runs `f` on the blocking pool when `large`, else here.
async fn cpu<T, F>(large: bool, f: F) -> Result<T, ManagerError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if large {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ManagerError::Internal(format!("party info task failed: {e}")))
    } else {
        Ok(f())
    }
}

/// Where a recipient key is served, and what that node supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The node's P2P URL.
    pub url: String,
    /// The API versions it advertised in its last party info.
    pub versions: Vec<String>,
}

impl Route {
    /// The codec to push to this node with (CBOR iff it advertised `5.0`).
    pub fn codec(&self) -> PayloadCodec {
        PayloadCodec::preferred_for(self.versions.iter().map(String::as_str))
    }

    /// Whether the node advertised `version`.
    pub fn supports(&self, version: &str) -> bool {
        self.versions.iter().any(|v| v == version)
    }
}

/// What one broadcast round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BroadcastReport {
    /// Peers, candidates and configured peers that accepted our party info.
    pub reached: Vec<String>,
    /// Peers removed, with their keys, after `peerGracePeriod` without a successful contact.
    pub removed: Vec<String>,
    /// Peers (kept, marked unreachable) and configured peers that could not be reached or
    /// refused our party info.
    pub failed: Vec<String>,
    /// Candidates that could not be reached or refused our party info, dropped.
    pub dropped: Vec<String>,
}

/// What a URL polled in a round is to us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Polled {
    /// In `tm_peer`; `unreachable` if its last attempt had failed already.
    Peer { unreachable: bool },
    /// In `tm_candidate`.
    Candidate,
    /// Configured but not (or no longer) a peer: polled every round, never stored until it
    /// answers.
    Configured,
}

pub(crate) fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// What a party info contributes, duplicates dropped (first of each kept): the keys the caller
/// serves at its own URL, never one of `ours` (a peer cannot take over our keys' routes), and
/// the parties it lists other than `own_url`. Linear: hash sets only.
fn sift(
    info: PartyInfo,
    sender: &str,
    ours: &HashSet<PublicKey>,
    own_url: &str,
) -> (Vec<PublicKey>, Vec<String>) {
    let keys = first_of_each(
        info.recipients
            .into_iter()
            .filter(|r| normalise_party_url(&r.url) == sender && !ours.contains(&r.key))
            .map(|r| r.key)
            .collect(),
    );
    let parties = first_of_each(
        info.parties
            .iter()
            .map(|party| normalise_party_url(party))
            .filter(|party| party != own_url)
            .collect(),
    );
    (keys, parties)
}

impl Node {
    /// What we announce: our URL, our keys at our URL, and our peers (every one of them has had
    /// a successful contact; those unreachable for now included, as they keep their keys).
    pub async fn own_party_info(&self) -> Result<PartyInfo, ManagerError> {
        let url = self.settings.own_url.clone();
        let recipients = self
            .enclave
            .public_keys()
            .await?
            .into_iter()
            .map(|key| Recipient {
                key,
                url: url.clone(),
            })
            .collect();
        let parties = self
            .store
            .list_peers()
            .await?
            .into_iter()
            .filter(|peer| peer.last_contact.is_some())
            .map(|peer| peer.url)
            .collect();
        Ok(PartyInfo {
            url,
            recipients,
            parties,
        })
    }

    /// `POST /partyinfo`: records the caller (its URL, the keys it serves at that URL, its API
    /// versions; a successful contact, which clears any unreachable state), adds the parties
    /// it lists that are not peers as candidates, and returns the reply body.
    ///
    /// Linear in the party info (docs/security.md, "Work that stays linear in its input"): the
    /// recipients and parties are sifted with hash sets and the party store is written in a few
    /// batched transactions, only what changed, not one call per entry. With more than
    /// [`LARGE_PARTY_INFO_ENTRIES`] entries both steps run on the blocking pool, each after
    /// waiting its turn ([`LARGE_JOBS`]); remote key validation, which waits on the caller,
    /// holds no turn.
    pub async fn receive_party_info(
        &self,
        info: PartyInfo,
        versions: Vec<String>,
    ) -> Result<Vec<u8>, ManagerError> {
        let sender = normalise_party_url(&info.url);
        if self.settings.disable_peer_discovery && !self.settings.configured_peers.contains(&sender)
        {
            return Err(ManagerError::Forbidden(format!(
                "{} is not a known peer",
                info.url
            )));
        }
        let ours: HashSet<PublicKey> = self.enclave.public_keys().await?.into_iter().collect();
        let own_url = self.settings.own_url.clone();
        let caller = info.url.clone();
        let large = is_large(&info);
        let (mut keys, parties) = {
            let _turn = if large {
                Some(large_job().await?)
            } else {
                None
            };
            let sender = sender.clone();
            cpu(large, move || sift(info, &sender, &ours, &own_url)).await?
        };
        if self.settings.remote_key_validation {
            keys = self.validated_keys(&caller, keys).await?;
            if keys.is_empty() {
                return Err(ManagerError::KeyValidation(sender));
            }
        }
        let _turn = if large {
            Some(large_job().await?)
        } else {
            None
        };
        let store = self.store.blocking().clone();
        let own_sender = self.settings.is_own_url(&sender);
        let configured = self.settings.configured_peers.clone();
        let listed_by = sender.clone();
        let added = tokio::task::spawn_blocking(move || {
            if !own_sender {
                store.replace_peer_recipients(&sender, now_millis(), &versions, &keys)?;
            }
            // Configured peers are polled every round anyway; they are never candidates.
            let configured: HashSet<&String> = configured.iter().collect();
            let parties: Vec<String> = parties
                .into_iter()
                .filter(|party| !configured.contains(party))
                .collect();
            store.add_candidates(&parties, MAX_CANDIDATES)
        })
        .await
        .map_err(|e| ManagerError::Internal(format!("party store task failed: {e}")))??;
        if added.ignored > 0 {
            let now = now_millis();
            let last = CANDIDATE_CAP_LOGGED.load(Ordering::Relaxed);
            if now - last >= 60_000
                && CANDIDATE_CAP_LOGGED
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    sender = %listed_by,
                    ignored = added.ignored,
                    "{MAX_CANDIDATES} candidate peers are stored already; new ones listed in \
                     party info are ignored (logged at most once a minute)"
                );
            }
        }
        if self.settings.remote_key_validation {
            Ok(Vec::new())
        } else {
            Ok(PartyInfo {
                url: self.settings.own_url.clone(),
                ..PartyInfo::default()
            }
            .encode())
        }
    }

    /// Remote key validation: each key proves its node holds it by decrypting a random UUID
    /// we encrypt to it from our default key.
    async fn validated_keys(
        &self,
        url: &str,
        keys: Vec<PublicKey>,
    ) -> Result<Vec<PublicKey>, ManagerError> {
        let from = self.enclave.default_public_key().await?;
        let mut valid = Vec::new();
        for key in keys {
            let challenge = uuid::Uuid::new_v4().to_string();
            let payload = match self
                .enclave
                .encrypt_payload(
                    challenge.as_bytes(),
                    &from,
                    std::slice::from_ref(&key),
                    &PrivacyMetadata::default(),
                )
                .await
            {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::warn!(%key, "cannot build a key validation challenge: {e}");
                    continue;
                }
            };
            match self.p2p.validate(url, &payload).await {
                Ok(answer) if answer == challenge => valid.push(key),
                Ok(_) => tracing::warn!(%url, %key, "key validation failed: wrong answer"),
                Err(e) => tracing::warn!(%url, %key, "key validation failed: {e}"),
            }
        }
        Ok(valid)
    }

    /// `POST /partyinfo/validate`: decrypts a challenge for the first recipient key and returns
    /// it if it is a UUID (Tessera answers 400 otherwise).
    pub async fn answer_validation(&self, body: &[u8]) -> Result<String, ManagerError> {
        let payload = PayloadCodec::Legacy
            .decode(body)
            .map_err(|e| ManagerError::BadRequest(e.to_string()))?;
        let key = payload.recipient_keys.first().cloned().ok_or_else(|| {
            ManagerError::BadRequest("validation payload has no recipient key".into())
        })?;
        let plain = self
            .enclave
            .unencrypt_transaction(&payload, Some(&key))
            .await?;
        let text = String::from_utf8(plain).map_err(|_| ManagerError::BadRequest(String::new()))?;
        uuid::Uuid::parse_str(&text).map_err(|_| ManagerError::BadRequest(String::new()))?;
        Ok(text)
    }

    /// One broadcast round (docs/protocol.md §9.2): announce ourselves, in parallel, to every
    /// peer, to every configured peer that is not one, and to the oldest
    /// [`CANDIDATES_PER_ROUND`] candidates.
    ///
    /// A URL that accepts becomes (or stays) a peer with a fresh contact. A peer that fails is
    /// marked unreachable and keeps its keys, until `peerGracePeriod` has passed without a
    /// successful contact: then it is removed with them. A candidate that fails (refused,
    /// unreachable, or its TLS certificate not trusted) is dropped; a configured peer that
    /// fails stays configured and is polled again next round. Every write is one conditional
    /// statement, so replicas polling at once never undo each other's news.
    pub async fn broadcast_round(&self) -> Result<BroadcastReport, ManagerError> {
        let ours = self.own_party_info().await?;
        let targets = self.round_targets().await?;
        let mut calls = JoinSet::new();
        for (url, polled) in targets {
            let p2p = self.p2p.clone();
            let info = ours.clone();
            calls.spawn(async move {
                let started = now_millis();
                let result = p2p.party_info(&url, &info).await;
                (url, polled, started, result)
            });
        }
        let mut report = BroadcastReport::default();
        while let Some(joined) = calls.join_next().await {
            let Ok((url, polled, started, result)) = joined else {
                continue;
            };
            match result {
                Ok(_) => {
                    if polled != (Polled::Peer { unreachable: false }) {
                        tracing::info!(%url, "reached node");
                    }
                    self.store
                        .record_peer_reached(url.clone(), now_millis())
                        .await?;
                    report.reached.push(url);
                }
                Err(e) => {
                    self.poll_failed(url, polled, started, &e, &mut report)
                        .await?
                }
            }
        }
        report.reached.sort();
        report.removed.sort();
        report.failed.sort();
        report.dropped.sort();
        Ok(report)
    }

    /// Whom a round polls: every peer, every configured peer that is not one, and the oldest
    /// candidates; never ourselves, each URL once.
    async fn round_targets(&self) -> Result<Vec<(String, Polled)>, ManagerError> {
        let mut targets = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for peer in self.store.list_peers().await? {
            if !self.settings.is_own_url(&peer.url) && seen.insert(peer.url.clone()) {
                let unreachable = peer.is_unreachable();
                targets.push((peer.url, Polled::Peer { unreachable }));
            }
        }
        for url in &self.settings.configured_peers {
            if !self.settings.is_own_url(url) && seen.insert(url.clone()) {
                targets.push((url.clone(), Polled::Configured));
            }
        }
        for candidate in self.store.oldest_candidates(CANDIDATES_PER_ROUND).await? {
            if self.settings.is_own_url(&candidate.url) {
                self.store.remove_candidate(candidate.url).await?;
            } else if seen.insert(candidate.url.clone()) {
                targets.push((candidate.url, Polled::Candidate));
            }
        }
        Ok(targets)
    }

    /// Records a failed poll of `url` that started at `started` (epoch ms).
    async fn poll_failed(
        &self,
        url: String,
        polled: Polled,
        started: i64,
        error: &tm_client::ClientError,
        report: &mut BroadcastReport,
    ) -> Result<(), ManagerError> {
        let reason = error.to_string();
        match polled {
            Polled::Peer { unreachable } => {
                self.store
                    .mark_peer_unreachable(url.clone(), started, reason.clone())
                    .await?;
                let grace = self.settings.peer_grace_period;
                let cutoff = now_millis()
                    .saturating_sub(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX));
                if self.store.remove_peer_if_stale(url.clone(), cutoff).await? {
                    tracing::info!(
                        %url,
                        "no successful contact for {grace:?} (peerGracePeriod), removing the \
                         node and its keys: {reason}"
                    );
                    report.removed.push(url);
                } else {
                    if unreachable {
                        tracing::debug!(%url, "node still unreachable: {reason}");
                    } else {
                        tracing::info!(
                            %url,
                            "node unreachable, keeping its keys for up to {grace:?} \
                             (peerGracePeriod): {reason}"
                        );
                    }
                    report.failed.push(url);
                }
            }
            Polled::Candidate => {
                tracing::info!(%url, "candidate node not reached, dropping it: {reason}");
                self.store.remove_candidate(url.clone()).await?;
                report.dropped.push(url);
            }
            Polled::Configured => {
                tracing::info!(%url, "configured peer not reached: {reason}");
                report.failed.push(url);
            }
        }
        Ok(())
    }

    /// Broadcasts every `partyInfoInterval` until the task is dropped. Each replica runs its own
    /// loop; the database makes their views one.
    pub async fn run_discovery(self) {
        let mut ticks = tokio::time::interval(self.settings.party_info_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.broadcast_round().await {
                Ok(report) => tracing::debug!(?report, "party info round"),
                Err(e) => tracing::warn!("party info round failed: {e}"),
            }
            if let Err(e) = self.record_party_store().await {
                tracing::debug!("party store metrics not updated: {e}");
            }
        }
    }

    /// Sets the party store gauges (`tm_party_peers`, `tm_party_keys`, `tm_party_candidates`)
    /// from the database, as every replica sees it.
    pub async fn record_party_store(&self) -> Result<(), ManagerError> {
        let peers = self.store.list_peers().await?;
        let unreachable = peers.iter().filter(|p| p.is_unreachable()).count();
        let metrics = tm_metrics::metrics();
        let gauge = |state: &str, n: usize| {
            metrics
                .party_peers
                .with_label_values(&[state])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        };
        gauge("reachable", peers.len() - unreachable);
        gauge("unreachable", unreachable);
        let keys = self.store.count_recipients().await?;
        metrics
            .party_keys
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
        let candidates = self.store.count_candidates().await?;
        metrics
            .party_candidates
            .set(i64::try_from(candidates).unwrap_or(i64::MAX));
        Ok(())
    }

    /// `GET /partyinfo` (JSON): our URL, our peers with their state, every key we know with its
    /// node, and the candidates (stored ones, and configured peers that are not peers).
    pub async fn party_info_json(&self) -> Result<PartyInfoJson, ManagerError> {
        let url = self.settings.own_url.clone();
        let stored = self.store.list_peers().await?;
        let peer_urls: HashSet<&str> = stored.iter().map(|p| p.url.as_str()).collect();
        let mut candidates: Vec<PeerJson> = self
            .settings
            .configured_peers
            .iter()
            .filter(|c| !peer_urls.contains(c.as_str()) && !self.settings.is_own_url(c))
            .map(|c| PeerJson {
                url: c.clone(),
                ..PeerJson::default()
            })
            .collect();
        let limit = u32::try_from(MAX_CANDIDATES).unwrap_or(u32::MAX);
        for candidate in self.store.oldest_candidates(limit).await? {
            if !candidates.iter().any(|c| c.url == candidate.url) {
                candidates.push(PeerJson {
                    url: candidate.url,
                    ..PeerJson::default()
                });
            }
        }
        let peers = stored.into_iter().map(peer_json).collect();
        let mut keys: Vec<KeyJson> = self
            .enclave
            .public_keys()
            .await?
            .into_iter()
            .map(|key| KeyJson {
                key,
                url: url.clone(),
            })
            .collect();
        keys.extend(
            self.store
                .list_recipients()
                .await?
                .into_iter()
                .map(|route| KeyJson {
                    key: route.public_key,
                    url: route.peer_url,
                }),
        );
        Ok(PartyInfoJson {
            url,
            peers,
            keys,
            candidates,
        })
    }

    /// Every key known: ours first, then those learned through discovery
    /// (ThirdParty `GET /partyinfo/keys`).
    pub async fn known_keys(&self) -> Result<Vec<PublicKey>, ManagerError> {
        let mut keys = self.enclave.public_keys().await?;
        keys.extend(
            self.store
                .list_recipients()
                .await?
                .into_iter()
                .map(|route| route.public_key),
        );
        // The routes may be many (a peer can advertise any number of keys): a hash set, not a
        // scan of the list per key.
        Ok(first_of_each(keys))
    }

    /// The node serving a remote recipient key; unknown keys are Tessera's 404
    /// `Recipient not found for key: <b64>`. A node marked unreachable still routes: the push
    /// is attempted, and only its failure fails the send.
    pub async fn route(&self, key: &PublicKey) -> Result<Route, ManagerError> {
        self.routes(vec![key.clone()])
            .await?
            .pop()
            .map_or_else(|| Err(recipient_not_found(key)), |(_, route)| route)
    }

    /// [`Node::route`] of each of `keys`, in order, looked up in one trip to the database that
    /// reads each node's row once (a send to ten keys of one node reads it once, not ten
    /// times; docs/benchmarks.md, "Profile of the send path").
    pub async fn routes(&self, keys: Vec<PublicKey>) -> Result<Vec<Routed>, ManagerError> {
        let found = self.store.find_routes(keys.clone()).await?;
        Ok(routed(keys, found))
    }
}

/// A key and the node serving it, or why there is none (see [`Node::route`]).
pub type Routed = (PublicKey, Result<Route, ManagerError>);

/// `keys` paired with what [`tm_store::Store::find_routes`] found for each.
pub(crate) fn routed(keys: Vec<PublicKey>, found: Vec<Option<tm_store::Peer>>) -> Vec<Routed> {
    keys.into_iter()
        .zip(found)
        .map(|(key, peer)| {
            let route = peer
                .map(Route::from)
                .ok_or_else(|| recipient_not_found(&key));
            (key, route)
        })
        .collect()
}

/// Tessera's 404 for a key no node serves.
fn recipient_not_found(key: &PublicKey) -> ManagerError {
    ManagerError::NotFound(format!("Recipient not found for key: {key}"))
}

impl From<tm_store::Peer> for Route {
    fn from(peer: tm_store::Peer) -> Self {
        Self {
            url: peer.url,
            versions: peer.api_versions.unwrap_or_default(),
        }
    }
}

/// A peer as `GET /partyinfo` shows it.
fn peer_json(peer: tm_store::Peer) -> PeerJson {
    let state = if peer.is_unreachable() {
        "unreachable"
    } else {
        "reachable"
    };
    PeerJson {
        state: Some(state.to_owned()),
        last_contact: peer.last_contact.and_then(rfc3339),
        unreachable_since: peer.unreachable_since.and_then(rfc3339),
        last_error: peer.last_error,
        url: peer.url,
    }
}

/// Epoch milliseconds as RFC 3339 in UTC (`2026-11-30T13:22:41.123Z`); `None` if out of range.
pub fn rfc3339(millis: i64) -> Option<String> {
    let nanos = i128::from(millis) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}
