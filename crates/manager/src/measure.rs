//! What the transaction manager records in the process's metrics (`tm_metrics`).

use std::future::Future;
use std::time::Instant;

use prometheus::IntCounterVec;
use tm_core::Classify;

use crate::ManagerError;

/// The outcome label of a result: `ok`, or its error's kind in lower case.
pub(crate) fn outcome<T>(result: &Result<T, ManagerError>) -> String {
    tm_metrics::outcome(result.as_ref().err().map(Classify::kind))
}

/// Runs `work`, then counts its outcome in `counter` after the label values `labels`.
pub(crate) async fn counted<T, F>(
    counter: &IntCounterVec,
    labels: &[&str],
    work: F,
) -> Result<T, ManagerError>
where
    F: Future<Output = Result<T, ManagerError>>,
{
    let result = work.await;
    let outcome = outcome(&result);
    let mut values: Vec<&str> = labels.to_vec();
    values.push(&outcome);
    tm_metrics::Metrics::count(counter, &values);
    result
}

/// Runs a send, then counts it and records its time by outcome.
pub(crate) async fn send<T, F>(work: F) -> Result<T, ManagerError>
where
    F: Future<Output = Result<T, ManagerError>>,
{
    let started = Instant::now();
    let result = work.await;
    let outcome = outcome(&result);
    let metrics = tm_metrics::metrics();
    tm_metrics::Metrics::count(&metrics.sends, &[&outcome]);
    tm_metrics::Metrics::observe(&metrics.send_duration, &[&outcome], started.elapsed());
    result
}
