//! Resident groups at start, as Tessera's `ResidentGroupHandlerImpl.onCreate` does when
//! `features.enableMultiplePrivateStates` is on: the configured `residentGroups` are checked
//! against the node's own keys, merged with the resident groups already stored, and saved, so
//! that every interface and replica of the node sharing the database (q2t-api, p2p-node,
//! thirdparty-api, an instance started later) serves the same groups.

use std::collections::HashMap;

use tm_core::payload::PrivacyGroupId;
use tm_core::privacy_group::PrivacyGroupRecord;
use tm_core::PublicKey;
use tm_store::PrivacyGroupRow;

use crate::groups::GroupSummary;
use crate::{ManagerError, Node};

impl Node {
    /// Checks the configured resident groups and saves them merged with the stored ones
    /// (Tessera's `ResidentGroupHandlerImpl.onCreate`); nothing without multiple private
    /// states. Run once when an instance starts, before it serves. Refused (nothing written)
    /// with Tessera's `PrivacyViolationException` messages as [`ManagerError::Forbidden`] when
    ///
    /// 1. a configured member is not one of the enclave's keys;
    /// 2. a key belongs to two resident groups, once the configured groups are merged with the
    ///    stored ones (a group configured under a stored name adds its members to it);
    /// 3. one of the enclave's keys belongs to no resident group.
    ///
    /// Each merged group that is configured is saved as an `ACTIVE` `RESIDENT` group whose id is
    /// its name's bytes, unless it is stored exactly so already: starting again with the same
    /// config writes nothing. The merge reads the stored groups and writes in one transaction
    /// that excludes instances doing the same ([`tm_store::Store::update_privacy_groups`]), so
    /// replicas starting at once with different configs end with the union of their members.
    /// Returns the names of the groups written.
    pub async fn store_resident_groups(&self) -> Result<Vec<String>, ManagerError> {
        if !self.settings.multiple_private_states {
            return Ok(Vec::new());
        }
        let local = self.public_keys().await?;
        let configured = configured_groups(&self.settings.resident_groups)?;
        check_locally_managed(&configured, &local)?;
        let saved = self
            .store
            .update_privacy_groups(move |stored| {
                let merged = merge(&configured, &stored_resident_groups(&stored));
                check_one_group_per_key(&merged)?;
                check_every_key_resident(&merged, &local)?;
                Ok::<_, ManagerError>(changed_rows(&configured, merged, &stored))
            })
            .await?;
        let names: Vec<String> = saved
            .iter()
            .map(|row| String::from_utf8_lossy(row.id.as_bytes()).into_owned())
            .collect();
        if names.is_empty() {
            tracing::debug!("resident groups are stored as configured already");
        } else {
            tracing::info!(groups = ?names, "resident groups saved");
        }
        Ok(names)
    }
}

/// The configured groups as Tessera builds them (`buildResidentGroup`): id = name bytes, no
/// seed, `RESIDENT`, `ACTIVE`.
fn configured_groups(groups: &[GroupSummary]) -> Result<Vec<PrivacyGroupRecord>, ManagerError> {
    groups
        .iter()
        .map(|group| {
            let members = group
                .members
                .iter()
                .map(|member| {
                    PublicKey::from_base64(member).map_err(|e| {
                        ManagerError::Config(format!(
                            "residentGroups {:?}: member {member:?}: {e}",
                            group.name
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(PrivacyGroupRecord {
                name: group.name.clone(),
                description: group.description.clone(),
                members,
                seed: Vec::new(),
                group_type: "RESIDENT".into(),
                state: "ACTIVE".into(),
            })
        })
        .collect()
}

/// The active resident groups among the stored rows (Tessera's
/// `findPrivacyGroupByType(RESIDENT)`); a row that does not decode is skipped.
fn stored_resident_groups(stored: &[PrivacyGroupRow]) -> Vec<PrivacyGroupRecord> {
    stored
        .iter()
        .filter_map(|row| match row.record() {
            Ok(record) => Some(record),
            Err(e) => {
                let id = tm_core::b64::encode(row.id.as_bytes());
                tracing::warn!(group = %id, "skipping a stored privacy group that does not decode: {e}");
                None
            }
        })
        .filter(|record| record.group_type == "RESIDENT" && record.state == "ACTIVE")
        .collect()
}

/// Tessera's `PublicKey.toString()`, which its messages print.
fn java_key(key: &PublicKey) -> String {
    format!("PublicKey[{}]", key.to_base64())
}

/// Tessera's `PrivacyGroup.Id.toString()`.
fn java_id(id: &PrivacyGroupId) -> String {
    format!("Id[{}]", tm_core::b64::encode(id.as_bytes()))
}

/// Every configured member must be one of the enclave's keys.
fn check_locally_managed(
    configured: &[PrivacyGroupRecord],
    local: &[PublicKey],
) -> Result<(), ManagerError> {
    match configured
        .iter()
        .flat_map(|group| &group.members)
        .find(|member| !local.contains(member))
    {
        Some(key) => Err(ManagerError::Forbidden(format!(
            "Key {} configured in resident groups must be locally managed",
            java_key(key)
        ))),
        None => Ok(()),
    }
}

/// Configured then stored groups merged by id: the first one's name and description, the
/// members of both in that order, each once.
fn merge(
    configured: &[PrivacyGroupRecord],
    stored: &[PrivacyGroupRecord],
) -> Vec<PrivacyGroupRecord> {
    let mut merged: Vec<PrivacyGroupRecord> = Vec::new();
    for group in configured.iter().chain(stored) {
        let into = match merged.iter().position(|m| m.id() == group.id()) {
            Some(i) => &mut merged[i],
            None => {
                merged.push(PrivacyGroupRecord {
                    members: Vec::new(),
                    ..group.clone()
                });
                merged.last_mut().expect("just pushed")
            }
        };
        for member in &group.members {
            if !into.members.contains(member) {
                into.members.push(member.clone());
            }
        }
    }
    merged
}

/// A key may belong to one resident group only (Tessera's message quotes the
/// `Collectors.toMap` failure it comes from).
fn check_one_group_per_key(merged: &[PrivacyGroupRecord]) -> Result<(), ManagerError> {
    let mut group_of: HashMap<&PublicKey, PrivacyGroupId> = HashMap::new();
    for group in merged {
        let id = group.id();
        for member in &group.members {
            if let Some(first) = group_of.get(member).filter(|first| **first != id) {
                return Err(ManagerError::Forbidden(format!(
                    "Key cannot belong to more than one resident group.Cause: Duplicate key {} \
                     (attempted merging values {} and {})",
                    java_key(member),
                    java_id(first),
                    java_id(&id)
                )));
            }
            group_of.insert(member, id.clone());
        }
    }
    Ok(())
}

/// Each of the enclave's keys must belong to a resident group.
fn check_every_key_resident(
    merged: &[PrivacyGroupRecord],
    local: &[PublicKey],
) -> Result<(), ManagerError> {
    match local
        .iter()
        .find(|key| !merged.iter().any(|group| group.members.contains(key)))
    {
        Some(key) => Err(ManagerError::Forbidden(format!(
            "{} must belong to a resident group",
            java_key(key)
        ))),
        None => Ok(()),
    }
}

/// The rows of the merged groups that are configured, except those stored exactly so.
fn changed_rows(
    configured: &[PrivacyGroupRecord],
    merged: Vec<PrivacyGroupRecord>,
    stored: &[PrivacyGroupRow],
) -> Vec<PrivacyGroupRow> {
    merged
        .into_iter()
        .filter(|group| configured.iter().any(|c| c.id() == group.id()))
        .map(|group| PrivacyGroupRow::from_record(&group))
        .filter(|row| {
            !stored
                .iter()
                .any(|s| s.id == row.id && s.lookup_id == row.lookup_id && s.data == row.data)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tag: u8) -> PublicKey {
        PublicKey::from_bytes(vec![tag; 32])
    }

    fn group(name: &str, members: &[u8]) -> PrivacyGroupRecord {
        PrivacyGroupRecord {
            name: name.into(),
            description: format!("{name} group"),
            members: members.iter().map(|m| key(*m)).collect(),
            seed: Vec::new(),
            group_type: "RESIDENT".into(),
            state: "ACTIVE".into(),
        }
    }

    #[test]
    fn configured_groups_merge_into_stored_ones_of_the_same_name() {
        let stored = vec![
            PrivacyGroupRecord {
                description: "as stored".into(),
                ..group("a", &[2, 1])
            },
            group("b", &[3]),
        ];
        let merged = merge(&[group("a", &[1, 4]), group("c", &[5])], &stored);
        // Configured first: its name, description and members lead; each member once.
        assert_eq!(
            merged,
            vec![group("a", &[1, 4, 2]), group("c", &[5]), group("b", &[3])]
        );
    }

    #[test]
    fn the_checks_give_tesseras_messages() {
        let foreign = check_locally_managed(&[group("a", &[1, 9])], &[key(1)]).expect_err("9");
        assert_eq!(
            foreign.to_string(),
            format!(
                "Key PublicKey[{}] configured in resident groups must be locally managed",
                key(9).to_base64()
            )
        );

        let twice = check_one_group_per_key(&[group("a", &[1]), group("b", &[2, 1])])
            .expect_err("1 in a and b");
        assert_eq!(
            twice.to_string(),
            format!(
                "Key cannot belong to more than one resident group.Cause: Duplicate key \
                 PublicKey[{}] (attempted merging values Id[YQ==] and Id[Yg==])",
                key(1).to_base64()
            )
        );
        check_one_group_per_key(&[group("a", &[1, 2])]).expect("one group each");

        let homeless =
            check_every_key_resident(&[group("a", &[1])], &[key(1), key(2)]).expect_err("2");
        assert_eq!(
            homeless.to_string(),
            format!(
                "PublicKey[{}] must belong to a resident group",
                key(2).to_base64()
            )
        );
    }

    #[test]
    fn only_configured_groups_that_changed_are_written() {
        let configured = [group("a", &[1])];
        let stored_b = PrivacyGroupRow::from_record(&group("b", &[2]));
        let merged = vec![group("a", &[1]), group("b", &[2])];
        let rows = changed_rows(&configured, merged.clone(), std::slice::from_ref(&stored_b));
        assert_eq!(rows, vec![PrivacyGroupRow::from_record(&group("a", &[1]))]);
        let stored_a = PrivacyGroupRow::from_record(&group("a", &[1]));
        assert!(changed_rows(&configured, merged, &[stored_a, stored_b]).is_empty());
    }
}
