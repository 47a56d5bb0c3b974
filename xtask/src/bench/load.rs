//! The load generator: `concurrency` tasks calling the typed Q2T client in a loop, for a time
//! or a count, recording each operation's latency (HdrHistogram, microseconds) and when it
//! completed (per second, for the throughput-over-time plot).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tm_client::q2t::{MediaType, Q2tClient, SendRequest, SendSignedRequest, StoreRawRequest};
use tm_core::{PublicKey, TxHash};

use super::{BenchOptions, Scenario};
use crate::cluster::Cluster;

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// What the network did in one scenario.
#[derive(Clone, Debug, Serialize)]
pub struct LoadResult {
    /// Operations that succeeded.
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first failure, if any.
    pub first_error: Option<String>,
    /// Wall-clock seconds of the scenario.
    pub seconds: f64,
    /// Successful operations per second.
    pub tps: f64,
    /// Latency of successful operations.
    pub latency_ms: Percentiles,
    /// Histogram for the plot: (upper bound ms, operations in the bucket).
    pub histogram: Vec<(f64, u64)>,
    /// Successful operations completed in each second of the run.
    pub per_second: Vec<u64>,
}

/// What the tasks share.
struct Shared {
    issued: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    per_second: Mutex<Vec<u64>>,
    sent: Mutex<Vec<TxHash>>,
}

/// The clients and keys a scenario needs.
#[derive(Clone)]
struct Target {
    a: Q2tClient,
    b: Q2tClient,
    b_first: PublicKey,
    b_all: Vec<PublicKey>,
    payload: Vec<u8>,
    receivable: Arc<Vec<TxHash>>,
}

/// Runs one scenario. `sent` collects what `Send1` sent, for `Receive` to read.
pub fn run(
    cluster: &Cluster,
    scenario: Scenario,
    label: &str,
    options: &BenchOptions,
    sent: &mut Vec<TxHash>,
) -> Result<LoadResult, String> {
    let [a, b, ..] = cluster.nodes.as_slice() else {
        return Err("bench needs two nodes".into());
    };
    let keys: Vec<PublicKey> = b
        .keys
        .iter()
        .take(options.recipients)
        .map(|k| PublicKey::from_base64(&k.public_key).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let target = Target {
        a: Q2tClient::new(&a.q2t_url).map_err(|e| e.to_string())?,
        b: Q2tClient::new(&b.q2t_url).map_err(|e| e.to_string())?,
        b_first: keys
            .first()
            .cloned()
            .ok_or_else(|| "node 2 has no key".to_owned())?,
        b_all: keys,
        payload: (0..options.payload_bytes)
            .map(|i| (i % 251) as u8)
            .collect(),
        receivable: Arc::new(sent.clone()),
    };
    if scenario == Scenario::Receive && target.receivable.is_empty() {
        return Err("nothing to receive: the send scenario sent nothing".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let seconds = options.seconds.max(1);
    let shared = Arc::new(Shared {
        issued: AtomicU64::new(0),
        done: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        first_error: Mutex::new(None),
        per_second: Mutex::new(Vec::new()),
        sent: Mutex::new(Vec::new()),
    });
    let bar = match options.count {
        Some(count) => ProgressBar::new(count),
        None => ProgressBar::new(seconds),
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix:>28} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_owned());

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let histogram = runtime.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..options.concurrency {
            let (target, shared) = (target.clone(), Arc::clone(&shared));
            let count = options.count;
            tasks.spawn(async move {
                let mut histogram = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3)
                    .expect("valid histogram bounds");
                let mut i = worker as u64;
                loop {
                    match count {
                        Some(count) => {
                            if shared.issued.fetch_add(1, Ordering::Relaxed) >= count {
                                break;
                            }
                        }
                        None => {
                            if Instant::now() >= deadline {
                                break;
                            }
                        }
                    }
                    let t0 = Instant::now();
                    let outcome = operation(&target, scenario, i).await;
                    let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                    i += 1;
                    match outcome {
                        Ok(hash) => {
                            let _ = histogram.record(micros.max(1));
                            shared.done.fetch_add(1, Ordering::Relaxed);
                            let second = started.elapsed().as_secs() as usize;
                            if let Ok(mut per) = shared.per_second.lock() {
                                if per.len() <= second {
                                    per.resize(second + 1, 0);
                                }
                                per[second] += 1;
                            }
                            if let (Some(hash), Ok(mut sent)) = (hash, shared.sent.lock()) {
                                sent.push(hash);
                            }
                        }
                        Err(e) => {
                            shared.errors.fetch_add(1, Ordering::Relaxed);
                            if let Ok(mut first) = shared.first_error.lock() {
                                first.get_or_insert(e);
                            }
                        }
                    }
                }
                histogram
            });
        }
        let ticker = {
            let (bar, shared) = (bar.clone(), Arc::clone(&shared));
            let by_count = options.count.is_some();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let done = shared.done.load(Ordering::Relaxed);
                    let errors = shared.errors.load(Ordering::Relaxed);
                    if by_count {
                        bar.set_position(done + errors);
                    } else {
                        bar.set_position(started.elapsed().as_secs().min(seconds));
                    }
                    bar.set_message(format!("{done} ok, {errors} errors"));
                }
            })
        };
        let mut total =
            Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        while let Some(joined) = tasks.join_next().await {
            if let Ok(h) = joined {
                let _ = total.add(h);
            }
        }
        ticker.abort();
        total
    });
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let ops = shared.done.load(Ordering::Relaxed);
    let ms = |micros: u64| micros as f64 / 1000.0;
    let latency_ms = if histogram.is_empty() {
        Percentiles::default()
    } else {
        Percentiles {
            p50: ms(histogram.value_at_quantile(0.50)),
            p95: ms(histogram.value_at_quantile(0.95)),
            p99: ms(histogram.value_at_quantile(0.99)),
            max: ms(histogram.max()),
        }
    };
    if scenario == Scenario::Send1 {
        if let Ok(mut hashes) = shared.sent.lock() {
            sent.append(&mut hashes);
        }
    }
    let per_second = shared
        .per_second
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    let first_error = shared.first_error.lock().ok().and_then(|f| f.clone());
    Ok(LoadResult {
        ops,
        errors: shared.errors.load(Ordering::Relaxed),
        first_error,
        seconds: elapsed,
        tps: ops as f64 / elapsed.max(1e-9),
        latency_ms,
        histogram: buckets(&histogram),
        per_second,
    })
}

/// Log-spaced buckets (ratio 1.25 from 0.1 ms) for the latency plot.
fn buckets(histogram: &Histogram<u64>) -> Vec<(f64, u64)> {
    if histogram.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut low = 0u64;
    let mut high = 100f64; // microseconds
    let max = histogram.max();
    while low <= max {
        let upper = high as u64;
        let n = histogram.count_between(low, upper);
        out.push((high / 1000.0, n));
        low = upper + 1;
        high *= 1.25;
    }
    out
}

/// One operation; returns the hash of a standard send for the receive scenario.
async fn operation(target: &Target, scenario: Scenario, i: u64) -> Result<Option<TxHash>, String> {
    match scenario {
        Scenario::Send1 => {
            let request = SendRequest::new(
                target.payload.clone(),
                std::slice::from_ref(&target.b_first),
            );
            let sent = target
                .a
                .send(&request, MediaType::V2_1)
                .await
                .map_err(|e| e.to_string())?;
            TxHash::from_base64(&sent.response.key)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        Scenario::SendMany => {
            let request = SendRequest::new(target.payload.clone(), &target.b_all);
            target
                .a
                .send(&request, MediaType::V2_1)
                .await
                .map(|_| None)
                .map_err(|e| e.to_string())
        }
        Scenario::Receive => {
            let hash = &target.receivable[(i as usize) % target.receivable.len()];
            let received = target
                .b
                .receive(hash, None, false, MediaType::V2_1)
                .await
                .map_err(|e| e.to_string())?;
            if received.payload != target.payload {
                return Err(format!("{hash}: wrong payload"));
            }
            Ok(None)
        }
        Scenario::StoreRawSendSigned => {
            let raw = StoreRawRequest {
                payload: target.payload.clone(),
                from: None,
            };
            let hash = target
                .a
                .store_raw(&raw, MediaType::V2_1)
                .await
                .map_err(|e| e.to_string())?;
            let signed = SendSignedRequest {
                hash: hash.as_bytes().to_vec(),
                to: Some(vec![target.b_first.to_base64()]),
                ..SendSignedRequest::default()
            };
            target
                .a
                .send_signed(&signed, MediaType::V2_1)
                .await
                .map(|_| None)
                .map_err(|e| e.to_string())
        }
    }
}
