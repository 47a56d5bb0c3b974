//! `useWhiteList` (docs/protocol.md §4.9): only hosts of configured peers may call the P2P API.

use std::collections::BTreeSet;
use std::net::{IpAddr, ToSocketAddrs};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use tm_http::ApiError;

/// The addresses allowed to call.
#[derive(Clone, Debug, Default)]
pub struct Whitelist {
    allowed: BTreeSet<IpAddr>,
}

impl Whitelist {
    /// The IP addresses of the configured peers' hosts (resolved once, at start). Listing
    /// `localhost` or `127.0.0.1` allows every loopback form, as Tessera does.
    pub fn from_peers(peers: &[String]) -> Self {
        let mut allowed = BTreeSet::new();
        for peer in peers {
            let rest = peer.split("://").nth(1).unwrap_or(peer);
            let authority = rest.split('/').next().unwrap_or_default();
            let host = match authority.rfind(':') {
                Some(i) if !authority[i..].contains(']') => &authority[..i],
                _ => authority,
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host == "localhost" || host == "127.0.0.1" || host == "::1" {
                allowed.extend(
                    ["127.0.0.1", "::1"]
                        .iter()
                        .filter_map(|ip| ip.parse::<IpAddr>().ok()),
                );
            }
            if let Ok(ip) = host.parse::<IpAddr>() {
                allowed.insert(ip);
            } else if let Ok(addresses) = (host, 0).to_socket_addrs() {
                allowed.extend(addresses.map(|a| a.ip()));
            }
        }
        Self { allowed }
    }

    /// Whether `ip` may call.
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        self.allowed.contains(&ip)
    }
}

/// Middleware: 401 with an empty body for callers not on the whitelist.
pub(crate) async fn check(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let list = req.app_data::<web::Data<Whitelist>>().cloned();
    let peer = req.peer_addr().map(|a| a.ip());
    let allowed = match (list, peer) {
        (Some(list), Some(ip)) => list.allows(ip),
        // A unix-socket caller has no address; the P2P app never listens on one.
        _ => false,
    };
    if allowed {
        Ok(next.call(req).await?.map_into_boxed_body())
    } else {
        tracing::warn!(remote = ?peer, "remote host failed whitelist validation");
        Err(ApiError::unauthorized().into())
    }
}
