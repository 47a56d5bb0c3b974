//! Resend: `POST /resend` (INDIVIDUAL and ALL) and `POST /resendBatch`
//! (docs/protocol.md §11.1–§11.3).

use tm_client::p2p::PushBatchRequest;
use tm_core::{EncodedPayload, PayloadCodec, PrivacyMode, PublicKey, TxHash};

use crate::{ManagerError, Node};

/// Rows read per database page while resending.
const PAGE: u32 = 100;
/// Largest batch `/resendBatch` sends in one `/pushBatch` call.
pub const MAX_BATCH: i64 = 10_000;
/// The most base64 payload text one `/pushBatch` call carries (a payload larger than this goes
/// alone). A peer accepts JSON bodies holding one largest payload in base64 (87.7 MiB by
/// default, `tm_http::limits::MAX_P2P_JSON_BYTES`), so a batch of this size always fits, and
/// so does any single payload a node stores.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;

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
        let resends = &tm_metrics::metrics().resends;
        crate::measure::counted(resends, &["individual"], async {
            self.resend_individual_unmeasured(requester, hash).await
        })
        .await
    }

    async fn resend_individual_unmeasured(
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
            // Tessera's InvalidRecipientException: a 500 whose message its resend acceptance
            // test checks ("Recipient <key> is not a recipient of transaction").
            payload.for_recipient(requester).map_err(|_| {
                ManagerError::Internal(format!(
                    "Recipient {requester} is not a recipient of transaction {hash}"
                ))
            })?
        };
        Ok(PayloadCodec::Legacy.encode(&copy))
    }

    /// ALL resend: pushes every standard-private transaction `requester` is a party to, to its
    /// node. Returns how many were pushed.
    pub async fn resend_all(&self, requester: &PublicKey) -> Result<usize, ManagerError> {
        let resends = &tm_metrics::metrics().resends;
        crate::measure::counted(resends, &["all"], self.resend_all_unmeasured(requester)).await
    }

    async fn resend_all_unmeasured(&self, requester: &PublicKey) -> Result<usize, ManagerError> {
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
    /// sent to its node's `/pushBatch` in LEGACY batches of at most `batch_size` payloads and
    /// [`MAX_BATCH_BYTES`] of JSON (a larger payload goes alone). Returns the count.
    pub async fn resend_batch(
        &self,
        requester: &PublicKey,
        batch_size: Option<i64>,
    ) -> Result<i64, ManagerError> {
        let resends = &tm_metrics::metrics().resends;
        crate::measure::counted(
            resends,
            &["batch"],
            self.resend_batch_unmeasured(requester, batch_size),
        )
        .await
    }

    async fn resend_batch_unmeasured(
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
        let mut batch_bytes = 0usize;
        let mut total = 0i64;
        let mut after: Option<TxHash> = None;
        loop {
            let page = self.store.page_payloads(after.clone(), PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.hash.clone());
            for stored in page {
                if let Some(copy) = self.copy_for(&stored.payload, requester, &ours) {
                    let encoded = PayloadCodec::Legacy.encode(&copy);
                    let cost = json_entry_len(encoded.len());
                    if !batch.is_empty() && batch_bytes + cost > MAX_BATCH_BYTES {
                        self.push_batch_to(&route.url, std::mem::take(&mut batch))
                            .await?;
                        batch_bytes = 0;
                    }
                    batch.push(encoded);
                    batch_bytes += cost;
                    total += 1;
                    if batch.len() == size {
                        self.push_batch_to(&route.url, std::mem::take(&mut batch))
                            .await?;
                        batch_bytes = 0;
                    }
                }
            }
        }
        if !batch.is_empty() {
            self.push_batch_to(&route.url, batch).await?;
        }
        Ok(total)
    }

    async fn push_batch_to(
        &self,
        url: &str,
        encoded_payloads: Vec<Vec<u8>>,
    ) -> Result<(), ManagerError> {
        self.p2p
            .push_batch(url, &PushBatchRequest { encoded_payloads })
            .await?;
        Ok(())
    }
}

/// What one payload of `len` bytes adds to a `/pushBatch` body: its base64 in quotes, a comma.
fn json_entry_len(len: usize) -> usize {
    len.div_ceil(3) * 4 + 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_of_a_batch_costs_its_base64_in_quotes_and_a_comma() {
        for n in [0, 1, 2, 3, 4, 100, 65_537] {
            assert_eq!(
                json_entry_len(n),
                tm_core::b64::encode(vec![0u8; n]).len() + 3
            );
        }
    }
}
