//! Limits on requests (docs/security.md, "Limits on requests"): how large a body may be, how
//! long it may take to arrive, and how much memory the bodies in flight may hold together.
//!
//! The limits line up along the path a payload takes, so that what one server accepts the next
//! one accepts too:
//!
//! - Q2T and ThirdParty accept bodies up to [`MAX_CLIENT_BODY_BYTES`] (a `/sendraw` plaintext,
//!   or a JSON send carrying it in base64).
//! - An encoded payload of that plaintext is at most [`ENVELOPE_BYTES`] larger (keys, nonces,
//!   boxes, affected-transaction hashes), so P2P accepts raw bodies (`/push`, `/partyinfo`,
//!   ...) up to [`MAX_P2P_BODY_BYTES`], and JSON bodies (`/pushBatch` carries payloads in
//!   base64) up to [`MAX_P2P_JSON_BYTES`].
//! - The remote enclave gets payloads and plaintexts in base64 inside JSON, so it accepts up to
//!   [`MAX_ENCLAVE_BODY_BYTES`]: the base64 of the largest P2P payload, plus room for the JSON.
//!
//! [`guard`] is the middleware every server of ours wraps around its routes ([`scope_guard`]
//! inside a scope of routes that checks callers first, see [`GuardInScope`]). It reads the
//! body before the handler runs, within its [`BodyLimits`]:
//!
//! - a body over the limit is refused with 413 (a declared `Content-Length` before anything is
//!   read), plain text naming the limit;
//! - the whole body must arrive within the body read timeout of the request's head, else 408;
//! - the bytes of bodies being read or handled hold permits of one semaphore per server
//!   (`maxBodyMemoryBytes`): a request waits in line for its share (the declared length up
//!   front, or chunk by chunk when the length is not declared) and gets 503 if its share does
//!   not come free before its deadline.
//!
//! Every refusal closes the connection. actix's own 413 answers (a `web::Bytes` or `web::Json`
//! extractor whose limit is lower than the server's largest body) are rewritten to the same
//! plain-text message.
//!
//! Servers take lower limits from their `serverConfigs[].properties` (Tessera ignores names it
//! does not know): `maxBodyBytes`, `bodyReadTimeout` (milliseconds) and `maxBodyMemoryBytes`.
//! Values above the defaults are ignored with a warning (the default stands), because the
//! servers downstream (the enclave, peers running our defaults) are sized for the defaults.

use std::any::Any;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BodyStream, BoxBody, MessageBody};
use actix_web::dev::{Decompress, Payload, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use actix_web::{Error, HttpMessage as _, HttpResponse};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// One mebibyte.
pub const MIB: usize = 1024 * 1024;

/// The largest body the Q2T and ThirdParty servers accept by default.
pub const MAX_CLIENT_BODY_BYTES: usize = 64 * MIB;

/// Room for what surrounds the data of a body: in an encoded payload, everything around the
/// cipher text (sender key, nonces, a recipient's box and key, affected-transaction hashes, exec
/// hash, group id); in JSON, the members around a base64 string.
pub const ENVELOPE_BYTES: usize = MIB;

/// The largest raw body P2P accepts by default (`/push`, `/partyinfo`, `/pushPrivacyGroup`,
/// ...): an encoded payload of the largest plaintext Q2T accepts.
pub const MAX_P2P_BODY_BYTES: usize = MAX_CLIENT_BODY_BYTES + ENVELOPE_BYTES;

/// The largest JSON body P2P accepts by default (`/pushBatch`, `/resend`, `/resendBatch`):
/// the largest payload in base64, with the JSON around it.
pub const MAX_P2P_JSON_BYTES: usize = json_limit_for(MAX_P2P_BODY_BYTES);

/// The largest body the remote enclave accepts: the largest payload a node stores (or the
/// largest plaintext) in base64, inside JSON.
pub const MAX_ENCLAVE_BODY_BYTES: usize = json_limit_for(MAX_P2P_BODY_BYTES);

/// How long a request's body may take to arrive, counted from its head, waiting for memory
/// included (Jetty's idle timeout, which Tessera runs with, is 30 s too).
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// How many bytes of request bodies a node server (P2P, Q2T, ThirdParty) holds at once by
/// default: two of the largest client bodies, or one P2P JSON body and then some.
pub const BODY_MEMORY_BYTES: usize = 128 * MIB;

/// How many bytes of request bodies the remote enclave holds at once: two of its largest.
pub const ENCLAVE_BODY_MEMORY_BYTES: usize = 2 * MAX_ENCLAVE_BODY_BYTES;

/// The `serverConfigs[].properties` name of the largest body a server accepts (bytes).
pub const PROPERTY_MAX_BODY: &str = "maxBodyBytes";
/// The `serverConfigs[].properties` name of the body read timeout (milliseconds).
pub const PROPERTY_READ_TIMEOUT: &str = "bodyReadTimeout";
/// The `serverConfigs[].properties` name of the memory bodies in flight may hold (bytes).
pub const PROPERTY_MEMORY: &str = "maxBodyMemoryBytes";

/// The defaults line up along the path, checked when compiling: a payload of the largest
/// client body fits a P2P push; it fits `/pushBatch` and the enclave in base64 (and so does a
/// JSON send of the largest client body, which carries at most that much base64); the memory
/// budget holds the largest body.
const _: () = {
    assert!(MAX_P2P_BODY_BYTES >= MAX_CLIENT_BODY_BYTES + ENVELOPE_BYTES);
    assert!(MAX_P2P_JSON_BYTES >= base64_len(MAX_P2P_BODY_BYTES));
    assert!(MAX_ENCLAVE_BODY_BYTES >= base64_len(MAX_P2P_BODY_BYTES));
    assert!(MAX_ENCLAVE_BODY_BYTES >= MAX_CLIENT_BODY_BYTES + ENVELOPE_BYTES);
    assert!(BODY_MEMORY_BYTES >= MAX_P2P_JSON_BYTES);
};

/// The length of the base64 text of `bytes` bytes (padded).
pub const fn base64_len(bytes: usize) -> usize {
    bytes.div_ceil(3) * 4
}

/// The JSON body limit that fits one payload of `raw` bytes in base64, with the JSON around it.
pub const fn json_limit_for(raw: usize) -> usize {
    base64_len(raw) + ENVELOPE_BYTES
}

/// What a server accepts: body sizes, body read time, memory for bodies in flight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyLimits {
    /// The largest raw body (`web::Bytes` extractors).
    pub max_body: usize,
    /// The largest JSON body (`web::Json` extractors).
    pub max_json: usize,
    /// How long a body may take to arrive, from the request's head.
    pub read_timeout: Duration,
    /// How many bytes of bodies may be read or handled at once.
    pub memory: usize,
}

impl BodyLimits {
    /// The defaults of the Q2T and ThirdParty servers.
    pub fn client() -> Self {
        Self {
            max_body: MAX_CLIENT_BODY_BYTES,
            max_json: MAX_CLIENT_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
            memory: BODY_MEMORY_BYTES,
        }
    }

    /// The defaults of the P2P server.
    pub fn p2p() -> Self {
        Self {
            max_body: MAX_P2P_BODY_BYTES,
            max_json: MAX_P2P_JSON_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
            memory: BODY_MEMORY_BYTES,
        }
    }

    /// The limits of the remote enclave (not configurable: it must accept whatever a node
    /// with default limits sends it).
    pub fn enclave() -> Self {
        Self {
            max_body: MAX_ENCLAVE_BODY_BYTES,
            max_json: MAX_ENCLAVE_BODY_BYTES,
            read_timeout: BODY_READ_TIMEOUT,
            memory: ENCLAVE_BODY_MEMORY_BYTES,
        }
    }

    /// These limits, lowered by a server's `properties` ([`PROPERTY_MAX_BODY`],
    /// [`PROPERTY_READ_TIMEOUT`], [`PROPERTY_MEMORY`]). A lower `maxBodyBytes` lowers the JSON
    /// limit in step (P2P keeps room for one payload of that size in base64). Values above the
    /// defaults, and unreadable ones, are ignored with a warning; the memory is raised to the
    /// largest body if set below it, so that any accepted body can be read.
    pub fn with_properties(self, properties: &BTreeMap<String, String>) -> Self {
        let mut limits = self.clone();
        if let Some(max) = property(properties, PROPERTY_MAX_BODY, self.max_body) {
            limits.max_body = max;
            limits.max_json = if self.max_json > self.max_body {
                json_limit_for(max).min(self.max_json)
            } else {
                max
            };
        }
        if let Some(ms) = property(
            properties,
            PROPERTY_READ_TIMEOUT,
            usize::try_from(self.read_timeout.as_millis()).unwrap_or(usize::MAX),
        ) {
            limits.read_timeout = Duration::from_millis(ms.max(1) as u64);
        }
        if let Some(memory) = property(properties, PROPERTY_MEMORY, self.memory) {
            limits.memory = memory;
        }
        if limits.memory < limits.largest() {
            tracing::warn!(
                property = PROPERTY_MEMORY,
                "raised to {} bytes, the largest body this server accepts",
                limits.largest()
            );
            limits.memory = limits.largest();
        }
        limits
    }

    /// The largest body of either kind.
    pub fn largest(&self) -> usize {
        self.max_body.max(self.max_json)
    }

    /// actix's limit for `web::Bytes` extractors.
    pub fn payload_config(&self) -> web::PayloadConfig {
        web::PayloadConfig::new(self.max_body)
    }

    /// actix's limit for `web::Json` extractors.
    pub fn json_config(&self) -> web::JsonConfig {
        web::JsonConfig::default().limit(self.max_json)
    }
}

/// A numeric property no larger than `default`; `None` when absent, unreadable or larger.
fn property(properties: &BTreeMap<String, String>, name: &str, default: usize) -> Option<usize> {
    let text = properties.get(name)?;
    match text.trim().parse::<usize>() {
        Ok(value) if value <= default => Some(value),
        Ok(_) => {
            tracing::warn!(
                property = name,
                "{text} is above the default {default}, which is used instead"
            );
            None
        }
        Err(_) => {
            tracing::warn!(
                property = name,
                "Not able to parse configured property. Will use default value instead"
            );
            None
        }
    }
}

/// The limits of one server with the memory its bodies share: register it as
/// `web::Data<BodyGuard>` app data and wrap the routes in [`guard`].
#[derive(Clone, Debug)]
pub struct BodyGuard {
    limits: BodyLimits,
    memory: Arc<Semaphore>,
}

impl BodyGuard {
    /// A guard with its own memory budget of `limits.memory` bytes.
    pub fn new(mut limits: BodyLimits) -> Self {
        limits.memory = limits
            .memory
            .max(limits.largest())
            .min(Semaphore::MAX_PERMITS);
        Self {
            memory: Arc::new(Semaphore::new(limits.memory)),
            limits,
        }
    }

    /// The limits.
    pub fn limits(&self) -> &BodyLimits {
        &self.limits
    }

    /// How many bytes of the memory budget are free now.
    pub fn free_memory(&self) -> usize {
        self.memory.available_permits()
    }

    /// Reserves `bytes` of the memory budget, waiting in line until `deadline`.
    async fn reserve(
        &self,
        bytes: usize,
        deadline: Instant,
        held: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<(), Refusal> {
        if bytes == 0 {
            return Ok(());
        }
        let count = u32::try_from(bytes).map_err(|_| Refusal::TooLarge {
            limit: self.limits.largest(),
            length: Some(bytes),
        })?;
        let permit =
            tokio::time::timeout_at(deadline, self.memory.clone().acquire_many_owned(count))
                .await
                .map_err(|_| Refusal::Busy(self.limits.memory))?
                .map_err(|_| Refusal::Busy(self.limits.memory))?;
        match held {
            Some(held) => held.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }
}

/// Why a body was refused.
#[derive(Debug)]
enum Refusal {
    /// Over the limit; the declared length when known.
    TooLarge { limit: usize, length: Option<usize> },
    /// Not all there within the read timeout.
    Timeout(Duration),
    /// No memory came free for it within the read timeout (of a budget of this many bytes).
    Busy(usize),
    /// The client broke off, or the content encoding is corrupt.
    Unreadable(String),
}

/// The 413 answer to a body over `limit` bytes (`length` when declared): plain text, and the
/// connection is closed after it.
pub fn too_large(limit: usize, length: Option<usize>) -> HttpResponse {
    Refusal::TooLarge { limit, length }.response(None)
}

/// The unread rest of a refused request's body. A refusal's answer holds it until the answer
/// has been written: actix then sees a body nobody finished reading and closes the connection,
/// where it would otherwise go on draining a chunked body for as long as the client sends one.
struct Unread {
    _body: Box<dyn Any>,
}

/// The body of a refusal: its text, and the unread request body it keeps alive.
struct RefusalBody {
    text: Option<Bytes>,
    len: u64,
    _unread: Option<Unread>,
}

impl MessageBody for RefusalBody {
    type Error = Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.len)
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(self.get_mut().text.take().map(Ok))
    }
}

fn describe(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

impl Refusal {
    /// The plain-text answer, closing the connection; `unread` is the rest of the body.
    fn response(self, unread: Option<Unread>) -> HttpResponse {
        let (status, message) = match self {
            Self::TooLarge {
                limit,
                length: Some(length),
            } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "Request body too large: {length} bytes, this server accepts at most \
                     {limit} bytes"
                ),
            ),
            Self::TooLarge {
                limit,
                length: None,
            } => (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body too large: this server accepts at most {limit} bytes"),
            ),
            Self::Timeout(timeout) => (
                StatusCode::REQUEST_TIMEOUT,
                format!("Request body not received within {}", describe(timeout)),
            ),
            Self::Busy(memory) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "Too many request bodies in progress (at most {memory} bytes at once): \
                     retry later"
                ),
            ),
            Self::Unreadable(why) => (
                StatusCode::BAD_REQUEST,
                format!("Request body could not be read: {why}"),
            ),
        };
        tracing::debug!(status = status.as_u16(), "{message}");
        let mut response = HttpResponse::build(status);
        response.content_type("text/plain").force_close();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        let text = Bytes::from(message);
        response.body(RefusalBody {
            len: text.len() as u64,
            text: Some(text),
            _unread: unread,
        })
    }
}

/// The declared `Content-Length`, if any (actix has already refused an unreadable one).
fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Whether the body is compressed (`Content-Encoding` other than `identity`): its declared
/// length is not the length of what the handler reads.
fn is_encoded(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().is_empty() && !v.trim().eq_ignore_ascii_case("identity"))
}

/// Reads `body` completely within the limits, reserving memory up front (`reserved`, the
/// declared length) and then as chunks arrive beyond it. On a refusal the body is handed back,
/// unread, for the answer to hold ([`Unread`]).
async fn read_body<B: MessageBody + 'static>(
    body: B,
    guard: &BodyGuard,
    reserved: usize,
    deadline: Instant,
    held: &mut Option<OwnedSemaphorePermit>,
) -> Result<Bytes, (Refusal, Unread)> {
    let mut body = Box::pin(body);
    let read = async {
        guard.reserve(reserved, deadline, held).await?;
        read_all(body.as_mut(), guard, reserved, deadline, held).await
    };
    let result = read.await;
    result.map_err(|refusal| {
        (
            refusal,
            Unread {
                _body: Box::new(body),
            },
        )
    })
}

async fn read_all<B: MessageBody>(
    mut body: Pin<&mut B>,
    guard: &BodyGuard,
    reserved: usize,
    deadline: Instant,
    held: &mut Option<OwnedSemaphorePermit>,
) -> Result<Bytes, Refusal> {
    let limit = guard.limits.largest();
    let timeout = guard.limits.read_timeout;
    let mut buf = BytesMut::with_capacity(reserved.min(limit));
    loop {
        let next = tokio::time::timeout_at(deadline, poll_fn(|cx| body.as_mut().poll_next(cx)))
            .await
            .map_err(|_| Refusal::Timeout(timeout))?;
        match next {
            None => return Ok(buf.freeze()),
            Some(Err(e)) => {
                let e: Box<dyn std::error::Error> = e.into();
                return Err(Refusal::Unreadable(e.to_string()));
            }
            Some(Ok(chunk)) => {
                let total = buf.len() + chunk.len();
                if total > limit {
                    return Err(Refusal::TooLarge {
                        limit,
                        length: None,
                    });
                }
                if total > reserved {
                    let more = total - reserved.max(buf.len());
                    guard.reserve(more, deadline, held).await?;
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

/// App data saying that an app's routes read bodies under a guard of their own, wrapped in
/// their scope with [`scope_guard`] innermost, so that the scope's cheaper checks (a whitelist,
/// a content type) refuse a request before its body is read: the app-level [`guard`] then lets
/// requests through untouched.
#[derive(Clone, Copy, Debug, Default)]
pub struct GuardInScope;

/// Reads the request's body within the server's [`BodyGuard`] (app data), holding its share of
/// the memory until the response is produced; see the module documentation. Requests without a
/// body, apps without a guard, and apps whose routes guard themselves ([`GuardInScope`]) pass
/// straight through. Wrap with `actix_web::middleware::from_fn(guard)`.
pub async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.app_data::<web::Data<GuardInScope>>().is_some() {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    read_guarded(req, next).await
}

/// [`guard`] for a scope of routes, wrapped innermost (see [`GuardInScope`]).
pub async fn scope_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    read_guarded(req, next).await
}

async fn read_guarded(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let Some(guard) = req.app_data::<web::Data<BodyGuard>>().cloned() else {
        return Ok(next.call(req).await?.map_into_boxed_body());
    };
    let deadline = Instant::now() + guard.limits.read_timeout;
    let declared = declared_length(req.headers());
    let encoded = is_encoded(req.headers());
    let limit = guard.limits.largest();
    let payload = req.take_payload();
    if let Some(length) = declared.filter(|&length| length > limit && !encoded) {
        let refusal = Refusal::TooLarge {
            limit,
            length: Some(length),
        };
        return Ok(req.into_response(refusal.response(Some(Unread {
            _body: Box::new(payload),
        }))));
    }
    let mut held = None;
    if !matches!(payload, Payload::None) && declared != Some(0) {
        let result = if encoded {
            let decoded = Decompress::from_headers(payload, req.headers());
            read_body(BodyStream::new(decoded), &guard, 0, deadline, &mut held).await
        } else {
            let reserved = declared.unwrap_or(0);
            read_body(
                BodyStream::new(payload),
                &guard,
                reserved,
                deadline,
                &mut held,
            )
            .await
        };
        match result {
            Ok(body) => {
                if encoded {
                    // The handler gets the decoded bytes: no encoding, their own length.
                    req.headers_mut().remove(header::CONTENT_ENCODING);
                    req.headers_mut()
                        .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
                }
                req.set_payload(Payload::from(body));
            }
            Err((refusal, unread)) => {
                return Ok(req.into_response(refusal.response(Some(unread))));
            }
        }
    }
    let response = next.call(req).await;
    drop(held);
    let response = match response {
        Ok(response) => response.map_into_boxed_body(),
        Err(error) => match extractor_overflow(&error, &guard.limits) {
            Some(limit) => {
                return Err(actix_web::error::InternalError::from_response(
                    error,
                    too_large(limit, None),
                )
                .into())
            }
            None => return Err(error),
        },
    };
    let overflow = response
        .response()
        .error()
        .and_then(|error| extractor_overflow(error, &guard.limits));
    Ok(match overflow {
        Some(limit) => {
            let length = declared_length(response.request().headers());
            response.into_response(too_large(limit, length))
        }
        None => response,
    })
}

/// The limit an actix extractor refused a body over, if `error` is such a refusal.
fn extractor_overflow(error: &Error, limits: &BodyLimits) -> Option<usize> {
    if matches!(
        error.as_error::<PayloadError>(),
        Some(PayloadError::Overflow)
    ) {
        return Some(limits.max_body);
    }
    match error.as_error::<JsonPayloadError>() {
        Some(JsonPayloadError::Overflow { limit })
        | Some(JsonPayloadError::OverflowKnownLength { limit, .. }) => Some(*limit),
        Some(JsonPayloadError::Payload(PayloadError::Overflow)) => Some(limits.max_json),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lengths() {
        // The defaults line up (checked when compiling); base64 lengths:
        assert_eq!(base64_len(0), 0);
        assert_eq!(base64_len(1), 4);
        assert_eq!(base64_len(3), 4);
        assert_eq!(base64_len(4), 8);
    }

    #[test]
    fn properties_only_lower_the_limits() {
        let props = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let lowered = BodyLimits::p2p().with_properties(&props(&[
            (PROPERTY_MAX_BODY, "3000"),
            (PROPERTY_READ_TIMEOUT, "1500"),
            (PROPERTY_MEMORY, "100"),
        ]));
        assert_eq!(lowered.max_body, 3000);
        assert_eq!(lowered.max_json, json_limit_for(3000));
        assert_eq!(lowered.read_timeout, Duration::from_millis(1500));
        assert_eq!(
            lowered.memory,
            lowered.largest(),
            "raised to the largest body"
        );
        let client = BodyLimits::client().with_properties(&props(&[(PROPERTY_MAX_BODY, "10")]));
        assert_eq!((client.max_body, client.max_json), (10, 10));
        let ignored = BodyLimits::client().with_properties(&props(&[
            (PROPERTY_MAX_BODY, "999999999999"),
            (PROPERTY_MEMORY, "lots"),
        ]));
        assert_eq!(ignored, BodyLimits::client());
    }

    #[tokio::test]
    async fn a_body_waits_for_memory_and_is_refused_when_none_comes_free() {
        use actix_web::{test, App};

        let limits = BodyLimits {
            max_body: 100,
            max_json: 100,
            read_timeout: Duration::from_millis(200),
            memory: 100,
        };
        let guard_data = BodyGuard::new(limits);
        let app = test::init_service(
            App::new()
                .app_data(web::Data::new(guard_data.clone()))
                .wrap(actix_web::middleware::from_fn(guard))
                .route(
                    "/",
                    web::post().to(|body: Bytes| async move { body.len().to_string() }),
                ),
        )
        .await;
        let held = guard_data
            .memory
            .clone()
            .acquire_many_owned(60)
            .await
            .expect("permits");
        let request = || {
            test::TestRequest::post()
                .uri("/")
                .insert_header((header::CONTENT_LENGTH, "50"))
                .set_payload(vec![b'x'; 50])
                .to_request()
        };
        let refused = test::call_service(&app, request()).await;
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = test::read_body(refused).await;
        assert!(
            String::from_utf8_lossy(&body).contains("retry later"),
            "{body:?}"
        );
        drop(held);
        let served = test::call_service(&app, request()).await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(test::read_body(served).await, "50");
        assert_eq!(guard_data.free_memory(), 100, "everything given back");
    }
}
