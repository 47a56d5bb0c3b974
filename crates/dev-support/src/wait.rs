//! Waiting for a condition, and the health checks that usually make one.

use std::time::{Duration, Instant};

/// Polls `condition` every 100 ms for up to `limit`; returns whether it became true.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    condition()
}

/// Whether `<base>/upcheck` answers 200 (over TCP; `base` may end in `/`).
pub fn upcheck(base: &str) -> bool {
    http_ok(&format!("{}/upcheck", base.trim_end_matches('/')))
}

/// Whether a GET of `url` answers 200 within 2 s. Synchronous: do not call it from async code.
pub fn http_ok(url: &str) -> bool {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .ok()
        .and_then(|c| c.get(url).send().ok())
        .is_some_and(|r| r.status().as_u16() == 200)
}
