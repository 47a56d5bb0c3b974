//! The load generator: `concurrency` tasks calling the typed Q2T client in a loop, for a time
//! or a count, recording each operation's latency (HdrHistogram, microseconds) and when it
//! completed (per second, for the throughput-over-time plot).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tm_client::q2t::{MediaType, Q2tClient, SendRequest, SendSignedRequest, StoreRawRequest};
use tm_config::progress::Progress;
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
#[derive(Default)]
struct Shared {
    issued: AtomicU64,
    done: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
    per_second: Mutex<Vec<u64>>,
    sent: Mutex<Vec<TxHash>>,
}

impl Shared {
    /// Whether another operation may start: under the count, or before the deadline.
    fn next_turn(&self, count: Option<u64>, deadline: Instant) -> bool {
        match count {
            Some(count) => self.issued.fetch_add(1, Ordering::Relaxed) < count,
            None => Instant::now() < deadline,
        }
    }

    fn succeeded(&self, hash: Option<TxHash>, started: Instant) {
        self.done.fetch_add(1, Ordering::Relaxed);
        let second = started.elapsed().as_secs() as usize;
        if let Ok(mut per) = self.per_second.lock() {
            if per.len() <= second {
                per.resize(second + 1, 0);
            }
            per[second] += 1;
        }
        if let (Some(hash), Ok(mut sent)) = (hash, self.sent.lock()) {
            sent.push(hash);
        }
    }

    fn failed(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(error);
        }
    }
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

impl Target {
    /// Node 1 sends, node 2 receives: up to `recipients` of its keys, and what `sent` holds.
    fn new(cluster: &Cluster, options: &BenchOptions, sent: &[TxHash]) -> Result<Self, String> {
        let [a, b, ..] = cluster.nodes.as_slice() else {
            return Err("bench needs two nodes".into());
        };
        let keys: Vec<PublicKey> = b
            .keys
            .iter()
            .take(options.recipients)
            .map(|k| PublicKey::from_base64(&k.public_key).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            a: crate::cluster::q2t_client(cluster, &a.q2t_url)?,
            b: crate::cluster::q2t_client(cluster, &b.q2t_url)?,
            b_first: keys
                .first()
                .cloned()
                .ok_or_else(|| "node 2 has no key".to_owned())?,
            b_all: keys,
            payload: (0..options.payload_bytes)
                .map(|i| (i % 251) as u8)
                .collect(),
            receivable: Arc::new(sent.to_vec()),
        })
    }
}

/// How long the scenario runs and how it is shown.
#[derive(Clone, Copy)]
struct Bounds {
    count: Option<u64>,
    seconds: u64,
    started: Instant,
    deadline: Instant,
}

/// Runs one scenario. `sent` collects what `Send1` sent, for `Receive` to read.
pub fn run(
    cluster: &Cluster,
    scenario: Scenario,
    label: &str,
    options: &BenchOptions,
    sent: &mut Vec<TxHash>,
) -> Result<LoadResult, String> {
    let target = Target::new(cluster, options, sent)?;
    if scenario == Scenario::Receive && target.receivable.is_empty() {
        return Err("nothing to receive: the send scenario sent nothing".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let seconds = options.seconds.max(1);
    let shared = Arc::new(Shared::default());
    // Operations are counted either way (their rate is what a bench is about); a time-bound
    // run has no total, and its message says how long it runs.
    let progress = Progress::new(label, options.count);

    let started = Instant::now();
    let bounds = Bounds {
        count: options.count,
        seconds,
        started,
        deadline: started + Duration::from_secs(seconds),
    };
    let histogram = runtime.block_on(drive(
        &target,
        scenario,
        options.concurrency,
        bounds,
        &shared,
        &progress,
    ));
    let elapsed = started.elapsed().as_secs_f64();
    progress.finish(counts(&shared, bounds));

    if scenario == Scenario::Send1 {
        if let Ok(mut hashes) = shared.sent.lock() {
            sent.append(&mut hashes);
        }
    }
    Ok(summarise(&shared, &histogram, elapsed))
}

fn new_histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds")
}

/// `concurrency` workers and a progress ticker until the bounds are reached; returns every
/// worker's latencies merged.
async fn drive(
    target: &Target,
    scenario: Scenario,
    concurrency: usize,
    bounds: Bounds,
    shared: &Arc<Shared>,
    progress: &Progress,
) -> Histogram<u64> {
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (target, shared) = (target.clone(), Arc::clone(shared));
        tasks.spawn(work(target, scenario, worker as u64, bounds, shared));
    }
    let ticker = tokio::spawn(tick(progress.clone(), Arc::clone(shared), bounds));
    let mut total = new_histogram();
    while let Some(joined) = tasks.join_next().await {
        if let Ok(h) = joined {
            let _ = total.add(h);
        }
    }
    ticker.abort();
    total
}

/// One worker: operations one after the other while the bounds allow; returns their
/// latencies in microseconds.
async fn work(
    target: Target,
    scenario: Scenario,
    first: u64,
    bounds: Bounds,
    shared: Arc<Shared>,
) -> Histogram<u64> {
    let mut histogram = new_histogram();
    let mut i = first;
    while shared.next_turn(bounds.count, bounds.deadline) {
        let t0 = Instant::now();
        let outcome = operation(&target, scenario, i).await;
        let micros = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        i += 1;
        match outcome {
            Ok(hash) => {
                let _ = histogram.record(micros.max(1));
                shared.succeeded(hash, bounds.started);
            }
            Err(e) => shared.failed(e),
        }
    }
    histogram
}

/// Updates the progress every 200 ms (the workers do not, so that it costs the measured
/// operations nothing): operations finished, and how many failed.
async fn tick(progress: Progress, shared: Arc<Shared>, bounds: Bounds) {
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let finished = shared.done.load(Ordering::Relaxed) + shared.errors.load(Ordering::Relaxed);
        progress.set_message(counts(&shared, bounds));
        progress.set(finished);
    }
}

/// `4990 ok, 10 errors`, and for a time-bound run `of a 30 s run`.
fn counts(shared: &Shared, bounds: Bounds) -> String {
    let done = shared.done.load(Ordering::Relaxed);
    let errors = shared.errors.load(Ordering::Relaxed);
    match bounds.count {
        Some(_) => format!("{done} ok, {errors} errors"),
        None => format!("{done} ok, {errors} errors, of a {} s run", bounds.seconds),
    }
}

/// The figures of a finished scenario.
fn summarise(shared: &Shared, histogram: &Histogram<u64>, elapsed: f64) -> LoadResult {
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
    LoadResult {
        ops,
        errors: shared.errors.load(Ordering::Relaxed),
        first_error: shared.first_error.lock().ok().and_then(|f| f.clone()),
        seconds: elapsed,
        tps: ops as f64 / elapsed.max(1e-9),
        latency_ms,
        histogram: buckets(histogram),
        per_second: shared
            .per_second
            .lock()
            .map(|p| p.clone())
            .unwrap_or_default(),
    }
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
        Scenario::Exchange => target
            .b
            .upcheck()
            .await
            .map(|()| None)
            .map_err(|e| e.to_string()),
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
