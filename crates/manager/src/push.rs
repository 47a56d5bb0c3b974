//! Receiving `POST /push` (node.md §4.2, `TransactionManagerImpl.storePayload`).

use std::collections::BTreeSet;

use tm_core::{EncodedPayload, PrivacyMode, TxHash};
use tm_store::StoreError;

use crate::{ManagerError, Node};

/// What happened to a pushed payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    /// Stored (inserted, or merged into the copy we held).
    Stored,
    /// Already held with this recipient box.
    Unchanged,
    /// Dropped without an error, as Tessera does for enhanced-privacy payloads whose affected
    /// transactions do not line up (the sender still gets 201 and the hash).
    Ignored,
}

impl Node {
    /// Stores a payload another node pushed to us, after Tessera's privacy checks.
    pub async fn receive_push(
        &self,
        mut payload: EncodedPayload,
    ) -> Result<(TxHash, PushOutcome), ManagerError> {
        let hash = payload.hash();
        let mode = payload.privacy_mode;
        if mode != PrivacyMode::StandardPrivate && !self.settings.privacy_enhancements {
            return Err(ManagerError::Forbidden(
                "Enhanced Privacy is not enabled".into(),
            ));
        }
        if !payload.affected_contract_transactions.is_empty()
            || mode != PrivacyMode::StandardPrivate
        {
            let wanted: Vec<TxHash> = payload
                .affected_contract_transactions
                .keys()
                .cloned()
                .collect();
            let found = self.store.find_payloads(wanted.clone()).await?;
            if let Some(reason) = ignore_reason(&payload, &wanted, &found) {
                tracing::info!(%hash, "ignoring pushed transaction: {reason}");
                return Ok((hash, PushOutcome::Ignored));
            }
            if mode == PrivacyMode::PrivateStateValidation {
                let ours: BTreeSet<_> = payload.recipient_keys.iter().collect();
                for affected in &found {
                    let theirs: BTreeSet<_> = affected.payload.recipient_keys.iter().collect();
                    if ours != theirs {
                        return Err(ManagerError::Forbidden(format!(
                            "Recipients mismatched for Affected Txn {}",
                            affected.hash
                        )));
                    }
                }
            }
            let pairs: Vec<(TxHash, EncodedPayload)> = found
                .into_iter()
                .map(|stored| (stored.hash, stored.payload))
                .collect();
            let mut invalid = self
                .enclave
                .find_invalid_security_hashes(&payload, &pairs)
                .await?;
            // An affected transaction we do not hold cannot be checked: it counts as invalid.
            invalid.extend(
                wanted
                    .iter()
                    .filter(|h| !pairs.iter().any(|(found, _)| found == *h))
                    .cloned(),
            );
            if !invalid.is_empty() {
                if mode == PrivacyMode::PrivateStateValidation {
                    return Err(ManagerError::Forbidden(format!(
                        "Invalid security hashes identified for PSC TX {hash}. Invalid ACOTHs: {}",
                        invalid
                            .iter()
                            .map(TxHash::to_base64)
                            .collect::<Vec<_>>()
                            .join(",")
                    )));
                }
                payload
                    .affected_contract_transactions
                    .retain(|h, _| !invalid.contains(h));
            }
        }
        match self.store.store_payload(payload).await {
            Ok(tm_store::StoreOutcome::Unchanged) => Ok((hash, PushOutcome::Unchanged)),
            Ok(_) => Ok((hash, PushOutcome::Stored)),
            Err(StoreError::InvalidExistingTransaction { hash }) => Err(ManagerError::Store(
                StoreError::InvalidExistingTransaction { hash },
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// Tessera's `validatePayload` cases that drop a payload silently.
fn ignore_reason(
    payload: &EncodedPayload,
    wanted: &[TxHash],
    found: &[tm_store::StoredTransaction],
) -> Option<String> {
    for affected in found {
        if affected.payload.privacy_mode != payload.privacy_mode {
            return Some(format!(
                "privacy mode differs from affected {}",
                affected.hash
            ));
        }
        if !affected
            .payload
            .mandatory_recipients
            .is_subset(&payload.mandatory_recipients)
        {
            return Some(format!(
                "mandatory recipients differ from affected {}",
                affected.hash
            ));
        }
    }
    if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
        if found.len() != wanted.len() {
            return Some("not every affected transaction is held here".into());
        }
        if let Some(affected) = found
            .iter()
            .find(|a| !a.payload.recipient_keys.contains(&payload.sender))
        {
            return Some(format!(
                "sender is not a recipient of affected {}",
                affected.hash
            ));
        }
    }
    None
}
