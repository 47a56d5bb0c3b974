//! Privacy groups as the transaction manager serves them: groups another node pushes to us
//! (P2P `/pushPrivacyGroup`) and the Q2T listing of active groups by type
//! (`GET /groups/{type}`, docs/protocol.md).

use tm_core::privacy_group::PrivacyGroupRecord;
use tm_store::PrivacyGroupRow;

use crate::{ManagerError, Node};

/// The group types `GET /groups/{type}` knows (Tessera's `PrivacyGroup.Type`).
const GROUP_TYPES: [&str; 3] = ["LEGACY", "PANTHEON", "RESIDENT"];

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
    /// Stores a privacy group another node pushed to us (replacing what we held for its id).
    pub async fn receive_privacy_group(
        &self,
        record: PrivacyGroupRecord,
    ) -> Result<(), ManagerError> {
        self.store
            .save_privacy_group(PrivacyGroupRow::from_record(&record))
            .await?;
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
