//! Receiving `POST /push` (docs/protocol.md §10.2, `TransactionManagerImpl.storePayload`).

use std::collections::BTreeSet;

use tm_core::{EncodedPayload, PrivacyMode, TxHash};

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
        payload: EncodedPayload,
    ) -> Result<(TxHash, PushOutcome), ManagerError> {
        let hash = payload.hash();
        let Some(payload) = self.checked_push(payload, &[]).await? else {
            return Ok((hash, PushOutcome::Ignored));
        };
        match self.store.store_payload(payload).await? {
            tm_store::StoreOutcome::Unchanged => Ok((hash, PushOutcome::Unchanged)),
            _ => Ok((hash, PushOutcome::Stored)),
        }
    }

    /// Stores the payloads of a `/pushBatch` (a peer's answer to our `/resendBatch`): each
    /// passes the checks of a push, then all are stored in one database transaction, or none
    /// (a payload that is refused, or conflicts with what we hold, stores nothing).
    ///
    /// A batch can hold a transaction and the ones it affects (a resend pages by hash, not by
    /// dependency): entries are checked in dependency order, each against the database and the
    /// entries of the batch checked before it, as if those were already stored. The outcomes
    /// are in the order of `payloads`.
    pub async fn receive_push_batch(
        &self,
        payloads: Vec<EncodedPayload>,
    ) -> Result<Vec<PushOutcome>, ManagerError> {
        let order = dependency_order(&payloads);
        let mut payloads: Vec<Option<EncodedPayload>> = payloads.into_iter().map(Some).collect();
        let mut checked: Vec<EncodedPayload> = Vec::with_capacity(payloads.len());
        let mut at: Vec<Option<usize>> = vec![None; payloads.len()];
        for i in order {
            let Some(payload) = payloads[i].take() else {
                continue;
            };
            if let Some(payload) = self.checked_push(payload, &checked).await? {
                at[i] = Some(checked.len());
                checked.push(payload);
            }
        }
        let stored = self.store.store_payloads(checked).await?;
        Ok(at
            .into_iter()
            .map(|at| match at.map(|k| stored.get(k)) {
                None => PushOutcome::Ignored,
                Some(Some(tm_store::StoreOutcome::Unchanged)) => PushOutcome::Unchanged,
                Some(_) => PushOutcome::Stored,
            })
            .collect())
    }

    /// Tessera's checks of a pushed payload (`storePayload`): the payload to store (affected
    /// transactions whose security hash is invalid removed), `None` for one dropped silently,
    /// or the refusal. Affected transactions are looked up in the database, then in `pending`
    /// (payloads about to be stored with this one).
    async fn checked_push(
        &self,
        mut payload: EncodedPayload,
        pending: &[EncodedPayload],
    ) -> Result<Option<EncodedPayload>, ManagerError> {
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
            let mut found: Vec<(TxHash, EncodedPayload)> = self
                .store
                .find_payloads(wanted.clone())
                .await?
                .into_iter()
                .map(|stored| (stored.hash, stored.payload))
                .collect();
            for other in pending {
                let other_hash = other.hash();
                if wanted.contains(&other_hash) && !found.iter().any(|(h, _)| *h == other_hash) {
                    found.push((other_hash, other.clone()));
                }
            }
            if let Some(reason) = ignore_reason(&payload, &wanted, &found) {
                tracing::info!(%hash, "ignoring pushed transaction: {reason}");
                return Ok(None);
            }
            if mode == PrivacyMode::PrivateStateValidation {
                let ours: BTreeSet<_> = payload.recipient_keys.iter().collect();
                for (affected_hash, affected) in &found {
                    let theirs: BTreeSet<_> = affected.recipient_keys.iter().collect();
                    if ours != theirs {
                        return Err(ManagerError::Forbidden(format!(
                            "Recipients mismatched for Affected Txn {affected_hash}"
                        )));
                    }
                }
            }
            let pairs = found;
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
        Ok(Some(payload))
    }
}

/// Tessera's `validatePayload` cases that drop a payload silently.
fn ignore_reason(
    payload: &EncodedPayload,
    wanted: &[TxHash],
    found: &[(TxHash, EncodedPayload)],
) -> Option<String> {
    for (hash, affected) in found {
        if affected.privacy_mode != payload.privacy_mode {
            return Some(format!("privacy mode differs from affected {hash}"));
        }
        if !affected
            .mandatory_recipients
            .is_subset(&payload.mandatory_recipients)
        {
            return Some(format!("mandatory recipients differ from affected {hash}"));
        }
    }
    if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
        if found.len() != wanted.len() {
            return Some("not every affected transaction is held here".into());
        }
        if let Some((hash, _)) = found
            .iter()
            .find(|(_, a)| !a.recipient_keys.contains(&payload.sender))
        {
            return Some(format!("sender is not a recipient of affected {hash}"));
        }
    }
    None
}

/// The order in which to check a batch: every entry after the entries of the batch it lists as
/// affected transactions (Kahn's algorithm over the batch; otherwise the batch's own order).
fn dependency_order(payloads: &[EncodedPayload]) -> Vec<usize> {
    let hashes: Vec<TxHash> = payloads.iter().map(EncodedPayload::hash).collect();
    let index: std::collections::HashMap<&TxHash, usize> =
        hashes.iter().enumerate().map(|(i, h)| (h, i)).collect();
    // For each entry, the entries that must come first; for each, the entries waiting on it.
    let mut waiting_on = vec![0usize; payloads.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); payloads.len()];
    for (i, payload) in payloads.iter().enumerate() {
        for affected in payload.affected_contract_transactions.keys() {
            if let Some(&j) = index.get(affected) {
                if j != i {
                    waiting_on[i] += 1;
                    dependants[j].push(i);
                }
            }
        }
    }
    let mut ready: std::collections::VecDeque<usize> = (0..payloads.len())
        .filter(|&i| waiting_on[i] == 0)
        .collect();
    let mut order = Vec::with_capacity(payloads.len());
    while let Some(i) = ready.pop_front() {
        order.push(i);
        for &d in &dependants[i] {
            waiting_on[d] -= 1;
            if waiting_on[d] == 0 {
                ready.push_back(d);
            }
        }
    }
    // A cycle cannot come from real transactions (a hash covers its affected hashes); keep
    // whatever is left in batch order so that every entry is still checked.
    if order.len() < payloads.len() {
        let mut placed = vec![false; payloads.len()];
        for &i in &order {
            placed[i] = true;
        }
        order.extend((0..payloads.len()).filter(|&i| !placed[i]));
    }
    order
}
