//! The enclave as its callers see it: in-process or a remote enclave over HTTP.
//!
//! One enum rather than a trait object: there are exactly two implementations, native
//! `async fn`s need no boxing or `async-trait`, the futures are `Send`, and callers match on
//! nothing (every method dispatches). Cloning is cheap (an `Arc` or a pooled HTTP client).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tm_client::retry::{self, is_tls_failure, Failed, Plan, GATEWAY_STATUSES};
use tm_config::{AppType, Config, PasswordPrompt};
use tm_core::codec::{decode_legacy, encode_legacy};
use tm_core::seal::{PrivacyMetadata, RawTransaction};
use tm_core::{Classify, EncodedPayload, PublicKey, TxHash};

use crate::api::{self, paths};
use crate::{Enclave, EnclaveError, Status};

/// How long the remote-enclave client waits for a connection (TLS handshake included). Short:
/// it does not detect a hung enclave (a stopped process still completes TCP handshakes, its
/// kernel answers them), the attempt timeout does; it only gives up on an address that does not
/// answer at all.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Budget of one call to the remote enclave, every attempt and pause included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Timeout of each attempt of a call but the last (see [`RemoteEnclave`]): 1.5 s, longer than
/// a balancer's 1 s try of an enclave call (deploy/lb), so the balancer's own retry on the next
/// replica lands inside our attempt.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(1500);

/// Attempts of a call at most (see [`RemoteEnclave`]).
pub const DEFAULT_ATTEMPTS: u32 = 3;

/// How long an idle pooled connection is kept: shorter than the enclave server's keep-alive
/// (60 s), so the client never reuses a connection the server is closing.
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long `status()` waits for `/ping` (Tessera's client waits 2 seconds).
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a key list the remote enclave gave is used before it is asked again (see
/// [`RemoteEnclave`], "Key lists"): the bound on how stale a list can be after an enclave
/// restart that no failed call revealed (behind a balancer, say).
pub const KEY_CACHE_MAX_AGE: Duration = Duration::from_secs(5);

/// An enclave: in-process or remote.
#[derive(Clone, Debug)]
pub enum EnclaveClient {
    /// The keys are in this process.
    Local(Arc<Enclave>),
    /// The keys are in a remote enclave process (an `ENCLAVE` server entry).
    Remote(RemoteEnclave),
}

impl EnclaveClient {
    /// Up or down.
    pub async fn status(&self) -> Status {
        match self {
            Self::Local(e) => e.status(),
            Self::Remote(r) => r.status().await,
        }
    }

    /// The default key.
    pub async fn default_public_key(&self) -> Result<PublicKey, EnclaveError> {
        match self {
            Self::Local(e) => e.default_public_key(),
            Self::Remote(r) => r.default_public_key().await,
        }
    }

    /// The `alwaysSendTo` keys.
    pub async fn forwarding_keys(&self) -> Result<Vec<PublicKey>, EnclaveError> {
        match self {
            Self::Local(e) => Ok(e.forwarding_keys()),
            Self::Remote(r) => r.key_list(KeyList::Forwarding).await,
        }
    }

    /// The enclave's public keys.
    pub async fn public_keys(&self) -> Result<Vec<PublicKey>, EnclaveError> {
        match self {
            Self::Local(e) => Ok(e.public_keys()),
            Self::Remote(r) => r.key_list(KeyList::Public).await,
        }
    }

    /// The enclave's public keys, for a caller that expects `key` among them (a send's sender):
    /// a remote enclave's cached list without it is fetched again once, so a key added to the
    /// enclave (restarted with a new config) is found at once. The answer may still lack `key`
    /// (the enclave does not hold it); the caller refuses as it would have.
    pub async fn public_keys_including(
        &self,
        key: &PublicKey,
    ) -> Result<Vec<PublicKey>, EnclaveError> {
        match self {
            Self::Local(e) => Ok(e.public_keys()),
            Self::Remote(r) => {
                let keys = r.key_list(KeyList::Public).await?;
                if keys.contains(key) {
                    return Ok(keys);
                }
                r.keys.forget();
                r.key_list(KeyList::Public).await
            }
        }
    }

    /// See [`Enclave::encrypt_payload`].
    pub async fn encrypt_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        match self {
            Self::Local(e) => e.encrypt_payload(message, sender, recipients, metadata),
            Self::Remote(r) => {
                let body = api::EnclavePayload::new(message, sender, recipients, metadata);
                r.payload(paths::ENCRYPT, &body).await
            }
        }
    }

    /// See [`Enclave::encrypt_raw_payload`].
    pub async fn encrypt_raw_payload(
        &self,
        message: &[u8],
        sender: &PublicKey,
    ) -> Result<RawTransaction, EnclaveError> {
        match self {
            Self::Local(e) => e.encrypt_raw_payload(message, sender),
            Self::Remote(r) => {
                // Tessera's client sends only `data` and `senderKey` here.
                let body = api::EnclavePayload {
                    data: message.to_vec(),
                    sender_key: sender.as_bytes().to_vec(),
                    ..api::EnclavePayload::default()
                };
                let bytes = r.post(paths::ENCRYPT_TO_RAW, &body).await?;
                let raw: api::EnclaveRawPayload = serde_json::from_slice(&bytes)
                    .map_err(|e| garbage(paths::ENCRYPT_TO_RAW, &e.to_string()))?;
                Ok(raw.raw())
            }
        }
    }

    /// See [`Enclave::encrypt_raw_for_recipients`].
    pub async fn encrypt_raw_for_recipients(
        &self,
        raw: &RawTransaction,
        recipients: &[PublicKey],
        metadata: &PrivacyMetadata,
    ) -> Result<EncodedPayload, EnclaveError> {
        match self {
            Self::Local(e) => e.encrypt_raw_for_recipients(raw, recipients, metadata),
            Self::Remote(r) => {
                let body = api::EnclaveRawPayload::for_recipients(raw, recipients, metadata);
                r.payload(paths::ENCRYPT_RAW, &body).await
            }
        }
    }

    /// See [`Enclave::unencrypt_transaction`].
    pub async fn unencrypt_transaction(
        &self,
        payload: &EncodedPayload,
        my_key: Option<&PublicKey>,
    ) -> Result<Vec<u8>, EnclaveError> {
        match self {
            Self::Local(e) => e.unencrypt_transaction(payload, my_key),
            Self::Remote(r) => {
                let body = api::EnclaveUnencryptPayload {
                    data: encode_legacy(payload),
                    provided_key: my_key.map(|k| k.as_bytes().to_vec()),
                };
                r.post(paths::UNENCRYPT, &body).await
            }
        }
    }

    /// See [`Enclave::unencrypt_raw_payload`].
    pub async fn unencrypt_raw_payload(
        &self,
        raw: &RawTransaction,
    ) -> Result<Vec<u8>, EnclaveError> {
        match self {
            Self::Local(e) => e.unencrypt_raw_payload(raw),
            Self::Remote(r) => {
                r.post(paths::UNENCRYPT_RAW, &api::EnclaveRawPayload::from_raw(raw))
                    .await
            }
        }
    }

    /// See [`Enclave::create_new_recipient_box`].
    pub async fn create_new_recipient_box(
        &self,
        payload: &EncodedPayload,
        recipient: &PublicKey,
    ) -> Result<Vec<u8>, EnclaveError> {
        match self {
            Self::Local(e) => e.create_new_recipient_box(payload, recipient),
            Self::Remote(r) => {
                let body = api::EnclaveUnencryptPayload {
                    data: encode_legacy(payload),
                    provided_key: Some(recipient.as_bytes().to_vec()),
                };
                r.post(paths::ADD_RECIPIENT, &body).await
            }
        }
    }

    /// See [`Enclave::find_invalid_security_hashes`].
    pub async fn find_invalid_security_hashes(
        &self,
        payload: &EncodedPayload,
        affected: &[(TxHash, EncodedPayload)],
    ) -> Result<BTreeSet<TxHash>, EnclaveError> {
        match self {
            Self::Local(e) => e.find_invalid_security_hashes(payload, affected),
            Self::Remote(r) => {
                let body = api::FindInvalidSecurityHashesRequest {
                    encoded_payload: encode_legacy(payload),
                    affected_contract_transactions: api::affected_to_wire(affected),
                };
                let bytes = r.post(paths::FIND_INVALID_SECURITY_HASHES, &body).await?;
                let response: api::FindInvalidSecurityHashesResponse =
                    serde_json::from_slice(&bytes).map_err(|e| {
                        garbage(paths::FIND_INVALID_SECURITY_HASHES, &e.to_string())
                    })?;
                Ok(response
                    .invalid_security_hashes
                    .into_iter()
                    .map(TxHash::from_bytes)
                    .collect())
            }
        }
    }
}

/// The enclave for `config`, as Tessera chooses it: remote when an `ENCLAVE` server entry is
/// configured, otherwise in-process with the keys of `keys` (unlocked on a blocking thread;
/// prompting on the terminal for missing passwords).
pub async fn enclave_from_config(config: &Config) -> Result<EnclaveClient, EnclaveError> {
    enclave_from_config_with(config, PasswordPrompt::IfTerminal).await
}

/// [`enclave_from_config`] with the prompt behaviour given.
pub async fn enclave_from_config_with(
    config: &Config,
    prompt: PasswordPrompt,
) -> Result<EnclaveClient, EnclaveError> {
    if let Some(server) = config.server(AppType::Enclave) {
        let address = server
            .server_address()
            .map_err(|e| EnclaveError::BadRequest(format!("ENCLAVE serverAddress: {e}")))?;
        let url = address.base_url().ok_or_else(|| {
            EnclaveError::BadRequest(
                "ENCLAVE serverAddress: a unix socket is not supported for the remote enclave"
                    .into(),
            )
        })?;
        // The client half of the ENCLAVE entry's `sslConfig`, as Tessera's enclave client.
        let tls = tm_tls::client_tls(server)
            .map_err(|e| EnclaveError::BadRequest(format!("ENCLAVE sslConfig: {e}")))?
            .map(|tls| tls.rustls());
        return Ok(EnclaveClient::Remote(RemoteEnclave::with_tls(
            url,
            DEFAULT_CONNECT_TIMEOUT,
            DEFAULT_REQUEST_TIMEOUT,
            tls,
        )?));
    }
    Ok(EnclaveClient::Local(Arc::new(
        crate::local_enclave(config, prompt).await?,
    )))
}

/// A remote enclave reached over HTTP. One pooled `reqwest` client is reused for every call,
/// so a restarted enclave is used again as soon as it answers. Idle connections are dropped
/// after 30 s, before the enclave server's keep-alive (60 s) ends.
///
/// Key lists: the default key, the forwarding keys and the public keys are fixed by the
/// enclave's config while it runs, yet a send needs all three (three of its four enclave round
/// trips). They are kept, per client, for at most [`KEY_CACHE_MAX_AGE`] and dropped at once
/// when a call fails to reach the enclave or is answered "key not found" (the enclave may have
/// restarted, with other keys), or when `/ping` finds it down; a sender missing from the kept
/// public keys fetches them again ([`EnclaveClient::public_keys_including`]). This is a cache of
/// the enclave's own answer and nothing else: the enclave stays the source of truth, so every
/// replica of a service holding its own copy in memory is fine for HA (no state to share; a
/// replica that starts, or whose copy is dropped, asks the enclave again).
///
/// Every call is stateless (keys, encrypt, decrypt, boxes, hash checks), so each is attempted
/// up to 3 times within the request timeout (the call's budget, 60 s by default): each attempt
/// but the last has 1.5 s (at most what is left), the last gets whatever is left, with 50 ms
/// between two (`with_attempts` changes the first two numbers). A call is retried on connection
/// errors (refused, reset, closed before the answer), on an attempt that timed out and on a
/// balancer's 502/503/504; never on another status, never on a TLS handshake refused for trust
/// reasons. So a frozen enclave replica behind a balancer costs one short attempt, and a slow
/// enclave still gets the rest of the budget once. `status()` (`/ping`) is a probe and is sent
/// once.
#[derive(Clone, Debug)]
pub struct RemoteEnclave {
    http: reqwest::Client,
    base: url::Url,
    /// Budget of one call.
    request: Duration,
    /// Timeout of each attempt but the last.
    attempt: Duration,
    /// Attempts at most (at least 1).
    attempts: u32,
    /// The key lists last fetched (shared by the clones of this client).
    keys: Arc<KeyCache>,
}

/// One of the key lists a [`RemoteEnclave`] keeps.
#[derive(Clone, Copy, Debug)]
enum KeyList {
    Default,
    Forwarding,
    Public,
}

impl KeyList {
    fn path(self) -> &'static str {
        match self {
            Self::Default => paths::DEFAULT,
            Self::Forwarding => paths::FORWARDING,
            Self::Public => paths::PUBLIC,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The key lists of a remote enclave as it last gave them, each with when it was fetched.
#[derive(Debug)]
struct KeyCache {
    max_age: Duration,
    lists: Mutex<KeyLists>,
}

#[derive(Debug, Default)]
struct KeyLists {
    /// Bumped whenever the lists are dropped, so that a fetch that was under way then does not
    /// put back what the enclave said before.
    generation: u64,
    /// By [`KeyList::index`].
    lists: [Option<(Vec<PublicKey>, Instant)>; 3],
}

impl KeyCache {
    fn new(max_age: Duration) -> Self {
        Self {
            max_age,
            lists: Mutex::new(KeyLists::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeyLists> {
        // The lists are replaced whole under the lock: a poisoned one is still consistent.
        self.lists.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The list if it is fresh, else the generation a fetch must be stored under.
    fn get(&self, list: KeyList) -> Result<Vec<PublicKey>, u64> {
        let lists = self.lock();
        match &lists.lists[list.index()] {
            Some((keys, at)) if at.elapsed() < self.max_age => Ok(keys.clone()),
            _ => Err(lists.generation),
        }
    }

    fn put(&self, list: KeyList, generation: u64, keys: &[PublicKey]) {
        let mut lists = self.lock();
        if lists.generation == generation {
            lists.lists[list.index()] = Some((keys.to_vec(), Instant::now()));
        }
    }

    /// Drops every list: the next call of each asks the enclave.
    fn forget(&self) {
        let mut lists = self.lock();
        lists.generation = lists.generation.wrapping_add(1);
        lists.lists = Default::default();
    }
}

impl RemoteEnclave {
    /// A client for the enclave at `base` (`http://host:port/`), with a 500 ms connect timeout,
    /// a 60 s budget per call and the default attempts.
    pub fn new(base: url::Url) -> Result<Self, EnclaveError> {
        Self::with_timeouts(base, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT)
    }

    /// A client with the timeouts given (`request`: the budget of a call), over plain HTTP.
    pub fn with_timeouts(
        base: url::Url,
        connect: Duration,
        request: Duration,
    ) -> Result<Self, EnclaveError> {
        Self::with_tls(base, connect, request, None)
    }

    /// A client with the timeouts given and, for an `https` enclave, this rustls
    /// configuration (the client half of the `ENCLAVE` entry's `sslConfig`: the certificate we
    /// present and which enclave certificates we trust). The scheme must match: `https` with
    /// TLS, `http` without. Connections are kept alive and reused.
    pub fn with_tls(
        mut base: url::Url,
        connect: Duration,
        request: Duration,
        tls: Option<rustls::ClientConfig>,
    ) -> Result<Self, EnclaveError> {
        match (base.scheme(), tls.is_some()) {
            ("http", false) | ("https", true) => {}
            ("https", false) => {
                return Err(EnclaveError::BadRequest(format!(
                    "remote enclave {base}: https needs the ENCLAVE entry's sslConfig.tls STRICT"
                )))
            }
            ("http", true) => {
                return Err(EnclaveError::BadRequest(format!(
                    "remote enclave {base}: sslConfig.tls is STRICT, so its serverAddress must \
                     be https"
                )))
            }
            _ => {
                return Err(EnclaveError::BadRequest(format!(
                    "remote enclave {base}: only http and https are supported"
                )))
            }
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let version = tm_core::version::SUPPORTED_API_VERSIONS.join(",");
        let mut headers = reqwest::header::HeaderMap::new();
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&version) {
            headers.insert(tm_core::version::VERSION_HEADER, value);
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(request)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .default_headers(headers);
        if let Some(tls) = tls {
            builder = builder.use_preconfigured_tls(tls);
        }
        let http = builder
            .build()
            .map_err(|e| EnclaveError::Unavailable(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            http,
            base,
            request,
            attempt: DEFAULT_ATTEMPT_TIMEOUT.min(request),
            attempts: DEFAULT_ATTEMPTS,
            keys: Arc::new(KeyCache::new(KEY_CACHE_MAX_AGE)),
        })
    }

    /// The same client keeping the enclave's key lists for at most `max_age` (zero: never
    /// kept, every call asks the enclave); see "Key lists" on [`RemoteEnclave`].
    pub fn with_key_cache_max_age(mut self, max_age: Duration) -> Self {
        self.keys = Arc::new(KeyCache::new(max_age));
        self
    }

    /// The same client with `attempts` attempts per call (at least 1; 1: never repeated), each
    /// but the last limited to `attempt` (at most the request timeout).
    pub fn with_attempts(mut self, attempt: Duration, attempts: u32) -> Self {
        self.attempt = attempt.min(self.request);
        self.attempts = attempts.max(1);
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<url::Url, EnclaveError> {
        self.base
            .join(path)
            .map_err(|e| EnclaveError::Unavailable(format!("bad enclave URL: {e}")))
    }

    /// `/ping`: 200 is up; anything else, or no answer within 2 s (`PING_TIMEOUT`), is down.
    pub async fn status(&self) -> Status {
        let Ok(url) = self.url(paths::PING) else {
            return Status::Stopped;
        };
        match self.http.get(url).timeout(PING_TIMEOUT).send().await {
            Ok(response) if response.status() == StatusCode::OK => Status::Started,
            _ => {
                // Down, or restarting: its keys may differ when it is back.
                self.keys.forget();
                Status::Stopped
            }
        }
    }

    async fn default_public_key(&self) -> Result<PublicKey, EnclaveError> {
        self.key_list(KeyList::Default)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| garbage(paths::DEFAULT, "empty key"))
    }

    /// A key list, kept or fetched (see "Key lists" on [`RemoteEnclave`]).
    async fn key_list(&self, list: KeyList) -> Result<Vec<PublicKey>, EnclaveError> {
        let generation = match self.keys.get(list) {
            Ok(keys) => return Ok(keys),
            Err(generation) => generation,
        };
        let keys = match list {
            KeyList::Default => {
                let bytes = self.get(paths::DEFAULT).await?;
                if bytes.is_empty() {
                    return Err(garbage(paths::DEFAULT, "empty key"));
                }
                vec![PublicKey::from_bytes(bytes)]
            }
            KeyList::Forwarding | KeyList::Public => self.keys(list.path()).await?,
        };
        self.keys.put(list, generation, &keys);
        Ok(keys)
    }

    async fn keys(&self, path: &str) -> Result<Vec<PublicKey>, EnclaveError> {
        let bytes = self.get(path).await?;
        let list: Vec<String> =
            serde_json::from_slice(&bytes).map_err(|e| garbage(path, &e.to_string()))?;
        list.iter()
            .map(|k| PublicKey::from_base64(k).map_err(|e| garbage(path, &e.to_string())))
            .collect()
    }

    async fn payload<T: serde::Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<EncodedPayload, EnclaveError> {
        let bytes = self.post(path, body).await?;
        decode_legacy(&bytes).map_err(|e| garbage(path, &e.to_string()))
    }

    async fn get(&self, path: &str) -> Result<Vec<u8>, EnclaveError> {
        let request = self.http.get(self.url(path)?);
        self.send(path, request).await
    }

    async fn post<T: serde::Serialize>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<Vec<u8>, EnclaveError> {
        let request = self.http.post(self.url(path)?).json(body);
        self.send(path, request).await
    }

    /// Sends with the attempts described on [`RemoteEnclave`] and maps the last answer. The error
    /// after the last attempt says how many were made.
    async fn send(
        &self,
        path: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<Vec<u8>, EnclaveError> {
        let mut request = request.build().map_err(|e| {
            EnclaveError::Unavailable(format!(
                "remote enclave {}: cannot make the request to /{path}: {}",
                self.base,
                describe(&e)
            ))
        })?;
        // The call names the request it is made for as its parent (docs/operations.md,
        // "Traces and request ids").
        let call = tm_trace::Call::start(request.method().as_str(), request.url().path());
        if let Ok(value) = reqwest::header::HeaderValue::from_str(&call.traceparent()) {
            request.headers_mut().insert(tm_trace::HEADER, value);
        }
        let plan = Plan {
            total: self.request,
            attempt: self.attempt,
            attempts: self.attempts,
        };
        let target = format!("{}/{path}", self.base);
        let started = std::time::Instant::now();
        let result = retry::attempts(&target, request, plan, |request| {
            self.try_once(path, request)
        })
        .await
        .map_err(|(error, number)| match error {
            EnclaveError::Unavailable(reason) if number > 1 => {
                EnclaveError::Unavailable(format!("{reason} (after {number} attempts)"))
            }
            other => other,
        });
        call.end(result.as_ref().map(|_| ()).map_err(|_| None));
        if let Err(EnclaveError::Unavailable(_) | EnclaveError::KeyNotFound(_)) = &result {
            // Not reached, or it lacks a key we named: it may have restarted with other keys.
            self.keys.forget();
        }
        let outcome = tm_metrics::outcome(result.as_ref().err().map(Classify::kind));
        tm_metrics::Metrics::observe(
            &tm_metrics::metrics().enclave_call_duration,
            &[path, &outcome],
            started.elapsed(),
        );
        result
    }

    /// One attempt, the answer mapped: 200 is the body; our enclave's 400/404/500 carry a
    /// reason and keep their meaning, and 413 (a body over its limit) is `TooLarge`; anything
    /// else (no connection, timeout, another status) is `Unavailable`, as Tessera's client
    /// treats every non-200. The flag says whether another attempt may get an answer.
    async fn try_once(
        &self,
        path: &str,
        request: reqwest::Request,
    ) -> Result<Vec<u8>, Failed<EnclaveError>> {
        let response = self.http.execute(request).await.map_err(|e| {
            let transient = !(e.is_builder() || e.is_redirect() || is_tls_failure(&e));
            let error = EnclaveError::Unavailable(format!(
                "remote enclave {} did not answer /{path}: {}",
                self.base,
                describe(&e)
            ));
            Failed { error, transient }
        })?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            let error = EnclaveError::Unavailable(format!(
                "remote enclave {} broke off the answer to /{path}: {}",
                self.base,
                describe(&e)
            ));
            Failed {
                error,
                transient: !is_tls_failure(&e),
            }
        })?;
        if status == StatusCode::OK {
            return Ok(body.to_vec());
        }
        let transient = GATEWAY_STATUSES.contains(&status.as_u16());
        let reason = String::from_utf8_lossy(&body)
            .chars()
            .take(500)
            .collect::<String>();
        let error = match status.as_u16() {
            // Our enclave's 400 body is already an `EnclaveError::BadRequest` message: do not
            // prefix it a second time ("bad request: bad request: ...").
            400 => EnclaveError::BadRequest(
                reason
                    .strip_prefix(BAD_REQUEST_PREFIX)
                    .map_or_else(|| reason.clone(), str::to_owned),
            ),
            413 => EnclaveError::TooLarge(if reason.is_empty() {
                format!("remote enclave refused /{path}")
            } else {
                format!("remote enclave refused /{path}: {reason}")
            }),
            404 if !reason.is_empty() && !reason.starts_with("HTTP 404") => {
                EnclaveError::KeyNotFound(reason)
            }
            500 if !reason.is_empty() => EnclaveError::Failed(reason),
            _ => EnclaveError::Unavailable(format!(
                "Remote enclave instance threw an error {}  {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or_default()
            )),
        };
        Err(Failed { error, transient })
    }
}

/// What `EnclaveError::BadRequest`'s message starts with.
const BAD_REQUEST_PREFIX: &str = "bad request: ";

fn garbage(path: &str, why: &str) -> EnclaveError {
    EnclaveError::Unavailable(format!(
        "remote enclave gave an invalid answer to /{path}: {why}"
    ))
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() && !is_tls_failure(error) {
        "connection refused or unreachable".into()
    } else {
        // reqwest's own message alone is "error sending request": add the causes.
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;

    use tm_core::{Classify, ErrorKind};

    use super::*;

    /// A one-shot HTTP server answering every request with `status` and `body`.
    fn canned(status: &'static str, body: &'static str) -> url::Url {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(1) {
                let mut stream = stream.expect("connection");
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     connection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("url")
    }

    async fn post_to(base: url::Url) -> EnclaveError {
        let enclave = RemoteEnclave::new(base).expect("client");
        enclave
            .post(paths::ENCRYPT, &serde_json::json!({}))
            .await
            .expect_err("refused")
    }

    #[tokio::test]
    async fn a_bad_request_is_not_prefixed_twice() {
        let error = post_to(canned(
            "400 Bad Request",
            "bad request: recipient key must be 32 bytes, got 31",
        ))
        .await;
        assert_eq!(error.kind(), ErrorKind::Invalid);
        assert_eq!(
            error.to_string(),
            "bad request: recipient key must be 32 bytes, got 31"
        );
    }

    #[tokio::test]
    async fn a_body_over_the_enclave_limit_is_too_large_with_its_reason() {
        let error = post_to(canned(
            "413 Payload Too Large",
            "Request body too large: this server accepts at most 10 bytes",
        ))
        .await;
        assert_eq!(error.kind(), ErrorKind::TooLarge);
        let message = error.to_string();
        assert!(
            message.contains("/encrypt") && message.contains("at most 10 bytes"),
            "{message}"
        );
    }
}
