//! Recovery mode (`--recover`, docs/protocol.md §11.4, docs/operations.md "Recovering a
//! node"): a node that lost its database asks every peer to resend what it was party to,
//! stages what arrives, orders it by affected transactions, and moves it into the live table
//! through the checks of a push.
//!
//! Nothing is held in memory beyond one page: peers push in batches that are staged in one
//! database transaction each, staging is done by SQL in passes, and the move reads the
//! staging tables a page at a time.
//!
//! The stage and move steps report progress through `tm_config::progress` as log lines (a
//! line at most every 10 s and one at the end of each step), not a terminal bar: recovery
//! runs inside a service whose output is its log.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use tm_client::p2p::{ResendBatchRequest, ResendRequest, ResendType};
use tm_client::ClientError;
use tm_config::progress::Progress;
use tm_core::{EncodedPayload, PayloadCodec, PrivacyMode, PublicKey};
use tm_store::StagedPayload;

use crate::push::PushOutcome;
use crate::{ManagerError, Node};

/// Payloads a peer puts in one `/pushBatch` for us: Tessera's recovery asks for 100.
pub const REQUEST_BATCH_SIZE: i64 = 100;
/// Attempts at one `/resendBatch` call before the peer counts as failed (Tessera's
/// `BatchTransactionRequester.MAX_ATTEMPTS`).
pub const REQUEST_ATTEMPTS: u32 = 5;
/// Pause between two attempts at the same call.
const RETRY_PAUSE: Duration = Duration::from_secs(1);
/// Rows given a stage per staging pass (Tessera's `RecoveryImpl.BATCH_SIZE`).
pub const STAGE_BATCH: u32 = 10_000;
/// Staged payloads moved into the live table per database transaction.
pub const MOVE_PAGE: u32 = 100;
/// Discovery rounds at most before asking peers (each round reaches the nodes the previous
/// one learned of).
const DISCOVERY_ROUNDS: usize = 10;

/// How one step of recovery went, worst last: its process exit status is Tessera's
/// (`RecoveryResult`: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RecoveryResult {
    /// Everything asked for arrived and was moved.
    Success,
    /// Some peers failed, or some payloads could not be staged or moved: run recovery again
    /// once the cause is fixed (it is safe to repeat).
    PartialSuccess,
    /// Nothing could be recovered.
    Failure,
}

impl RecoveryResult {
    /// Tessera's exit status for it.
    pub fn code(self) -> u8 {
        match self {
            Self::Success => 0,
            Self::PartialSuccess => 1,
            Self::Failure => 2,
        }
    }

    /// Success if none failed, failure if all did, partial success otherwise.
    fn of(failed: u64, total: u64) -> Self {
        if failed == 0 {
            Self::Success
        } else if failed >= total {
            Self::Failure
        } else {
            Self::PartialSuccess
        }
    }
}

impl fmt::Display for RecoveryResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Success => "SUCCESS",
            Self::PartialSuccess => "PARTIAL_SUCCESS",
            Self::Failure => "FAILURE",
        })
    }
}

/// What a recovery run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Peers asked to resend.
    pub peers_asked: Vec<String>,
    /// Of them, those that did not resend everything (unreachable, or a request failed).
    pub peers_failed: Vec<String>,
    /// Payloads the peers said they resent (`/resendBatch` totals).
    pub resent: u64,
    /// Payloads in the staging tables after the requests.
    pub staged: u64,
    /// Of them, how many got a stage (their affected transactions were all staged).
    pub ordered: u64,
    /// Payloads stored in (or already held by) the live table.
    pub moved: u64,
    /// Payloads the checks of a push refused or dropped; logged one by one.
    pub refused: u64,
    /// Copies of a private-state-validation transaction skipped after its first (Tessera
    /// moves only the first version of each PSV hash).
    pub skipped: u64,
    /// The outcome of each step: request, stage, move.
    pub steps: [Option<RecoveryResult>; 3],
    /// Why the run did not start, when it did not (also logged).
    pub not_started: Option<String>,
}

impl RecoveryReport {
    /// The worst outcome of the steps; what the process exits with.
    pub fn result(&self) -> RecoveryResult {
        self.steps
            .iter()
            .flatten()
            .copied()
            .max()
            .unwrap_or(RecoveryResult::Failure)
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let step = |s: Option<RecoveryResult>| s.map_or("not run".to_owned(), |s| s.to_string());
        write!(
            f,
            "recovery {}: peers asked {} (failed {}), payloads resent {}, staged {} \
             (ordered {}), moved {}, refused {}, PSV copies skipped {}; steps: request {}, \
             stage {}, move {}",
            self.result(),
            self.peers_asked.len(),
            self.peers_failed.len(),
            self.resent,
            self.staged,
            self.ordered,
            self.moved,
            self.refused,
            self.skipped,
            step(self.steps[0]),
            step(self.steps[1]),
            step(self.steps[2]),
        )?;
        if !self.peers_failed.is_empty() {
            write!(f, "; failed peers: {}", self.peers_failed.join(", "))?;
        }
        if let Some(cause) = &self.not_started {
            write!(f, "; did not start: {cause}")?;
        }
        Ok(())
    }
}

impl Node {
    /// Recovery-mode `POST /push`: Tessera's `RecoveryResource.push` refuses enhanced-privacy
    /// payloads (they must come through `/pushBatch` and the ordered move) and stores the rest
    /// as a normal push.
    pub async fn receive_push_in_recovery(
        &self,
        payload: EncodedPayload,
    ) -> Result<(tm_core::TxHash, PushOutcome), ManagerError> {
        if payload.privacy_mode != PrivacyMode::StandardPrivate {
            return Err(ManagerError::Forbidden(
                "Transactions with enhanced privacy are not accepted during recovery mode".into(),
            ));
        }
        self.receive_push(payload).await
    }

    /// Recovery-mode `POST /pushBatch`: stages the payloads (each with the LEGACY bytes it
    /// arrived as) in one database transaction. A payload that no node could ever store is
    /// refused with the whole batch (400), as a push of it would be; everything else waits
    /// for the move, which applies every check of a push.
    pub async fn stage_push_batch(
        &self,
        payloads: Vec<(Vec<u8>, EncodedPayload)>,
    ) -> Result<(), ManagerError> {
        for (i, (_, payload)) in payloads.iter().enumerate() {
            payload.check_storable().map_err(|e| {
                ManagerError::BadRequest(format!("invalid payload at index {i}: {e}"))
            })?;
        }
        let count = payloads.len();
        self.store.stage_payloads(payloads).await?;
        tracing::debug!(count, "staged a batch of resent payloads");
        Ok(())
    }

    /// Runs recovery (Tessera's `RecoveryImpl.recover`): empties the staging tables, runs
    /// discovery until it has reached every node it can, asks each peer to resend every
    /// transaction of each of our keys, stages what arrived, moves it into the live table in
    /// dependency order, and empties the staging tables again. Progress is logged at info.
    pub async fn recover(&self) -> RecoveryReport {
        let started = Instant::now();
        let mut report = RecoveryReport::default();
        let mut attempt = 1;
        while let Err(e) = self.prepare_recovery().await {
            if attempt == REQUEST_ATTEMPTS {
                tracing::error!("recovery cannot start: {e}");
                report.not_started = Some(e.to_string());
                return report;
            }
            tracing::warn!(attempt, "recovery: preparing failed, trying again: {e}");
            attempt += 1;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
        let request = self.request_resends(&mut report).await;
        report.steps[0] = Some(request);
        tracing::info!(
            "recovery: request step {request} in {:?}: {} payloads resent by {} of {} peers",
            started.elapsed(),
            report.resent,
            report.peers_asked.len() - report.peers_failed.len(),
            report.peers_asked.len(),
        );
        // Each step's last progress line is its summary: the count, time and rate of the
        // step, then its outcome.
        let progress = Progress::logged("recovery: stage step", None, log_progress);
        let stage = or_failure("staging", self.stage_resent(&mut report, &progress).await);
        report.steps[1] = Some(stage);
        progress.finish(format!(
            "{stage}: {} of {} payloads ordered",
            report.ordered, report.staged,
        ));
        let progress = Progress::logged("recovery: move step", None, log_progress);
        let moved = or_failure(
            "moving staged payloads",
            self.move_staged(&mut report, &progress).await,
        );
        report.steps[2] = Some(moved);
        progress.finish(format!(
            "{moved}: {} moved, {} refused, {} PSV copies skipped",
            report.moved, report.refused, report.skipped,
        ));
        if let Err(e) = self.store.clear_staging().await {
            tracing::warn!("recovery: the staging tables could not be emptied: {e}");
        }
        tracing::info!("{report} ({:?})", started.elapsed());
        report
    }

    /// Empties staging (rows left by an interrupted run are only copies of what peers will
    /// resend) and reaches every node discovery can find.
    async fn prepare_recovery(&self) -> Result<(), ManagerError> {
        let left = self.store.staging_counts().await?;
        if !left.is_empty() {
            tracing::info!(
                rows = left.payloads,
                "recovery: emptying staging rows left by an earlier run"
            );
            self.store.clear_staging().await?;
        }
        let mut reached: BTreeSet<String> = BTreeSet::new();
        for round in 1..=DISCOVERY_ROUNDS {
            let report = self.broadcast_round().await?;
            let before = reached.len();
            reached.extend(report.reached);
            tracing::info!(
                round,
                reached = reached.len(),
                failed = report.failed.len(),
                "recovery: discovery round"
            );
            if reached.len() == before {
                break;
            }
        }
        Ok(())
    }

    /// Whom recovery asks: every configured peer and every node in the party store, but us.
    async fn recovery_peers(&self) -> Result<Vec<(String, Option<Vec<String>>)>, ManagerError> {
        let mut peers: Vec<(String, Option<Vec<String>>)> = Vec::new();
        for peer in self.store.list_peers().await? {
            if !self.settings.is_own_url(&peer.url) {
                peers.push((peer.url, peer.api_versions));
            }
        }
        for url in &self.settings.configured_peers {
            if !self.settings.is_own_url(url) && !peers.iter().any(|(u, _)| u == url) {
                peers.push((url.clone(), None));
            }
        }
        peers.sort();
        Ok(peers)
    }

    /// The request step: each peer resends every transaction of each of our keys to our
    /// `/pushBatch` (or, a peer without `/resendBatch`, to our `/push`).
    async fn request_resends(&self, report: &mut RecoveryReport) -> RecoveryResult {
        let (peers, keys) = match (
            self.recovery_peers().await,
            self.enclave.public_keys().await,
        ) {
            (Ok(peers), Ok(keys)) => (peers, keys),
            (Err(e), _) => {
                tracing::error!("recovery: cannot list peers: {e}");
                return RecoveryResult::Failure;
            }
            (_, Err(e)) => {
                tracing::error!("recovery: cannot list our keys: {e}");
                return RecoveryResult::Failure;
            }
        };
        if peers.is_empty() {
            tracing::error!("recovery: no peer to ask (configure peers, or check discovery)");
            return RecoveryResult::Failure;
        }
        tracing::info!(
            peers = peers.len(),
            keys = keys.len(),
            "recovery: asking peers to resend"
        );
        let metrics = tm_metrics::metrics();
        for (url, versions) in peers {
            report.peers_asked.push(url.clone());
            let mut ok = true;
            for key in &keys {
                match self.request_from(&url, versions.as_deref(), key).await {
                    Ok(count) => {
                        tracing::info!(%url, key = %key, count, "recovery: peer resent");
                        report.resent += count;
                        metrics
                            .recovery_payloads
                            .with_label_values(&["resent"])
                            .inc_by(count);
                    }
                    Err(e) => {
                        tracing::warn!(%url, key = %key, "recovery: resend request failed: {e}");
                        ok = false;
                    }
                }
            }
            let outcome = if ok { "ok" } else { "failed" };
            tm_metrics::Metrics::count(&metrics.recovery_peers, &[outcome]);
            if !ok {
                report.peers_failed.push(url);
            }
        }
        RecoveryResult::of(
            report.peers_failed.len() as u64,
            report.peers_asked.len() as u64,
        )
    }

    /// Asks `url` to resend every transaction of `key`: `/resendBatch` (up to
    /// [`REQUEST_ATTEMPTS`] times) unless the peer advertised no `v2`, then `/resend` ALL. A
    /// peer whose versions are unknown and that does not serve `/resendBatch` (404) is asked
    /// the legacy way. Returns the count the peer reported (0 for a legacy resend).
    async fn request_from(
        &self,
        url: &str,
        versions: Option<&[String]>,
        key: &PublicKey,
    ) -> Result<u64, ClientError> {
        let legacy = || async {
            let request = ResendRequest {
                resend_type: ResendType::All,
                public_key: key.clone(),
                key: None,
            };
            self.p2p.resend(url, &request).await.map(|_| 0)
        };
        if versions.is_some_and(|v| !v.iter().any(|v| v == "v2")) {
            return legacy().await;
        }
        let request = ResendBatchRequest {
            public_key: key.clone(),
            batch_size: Some(REQUEST_BATCH_SIZE),
        };
        let mut attempt = 1;
        loop {
            match self.p2p.resend_batch(url, &request).await {
                Ok(answer) => return Ok(u64::try_from(answer.total).unwrap_or(0)),
                Err(ClientError::Status { status: 404, .. }) if versions.is_none() => {
                    return legacy().await;
                }
                Err(e) if attempt >= REQUEST_ATTEMPTS => return Err(e),
                Err(e) => {
                    tracing::debug!(%url, attempt, "recovery: resend request failed, retrying: {e}");
                    attempt += 1;
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
    }

    /// The stage step: passes of Tessera's staging until one stages nothing; `progress`
    /// counts the payloads given a stage, of those staged.
    async fn stage_resent(
        &self,
        report: &mut RecoveryReport,
        progress: &Progress,
    ) -> Result<RecoveryResult, ManagerError> {
        progress.set_total(self.store.staging_counts().await?.payloads);
        let mut stage = 0;
        loop {
            stage += 1;
            let staged = self.store.stage_next(STAGE_BATCH, stage).await?;
            if staged == 0 {
                break;
            }
            tracing::debug!(stage, staged, "recovery: staged");
            progress.set_message(format!("stage {stage}"));
            progress.inc(staged as u64);
        }
        let counts = self.store.staging_counts().await?;
        report.staged = counts.payloads;
        report.ordered = counts.staged;
        tm_metrics::metrics()
            .recovery_payloads
            .with_label_values(&["staged"])
            .inc_by(counts.payloads);
        if counts.staged < counts.payloads {
            tracing::warn!(
                unordered = counts.payloads - counts.staged,
                "recovery: payloads whose affected transactions did not all arrive; they are \
                 tried last"
            );
        }
        Ok(if counts.payloads == counts.staged {
            RecoveryResult::Success
        } else if counts.staged == 0 {
            RecoveryResult::Failure
        } else {
            RecoveryResult::PartialSuccess
        })
    }

    /// The move step: staged payloads in stage order through the checks of a push, a page at
    /// a time in one database transaction; a page that is refused is retried one payload at a
    /// time so that only the refused payloads are left out. Of the copies of one
    /// private-state-validation transaction only the first is moved, as in Tessera.
    async fn move_staged(
        &self,
        report: &mut RecoveryReport,
        progress: &Progress,
    ) -> Result<RecoveryResult, ManagerError> {
        progress.set_total(self.store.staging_counts().await?.payloads);
        let mut after: Option<StagedPayload> = None;
        let mut last_psv: Option<String> = None;
        let mut seen = 0u64;
        loop {
            let rows = self.store.staging_page(after.clone(), MOVE_PAGE).await?;
            let Some(last) = rows.last().cloned() else {
                break;
            };
            after = Some(last);
            let mut page: Vec<(String, EncodedPayload)> = Vec::with_capacity(rows.len());
            for row in rows {
                seen += 1;
                if last_psv.as_deref() == Some(row.hash.as_str()) {
                    report.skipped += 1;
                    continue;
                }
                match PayloadCodec::Legacy.decode(&row.payload) {
                    Ok(payload) => {
                        if payload.privacy_mode == PrivacyMode::PrivateStateValidation {
                            last_psv = Some(row.hash.clone());
                        }
                        page.push((row.hash, payload));
                    }
                    Err(e) => {
                        tracing::warn!(hash = %row.hash, "recovery: a staged payload does not decode: {e}");
                        report.refused += 1;
                        tm_metrics::Metrics::count(
                            &tm_metrics::metrics().recovery_payloads,
                            &["refused"],
                        );
                    }
                }
            }
            self.move_page(page, report).await;
            progress.set(seen);
        }
        Ok(RecoveryResult::of(
            report.refused,
            report.moved + report.refused,
        ))
    }

    /// Moves one page: all in one transaction when every payload passes, else one by one.
    async fn move_page(&self, page: Vec<(String, EncodedPayload)>, report: &mut RecoveryReport) {
        let (moved, refused) = (report.moved, report.refused);
        self.move_page_unmeasured(page, report).await;
        let counter = &tm_metrics::metrics().recovery_payloads;
        counter
            .with_label_values(&["moved"])
            .inc_by(report.moved - moved);
        counter
            .with_label_values(&["refused"])
            .inc_by(report.refused - refused);
    }

    async fn move_page_unmeasured(
        &self,
        page: Vec<(String, EncodedPayload)>,
        report: &mut RecoveryReport,
    ) {
        if page.is_empty() {
            return;
        }
        let payloads: Vec<EncodedPayload> = page.iter().map(|(_, p)| p.clone()).collect();
        if let Ok(outcomes) = self.receive_push_batch(payloads).await {
            if outcomes.iter().all(|o| *o != PushOutcome::Ignored) {
                report.moved += outcomes.len() as u64;
                return;
            }
        }
        for (hash, payload) in page {
            match self.receive_push(payload).await {
                Ok((_, PushOutcome::Ignored)) => {
                    tracing::warn!(%hash, "recovery: payload dropped by the privacy checks");
                    report.refused += 1;
                }
                Ok(_) => report.moved += 1,
                Err(e) => {
                    tracing::warn!(%hash, "recovery: payload refused: {e}");
                    report.refused += 1;
                }
            }
        }
    }
}

/// Writes a progress line into the log, at info under this module's target.
fn log_progress(line: &str) {
    tracing::info!("{line}");
}

/// A step's outcome, or FAILURE (logged) when the step could not run to its end.
fn or_failure(step: &str, result: Result<RecoveryResult, ManagerError>) -> RecoveryResult {
    result.unwrap_or_else(|e| {
        tracing::error!("recovery: {step} failed: {e}");
        RecoveryResult::Failure
    })
}
