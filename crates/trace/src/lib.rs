//! One trace per request across our services (`docs/operations.md`, "Traces and request ids"),
//! in W3C Trace Context form: a server takes the caller's `traceparent` header (or starts a
//! trace), runs the request with a [`TraceContext`] of its own in a task-local ([`scope`]),
//! and every internal call it makes (P2P, remote enclave) is a span of that trace, child of
//! the request, named by the `traceparent` it sends ([`Call`]). The span id of a server's
//! context is its request id, in every log line of the request. [`export`] sends the spans to
//! an OTLP collector when one is configured.

use std::fmt;
use std::future::Future;
use std::time::SystemTime;

use rand_core::{OsRng, RngCore};

pub mod export;

/// The header that carries the context (W3C Trace Context).
pub const HEADER: &str = "traceparent";

/// A position in a trace: the trace, this span in it, whether the trace is sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// The trace: 16 bytes, never all zero.
    pub trace_id: [u8; 16],
    /// This span: 8 bytes, never all zero.
    pub span_id: [u8; 8],
    /// The caller's sampled flag (kept as given; ours start sampled).
    pub sampled: bool,
}

impl TraceContext {
    /// A new trace, sampled.
    pub fn root() -> Self {
        Self {
            trace_id: random(),
            span_id: random(),
            sampled: true,
        }
    }

    /// A span of the same trace whose parent is this one.
    pub fn child(&self) -> Self {
        Self {
            span_id: random(),
            ..*self
        }
    }

    /// Reads a `traceparent` value (version `00`, or a later version's first four fields);
    /// `None` for anything malformed, as the specification says to ignore it.
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.trim().split('-');
        let version = parts.next()?;
        let trace = parts.next()?;
        let span = parts.next()?;
        let flags = parts.next()?;
        let rest_ok = version != "00" || parts.next().is_none();
        if version.len() != 2 || version == "ff" || !rest_ok || flags.len() != 2 {
            return None;
        }
        u8::from_str_radix(version, 16).ok()?;
        let trace_id: [u8; 16] = hex(trace)?;
        let span_id: [u8; 8] = hex(span)?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            sampled: flags & 1 == 1,
        })
    }

    /// The trace id in lower-case hex (32 characters).
    pub fn trace_id_hex(&self) -> String {
        to_hex(&self.trace_id)
    }

    /// The span id in lower-case hex (16 characters): a server's request id.
    pub fn span_id_hex(&self) -> String {
        to_hex(&self.span_id)
    }
}

impl fmt::Display for TraceContext {
    /// The `traceparent` value naming this span.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id_hex(),
            self.span_id_hex(),
            u8::from(self.sampled)
        )
    }
}

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// The context of the request this task serves, if any.
pub fn current() -> Option<TraceContext> {
    CURRENT.try_with(|context| *context).ok()
}

/// Runs `work` as part of `context` ([`current`] answers it inside).
pub async fn scope<F: Future>(context: TraceContext, work: F) -> F::Output {
    CURRENT.scope(context, work).await
}

/// Runs `work` in the current context, if any: for a task spawned by a request, which does not
/// inherit the task-local.
pub fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    let context = current();
    async move {
        match context {
            Some(context) => scope(context, work).await,
            None => work.await,
        }
    }
}

/// A call to another service made now, for the current request (a new trace when there is
/// none, so that a call outside any request is still traced): the `traceparent` it sends and, when spans are exported, the client span recorded at its end.
pub struct Call {
    context: TraceContext,
    parent: Option<TraceContext>,
    /// Method, path and start: copied only when spans are exported.
    exported: Option<(String, String, SystemTime)>,
}

impl Call {
    /// A call of `method` to `path` starting now.
    pub fn start(method: &str, path: &str) -> Self {
        let parent = current();
        Self {
            context: parent.unwrap_or_else(TraceContext::root).child(),
            parent,
            exported: export::enabled()
                .then(|| (method.to_owned(), path.to_owned(), SystemTime::now())),
        }
    }

    /// The `traceparent` header value naming this call.
    pub fn traceparent(&self) -> String {
        self.context.to_string()
    }

    /// Ends the call: `Ok` when it had the answer it wanted, else the status it got, if any.
    pub fn end(self, outcome: Result<(), Option<u16>>) {
        let Some((method, path, started)) = self.exported else {
            return;
        };
        let (status, failed) = match outcome {
            Ok(()) => (None, false),
            Err(status) => (status, true),
        };
        export::record(export::Finished {
            name: format!("{method} {path}"),
            context: self.context,
            parent: self.parent,
            server: false,
            started,
            ended: SystemTime::now(),
            status,
            failed,
            method: &method,
            route: &path,
        });
    }
}

fn random<const N: usize>() -> [u8; N] {
    loop {
        let mut bytes = [0u8; N];
        OsRng.fill_bytes(&mut bytes);
        if bytes != [0; N] {
            return bytes;
        }
    }
}

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).ok()?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_round_trips_and_malformed_ones_are_ignored() {
        let text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(text).expect("the specification's example");
        assert_eq!(parsed.to_string(), text);
        assert!(parsed.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47zz-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad), None, "{bad:?}");
        }
        // A later version may add fields.
        assert!(
            TraceContext::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x")
                .is_some()
        );
    }

    #[tokio::test]
    async fn calls_made_in_a_scope_carry_its_trace_as_parent() {
        assert_eq!(current(), None);
        let root = TraceContext::root();
        let header = scope(root, async { Call::start("POST", "/push").traceparent() }).await;
        let sent = TraceContext::parse(&header).expect("a valid header");
        assert_eq!(sent.trace_id, root.trace_id);
        assert_ne!(sent.span_id, root.span_id);
        // Outside any request, a call starts a trace of its own.
        let alone = TraceContext::parse(&Call::start("GET", "/upcheck").traceparent())
            .expect("a valid header");
        assert_ne!(alone.trace_id, root.trace_id);
        // A spawned task does not inherit the context unless carried.
        let (lost, kept) = scope(root, async {
            let lost = tokio::spawn(async { current() }).await.expect("task");
            let kept = tokio::spawn(carried(async { current() }))
                .await
                .expect("task");
            (lost, kept)
        })
        .await;
        assert_eq!(lost, None);
        assert_eq!(kept, Some(root));
    }
}
