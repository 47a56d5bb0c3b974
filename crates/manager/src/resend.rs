//! Resend: `POST /resend` (INDIVIDUAL and ALL) and `POST /resendBatch`
//! (docs/protocol.md §11.1–§11.3).

use tm_client::p2p::PushBatchRequest;
use tm_core::{EncodedPayload, PayloadCodec, PrivacyMode, PublicKey, TxHash};

use crate::{ManagerError, Node};

/// Rows read per database page while resending.
const PAGE: u32 = 100;
/// Largest batch `/resendBatch` sends in one `/pushBatch` call.
pub const MAX_BATCH: i64 = 10_000;

impl Node {
    /// The copy of `payload` that `requester` may have: everything if it sent it, its own box
    /// if it is a recipient, nothing otherwise.
    fn copy_for(
        &self,
        payload: &EncodedPayload,
        requester: &PublicKey,
        ours: &[PublicKey],
    ) -> Option<EncodedPayload> {
        if &payload.sender == requester {
            return Some(payload.clone());
        }
        if ours.contains(&payload.sender) && payload.recipient_keys.contains(requester) {
            return payload.for_recipient(requester).ok();
        }
        None
    }

    /// INDIVIDUAL resend: the LEGACY bytes of one transaction prepared for `requester`.
    pub async fn resend_individual(
        &self,
        requester: &PublicKey,
        hash: &TxHash,
    ) -> Result<Vec<u8>, ManagerError> {
        let stored = self
            .store
            .find_payload(hash.clone())
            .await?
            .ok_or_else(|| {
                ManagerError::NotFound(format!("Message with hash {hash} was not found"))
            })?;
        if stored.payload.privacy_mode != PrivacyMode::StandardPrivate {
            return Err(ManagerError::Forbidden(
                "Cannot resend enhanced privacy transaction in legacy resend".into(),
            ));
        }
        let payload = &stored.payload;
        let copy = if &payload.sender == requester {
            payload.clone()
        } else {
            payload.for_recipient(requester).map_err(|_| {
                ManagerError::NotFound(format!(
                    "Recipient {requester} is not a party to transaction {hash}"
                ))
            })?
        };
        Ok(PayloadCodec::Legacy.encode(&copy))
    }

    /// ALL resend: pushes every standard-private transaction `requester` is a party to, to its
    /// node. Returns how many were pushed.
    pub async fn resend_all(&self, requester: &PublicKey) -> Result<usize, ManagerError> {
        let ours = self.enclave.public_keys().await?;
        if ours.contains(requester) {
            return Ok(0);
        }
        let route = self.route(requester).await?;
        let mut pushed = 0;
        let mut after: Option<TxHash> = None;
        loop {
            let page = self.store.page_payloads(after.clone(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash.clone());
            for stored in page {
                if stored.payload.privacy_mode != PrivacyMode::StandardPrivate {
                    continue;
                }
                if let Some(copy) = self.copy_for(&stored.payload, requester, &ours) {
                    self.p2p.push(&route.url, &copy, route.codec()).await?;
                    pushed += 1;
                }
            }
        }
        Ok(pushed)
    }

    /// Batch resend: every transaction `requester` is a party to (enhanced privacy included),
    /// sent to its node's `/pushBatch` in LEGACY batches of `batch_size`. Returns the count.
    pub async fn resend_batch(
        &self,
        requester: &PublicKey,
        batch_size: Option<i64>,
    ) -> Result<i64, ManagerError> {
        let size = match batch_size {
            Some(n) if (1..=MAX_BATCH).contains(&n) => n as usize,
            _ => MAX_BATCH as usize,
        };
        let ours = self.enclave.public_keys().await?;
        let route = self.route(requester).await?;
        let mut batch = Vec::with_capacity(size.min(1024));
        let mut total = 0i64;
        let mut after: Option<TxHash> = None;
        loop {
            let page = self.store.page_payloads(after.clone(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash.clone());
            for stored in page {
                if let Some(copy) = self.copy_for(&stored.payload, requester, &ours) {
                    batch.push(PayloadCodec::Legacy.encode(&copy));
                    total += 1;
                    if batch.len() == size {
                        let encoded_payloads = std::mem::take(&mut batch);
                        self.p2p
                            .push_batch(&route.url, &PushBatchRequest { encoded_payloads })
                            .await?;
                    }
                }
            }
        }
        if !batch.is_empty() {
            self.p2p
                .push_batch(
                    &route.url,
                    &PushBatchRequest {
                        encoded_payloads: batch,
                    },
                )
                .await?;
        }
        Ok(total)
    }
}
