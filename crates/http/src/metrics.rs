//! Request metrics in Prometheus text format (`GET /metrics`).
//!
//! Tessera's own `/metrics` lists Jersey MBean counters, which no client parses
//! (docs/protocol.md §4.8); we count requests and their time per route pattern and status.
//! Metrics are per process: scrape every instance.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest, HttpResponse};

use crate::limits::BodyGuard;

/// (method, route pattern, status).
type SeriesKey = (String, String, u16);

#[derive(Default, Clone, Copy)]
struct Series {
    count: u64,
    seconds: f64,
}

/// Counters for one app (`p2p`, `q2t`, `thirdparty`, `enclave`).
#[derive(Clone)]
pub struct Metrics {
    app: &'static str,
    series: Arc<Mutex<BTreeMap<SeriesKey, Series>>>,
}

impl Metrics {
    /// Empty counters for `app`.
    pub fn new(app: &'static str) -> Self {
        Self {
            app,
            series: Arc::default(),
        }
    }

    /// Counts one request. `route` is the matched pattern, so that hashes in paths do not
    /// create a series each.
    pub fn record(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let entry = series
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default();
        entry.count += 1;
        entry.seconds += seconds;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str("# HELP tm_http_requests_total HTTP requests served.\n");
        out.push_str("# TYPE tm_http_requests_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "tm_http_requests_total{{app=\"{}\",method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                self.app,
                escape(route),
                s.count
            );
        }
        out.push_str("# HELP tm_http_request_seconds_total Time spent serving HTTP requests.\n");
        out.push_str("# TYPE tm_http_request_seconds_total counter\n");
        for ((method, route, status), s) in series.iter() {
            let _ = writeln!(
                out,
                "tm_http_request_seconds_total{{app=\"{}\",method=\"{method}\",route=\"{}\",status=\"{status}\"}} {:.6}",
                self.app,
                escape(route),
                s.seconds
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Adds `GET /metrics`; the app must also hold `web::Data<Metrics>` and wrap [`track`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(serve));
}

async fn serve(metrics: web::Data<Metrics>, req: HttpRequest) -> HttpResponse {
    let mut text = metrics.render();
    if let Some(guard) = req.app_data::<web::Data<BodyGuard>>() {
        text.push_str(&render_body_memory(metrics.app, guard));
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(text)
}

/// The memory budget for request bodies (`crate::limits`) and how much of it is free.
fn render_body_memory(app: &str, guard: &BodyGuard) -> String {
    let mut out = String::new();
    out.push_str(
        "# HELP tm_http_body_memory_bytes Bytes of request bodies that may be held at once.\n",
    );
    out.push_str("# TYPE tm_http_body_memory_bytes gauge\n");
    let _ = writeln!(
        out,
        "tm_http_body_memory_bytes{{app=\"{app}\"}} {}",
        guard.limits().memory
    );
    out.push_str(
        "# HELP tm_http_body_memory_free_bytes Bytes of that budget not held by requests now.\n",
    );
    out.push_str("# TYPE tm_http_body_memory_free_bytes gauge\n");
    let _ = writeln!(
        out,
        "tm_http_body_memory_free_bytes{{app=\"{app}\"}} {}",
        guard.free_memory()
    );
    out
}

/// Middleware (`actix_web::middleware::from_fn(track)`) that records every request.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().as_str().to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.call(req).await?;
    if let Some(metrics) = metrics {
        metrics.record(
            &method,
            &route,
            response.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(response)
}
