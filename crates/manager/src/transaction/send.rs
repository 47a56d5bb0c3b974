//! Sending: `/send`, `/sendraw`, `/sendsignedtx`, `/storeraw` and `/encodedpayload/create`
//! (docs/protocol.md §10.1, `TransactionManagerImpl.send`, `PrivacyHelperImpl`,
//! `RestPayloadPublisher`).
//!
//! A send that fails leaves no row on this node, even when the process is killed or frozen
//! half-way (docs/q2t.md, "The send path"): the sender's row is inserted last, only once every
//! push succeeded and only while the send's deadline (`sendTimeout`) has not passed. Tessera
//! inserts first and rolls the insert back when a push fails, which a killed process cannot do.

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;

use tm_core::payload::PrivacyGroupId;
use tm_core::seal::{PrivacyMetadata, RawTransaction};
use tm_core::version::GROUPED_PUSH_MARK;
use tm_core::{EncodedPayload, PrivacyMode, PublicKey, TxHash};
use tm_store::{EncryptedRawTransaction, StoreError};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Privacy, SendParams, Sent, SignedParams};
use crate::party::{routed, Route};
use crate::{ManagerError, Node};

/// Appends `keys` to `list`, skipping those already present (order kept, as Java's
/// `distinct()` keeps it).
fn extend_distinct(list: &mut Vec<PublicKey>, keys: impl IntoIterator<Item = PublicKey>) {
    let mut seen: std::collections::HashSet<PublicKey> = list.iter().cloned().collect();
    for key in keys {
        if seen.insert(key.clone()) {
            list.push(key);
        }
    }
}

/// The remote recipients whose copy goes to one node in one push, and that node. Several keys
/// share a push only when the node merges such a push (docs/p2p.md, "One push per node");
/// otherwise each key has its own, as Tessera's publisher sends them.
struct Delivery {
    keys: Vec<PublicKey>,
    route: Route,
}

/// A send's payload, encrypted, with its final recipients and its sender.
struct Sealed {
    payload: EncodedPayload,
    recipients: Vec<PublicKey>,
    sender: PublicKey,
}

/// When a send must be done by: `sendTimeout` after it started, on the monotonic clock, so a
/// process frozen (SIGSTOP) past it, or a wall clock set back meanwhile, still sees it passed.
/// A zero `sendTimeout` means no deadline.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: Option<Instant>,
    budget: Duration,
}

impl Deadline {
    /// `budget` from now.
    fn after(budget: Duration) -> Self {
        let now = Instant::now();
        let at = (!budget.is_zero()).then(|| {
            // A budget too large for the clock is as good as none (a year stands for it).
            now.checked_add(budget)
                .unwrap_or_else(|| now + Duration::from_secs(365 * 86_400))
        });
        Self { at, budget }
    }

    /// What a send past its deadline fails with: 500 with this text. Never a 503 or 504: a
    /// balancer may retry those on another replica, and a send is never replayed.
    fn expired(&self) -> ManagerError {
        ManagerError::Internal(format!(
            "Transaction not sent: not completed within sendTimeout ({} ms); this node stored nothing",
            self.budget.as_millis()
        ))
    }

    /// Fails when the deadline has passed.
    fn check(&self) -> Result<(), ManagerError> {
        match self.at {
            Some(at) if Instant::now() >= at => Err(self.expired()),
            _ => Ok(()),
        }
    }

    /// Runs `work` until the deadline; past it, `work` is dropped and the send fails.
    async fn bound<F: Future>(&self, work: F) -> Result<F::Output, ManagerError> {
        match self.at {
            Some(at) => tokio::time::timeout_at(at, work)
                .await
                .map_err(|_| self.expired()),
            None => Ok(work.await),
        }
    }
}

/// Tessera's error for a send whose hash is stored already (its insert fails on the primary
/// key: a `/sendsignedtx` repeated).
fn already_stored(hash: &TxHash) -> StoreError {
    StoreError::InvalidExistingTransaction {
        hash: hash.to_base64(),
    }
}

impl Node {
    /// The sender key: the one given, or the enclave's default key.
    async fn sender_or_default(&self, from: Option<PublicKey>) -> Result<PublicKey, ManagerError> {
        match from {
            Some(key) => Ok(key),
            None => Ok(self.enclave.default_public_key().await?),
        }
    }

    /// Members of an active privacy group (404 `Privacy group Id[...] not found` otherwise).
    pub async fn privacy_group_members(
        &self,
        id: &PrivacyGroupId,
    ) -> Result<Vec<PublicKey>, ManagerError> {
        Ok(self.active_group(id).await?.members)
    }

    /// `PrivacyHelper`: looks up the affected transactions (403 if one is missing) and checks
    /// the privacy rules of a send against them; returns the metadata to encrypt with.
    async fn privacy_metadata(
        &self,
        privacy: Privacy,
        recipients: &[PublicKey],
    ) -> Result<PrivacyMetadata, ManagerError> {
        let Privacy {
            privacy_mode,
            affected,
            exec_hash,
            privacy_group_id,
            mandatory_recipients: mandatory,
            ..
        } = privacy;
        let wanted: BTreeSet<TxHash> = affected.iter().cloned().collect();
        let found = if wanted.is_empty() {
            Vec::new()
        } else {
            self.store
                .find_payloads(wanted.iter().cloned().collect())
                .await?
        };
        if let Some(missing) = wanted
            .iter()
            .find(|hash| !found.iter().any(|stored| &stored.hash == *hash))
        {
            return Err(ManagerError::Forbidden(format!(
                "Unable to find affectedContractTransaction {missing}"
            )));
        }
        if privacy_mode != PrivacyMode::StandardPrivate && !self.settings.privacy_enhancements {
            return Err(ManagerError::Forbidden(
                "Enhanced Privacy is not enabled".into(),
            ));
        }
        let mandatory: BTreeSet<PublicKey> = if privacy_mode == PrivacyMode::MandatoryRecipients {
            mandatory.iter().cloned().collect()
        } else {
            BTreeSet::new()
        };
        if privacy_mode == PrivacyMode::MandatoryRecipients
            && !mandatory.iter().all(|key| recipients.contains(key))
        {
            return Err(ManagerError::Forbidden(
                "One or more mandatory recipients not included in the participant list".into(),
            ));
        }
        let ours: BTreeSet<&PublicKey> = recipients.iter().collect();
        for stored in &found {
            let theirs: BTreeSet<&PublicKey> = stored.payload.recipient_keys.iter().collect();
            if privacy_mode == PrivacyMode::PrivateStateValidation && ours != theirs {
                return Err(ManagerError::Forbidden(format!(
                    "Recipients mismatched for Affected Txn {}",
                    stored.hash
                )));
            }
            if stored.payload.privacy_mode != privacy_mode
                || !stored.payload.mandatory_recipients.is_subset(&mandatory)
            {
                return Err(ManagerError::Forbidden(format!(
                    "Privacy metadata mismatched with Affected Txn {}",
                    stored.hash
                )));
            }
        }
        Ok(PrivacyMetadata {
            privacy_mode,
            affected: found
                .into_iter()
                .map(|stored| (stored.hash, stored.payload))
                .collect(),
            exec_hash,
            privacy_group_id,
            mandatory_recipients: mandatory,
        })
    }

    /// The final recipient list of a send: the group's members (or the given keys), the sender
    /// and the forwarding keys, without duplicates.
    async fn recipients_for(
        &self,
        to: Vec<PublicKey>,
        sender: &PublicKey,
        privacy_group_id: Option<&PrivacyGroupId>,
    ) -> Result<Vec<PublicKey>, ManagerError> {
        let given = match privacy_group_id {
            Some(id) => {
                let members = self.privacy_group_members(id).await?;
                // Stricter than Tessera, which sends to the members and adds the sender: a key
                // outside the group cannot send as the group (docs/privacy-groups.md).
                if !members.contains(sender) {
                    return Err(ManagerError::Forbidden(
                        "Sender of request does not belong to this privacy group".into(),
                    ));
                }
                members
            }
            None => to,
        };
        let mut recipients = Vec::with_capacity(given.len() + 1);
        extend_distinct(&mut recipients, given);
        extend_distinct(&mut recipients, [sender.clone()]);
        extend_distinct(&mut recipients, self.enclave.forwarding_keys().await?);
        Ok(recipients)
    }

    /// `/send` and `/sendraw`: encrypts for the sender, the recipients and the forwarding keys,
    /// pushes to every remote recipient, then stores. A failed push or a passed deadline
    /// (`sendTimeout`) fails the call with nothing stored here (copies already pushed stay with
    /// their recipients, as in Tessera).
    pub async fn send(&self, params: SendParams) -> Result<Sent, ManagerError> {
        crate::measure::send(async {
            if params.payload.is_empty() {
                return Err(ManagerError::BadRequest("payload is required".into()));
            }
            let deadline = Deadline::after(self.settings.send_timeout);
            let sealed = deadline.bound(self.seal_send(params)).await??;
            self.distribute_and_store(sealed, deadline).await
        })
        .await
    }

    /// `/sendsignedtx`: boxes the key of a raw transaction stored by `/storeraw` for the
    /// recipients, pushes it and stores it under the raw hash, as [`Node::send`] does.
    pub async fn send_signed(&self, params: SignedParams) -> Result<Sent, ManagerError> {
        crate::measure::send(async {
            let deadline = Deadline::after(self.settings.send_timeout);
            let sealed = deadline.bound(self.seal_signed(params)).await??;
            self.distribute_and_store(sealed, deadline).await
        })
        .await
    }

    /// The payload of a send, encrypted for its recipients.
    async fn seal_send(&self, mut params: SendParams) -> Result<Sealed, ManagerError> {
        let sender = self.sender_or_default(params.from).await?;
        let to = std::mem::take(&mut params.privacy.to);
        let recipients = self
            .recipients_for(to, &sender, params.privacy.privacy_group_id.as_ref())
            .await?;
        let metadata = self.privacy_metadata(params.privacy, &recipients).await?;
        let payload = self
            .enclave
            .encrypt_payload(&params.payload, &sender, &recipients, &metadata)
            .await?;
        Ok(Sealed {
            payload,
            recipients,
            sender,
        })
    }

    /// The stored raw transaction of a signed send, its key boxed for the recipients.
    async fn seal_signed(&self, mut params: SignedParams) -> Result<Sealed, ManagerError> {
        let raw = self
            .store
            .find_raw(params.hash.clone())
            .await?
            .ok_or_else(|| {
                ManagerError::NotFound(format!(
                    "Raw Transaction with hash {} was not found",
                    params.hash
                ))
            })?;
        let raw = RawTransaction {
            encrypted_payload: raw.encrypted_payload,
            encrypted_key: raw.encrypted_key,
            nonce: raw.nonce.into(),
            sender: raw.sender,
        };
        let to = std::mem::take(&mut params.privacy.to);
        let recipients = self
            .recipients_for(to, &raw.sender, params.privacy.privacy_group_id.as_ref())
            .await?;
        let metadata = self.privacy_metadata(params.privacy, &recipients).await?;
        let payload = self
            .enclave
            .encrypt_raw_for_recipients(&raw, &recipients, &metadata)
            .await?;
        Ok(Sealed {
            payload,
            recipients,
            sender: raw.sender,
        })
    }

    /// `/encodedpayload/create`: encrypts as a send would (sender and forwarding keys added,
    /// privacy rules checked) without storing or pushing anything.
    pub async fn encrypt_only(
        &self,
        mut params: SendParams,
    ) -> Result<EncodedPayload, ManagerError> {
        if params.payload.is_empty() {
            return Err(ManagerError::BadRequest("payload is required".into()));
        }
        let sender = self.sender_or_default(params.from).await?;
        let mut recipients = vec![sender.clone()];
        extend_distinct(&mut recipients, std::mem::take(&mut params.privacy.to));
        extend_distinct(&mut recipients, self.enclave.forwarding_keys().await?);
        let metadata = self.privacy_metadata(params.privacy, &recipients).await?;
        Ok(self
            .enclave
            .encrypt_payload(&params.payload, &sender, &recipients, &metadata)
            .await?)
    }

    /// `/storeraw`: seals the payload for the sender alone and keeps it in the raw table.
    pub async fn store_raw(
        &self,
        payload: Vec<u8>,
        from: Option<PublicKey>,
    ) -> Result<TxHash, ManagerError> {
        if payload.is_empty() {
            return Err(ManagerError::BadRequest("payload is required".into()));
        }
        let sender = self.sender_or_default(from).await?;
        let raw = self.enclave.encrypt_raw_payload(&payload, &sender).await?;
        let hash = raw.hash_with(self.store.digest());
        self.store
            .store_raw(EncryptedRawTransaction {
                hash: hash.clone(),
                encrypted_payload: raw.encrypted_payload,
                encrypted_key: raw.encrypted_key,
                nonce: raw.nonce.0,
                sender: raw.sender,
                timestamp: None,
            })
            .await?;
        Ok(hash)
    }

    /// Pushes a freshly encrypted payload to every remote recipient, then stores it, all
    /// before `deadline`. The order is what makes a failed send leave nothing here: killed or
    /// failed before the insert, this node holds no row; the insert happens only once every
    /// recipient holds its copy, and not at all once the deadline has passed (a process frozen
    /// while pushing finds it passed when it resumes).
    async fn distribute_and_store(
        &self,
        sealed: Sealed,
        deadline: Deadline,
    ) -> Result<Sent, ManagerError> {
        let Sealed {
            payload,
            recipients,
            sender,
        } = sealed;
        let hash = self.store.hash_of(&payload);
        let (managed_parties, deliveries) = deadline
            .bound(self.plan_deliveries(&payload, &recipients, &sender, &hash))
            .await??;
        self.push_all(&payload, deliveries, deadline).await?;
        // Last chance to give up: the insert itself is not cut short (a write the database
        // commits after we answered would be the very orphan this order avoids).
        deadline.check()?;
        let row = payload.clone();
        let duplicate = hash.clone();
        self.store
            .upsert_payload_with(hash.clone(), move |existing| match existing {
                None => Ok(Some(row.clone())),
                // Another request stored the same hash since the check above.
                Some(_) => Err(already_stored(&duplicate)),
            })
            .await?;
        Ok(Sent {
            hash,
            managed_parties,
            sender,
        })
    }

    /// Our keys among the recipients, and where each other recipient's copy goes. Routes and
    /// capabilities are checked here, so a send refused for them (404, 403) pushes nothing;
    /// then a hash stored already is refused, before anything is pushed (Tessera inserts, and
    /// flushes, before it publishes). The lookups are one trip to the database.
    /// The sender is one of our keys: a remote enclave's kept key list without it is fetched
    /// again first (a key added by a restart of the enclave), so it is never routed as remote.
    async fn plan_deliveries(
        &self,
        payload: &EncodedPayload,
        recipients: &[PublicKey],
        sender: &PublicKey,
        hash: &TxHash,
    ) -> Result<(Vec<PublicKey>, Vec<Delivery>), ManagerError> {
        let ours = self.enclave.public_keys_including(sender).await?;
        let (managed_parties, remote): (Vec<PublicKey>, Vec<PublicKey>) = recipients
            .iter()
            .cloned()
            .partition(|key| ours.contains(key));
        let (found, held) = self
            .store
            .find_routes_and_payload(remote.clone(), hash.clone())
            .await?;
        let mut deliveries: Vec<Delivery> = Vec::new();
        // The delivery of each node that takes grouped pushes, by URL.
        let mut grouped: HashMap<String, usize> = HashMap::new();
        for (key, route) in routed(remote, found) {
            let route = route?;
            check_capabilities(payload, &key, &route)?;
            if route.supports(GROUPED_PUSH_MARK) {
                if let Some(&at) = grouped.get(&route.url) {
                    deliveries[at].keys.push(key);
                    continue;
                }
                grouped.insert(route.url.clone(), deliveries.len());
            }
            deliveries.push(Delivery {
                keys: vec![key],
                route,
            });
        }
        if held.is_some() {
            return Err(ManagerError::from(already_stored(hash)));
        }
        Ok((managed_parties, deliveries))
    }

    /// Pushes each delivery's copy in parallel. The first failure, or the deadline, ends the
    /// others, and they have ended (not only been told to) when this returns: nothing more is
    /// sent to any peer for a send that has failed.
    async fn push_all(
        &self,
        payload: &EncodedPayload,
        deliveries: Vec<Delivery>,
        deadline: Deadline,
    ) -> Result<(), ManagerError> {
        let mut pushes = JoinSet::new();
        for delivery in deliveries {
            let copy = payload
                .for_recipients(&delivery.keys)
                .map_err(|e| ManagerError::Enclave(e.into()))?;
            let p2p = self.p2p.clone();
            // The pushes are part of the send's trace.
            pushes.spawn(tm_trace::carried(async move {
                let codec = delivery.route.codec();
                p2p.push(&delivery.route.url, &copy, codec)
                    .await
                    .map_err(|e| push_error(&delivery.route.url, e))
            }));
        }
        let outcome = loop {
            match deadline.bound(pushes.join_next()).await {
                Err(expired) => break Err(expired),
                Ok(None) => break Ok(()),
                Ok(Some(Ok(Ok(_)))) => {}
                Ok(Some(Ok(Err(refused)))) => break Err(refused),
                Ok(Some(Err(e))) => break Err(ManagerError::Internal(format!("push task: {e}"))),
            }
        };
        if outcome.is_err() {
            pushes.shutdown().await;
        }
        outcome
    }
}

/// A push that failed: offline is 410; any other answer is Tessera's `PublishPayloadException`
/// (500 `Unable to push payload to recipient url <url>`).
fn push_error(url: &str, error: tm_client::ClientError) -> ManagerError {
    if error.is_offline() {
        ManagerError::NodeOffline(error.to_string())
    } else {
        tracing::warn!(%url, "push refused: {error}");
        ManagerError::PushFailed(format!("Unable to push payload to recipient url {url}"))
    }
}

/// `RestPayloadPublisher`'s checks of what the recipient's node advertised.
fn check_capabilities(
    payload: &EncodedPayload,
    key: &PublicKey,
    route: &Route,
) -> Result<(), ManagerError> {
    if payload.privacy_mode != PrivacyMode::StandardPrivate && !route.supports("v2") {
        return Err(ManagerError::Forbidden(format!(
            "Transactions with enhanced privacy is not currently supported on recipient {key}"
        )));
    }
    if payload.privacy_mode == PrivacyMode::MandatoryRecipients && !route.supports("4.0") {
        return Err(ManagerError::Forbidden(format!(
            "Transactions with mandatory recipients are not currently supported on recipient {key}"
        )));
    }
    if payload.privacy_group_id.is_some() && !route.supports("3.0") {
        return Err(ManagerError::Forbidden(format!(
            "Transactions with privacy group is not currently supported on recipient {key}"
        )));
    }
    Ok(())
}
