//! The Q2T and ThirdParty APIs (docs/protocol.md §6, §7): types with Tessera's JSON names, and
//! [`Q2tClient`], a typed client over TCP or a unix socket (`unix:/path/tm.ipc`, as GoQuorum
//! is usually wired).
//!
//! Keys and hashes that Tessera carries as `String` are `String` here too: the server decodes
//! them itself (a bad value is Tessera's 500), while `byte[]` fields are base64 decoded by the
//! JSON binding (a bad value is a 400).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{HeaderMap, ACCEPT, CONTENT_TYPE, LOCATION};
pub use reqwest::Method;
use serde::{Deserialize, Serialize};
use tm_core::{PublicKey, TxHash};

use crate::{join, ClientError};

/// `application/json`: API 1.0/2.0 (TransactionResource).
pub const JSON: &str = "application/json";
/// Multi-tenancy (TransactionResource3).
pub const JSON_2_1: &str = "application/vnd.tessera-2.1+json";
/// Privacy groups (TransactionResource3).
pub const JSON_3_0: &str = "application/vnd.tessera-3.0+json";
/// Mandatory recipients (TransactionResource4).
pub const JSON_4_0: &str = "application/vnd.tessera-4.0+json";
/// Binary bodies (`/sendraw`, `/receiveraw`, octet-stream `/sendsignedtx`).
pub const OCTET_STREAM: &str = "application/octet-stream";
/// The media type Besu sends `POST /receive` with (orion mode, docs/privacy-groups.md).
pub const ORION: &str = "application/vnd.orion.v1+json";
/// Header with comma-separated base64 recipient keys.
pub const HEADER_TO: &str = "c11n-to";
/// Header with the base64 sender key (`/sendraw`).
pub const HEADER_FROM: &str = "c11n-from";
/// Header with the base64 transaction hash (`/receiveraw`).
pub const HEADER_KEY: &str = "c11n-key";

/// The JSON media types of the Q2T API, one per resource version (docs/protocol.md §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaType {
    /// `application/json`.
    Json,
    /// `application/vnd.tessera-2.1+json`.
    V2_1,
    /// `application/vnd.tessera-3.0+json`.
    V3_0,
    /// `application/vnd.tessera-4.0+json`.
    V4_0,
}

impl MediaType {
    /// Every variant.
    pub const ALL: [Self; 4] = [Self::Json, Self::V2_1, Self::V3_0, Self::V4_0];

    /// The media type text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => JSON,
            Self::V2_1 => JSON_2_1,
            Self::V3_0 => JSON_3_0,
            Self::V4_0 => JSON_4_0,
        }
    }

    /// Parses a `Content-Type`/`Accept` value, ignoring parameters (`; charset=utf-8`) and case.
    pub fn parse(value: &str) -> Option<Self> {
        let essence = value.split(';').next().unwrap_or_default().trim();
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(essence))
    }

    /// Whether responses of this version carry `managedParties` and `senderKey` (2.1 and up).
    pub fn is_multi_tenant(self) -> bool {
        self != Self::Json
    }
}

/// `POST /send` and `/encodedpayload/create` body (`SendRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendRequest {
    /// The plaintext (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub payload: Vec<u8>,
    /// The sender key (base64); the node's default key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Recipient keys (base64); `null` means none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// Base64 hashes of affected contract transactions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_contract_transactions: Option<Vec<String>>,
    /// The PSV execution hash, stored as the UTF-8 bytes of this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_hash: Option<String>,
    /// 0 standard, 1 party protection, 2 mandatory recipients, 3 PSV.
    #[serde(default)]
    pub privacy_flag: i32,
    /// A privacy group whose members are the recipients (base64 id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<String>,
    /// Mandatory recipients (base64; read by the 4.0 variant only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandatory_recipients: Option<Vec<String>>,
}

impl SendRequest {
    /// A standard-private send of `payload` from the default key to `to`.
    pub fn new(payload: impl Into<Vec<u8>>, to: &[PublicKey]) -> Self {
        Self {
            payload: payload.into(),
            to: Some(to.iter().map(PublicKey::to_base64).collect()),
            ..Self::default()
        }
    }

    /// The same request sent from `from`.
    pub fn from_key(mut self, from: &PublicKey) -> Self {
        self.from = Some(from.to_base64());
        self
    }
}

/// Answer of `/send` and the JSON `/sendsignedtx` (`SendResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendResponse {
    /// The transaction hash (base64).
    pub key: String,
    /// Our keys among the parties (2.1 and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_parties: Option<Vec<String>>,
    /// The sender key used (2.1 and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
}

/// `POST /sendsignedtx` JSON body (`SendSignedRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendSignedRequest {
    /// The hash `/storeraw` returned (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub hash: Vec<u8>,
    /// Recipient keys (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<String>>,
    /// As for [`SendRequest::privacy_flag`].
    #[serde(default)]
    pub privacy_flag: i32,
    /// As for [`SendRequest::affected_contract_transactions`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affected_contract_transactions: Option<Vec<String>>,
    /// As for [`SendRequest::exec_hash`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_hash: Option<String>,
    /// As for [`SendRequest::privacy_group_id`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<String>,
    /// As for [`SendRequest::mandatory_recipients`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mandatory_recipients: Option<Vec<String>>,
}

/// `POST /storeraw` body (`StoreRawRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRawRequest {
    /// The plaintext (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub payload: Vec<u8>,
    /// The sender key (base64 in JSON); the default key when absent.
    #[serde(with = "opt_b64", default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<u8>>,
}

/// `POST /storeraw` answer (`StoreRawResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRawResponse {
    /// The raw transaction's hash (base64 in JSON).
    #[serde(with = "crate::b64_serde")]
    pub key: Vec<u8>,
}

/// `GET /transaction/{hash}` and `/encodedpayload/decrypt` answer (`ReceiveResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiveResponse {
    /// The plaintext (base64 in JSON).
    #[serde(with = "crate::b64_serde")]
    pub payload: Vec<u8>,
    /// The privacy flag.
    #[serde(default)]
    pub privacy_flag: i32,
    /// Base64 hashes of affected contract transactions.
    #[serde(default)]
    pub affected_contract_transactions: Vec<String>,
    /// The exec hash text (`""` for non-PSV transactions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_hash: Option<String>,
    /// Our keys among the recipients (2.1 and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_parties: Option<Vec<String>>,
    /// The sender (2.1 and up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_key: Option<String>,
    /// The privacy group (base64), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<String>,
}

/// `POST /delete` body (`DeleteRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// The transaction hash (base64).
    pub key: String,
}

/// `/encodedpayload/create` answer and `/encodedpayload/decrypt` body
/// (`PayloadEncryptResponse`, `PayloadDecryptRequest`): an encoded payload in JSON.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncodedPayloadJson {
    /// Sender key (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub sender_key: Vec<u8>,
    /// Cipher text (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub cipher_text: Vec<u8>,
    /// Cipher text nonce (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub cipher_text_nonce: Vec<u8>,
    /// One box per recipient, aligned with `recipient_keys`.
    #[serde(with = "crate::b64_serde::list", default)]
    pub recipient_boxes: Vec<Vec<u8>>,
    /// The recipient nonce (base64 in JSON).
    #[serde(with = "crate::b64_serde", default)]
    pub recipient_nonce: Vec<u8>,
    /// Recipient keys (base64 in JSON).
    #[serde(with = "crate::b64_serde::list", default)]
    pub recipient_keys: Vec<Vec<u8>>,
    /// The privacy flag.
    #[serde(default)]
    pub privacy_mode: i32,
    /// Affected transaction hash → security hash, both base64.
    #[serde(default, deserialize_with = "null_as_empty_map")]
    pub affected_contract_transactions: BTreeMap<String, String>,
    /// The exec hash bytes (base64 in JSON).
    #[serde(with = "opt_b64", default, skip_serializing_if = "Option::is_none")]
    pub exec_hash: Option<Vec<u8>>,
}

/// `GET /keys` and ThirdParty `GET /partyinfo/keys` answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysResponse {
    /// The keys.
    pub keys: Vec<KeyEntry>,
}

/// One entry of [`KeysResponse`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// A public key (base64).
    pub key: String,
}

/// A privacy group as the Q2T API returns it (`PrivacyGroupResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupResponse {
    /// The id (base64).
    pub privacy_group_id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// `LEGACY`, `PANTHEON` or `RESIDENT`.
    #[serde(rename = "type")]
    pub group_type: String,
    /// Member keys (base64).
    pub members: Vec<String>,
}

/// `POST /createPrivacyGroup` (`PrivacyGroupRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupRequest {
    /// Member keys (base64).
    #[serde(default)]
    pub addresses: Option<Vec<String>>,
    /// The creating key (base64); the default key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The id's seed (base64); 20 random bytes when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
}

/// `POST /findPrivacyGroup` (`PrivacyGroupSearchRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupSearchRequest {
    /// Member keys (base64).
    #[serde(default)]
    pub addresses: Option<Vec<String>>,
}

/// `POST /retrievePrivacyGroup` (`PrivacyGroupRetrieveRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupRetrieveRequest {
    /// The group id (base64).
    #[serde(default)]
    pub privacy_group_id: Option<String>,
}

/// `POST /deletePrivacyGroup` (`PrivacyGroupDeleteRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivacyGroupDeleteRequest {
    /// The group id (base64).
    #[serde(default)]
    pub privacy_group_id: Option<String>,
    /// The deleting key (base64); the default key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// `POST /receive` body in orion mode (Tessera's `ReceiveRequest`; Besu sends `key` and `to`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrionReceiveRequest {
    /// The transaction hash (base64).
    #[serde(default)]
    pub key: Option<String>,
    /// The recipient key to decrypt with (base64); any of ours when absent or empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Decrypt a raw (`/storeraw`) payload. Tessera's Java field is `isRaw` with the accessors
    /// `isRaw`/`setRaw`, so both names are read; Besu sends neither.
    #[serde(default, alias = "isRaw", skip_serializing_if = "std::ops::Not::not")]
    pub raw: bool,
}

/// `POST /receive` answer in orion mode (Tessera's `BesuReceiveResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrionReceiveResponse {
    /// The plaintext (base64 in JSON).
    #[serde(with = "crate::b64_serde")]
    pub payload: Vec<u8>,
    /// The sender's key (base64).
    pub sender_key: String,
    /// The transaction's privacy group (base64), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacy_group_id: Option<String>,
}

fn null_as_empty_map<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(deserializer)?.unwrap_or_default())
}

/// Optional base64 bytes (`null` or absent is `None`).
mod opt_b64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        bytes: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match bytes {
            Some(bytes) => serializer.serialize_str(&tm_core::b64::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                tm_core::b64::decode(&text, "base64 value").map_err(serde::de::Error::custom)
            })
            .transpose()
    }
}

/// How a hash is percent-encoded in a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathEncoding {
    /// Go's `url.PathEscape`, as GoQuorum sends it: `/` is `%2F`, `+` and `=` stay literal.
    GoPathEscape,
    /// Java's `URLEncoder` (form encoding), as Tessera writes `Location`: `%2B`, `%2F`, `%3D`.
    Form,
}

/// Percent-encodes a base64 hash for a path segment.
pub fn encode_hash(hash: &str, style: PathEncoding) -> String {
    let mut out = String::with_capacity(hash.len() + 8);
    for c in hash.chars() {
        match (c, style) {
            ('/', _) => out.push_str("%2F"),
            ('+', PathEncoding::Form) => out.push_str("%2B"),
            ('=', PathEncoding::Form) => out.push_str("%3D"),
            (c, _) => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query value (`?to=`): everything but unreserved characters.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A request as sent, for callers that need full control (garbage tests, odd media types).
#[derive(Clone, Debug)]
pub struct RawRequest {
    /// The method.
    pub method: Method,
    /// Path and query, already encoded (`/transaction/abc%2F...?to=...`).
    pub path: String,
    /// Headers (`Content-Type`, `Accept`, `c11n-*`).
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl RawRequest {
    /// A request without headers or body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets `Content-Type` and `Accept` to `media` (GoQuorum sets both, even on GETs).
    pub fn media(self, media: &str) -> Self {
        self.header(CONTENT_TYPE.as_str(), media)
            .header(ACCEPT.as_str(), media)
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// A JSON body.
    pub fn json<T: Serialize>(self, value: &T) -> Self {
        self.body(serde_json::to_vec(value).unwrap_or_default())
    }
}

/// A response as received.
#[derive(Clone, Debug)]
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The answer of a send: the JSON body and the `Location` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The body.
    pub response: SendResponse,
    /// The `Location` header.
    pub location: Option<String>,
}

/// A client of one node's Q2T or ThirdParty API, over TCP or a unix socket. Cheap to clone;
/// reuses connections.
#[derive(Clone, Debug)]
pub struct Q2tClient {
    http: reqwest::Client,
    base: String,
}

impl Q2tClient {
    /// A client of `address`: `http://host:port` or `unix:/path/tm.ipc`.
    pub fn new(address: &str) -> Result<Self, ClientError> {
        match address.strip_prefix("unix:") {
            Some(path) => Self::unix(path),
            None => Self::tcp(address),
        }
    }

    /// A client of `http://host:port`.
    pub fn tcp(base: &str) -> Result<Self, ClientError> {
        Ok(Self {
            http: builder().build().map_err(|e| build_error(base, &e))?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// A client of `https://host:port` presenting the client half of an `sslConfig` (`tls`:
    /// the certificate it presents, which servers it trusts). Connections are kept alive and
    /// reused, so a call pays for a handshake only when it opens a connection.
    pub fn tcp_with_tls(base: &str, tls: rustls::ClientConfig) -> Result<Self, ClientError> {
        Ok(Self {
            http: builder()
                .use_preconfigured_tls(tls)
                .build()
                .map_err(|e| build_error(base, &e))?,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// A client of the unix socket at `path`.
    pub fn unix(path: impl Into<PathBuf>) -> Result<Self, ClientError> {
        let path: PathBuf = path.into();
        let label = format!("unix:{}", path.display());
        Ok(Self {
            http: builder()
                .unix_socket(path)
                .build()
                .map_err(|e| build_error(&label, &e))?,
            // Every request goes to the socket; the host only fills the Host header.
            base: "http://localhost".to_owned(),
        })
    }

    /// Sends any request and returns whatever comes back (no status check).
    pub async fn raw(&self, request: RawRequest) -> Result<RawResponse, ClientError> {
        let url = join(&self.base, &request.path);
        let mut builder = self.http.request(request.method, &url);
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| ClientError::from_reqwest(&url, &e))?
            .to_vec();
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    async fn expect(&self, request: RawRequest, ok: u16) -> Result<RawResponse, ClientError> {
        let path = request.path.clone();
        let response = self.raw(request).await?;
        if response.status == ok {
            Ok(response)
        } else {
            Err(ClientError::Status {
                url: join(&self.base, &path),
                status: response.status,
                body: response.text().chars().take(512).collect(),
            })
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        response: &RawResponse,
    ) -> Result<T, ClientError> {
        serde_json::from_slice(&response.body).map_err(|e| ClientError::Decode {
            url: join(&self.base, path),
            reason: e.to_string(),
        })
    }

    fn hash_text(&self, path: &str, response: &RawResponse) -> Result<TxHash, ClientError> {
        TxHash::from_base64(response.text().trim()).map_err(|_| ClientError::Decode {
            url: join(&self.base, path),
            reason: "the answer is not a base64 transaction hash".into(),
        })
    }

    /// `POST /send` (201).
    pub async fn send(&self, request: &SendRequest, media: MediaType) -> Result<Sent, ClientError> {
        self.json_send("/send", request, media).await
    }

    /// `POST /sendsignedtx` with a JSON body (201).
    pub async fn send_signed(
        &self,
        request: &SendSignedRequest,
        media: MediaType,
    ) -> Result<Sent, ClientError> {
        self.json_send("/sendsignedtx", request, media).await
    }

    async fn json_send<T: Serialize>(
        &self,
        path: &str,
        request: &T,
        media: MediaType,
    ) -> Result<Sent, ClientError> {
        let raw = RawRequest::new(Method::POST, path)
            .media(media.as_str())
            .json(request);
        let response = self.expect(raw, 201).await?;
        Ok(Sent {
            response: self.decode(path, &response)?,
            location: response.header(LOCATION.as_str()).map(str::to_owned),
        })
    }

    /// `POST /sendsignedtx` in the octet-stream form (raw hash bytes, `c11n-to`; 200).
    pub async fn send_signed_octets(
        &self,
        hash: &TxHash,
        to: &[PublicKey],
    ) -> Result<TxHash, ClientError> {
        let raw = RawRequest::new(Method::POST, "/sendsignedtx")
            .header(CONTENT_TYPE.as_str(), OCTET_STREAM)
            .header(HEADER_TO, &join_keys(to))
            .body(hash.as_bytes());
        let response = self.expect(raw, 200).await?;
        self.hash_text("/sendsignedtx", &response)
    }

    /// `POST /sendraw` (200, the hash as text).
    pub async fn send_raw(
        &self,
        payload: &[u8],
        from: Option<&PublicKey>,
        to: &[PublicKey],
    ) -> Result<TxHash, ClientError> {
        let mut raw = RawRequest::new(Method::POST, "/sendraw")
            .header(CONTENT_TYPE.as_str(), OCTET_STREAM)
            .header(HEADER_TO, &join_keys(to))
            .body(payload);
        if let Some(from) = from {
            raw = raw.header(HEADER_FROM, &from.to_base64());
        }
        let response = self.expect(raw, 200).await?;
        self.hash_text("/sendraw", &response)
    }

    /// `POST /storeraw` (200).
    pub async fn store_raw(
        &self,
        request: &StoreRawRequest,
        media: MediaType,
    ) -> Result<TxHash, ClientError> {
        let raw = RawRequest::new(Method::POST, "/storeraw")
            .media(media.as_str())
            .json(request);
        let response = self.expect(raw, 200).await?;
        let answer: StoreRawResponse = self.decode("/storeraw", &response)?;
        Ok(TxHash::from_bytes(answer.key))
    }

    /// `GET /transaction/{hash}` (`?to=`, `?isRaw=`), the hash encoded as GoQuorum does.
    pub async fn receive(
        &self,
        hash: &TxHash,
        to: Option<&PublicKey>,
        is_raw: bool,
        media: MediaType,
    ) -> Result<ReceiveResponse, ClientError> {
        let mut path = format!(
            "/transaction/{}?isRaw={is_raw}",
            encode_hash(&hash.to_base64(), PathEncoding::GoPathEscape)
        );
        if let Some(to) = to {
            path.push_str("&to=");
            path.push_str(&encode_query(&to.to_base64()));
        }
        let response = self
            .expect(
                RawRequest::new(Method::GET, &path).media(media.as_str()),
                200,
            )
            .await?;
        self.decode(&path, &response)
    }

    /// `GET /receiveraw` (`c11n-key`, optional `c11n-to`): the plaintext bytes.
    pub async fn receive_raw(
        &self,
        hash: &TxHash,
        to: Option<&PublicKey>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut raw = RawRequest::new(Method::GET, "/receiveraw")
            .header(CONTENT_TYPE.as_str(), OCTET_STREAM)
            .header(HEADER_KEY, &hash.to_base64());
        if let Some(to) = to {
            raw = raw.header(HEADER_TO, &to.to_base64());
        }
        Ok(self.expect(raw, 200).await?.body)
    }

    /// `DELETE /transaction/{hash}` (204).
    pub async fn delete(&self, hash: &TxHash) -> Result<(), ClientError> {
        let path = transaction_path(hash, "");
        self.expect(RawRequest::new(Method::DELETE, path), 204)
            .await
            .map(drop)
    }

    /// `POST /delete` (deprecated; 200 `Delete successful`).
    pub async fn delete_deprecated(&self, hash: &TxHash) -> Result<(), ClientError> {
        let raw = RawRequest::new(Method::POST, "/delete")
            .header(CONTENT_TYPE.as_str(), JSON)
            .json(&DeleteRequest {
                key: hash.to_base64(),
            });
        self.expect(raw, 200).await.map(drop)
    }

    /// `GET /transaction/{hash}/isSender`.
    pub async fn is_sender(&self, hash: &TxHash) -> Result<bool, ClientError> {
        let path = transaction_path(hash, "/isSender");
        let response = self
            .expect(RawRequest::new(Method::GET, &path), 200)
            .await?;
        match response.text().trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(ClientError::Decode {
                url: join(&self.base, &path),
                reason: format!("expected true or false, got {other:?}"),
            }),
        }
    }

    /// `GET /transaction/{hash}/participants`.
    pub async fn participants(&self, hash: &TxHash) -> Result<Vec<PublicKey>, ClientError> {
        self.key_list(&transaction_path(hash, "/participants"))
            .await
    }

    /// `GET /transaction/{hash}/mandatory`.
    pub async fn mandatory(&self, hash: &TxHash) -> Result<Vec<PublicKey>, ClientError> {
        self.key_list(&transaction_path(hash, "/mandatory")).await
    }

    async fn key_list(&self, path: &str) -> Result<Vec<PublicKey>, ClientError> {
        let response = self.expect(RawRequest::new(Method::GET, path), 200).await?;
        response
            .text()
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|k| {
                PublicKey::from_base64(k).map_err(|e| ClientError::Decode {
                    url: join(&self.base, path),
                    reason: e.to_string(),
                })
            })
            .collect()
    }

    /// `POST /encodedpayload/create` (200).
    pub async fn encoded_payload_create(
        &self,
        request: &SendRequest,
        media: MediaType,
    ) -> Result<EncodedPayloadJson, ClientError> {
        let path = "/encodedpayload/create";
        let raw = RawRequest::new(Method::POST, path)
            .media(media.as_str())
            .json(request);
        let response = self.expect(raw, 200).await?;
        self.decode(path, &response)
    }

    /// `POST /encodedpayload/decrypt` (200).
    pub async fn encoded_payload_decrypt(
        &self,
        request: &EncodedPayloadJson,
        media: MediaType,
    ) -> Result<ReceiveResponse, ClientError> {
        let path = "/encodedpayload/decrypt";
        let raw = RawRequest::new(Method::POST, path)
            .media(media.as_str())
            .json(request);
        let response = self.expect(raw, 200).await?;
        self.decode(path, &response)
    }

    /// `POST /send` to a node in orion mode (Besu's call): **200** `{key}`.
    pub async fn orion_send(&self, request: &SendRequest) -> Result<TxHash, ClientError> {
        let raw = RawRequest::new(Method::POST, "/send")
            .media(JSON)
            .json(request);
        let response = self.expect(raw, 200).await?;
        let sent: SendResponse = self.decode("/send", &response)?;
        TxHash::from_base64(&sent.key).map_err(|_| ClientError::Decode {
            url: join(&self.base, "/send"),
            reason: "the key is not a base64 transaction hash".into(),
        })
    }

    /// `POST /receive` to a node in orion mode, with Besu's media type.
    pub async fn orion_receive(
        &self,
        request: &OrionReceiveRequest,
    ) -> Result<OrionReceiveResponse, ClientError> {
        // Besu declares the body's type only (no Accept); the answer is `application/json`.
        let raw = RawRequest::new(Method::POST, "/receive")
            .header(CONTENT_TYPE.as_str(), ORION)
            .json(request);
        let response = self.expect(raw, 200).await?;
        self.decode("/receive", &response)
    }

    /// `GET /groups/{type}` (`resident`, `legacy`, `pantheon`).
    pub async fn groups(&self, group_type: &str) -> Result<Vec<PrivacyGroupResponse>, ClientError> {
        let path = format!("/groups/{group_type}");
        let response = self
            .expect(RawRequest::new(Method::GET, &path).media(JSON), 200)
            .await?;
        self.decode(&path, &response)
    }

    /// `POST /createPrivacyGroup`.
    pub async fn create_privacy_group(
        &self,
        request: &PrivacyGroupRequest,
    ) -> Result<PrivacyGroupResponse, ClientError> {
        self.post_group("/createPrivacyGroup", request).await
    }

    /// `POST /findPrivacyGroup`.
    pub async fn find_privacy_group(
        &self,
        request: &PrivacyGroupSearchRequest,
    ) -> Result<Vec<PrivacyGroupResponse>, ClientError> {
        self.post_group("/findPrivacyGroup", request).await
    }

    /// `POST /retrievePrivacyGroup`.
    pub async fn retrieve_privacy_group(
        &self,
        request: &PrivacyGroupRetrieveRequest,
    ) -> Result<PrivacyGroupResponse, ClientError> {
        self.post_group("/retrievePrivacyGroup", request).await
    }

    /// `POST /deletePrivacyGroup`: the deleted group's id (the answer is a JSON string).
    pub async fn delete_privacy_group(
        &self,
        request: &PrivacyGroupDeleteRequest,
    ) -> Result<String, ClientError> {
        self.post_group("/deletePrivacyGroup", request).await
    }

    async fn post_group<T: Serialize, R: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        request: &T,
    ) -> Result<R, ClientError> {
        let raw = RawRequest::new(Method::POST, path)
            .media(JSON)
            .json(request);
        let response = self.expect(raw, 200).await?;
        self.decode(path, &response)
    }

    /// ThirdParty `GET /keys`.
    pub async fn keys(&self) -> Result<KeysResponse, ClientError> {
        self.get_json("/keys").await
    }

    /// ThirdParty `GET /partyinfo/keys`.
    pub async fn party_info_keys(&self) -> Result<KeysResponse, ClientError> {
        self.get_json("/partyinfo/keys").await
    }

    /// `GET /version/api`.
    pub async fn api_versions(&self) -> Result<Vec<String>, ClientError> {
        self.get_json("/version/api").await
    }

    /// `GET /upcheck`.
    pub async fn upcheck(&self) -> Result<(), ClientError> {
        self.expect(RawRequest::new(Method::GET, "/upcheck"), 200)
            .await
            .map(drop)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let response = self
            .expect(
                RawRequest::new(Method::GET, path).header(ACCEPT.as_str(), JSON),
                200,
            )
            .await?;
        self.decode(path, &response)
    }
}

/// `/transaction/{hash}{suffix}` with the hash encoded as GoQuorum encodes it.
fn transaction_path(hash: &TxHash, suffix: &str) -> String {
    format!(
        "/transaction/{}{suffix}",
        encode_hash(&hash.to_base64(), PathEncoding::GoPathEscape)
    )
}

/// Keys as a `c11n-to` value: comma-separated, no spaces.
pub fn join_keys(keys: &[PublicKey]) -> String {
    keys.iter()
        .map(PublicKey::to_base64)
        .collect::<Vec<_>>()
        .join(",")
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .pool_idle_timeout(crate::POOL_IDLE_TIMEOUT)
}

fn build_error(label: &str, error: &reqwest::Error) -> ClientError {
    ClientError::Offline {
        url: label.to_owned(),
        reason: format!("cannot build an HTTP client: {error}"),
    }
}
