//! Receiving `POST /push` (docs/protocol.md §10.2, `TransactionManagerImpl.storePayload`).

use std::collections::{BTreeSet, HashMap, HashSet};

use tm_core::payload::RecipientBox;
use tm_core::{Classify, EncodedPayload, ErrorKind, PrivacyMode, PublicKey, TxHash};
use tm_enclave::EnclaveError;
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
        payload: EncodedPayload,
    ) -> Result<(TxHash, PushOutcome), ManagerError> {
        let result = self.receive_push_unmeasured(payload).await;
        let outcome = match &result {
            Ok((_, PushOutcome::Stored)) => "stored".to_owned(),
            Ok((_, PushOutcome::Unchanged)) => "unchanged".to_owned(),
            Ok((_, PushOutcome::Ignored)) => "ignored".to_owned(),
            Err(_) => crate::measure::outcome(&result),
        };
        tm_metrics::Metrics::count(&tm_metrics::metrics().pushes_received, &[&outcome]);
        result
    }

    async fn receive_push_unmeasured(
        &self,
        payload: EncodedPayload,
    ) -> Result<(TxHash, PushOutcome), ManagerError> {
        storable(&payload)?;
        let hash = self.store.hash_of(&payload);
        let Some(payload) = self
            .checked_push(payload, &hash, &Pending::default())
            .await?
        else {
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
        for (i, payload) in payloads.iter().enumerate() {
            storable(payload).map_err(|e| {
                ManagerError::BadRequest(format!("invalid payload at index {i}: {e}"))
            })?;
        }
        let hashes: Vec<TxHash> = payloads.iter().map(EncodedPayload::hash).collect();
        let order = dependency_order(&payloads, &hashes);
        let mut payloads: Vec<Option<EncodedPayload>> = payloads.into_iter().map(Some).collect();
        let mut checked = Pending::default();
        let mut at: Vec<Option<usize>> = vec![None; payloads.len()];
        for i in order {
            let Some(payload) = payloads[i].take() else {
                continue;
            };
            if let Some(payload) = self.checked_push(payload, &hashes[i], &checked).await? {
                at[i] = Some(checked.add(hashes[i].clone(), payload));
            }
        }
        let stored = self.store.store_payloads(checked.payloads).await?;
        Ok(at
            .into_iter()
            .map(|at| match at.map(|k| stored.get(k)) {
                None => PushOutcome::Ignored,
                Some(Some(tm_store::StoreOutcome::Unchanged)) => PushOutcome::Unchanged,
                Some(_) => PushOutcome::Stored,
            })
            .collect())
    }

    /// Tessera's checks of a pushed payload (`storePayload`), then ours of its recipient boxes
    /// ([`Node::check_recipient_boxes`]): the payload to store (affected transactions whose
    /// security hash is invalid removed), `None` for one dropped silently, or the refusal.
    /// Affected transactions are looked up in the database, then in `pending` (payloads about
    /// to be stored with this one). `hash` is the payload's.
    async fn checked_push(
        &self,
        mut payload: EncodedPayload,
        hash: &TxHash,
        pending: &Pending,
    ) -> Result<Option<EncodedPayload>, ManagerError> {
        let hash = hash.clone();
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
            let held: HashSet<TxHash> = found.iter().map(|(h, _)| h.clone()).collect();
            for wanted_hash in &wanted {
                if let Some(&other) = pending.get(wanted_hash).last() {
                    if !held.contains(wanted_hash) {
                        found.push((wanted_hash.clone(), other.clone()));
                    }
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
            let checked: HashSet<&TxHash> = pairs.iter().map(|(h, _)| h).collect();
            invalid.extend(wanted.iter().filter(|h| !checked.contains(h)).cloned());
            if !invalid.is_empty() {
                let invalid_set: HashSet<TxHash> = invalid.iter().cloned().collect();
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
                    .retain(|h, _| !invalid_set.contains(h));
            }
        }
        self.check_recipient_boxes(&payload, &hash, pending).await?;
        Ok(Some(payload))
    }

    /// The boxes the sender's key makes for `keys` with the master key of `probe` (a payload
    /// we sent). In-process: the master key is opened once and all boxes made on a blocking
    /// thread; a remote enclave is asked per key (`/addRecipient` takes one).
    async fn recipient_boxes_of(
        &self,
        probe: &EncodedPayload,
        keys: &[(&PublicKey, &RecipientBox)],
    ) -> Result<Vec<Vec<u8>>, ManagerError> {
        if let tm_enclave::EnclaveClient::Local(enclave) = &self.enclave {
            let enclave = std::sync::Arc::clone(enclave);
            let probe = probe.clone();
            let wanted: Vec<PublicKey> = keys.iter().map(|(key, _)| (*key).clone()).collect();
            return tokio::task::spawn_blocking(move || {
                enclave.create_new_recipient_boxes(&probe, &wanted)
            })
            .await
            .map_err(|e| ManagerError::Internal(format!("recipient boxes: {e}")))?
            .map_err(|e| match keys.first() {
                Some((key, _)) => refused_box(e, key),
                None => e.into(),
            });
        }
        let mut boxes = Vec::with_capacity(keys.len());
        for (key, _) in keys {
            boxes.push(
                self.enclave
                    .create_new_recipient_box(probe, key)
                    .await
                    .map_err(|e| refused_box(e, key))?,
            );
        }
        Ok(boxes)
    }

    /// Which recipient boxes a push may add, and that they open (docs/security.md, "Pushes we
    /// refuse that Tessera would store"). The copy we hold (in the database or earlier in the
    /// batch) must be the same transaction ("Invalid existing transaction", as the store would
    /// find). Then, for every box the merge would add:
    ///
    /// - **sender is one of our keys** (we are rebuilding a transaction we sent, Tessera's
    ///   `acceptOwnMessage`): the payload must list its recipients; nothing is added to a copy
    ///   we hold complete (it lists the sender with a box for every key, as a send stores it);
    ///   the first new box must open the cipher text with the sender's key, and every other
    ///   must be exactly the box the sender's key makes for its recipient with that master key.
    /// - **sender is another node's key**: a box may only be for one of our keys (a recipient
    ///   is pushed its own box and nothing else), and must open the cipher text with that key;
    ///   a payload from a very old node, without keys, must open with one of our keys.
    /// - **PSV**: a copy we hold lists every recipient; a box for a key it does not list is
    ///   refused (Tessera: "expected recipient not found").
    ///
    /// Boxes already held, and boxes for a key held already outside PSV, are what the merge
    /// skips: they are not opened again. At most one box per key is opened fully (keys are
    /// distinct); the other boxes of our own transaction cost one box each.
    async fn check_recipient_boxes(
        &self,
        payload: &EncodedPayload,
        hash: &TxHash,
        pending: &Pending,
    ) -> Result<(), ManagerError> {
        let mut held: Vec<EncodedPayload> = self
            .store
            .find_payload(hash.clone())
            .await?
            .map(|stored| stored.payload)
            .into_iter()
            .collect();
        held.extend(pending.get(hash).into_iter().cloned());
        if held.iter().any(|h| !h.is_same_transaction(payload)) {
            return Err(StoreError::InvalidExistingTransaction {
                hash: hash.to_base64(),
            }
            .into());
        }
        // What the merge would store must itself be storable: a box without a key (the very
        // old form) merged into a copy held with keys, or the other way round, would leave
        // keys and boxes out of line, and the held copy would no longer open for its keys
        // (found by the p2p_push fuzz target; docs/security.md).
        if let Some((first, rest)) = held.split_first() {
            let mut merged = first.clone();
            for other in rest.iter().chain(std::iter::once(payload)) {
                merged.merge_recipients_from(other);
            }
            if let Err(e) = merged.check_storable() {
                return Err(ManagerError::BadRequest(format!(
                    "transaction {hash} cannot take this push: merged into the copy held it \
                     would be unreadable ({e})"
                )));
            }
        }
        let psv = payload.privacy_mode == PrivacyMode::PrivateStateValidation;
        let held_boxes: HashSet<&[u8]> = held
            .iter()
            .flat_map(|h| h.recipient_boxes.iter().map(RecipientBox::as_bytes))
            .collect();
        let held_keys: HashSet<&PublicKey> =
            held.iter().flat_map(|h| h.recipient_keys.iter()).collect();
        // (key, box) pairs: box i is key i's (PSV lists more keys than boxes).
        let pairs: Vec<(&PublicKey, &RecipientBox)> = payload
            .recipient_keys
            .iter()
            .zip(payload.recipient_boxes.iter())
            .collect();
        let added: Vec<(&PublicKey, &RecipientBox)> = pairs
            .iter()
            .filter(|(key, b)| {
                !held_boxes.contains(b.as_bytes()) && (psv || !held_keys.contains(key))
            })
            .copied()
            .collect();
        if psv && !held.is_empty() {
            if let Some((key, _)) = added.iter().find(|(key, _)| !held_keys.contains(key)) {
                return Err(ManagerError::Forbidden(format!(
                    "expected recipient not found: {key} is not a recipient of {hash}"
                )));
            }
        }
        let ours: HashSet<PublicKey> = self.enclave.public_keys().await?.into_iter().collect();
        if ours.contains(&payload.sender) {
            if payload.recipient_keys.is_empty() {
                return Err(ManagerError::BadRequest(format!(
                    "transaction {hash} claims to be sent from this node but lists no recipient"
                )));
            }
            let Some(&(first_key, first_box)) = added.first() else {
                return Ok(());
            };
            if held.iter().any(is_complete_own_copy) {
                return Err(ManagerError::Forbidden(format!(
                    "transaction {hash} was sent from this node and is held with every recipient: \
                     a push cannot add recipient {first_key}"
                )));
            }
            let single = single_box(payload, first_key, first_box);
            self.enclave
                .unencrypt_transaction(&single, Some(&payload.sender))
                .await
                .map_err(|e| refused_box(e, first_key))?;
            // The master key is good: every other box must be the one the sender's key makes
            // with it (a box needs neither the cipher text nor more than the first box).
            let probe = EncodedPayload {
                cipher_text: Vec::new(),
                ..single
            };
            let rest = &added[1..];
            let expected = self.recipient_boxes_of(&probe, rest).await?;
            for (&(key, recipient_box), expected) in rest.iter().zip(&expected) {
                if expected.as_slice() != recipient_box.as_bytes() {
                    return Err(ManagerError::BadRequest(format!(
                        "the recipient box for {key} was not made by the sender for this transaction"
                    )));
                }
            }
            return Ok(());
        }
        if let Some((key, _)) = pairs.iter().find(|(key, _)| !ours.contains(key)) {
            return Err(ManagerError::Forbidden(format!(
                "recipient box for key {key}, which this node does not hold"
            )));
        }
        if payload.recipient_keys.is_empty() {
            // The very old form: one box (check_storable), for whichever of our keys opens it.
            if payload
                .recipient_boxes
                .iter()
                .all(|b| held_boxes.contains(b.as_bytes()))
            {
                return Ok(());
            }
            self.enclave
                .unencrypt_transaction(payload, None)
                .await
                .map_err(|e| match e.kind() {
                    ErrorKind::Unavailable | ErrorKind::TooLarge => e.into(),
                    _ => ManagerError::BadRequest(
                        "the recipient box does not open with any key of this node".into(),
                    ),
                })?;
            return Ok(());
        }
        self.open_each_box(payload, &added).await
    }

    /// Opens each `(key, box)` of `payload` with its key ([`Node::check_recipient_boxes`]). A
    /// remote enclave is asked for up to [`BOX_CHECKS_AT_ONCE`] of them at once (a grouped push
    /// carries a box for each of our recipient keys: docs/p2p.md, "One push per node"); the
    /// refusal is the first box's, in the payload's order, that does not open.
    async fn open_each_box(
        &self,
        payload: &EncodedPayload,
        boxes: &[(&PublicKey, &RecipientBox)],
    ) -> Result<(), ManagerError> {
        if boxes.len() > 1 && matches!(self.enclave, tm_enclave::EnclaveClient::Remote(_)) {
            for some in boxes.chunks(BOX_CHECKS_AT_ONCE) {
                let opening: Vec<_> = some
                    .iter()
                    .map(|&(key, recipient_box)| {
                        let enclave = self.enclave.clone();
                        let single = single_box(payload, key, recipient_box);
                        let key = key.clone();
                        tokio::spawn(tm_trace::carried(async move {
                            enclave
                                .unencrypt_transaction(&single, Some(&key))
                                .await
                                .map(drop)
                                .map_err(|e| refused_box(e, &key))
                        }))
                    })
                    .collect();
                let mut first_refusal = None;
                for opened in opening {
                    let outcome = opened
                        .await
                        .map_err(|e| ManagerError::Internal(format!("recipient box check: {e}")))
                        .and_then(|outcome| outcome);
                    if let Err(refused) = outcome {
                        first_refusal.get_or_insert(refused);
                    }
                }
                if let Some(refused) = first_refusal {
                    return Err(refused);
                }
            }
            return Ok(());
        }
        for &(key, recipient_box) in boxes {
            self.enclave
                .unencrypt_transaction(&single_box(payload, key, recipient_box), Some(key))
                .await
                .map_err(|e| refused_box(e, key))?;
        }
        Ok(())
    }
}

/// How many recipient boxes of one push are checked with a remote enclave at once.
const BOX_CHECKS_AT_ONCE: usize = 8;

/// Payloads of a batch checked so far, to be stored together, with an index by hash.
#[derive(Default)]
struct Pending {
    payloads: Vec<EncodedPayload>,
    by_hash: HashMap<TxHash, Vec<usize>>,
}

impl Pending {
    /// Adds a checked payload; returns its position.
    fn add(&mut self, hash: TxHash, payload: EncodedPayload) -> usize {
        let at = self.payloads.len();
        self.payloads.push(payload);
        self.by_hash.entry(hash).or_default().push(at);
        at
    }

    /// The checked payloads with this hash, in the order they were added.
    fn get(&self, hash: &TxHash) -> Vec<&EncodedPayload> {
        self.by_hash
            .get(hash)
            .map(|at| at.iter().map(|&i| &self.payloads[i]).collect())
            .unwrap_or_default()
    }
}

/// [`EncodedPayload::check_storable`] as the manager reports it: 400.
fn storable(payload: &EncodedPayload) -> Result<(), ManagerError> {
    payload
        .check_storable()
        .map_err(|e| ManagerError::BadRequest(e.to_string()))
}

/// Whether `held` is a transaction we sent as a send stores it: the sender among the
/// recipients and a box for every recipient (docs/protocol.md §3.2). A copy rebuilt from a
/// recipient's push lacks the sender's box.
fn is_complete_own_copy(held: &EncodedPayload) -> bool {
    held.recipient_keys.contains(&held.sender)
        && held.recipient_boxes.len() == held.recipient_keys.len()
}

/// `payload` reduced to one standard-private box for `key`: what the enclave opens to check
/// that box (the sender opens it with `key` as the other party, a recipient with the sender).
fn single_box(
    payload: &EncodedPayload,
    key: &PublicKey,
    recipient_box: &RecipientBox,
) -> EncodedPayload {
    EncodedPayload {
        sender: payload.sender.clone(),
        cipher_text: payload.cipher_text.clone(),
        cipher_text_nonce: payload.cipher_text_nonce.clone(),
        recipient_boxes: vec![recipient_box.clone()],
        recipient_nonce: payload.recipient_nonce.clone(),
        recipient_keys: vec![key.clone()],
        ..EncodedPayload::default()
    }
}

/// A box that does not open is the pusher's fault (400); an enclave that cannot be reached is
/// not.
fn refused_box(error: EnclaveError, key: &PublicKey) -> ManagerError {
    match error.kind() {
        ErrorKind::Unavailable | ErrorKind::TooLarge => error.into(),
        _ => ManagerError::BadRequest(format!(
            "the recipient box for {key} does not open: {error}"
        )),
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
fn dependency_order(payloads: &[EncodedPayload], hashes: &[TxHash]) -> Vec<usize> {
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
