//! One trace per request across our services (`tm_trace`; docs/operations.md, "Traces and
//! request ids"): the middleware takes the caller's `traceparent`, or starts a trace, and serves
//! the request in a context of its own, inside a `request` span whose `request_id` (this
//! server's span id) and `trace_id` every log line of the request carries. When spans are
//! exported (`tm_trace::export`), the request is a server span with that id.

use std::time::{Instant, SystemTime};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::Error;
use tm_trace::TraceContext;
use tracing::Instrument;

/// Middleware (`actix_web::middleware::from_fn(requests)`), outermost on every server.
pub async fn requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let parent = req
        .headers()
        .get(tm_trace::HEADER)
        .and_then(|value| value.to_str().ok())
        .and_then(TraceContext::parse);
    let context = parent.map_or_else(TraceContext::root, |parent| parent.child());
    let span = tracing::info_span!(
        "request",
        request_id = %context.span_id_hex(),
        trace_id = %context.trace_id_hex(),
    );
    // The `served` line is written at debug only: nothing is copied for it otherwise.
    let served = tracing::enabled!(tracing::Level::DEBUG)
        .then(|| (req.method().as_str().to_owned(), req.path().to_owned()));
    let exported = tm_trace::export::enabled().then(|| (SystemTime::now(), req.method().clone()));
    let started = Instant::now();
    let response = tm_trace::scope(context, next.call(req))
        .instrument(span.clone())
        .await?;
    if let Some((at, method)) = exported {
        // The route's pattern (`/transaction/{key}`), not the path: one name per endpoint.
        let route = response
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let status = response.status().as_u16();
        tm_trace::export::record(tm_trace::export::Finished {
            name: format!("{method} {route}"),
            context,
            parent,
            server: true,
            started: at,
            ended: SystemTime::now(),
            status: Some(status),
            failed: status >= 500,
            method: method.as_str(),
            route: &route,
        });
    }
    if let Some((method, path)) = served {
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_millis();
        span.in_scope(|| tracing::debug!(%method, %path, status, elapsed_ms, "served"));
    }
    Ok(response)
}
