//! `GET /metrics`: every metric of the process (`tm_metrics`) in Prometheus text format, plus
//! this server's body memory budget; and the middleware that times every request.
//!
//! Tessera's own `/metrics` lists Jersey MBean counters, which no client parses
//! (docs/protocol.md §4.8); the names and labels we export are in docs/operations.md
//! ("Metrics"). Metrics are per process: scrape every instance.

use std::fmt::Write as _;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, HttpRequest, HttpResponse};

use crate::limits::BodyGuard;

/// The app a server serves (`p2p`, `q2t`, `thirdparty`, `enclave`): the `app` label of its
/// request metrics.
#[derive(Clone)]
pub struct Metrics {
    app: &'static str,
}

impl Metrics {
    /// The request metrics of `app`.
    pub fn new(app: &'static str) -> Self {
        Self { app }
    }

    /// Records one request. `route` is the matched pattern, so that hashes in paths do not
    /// create a series each.
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: std::time::Duration) {
        tm_metrics::Metrics::observe(
            &tm_metrics::metrics().http_request_duration,
            &[self.app, method, route, &status.to_string()],
            elapsed,
        );
    }
}

/// Adds `GET /metrics`; the app must also hold `web::Data<Metrics>` and wrap [`track`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/metrics", web::get().to(serve));
}

async fn serve(metrics: web::Data<Metrics>, req: HttpRequest) -> HttpResponse {
    let mut text = tm_metrics::render();
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
            started.elapsed(),
        );
    }
    Ok(response)
}
