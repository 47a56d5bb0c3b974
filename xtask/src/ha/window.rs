//! Detection windows: how long after a replica freezes its balancer may still pass it new
//! requests. A frozen process still accepts connections (the kernel completes the handshake),
//! so only a timeout tells the balancer: a check that does not answer (HAProxy) or a request
//! that does not (nginx). Sends started within the window may fail; a send started after it
//! must not. The settings and the windows they make are `lb::detection_window`'s, next to the
//! templates of `deploy/lb/`.

use std::time::Duration;

use super::faults::Interface;
use crate::lb::{self, Balancer};

/// The balancer templates' name for the kind of `interface`.
fn kind(interface: Interface) -> &'static str {
    match interface {
        Interface::Q2tApi => "q2t",
        Interface::P2pNode => "p2p",
        Interface::ThirdpartyApi => "thirdparty",
        Interface::Enclave => "enclave",
    }
}

/// The window for a frozen replica of `interface` behind `balancer`, and how it is made up.
pub fn window(balancer: Balancer, tls: bool, interface: Interface) -> (Duration, String) {
    let window = lb::detection_window(balancer, kind(interface));
    let why = match (balancer, tls) {
        (Balancer::Haproxy, _) => format!(
            "HAProxy: fall {} x (check every {} ms + check timeout {} ms)",
            lb::HAPROXY_FALL,
            lb::HAPROXY_CHECK_INTERVAL.as_millis(),
            lb::HAPROXY_CHECK_TIMEOUT.as_millis()
        ),
        (Balancer::Nginx, false) => format!(
            "nginx: one proxy_read_timeout of {}, then max_fails=1 takes the replica out",
            interface.binary()
        ),
        (Balancer::Nginx, true) => format!(
            "nginx stream: never detects a hung replica (it sees no requests); the window is \
             that of plain nginx for {}",
            interface.binary()
        ),
    };
    (window, why)
}
