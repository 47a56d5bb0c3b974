//! `/metrics` after real traffic: request histograms with buckets, sends and pushes by outcome,
//! a series per peer pushed to; and the Grafana dashboard in deploy/ queries only metrics the
//! services export.
//!
//! The services of both nodes run in this one process, so they share its metrics registry:
//! the assertions name labels (the peer's URL, the route) rather than exact totals.

use std::collections::BTreeSet;

use tm_client::q2t::{MediaType, Q2tClient, SendRequest};
use tm_dev_support::{block_on, Service, TestNode};

const DASHBOARD: &str = include_str!("../../../../deploy/grafana/tm-node.json");

fn scrape(url: &str) -> String {
    let response = reqwest::blocking::get(format!("{url}metrics")).expect("GET /metrics");
    assert_eq!(response.status(), 200);
    response.text().expect("text")
}

/// The value of the series `name{labels}` (labels in the order the exposition prints them).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn metrics_after_sends_have_buckets_outcomes_and_a_series_per_peer() {
    let mut b = TestNode::new("metrics-b", 1, &[]);
    b.start(Service::P2p).start(Service::Q2t);
    let mut a = TestNode::new("metrics-a", 1, &[b.p2p_url()]);
    a.use_remote_enclave();
    a.start(Service::Enclave)
        .start(Service::P2p)
        .start(Service::Q2t);
    let to = b.keys[0].public.clone();
    let wanted = to.clone();
    let a_p2p = a.p2p_url();
    assert!(
        tm_dev_support::eventually(std::time::Duration::from_secs(20), || {
            reqwest::blocking::get(format!("{a_p2p}partyinfo"))
                .and_then(|r| r.json::<tm_client::p2p::PartyInfoJson>())
                .is_ok_and(|info| info.keys.iter().any(|k| k.key == wanted))
        }),
        "A never learned B's key"
    );
    let q2t = Q2tClient::new(&a.q2t_url()).expect("client");
    for i in 0..3 {
        let request = SendRequest::new(
            format!("metrics {i}").into_bytes(),
            std::slice::from_ref(&to),
        );
        block_on(q2t.send(&request, MediaType::Json)).expect("sent");
    }

    let text = scrape(&a.p2p_url());
    // A histogram per route and status, with its buckets.
    let send_route = r#"tm_http_request_duration_seconds_bucket{app="q2t",method="POST",route="/send",status="201",le="+Inf"}"#;
    assert!(value(&text, send_route).is_some_and(|n| n >= 3.0), "{text}");
    assert!(text.contains(r#"tm_http_request_duration_seconds_bucket{app="q2t",method="POST",route="/send",status="201",le="0.005"}"#));
    // Sends and the pushes they made, per peer, with latency.
    assert!(value(&text, r#"tm_sends_total{outcome="ok"}"#).is_some_and(|n| n >= 3.0));
    let peer = b.p2p_url();
    let pushes = format!(r#"tm_peer_pushes_total{{outcome="ok",peer="{peer}"}}"#);
    assert!(
        value(&text, &pushes).is_some_and(|n| n >= 3.0),
        "{pushes} in {text}"
    );
    let latency = format!(r#"tm_peer_push_duration_seconds_bucket{{peer="{peer}",le="+Inf"}}"#);
    assert!(
        value(&text, &latency).is_some_and(|n| n >= 3.0),
        "{latency}"
    );
    // What B did with them, the remote enclave calls, the database pool.
    assert!(
        value(&text, r#"tm_pushes_received_total{outcome="stored"}"#).is_some_and(|n| n >= 3.0)
    );
    assert!(
        text.contains(r#"tm_enclave_call_duration_seconds_count{call="encrypt",outcome="ok"}"#),
        "{text}"
    );
    assert!(text.contains(r#"tm_db_pool_connections{state="in_use"}"#));
    assert!(text.contains("tm_db_pool_wait_seconds_bucket"));
    // The enclave's own /metrics serves too.
    assert!(scrape(&format!("{}/", a.enclave_url())).contains("tm_http_request_duration_seconds"));

    // Every metric the dashboard queries is one the services export.
    let exported: BTreeSet<String> = tm_metrics::names()
        .iter()
        .cloned()
        .chain(
            text.lines()
                .filter_map(|l| l.strip_prefix("# TYPE "))
                .filter_map(|l| l.split(' ').next())
                .map(str::to_owned),
        )
        .collect();
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON");
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("tm_") {
                    let family = ["_bucket", "_count", "_sum"]
                        .iter()
                        .find_map(|suffix| word.strip_suffix(suffix))
                        .filter(|base| exported.contains(*base))
                        .unwrap_or(word);
                    queried.insert(family.to_owned());
                }
            }
        }
    }
    assert!(queried.len() >= 14, "{queried:?}");
    let unknown: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries unknown metrics: {unknown:?}"
    );
}
