//! The repository for async code: every call runs on tokio's blocking pool, never on an async
//! worker thread.

use tm_core::payload::PrivacyGroupId;
use tm_core::{EncodedPayload, PublicKey, TxHash};

use crate::model::{
    Candidate, CandidatesAdded, EncryptedRawTransaction, Peer, PrivacyGroupRow, RecipientRoute,
    StagedPayload, StagingCounts, StoreOutcome, StoredTransaction,
};
use crate::{Store, StoreError};

/// [`Store`] with async methods of the same names; each runs the blocking call through
/// `tokio::task::spawn_blocking`. Cloning is cheap and shares the pool.
#[derive(Clone, Debug)]
pub struct AsyncStore {
    store: Store,
}

impl From<Store> for AsyncStore {
    fn from(store: Store) -> Self {
        Self { store }
    }
}

impl AsyncStore {
    /// [`Store::connect`], off the async workers.
    pub async fn connect(
        url: String,
        username: Option<String>,
        password: Option<String>,
        auto_create_tables: bool,
        pool_size: u32,
    ) -> Result<Self, StoreError> {
        blocking(move || {
            Store::connect(
                &url,
                username.as_deref(),
                password.as_deref(),
                auto_create_tables,
                pool_size,
            )
        })
        .await
        .map(Self::from)
    }

    /// [`Store::open`] on a blocking thread.
    pub async fn open(settings: crate::StoreSettings) -> Result<Self, StoreError> {
        blocking(move || Store::open(&settings))
            .await
            .map(Self::from)
    }

    /// [`Store::hash_of`]: the hash a payload is stored under.
    pub fn hash_of(&self, payload: &tm_core::EncodedPayload) -> tm_core::TxHash {
        self.store.hash_of(payload)
    }

    /// [`Store::digest`].
    pub fn digest(&self) -> tm_core::PayloadDigest {
        self.store.digest()
    }

    /// The blocking store underneath (for code already on a blocking thread).
    pub fn blocking(&self) -> &Store {
        &self.store
    }

    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    {
        let store = self.store.clone();
        blocking(move || f(&store)).await
    }

    /// [`Store::upcheck`].
    pub async fn upcheck(&self) -> Result<(), StoreError> {
        self.run(|s| s.upcheck()).await
    }

    /// [`Store::store_payload`].
    pub async fn store_payload(&self, payload: EncodedPayload) -> Result<StoreOutcome, StoreError> {
        self.run(move |s| s.store_payload(&payload)).await
    }

    /// [`Store::store_payloads`].
    pub async fn store_payloads(
        &self,
        payloads: Vec<EncodedPayload>,
    ) -> Result<Vec<StoreOutcome>, StoreError> {
        self.run(move |s| s.store_payloads(&payloads)).await
    }

    /// [`Store::upsert_payload_with`].
    pub async fn upsert_payload_with<F>(
        &self,
        hash: TxHash,
        f: F,
    ) -> Result<StoreOutcome, StoreError>
    where
        F: FnMut(Option<&EncodedPayload>) -> Result<Option<EncodedPayload>, StoreError>
            + Send
            + 'static,
    {
        self.run(move |s| s.upsert_payload_with(&hash, f)).await
    }

    /// [`Store::find_payload`].
    pub async fn find_payload(
        &self,
        hash: TxHash,
    ) -> Result<Option<StoredTransaction>, StoreError> {
        self.run(move |s| s.find_payload(&hash)).await
    }

    /// [`Store::find_payloads`].
    pub async fn find_payloads(
        &self,
        hashes: Vec<TxHash>,
    ) -> Result<Vec<StoredTransaction>, StoreError> {
        self.run(move |s| s.find_payloads(&hashes)).await
    }

    /// [`Store::delete_payload`].
    pub async fn delete_payload(&self, hash: TxHash) -> Result<bool, StoreError> {
        self.run(move |s| s.delete_payload(&hash)).await
    }

    /// [`Store::page_payloads`].
    pub async fn page_payloads(
        &self,
        after: Option<TxHash>,
        limit: u32,
    ) -> Result<Vec<StoredTransaction>, StoreError> {
        self.run(move |s| s.page_payloads(after.as_ref(), limit))
            .await
    }

    /// [`Store::count_payloads`].
    pub async fn count_payloads(&self) -> Result<u64, StoreError> {
        self.run(|s| s.count_payloads()).await
    }

    /// [`Store::store_raw`].
    pub async fn store_raw(&self, raw: EncryptedRawTransaction) -> Result<bool, StoreError> {
        self.run(move |s| s.store_raw(&raw)).await
    }

    /// [`Store::find_raw`].
    pub async fn find_raw(
        &self,
        hash: TxHash,
    ) -> Result<Option<EncryptedRawTransaction>, StoreError> {
        self.run(move |s| s.find_raw(&hash)).await
    }

    /// [`Store::delete_raw`].
    pub async fn delete_raw(&self, hash: TxHash) -> Result<bool, StoreError> {
        self.run(move |s| s.delete_raw(&hash)).await
    }

    /// [`Store::save_privacy_group`].
    pub async fn save_privacy_group(&self, group: PrivacyGroupRow) -> Result<(), StoreError> {
        self.run(move |s| s.save_privacy_group(&group)).await
    }

    /// [`Store::retrieve_or_save_privacy_group`].
    pub async fn retrieve_or_save_privacy_group(
        &self,
        group: PrivacyGroupRow,
    ) -> Result<PrivacyGroupRow, StoreError> {
        self.run(move |s| s.retrieve_or_save_privacy_group(&group))
            .await
    }

    /// [`Store::find_privacy_group`].
    pub async fn find_privacy_group(
        &self,
        id: PrivacyGroupId,
    ) -> Result<Option<PrivacyGroupRow>, StoreError> {
        self.run(move |s| s.find_privacy_group(&id)).await
    }

    /// [`Store::find_privacy_groups_by_lookup_id`].
    pub async fn find_privacy_groups_by_lookup_id(
        &self,
        lookup_id: Vec<u8>,
    ) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        self.run(move |s| s.find_privacy_groups_by_lookup_id(&lookup_id))
            .await
    }

    /// [`Store::list_privacy_groups`].
    pub async fn list_privacy_groups(&self) -> Result<Vec<PrivacyGroupRow>, StoreError> {
        self.run(|s| s.list_privacy_groups()).await
    }

    /// [`Store::update_privacy_groups`].
    pub async fn update_privacy_groups<E, F>(&self, merge: F) -> Result<Vec<PrivacyGroupRow>, E>
    where
        E: From<StoreError> + Send + 'static,
        F: FnOnce(Vec<PrivacyGroupRow>) -> Result<Vec<PrivacyGroupRow>, E> + Send + 'static,
    {
        let store = self.store.clone();
        blocking(move || Ok(store.update_privacy_groups(merge))).await?
    }

    /// [`Store::clear_staging`].
    pub async fn clear_staging(&self) -> Result<(), StoreError> {
        self.run(|s| s.clear_staging()).await
    }

    /// [`Store::stage_payloads`].
    pub async fn stage_payloads(
        &self,
        payloads: Vec<(Vec<u8>, EncodedPayload)>,
    ) -> Result<(), StoreError> {
        self.run(move |s| s.stage_payloads(&payloads)).await
    }

    /// [`Store::staging_counts`].
    pub async fn staging_counts(&self) -> Result<StagingCounts, StoreError> {
        self.run(|s| s.staging_counts()).await
    }

    /// [`Store::stage_next`].
    pub async fn stage_next(&self, limit: u32, stage: i64) -> Result<usize, StoreError> {
        self.run(move |s| s.stage_next(limit, stage)).await
    }

    /// [`Store::staging_page`].
    pub async fn staging_page(
        &self,
        after: Option<StagedPayload>,
        limit: u32,
    ) -> Result<Vec<StagedPayload>, StoreError> {
        self.run(move |s| s.staging_page(after.as_ref(), limit))
            .await
    }

    /// [`Store::add_peer`].
    pub async fn add_peer(&self, url: String) -> Result<bool, StoreError> {
        self.run(move |s| s.add_peer(&url)).await
    }

    /// [`Store::record_peer_contact`].
    pub async fn record_peer_contact(
        &self,
        url: String,
        at_millis: i64,
        api_versions: Vec<String>,
    ) -> Result<(), StoreError> {
        self.run(move |s| s.record_peer_contact(&url, at_millis, &api_versions))
            .await
    }

    /// [`Store::record_peer_reached`].
    pub async fn record_peer_reached(&self, url: String, at_millis: i64) -> Result<(), StoreError> {
        self.run(move |s| s.record_peer_reached(&url, at_millis))
            .await
    }

    /// [`Store::mark_peer_unreachable`].
    pub async fn mark_peer_unreachable(
        &self,
        url: String,
        started_millis: i64,
        error: String,
    ) -> Result<bool, StoreError> {
        self.run(move |s| s.mark_peer_unreachable(&url, started_millis, &error))
            .await
    }

    /// [`Store::remove_peer_if_stale`].
    pub async fn remove_peer_if_stale(
        &self,
        url: String,
        cutoff_millis: i64,
    ) -> Result<bool, StoreError> {
        self.run(move |s| s.remove_peer_if_stale(&url, cutoff_millis))
            .await
    }

    /// [`Store::add_candidates`].
    pub async fn add_candidates(
        &self,
        urls: Vec<String>,
        cap: usize,
    ) -> Result<CandidatesAdded, StoreError> {
        self.run(move |s| s.add_candidates(&urls, cap)).await
    }

    /// [`Store::oldest_candidates`].
    pub async fn oldest_candidates(&self, limit: u32) -> Result<Vec<Candidate>, StoreError> {
        self.run(move |s| s.oldest_candidates(limit)).await
    }

    /// [`Store::count_recipients`].
    pub async fn count_recipients(&self) -> Result<u64, StoreError> {
        self.run(|s| s.count_recipients()).await
    }

    /// [`Store::count_candidates`].
    pub async fn count_candidates(&self) -> Result<u64, StoreError> {
        self.run(|s| s.count_candidates()).await
    }

    /// [`Store::remove_candidate`].
    pub async fn remove_candidate(&self, url: String) -> Result<bool, StoreError> {
        self.run(move |s| s.remove_candidate(&url)).await
    }

    /// [`Store::find_peer`].
    pub async fn find_peer(&self, url: String) -> Result<Option<Peer>, StoreError> {
        self.run(move |s| s.find_peer(&url)).await
    }

    /// [`Store::list_peers`].
    pub async fn list_peers(&self) -> Result<Vec<Peer>, StoreError> {
        self.run(|s| s.list_peers()).await
    }

    /// [`Store::remove_peer`].
    pub async fn remove_peer(&self, url: String) -> Result<bool, StoreError> {
        self.run(move |s| s.remove_peer(&url)).await
    }

    /// [`Store::upsert_recipient`].
    pub async fn upsert_recipient(
        &self,
        key: PublicKey,
        peer_url: String,
    ) -> Result<(), StoreError> {
        self.run(move |s| s.upsert_recipient(&key, &peer_url)).await
    }

    /// [`Store::find_routes`].
    pub async fn find_routes(&self, keys: Vec<PublicKey>) -> Result<Vec<Option<Peer>>, StoreError> {
        self.run(move |s| s.find_routes(&keys)).await
    }

    /// [`Store::find_routes_and_payload`].
    pub async fn find_routes_and_payload(
        &self,
        keys: Vec<PublicKey>,
        hash: TxHash,
    ) -> Result<crate::RoutesAndPayload, StoreError> {
        self.run(move |s| s.find_routes_and_payload(&keys, &hash))
            .await
    }

    /// [`Store::find_recipient`].
    pub async fn find_recipient(
        &self,
        key: PublicKey,
    ) -> Result<Option<RecipientRoute>, StoreError> {
        self.run(move |s| s.find_recipient(&key)).await
    }

    /// [`Store::list_recipients`].
    pub async fn list_recipients(&self) -> Result<Vec<RecipientRoute>, StoreError> {
        self.run(|s| s.list_recipients()).await
    }

    /// [`Store::remove_recipient`].
    pub async fn remove_recipient(&self, key: PublicKey) -> Result<bool, StoreError> {
        self.run(move |s| s.remove_recipient(&key)).await
    }
}

/// Runs blocking database work on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T, StoreError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, StoreError> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
}
