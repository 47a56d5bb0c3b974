//! Attempts of one call: the budget, the timeout of each attempt, and which failures are worth
//! another attempt (docs/operations.md, "Retries of P2P and enclave calls").
//!
//! Only calls that are safe to repeat go through more than one attempt: the caller decides that
//! by the [`Plan`] it passes. A failure is retried when it says nothing about the request
//! itself: no connection, a connection that broke before the whole answer came back (the
//! keep-alive race: the server closed an idle connection as we reused it), an attempt that
//! timed out (a frozen process still accepts connections, its kernel does, but never answers),
//! or a balancer's 502/503/504 (no upstream answered). Any other status is the peer's answer
//! and is returned as it is; a TLS handshake refused for trust reasons is a refusal, not a
//! transient, and is not repeated.

use std::fmt::Display;
use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::error_chain;
pub use crate::error::is_tls_failure;
use crate::ClientError;

/// Pause between two attempts: enough for a balancer to mark a refused upstream, small against
/// any budget.
pub const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// No attempt starts with less than this left of the budget: it could not do anything useful.
const MIN_ATTEMPT: Duration = Duration::from_millis(20);

/// Statuses a balancer answers when no upstream did (bad gateway, unavailable, gateway timeout):
/// worth another attempt, which the balancer may send to a replica that answers.
pub const GATEWAY_STATUSES: [u16; 3] = [502, 503, 504];

/// How one call is attempted.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Every attempt and pause together stay within this.
    pub total: Duration,
    /// The timeout of each attempt but the last (capped by what is left of `total`).
    pub attempt: Duration,
    /// How many attempts at most (1: the call is never repeated).
    pub attempts: u32,
}

impl Plan {
    /// One attempt with the whole budget: for calls that are not safe or not cheap to repeat.
    pub fn once(total: Duration) -> Self {
        Self {
            total,
            attempt: total,
            attempts: 1,
        }
    }

    /// The timeout of attempt `number` (1-based) with `left` of the budget: the attempt timeout,
    /// except that the last attempt gets everything left, so a peer that is slow rather than
    /// hung still has the whole budget to answer once.
    fn timeout(&self, number: u32, left: Duration) -> Duration {
        if number >= self.attempts {
            left
        } else {
            self.attempt.min(left)
        }
    }
}

/// An attempt that failed: its error, and whether another attempt may get an answer.
#[derive(Debug)]
pub struct Failed<E> {
    /// What the caller is told if this was the last attempt.
    pub error: E,
    /// Whether the failure says nothing about the request (no connection, a connection that
    /// broke, a timeout, a balancer's 502/503/504), so another attempt may be answered.
    pub transient: bool,
}

/// Makes the attempts `plan` allows at `request` (to `target`, as the debug log names it), each
/// a clone of it with its attempt's timeout, sent by `attempt`. Returns the first success, or
/// the last failure with the number of attempts made: after a failure that is not transient,
/// after the last attempt, or when too little of the budget is left for another.
pub async fn attempts<T, E, F, Fut>(
    target: &str,
    request: reqwest::Request,
    plan: Plan,
    mut attempt: F,
) -> Result<T, (E, u32)>
where
    E: Display,
    F: FnMut(reqwest::Request) -> Fut,
    Fut: Future<Output = Result<T, Failed<E>>>,
{
    let started = Instant::now();
    let mut number = 0;
    loop {
        number += 1;
        let left = plan.total.saturating_sub(started.elapsed());
        // Bodies are in memory, so a request always clones; if one ever did not, it is sent once.
        let Some(mut this) = request.try_clone() else {
            let mut only = request;
            *only.timeout_mut() = Some(left);
            return attempt(only).await.map_err(|f| (f.error, number));
        };
        *this.timeout_mut() = Some(plan.timeout(number, left));
        let failure = match attempt(this).await {
            Ok(answer) => return Ok(answer),
            Err(failure) => failure,
        };
        let left = plan.total.saturating_sub(started.elapsed());
        if number >= plan.attempts || !failure.transient || left < RETRY_PAUSE + MIN_ATTEMPT {
            return Err((failure.error, number));
        }
        tracing::debug!(target, attempt = number, error = %failure.error, "retrying");
        tokio::time::sleep(RETRY_PAUSE).await;
    }
}

/// Sends `request` (to `url`, the text errors name) as `plan` says and returns the body of an
/// answer whose status is in `ok`. The error after the last attempt says how many were made.
pub(crate) async fn execute(
    http: &reqwest::Client,
    url: &str,
    request: reqwest::Request,
    plan: Plan,
    ok: &[u16],
) -> Result<Vec<u8>, ClientError> {
    attempts(url, request, plan, |request| {
        attempt(http, url, request, ok)
    })
    .await
    .map_err(|(error, number)| with_attempts(error, number))
}

/// One attempt: send, read the whole body (within the attempt's timeout), check the status.
async fn attempt(
    http: &reqwest::Client,
    url: &str,
    request: reqwest::Request,
    ok: &[u16],
) -> Result<Vec<u8>, Failed<ClientError>> {
    let response = http.execute(request).await.map_err(|e| Failed {
        transient: !(e.is_builder() || e.is_redirect() || is_tls_failure(&e)),
        error: ClientError::from_reqwest(url, &e),
    })?;
    let status = response.status().as_u16();
    // A body that breaks off (reset, closed, timed out) is the connection failing, not the
    // peer's answer: offline, and worth another attempt.
    let body = response.bytes().await.map_err(|e| Failed {
        transient: !is_tls_failure(&e),
        error: ClientError::Offline {
            url: url.to_owned(),
            reason: format!("the answer broke off: {}", error_chain(&e)),
        },
    })?;
    if ok.contains(&status) {
        return Ok(body.to_vec());
    }
    let text: String = String::from_utf8_lossy(&body).chars().take(512).collect();
    Err(Failed {
        error: ClientError::Status {
            url: url.to_owned(),
            status,
            body: text,
        },
        transient: GATEWAY_STATUSES.contains(&status),
    })
}

/// Notes the number of attempts in an error, when there was more than one.
fn with_attempts(error: ClientError, attempts: u32) -> ClientError {
    if attempts <= 1 {
        return error;
    }
    match error {
        ClientError::Offline { url, reason } => ClientError::Offline {
            url,
            reason: format!("{reason} (after {attempts} attempts)"),
        },
        ClientError::Status { url, status, body } => ClientError::Status {
            url,
            status,
            body: format!("{body} (after {attempts} attempts)"),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_attempt_gets_what_is_left() {
        let plan = Plan {
            total: Duration::from_millis(3750),
            attempt: Duration::from_secs(1),
            attempts: 3,
        };
        assert_eq!(plan.timeout(1, plan.total), Duration::from_secs(1));
        assert_eq!(
            plan.timeout(2, Duration::from_millis(700)),
            Duration::from_millis(700)
        );
        assert_eq!(
            plan.timeout(3, Duration::from_millis(1650)),
            Duration::from_millis(1650)
        );
        let once = Plan::once(Duration::from_secs(5));
        assert_eq!(once.timeout(1, once.total), Duration::from_secs(5));
    }

    #[test]
    fn the_error_counts_attempts_only_when_there_were_several() {
        let offline = || ClientError::Offline {
            url: "http://peer/push".into(),
            reason: "timed out".into(),
        };
        assert_eq!(
            with_attempts(offline(), 1).to_string(),
            offline().to_string()
        );
        let after = with_attempts(offline(), 3);
        assert!(after.is_offline());
        assert!(
            after.to_string().ends_with("timed out (after 3 attempts)"),
            "{after}"
        );
    }
}
