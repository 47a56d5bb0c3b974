//! The peer-to-peer API (docs/protocol.md §5): types and [`P2pClient`].

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use tm_core::partyinfo::PartyInfo;
use tm_core::version::{
    GROUPED_PUSH_HEADER, GROUPED_PUSH_VALUE, SUPPORTED_API_VERSIONS, VERSION_HEADER,
};
use tm_core::{EncodedPayload, PayloadCodec, PublicKey, TxHash};

use crate::retry::{self, Plan};
use crate::{join, ClientError};

/// Content type of every binary P2P body.
pub const OCTET_STREAM: &str = "application/octet-stream";

/// `POST /resend` body (`ResendRequest`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendRequest {
    /// `ALL` or `INDIVIDUAL`.
    #[serde(rename = "type")]
    pub resend_type: ResendType,
    /// The key whose transactions are wanted.
    pub public_key: PublicKey,
    /// The transaction hash (INDIVIDUAL only), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What a legacy resend asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ResendType {
    /// Push every transaction of the key to its node.
    All,
    /// Return one transaction.
    Individual,
}

/// `POST /resendBatch` body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResendBatchRequest {
    /// The key whose transactions are wanted.
    pub public_key: PublicKey,
    /// Payloads per `/pushBatch` call (1..=10000; anything else means 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
}

/// `POST /resendBatch` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResendBatchResponse {
    /// How many payloads were pushed.
    pub total: i64,
}

/// `POST /pushBatch` body: LEGACY-encoded payloads, base64.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushBatchRequest {
    /// The payloads.
    #[serde(with = "crate::b64_serde::list")]
    pub encoded_payloads: Vec<Vec<u8>>,
}

/// `GET /partyinfo` (JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyInfoJson {
    /// The node's own P2P URL.
    pub url: String,
    /// Peers it polls (the party store).
    pub peers: Vec<PeerJson>,
    /// Every key it knows, with the URL of the node holding it.
    pub keys: Vec<KeyJson>,
    /// Ours, not Tessera's: URLs learned from other nodes' party info that have not answered
    /// us yet, so are not in the party store (docs/protocol.md §9). Absent when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<PeerJson>,
}

/// One peer in [`PartyInfoJson`]. Tessera writes only `url`; the other fields are ours and
/// absent when unknown, so either side reads the other's JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerJson {
    /// The peer's URL.
    pub url: String,
    /// `reachable` or `unreachable` (the last contact attempt failed; its keys stay routable
    /// until the grace period passes without a successful contact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// When we last heard from it (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_contact: Option<String>,
    /// Since when every contact attempt has failed (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<String>,
    /// Why the last contact attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One key in [`PartyInfoJson`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyJson {
    /// The public key.
    pub key: PublicKey,
    /// The URL of the node holding it.
    pub url: String,
}

/// Default timeout of one attempt of a retried call (see [`P2pTimeouts::attempt`]): 2.5 s,
/// longer than a balancer's 2 s try of a P2P call (deploy/lb), so the balancer's own retry on
/// the next replica lands inside our attempt; with the 3.75 s budget the second attempt gets
/// the remaining 1.2 s.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(2500);

/// Default number of attempts of a retried call (see [`P2pTimeouts::attempts`]).
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// Default connect timeout, TLS handshake included (see [`P2pTimeouts::connect`]).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Timeouts of the P2P client.
///
/// Calls that are safe to repeat (push, pushBatch, party info, `partyinfo/validate`,
/// pushPrivacyGroup, resend INDIVIDUAL, `GET /partyinfo`) are attempted up to [`attempts`]
/// times within their budget: each attempt but the last has [`attempt`] (at most what is left
/// of the budget), the last gets whatever is left, with [`RETRY_PAUSE`](crate::RETRY_PAUSE)
/// between two attempts. They are retried on connection errors (refused, reset, closed before
/// an answer), on an attempt that timed out and on a balancer's 502/503/504; never on another
/// status, never on a TLS handshake refused for trust reasons. So a hung replica behind a
/// balancer costs one short attempt, and a peer that is slow rather than hung still gets the
/// rest of the budget once. Resend ALL and resendBatch make the peer do work and are sent once.
///
/// [`attempts`]: P2pTimeouts::attempts
/// [`attempt`]: P2pTimeouts::attempt
#[derive(Clone, Copy, Debug)]
pub struct P2pTimeouts {
    /// Budget of one ordinary call, every attempt and pause included: Tessera's connect and
    /// read timeout, 75 % of `partyInfoInterval` (3.75 s by default).
    pub request: Duration,
    /// Budget of resend calls and of a pushBatch (`resendWaitTime`, 2 h by default). A
    /// pushBatch (up to 10,000 payloads) may take long: its attempts are not cut short, it is
    /// repeated only when an attempt fails before its time is up.
    pub resend: Duration,
    /// Timeout of each attempt of a retried call but the last: 2.5 s by default, never more than
    /// `request`. Long enough for any push a healthy peer answers; short enough that a frozen
    /// peer (its kernel still accepts the connection, nothing answers) costs only this.
    pub attempt: Duration,
    /// How many attempts a retried call gets at most (3 by default; 1 means never repeated).
    pub attempts: u32,
    /// Connect timeout, TLS handshake included (500 ms by default, never more than `attempt`).
    /// Short, but it does not detect a hung peer: a stopped process still completes TCP
    /// handshakes (the kernel answers them), so the attempt timeout is what catches it.
    pub connect: Duration,
}

impl P2pTimeouts {
    /// Tessera's timeouts for a `partyInfoInterval` and `resendWaitTime` in milliseconds, with
    /// the default attempts.
    pub fn from_config(party_info_interval_ms: u64, resend_wait_time_ms: u64) -> Self {
        Self::new(
            Duration::from_millis(party_info_interval_ms.saturating_mul(3).div_ceil(4)),
            Duration::from_millis(resend_wait_time_ms),
        )
    }

    /// These budgets with the default attempts: [`DEFAULT_ATTEMPTS`] of
    /// [`DEFAULT_ATTEMPT_TIMEOUT`], but never more than two thirds of `request` (a short
    /// `partyInfoInterval` still leaves room for a second attempt), connecting within
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new(request: Duration, resend: Duration) -> Self {
        let attempt = DEFAULT_ATTEMPT_TIMEOUT.min(request * 2 / 3);
        Self {
            request,
            resend,
            attempt,
            attempts: DEFAULT_ATTEMPTS,
            connect: DEFAULT_CONNECT_TIMEOUT.min(attempt),
        }
    }

    /// These budgets, every call made once with its whole budget (Tessera's behaviour): for
    /// tools and tests that send large requests on purpose and want them sent once.
    pub fn without_retries(request: Duration, resend: Duration) -> Self {
        Self {
            request,
            resend,
            attempt: request,
            attempts: 1,
            connect: request,
        }
    }

    /// The plan of an ordinary retried call.
    fn retried(&self) -> Plan {
        Plan {
            total: self.request,
            attempt: self.attempt.min(self.request),
            attempts: self.attempts.max(1),
        }
    }
}

impl Default for P2pTimeouts {
    fn default() -> Self {
        Self::from_config(5000, 7_200_000)
    }
}

/// A client of other nodes' P2P APIs (ours or Java Tessera's). Cheap to clone; reuses
/// connections, dropping those idle for [`POOL_IDLE_TIMEOUT`](crate::POOL_IDLE_TIMEOUT).
#[derive(Clone, Debug)]
pub struct P2pClient {
    http: reqwest::Client,
    timeouts: P2pTimeouts,
}

impl P2pClient {
    /// A client with these timeouts, without a TLS identity (https peers are verified against
    /// the public web roots, as a JVM's default trust store would).
    pub fn new(timeouts: P2pTimeouts) -> Result<Self, ClientError> {
        Self::with_tls(timeouts, None)
    }

    /// A client with these timeouts and, when given, this rustls configuration for https peers
    /// (the client half of the P2P server's `sslConfig`: the certificate we present and which
    /// servers we trust). Connections are kept alive and reused, so a call to a peer pays for
    /// a handshake only when it opens a connection.
    pub fn with_tls(
        timeouts: P2pTimeouts,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, ClientError> {
        // Every request carries its own timeout (the attempt's); this is only the fallback.
        let mut builder = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request.max(timeouts.resend))
            .pool_idle_timeout(crate::POOL_IDLE_TIMEOUT);
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder.build().map_err(|e| ClientError::Offline {
            url: String::new(),
            reason: format!("cannot build an HTTP client: {e}"),
        })?;
        Ok(Self { http, timeouts })
    }

    /// The timeouts this client was built with.
    pub fn timeouts(&self) -> &P2pTimeouts {
        &self.timeouts
    }

    /// `POST {peer}/partyinfo`: announces us; returns the peer's (usually empty) party info.
    /// Retried (see [`P2pTimeouts`]).
    ///
    /// A body that does not decode is returned as an empty party info: Tessera sends an empty
    /// body when remote key validation is on.
    pub async fn party_info(
        &self,
        peer: &str,
        ours: &PartyInfo,
    ) -> Result<Option<PartyInfo>, ClientError> {
        let body = self
            .post_binary(
                self.timeouts.retried(),
                peer,
                "/partyinfo",
                ours.encode(),
                &SUPPORTED_API_VERSIONS,
                &[200, 201],
            )
            .await?;
        Ok(PartyInfo::decode(&body).ok())
    }

    /// `POST {peer}/push`: stores a payload on the recipient's node, in the codec the peer
    /// supports (CBOR iff it advertised `5.0`). Returns the hash the peer reports. Retried (see
    /// [`P2pTimeouts`]): a repeated push merges into the same row, as Tessera's storePayload.
    pub async fn push(
        &self,
        peer: &str,
        payload: &EncodedPayload,
        codec: PayloadCodec,
    ) -> Result<TxHash, ClientError> {
        // The receiver decodes CBOR iff our version header lists 5.0, so a LEGACY body goes with
        // a header without it (Tessera always lists 5.0, relying on never sending LEGACY to a
        // node that reads CBOR).
        let versions: Vec<&str> = match codec {
            PayloadCodec::Cbor => SUPPORTED_API_VERSIONS.to_vec(),
            PayloadCodec::Legacy => SUPPORTED_API_VERSIONS
                .iter()
                .copied()
                .filter(|v| *v != tm_core::version::CBOR_VERSION)
                .collect(),
        };
        let url = join(peer, "/push");
        let started = std::time::Instant::now();
        let answer = self
            .post_binary(
                self.timeouts.retried(),
                peer,
                "/push",
                codec.encode(payload),
                &versions,
                &[200, 201],
            )
            .await;
        let metrics = tm_metrics::metrics();
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(ClientError::Offline { .. }) => "offline",
            Err(ClientError::Status { .. }) => "refused",
            Err(_) => "failed",
        };
        tm_metrics::Metrics::count(&metrics.peer_pushes, &[peer, outcome]);
        tm_metrics::Metrics::observe(&metrics.peer_push_duration, &[peer], started.elapsed());
        let body = answer?;
        let text = String::from_utf8_lossy(&body);
        TxHash::from_base64(text.trim()).map_err(|_| ClientError::Decode {
            url,
            reason: "push answered without a base64 transaction hash".into(),
        })
    }

    /// `POST {peer}/partyinfo/validate`: asks the peer to decrypt a LEGACY payload; returns the
    /// plaintext it answers. Retried (see [`P2pTimeouts`]).
    pub async fn validate(
        &self,
        peer: &str,
        payload: &EncodedPayload,
    ) -> Result<String, ClientError> {
        let body = self
            .post_binary(
                self.timeouts.retried(),
                peer,
                "/partyinfo/validate",
                PayloadCodec::Legacy.encode(payload),
                &SUPPORTED_API_VERSIONS,
                &[200],
            )
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST {peer}/pushPrivacyGroup` with an encoded privacy-group record. Retried (see
    /// [`P2pTimeouts`]): the peer stores the same record again.
    pub async fn push_privacy_group(&self, peer: &str, record: Vec<u8>) -> Result<(), ClientError> {
        self.post_binary(
            self.timeouts.retried(),
            peer,
            "/pushPrivacyGroup",
            record,
            &SUPPORTED_API_VERSIONS,
            &[200],
        )
        .await
        .map(drop)
    }

    /// `POST {peer}/resend`: INDIVIDUAL answers a LEGACY payload (a lookup: retried within the
    /// resend budget), ALL answers nothing and makes the peer push every transaction of the
    /// key (sent once, with the whole resend budget).
    pub async fn resend(
        &self,
        peer: &str,
        request: &ResendRequest,
    ) -> Result<Vec<u8>, ClientError> {
        let plan = match request.resend_type {
            ResendType::Individual => Plan {
                total: self.timeouts.resend,
                ..self.timeouts.retried()
            },
            ResendType::All => Plan::once(self.timeouts.resend),
        };
        self.post_json(plan, peer, "/resend", request, &[200]).await
    }

    /// `POST {peer}/resendBatch`: makes the peer push every transaction of the key in batches;
    /// sent once, with the whole resend budget.
    pub async fn resend_batch(
        &self,
        peer: &str,
        request: &ResendBatchRequest,
    ) -> Result<ResendBatchResponse, ClientError> {
        let plan = Plan::once(self.timeouts.resend);
        let body = self
            .post_json(plan, peer, "/resendBatch", request, &[200])
            .await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url: join(peer, "/resendBatch"),
            reason: e.to_string(),
        })
    }

    /// `POST {peer}/pushBatch`. Safe to repeat (each payload merges as a push does), but a
    /// batch may legitimately take long: its attempts are not cut short, so it is repeated only
    /// when an attempt fails (connection error, 502/503/504) within the resend budget.
    pub async fn push_batch(
        &self,
        peer: &str,
        request: &PushBatchRequest,
    ) -> Result<(), ClientError> {
        let plan = Plan {
            total: self.timeouts.resend,
            attempt: self.timeouts.resend,
            attempts: self.timeouts.attempts.max(1),
        };
        self.post_json(plan, peer, "/pushBatch", request, &[200])
            .await
            .map(drop)
    }

    /// `GET {peer}/partyinfo` (JSON). Retried (see [`P2pTimeouts`]).
    pub async fn party_info_json(&self, peer: &str) -> Result<PartyInfoJson, ClientError> {
        let url = join(peer, "/partyinfo");
        let request = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json");
        let body = self
            .execute(self.timeouts.retried(), &url, request, &[200])
            .await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `GET {base}/upcheck`: whether the service answers "I'm up!". One attempt: it is a probe.
    pub async fn upcheck(&self, base: &str) -> Result<(), ClientError> {
        let url = join(base, "/upcheck");
        let request = self.http.get(&url);
        self.execute(Plan::once(self.timeouts.request), &url, request, &[200])
            .await
            .map(drop)
    }

    async fn post_binary(
        &self,
        plan: Plan,
        peer: &str,
        path: &str,
        body: Vec<u8>,
        versions: &[&str],
        ok: &[u16],
    ) -> Result<Vec<u8>, ClientError> {
        let url = join(peer, path);
        let request = self
            .http
            .post(&url)
            .header(CONTENT_TYPE, OCTET_STREAM)
            .header(VERSION_HEADER, versions.join(","))
            .header(GROUPED_PUSH_HEADER, GROUPED_PUSH_VALUE)
            .body(body);
        self.execute(plan, &url, request, ok).await
    }

    async fn post_json<T: Serialize>(
        &self,
        plan: Plan,
        peer: &str,
        path: &str,
        body: &T,
        ok: &[u16],
    ) -> Result<Vec<u8>, ClientError> {
        let url = join(peer, path);
        let request = self
            .http
            .post(&url)
            .header(VERSION_HEADER, SUPPORTED_API_VERSIONS.join(","))
            .json(body);
        self.execute(plan, &url, request, ok).await
    }

    /// Builds the request once and makes the attempts `plan` allows.
    async fn execute(
        &self,
        plan: Plan,
        url: &str,
        request: reqwest::RequestBuilder,
        ok: &[u16],
    ) -> Result<Vec<u8>, ClientError> {
        let mut request = request
            .build()
            .map_err(|e| ClientError::from_reqwest(url, &e))?;
        // Every call names the request it is made for as its parent (docs/operations.md,
        // "Traces and request ids").
        let call = tm_trace::Call::start(request.method().as_str(), request.url().path());
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&call.traceparent()) {
            request.headers_mut().insert(tm_trace::HEADER, value);
        }
        let result = retry::execute(&self.http, url, request, plan, ok).await;
        call.end(match &result {
            Ok(_) => Ok(()),
            Err(ClientError::Status { status, .. }) => Err(Some(*status)),
            Err(_) => Err(None),
        });
        result
    }
}
