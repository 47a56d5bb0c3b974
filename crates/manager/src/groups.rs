//! Privacy groups as the transaction manager serves them: groups another node pushes to us
//! (P2P `/pushPrivacyGroup`) and the Q2T listing of active groups by type
//! (`GET /groups/{type}`, docs/protocol.md).

use tm_core::privacy_group::{PrivacyGroupRecord, GROUP_TYPES};
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
    ///   resident group configured on this node cannot be pushed (403): its members are ours
    ///   to set.
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
        if record.group_type == "RESIDENT"
            && self
                .settings
                .resident_groups
                .iter()
                .any(|g| g.id == row.id.as_bytes())
        {
            return Err(ManagerError::Forbidden(format!(
                "Resident group {} is configured on this node and cannot be pushed by a peer",
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
    /// states; the configured ones are listed with the stored ones, merged by id.
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
        if wanted == "RESIDENT" {
            for configured in &self.settings.resident_groups {
                match groups.iter_mut().find(|g| g.id == configured.id) {
                    Some(stored) => {
                        for member in &configured.members {
                            if !stored.members.contains(member) {
                                stored.members.push(member.clone());
                            }
                        }
                    }
                    None => groups.push(configured.clone()),
                }
            }
        }
        Ok(groups)
    }
}
