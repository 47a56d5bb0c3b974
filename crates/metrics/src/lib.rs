//! The process's metrics, in Prometheus conventions (`docs/operations.md`, "Metrics").
//!
//! One registry per process ([`metrics`]): the HTTP layer records every request, the
//! transaction manager its sends, pushes, receives, resends, discovery rounds and recovery, the
//! P2P client each push to a peer, the enclave client each enclave call, the store its
//! connection pool. `GET /metrics` on every service renders it ([`render`]). Metrics are per
//! process: scrape every instance.
//!
//! Label values are bounded: routes are matched patterns (never paths with hashes in them),
//! outcomes and calls are fixed words, peers are the URLs of the party store.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Buckets of every duration histogram, in seconds: 1 ms to 10 s, then 30 s for resends.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric the services export.
pub struct Metrics {
    registry: Registry,
    names: Vec<String>,
    /// `tm_http_request_duration_seconds{app, method, route, status}`.
    pub http_request_duration: HistogramVec,
    /// `tm_sends_total{outcome}`: `/send`, `/sendraw`, `/sendsignedtx` and their variants.
    pub sends: IntCounterVec,
    /// `tm_send_duration_seconds{outcome}`.
    pub send_duration: HistogramVec,
    /// `tm_pushes_received_total{outcome}`: `/push` from peers.
    pub pushes_received: IntCounterVec,
    /// `tm_receives_total{outcome}`: `/receive`, `/transaction/{hash}` and their variants.
    pub receives: IntCounterVec,
    /// `tm_resends_total{type, outcome}`: `/resend` ALL and INDIVIDUAL, `/resendBatch`.
    pub resends: IntCounterVec,
    /// `tm_peer_pushes_total{peer, outcome}`: our pushes to each peer.
    pub peer_pushes: IntCounterVec,
    /// `tm_peer_push_duration_seconds{peer}`.
    pub peer_push_duration: HistogramVec,
    /// `tm_party_peers{state}`: nodes in the party store, `reachable` or `unreachable`.
    pub party_peers: IntGaugeVec,
    /// `tm_party_keys`: keys the party store routes to other nodes.
    pub party_keys: IntGauge,
    /// `tm_party_candidates`: URLs heard of but not reached yet.
    pub party_candidates: IntGauge,
    /// `tm_enclave_call_duration_seconds{call, outcome}`.
    pub enclave_call_duration: HistogramVec,
    /// `tm_db_pool_connections{state}`: `in_use` or `idle`.
    pub db_pool_connections: IntGaugeVec,
    /// `tm_db_pool_wait_seconds`: time to get a connection from the pool.
    pub db_pool_wait: HistogramVec,
    /// `tm_recovery_payloads_total{step}`: `resent`, `staged`, `moved`, `refused`.
    pub recovery_payloads: IntCounterVec,
    /// `tm_recovery_peers_total{outcome}`: peers asked to resend, `ok` or `failed`.
    pub recovery_peers: IntCounterVec,
}

impl Metrics {
    fn new() -> Self {
        let registry = Registry::new();
        let names = std::cell::RefCell::new(Vec::new());
        let register = |metric: Box<dyn prometheus::core::Collector>, name: &str| {
            registry.register(metric).expect("registered once");
            names.borrow_mut().push(name.to_owned());
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let metric = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(BUCKETS.to_vec()),
                labels,
            )
            .expect("a valid histogram");
            register(Box::new(metric.clone()), name);
            metric
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let metric =
                IntCounterVec::new(Opts::new(name, help), labels).expect("a valid counter");
            register(Box::new(metric.clone()), name);
            metric
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid gauge");
            register(Box::new(metric.clone()), name);
            metric
        };
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("a valid gauge");
            register(Box::new(metric.clone()), name);
            metric
        };
        Self {
            http_request_duration: histogram(
                "tm_http_request_duration_seconds",
                "Time to serve an HTTP request, by app, method, route pattern and status.",
                &["app", "method", "route", "status"],
            ),
            sends: counter(
                "tm_sends_total",
                "Sends by outcome (ok, or the kind of failure).",
                &["outcome"],
            ),
            send_duration: histogram(
                "tm_send_duration_seconds",
                "Time of a send, pushes to every recipient node included.",
                &["outcome"],
            ),
            pushes_received: counter(
                "tm_pushes_received_total",
                "Payloads pushed to us by peers, by outcome.",
                &["outcome"],
            ),
            receives: counter(
                "tm_receives_total",
                "Receives (decryptions of a stored transaction), by outcome.",
                &["outcome"],
            ),
            resends: counter(
                "tm_resends_total",
                "Resend requests served, by type and outcome.",
                &["type", "outcome"],
            ),
            peer_pushes: counter(
                "tm_peer_pushes_total",
                "Our pushes to each peer, by outcome.",
                &["peer", "outcome"],
            ),
            peer_push_duration: histogram(
                "tm_peer_push_duration_seconds",
                "Time of a push to a peer, retries included.",
                &["peer"],
            ),
            party_peers: gauges(
                "tm_party_peers",
                "Nodes in the party store, reachable or unreachable (as of the last round).",
                &["state"],
            ),
            party_keys: gauge(
                "tm_party_keys",
                "Keys of other nodes the party store routes (as of the last round).",
            ),
            party_candidates: gauge(
                "tm_party_candidates",
                "URLs heard of but not reached yet (as of the last round).",
            ),
            enclave_call_duration: histogram(
                "tm_enclave_call_duration_seconds",
                "Time of a call to the enclave, by call and outcome.",
                &["call", "outcome"],
            ),
            db_pool_connections: gauges(
                "tm_db_pool_connections",
                "Database connections of this process's pool, in use or idle.",
                &["state"],
            ),
            db_pool_wait: histogram(
                "tm_db_pool_wait_seconds",
                "Time to get a connection from the pool.",
                &["database"],
            ),
            recovery_payloads: counter(
                "tm_recovery_payloads_total",
                "Payloads through recovery's steps: resent, staged, moved, refused.",
                &["step"],
            ),
            recovery_peers: counter(
                "tm_recovery_peers_total",
                "Peers asked to resend during recovery, by outcome.",
                &["outcome"],
            ),
            names: names.take(),
            registry,
        }
    }

    /// Records a duration in a histogram with these label values.
    pub fn observe(histogram: &HistogramVec, labels: &[&str], elapsed: Duration) {
        histogram
            .with_label_values(labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one event with these label values.
    pub fn count(counter: &IntCounterVec, labels: &[&str]) {
        counter.with_label_values(labels).inc();
    }
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}

/// Every metric in the Prometheus text exposition format (version 0.0.4).
pub fn render() -> String {
    let mut out = Vec::new();
    // Encoding into memory fails only on invalid metric data, which registration excludes.
    let _ = TextEncoder::new().encode(&metrics().registry.gather(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// The names of every metric family registered, whether recorded yet or not (what a dashboard
/// may query; a histogram's series add `_bucket`, `_sum` and `_count`).
pub fn names() -> &'static [String] {
    &metrics().names
}

/// The outcome label of a failure of `kind` (its `Debug` name, lower case), or `ok`.
pub fn outcome<E: std::fmt::Debug>(kind: Option<E>) -> String {
    kind.map_or_else(|| "ok".to_owned(), |k| format!("{k:?}").to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_series_are_rendered_with_buckets() {
        let m = metrics();
        Metrics::observe(
            &m.peer_push_duration,
            &["http://peer:9000/"],
            Duration::from_millis(3),
        );
        Metrics::count(&m.peer_pushes, &["http://peer:9000/", "ok"]);
        let text = render();
        assert!(
            text.contains(
                "tm_peer_push_duration_seconds_bucket{peer=\"http://peer:9000/\",le=\"0.005\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("tm_peer_pushes_total{outcome=\"ok\",peer=\"http://peer:9000/\"} 1"),
            "{text}"
        );
        assert!(names().contains(&"tm_sends_total".to_owned()));
        assert_eq!(outcome(None::<u8>), "ok");
        assert_eq!(outcome(Some(std::cmp::Ordering::Less)), "less");
    }
}
