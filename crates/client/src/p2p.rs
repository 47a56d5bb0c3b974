//! The peer-to-peer API (docs/protocol.md §5): types and [`P2pClient`].

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde::{Deserialize, Serialize};
use tm_core::partyinfo::PartyInfo;
use tm_core::version::{SUPPORTED_API_VERSIONS, VERSION_HEADER};
use tm_core::{EncodedPayload, PayloadCodec, PublicKey, TxHash};

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

/// Timeouts of the P2P client.
#[derive(Clone, Copy, Debug)]
pub struct P2pTimeouts {
    /// Connect and read timeout of ordinary calls: Tessera uses 75 % of `partyInfoInterval`.
    pub request: Duration,
    /// Read timeout of resend calls (`resendWaitTime`, 2 h by default).
    pub resend: Duration,
}

impl P2pTimeouts {
    /// Tessera's timeouts for a `partyInfoInterval` and `resendWaitTime` in milliseconds.
    pub fn from_config(party_info_interval_ms: u64, resend_wait_time_ms: u64) -> Self {
        Self {
            request: Duration::from_millis(party_info_interval_ms.saturating_mul(3).div_ceil(4)),
            resend: Duration::from_millis(resend_wait_time_ms),
        }
    }
}

impl Default for P2pTimeouts {
    fn default() -> Self {
        Self::from_config(5000, 7_200_000)
    }
}

/// A client of other nodes' P2P APIs (ours or Java Tessera's). Cheap to clone; reuses
/// connections.
#[derive(Clone, Debug)]
pub struct P2pClient {
    http: reqwest::Client,
    resend_http: reqwest::Client,
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
        let build = |timeout: Duration| {
            let mut builder = reqwest::Client::builder()
                .connect_timeout(timeouts.request)
                .timeout(timeout)
                .pool_idle_timeout(Duration::from_secs(30));
            if let Some(tls) = &tls {
                builder = builder.use_preconfigured_tls(tls.clone());
            }
            builder.build().map_err(|e| ClientError::Offline {
                url: String::new(),
                reason: format!("cannot build an HTTP client: {e}"),
            })
        };
        Ok(Self {
            http: build(timeouts.request)?,
            resend_http: build(timeouts.resend)?,
        })
    }

    /// `POST {peer}/partyinfo`: announces us; returns the peer's (usually empty) party info.
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
                &self.http,
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
    /// supports (CBOR iff it advertised `5.0`). Returns the hash the peer reports.
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
        let body = self
            .post_binary(
                &self.http,
                peer,
                "/push",
                codec.encode(payload),
                &versions,
                &[200, 201],
            )
            .await?;
        let text = String::from_utf8_lossy(&body);
        TxHash::from_base64(text.trim()).map_err(|_| ClientError::Decode {
            url,
            reason: "push answered without a base64 transaction hash".into(),
        })
    }

    /// `POST {peer}/partyinfo/validate`: asks the peer to decrypt a LEGACY payload; returns the
    /// plaintext it answers.
    pub async fn validate(
        &self,
        peer: &str,
        payload: &EncodedPayload,
    ) -> Result<String, ClientError> {
        let body = self
            .post_binary(
                &self.http,
                peer,
                "/partyinfo/validate",
                PayloadCodec::Legacy.encode(payload),
                &SUPPORTED_API_VERSIONS,
                &[200],
            )
            .await?;
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    /// `POST {peer}/pushPrivacyGroup` with an encoded privacy-group record.
    pub async fn push_privacy_group(&self, peer: &str, record: Vec<u8>) -> Result<(), ClientError> {
        self.post_binary(
            &self.http,
            peer,
            "/pushPrivacyGroup",
            record,
            &SUPPORTED_API_VERSIONS,
            &[200],
        )
        .await
        .map(drop)
    }

    /// `POST {peer}/resend`: INDIVIDUAL answers a LEGACY payload, ALL answers nothing.
    pub async fn resend(
        &self,
        peer: &str,
        request: &ResendRequest,
    ) -> Result<Vec<u8>, ClientError> {
        self.post_json(&self.resend_http, peer, "/resend", request, &[200])
            .await
    }

    /// `POST {peer}/resendBatch`.
    pub async fn resend_batch(
        &self,
        peer: &str,
        request: &ResendBatchRequest,
    ) -> Result<ResendBatchResponse, ClientError> {
        let body = self
            .post_json(&self.resend_http, peer, "/resendBatch", request, &[200])
            .await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url: join(peer, "/resendBatch"),
            reason: e.to_string(),
        })
    }

    /// `POST {peer}/pushBatch`.
    pub async fn push_batch(
        &self,
        peer: &str,
        request: &PushBatchRequest,
    ) -> Result<(), ClientError> {
        self.post_json(&self.resend_http, peer, "/pushBatch", request, &[200])
            .await
            .map(drop)
    }

    /// `GET {peer}/partyinfo` (JSON).
    pub async fn party_info_json(&self, peer: &str) -> Result<PartyInfoJson, ClientError> {
        let url = join(peer, "/partyinfo");
        let response = self
            .http
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?;
        let body = expect_status(&url, response, &[200]).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Decode {
            url,
            reason: e.to_string(),
        })
    }

    /// `GET {base}/upcheck`: whether the service answers "I'm up!".
    pub async fn upcheck(&self, base: &str) -> Result<(), ClientError> {
        let url = join(base, "/upcheck");
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?;
        expect_status(&url, response, &[200]).await.map(drop)
    }

    async fn post_binary(
        &self,
        http: &reqwest::Client,
        peer: &str,
        path: &str,
        body: Vec<u8>,
        versions: &[&str],
        ok: &[u16],
    ) -> Result<Vec<u8>, ClientError> {
        let url = join(peer, path);
        let response = http
            .post(&url)
            .header(CONTENT_TYPE, OCTET_STREAM)
            .header(VERSION_HEADER, versions.join(","))
            .body(body)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?;
        expect_status(&url, response, ok).await
    }

    async fn post_json<T: Serialize>(
        &self,
        http: &reqwest::Client,
        peer: &str,
        path: &str,
        body: &T,
        ok: &[u16],
    ) -> Result<Vec<u8>, ClientError> {
        let url = join(peer, path);
        let response = http
            .post(&url)
            .header(VERSION_HEADER, SUPPORTED_API_VERSIONS.join(","))
            .json(body)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?;
        expect_status(&url, response, ok).await
    }
}

/// Reads the body, or turns an unexpected status into [`ClientError::Status`].
async fn expect_status(
    url: &str,
    response: reqwest::Response,
    ok: &[u16],
) -> Result<Vec<u8>, ClientError> {
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|e| ClientError::from_reqwest(url, &e))?;
    if ok.contains(&status) {
        Ok(body.to_vec())
    } else {
        let text: String = String::from_utf8_lossy(&body).chars().take(512).collect();
        Err(ClientError::Status {
            url: url.to_owned(),
            status,
            body: text,
        })
    }
}
