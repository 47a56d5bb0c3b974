//! `GET /readiness`: whether a balancer or Kubernetes should route to this instance.
//!
//! 503 while the instance drains before it stops ([`Draining`]), or while the database or the
//! enclave cannot be used. The database and the enclave are checked in the background every
//! [`REFRESH`], and `/readiness` answers the last result at once. So a balancer's check never
//! waits on a slow dependency: a replica of the enclave that hangs (a ping through the
//! enclave's balancer waits one attempt timeout before it is retried elsewhere) does not make
//! every instance calling it miss its own checks and be taken out together. A check that has
//! not completed for [`STALE`] (a database that hangs) is an answer too: 503.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use tm_http::drain::Draining;
use tm_manager::Node;

/// How often the database and the enclave are checked.
pub const REFRESH: Duration = Duration::from_millis(500);

/// How old the last completed check may be before `/readiness` answers 503 anyway.
pub const STALE: Duration = Duration::from_secs(3);

/// The readiness of one server: its drain flag and the last check of its dependencies.
#[derive(Debug)]
pub struct Readiness {
    node: Node,
    draining: Draining,
    last: Mutex<Option<Checked>>,
}

/// A completed check: when, and what was missing (a message fit for the response body).
#[derive(Clone, Debug)]
struct Checked {
    at: Instant,
    outcome: Result<(), String>,
}

impl Readiness {
    /// The readiness of a server of `node` that drains through `draining`.
    pub fn new(node: Node, draining: Draining) -> Arc<Self> {
        Arc::new(Self {
            node,
            draining,
            last: Mutex::new(None),
        })
    }

    /// Checks the dependencies every [`REFRESH`] until aborted.
    pub fn refresh(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(REFRESH);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                self.check().await;
            }
        })
    }

    /// Checks the database and the enclave now and records the outcome; a change is logged
    /// once (the cause, a database's own text, only in the log).
    async fn check(&self) -> Checked {
        let outcome = self.node.readiness().await.map_err(|e| {
            let error = tm_http::ApiError::from(e);
            (
                error.message().to_owned(),
                error.detail().unwrap_or_default().to_owned(),
            )
        });
        let checked = Checked {
            at: Instant::now(),
            outcome: outcome.clone().map_err(|(message, _)| message),
        };
        let previous = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .replace(checked.clone());
        let was_ready = previous.map(|p| p.outcome.is_ok());
        match outcome {
            Err((message, detail)) if was_ready != Some(false) => {
                tracing::warn!(detail, "not ready: {message}");
            }
            Ok(()) if was_ready == Some(false) => tracing::info!("ready again"),
            _ => {}
        }
        checked
    }

    /// What `/readiness` answers now.
    async fn answer(&self) -> HttpResponse {
        if self.draining.is_draining() {
            return Draining::not_ready();
        }
        let last = self
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        // Before the first background check has completed (just started): check now.
        let checked = match last {
            Some(checked) => checked,
            None => self.check().await,
        };
        let age = checked.at.elapsed();
        match checked.outcome {
            _ if age > STALE => not_ready(&format!(
                "the database and enclave check has not completed for {} ms",
                age.as_millis()
            )),
            Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
            Err(message) => not_ready(&message),
        }
    }
}

fn not_ready(message: &str) -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .content_type("text/plain")
        .body(format!("not ready: {message}"))
}

/// The `/readiness` handler (the [`Readiness`] is app data).
pub async fn readiness(state: web::Data<Readiness>) -> HttpResponse {
    state.answer().await
}
