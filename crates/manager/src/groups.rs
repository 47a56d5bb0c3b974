//! Privacy groups as the transaction manager serves them: groups another node pushes to us
//! (P2P `/pushPrivacyGroup`) and the Q2T listing of active groups by type
//! (`GET /groups/{type}`, docs/protocol.md).

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::{PrivacyGroupRecord, GROUP_TYPES};
use tm_core::PublicKey;
use tm_store::PrivacyGroupRow;

use crate::{ManagerError, Node};

/// A privacy group as the Q2T API lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSummary {
    /// The group id's bytes (a resident group's id is its name's bytes).
    pub id: Vec<u8>,
    /// Its name.
    pub name: String,
    /// Its description (empty when none).
    pub description: String,
    /// `LEGACY`, `PANTHEON` or `RESIDENT`.
    pub group_type: String,
    /// Its members' public keys, base64.
    pub members: Vec<String>,
}

impl Node {
    /// Stores a privacy group another node pushed to us, as Tessera's `storePrivacyGroup` does
    /// and stricter where a peer could otherwise rewrite what we hold (docs/security.md, "Pushes
    /// we refuse that Tessera would store"):
    ///
    /// - a record whose type, state or members cannot be valid is refused (400; Tessera's
    ///   `valueOf` fails with a 500 for an unknown type or state, and it checks nothing else);
    /// - `ACTIVE`: the group is inserted if its id is new; the same record again changes
    ///   nothing; a different record under a held id (another name, description or state: a
    ///   deleted group brought back) is refused with 403 (Tessera's insert fails: 500). A
    ///   group none of our keys is in, or none of whose other members a known peer serves,
    ///   is 403, and so is any resident group (each node's own, from its config).
    /// - `DELETED`: replaces the group held under its id only if it is that group with the
    ///   state changed, as `deletePrivacyGroup` builds it (403 otherwise; Tessera writes any
    ///   record); a group we do not hold is not stored (as Tessera).
    pub async fn receive_privacy_group(
        &self,
        record: PrivacyGroupRecord,
    ) -> Result<(), ManagerError> {
        record
            .check()
            .map_err(|e| ManagerError::BadRequest(e.to_string()))?;
        let row = PrivacyGroupRow::from_record(&record);
        let id = tm_core::b64::encode(row.id.as_bytes());
        if record.state == "DELETED" {
            let Some(held) = self.store.find_privacy_group(row.id.clone()).await? else {
                tracing::debug!(group = %id, "deleted privacy group not held here: nothing to do");
                return Ok(());
            };
            let held = held.record().map_err(|e| {
                ManagerError::Internal(format!("stored privacy group {id} does not decode: {e}"))
            })?;
            let deleted = PrivacyGroupRecord {
                state: record.state.clone(),
                ..held
            };
            if deleted != record {
                return Err(ManagerError::Forbidden(format!(
                    "Privacy group {id} is held with other data: a deletion must carry the group as held"
                )));
            }
            self.store.save_privacy_group(row).await?;
            return Ok(());
        }
        self.check_pushed_membership(&record, &id).await?;
        if record.group_type == "RESIDENT" {
            // Resident groups are each node's own (its config's), never published by Tessera;
            // one pushed with a key of ours would make our next start refuse (a key in two
            // resident groups).
            return Err(ManagerError::Forbidden(format!(
                "Resident group {} cannot be pushed by a peer: resident groups are set by each node's config",
                record.name
            )));
        }
        let data = row.data.clone();
        let stored = self.store.retrieve_or_save_privacy_group(row).await?;
        if stored.data != data {
            return Err(ManagerError::Forbidden(format!(
                "Privacy group {id} is already held with other data"
            )));
        }
        Ok(())
    }

    /// The active groups of `group_type` (any case). Resident groups need multiple private
    /// states.
    pub async fn privacy_groups(
        &self,
        group_type: &str,
    ) -> Result<Vec<GroupSummary>, ManagerError> {
        let wanted = group_type.to_ascii_uppercase();
        if !GROUP_TYPES.contains(&wanted.as_str()) {
            // Tessera's enum lookup failing: a 500 naming the Java enum.
            return Err(ManagerError::Internal(format!(
                "No enum constant com.quorum.tessera.enclave.PrivacyGroup.Type.{wanted}"
            )));
        }
        if wanted == "RESIDENT" && !self.settings.multiple_private_states {
            return Err(ManagerError::FeatureUnavailable(
                "Multiple private state feature is not available on this privacy manager".into(),
            ));
        }
        let mut groups: Vec<GroupSummary> = Vec::new();
        for row in self.store.list_privacy_groups().await? {
            let Ok(record) = row.record() else {
                tracing::warn!("skipping a privacy group that does not decode");
                continue;
            };
            if record.group_type == wanted && record.state == "ACTIVE" {
                groups.push(GroupSummary {
                    id: row.id.as_bytes().to_vec(),
                    name: record.name,
                    description: record.description,
                    group_type: record.group_type,
                    members: record.members.iter().map(|k| k.to_base64()).collect(),
                });
            }
        }
        // Resident groups are in the database too: each service stores the configured ones
        // at start (`resident.rs`).
        Ok(groups)
    }
}

/// What `POST /createPrivacyGroup` asks for.
#[derive(Clone, Debug, Default)]
pub struct NewGroup {
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The creating key (the default key when `None`): one of ours, and a member.
    pub from: Option<PublicKey>,
    /// Its members.
    pub members: Vec<PublicKey>,
    /// The seed of its id (20 random bytes when `None`).
    pub seed: Option<Vec<u8>>,
}

/// The name and description Tessera gives the group it makes for a send without one (orion
/// mode).
const LEGACY_NAME: &str = "legacy";
const LEGACY_DESCRIPTION: &str =
    "Privacy groups to support the creation of groups by privateFor and privateFrom";

impl GroupSummary {
    fn of(id: &PrivacyGroupId, record: &PrivacyGroupRecord) -> Self {
        Self {
            id: id.as_bytes().to_vec(),
            name: record.name.clone(),
            description: record.description.clone(),
            group_type: record.group_type.clone(),
            members: record.members.iter().map(PublicKey::to_base64).collect(),
        }
    }
}

impl Node {
    /// `createPrivacyGroup`: a PANTHEON group of `members` (id from the members and the seed,
    /// docs/protocol.md §3.7), pushed to the nodes of its members that are not ours, then
    /// stored. The creating key must be ours and a member (403); every other member must be
    /// routable (404) on a node that takes privacy groups (403). A refused request pushes and
    /// stores nothing.
    pub async fn create_privacy_group(
        &self,
        group: NewGroup,
    ) -> Result<GroupSummary, ManagerError> {
        let from = match group.from {
            Some(key) => key,
            None => self.enclave.default_public_key().await?,
        };
        if group.members.is_empty() {
            return Err(ManagerError::BadRequest(
                "A privacy group needs at least one member".into(),
            ));
        }
        if !group.members.contains(&from) {
            return Err(ManagerError::Forbidden(
                "The list of members in a privacy group should include self".into(),
            ));
        }
        let ours = self.enclave.public_keys_including(&from).await?;
        if !ours.contains(&from) {
            return Err(ManagerError::Forbidden(format!(
                "The key {from} creating a privacy group is not managed by this node"
            )));
        }
        let seed = match group.seed {
            Some(seed) => seed,
            None => random_seed(),
        };
        let record = PrivacyGroupRecord {
            name: group.name,
            description: group.description,
            members: group.members,
            seed,
            group_type: "PANTHEON".into(),
            state: "ACTIVE".into(),
        };
        let row = PrivacyGroupRow::from_record(&record);
        let id = row.id.clone();
        if self.store.find_privacy_group(id.clone()).await?.is_some() {
            return Err(ManagerError::Forbidden(format!(
                "Privacy group {} already exists",
                tm_core::b64::encode(id.as_bytes())
            )));
        }
        self.publish_group(&record, &ours).await?;
        let data = row.data.clone();
        let stored = self.store.retrieve_or_save_privacy_group(row).await?;
        if stored.data != data {
            return Err(ManagerError::Forbidden(format!(
                "Privacy group {} already exists",
                tm_core::b64::encode(id.as_bytes())
            )));
        }
        tracing::info!(group = %tm_core::b64::encode(id.as_bytes()), "privacy group created");
        Ok(GroupSummary::of(&id, &record))
    }

    /// `findPrivacyGroup`: the active groups whose members are exactly `members` (any order).
    pub async fn find_privacy_groups(
        &self,
        members: &[PublicKey],
    ) -> Result<Vec<GroupSummary>, ManagerError> {
        let lookup = tm_core::privacy_group::lookup_id(members);
        let mut found = Vec::new();
        for row in self
            .store
            .find_privacy_groups_by_lookup_id(lookup.as_bytes().to_vec())
            .await?
        {
            let Ok(record) = row.record() else {
                tracing::warn!("skipping a privacy group that does not decode");
                continue;
            };
            if record.state == "ACTIVE" {
                found.push(GroupSummary::of(&row.id, &record));
            }
        }
        Ok(found)
    }

    /// `retrievePrivacyGroup`: the active group with this id (404 unknown or deleted).
    pub async fn retrieve_privacy_group(
        &self,
        id: &PrivacyGroupId,
    ) -> Result<GroupSummary, ManagerError> {
        let record = self.active_group(id).await?;
        Ok(GroupSummary::of(id, &record))
    }

    /// `deletePrivacyGroup`: marks the group DELETED, pushes that to its members' nodes, then
    /// stores it. `from` (the default key when `None`) must be a member (403); an unknown or
    /// deleted group is 404.
    pub async fn delete_privacy_group(
        &self,
        from: Option<PublicKey>,
        id: &PrivacyGroupId,
    ) -> Result<GroupSummary, ManagerError> {
        let from = match from {
            Some(key) => key,
            None => self.enclave.default_public_key().await?,
        };
        let held = self.active_group(id).await?;
        if !held.members.contains(&from) {
            return Err(ManagerError::Forbidden(
                "Sender of request does not belong to this privacy group".into(),
            ));
        }
        if held.group_type == "RESIDENT" {
            return Err(ManagerError::Forbidden(
                "A resident group is set by the config and cannot be deleted".into(),
            ));
        }
        let deleted = PrivacyGroupRecord {
            state: "DELETED".into(),
            ..held
        };
        let ours = self.enclave.public_keys().await?;
        self.publish_group(&deleted, &ours).await?;
        self.store
            .save_privacy_group(PrivacyGroupRow::from_record(&deleted))
            .await?;
        tracing::info!(group = %tm_core::b64::encode(id.as_bytes()), "privacy group deleted");
        Ok(GroupSummary::of(id, &deleted))
    }

    /// The LEGACY group of a send without a group id (orion mode): the sender (`from`, else the
    /// default key) and the recipients, kept here only (Tessera's `createLegacyPrivacyGroup`:
    /// found or created, never pushed). Returns the sender and the group's id.
    ///
    /// Tessera stores the group before the send is checked; here a sender that is not ours
    /// (404, as the enclave answers) or a recipient nobody serves (404, as the send answers)
    /// is refused first, so such a refused send leaves no group behind.
    pub async fn legacy_privacy_group(
        &self,
        from: Option<PublicKey>,
        recipients: &[PublicKey],
    ) -> Result<(PublicKey, PrivacyGroupId), ManagerError> {
        let from = match from {
            Some(key) => key,
            None => self.enclave.default_public_key().await?,
        };
        let ours = self.enclave.public_keys_including(&from).await?;
        if !ours.contains(&from) {
            return Err(tm_enclave::EnclaveError::KeyNotFound(format!(
                "No key found for public key {from}"
            ))
            .into());
        }
        let remote: Vec<PublicKey> = recipients
            .iter()
            .filter(|key| !ours.contains(key))
            .cloned()
            .collect();
        for (_, route) in self.routes(remote).await? {
            route?;
        }
        let mut members = Vec::with_capacity(recipients.len() + 1);
        members.push(from.clone());
        members.extend(recipients.iter().cloned());
        let record = PrivacyGroupRecord {
            name: LEGACY_NAME.into(),
            description: LEGACY_DESCRIPTION.into(),
            members,
            seed: Vec::new(),
            group_type: "LEGACY".into(),
            state: "ACTIVE".into(),
        };
        let row = PrivacyGroupRow::from_record(&record);
        let id = row.id.clone();
        self.store.retrieve_or_save_privacy_group(row).await?;
        Ok((from, id))
    }

    /// A pushed group must concern this node and come from the network it names: one of its
    /// members is ours (else we would store groups we are not in), and one is a key a known
    /// peer serves (its creator is a member, and a group of our keys and strangers' is no
    /// group of the network). Tessera's wire carries no sender identity, so this is as close
    /// as a receiver can check "pushed by a member's node" (docs/security.md). 403 otherwise.
    async fn check_pushed_membership(
        &self,
        record: &PrivacyGroupRecord,
        id: &str,
    ) -> Result<(), ManagerError> {
        let ours = self.enclave.public_keys().await?;
        if !record.members.iter().any(|m| ours.contains(m)) {
            return Err(ManagerError::Forbidden(format!(
                "Privacy group {id} has no member on this node"
            )));
        }
        for member in record.members.iter().filter(|m| !ours.contains(m)) {
            if self.store.find_recipient(member.clone()).await?.is_some() {
                return Ok(());
            }
        }
        Err(ManagerError::Forbidden(format!(
            "Privacy group {id} has no member on a node known to this one"
        )))
    }

    /// The active group held under `id`, decoded (404 otherwise).
    pub(crate) async fn active_group(
        &self,
        id: &PrivacyGroupId,
    ) -> Result<PrivacyGroupRecord, ManagerError> {
        let not_found = || {
            ManagerError::NotFound(format!(
                "Privacy group Id[{}] not found",
                tm_core::b64::encode(id.as_bytes())
            ))
        };
        let row = self
            .store
            .find_privacy_group(id.clone())
            .await?
            .ok_or_else(not_found)?;
        let record = row.record().map_err(|e| {
            ManagerError::Internal(format!(
                "stored privacy group {} does not decode: {e}",
                tm_core::b64::encode(id.as_bytes())
            ))
        })?;
        if record.state != "ACTIVE" {
            return Err(not_found());
        }
        Ok(record)
    }

    /// Pushes `record` to the node of every member that is not ours (Tessera's
    /// `RestPrivacyGroupPublisher`): each must be routable (404) on a node that advertised
    /// `3.0` (403), checked for all before the first push; then one push per node, in
    /// parallel. Offline is 410, any other answer 500.
    async fn publish_group(
        &self,
        record: &PrivacyGroupRecord,
        ours: &[PublicKey],
    ) -> Result<(), ManagerError> {
        let remote: Vec<PublicKey> = record
            .members
            .iter()
            .filter(|k| !ours.contains(k))
            .cloned()
            .collect();
        let mut urls: Vec<String> = Vec::new();
        for (key, route) in self.routes(remote).await? {
            let route = route?;
            if !route.supports("3.0") {
                return Err(ManagerError::Forbidden(format!(
                    "Transactions with privacy group is not currently supported on recipient {key}"
                )));
            }
            if !urls.contains(&route.url) {
                urls.push(route.url);
            }
        }
        let encoded = record.encode();
        let mut pushes = tokio::task::JoinSet::new();
        for url in urls {
            let p2p = self.p2p.clone();
            let body = encoded.clone();
            pushes.spawn(tm_trace::carried(async move {
                p2p.push_privacy_group(&url, body).await.map_err(|e| {
                    if e.is_offline() {
                        ManagerError::NodeOffline(e.to_string())
                    } else {
                        tracing::warn!(%url, "privacy group push refused: {e}");
                        ManagerError::PushFailed(format!(
                            "Unable to push privacy group to recipient url {url}"
                        ))
                    }
                })
            }));
        }
        while let Some(done) = pushes.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(e) => return Err(ManagerError::Internal(format!("push task: {e}"))),
            }
        }
        Ok(())
    }
}

/// Tessera's seed of a PANTHEON group made without one: 20 random bytes.
fn random_seed() -> Vec<u8> {
    use rand_core::RngCore;
    let mut seed = vec![0u8; 20];
    rand_core::OsRng.fill_bytes(&mut seed);
    seed
}
