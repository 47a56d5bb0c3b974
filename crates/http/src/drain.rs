//! Graceful handover: a stopping server first tells balancers to route elsewhere, then stops.
//!
//! On SIGTERM or SIGINT a binary (`serve::main`) does not stop at once. For its drain period it
//! answers 503 on `/readiness` ([`Draining::is_draining`]), so that HAProxy's active checks and
//! Kubernetes' readiness probe take it out of rotation, while it keeps serving every other
//! request, each answered with `Connection: close` so that clients and balancers open their
//! next connection elsewhere. Then it stops accepting, lets the requests in flight finish
//! (bounded by the server's shutdown timeout) and exits 0. docs/operations.md, "Graceful
//! handover".

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;
use actix_web::middleware::Next;
use actix_web::{web, HttpResponse};
use tm_config::ServerConfig;

/// The server property that sets the drain period, in milliseconds (ours; Tessera stops at
/// once).
pub const PROPERTY_DRAIN_PERIOD: &str = "drainPeriod";

/// The drain period when `drainPeriod` is not set: four times HAProxy's detection of a
/// replica answering 503 (`inter 250ms fall 2`: two failed checks, about 0.5 s), so every
/// balancer of ours has stopped routing to it well before it stops accepting. Kubernetes
/// needs longer (the endpoint change travels to every node's proxy): its manifests set
/// 5000 ms.
pub const DEFAULT_DRAIN_PERIOD: Duration = Duration::from_secs(2);

/// How long a stopping server waits for the requests in flight after its drain period: above
/// every request budget of ours (a send's 4.5 s `sendTimeout`, a P2P call's 3.75 s), so only a
/// request that is stuck is cut.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// The drain period of a server entry: its `drainPeriod` property (ms), else
/// [`DEFAULT_DRAIN_PERIOD`].
pub fn drain_period(server: Option<&ServerConfig>) -> Duration {
    let default = DEFAULT_DRAIN_PERIOD.as_millis() as u64;
    Duration::from_millis(server.map_or(default, |s| {
        s.property_millis(PROPERTY_DRAIN_PERIOD, default)
    }))
}

/// Whether a server is draining: shared by its workers (as app data) and the [`Running`]
/// server that starts the drain.
///
/// [`Running`]: crate::Running
#[derive(Clone, Debug, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// A server that is not draining.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts draining: `/readiness` answers 503 from now on.
    pub fn start(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// Whether it is draining.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    /// What `/readiness` answers while draining.
    pub fn not_ready() -> HttpResponse {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body("not ready: shutting down")
    }
}

/// Middleware: while the server drains (its [`Draining`] is app data), every response closes
/// its connection, so that the client's next request opens a connection that a balancer or
/// Kubernetes' proxy routes to another replica.
pub async fn close_while_draining(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let draining = req
        .app_data::<web::Data<Draining>>()
        .is_some_and(|d| d.is_draining());
    let mut response = next.call(req).await?;
    if draining {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(ConnectionType::Close);
    }
    Ok(response)
}
